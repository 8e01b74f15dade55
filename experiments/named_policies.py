"""The policies ``echelon evaluate`` and ``echelon compare`` know by name (``--policy``).

``planner`` (the analytic plan's echelon base stock), ``tuned`` (the plan's levels scaled by simulation,
:func:`baselines.tuning.tune` on its own fixed seeds), ``newsvendor`` and ``constant`` (the naive references of
:mod:`baselines.naive`) and ``random`` (uniform actions). Each is built from the env id alone.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from agents.config import ConfigError, check_env_id
from baselines.evaluation import Policy
from baselines.naive import constant_order_reference, newsvendor_reference
from baselines.planner import plan
from baselines.tuning import tune
from envs import env_scenario
from experiments.conventions import POLICY_NAMES, TUNING_SEED


class RandomPolicy:
    """Uniform random actions in [-1, 1] (a floor every learned policy should beat): episode j's actions come from
    its own generator seeded (seed, j), so they do not depend on how the episodes are split into chunks."""

    def __init__(self, env_id: str, seed: int = 0, action_mode: str = "order_up_to") -> None:
        env = gym.make(env_id)
        self.size = int(np.prod(env.action_space.shape))
        env.close()
        self.seed = seed
        self.action_mode = action_mode
        self.start_episodes(0, 0)

    def start_episodes(self, first: int, count: int) -> None:
        """The next batches are episodes ``first .. first + count - 1`` (called by ``run_episodes`` per chunk)."""
        self.first, self.count = first, count
        self.reset()

    def reset(self) -> None:
        self.rngs = [np.random.default_rng((self.seed, self.first + i)) for i in range(self.count)]

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        if len(observations) != len(self.rngs):  # not told which episodes: episodes 0 .. B - 1
            self.start_episodes(0, len(observations))
        return np.stack([rng.uniform(-1.0, 1.0, self.size) for rng in self.rngs]).astype(np.float32)


def _planner(env_id: str, seed: int) -> Policy:
    return plan(env_scenario(env_id)).policy()


def _tuned(env_id: str, seed: int) -> Policy:
    return tune(plan(env_scenario(env_id)), env_id, seed=TUNING_SEED).policy


def _newsvendor(env_id: str, seed: int) -> Policy:
    return newsvendor_reference(env_scenario(env_id))


def _constant(env_id: str, seed: int) -> Policy:
    return constant_order_reference(env_scenario(env_id))


def _random(env_id: str, seed: int) -> Policy:
    return RandomPolicy(env_id, seed)


POLICIES: dict[str, Callable[[str, int], Policy]] = dict(
    zip(POLICY_NAMES, (_planner, _tuned, _newsvendor, _constant, _random), strict=True))
"""Factory of each named policy: ``(env id, seed) -> policy``."""


def make_named_policy(name: str, env_id: str, seed: int = 0) -> Policy:
    """The named policy on ``env_id``; ``seed`` only seeds ``random``."""
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name](check_env_id(env_id), seed)
