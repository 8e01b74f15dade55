"""Residual action parameterization: the agent adjusts the analytic plan instead of replacing it.

The agent outputs one value a in [-1, 1] per (node, product); the echelon base-stock levels of the plan
are multiplied by ``exp(max_log_multiplier * a)`` and the plan's own observation-only policy turns them
into the env's action. A zero action is exactly the plan, so training starts from the analytic
solution and learns corrections (in the spirit of residual policy learning, Silver et al. 2018).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER
from baselines.policies import EchelonBaseStockPolicy
from envs.actions import encode_level, validate_action


class ResidualPolicy:
    """Echelon base stock with levels scaled per (node, product) by ``exp(max_log_multiplier * a)``."""

    action_mode = "order_up_to"

    def __init__(self, base: EchelonBaseStockPolicy, max_log_multiplier: float = DEFAULT_MAX_LOG_MULTIPLIER) -> None:
        if not 0 < max_log_multiplier <= 3:
            raise ValueError(f"max_log_multiplier must be in (0, 3], got {max_log_multiplier!r}")
        self.base = base
        self.params = base.params
        self.max_log_multiplier = float(max_log_multiplier)

    def env_action(self, observations: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """The env action for observation batch (B, obs) and residual batch (B, N * P) in [-1, 1]."""
        observations = np.atleast_2d(observations)
        residual = validate_action(residual, observations.shape[0], self.params)
        scaled = self.base.echelon_levels[None] * np.exp(self.max_log_multiplier * residual)
        # Local levels are linear in the echelon levels: shift the base policy's request by the change.
        level = np.rint(self.base.levels(observations) + scaled - self.base.echelon_levels[None])
        return encode_level(level, self.params).reshape(observations.shape[0], -1)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """With no residual: the plan itself."""
        observations = np.atleast_2d(observations)
        zero = np.zeros((observations.shape[0], self.params.num_nodes * self.params.num_products))
        return self.env_action(observations, zero)


class ResidualVecEnv(VecEnvWrapper):
    """SB3 wrapper: the agent's action is a residual on the plan; the wrapped env gets the plan's action.

    Apply it directly on the raw env (before VecNormalize), so the plan reads unnormalized observations.
    """

    def __init__(self, venv: VecEnv, policy: ResidualPolicy) -> None:
        super().__init__(venv)
        self.policy = policy
        self._observations: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        self._observations = self.venv.reset()
        return self._observations

    def step_async(self, actions: np.ndarray) -> None:
        if self._observations is None:
            raise RuntimeError("call reset() before step()")
        self.venv.step_async(self.policy.env_action(self._observations, actions))

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        self._observations = observations  # after an episode end: the new episode's first observation
        return observations, rewards, dones, infos
