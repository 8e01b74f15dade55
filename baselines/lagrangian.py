"""Newsvendor items sharing one storage capacity, solved by pricing the capacity (Lagrangian relaxation).

    minimize   sum_i C_i(S_i),   C_i(S) = h_i E[(S - D_i)^+] + p_i E[(D_i - S)^+]
    subject to sum_i v_i E[(S_i - D_i)^+] <= V.

Dualizing the constraint with a multiplier lambda >= 0 prices a unit of volume at lambda, so each item is a
newsvendor with holding cost h_i + lambda v_i: S_i(lambda) = F_i^{-1}(p_i / (p_i + h_i + lambda v_i)). The
expected volume is non-increasing in lambda, and bisection finds the smallest multiplier whose solution
fits (lambda = 0 when the unconstrained solution fits). The dual function
q(lambda) = sum_i min_S [C_i(S) + lambda v_i E[(S - D_i)^+]] - lambda V is a lower bound on the optimum for
every lambda >= 0 (weak duality); its largest value over the multipliers tried is reported. For continuous
demand the volume is continuous in lambda and the bound is tight at the solution; for discrete demand it is
a step function, the primal solution is the feasible one at the smallest fitting multiplier, and
cost - dual_bound bounds its suboptimality (Everett 1963; Fisher 1981).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from baselines._demand import expected_on_hand, expected_shortage, family, newsvendor_level
from baselines._validation import cost_vector, positive_scalar
from baselines.vectorized_newsvendor import (
    NewsvendorArrays,
    NormalDemands,
    PoissonDemands,
    vectorized_newsvendor,
)

BISECTION_RELATIVE_TOLERANCE = 1e-10
"""Bisection stops once the bracket on the multiplier is narrower than this fraction of its upper end."""

_MAX_DOUBLINGS = 200


@dataclass(frozen=True)
class CapacityPricingSolution:
    """Levels of the priced newsvendors, the capacity price, the true expected cost and a lower bound."""

    levels: np.ndarray
    multiplier: float
    cost: float
    dual_bound: float
    expected_volume: float

    @property
    def gap(self) -> float:
        """cost - dual_bound: an upper bound on how far `cost` is from the constrained optimum."""
        return self.cost - self.dual_bound


def capacitated_newsvendors(demands: Sequence[Any] | NormalDemands | PoissonDemands, holding_costs: Any,
                            stockout_costs: Any, volumes: Any, capacity: float) -> CapacityPricingSolution:
    """Base-stock levels of newsvendor items sharing a storage capacity on expected on-hand volume.

    `demands` is a sequence of frozen scipy distributions (or `lead_time_demand` results), or, for large
    instances, a `NormalDemands` / `PoissonDemands` array (solved in vectorized passes).
    Holding and stockout costs must be positive, volumes non-negative and capacity positive.
    """
    count = len(demands)
    if count == 0:
        raise ValueError("demands must contain at least one item")
    holding = cost_vector(holding_costs, "holding_costs", count, strictly_positive=True)
    stockout = cost_vector(stockout_costs, "stockout_costs", count, strictly_positive=True)
    volume = cost_vector(volumes, "volumes", count, strictly_positive=False)
    capacity = positive_scalar(capacity, "capacity")
    solve = _item_solver(demands, stockout)

    def evaluate(multiplier: float) -> tuple[NewsvendorArrays, float, float]:
        arrays = solve(holding + multiplier * volume)
        used = float(volume @ arrays.expected_on_hand)
        priced = float(np.sum(arrays.expected_cost(holding + multiplier * volume, stockout)))
        return arrays, used, priced - multiplier * capacity

    arrays, used, dual = evaluate(0.0)
    best_dual = dual
    if used <= capacity:
        return _solution(arrays, 0.0, holding, stockout, best_dual, used)

    low, high = 0.0, float(np.max(holding / np.where(volume > 0, volume, np.inf)))
    for _ in range(_MAX_DOUBLINGS):
        arrays, used, dual = evaluate(high)
        best_dual = max(best_dual, dual)
        if used <= capacity:
            break
        low, high = high, 2.0 * high
    else:
        raise RuntimeError("no capacity price makes the items fit; check capacity and volumes")
    feasible = (arrays, used)
    while high - low > BISECTION_RELATIVE_TOLERANCE * high:
        middle = 0.5 * (low + high)
        arrays, used, dual = evaluate(middle)
        best_dual = max(best_dual, dual)
        if used <= capacity:
            high, feasible = middle, (arrays, used)
        else:
            low = middle
    return _solution(feasible[0], high, holding, stockout, best_dual, feasible[1])


def _solution(arrays: NewsvendorArrays, multiplier: float, holding: np.ndarray, stockout: np.ndarray,
              dual_bound: float, used: float) -> CapacityPricingSolution:
    cost = float(np.sum(arrays.expected_cost(holding, stockout)))
    return CapacityPricingSolution(levels=arrays.levels, multiplier=multiplier, cost=cost,
                                   dual_bound=min(dual_bound, cost),  # weak duality; min() absorbs rounding
                                   expected_volume=used)


def _item_solver(demands: Any, stockout: np.ndarray) -> Callable[[np.ndarray], NewsvendorArrays]:
    """Function mapping per-item holding costs to the items' newsvendor solutions.

    Normal and Poisson items are solved in vectorized groups; any other demand is solved item by item.
    """
    if isinstance(demands, NormalDemands | PoissonDemands):
        return lambda holding: vectorized_newsvendor(demands, holding, stockout)
    families = [family(d) for d in demands]
    normal = [i for i, f in enumerate(families) if f is not None and f[0] == "normal"]
    poisson = [i for i, f in enumerate(families) if f is not None and f[0] == "poisson"]
    other = np.array([i for i, f in enumerate(families) if f is None], dtype=int)
    groups: list[tuple[np.ndarray, NormalDemands | PoissonDemands]] = []
    if normal:
        groups.append((np.array(normal), NormalDemands([families[i][1]["mean"] for i in normal],
                                                       [families[i][1]["std"] for i in normal])))
    if poisson:
        groups.append((np.array(poisson), PoissonDemands([families[i][1]["mean"] for i in poisson])))
    other_demands = [demands[i] for i in other]

    def solve(holding: np.ndarray) -> NewsvendorArrays:
        levels, on_hand, shortage = (np.empty(len(holding)) for _ in range(3))
        parts = [(index, vectorized_newsvendor(group, holding[index], stockout[index]))
                 for index, group in groups]
        if other_demands:
            parts.append((other, _generic_newsvendors(other_demands, holding[other], stockout[other])))
        for index, part in parts:
            levels[index], on_hand[index], shortage[index] = (part.levels, part.expected_on_hand,
                                                              part.expected_shortage)
        return NewsvendorArrays(levels, on_hand, shortage)

    return solve


def _generic_newsvendors(demands: list[Any], holding: np.ndarray, stockout: np.ndarray) -> NewsvendorArrays:
    fractiles = stockout / (stockout + holding)
    levels = np.array([newsvendor_level(d, q) for d, q in zip(demands, fractiles, strict=True)])
    on_hand = np.array([float(expected_on_hand(d, s)) for d, s in zip(demands, levels, strict=True)])
    shortage = np.array([float(expected_shortage(d, s)) for d, s in zip(demands, levels, strict=True)])
    return NewsvendorArrays(levels, on_hand, shortage)
