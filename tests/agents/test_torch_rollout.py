"""The torch rollout runs the env's own transition: on the env's noise it reproduces the env exactly."""

import numpy as np
import pytest
import torch
from gymnasium.utils import seeding

from agents.gradient_agent import GradientAgentConfig, GradientTrainer, LevelPolicy, rollout_costs, train
from agents.torch_dynamics import rollout_noise, to_torch
from envs.noise import episode_keys, noise
from envs.observation import observation_size
from envs.simulator import ENVIRONMENT_VARIABLE, start_state
from envs.vector import EchelonVectorEnv


@pytest.mark.parametrize("scenario", ["serial", "owmr", "network"])
def test_torch_rollout_reproduces_the_numpy_env(scenario):
    replicas, horizon, seed = 4, 30, 11
    env = EchelonVectorEnv(replicas, scenario, max_episode_steps=None)
    params = env.params
    torch.manual_seed(0)
    policy = LevelPolicy(observation_size(params), params.num_nodes * params.num_products, (16,), params.max_level)
    for parameter in policy.parameters():  # a non-trivial, state-dependent policy
        torch.nn.init.normal_(parameter, std=0.3)

    observation, _ = env.reset(seed=seed)
    env_costs = []
    for _ in range(horizon):
        observation, _, _, _, info = env.step(policy.act(observation))
        env_costs.append(info["cost"]["total"])

    keys = episode_keys([seeding.np_random(seed + i)[0] for i in range(replicas)])
    state = start_state(params, keys, params.warmup_periods)
    with torch.no_grad():
        torch_costs = rollout_costs(policy, params, to_torch(state), keys, horizon, relax=False)
    np.testing.assert_allclose(torch_costs.numpy(), np.array(env_costs), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("simulator", ["compiled", "reference"])
def test_rollout_noise_is_the_env_noise_of_every_period(simulator, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, simulator)
    params = EchelonVectorEnv(1, "network").params
    keys = episode_keys([seeding.np_random(20 + i)[0] for i in range(3)])
    periods = np.array([0, 7, 30])
    drawn = rollout_noise(keys, periods, 5, params)
    for t, step in enumerate(drawn):
        expected = noise(keys, periods + t, params)
        for name in ("demand", "cutoff_uniform", "spill_uniform", "lead_time"):
            np.testing.assert_array_equal(getattr(step, name).numpy(), getattr(expected, name), err_msg=name)


def test_trainer_starts_its_paths_from_the_env_warm_up_state():
    params = EchelonVectorEnv(1, "network").params
    trainer = GradientTrainer(params, GradientAgentConfig(hidden=(4,), paths=3))
    keys = episode_keys(trainer.path_rngs(0))
    compiled, reference = trainer.start_state(keys), start_state(params, keys, params.warmup_periods)
    for name in ("on_hand", "dock", "pipeline", "due", "last_due", "backlog", "last_demand", "received", "period"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(reference, name), err_msg=name)


def test_relaxed_rollout_has_the_same_costs_and_a_gradient():
    env = EchelonVectorEnv(3, "network", max_episode_steps=None)
    params = env.params
    policy = LevelPolicy(observation_size(params), params.num_nodes * params.num_products, (8,), params.max_level)
    costs = {}
    for relax in (False, True):
        keys = episode_keys([seeding.np_random(5 + i)[0] for i in range(3)])
        state = start_state(params, keys, 3)
        costs[relax] = rollout_costs(policy, params, to_torch(state), keys, 10, relax=relax)
    np.testing.assert_allclose(costs[True].detach().numpy(), costs[False].detach().numpy())
    costs[True].sum().backward()
    head = policy.net[-1]
    assert head.bias.grad is not None and torch.count_nonzero(head.bias.grad) > 0


def test_gradient_training_lowers_serial_cost():
    env = EchelonVectorEnv(1, "serial")
    config = GradientAgentConfig(hidden=(32,), paths=32, horizon=30, iterations=25, learning_rate=1e-2)
    train(env.params, config)
    first, last = config.history[0]["cost_per_period"], np.mean([h["cost_per_period"] for h in config.history[-5:]])
    assert last < 0.8 * first
