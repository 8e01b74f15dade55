"""The residual parameterization: zero residual is exactly the plan; residuals scale the echelon levels."""

import numpy as np
import pytest

from agents.crn import CommonRandomNumbers
from agents.residual import ResidualPolicy, ResidualVecEnv
from baselines.planner import plan
from envs.sb3 import SB3VecEnv
from envs.vector import EchelonVectorEnv


@pytest.fixture(scope="module")
def serial_plan():
    return plan("serial")


def test_zero_residual_is_exactly_the_plan(serial_plan):
    base = serial_plan.policy()
    residual = ResidualPolicy(base, 0.5)
    env = EchelonVectorEnv(8, "serial", max_episode_steps=None)
    observations, _ = env.reset(seed=3)
    for _ in range(40):
        expected = base(observations)
        np.testing.assert_array_equal(residual(observations), expected)
        observations, *_ = env.step(expected)


def test_residual_scales_echelon_levels(serial_plan):
    base = serial_plan.policy()
    residual = ResidualPolicy(base, 0.5)
    env = EchelonVectorEnv(4, "serial", max_episode_steps=None)
    observations, _ = env.reset(seed=1)
    size = env.params.num_nodes * env.params.num_products
    up = residual.env_action(observations, np.ones((4, size)))
    level_up = (up + 1) / 2 * env.params.max_level.reshape(-1)
    level_base = (base(observations) + 1) / 2 * env.params.max_level.reshape(-1)
    shift = base.echelon_levels.reshape(-1) * (np.exp(0.5) - 1)
    np.testing.assert_allclose(level_up, np.minimum(level_base + shift, env.params.max_level.reshape(-1)), atol=0.51)
    with pytest.raises(ValueError, match="outside"):
        residual.env_action(observations, np.full((4, size), 1.5))


def test_residual_vec_env_runs_the_plan_on_zero_actions(serial_plan):
    policy = ResidualPolicy(serial_plan.policy(), 0.5)
    wrapped = ResidualVecEnv(SB3VecEnv(num_envs=4, scenario="serial", max_episode_steps=20), policy)
    plain = SB3VecEnv(num_envs=4, scenario="serial", max_episode_steps=20)
    wrapped.seed(7)
    plain.seed(7)
    obs_wrapped, obs_plain = wrapped.reset(), plain.reset()
    for _ in range(45):  # crosses two episode ends
        plain.step_async(serial_plan.policy()(obs_plain))
        obs_plain, rew_plain, done_plain, _ = plain.step_wait()
        wrapped.step_async(np.zeros((4, 3), dtype=np.float32))
        obs_wrapped, rew_wrapped, done_wrapped, _ = wrapped.step_wait()
        np.testing.assert_array_equal(obs_wrapped, obs_plain)
        np.testing.assert_array_equal(rew_wrapped, rew_plain)
        np.testing.assert_array_equal(done_wrapped, done_plain)


def test_common_random_numbers_pair_replicas_and_center_rewards():
    env = CommonRandomNumbers(SB3VecEnv(num_envs=6, scenario="serial", max_episode_steps=20), group_size=3)
    assert env.seed(11) == [11, 11, 11, 12, 12, 12]
    observations = env.reset()
    np.testing.assert_array_equal(observations[0], observations[2])
    assert not np.array_equal(observations[0], observations[3])
    actions = np.zeros((6, 3), dtype=np.float32)
    actions[1] = 0.5  # one replica of the first group acts differently
    for _ in range(5):
        observations, rewards, _, infos = env.step(actions)
    np.testing.assert_allclose(rewards.reshape(2, 3).sum(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(rewards[3:], 0.0, atol=1e-6)  # same draws, same actions: no difference
    assert rewards[1] != 0.0 and infos[0]["cost"] == infos[2]["cost"]
