"""The gradient agent's policies: training-time levels are exactly what the evaluated policy asks the env for."""

import numpy as np
import pytest
import torch
from gymnasium.utils import seeding

from agents.gradient_agent import GradientAgentConfig, GradientTrainer, rollout_costs
from agents.gradient_policies import GradientNumpyPolicy, build_policy
from agents.torch_dynamics import to_torch
from baselines.planner import plan
from envs.noise import episode_keys
from envs.simulator import start_state
from envs.vector import EchelonVectorEnv


def env_costs(policy, scenario: str, replicas: int, horizon: int, seed: int) -> np.ndarray:
    env = EchelonVectorEnv(replicas, scenario, max_episode_steps=None)
    observation, _ = env.reset(seed=seed)
    costs = []
    for _ in range(horizon):
        observation, _, _, _, info = env.step(policy(observation))
        costs.append(info["cost"]["total"])
    return np.array(costs)


def torch_costs(module, params, replicas: int, horizon: int, seed: int, relax: bool = False) -> torch.Tensor:
    keys = episode_keys([seeding.np_random(seed + i)[0] for i in range(replicas)])
    state = start_state(params, keys, params.warmup_periods)
    return rollout_costs(module, params, to_torch(state), keys, horizon, relax=relax)


@pytest.mark.parametrize("scenario", ["serial", "owmr", "network"])
@pytest.mark.parametrize("kind, network", [("residual", "mlp"), ("direct", "mlp"), ("residual", "cells")])
def test_torch_rollout_of_a_policy_reproduces_its_numpy_form_in_the_env(scenario, kind, network):
    planned = plan(scenario)
    params = planned.params
    torch.manual_seed(1)
    module = build_policy(params, kind, (16,), planned.echelon_levels, 0.5, network)
    for parameter in module.parameters():  # a non-trivial, state-dependent policy
        torch.nn.init.normal_(parameter, std=0.3)
    expected = env_costs(GradientNumpyPolicy(module, params), scenario, 4, 25, seed=7)
    with torch.no_grad():
        simulated = torch_costs(module, params, 4, 25, seed=7).numpy()
    np.testing.assert_allclose(simulated, expected, rtol=1e-9, atol=1e-9)
    with torch.no_grad():
        relaxed = torch_costs(module, params, 4, 25, seed=7, relax=True).numpy()
    np.testing.assert_allclose(relaxed, expected, rtol=1e-9, atol=1e-9)  # relaxation changes gradients only


def test_untrained_residual_policy_is_exactly_the_plan():
    planned = plan("network")
    module = build_policy(planned.params, "residual", (8,), planned.echelon_levels)
    np.testing.assert_array_equal(env_costs(GradientNumpyPolicy(module, planned.params), "network", 3, 15, 2),
                                  env_costs(planned.policy(), "network", 3, 15, 2))


def test_residual_rollout_has_a_gradient_for_every_level():
    planned = plan("serial")
    module = build_policy(planned.params, "residual", (8,), planned.echelon_levels)
    torch_costs(module, planned.params, 8, 30, seed=3, relax=True).mean().backward()
    assert torch.count_nonzero(module.net[-1].bias.grad) == planned.params.num_nodes


@pytest.mark.parametrize("final_learning_rate", [None, 1e-4])
def test_resumed_training_continues_exactly(final_learning_rate):
    planned = plan("serial")
    config = dict(hidden=(8,), paths=4, horizon=10, iterations=4, learning_rate=1e-2, seed=5, action="residual",
                  final_learning_rate=final_learning_rate)
    straight = GradientTrainer(planned.params, GradientAgentConfig(**config), planned.echelon_levels)
    for _ in range(4):
        straight.step()
    first = GradientTrainer(planned.params, GradientAgentConfig(**config), planned.echelon_levels)
    first.step(), first.step()
    state = first.state_dict()
    second = GradientTrainer(planned.params, GradientAgentConfig(**{**config, "seed": 5}), planned.echelon_levels)
    second.load_state_dict(state)
    second.step(), second.step()
    for name, value in straight.policy.state_dict().items():
        torch.testing.assert_close(second.policy.state_dict()[name], value, rtol=0, atol=0)
    assert [h["cost_per_period"] for h in second.config.history] == [
        h["cost_per_period"] for h in straight.config.history[2:]]


def test_cosine_learning_rate_runs_from_first_to_final_value():
    planned = plan("serial")
    config = GradientAgentConfig(hidden=(8,), paths=2, horizon=3, iterations=5, learning_rate=1e-2,
                                 final_learning_rate=1e-4, action="residual")
    trainer = GradientTrainer(planned.params, config, planned.echelon_levels)
    rates = [trainer.step()["learning_rate"] for _ in range(5)]
    assert rates[0] == pytest.approx(1e-2) and rates[-1] == pytest.approx(1e-4)
    assert rates[2] == pytest.approx((1e-2 + 1e-4) / 2)  # half way the cosine is at the mean
    assert all(a > b for a, b in zip(rates, rates[1:]))
    constant = GradientTrainer(planned.params, GradientAgentConfig(iterations=5, learning_rate=3e-3), None)
    assert {constant.learning_rate(i) for i in range(5)} == {3e-3}
