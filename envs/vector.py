"""A natively batched Gymnasium ``VectorEnv``: N replicas advanced by one call of the transition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.actions import ACTION_MODES, decode_action
from envs.dynamics import transition
from envs.engine import NoiseStreams, batch_info, reward, start_state
from envs.observation import observe
from envs.scenario import Scenario
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
        template = EchelonEnv(scenario, action_mode, warmup_periods, render_mode=None)
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
        self._noise = NoiseStreams(self.params, self.num_envs)
        self._rngs: list[np.random.Generator] | None = None
        self._state = None
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
            if self._state is None and not mask.all():
                raise ValueError("the first reset must reset every replica")
        rows = np.flatnonzero(mask)
        self._seed_rows(seed, rows)
        self._reset_rows(rows)
        return observe(self._state, self.params), {}

    def _reset_rows(self, rows: np.ndarray) -> None:
        fresh = start_state(self.params, self._noise, self._rngs, self.warmup_periods, rows)
        self._state = fresh if self._state is None or len(rows) == self.num_envs else self._state.put(rows, fresh)
        self._steps[rows] = 0
        self._needs_reset[rows] = False

    # Stepping ---------------------------------------------------------------------------------------
    def step(self, actions):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions, dtype=np.float64)
        mode = self.metadata["autoreset_mode"]
        rewards = np.zeros(self.num_envs)
        restarting = self._needs_reset.copy() if mode == AutoresetMode.NEXT_STEP else np.zeros(self.num_envs, bool)
        active = np.flatnonzero(~restarting)
        order = decode_action(actions, self._state, self.params, self.action_mode)  # validates every row
        if len(active) == self.num_envs:
            noise = self._noise.next(self._rngs, self._state.period)
            self._state, outcome = transition(self._state, order, noise, self.params)
            rewards = reward(outcome, self.params)
            info = batch_info(outcome, self.params)
        else:
            info = {}
            if len(active):
                sub = self._state.take(active)
                noise = self._noise.next(self._rngs, sub.period, active)
                sub, outcome = transition(sub, order[active], noise, self.params)
                self._state = self._state.put(active, sub)
                rewards[active] = reward(outcome, self.params)
                info = _scatter(batch_info(outcome, self.params), active, self.num_envs)
            self._reset_rows(np.flatnonzero(restarting))
        self._steps[active] += 1
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated[active] = self._steps[active] >= self.max_episode_steps
        terminated = np.zeros(self.num_envs, dtype=bool)
        observations = observe(self._state, self.params)
        if mode == AutoresetMode.NEXT_STEP:
            self._needs_reset = truncated | terminated
        elif truncated.any():
            done = np.flatnonzero(truncated)
            info["final_obs"] = observations.copy()
            info["_final_obs"] = truncated.copy()
            info["final_info"] = info.copy()
            self._reset_rows(done)
            observations = observe(self._state, self.params)
        return observations, rewards, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._state = None


def _scatter(info: dict, rows: np.ndarray, size: int) -> dict:
    """Place per-row info arrays into full-batch arrays (zeros elsewhere)."""
    out = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out[key] = _scatter(value, rows, size)
        else:
            full = np.zeros(size, dtype=np.asarray(value).dtype)
            full[rows] = value
            out[key] = full
    return out
