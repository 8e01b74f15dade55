"""The product-shared network: equivariant in products, sized by nothing, reading the observation correctly."""

import dataclasses

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from agents.cell_network import (
    CELL_STATE_FEATURES,
    PIPELINE_AGES,
    CellNetwork,
    CellScenario,
    _ages,
)
from agents.cell_policy import CellActorCriticPolicy, rebind
from agents.config import ConfigError
from agents.gradient_policies import GradientNumpyPolicy, build_policy
from agents.sb3_agents import load_hyperparams, make_model
from baselines.echelon_position import EchelonMatrices, read_stock
from baselines.planner import plan
from envs.observation import observation_layout, observe, split_observation
from envs.params import compile_scenario
from envs.sb3 import SB3VecEnv
from envs.scenario import resolve_scenario
from envs.vector import EchelonVectorEnv


def observations(scenario: str, replicas: int = 6, periods: int = 5, seed: int = 3) -> np.ndarray:
    """Observations after a few periods of the plan (stock in every block, backlogs where there are any)."""
    planned = plan(scenario)
    env = EchelonVectorEnv(replicas, scenario, max_episode_steps=None)
    observation, _ = env.reset(seed=seed)
    policy = planned.policy()
    for _ in range(periods):
        observation, *_ = env.step(policy(observation))
    return observation


def randomized(network: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-zero weights everywhere (the head starts at zero, which would hide every error)."""
    torch.manual_seed(seed)
    for parameter in network.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    return network


def permute_products(observation: np.ndarray, params, order: np.ndarray) -> np.ndarray:
    blocks = split_observation(observation, params)
    axis = {"on_hand": 2, "dock": 2, "pipeline": 3, "backlog": 2, "recent_demand": 2, "forecast": 2}
    parts = [np.take(blocks[name], order, axis=axis[name]) if name in axis else blocks[name]
             for name in observation_layout(params)]
    return np.concatenate([part.reshape(len(observation), -1) for part in parts], axis=1)


def test_outputs_follow_any_permutation_of_the_products():
    planned = plan("network")
    params = planned.params
    cells = CellScenario.of(params, planned.echelon_levels)
    order = np.random.default_rng(0).permutation(params.num_products)
    on_products = {"static": 1, "region_weight": 2, "max_level": 1, "max_order": 1, "demand_scale": 1,
                   "echelon_scale": 1}
    permuted = dataclasses.replace(cells, **{name: np.take(getattr(cells, name), order, axis=axis)
                                            for name, axis in on_products.items()})
    network = randomized(CellNetwork((16, 8), cells))
    observation = observations("network")
    with torch.no_grad():
        out = network(torch.as_tensor(observation)).reshape(len(observation), params.num_nodes, -1)
        network.bind(permuted)
        moved = network(torch.as_tensor(permute_products(observation, params, order)))
    np.testing.assert_allclose(moved.reshape(out.shape).numpy(), out[:, :, order].numpy(), rtol=1e-5, atol=1e-6)


def test_the_same_weights_run_on_scenarios_of_other_sizes():
    small, large = plan("network"), plan("network-large")
    network = randomized(CellNetwork((16, 8), CellScenario.of(small.params, small.echelon_levels)))
    other = CellNetwork((16, 8), CellScenario.of(large.params, large.echelon_levels))
    other.load_state_dict(network.state_dict())  # no weight depends on the scenario: strict load
    assert all(not key.startswith("_") for key in network.state_dict())  # the scenario is never saved
    with torch.no_grad():
        out = other(torch.as_tensor(observations("network-large", replicas=2, periods=2)))
    assert out.shape == (2, large.params.num_nodes * large.params.num_products)
    assert torch.isfinite(out).all() and out.abs().sum() > 0


@pytest.mark.parametrize("scenario", ["serial", "owmr", "network"])
def test_cell_features_are_the_observed_stock_scaled(scenario):
    planned = plan(scenario)
    params = planned.params
    observation = observations(scenario)
    network = CellNetwork((4,), CellScenario.of(params, planned.echelon_levels))
    with torch.no_grad():
        cells, nodes = network.inputs(torch.as_tensor(observation))
    assert cells.shape == (len(observation), params.num_nodes, params.num_products, CELL_STATE_FEATURES)
    stock = read_stock(observation, params)
    matrices = EchelonMatrices.of(params)
    echelon = (np.einsum("nm,bmp->bnp", matrices.subtree, stock.installation_stock)
               - np.einsum("rn,brp->bnp", matrices.subtree_owner, stock.backlog))
    own = stock.installation_stock
    blocks = split_observation(observation, params)
    first_age = 2
    np.testing.assert_allclose(cells[..., 0].numpy(), blocks["on_hand"], rtol=1e-6)
    np.testing.assert_allclose(cells[..., first_age:first_age + PIPELINE_AGES].sum(-1).numpy(),
                               blocks["pipeline"].sum(2), rtol=1e-5, atol=1e-6)
    scale = np.maximum(planned.echelon_levels, 1.0)
    np.testing.assert_allclose(cells[..., 2 + PIPELINE_AGES].numpy(), echelon / scale, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cells[..., 3 + PIPELINE_AGES].numpy(), own / params.max_level, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(nodes[..., 0].numpy(), blocks["storage_use"], rtol=1e-6)
    np.testing.assert_allclose(nodes[..., 2:].numpy(), np.broadcast_to(blocks["season"][:, None, :],
                                                                       nodes[..., 2:].shape), rtol=1e-6)
    weights = CellScenario.of(params, planned.echelon_levels).region_weight
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)


def test_pipeline_ages_are_padded_or_folded_into_a_fixed_number():
    pipeline = torch.arange(2 * 3 * 11 * 4, dtype=torch.float32).reshape(2, 3, 11, 4)
    folded = _ages(pipeline, 8)
    assert folded.shape == (2, 3, 4, 8)
    torch.testing.assert_close(folded.sum(-1), pipeline.sum(2))
    torch.testing.assert_close(folded[..., :7], pipeline[:, :, :7].permute(0, 1, 3, 2))
    padded = _ages(pipeline[:, :, :5], 8)
    torch.testing.assert_close(padded[..., 5:], torch.zeros(2, 3, 4, 3))


def test_untrained_cell_policy_is_exactly_the_plan_and_its_weights_transfer():
    small, large = plan("network"), plan("network-large")
    module = build_policy(small.params, "residual", (8,), small.echelon_levels, network="cells")
    observation = observations("network")
    np.testing.assert_array_equal(GradientNumpyPolicy(module, small.params)(observation),
                                  small.policy()(observation))
    randomized(module.net)
    other = build_policy(large.params, "residual", (8,), large.echelon_levels, network="cells")
    other.net.load_state_dict(module.net.state_dict())
    for name, value in module.net.state_dict().items():
        torch.testing.assert_close(other.net.state_dict()[name], value)


def test_ppo_cell_policy_trains_saves_and_rebinds(tmp_path):
    small, large = plan("network"), plan("network-large")
    config = load_hyperparams("ppo", "echelon/Network-v1", {
        "action": "residual", "network": "cells", "normalize": {"obs": False}, "num_envs": 8,
        "policy_kwargs": {"net_arch": [8, 8], "shared_layer": None}, "algo_kwargs": {"n_steps": 8, "batch_size": 32,
                                                                                     "n_epochs": 1}})
    env = SB3VecEnv(num_envs=8, scenario="network")
    model = make_model("ppo", env, config, seed=0, cells=CellScenario.of(small.params, small.echelon_levels))
    assert isinstance(model.policy, CellActorCriticPolicy) and model.policy.log_std.shape == (1,)
    model.learn(64)
    observation = observations("network", replicas=3)
    expected, _ = model.predict(observation, deterministic=True)
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    np.testing.assert_array_equal(loaded.predict(observation, deterministic=True)[0], expected)
    moved = rebind(loaded.policy, large.params, large.echelon_levels)
    action, _ = moved.predict(observations("network-large", replicas=2, periods=2), deterministic=True)
    assert action.shape == (2, large.params.num_nodes * large.params.num_products)


@pytest.mark.parametrize("override, message", [
    ({"action": "direct", "network": "cells"}, "needs action 'residual'"),
    ({"action": "residual", "network": "cells"}, "normalize.obs=false"),
    ({"action": "residual", "network": "cells", "normalize": {"obs": False}}, "shared_layer=null"),
    ({"action": "residual", "network": "cells", "normalize": {"obs": False},
      "policy_kwargs": {"shared_layer": None, "net_arch": {"pi": [8], "vf": [8]}}}, "one list"),
    ({"action": "residual", "network": "graph"}, "network: expected one of mlp, cells"),
])
def test_cell_configurations_are_refused_with_the_fix(override, message):
    with pytest.raises(ConfigError, match=message):
        load_hyperparams("ppo", "echelon/Network-v1", override)


def test_off_policy_algorithms_refuse_cells():
    with pytest.raises(ConfigError, match="actor-critic policy of ppo and a2c"):
        load_hyperparams("sac", "echelon/Network-v1", {"action": "residual", "network": "cells",
                                                       "normalize": {"obs": False}})


def test_a_cell_sees_the_same_when_the_catalog_is_tiled():
    """Every product twice, every capacity doubled: each cell's inputs and output are what they were, so that the
    features neither shrink nor grow with the number of products."""
    base = plan("network")
    scenario = resolve_scenario("network")
    tiled_scenario = dataclasses.replace(
        scenario, name="network-twice",
        products=[dataclasses.replace(p, name=f"{p.name}-{copy}") for copy in (0, 1) for p in scenario.products],
        nodes=tuple(dataclasses.replace(n, storage_capacity=2 * n.storage_capacity,
                                        inbound_capacity=2 * n.inbound_capacity) for n in scenario.nodes))
    params, tiled_params = base.params, compile_scenario(tiled_scenario)
    levels = base.echelon_levels.reshape(params.num_nodes, params.num_products)
    cells = CellScenario.of(params, levels)
    tiled_cells = CellScenario.of(tiled_params, np.concatenate([levels, levels], axis=1))
    for name, axis in {"static": 1, "region_weight": 2, "max_level": 1, "max_order": 1, "demand_scale": 1,
                       "echelon_scale": 1}.items():
        original = getattr(cells, name)
        np.testing.assert_allclose(getattr(tiled_cells, name), np.concatenate([original, original], axis=axis),
                                   rtol=1e-6, atol=1e-6, err_msg=name)

    env = EchelonVectorEnv(4, "network", max_episode_steps=None)
    observation, _ = env.reset(seed=2)
    for _ in range(6):
        observation, *_ = env.step(base.policy()(observation))
    state = env._simulator.state
    tiled_state = dataclasses.replace(state, **{
        field.name: np.concatenate([getattr(state, field.name)] * 2, axis=-1)
        for field in dataclasses.fields(state) if field.name not in ("received", "period")},
        received=2 * state.received)
    network = randomized(CellNetwork((16, 8), cells))
    with torch.no_grad():
        inputs = network.inputs(torch.as_tensor(observe(state, params)))
        out = network(torch.as_tensor(observe(state, params))).reshape(4, params.num_nodes, -1)
        network.bind(tiled_cells)
        tiled_inputs = network.inputs(torch.as_tensor(observe(tiled_state, tiled_params)))
        tiled_out = network(torch.as_tensor(observe(tiled_state, tiled_params))).reshape(4, params.num_nodes, -1)
    cell_axis = 2
    for got, want in zip(tiled_inputs, inputs, strict=True):
        expected = torch.cat([want, want], dim=cell_axis) if got.shape != want.shape else want
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiled_out.numpy(), torch.cat([out, out], dim=2).numpy(), rtol=1e-4, atol=1e-6)
