"""Sampled episodes are the env's own: the same start state and the same demand, period by period."""

from __future__ import annotations

import numpy as np

from baselines.episodes import sample_episodes
from envs.vector import EchelonVectorEnv


def test_sampled_episodes_are_the_episodes_a_vector_env_simulates():
    env = EchelonVectorEnv(3, "network", max_episode_steps=None)
    env.reset(seed=40)
    starts, noises = sample_episodes(env.params, [40, 41, 42], periods=12)
    state = env._simulator.state
    for field in ("on_hand", "dock", "pipeline", "due", "last_due", "backlog", "period"):
        np.testing.assert_array_equal(getattr(state, field), getattr(starts, field), err_msg=field)
    rng = np.random.default_rng(0)
    for t in range(12):
        env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        demand = np.stack([noise.demand[t] for noise in noises]).sum(2)  # (episodes, regions, products)
        np.testing.assert_array_equal(env._simulator.state.last_demand, demand)
