"""The Gymnasium environment: one replica of a multi-echelon replenishment network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.actions import ACTION_MODES
from envs.noise import episode_keys
from envs.observation import observation_space
from envs.params import EnvParams, compile_scenario
from envs.scenario import Scenario, resolve_scenario
from envs.scenario.limits import MAX_WARMUP_PERIODS
from envs.simulator import Simulator
from envs.sizes import check_simulable

_ONE = np.ones(1, dtype=bool)


class EchelonEnv(gym.Env):
    """Periodic-review replenishment of a multi-product, multi-echelon network.

    ## Description
    Vendors ship to distribution centers, which supply fulfillment centers, which supply same-day sites.
    Customers in each region order every period at several delivery speeds; a dynamic fulfillment policy
    serves each order from the cheapest node that can still meet its promise. Each period the agent sets
    replenishment for every (stocking node, product). Vendor lead times are random; storage (soft) and
    inbound throughput (hard) are capped per node and shared by all products. The order of events in a
    period is documented in :mod:`envs.dynamics`.

    ## Action Space
    ``Box(-1, 1, (N * P,), float32)``, node-major (N stocking nodes in scenario order, P products).
    With ``action_mode="order_up_to"`` (default) entry x asks for the order-up-to level
    ``round((x + 1) / 2 * max_level[n, p])``: the order is that level minus the node's inventory position
    (on hand + dock + in transit - backlog), never negative. With ``action_mode="quantity"`` entry x
    orders ``round((x + 1) / 2 * max_order[n, p])`` units. A node supplied by another stocking node gets
    what its supplier has on hand, rationed proportionally among children when short. NaN, infinite,
    out-of-range or wrongly shaped actions raise ``ValueError``.

    ## Observation Space
    ``Box(float32)`` of normalized blocks (see :mod:`envs.observation`):

    | block          | size      | value                                                   |
    |----------------|-----------|---------------------------------------------------------|
    | on_hand        | N x P     | on hand / max level                                     |
    | dock           | N x P     | waiting at the dock / max level                         |
    | pipeline       | N x A x P | in transit by age (periods since shipped) / max order   |
    | backlog        | P x R     | backordered orders / mean demand                        |
    | recent_demand  | P x R     | last period's orders / mean demand                      |
    | forecast       | P x R     | next period's mean demand / mean demand                 |
    | season         | 2         | sin, cos of the seasonal phase                          |
    | storage_use    | N         | volume on hand / storage capacity (0 when uncapped)     |
    | inbound_use    | N         | units received / inbound capacity (0 when uncapped)     |

    Lead times already drawn for goods in transit are not observed (they are uncertain to the planner).

    ## Rewards
    ``-cost / cost_scale`` per period, where cost = holding + purchase + inbound transport + outbound
    shipping + unmet-demand penalty (per speed) + storage overflow, and ``cost_scale`` is the penalty of
    losing one period's mean demand (``EnvParams.cost_scale``). ``info["cost"]`` has the breakdown in
    currency units.

    ## Starting State
    Every node holds its mean throughput over its mean lead time plus one; then ``warmup_periods``
    periods (scenario default) are simulated ordering mean throughput. The warm-up is not part of the
    episode.

    ## Episode End
    Never terminates; truncated after ``max_episode_steps`` (set at registration) by ``TimeLimit``.

    ## Info
    ``cost`` (breakdown); ``fill_rate``, and ``requested``, ``served`` and ``lost`` units by speed;
    ``storage_use`` and ``inbound_use`` by node.

    ## Arguments
    - ``scenario``: a :class:`~envs.scenario.Scenario`, a registered name or a YAML path.
    - ``action_mode``: ``"order_up_to"`` (default) or ``"quantity"``.
    - ``warmup_periods``: overrides the scenario's warm-up length.
    - ``render_mode``: ``None`` or ``"ansi"``.
    - ``simulator``: ``"compiled"`` (numba kernel) or ``"reference"`` (the numpy specification); both give
      the same results. ``None`` (default): ``$ECHELON_SIMULATOR``, else compiled (see :mod:`envs.simulator`).

    ## Version History
    - v1: random numbers from a counter-based generator (Philox4x32-10) keyed by one draw from ``np_random``
      per episode, so that the compiled simulator can draw them itself: the same seeds give other demand
      and lead-time samples than v0 (same distributions, same dynamics, costs and observations).
    - v0: initial release.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        scenario: Scenario | str | Path = "network",
        action_mode: str = "order_up_to",
        warmup_periods: int | None = None,
        render_mode: str | None = None,
        simulator: str | None = None,
    ) -> None:
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode {action_mode!r} is not one of {ACTION_MODES}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}")
        if warmup_periods is not None and (
            not isinstance(warmup_periods, int) or isinstance(warmup_periods, bool)
            or not 0 <= warmup_periods <= MAX_WARMUP_PERIODS
        ):
            raise ValueError(f"warmup_periods must be a whole number in [0, {MAX_WARMUP_PERIODS}], "
                             f"got {warmup_periods!r}")
        self.scenario = resolve_scenario(scenario)
        self.params: EnvParams = compile_scenario(self.scenario)
        check_simulable(self.params)  # before the spaces, which are as large as a replica
        self.action_mode = action_mode
        self.render_mode = render_mode
        self.warmup_periods = self.scenario.warmup_periods if warmup_periods is None else warmup_periods
        self.observation_space = observation_space(self.params)
        size = self.params.num_nodes * self.params.num_products
        self.action_space = spaces.Box(-1.0, 1.0, (size,), dtype=np.float32)
        self._simulator = Simulator(self.params, 1, action_mode, self.warmup_periods, simulator)
        self._started = False
        self._last_info: dict = {}

    @property
    def simulator(self) -> str:
        """The path that runs: ``"compiled"`` or ``"reference"``."""
        return self._simulator.simulator

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        observations = self._simulator.new_observations()
        self._simulator.reset(_ONE, episode_keys([self.np_random]), observations)
        self._started = True
        self._last_info = {}
        return observations[0], {}

    def step(self, action):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"action has shape {action.shape}, expected {self.action_space.shape} "
                f"(one entry per stocking node x product: {self.params.num_nodes} x {self.params.num_products})"
            )
        observations = self._simulator.new_observations()
        rewards, outcome = self._simulator.step(action.reshape(1, -1), observations)
        info = self._simulator.info_layout.row(outcome)
        self._last_info = info
        return observations[0], float(rewards[0]), False, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi" or not self._started:
            return None
        state = self._simulator.state
        lines = [f"period {int(state.period[0])}"]
        for n, name in enumerate(self.params.node_names):
            lines.append(
                f"{name:>12}: on hand {int(state.on_hand[0, n].sum()):>7d}  "
                f"in transit {int(state.pipeline[0, n].sum()):>7d}  dock {int(state.dock[0, n].sum()):>5d}"
            )
        if self._last_info:
            lines.append(f"cost {self._last_info['cost']['total']:.2f}")
        return "\n".join(lines)
