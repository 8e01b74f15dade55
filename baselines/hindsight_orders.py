"""What an episode's noise fixes about customer orders whatever the policy does (step 3 of :mod:`envs.dynamics`).

From the realized demand and uniforms alone:

- the split of every stream's new orders into orders placed before and after the cut-off (the env rounds
  the after-cut-off share with its uniform; nothing a policy does changes it);
- whole-unit bounds on the orders a speed leaves unmet (``unmet``), on the part of them that spills to the
  next slower speed (``carry`` = floor(sigma unmet + u)) and on the rest, which is penalized and lost or
  backordered (``rest`` = unmet - carry). Both maps are nondecreasing in ``unmet`` for whole units (sigma
  <= 1), so bounds on ``unmet`` carry over: above, nothing is served; below, only the orders of a class
  (stream, speed, before/after the cut-off) that no node is eligible to serve, which are unmet under every
  policy, and the carries and backlogs they force;
- the unavoidable cost: the penalty on the lower bound of ``rest``, paid by every policy.

The bounds hold on every trajectory the env can produce, so the hindsight LP may impose them
(:mod:`baselines.hindsight_lp`) and drop every variable of a class that can have no orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.noise import Noise
from envs.params import EnvParams
from envs.state import State


@dataclass(frozen=True)
class EpisodeOrders:
    """Order quantities and bounds of one episode; arrays (T, R, S, P) unless noted."""

    on_time: np.ndarray  # new orders placed before the cut-off (plus, under lost sales, the start backlog)
    late: np.ndarray  # new orders placed after the cut-off
    start_backlog: np.ndarray  # (R, S, P) backlog of the start state (backorders: joins period 0's orders)
    spill_uniform: np.ndarray
    on_time_arcs: np.ndarray  # (R, S) bool: some node may serve orders placed before the cut-off
    late_arcs: np.ndarray  # (R, S) bool: some node may serve orders placed after the cut-off
    spills: np.ndarray  # (S,) bool: speed s spills unmet orders to speed s + 1
    unmet_upper: np.ndarray
    unmet_lower: np.ndarray
    carry_upper: np.ndarray
    carry_lower: np.ndarray
    rest_upper: np.ndarray
    rest_lower: np.ndarray

    @property
    def orders_upper(self) -> np.ndarray:
        """Upper bound on the orders placed before the cut-off (new, spilled in, backlog)."""
        return self.unmet_upper - self.late


def episode_orders(params: EnvParams, start: State, noise: Noise) -> EpisodeOrders:
    """Orders and bounds of the episode that starts in ``start`` (batch of one) with time-leading ``noise``."""
    periods, regions, speeds, products = noise.demand.shape
    new = noise.demand
    late = np.floor(new * np.asarray(params.cutoff_share)[:, None] + noise.cutoff_uniform)  # as envs.dynamics
    backlog = np.asarray(start.backlog[0], dtype=float)
    on_time = new - late + (0.0 if params.backorders else backlog[None])
    on_time_arcs = np.array([[len(params.serving[s][0][r]) > 0 for s in range(speeds)] for r in range(regions)])
    late_arcs = np.array([[params.cutoff_share[s] > 0 and len(params.serving[s][1][r]) > 0
                           for s in range(speeds)] for r in range(regions)])
    spills = np.array([s + 1 < speeds and params.spill_share[s] > 0 for s in range(speeds)])
    shape = (periods, regions, speeds, products)
    bounds = {name: np.zeros(shape) for name in ("unmet_upper", "unmet_lower", "carry_upper", "carry_lower",
                                                  "rest_upper", "rest_lower")}
    for t in range(periods):
        carry_up = carry_lo = 0.0
        for s in range(speeds):
            owed_up = owed_lo = 0.0
            if params.backorders:
                owed_up = bounds["rest_upper"][t - 1, :, s] if t else backlog[:, s]
                owed_lo = bounds["rest_lower"][t - 1, :, s] if t else backlog[:, s]
            orders_up = on_time[t, :, s] + owed_up + carry_up
            orders_lo = on_time[t, :, s] + owed_lo + carry_lo
            unmet_up = orders_up + late[t, :, s]
            unmet_lo = np.where(on_time_arcs[:, s, None], 0.0, orders_lo) + np.where(late_arcs[:, s, None], 0.0,
                                                                                     late[t, :, s])
            carry_up = carry_lo = 0.0
            if spills[s]:
                carry_up = spill(unmet_up, params.spill_share[s], noise.spill_uniform[t, :, s])
                carry_lo = spill(unmet_lo, params.spill_share[s], noise.spill_uniform[t, :, s])
            for name, value in (("unmet_upper", unmet_up), ("unmet_lower", unmet_lo), ("carry_upper", carry_up),
                                ("carry_lower", carry_lo), ("rest_upper", unmet_up - carry_up),
                                ("rest_lower", unmet_lo - carry_lo)):
                bounds[name][t, :, s] = value
    return EpisodeOrders(on_time=on_time, late=late, start_backlog=backlog, spill_uniform=noise.spill_uniform,
                         on_time_arcs=on_time_arcs, late_arcs=late_arcs, spills=spills, **bounds)


def spill(unmet: np.ndarray, share: float, uniform: np.ndarray) -> np.ndarray:
    """Unmet orders that spill to the next slower speed: floor(sigma unmet + u), rounded as the env rounds."""
    return np.floor(unmet * share + uniform)


def unavoidable_cost(params: EnvParams, orders: EpisodeOrders) -> float:
    """Penalty every policy pays in the episode: on the orders no eligible node exists for (see module doc)."""
    return float(np.einsum("trsp,sp->", orders.rest_lower, np.asarray(params.penalty)))
