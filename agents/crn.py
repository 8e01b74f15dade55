"""Common random numbers in training: replicas in groups share every draw; rewards are centered per group.

All randomness of the env is exogenous, so replicas seeded alike face the same demands and lead times. With
groups of ``group_size`` consecutive replicas seeded alike, the difference between a replica's reward and its
group's mean reward is due to the actions only (the policy's exploration noise), not to demand: the policy
gradient keeps its direction (up to a factor 1 - 1/group_size) with far less variance (a paired comparison, as in
the evaluation). The wrapper sits outside ``VecMonitor`` (which still records true episode rewards).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn


class CommonRandomNumbers(VecEnvWrapper):
    """Groups of ``group_size`` consecutive replicas seeded ``seed + g`` (group g); rewards minus group means."""

    def __init__(self, venv: VecEnv, group_size: int) -> None:
        if group_size < 2 or venv.num_envs % group_size:
            raise ValueError(f"group_size must be >= 2 and divide num_envs ({venv.num_envs}), got {group_size}")
        super().__init__(venv)
        self.group_size = int(group_size)

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        first = self.venv.seed(seed)[0]
        grouped = [first + i // self.group_size for i in range(self.num_envs)]
        base = self.venv
        while isinstance(base, VecEnvWrapper):
            base = base.venv
        base._seeds = grouped  # passed to the replicas at the next reset (SB3's seeding convention)
        return grouped

    def reset(self) -> VecEnvObs:
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        groups = rewards.reshape(-1, self.group_size)
        centered = (groups - groups.mean(axis=1, keepdims=True)).reshape(-1)
        return observations, centered.astype(np.float32), dones, infos
