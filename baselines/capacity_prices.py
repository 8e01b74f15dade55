"""Storage and inbound-flow prices per node by projected subgradient on the Lagrangian dual (Fisher 1981).

The analytic model (:mod:`baselines.echelon_newsvendor`) is

    minimize   C(S) = sum_{n,p} [H E(S - D~)^+ + B E(D~ - S)^+]
    subject to storage_use_n(S) <= storage_cap_n,   inbound_use_n(S) <= inbound_cap_n   (expected values).

Dualizing the caps with prices lambda, pi >= 0 separates it into independent newsvendors (closed form), so
the dual function q(lambda, pi) = min_S [C(S) + lambda (use - cap) + pi (flow - cap)] is evaluated exactly
in one vectorized pass, and by weak duality every q is a lower bound on the model's capacity-constrained
optimum. Prices move along the (relative) subgradient, lambda_n <- [lambda_n + a_k s_n (use_n / cap_n - 1)]^+,
with a_k = a_0 / sqrt(k + 1) and s_n a per-node price scale (mean holding cost per unit of volume, or mean
stock-out cost for flow). Expected use is continuous and non-increasing in a node's own price, so after
the subgradient phase a few rounds of simultaneous per-node bisection raise the prices of nodes still over
their caps until the plan's expected use fits every cap. The best q seen is reported as the dual bound,
and cost - bound as the primal-dual gap (an upper bound on the plan's suboptimality within the model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from baselines.echelon_newsvendor import EchelonDemand, PricedSolution, solve_priced
from baselines.network_model import NetworkModel

SUBGRADIENT_ITERATIONS = 150
STEP = 0.5
TOLERANCE = 1e-3
"""Stop the subgradient phase once every capped node is within this relative distance of complementarity."""

_BISECTIONS = 30
_REPAIR_ROUNDS = 4


@dataclass(frozen=True)
class PricingStep:
    """One evaluation of the dual function."""

    iteration: int
    dual_value: float
    cost: float
    max_violation: float  # largest relative excess of expected use over a cap (0 when all fit)


@dataclass(frozen=True)
class PricingResult:
    storage_price: np.ndarray  # (N,) per unit of volume on hand and period
    inbound_price: np.ndarray  # (N,) per unit received
    solution: PricedSolution
    dual_bound: float
    history: list[PricingStep] = field(repr=False)


def price_capacities(model: NetworkModel, demand: EchelonDemand, iterations: int = SUBGRADIENT_ITERATIONS,
                     start: tuple[np.ndarray, np.ndarray] | None = None) -> PricingResult:
    """Prices that make the model's expected storage and inbound use fit every finite cap.

    ``start`` = (storage prices, inbound prices) warm-starts the search (e.g. from a previous allocation round).
    """
    n_nodes = model.num_nodes
    storage_cap, inbound_cap = model.storage_capacity, model.inbound_capacity
    capped_s, capped_i = np.isfinite(storage_cap), np.isfinite(inbound_cap)
    scale_s = model.holding.mean(1) / model.volume.mean()
    scale_i = demand.stockout_cost.mean(1)
    lam, pi = (np.zeros(n_nodes), np.zeros(n_nodes)) if start is None else (start[0].copy(), start[1].copy())
    history: list[PricingStep] = []
    best = -np.inf

    def evaluate(lam: np.ndarray, pi: np.ndarray) -> tuple[PricedSolution, np.ndarray, np.ndarray]:
        nonlocal best
        solution = solve_priced(model, demand, lam, pi)
        excess_s = np.where(capped_s, solution.storage_use / np.where(capped_s, storage_cap, 1.0) - 1.0, -np.inf)
        excess_i = np.where(capped_i, solution.inbound_use / np.where(capped_i, inbound_cap, 1.0) - 1.0, -np.inf)
        violation = max(0.0, float(np.max(np.concatenate([excess_s, excess_i]))))
        history.append(PricingStep(len(history), solution.dual_value, solution.cost, violation))
        best = max(best, solution.dual_value)
        return solution, excess_s, excess_i

    solution, excess_s, excess_i = evaluate(lam, pi)
    if capped_s.any() or capped_i.any():
        for k in range(iterations):
            if _complementary(lam, excess_s, capped_s) and _complementary(pi, excess_i, capped_i):
                break
            step = STEP / np.sqrt(k + 1.0)
            lam = np.where(capped_s, np.maximum(lam + step * scale_s * np.where(capped_s, excess_s, 0.0), 0.0), 0.0)
            pi = np.where(capped_i, np.maximum(pi + step * scale_i * np.where(capped_i, excess_i, 0.0), 0.0), 0.0)
            solution, excess_s, excess_i = evaluate(lam, pi)
        for _ in range(_REPAIR_ROUNDS):
            if not (np.any(excess_s > 0) or np.any(excess_i > 0)):
                break
            lam, pi = _repair(evaluate, lam, pi, excess_s, excess_i, scale_s, scale_i)
            solution, excess_s, excess_i = evaluate(lam, pi)
    return PricingResult(lam, pi, solution, min(best, solution.cost), history)


def _complementary(price: np.ndarray, excess: np.ndarray, capped: np.ndarray) -> bool:
    """Use fits (within tolerance) and a positive price comes with a (nearly) binding cap."""
    fits = excess <= TOLERANCE
    tight = (price <= 0) | (np.abs(excess) <= TOLERANCE)
    return bool(np.all(~capped | (fits & tight)))


def _repair(evaluate, lam, pi, excess_s, excess_i, scale_s, scale_i):
    """Raise the prices of the nodes over their caps by simultaneous bisection (others fixed)."""
    over_s, over_i = excess_s > 0, excess_i > 0
    low_s, low_i = lam.copy(), pi.copy()
    high_s, high_i = lam + over_s * scale_s, pi + over_i * scale_i
    for _ in range(60):  # double until every node fits
        _, ex_s, ex_i = evaluate(high_s, high_i)
        grow_s, grow_i = over_s & (ex_s > 0), over_i & (ex_i > 0)
        if not (grow_s.any() or grow_i.any()):
            break
        high_s = np.where(grow_s, lam + 2.0 * (high_s - lam), high_s)
        high_i = np.where(grow_i, pi + 2.0 * (high_i - pi), high_i)
    for _ in range(_BISECTIONS):
        mid_s, mid_i = 0.5 * (low_s + high_s), 0.5 * (low_i + high_i)
        _, ex_s, ex_i = evaluate(np.where(over_s, mid_s, lam), np.where(over_i, mid_i, pi))
        high_s = np.where(over_s & (ex_s <= 0), mid_s, high_s)
        low_s = np.where(over_s & (ex_s > 0), mid_s, low_s)
        high_i = np.where(over_i & (ex_i <= 0), mid_i, high_i)
        low_i = np.where(over_i & (ex_i > 0), mid_i, low_i)
    return np.where(over_s, high_s, lam), np.where(over_i, high_i, pi)
