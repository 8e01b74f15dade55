"""``plan(scenario)``: base-stock levels, capacity prices, dual bound and a policy, from the scenario alone.

Two analytic engines, chosen per scenario (``Plan.method`` says which):

- ``"tree recursion"`` (exact): backorders, integer demand, every region served by one node, customers only
  at leaves, no finite caps, stationary independent demand. Per product, the echelon recursion of
  :mod:`baselines.tree_recursion`: exact Clark-Scarf on serial paths, the balance relaxation at nodes with
  several children (a lower bound there). Random lead times enter through the exact protection-interval demand
  of ``lead_time_demand.protection_demand``, so only at nodes supplied by a vendor.
- ``"echelon newsvendor"`` (approximate, vectorized): everything else (lost sales, several speeds, spill-over,
  capacities, thousands of products). Demand is allocated to nodes by :mod:`baselines.demand_allocation`,
  levels come from the priced echelon newsvendors of :mod:`baselines.echelon_newsvendor`, and prices from
  :mod:`baselines.capacity_prices`. Allocation depends on stock-out probabilities, which depend on the
  levels: the two are iterated ``ALLOCATION_ROUNDS`` times from "nobody stocks out", each round averaging
  the new stock-out probabilities with the previous ones (the undamped iteration alternates between two
  allocations with period 2; averaging is the Mann iteration for such a fixed point).

  Storage: the echelon newsvendors count a node's stock as "echelon stock minus the children's", which keeps
  the priced problem separable but undercounts a parent's own stock and ignores lost sales (the two
  fulfillment centers that feed same-day sites ran 4% and 12% over their caps in simulation). Every round
  therefore evaluates the storage model of :mod:`baselines.local_stock` (a node's own on-hand stock from its
  local level, the subtree's sales in its pipeline, its supplier's shortfalls and backup orders) at the
  levels the policy will use (rounded), and passes the difference to the echelon accounting to the pricing
  as a per-node offset (a linearization refreshed every round). The caps are soft in the simulator (each unit
  of volume above a cap costs ``overflow_cost`` per period): the expected overflow cost, with the period's
  volume normal with the storage model's mean and variance, is part of the model cost, so a storage price is
  the marginal expected overflow cost unless the cap itself binds (:class:`~baselines.capacity_prices.
  OverflowCost`). ``Plan.storage_use`` is the storage model's use at the final levels; after the rounds,
  offsets are only ever raised (by the remaining excess, doubled at each attempt since the rounded levels
  move in whole units) until it fits every cap.

Either way the plan's cost and dual bound refer to the analytic model (for ``"echelon newsvendor"``: with the
storage offsets and volume variances of the last round held fixed), not to the simulator; simulate the
plan's policy (:func:`baselines.evaluation.evaluate`) for the real figure. On ``network`` (32 replicas x 200
periods, ``tests/baselines/test_plan_simulation.py``) the simulated storage use of every capped node is
below its cap with its 95% confidence interval, and the storage model predicts the simulated volume within
about -7% .. +6% per node (the margin left by the overflow prices covers this error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from baselines.capacity_prices import OverflowCost, PricingStep, price_capacities
from baselines.demand_allocation import allocate_demand
from baselines.echelon_newsvendor import echelon_demand, stockout_probability
from baselines.lead_time_demand import protection_demand, protection_demand_is_exact
from baselines.local_stock import local_stock
from baselines.network_model import network_model
from baselines.policies import EchelonBaseStockPolicy
from baselines.tree_recursion import TreeNode, expected_on_hand, tree_recursion
from envs.params import EnvParams, compile_scenario
from envs.scenario import Scenario, resolve_scenario

ALLOCATION_ROUNDS = 6
FINAL_STORAGE_CHECKS = 6
"""After the rounds, re-price at most this many times (offsets only raised) until the storage model fits."""
EXACT_MAX_PRODUCTS = 50


@dataclass(frozen=True)
class Plan:
    """A capacity-priced echelon base-stock plan. Arrays are (N stocking nodes, P products) or (N,)."""

    params: EnvParams = field(repr=False)
    method: str
    echelon_levels: np.ndarray
    storage_price: np.ndarray  # per unit of volume and period
    inbound_price: np.ndarray  # per unit received
    cost: float  # the analytic model's expected cost per period at these levels (with expected overflow)
    dual_bound: float  # Lagrangian dual value: a lower bound on the model's optimal cost under the caps
    history: list[PricingStep] = field(repr=False)
    storage_use: np.ndarray  # model expected volume on hand per node (storage model, at the rounded levels)
    inbound_use: np.ndarray  # model expected units received per node and period
    storage_sd: np.ndarray | None = None  # model standard deviation of the end-of-period volume per node

    @property
    def gap(self) -> float:
        """Primal-dual gap cost - dual_bound (>= 0)."""
        return self.cost - self.dual_bound

    @property
    def relative_gap(self) -> float:
        return self.gap / max(abs(self.cost), 1e-12)

    @property
    def storage_capacity(self) -> np.ndarray:
        return self.params.storage_capacity

    @property
    def inbound_capacity(self) -> np.ndarray:
        return self.params.inbound_capacity

    @property
    def local_levels(self) -> np.ndarray:
        """Echelon level minus the children's echelon levels (the stock the node itself targets)."""
        local = self.echelon_levels.copy()
        for n, parent in enumerate(self.params.supplier_index):
            if parent >= 0:
                local[parent] -= self.echelon_levels[n]
        return local

    def policy(self, scale: np.ndarray | float = 1.0) -> EchelonBaseStockPolicy:
        """The plan as an observation-only policy; ``scale`` multiplies the echelon levels (N, P)."""
        return EchelonBaseStockPolicy(self.echelon_levels * scale, self.params)


def plan(scenario: Scenario | str | Path, method: str | None = None) -> Plan:
    """Plan base-stock levels and capacity prices for a scenario (object, registered name or YAML path).

    ``method`` forces ``"tree recursion"`` or ``"echelon newsvendor"``; by default the exact recursion is
    used wherever it applies (see the module docstring).
    """
    params = compile_scenario(resolve_scenario(scenario))
    exact = exact_recursion_applies(params)
    if method is None:
        method = "tree recursion" if exact else "echelon newsvendor"
    if method == "tree recursion":
        if not exact:
            raise ValueError("the exact tree recursion does not apply to this scenario (see planner docstring)")
        return _tree_plan(params)
    if method == "echelon newsvendor":
        return _decomposition_plan(params)
    raise ValueError(f"method {method!r} is not 'tree recursion' or 'echelon newsvendor'")


def exact_recursion_applies(params: EnvParams) -> bool:
    """Conditions of the exact engine (see module docstring)."""
    scenario = params.scenario
    demand = scenario.demand
    if not (params.backorders and demand.distribution == "poisson" and demand.trace is None):
        return False
    if demand.trend != 0 or len(set(params.seasonality)) > 1 or params.num_products > EXACT_MAX_PRODUCTS:
        return False
    if np.isfinite(params.storage_capacity).any() or np.isfinite(params.inbound_capacity).any():
        return False
    if not all(protection_demand_is_exact(node.lead_time.pmf, bool(params.from_vendor[n]))
               for n, node in enumerate(params.scenario.stocking_nodes)):
        return False
    serving = _serving_nodes(params)
    if any(len(nodes) != 1 for nodes in serving):
        return False
    has_children = set(int(u) for u in params.supplier_index if u >= 0)
    return not any(nodes[0] in has_children for nodes in serving)


def _serving_nodes(params: EnvParams) -> list[list[int]]:
    """Per region, the distinct nodes any of its streams may be served from."""
    return [sorted({node for group in params.arc_groups for node, _ in group[r]}) for r in range(params.num_regions)]


def _tree_plan(params: EnvParams) -> Plan:
    nodes = params.scenario.stocking_nodes
    n_nodes, n_products = params.num_nodes, params.num_products
    serving = _serving_nodes(params)
    rate = params.base_mean.sum(1) * float(params.seasonality[0])  # (R, P)
    stockout = params.penalty[0]  # every speed of a region shares its node: the fastest speed's penalty
    if params.num_speeds > 1 and not np.allclose(params.penalty, params.penalty[0]):
        stockout = (params.base_mean.sum((0, 2)) / params.base_mean.sum()) @ params.penalty
    levels = np.zeros((n_nodes, n_products))
    on_hand = np.zeros((n_nodes, n_products))
    flow = np.zeros((n_nodes, n_products))
    cost = 0.0
    for p in range(n_products):
        local = np.zeros(n_nodes)
        for r, served_by in enumerate(serving):
            local[served_by[0]] += rate[r, p]
        subtree = local.copy()
        for n in reversed(range(n_nodes)):
            if params.supplier_index[n] >= 0:
                subtree[params.supplier_index[n]] += subtree[n]
        tree = []
        for n, node in enumerate(nodes):
            leaf = not np.any(params.supplier_index == n)
            demand = protection_demand(stats.poisson(max(subtree[n], 1e-12)), node.lead_time.pmf,
                                       params.scenario.lead_time_mode, review_period=leaf)
            tree.append(TreeNode(int(params.supplier_index[n]), float(params.holding_cost[n, p]), demand,
                                 float(subtree[n]), float(stockout[p]) if leaf else 0.0))
        flow[:, p] = subtree
        solution = tree_recursion(tree)
        levels[:, p] = solution.echelon_levels
        cost += solution.cost
        transit = subtree * np.array([node.lead_time.mean for node in nodes])
        on_hand[:, p] = expected_on_hand(tree, solution.echelon_levels, transit)
    zeros = np.zeros(n_nodes)
    return Plan(params, "tree recursion", levels, zeros, zeros.copy(), cost, cost,
                [PricingStep(0, cost, cost, 0.0)], on_hand @ params.volume, flow.sum(1))


def policy_levels(levels: np.ndarray) -> np.ndarray:
    """The echelon levels the plan's policy applies: it rounds ``S - position`` to whole units, i.e. rint(S)."""
    return np.rint(np.maximum(levels, 0.0))


def _decomposition_plan(params: EnvParams) -> Plan:
    model = network_model(params)
    capacity = model.storage_capacity
    overflow_rate = np.array([node.overflow_cost for node in params.scenario.stocking_nodes], dtype=float)
    probability = None
    start = None
    offset = np.zeros(model.num_nodes)
    overflow = None
    stock = None
    for _ in range(ALLOCATION_ROUNDS):
        allocation = allocate_demand(model, probability)
        demand = echelon_demand(model, allocation)
        pricing = price_capacities(model, demand, start=start, storage_offset=offset, overflow=overflow)
        start = (pricing.storage_price, pricing.inbound_price)
        update = stockout_probability(model, demand, pricing.solution.levels)
        probability = update if probability is None else 0.5 * (probability + update)
        stock = local_stock(model, policy_levels(pricing.solution.levels), start=stock)
        offset = stock.storage_use - pricing.solution.storage_use
        overflow = OverflowCost(overflow_rate, stock.storage_sd)
    for check in range(FINAL_STORAGE_CHECKS):
        if _fits(stock.storage_use, capacity):
            break
        pricing = price_capacities(model, demand, start=start, storage_offset=offset, overflow=overflow)
        start = (pricing.storage_price, pricing.inbound_price)
        stock = local_stock(model, policy_levels(pricing.solution.levels), start=stock)
        excess = np.where(np.isfinite(capacity), np.maximum(stock.storage_use - capacity, 0.0), 0.0)
        # rounded levels move in whole units: push by twice as much each time until the storage model fits
        offset = np.maximum(offset, stock.storage_use - pricing.solution.storage_use) + 2.0**check * excess
    solution = pricing.solution
    return Plan(params, "echelon newsvendor", np.maximum(solution.levels, 0.0), pricing.storage_price,
                pricing.inbound_price, pricing.cost, pricing.dual_bound, pricing.history,
                stock.storage_use, solution.inbound_use, stock.storage_sd)


def _fits(use: np.ndarray, capacity: np.ndarray) -> bool:
    capped = np.isfinite(capacity)
    return bool(np.all(use[capped] <= capacity[capped] * (1.0 + 1e-9)))
