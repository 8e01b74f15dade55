"""Stage 4 of the planner: storage and inbound prices per node by projected subgradient on the Lagrangian dual.

The analytic model (:mod:`baselines.echelon_newsvendor`) is

    minimize   C(S) = sum_{n,p} [H E(S - D~)^+ + B E(D~ - S)^+]
    subject to storage_use_n(S) <= storage_cap_n,   inbound_use_n(S) <= inbound_cap_n   (expected values).

Dualizing the caps with prices lambda, pi >= 0 (Fisher 1981) separates it into independent newsvendors, so
the dual function q(lambda, pi) = min_S [C(S) + lambda (use - cap) + pi (flow - cap)] is evaluated exactly
in one vectorized pass, and by weak duality every q is a lower bound on the model's capacity-constrained
optimum. Prices move along the (relative) subgradient, lambda_n <- [lambda_n + a_k s_n (use_n / cap_n - 1)]^+,
with a_k = a_0 / sqrt(k + 1) and s_n a per-node price scale (mean holding cost per unit of volume, or mean
stock-out cost for flow). Expected use is continuous and non-increasing in a node's own price, so after
the subgradient phase a few rounds of simultaneous per-node bisection raise the prices of nodes still over
their caps until the plan's expected use fits every cap (and lower the prices of nodes left with slack).
The best q seen is reported as the dual bound, and cost - bound as the primal-dual gap (an upper bound on
the plan's suboptimality within the model).

Two optional refinements, used by :func:`baselines.planner.plan`:

- ``storage_offset`` (N,): storage use is the separable echelon use plus a constant per node, the correction
  of the storage model :mod:`baselines.local_stock` evaluated at the previous levels (a frozen linearization,
  updated by the planner between calls). The dual stays exact for the model with the offset.
- ``overflow`` (:class:`OverflowCost`): the simulator's caps are soft; every unit of volume above a cap costs
  c_n per period. With the period's volume V_n ~ N(use_n, sd_n^2) the expected cost
  f_n(u) = c_n E[(V_n - cap_n)^+] = c_n sd_n G((cap_n - u) / sd_n) (G the standard normal loss function) is
  added to the model cost: minimize C(S) + sum_n f_n(use_n(S)) subject to use_n(S) <= cap_n. Writing
  w_n = use_n(S) and dualizing that equation with lambda gives (Fenchel duality; f_n is convex)

      OPT >= q(lambda) + sum_n min_{w <= cap_n} [f_n(w) + lambda_n (cap_n - w)]     for every lambda >= 0,

  with q the dual function above. The inner minimum is closed form: w*_n(lambda) = cap_n + sd_n
  Phi^-1(lambda_n / c_n) while lambda_n < c_n / 2 (where f_n'(w) = c_n P(V_n > cap_n) = lambda_n), else
  w*_n = cap_n. The subgradient of the bound in lambda_n is use_n - w*_n(lambda_n), which replaces
  use_n - cap_n in the price updates and in the final bisection: at the solution either lambda_n is the
  marginal expected overflow cost c_n P(V_n > cap_n) and the mean use sits below the cap by a margin that
  grows with the volume's variability, or the cap binds with lambda_n >= c_n / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from baselines._demand import std_normal_pdf
from baselines.echelon_newsvendor import DemandTotals, PricedPartials, PricedTotals, priced_totals
from baselines.product_sums import combine

SUBGRADIENT_ITERATIONS = 150
STEP = 0.5
TOLERANCE = 1e-3
"""Stop the subgradient phase once every capped node is within this relative distance of complementarity."""
WARM_ITERATIONS = 30
"""Subgradient steps when warm-started (the bisection that follows settles each node's price)."""

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
class OverflowCost:
    """Expected cost of soft storage caps, f_n(u) = c_n E[(V_n - cap_n)^+], V_n ~ N(u, sd_n^2) (module doc)."""

    rate: np.ndarray  # (N,) cost c_n per unit of volume above the cap and period (0: none)
    sd: np.ndarray  # (N,) standard deviation of the end-of-period volume

    def _active(self, capacity: np.ndarray) -> np.ndarray:
        return np.isfinite(capacity) & (self.rate > 0) & (self.sd > 0)

    def expected(self, use: np.ndarray, capacity: np.ndarray) -> np.ndarray:
        """(N,) expected overflow cost per period at mean use ``use`` (0 where uncapped or free)."""
        active = self._active(capacity)
        sd = np.where(active, self.sd, 1.0)
        z = (np.where(active, capacity, 0.0) - use) / sd
        return np.where(active, self.rate * sd * (std_normal_pdf(z) - z * special.ndtr(-z)), 0.0)

    def marginal(self, use: np.ndarray, capacity: np.ndarray) -> np.ndarray:
        """(N,) derivative c_n P(V_n > cap_n) of the expected cost in the mean use."""
        active = self._active(capacity)
        z = (np.where(active, capacity, 0.0) - use) / np.where(active, self.sd, 1.0)
        return np.where(active, self.rate * special.ndtr(-z), 0.0)

    def target(self, price: np.ndarray, capacity: np.ndarray) -> np.ndarray:
        """(N,) w*(lambda): the use at which the marginal expected overflow cost equals the price, at most the
        cap (the cap itself where there is no overflow cost; -inf at a zero price)."""
        active = self._active(capacity)
        ratio = np.clip(price / np.where(active, self.rate, 1.0), 0.0, 0.5)
        cap = np.where(active, capacity, 0.0)
        with np.errstate(divide="ignore"):
            below = np.minimum(cap + self.sd * special.ndtri(ratio), cap)
        return np.where(active, below, capacity)

    def conjugate(self, price: np.ndarray, capacity: np.ndarray) -> float:
        """sum_n min_{w <= cap_n} [f_n(w) + lambda_n (cap_n - w)], the term added to the dual (module doc)."""
        active = self._active(capacity) & (price > 0)
        target = np.where(active, self.target(price, capacity), 0.0)
        value = self.expected(target, capacity) + price * (np.where(active, capacity, 0.0) - target)
        return float(np.sum(np.where(active, value, 0.0)))


@dataclass(frozen=True)
class PricingProblem:
    """What the price search needs of the products: caps, the price steps' scales, and the priced newsvendors'
    totals at any prices (computed in one piece or from shards, see :mod:`baselines.product_shard`)."""

    storage_capacity: np.ndarray  # (N,) volume, inf for none
    inbound_capacity: np.ndarray  # (N,) units per period, inf for none
    storage_scale: np.ndarray  # (N,) mean holding cost per unit of volume
    inbound_scale: np.ndarray  # (N,) mean stock-out cost
    solve: Callable[[np.ndarray, np.ndarray], PricedTotals]  # (storage prices, inbound prices) -> totals


@dataclass(frozen=True)
class PriceSearch:
    """Prices that fit the caps, the totals of the newsvendors at them, and the dual bound."""

    storage_price: np.ndarray  # (N,) per unit of volume on hand and period
    inbound_price: np.ndarray  # (N,) per unit received
    totals: PricedTotals  # the echelon newsvendors' totals at these prices (separable storage accounting)
    dual_bound: float
    history: list[PricingStep] = field(repr=False)
    storage_use: np.ndarray  # (N,) model use with the storage offset
    cost: float  # model cost with the expected overflow cost


def price_scales(holding: np.ndarray, volume: float, stockout: np.ndarray,
                 num_products: int) -> tuple[np.ndarray, np.ndarray]:
    """The per-node scales of the storage and inbound price steps from the catalog's sums of holding costs (N,),
    volumes and stock-out costs (N,): mean holding cost per unit of mean volume, and mean stock-out cost."""
    return (holding / num_products) / (volume / num_products), stockout / num_products


def pricing_problem(storage_capacity: np.ndarray, inbound_capacity: np.ndarray, holding: np.ndarray, volume: float,
                    num_products: int, round_totals: list[DemandTotals],
                    solve: Callable[[np.ndarray, np.ndarray], list[PricedPartials]]) -> PricingProblem:
    """The price search's problem for one allocation round: the caps (N,); the step scales from the catalog's sums
    of holding costs (N,) and volumes and from the round's demand totals (one per set of products); and ``solve``,
    which returns every set's priced partials at given prices (from shards of the catalog,
    :mod:`baselines.product_shard`, or from one set holding all of it)."""
    scale_s, scale_i = price_scales(holding, volume, combine([part.stockout_cost for part in round_totals]),
                                    num_products)

    def totals(storage_price: np.ndarray, inbound_price: np.ndarray) -> PricedTotals:
        return priced_totals(storage_capacity, inbound_capacity, round_totals, solve(storage_price, inbound_price),
                             storage_price, inbound_price)

    return PricingProblem(storage_capacity, inbound_capacity, scale_s, scale_i, totals)


def search_prices(problem: PricingProblem, iterations: int = SUBGRADIENT_ITERATIONS,
                  start: tuple[np.ndarray, np.ndarray] | None = None, storage_offset: np.ndarray | None = None,
                  overflow: OverflowCost | None = None) -> PriceSearch:
    """The price search of the module doc on ``problem``; its last evaluation of ``problem.solve`` is at the prices
    it returns."""
    storage_cap, inbound_cap = problem.storage_capacity, problem.inbound_capacity
    n_nodes = len(storage_cap)
    capped_s, capped_i = np.isfinite(storage_cap), np.isfinite(inbound_cap)
    offset = np.zeros(n_nodes) if storage_offset is None else np.asarray(storage_offset, dtype=float)
    scale_s, scale_i = problem.storage_scale, problem.inbound_scale
    lam, pi = (np.zeros(n_nodes), np.zeros(n_nodes)) if start is None else (start[0].copy(), start[1].copy())
    history: list[PricingStep] = []
    best = -np.inf
    state: dict[str, object] = {}

    def evaluate(lam: np.ndarray, pi: np.ndarray) -> tuple[PricedTotals, np.ndarray, np.ndarray]:
        nonlocal best
        solution = problem.solve(lam, pi)
        use = solution.storage_use + offset
        dual = solution.dual_value + float(lam @ offset)
        target = storage_cap
        cost = solution.cost
        if overflow is not None:
            target = overflow.target(lam, storage_cap)
            cost += float(overflow.expected(use, storage_cap).sum())
            dual += overflow.conjugate(lam, storage_cap)
        scale = np.where(capped_s, storage_cap, 1.0)
        excess_s = np.where(capped_s, np.minimum((use - target) / scale, 1.0), -np.inf)
        excess_i = np.where(capped_i, solution.inbound_use / np.where(capped_i, inbound_cap, 1.0) - 1.0, -np.inf)
        violation = max(0.0, float(np.max(np.concatenate([excess_s, excess_i]))))
        history.append(PricingStep(len(history), dual, cost, violation))
        best = max(best, dual)
        state.update(use=use, cost=cost)
        return solution, excess_s, excess_i

    solution, excess_s, excess_i = evaluate(lam, pi)
    if capped_s.any() or capped_i.any():
        for k in range(iterations if start is None else min(iterations, WARM_ITERATIONS)):
            if _complementary(lam, excess_s, capped_s) and _complementary(pi, excess_i, capped_i):
                break
            step = STEP / np.sqrt(k + 1.0)
            lam = np.where(capped_s, np.maximum(lam + step * scale_s * np.where(capped_s, excess_s, 0.0), 0.0), 0.0)
            pi = np.where(capped_i, np.maximum(pi + step * scale_i * np.where(capped_i, excess_i, 0.0), 0.0), 0.0)
            solution, excess_s, excess_i = evaluate(lam, pi)
        for _ in range(_REPAIR_ROUNDS):
            if not (np.any(excess_s > 0) or np.any(excess_i > 0)) and (
                    _complementary(lam, excess_s, capped_s) and _complementary(pi, excess_i, capped_i)):
                break
            lam, pi = _repair(evaluate, lam, pi, excess_s, excess_i, scale_s, scale_i)
            solution, excess_s, excess_i = evaluate(lam, pi)
            if not (np.any(excess_s > 0) or np.any(excess_i > 0)):
                break
    cost = float(state["cost"])
    return PriceSearch(storage_price=lam, inbound_price=pi, totals=solution, dual_bound=min(best, cost),
                       history=history, storage_use=np.asarray(state["use"]), cost=cost)


def _complementary(price: np.ndarray, excess: np.ndarray, capped: np.ndarray) -> bool:
    """Use fits (within tolerance) and a positive price comes with a (nearly) zero excess."""
    fits = excess <= TOLERANCE
    tight = (price <= 0) | (np.abs(excess) <= TOLERANCE)
    return bool(np.all(~capped | (fits & tight)))


def _repair(evaluate, lam, pi, excess_s, excess_i, scale_s, scale_i):
    """Simultaneous per-node bisection (other prices fixed at each step): nodes over their cap (excess > 0) get
    the smallest higher price that fits, nodes with a positive price and slack (excess < -TOLERANCE) the
    smallest lower price that still fits. Excess is non-increasing in a node's own price."""
    over_s, over_i = excess_s > 0, excess_i > 0
    slack_s, slack_i = (excess_s < -TOLERANCE) & (lam > 0), (excess_i < -TOLERANCE) & (pi > 0)
    move_s, move_i = over_s | slack_s, over_i | slack_i
    low_s, low_i = np.where(slack_s, 0.0, lam), np.where(slack_i, 0.0, pi)
    high_s, high_i = lam + over_s * scale_s, pi + over_i * scale_i
    for _ in range(60):  # double until every node over its cap fits
        _, ex_s, ex_i = evaluate(np.where(over_s, high_s, lam), np.where(over_i, high_i, pi))
        grow_s, grow_i = over_s & (ex_s > 0), over_i & (ex_i > 0)
        if not (grow_s.any() or grow_i.any()):
            break
        high_s = np.where(grow_s, lam + 2.0 * (high_s - lam), high_s)
        high_i = np.where(grow_i, pi + 2.0 * (high_i - pi), high_i)
    for _ in range(_BISECTIONS):
        mid_s, mid_i = 0.5 * (low_s + high_s), 0.5 * (low_i + high_i)
        _, ex_s, ex_i = evaluate(np.where(move_s, mid_s, lam), np.where(move_i, mid_i, pi))
        high_s = np.where(move_s & (ex_s <= 0), mid_s, high_s)
        low_s = np.where(move_s & (ex_s > 0), mid_s, low_s)
        high_i = np.where(move_i & (ex_i <= 0), mid_i, high_i)
        low_i = np.where(move_i & (ex_i > 0), mid_i, low_i)
    return np.where(move_s, high_s, lam), np.where(move_i, high_i, pi)
