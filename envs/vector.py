"""A natively batched Gymnasium ``VectorEnv``: N replicas advanced by one call of the transition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.actions import ACTION_MODES
from envs.noise import episode_keys
from envs.scenario import Scenario
from envs.simulator import Simulator
from envs.single import EchelonEnv


class EchelonVectorEnv(VectorEnv):
    """``num_envs`` replicas of :class:`~envs.single.EchelonEnv` in one batched state.

    Replica i seeded with ``seed + i`` reproduces ``EchelonEnv`` seeded with ``seed + i`` exactly. Episodes
    are truncated after ``max_episode_steps``. ``autoreset_mode`` is ``NEXT_STEP`` (Gymnasium's default:
    the step after an episode end resets that replica and ignores its action) or ``SAME_STEP`` (the
    replica is reset within the step that ends it; ``info["final_obs"]`` and ``info["final_info"]``
    carry the last observation and info, and ``info["_final_obs"]`` marks the replicas). ``reset`` accepts
    ``options={"reset_mask": mask}`` to reset only some replicas. Arguments otherwise as ``EchelonEnv``.
    """

    def __init__(
        self,
        num_envs: int = 1,
        scenario: Scenario | str | Path = "network",
        action_mode: str = "order_up_to",
        warmup_periods: int | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        simulator: str | None = None,
    ) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a whole number >= 1, got {num_envs!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps!r}")
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode DISABLED is not supported; use NEXT_STEP or SAME_STEP")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode {action_mode!r} is not one of {ACTION_MODES}")
        template = EchelonEnv(scenario, action_mode, warmup_periods, render_mode=None, simulator=simulator)
        self.scenario, self.params = template.scenario, template.params
        self.action_mode, self.warmup_periods = action_mode, template.warmup_periods
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.metadata = {"render_modes": [], "autoreset_mode": autoreset_mode}
        self.single_observation_space = template.observation_space
        self.single_action_space = template.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._simulator = Simulator(self.params, self.num_envs, action_mode, self.warmup_periods, simulator)
        self.simulator = self._simulator.simulator
        self._rngs: list[np.random.Generator] | None = None
        self._started = False
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    # Seeding and resets -------------------------------------------------------------------------------
    def _seed_rows(self, seed: int | list[int | None] | None, rows: np.ndarray) -> None:
        if self._rngs is None:
            self._rngs = [seeding.np_random(None)[0] for _ in range(self.num_envs)]
        if seed is None:
            return
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, (int, np.integer)) else list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} environments")
        for i in rows:
            if seeds[i] is not None:
                self._rngs[i] = seeding.np_random(int(seeds[i]))[0]

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        mask = np.ones(self.num_envs, dtype=bool)
        if options and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"], dtype=bool)
            if mask.shape != (self.num_envs,):
                raise ValueError(f"reset_mask has shape {mask.shape}, expected ({self.num_envs},)")
            if not self._started and not mask.all():
                raise ValueError("the first reset must reset every replica")
        self._seed_rows(seed, np.flatnonzero(mask))
        observations = self._simulator.new_observations()
        if not mask.all():
            self._simulator.observe(~mask, observations)
        self._reset_rows(mask, observations)
        return observations, {}

    def _reset_rows(self, rows: np.ndarray, observations: np.ndarray) -> None:
        """Start new episodes in the replicas where ``rows`` is True, each with a key from its generator."""
        keys = episode_keys([self._rngs[i] for i in np.flatnonzero(rows)])
        self._simulator.reset(rows, keys, observations)
        self._started = True
        self._steps[rows] = 0
        self._needs_reset[rows] = False

    # Stepping ---------------------------------------------------------------------------------------
    def step(self, actions):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        mode = self.metadata["autoreset_mode"]
        restarting = self._needs_reset.copy() if mode == AutoresetMode.NEXT_STEP else np.zeros(self.num_envs, bool)
        active = ~restarting
        observations = self._simulator.new_observations()
        rewards, outcome = self._simulator.step(actions, observations, active)  # validates every row
        if restarting.any():
            self._reset_rows(restarting, observations)
        self._steps[active] += 1
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated[active] = self._steps[active] >= self.max_episode_steps
        terminated = np.zeros(self.num_envs, dtype=bool)
        info = self._simulator.info_layout.batch(outcome)
        if mode == AutoresetMode.NEXT_STEP:
            self._needs_reset = truncated | terminated
        elif truncated.any():
            info["final_obs"] = observations.copy()
            info["_final_obs"] = truncated.copy()
            info["final_info"] = info.copy()
            self._reset_rows(truncated, observations)
        return observations, rewards, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._started = False
