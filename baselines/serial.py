"""Optimal echelon base-stock levels of a serial system (Clark & Scarf 1960; Chen & Zheng 1994).

Stage 1 is the most downstream stage, h_j are echelon holding costs, h'_1 = sum_j h_j the local holding
cost at stage 1, p the backorder cost and D_j the demand over stage j's lead time. The exact recursion of
Chen & Zheng (1994) / Gallego & Zipkin (1999):

    g_0(x) = (p + h'_1) x^-
    ghat_j(x) = h_j x + g_{j-1}(min(S*_{j-1}, x))      (the min is dropped for j = 1)
    g_j(y) = E[ghat_j(y - D_j)],   S*_j = argmin_y g_j(y),   C* = g_N(S*_N).

The caller picks the timing convention through `lead_time_demands` (e.g. continuous review with Poisson
demand as in Shang & Song 2003: D_j ~ Poisson(lambda L_j); periodic review as in Snyder & Shen 2019,
Sec. 6.2: the bottom stage's interval includes the review period).

Numerics: the functions are tabulated on one lattice and each expectation is a 'valid'-mode convolution,
so the table shrinks by the demand's range at every stage; it starts wide enough (about three times the
range of total demand on each side) that every g_j is exact where it is used and its minimum is interior.
Integer demand uses the integer lattice and is exact (tails below 1e-12 dropped). Continuous demand is
replaced by its masses on a lattice of step delta = (smallest standard deviation) / 200, cell
[k - 1/2, k + 1/2) delta to point k delta; this adds delta^2 / 12 to each variance, a relative cost error
of order 1e-5, and S*_j and C* are refined by parabolic interpolation around the lattice minimum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

from baselines._demand import TAIL_TOLERANCE, integer_grid, is_discrete
from baselines._validation import cost_vector, non_negative_scalar

LATTICE_STEPS_PER_STD = 200
"""Continuous demand: lattice points per standard deviation of the least variable stage."""

_MAX_LATTICE_POINTS = 5_000_000


@dataclass(frozen=True)
class SerialSolution:
    """Optimal policy of a serial system; index 0 is stage 1 (the most downstream)."""

    echelon_levels: tuple[float, ...]
    local_levels: tuple[float, ...]
    cost: float


def clark_scarf(echelon_holding_costs: Sequence[float], stockout_cost: float,
                lead_time_demands: Sequence[Any]) -> SerialSolution:
    """Optimal echelon base-stock levels S*_j and expected cost per period of an N-stage serial system.

    `echelon_holding_costs[j]` and `lead_time_demands[j]` belong to stage j + 1 (stage 1 downstream); each
    demand is a frozen scipy distribution or `lead_time_demand` result, possibly a point mass (lead time 0).
    Local levels are S'_1 = S*_1 and S'_j = S*_j - S*_{j-1}. See the module docstring for the recursion.
    """
    demands = list(lead_time_demands)
    if not demands:
        raise ValueError("lead_time_demands must contain at least one stage")
    holding = cost_vector(echelon_holding_costs, "echelon_holding_costs", len(demands),
                          strictly_positive=False)
    if holding[0] <= 0:
        raise ValueError("echelon_holding_costs[0] (stage 1) must be positive")
    stockout_cost = non_negative_scalar(stockout_cost, "stockout_cost")

    step, kernels = _lattice_kernels(demands)
    exact = step == 1.0 and all(is_discrete(d) or d.std() == 0 for d in demands)
    lowest = sum(k[0] for k in kernels)
    highest = sum(k[0] + len(k[1]) - 1 for k in kernels)
    spread = highest - lowest + 2
    start, stop = lowest - spread, highest + spread
    if stop - start > _MAX_LATTICE_POINTS:
        raise ValueError("lead_time_demands are too spread out relative to their smallest standard deviation")

    points = np.arange(start, stop + 1)
    truncated = (stockout_cost + holding.sum()) * np.maximum(-points * step, 0.0)  # g_0, exact
    levels: list[float] = []
    cost = np.nan
    for stage, (kernel_low, masses) in enumerate(kernels):
        expected = holding[stage] * points * step + truncated  # ghat_j on the lattice
        values = signal.convolve(expected, masses, mode="valid")
        points = points[len(masses) - 1:] + kernel_low
        best = _first_argmin(values)
        if best in (0, len(values) - 1):
            raise RuntimeError(f"stage {stage + 1}: minimum on the lattice edge; demand too spread out")
        if exact:
            level, cost = float(points[best]), float(values[best])
        else:
            level, cost = _refine(values, best, points, step)
        levels.append(level)
        truncated = np.where(points > points[best], values[best], values)  # g_j(min(S*_j, x))

    local = [levels[0]] + [levels[j] - levels[j - 1] for j in range(1, len(levels))]
    return SerialSolution(echelon_levels=tuple(levels), local_levels=tuple(local), cost=cost)


def _lattice_kernels(demands: list[Any]) -> tuple[float, list[tuple[int, np.ndarray]]]:
    """Lattice step and, per stage, (lowest lattice index, probability masses) of its lead-time demand."""
    spreads = [float(d.std()) for d in demands if not is_discrete(d) and float(d.std()) > 0]
    if spreads and any(is_discrete(d) and float(d.std()) > 0 for d in demands):
        raise ValueError("lead_time_demands must be all discrete or all continuous (point masses excepted)")
    step = min(spreads) / LATTICE_STEPS_PER_STD if spreads else 1.0
    kernels = []
    for demand in demands:
        if float(demand.std()) == 0:
            kernels.append((int(round(float(demand.mean()) / step)), np.ones(1)))
        elif is_discrete(demand):
            kernels.append(integer_grid(demand))
        else:
            kernels.append(_cell_masses(demand, step))
    return step, kernels


def _cell_masses(demand: Any, step: float) -> tuple[int, np.ndarray]:
    """Masses F((k + 1/2) step) - F((k - 1/2) step) of a continuous demand; end cells absorb the tails."""
    low = int(np.floor(float(demand.ppf(TAIL_TOLERANCE)) / step))
    high = int(np.ceil(float(demand.ppf(1.0 - TAIL_TOLERANCE)) / step))
    edges = (np.arange(low, high + 2) - 0.5) * step
    cdf = np.asarray(demand.cdf(edges), dtype=float)
    cdf[0], cdf[-1] = 0.0, 1.0
    return low, np.diff(cdf)


def _first_argmin(values: np.ndarray) -> int:
    """Smallest index whose value is within rounding of the minimum (the lowest optimal level)."""
    minimum = values.min()
    return int(np.argmax(values <= minimum + 1e-12 * max(1.0, abs(minimum))))


def _refine(values: np.ndarray, best: int, points: np.ndarray, step: float) -> tuple[float, float]:
    """Vertex of the parabola through the lattice minimum and its two neighbours."""
    left, middle, right = values[best - 1], values[best], values[best + 1]
    curvature = left - 2.0 * middle + right
    if curvature <= 0:
        return float(points[best] * step), float(middle)
    offset = 0.5 * (left - right) / curvature
    return float((points[best] + offset) * step), float(middle - 0.125 * (left - right) ** 2 / curvature)
