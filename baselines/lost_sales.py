"""Exact optimal average cost of the periodic-review lost-sales system (Zipkin 2008, Oper. Res. 56(5)).

Timing (Zipkin's): at the start of each period an order is placed; it arrives L periods later, at the start
of that period, before demand. The order due this period arrives, demand D is met from on-hand stock, the
excess demand (D - a)^+ is lost at cost p per unit and the end-of-period on-hand stock (a - D)^+ is charged
h per unit. The decision state is the vector (a, x_1, ..., x_{L-1}) of stock available this period
(on hand plus the arriving order) and the orders arriving in 1..L-1 periods; after ordering z,

    next state = ((a - D)^+ + x_1, x_2, ..., x_{L-1}, z),   cost = h E[(a - D)^+] + p E[(D - a)^+].

With L = 0 the order is available at once and the optimum is the newsvendor cost min_a of the same
one-period cost. With L >= 1 base stock is not optimal, so we solve the average-cost dynamic programme by
relative value iteration over the pipeline vector, stopping when the Odoni bounds
min(TV - V) <= g* <= max(TV - V) are within the tolerance; the midpoint is returned.

Truncation: the inventory position after ordering, a + x_1 + ... + x_{L-1} + z, is capped at M, which makes
the state space {position <= M} finite and closed (demand only lowers the position). The cap restricts
only the policy, so the result is exact whenever the optimal policy never orders above M. The default M
is the 1 - 1e-6 quantile of demand over L + 1 periods, well above the backorder base-stock level
F_{L+1}^{-1}(p / (p + h)), which bounds the optimal order-up-to position (Morton 1971); for Poisson(5)
demand, caps from that level upwards give identical optima. Demand itself is not truncated: all demand
beyond the available stock is lumped exactly into the stock-out event.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines._demand import expected_on_hand, expected_shortage, integer_grid, is_discrete
from baselines._validation import positive_scalar

POSITION_QUANTILE = 1.0 - 1e-6
"""Quantile of (L + 1)-period demand used as the default cap on the inventory position after ordering."""

MAX_TABLE_ENTRIES = 20_000_000
"""Refuse problems whose state-action table would exceed this many entries ((M + 1)^(L + 1))."""


def lost_sales_optimum(demand: Any, lead_time: int, holding_cost: float, lost_sales_cost: float, *,
                       max_position: int | None = None, tolerance: float = 1e-9,
                       max_iterations: int = 100_000) -> float:
    """Optimal long-run average cost per period of the lost-sales system with integer lead time.

    `demand` is the per-period demand: a discrete frozen scipy distribution on the non-negative integers
    (e.g. ``scipy.stats.poisson(5)``). `max_position` overrides the default truncation M (see module doc).
    Zipkin (2008, Table 3) reports, for Poisson(5) demand and h = 1, e.g. 4.40 at L = 2, p = 4.
    """
    lead_time = _lead_time(lead_time)
    holding_cost = positive_scalar(holding_cost, "holding_cost")
    lost_sales_cost = positive_scalar(lost_sales_cost, "lost_sales_cost")
    pmf = _per_period_pmf(demand)
    cap = _position_cap(pmf, lead_time) if max_position is None else int(max_position)
    if cap < 1:
        raise ValueError(f"max_position must be a positive integer, got {max_position!r}")
    if (cap + 1) ** (lead_time + 1) > MAX_TABLE_ENTRIES:
        raise ValueError(f"lead_time={lead_time} with position cap {cap} is too large for the exact DP")

    levels = np.arange(cap + 1)
    period_cost = (holding_cost * expected_on_hand(demand, levels)
                   + lost_sales_cost * expected_shortage(demand, levels))
    if lead_time == 0:
        return float(period_cost.min())
    return _relative_value_iteration(pmf, period_cost, lead_time, cap, tolerance, max_iterations)


def _relative_value_iteration(pmf: np.ndarray, period_cost: np.ndarray, lead_time: int, cap: int,
                              tolerance: float, max_iterations: int) -> float:
    size = cap + 1
    kernel = _leftover_kernel(pmf, cap)
    position = np.indices((size,) * (lead_time + 1)).sum(axis=0)
    infeasible = position > cap
    valid_state = position[..., 0] <= cap
    cost = period_cost.reshape((size,) + (1,) * (lead_time - 1))
    values = np.zeros((size,) * lead_time)
    reference = (0,) * lead_time
    for _ in range(max_iterations):
        continuation = np.tensordot(kernel, values, axes=([2], [0]))
        continuation[infeasible] = np.inf
        updated = cost + continuation.min(axis=-1)
        updated[~valid_state] = 0.0
        change = (updated - values)[valid_state]
        low, high = change.min(), change.max()
        if high - low < tolerance:
            return float(0.5 * (low + high))
        values = updated - updated[reference]
    raise RuntimeError(f"relative value iteration did not converge in {max_iterations} iterations")


def _leftover_kernel(pmf: np.ndarray, cap: int) -> np.ndarray:
    """K[a, x, y] = P((a - D)^+ + x = y): leftover stock from a available, added to the next arrival x."""
    size = cap + 1
    padded = np.zeros(size)
    padded[:min(len(pmf), size)] = pmf[:size]
    below = np.concatenate(([0.0], np.cumsum(padded)[:-1]))  # P(D <= a - 1)
    leftover = np.zeros((size, size))  # leftover[a, j] = P((a - D)^+ = j)
    for available in range(size):
        leftover[available, 1:available + 1] = padded[available - 1::-1][:available]
        leftover[available, 0] = 1.0 - below[available]
    shift = np.arange(size)[None, :] - np.arange(size)[:, None]  # y - x
    inside = (shift >= 0)[None, :, :] & (shift[None, :, :] <= np.arange(size)[:, None, None])
    return np.where(inside, leftover[:, np.clip(shift, 0, cap)], 0.0)


def _per_period_pmf(demand: Any) -> np.ndarray:
    if not is_discrete(demand):
        raise ValueError("demand must be a discrete distribution on the non-negative integers")
    low, probs = integer_grid(demand)
    if low < 0:
        raise ValueError(f"demand must be non-negative, but its support starts at {low}")
    return np.concatenate((np.zeros(low), probs))


def _position_cap(pmf: np.ndarray, lead_time: int) -> int:
    total = pmf
    for _ in range(lead_time):
        total = np.convolve(total, pmf)
    return max(int(np.searchsorted(np.cumsum(total), POSITION_QUANTILE)), 1)


def _lead_time(lead_time: Any) -> int:
    if isinstance(lead_time, bool) or not isinstance(lead_time, int | np.integer) or lead_time < 0:
        raise ValueError(f"lead_time must be a non-negative integer, got {lead_time!r}")
    return int(lead_time)
