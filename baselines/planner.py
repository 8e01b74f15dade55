"""``plan(scenario)``: base-stock levels, capacity prices, dual bound and a policy, from the scenario alone.

Two analytic engines, chosen per scenario (``Plan.method`` says which):

- ``"tree recursion"`` (exact): backorders, integer demand, every region served by one node, customers only
  at leaves, no finite caps, stationary independent demand. Per product, the echelon recursion of
  :mod:`baselines.tree_recursion`: exact Clark-Scarf on serial paths, the balance relaxation at nodes with
  several children (a lower bound there). Random lead times enter through the exact protection-interval demand
  of ``lead_time_demand.protection_demand``, so only at nodes supplied by a vendor.
- ``"echelon newsvendor"`` (approximate, vectorized): everything else (lost sales, several speeds, spill-over,
  capacities, thousands of products). A pipeline of stages, each a function of the previous stage's result:

      network model  ->  demand allocation  ->  echelon demand  ->  capacity prices  ->  storage model  ->  plan
      network_model      demand_allocation      echelon_demand      capacity_prices      local_stock

  The pricing solves the echelon newsvendors of :mod:`baselines.echelon_newsvendor` at given prices. Two
  results flow back into the next round. The allocation depends on stock-out probabilities, which depend on the
  priced levels: it starts from "nobody stocks out", and each round averages the new stock-out probabilities
  with the previous ones (the undamped iteration alternates between two allocations with period 2; averaging
  is the Mann iteration for such a fixed point). The echelon newsvendors count a node's stock as "echelon
  stock minus the children's", which keeps the priced problem separable but undercounts a parent's own stock
  and ignores lost sales: every round therefore evaluates the storage model (a node's own on-hand stock from
  its local level, the subtree's sales in its pipeline, its supplier's shortfalls and backup orders) at the
  levels the policy will use (rounded), and passes the difference to the echelon accounting to the next
  pricing as a per-node offset (a linearization refreshed every round). The caps are soft in the simulator
  (each unit of volume above a cap costs ``overflow_cost`` per period): the expected overflow cost, with the
  period's volume normal with the storage model's mean and variance, is part of the model cost, so a storage
  price is the marginal expected overflow cost unless the cap itself binds
  (:class:`~baselines.capacity_prices.OverflowCost`). ``ALLOCATION_ROUNDS`` rounds run; after them, offsets are
  only ever raised (by the remaining excess, doubled at each attempt since the rounded levels move in whole
  units) until the storage model fits every cap. ``Plan.storage_use`` is the storage model's use at the final
  levels.

  Given the node prices, the storage offsets and the overflow variances, the products' problems are independent,
  so every per-product stage runs in *shards*, contiguous slices of the catalog
  (:class:`~baselines.product_shard.ProductShard`), which keep their per-product state (echelon demand, stock-out
  feedback, levels, the storage model's warm start) between calls and report additive per-node totals. This
  module is the master: it adds the totals up, searches the prices, tracks the dual bound and the history, and
  gathers the final levels, the only (N, P) array it holds. Totals are added in a fixed order
  (:mod:`baselines.product_sums`), so a plan is the same bit for bit with one shard or many; one shard in this
  process is the planner in one piece. The shards run wherever the executor puts them
  (:mod:`baselines.shard_executor`: here; ``experiments.plan_workers``: Ray actors).

Either way the plan's cost and dual bound refer to the analytic model (for ``"echelon newsvendor"``: with the
storage offsets and volume variances of the last round held fixed), not to the simulator; simulate the
plan's policy (:func:`baselines.evaluation.evaluate`) for the real figure
(``tests/baselines/test_plan_simulation.py`` checks it on the registered scenarios).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy import stats

from baselines.capacity_prices import (
    OverflowCost,
    PriceSearch,
    PricingStep,
    pricing_problem,
    search_prices,
)
from baselines.echelon_newsvendor import DemandTotals
from baselines.lead_time_demand import protection_demand, protection_demand_is_exact
from baselines.policies import EchelonBaseStockPolicy
from baselines.product_sums import chunk_bounds, combine
from baselines.shard_executor import ExecutorFactory, LocalExecutor, ShardExecutor, shard_models
from baselines.tree_recursion import TreeNode, tree_on_hand, tree_recursion
from envs.params import EnvParams, compile_scenario
from envs.scenario import Scenario, SupplyTree, resolve_scenario

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

    def policy(self, scale: np.ndarray | float = 1.0) -> EchelonBaseStockPolicy:
        """The plan as an observation-only policy; ``scale`` multiplies the echelon levels (N, P)."""
        return EchelonBaseStockPolicy(self.echelon_levels * scale, self.params)


def plan(scenario: Scenario | str | Path | EnvParams, method: str | None = None, shards: int = 1,
         executor: ExecutorFactory = LocalExecutor) -> Plan:
    """Plan base-stock levels and capacity prices for a scenario (object, registered name, YAML path or compiled
    params).

    ``method`` forces ``"tree recursion"`` or ``"echelon newsvendor"``; by default the exact recursion is
    used wherever it applies (see the module docstring). The decomposition runs on ``shards`` contiguous slices of
    the products (:func:`baselines.product_sums.chunk_bounds`), held by ``executor`` (by default in this process,
    one after another); the plan is the same bit for bit however many shards there are.
    """
    params = scenario if isinstance(scenario, EnvParams) else compile_scenario(resolve_scenario(scenario))
    chunk_bounds(params.num_products, shards)  # refuse an impossible split before any shard starts
    exact = exact_recursion_applies(params)
    if method is None:
        method = "tree recursion" if exact else "echelon newsvendor"
    if method == "tree recursion":
        if not exact:
            raise ValueError("the exact tree recursion does not apply to this scenario (see planner docstring)")
        return _tree_plan(params)
    if method == "echelon newsvendor":
        return _decomposition_plan(params, shards, executor)
    raise ValueError(f"method {method!r} is not 'tree recursion' or 'echelon newsvendor'")


def exact_optimum(planned: Plan) -> float | None:
    """The plan's cost when it is the exact optimum: the tree recursion on a chain (Clark-Scarf, with the env's
    end-of-period holding convention); elsewhere the analytic cost is approximate or a relaxation."""
    serial = SupplyTree(planned.params.supplier_index).is_serial
    return float(planned.cost) if planned.method == "tree recursion" and serial else None


def plan_gaps(cost: float, planned: Plan) -> dict[str, float | None]:
    """How far a mean cost per period is above the plan's dual bound and above the exact optimum, in percent
    (None where no exact optimum is known)."""
    optimum = exact_optimum(planned)
    return {"gap_to_dual_bound_pct": 100 * (cost - planned.dual_bound) / abs(planned.dual_bound),
            "gap_to_optimum_pct": None if optimum is None else 100 * (cost - optimum) / optimum}


# The exact engine -----------------------------------------------------------------------------------
def exact_recursion_applies(params: EnvParams) -> bool:
    """Conditions of the exact engine (see module docstring)."""
    if not (params.backorders and params.distribution == "poisson" and params.trace is None):
        return False
    if params.trend != 0 or len(set(params.seasonality)) > 1 or params.num_products > EXACT_MAX_PRODUCTS:
        return False
    if np.isfinite(params.storage_capacity).any() or np.isfinite(params.inbound_capacity).any():
        return False
    if not all(protection_demand_is_exact(params.lead_time_law(n), bool(params.from_vendor[n]))
               for n in range(params.num_nodes)):
        return False
    serving = _serving_nodes(params)
    if any(len(nodes) != 1 for nodes in serving):
        return False
    is_leaf = SupplyTree(params.supplier_index).is_leaf
    return all(is_leaf[nodes[0]] for nodes in serving)


def _serving_nodes(params: EnvParams) -> list[list[int]]:
    """Per region, the distinct nodes any of its streams may be served from."""
    return [sorted({node for by_late in params.serving for by_region in by_late for node, _ in by_region[r]})
            for r in range(params.num_regions)]


def _tree_plan(params: EnvParams) -> Plan:
    tree = SupplyTree(params.supplier_index)
    mean_lead = params.mean_lead_time
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
        subtree = tree.subtree_totals(local)
        chain = []
        for n in range(n_nodes):
            leaf = bool(tree.is_leaf[n])
            demand = protection_demand(stats.poisson(max(subtree[n], 1e-12)), params.lead_time_law(n),
                                       params.lead_time_mode, review_period=leaf)
            chain.append(TreeNode(int(tree.supplier[n]), float(params.holding_cost[n, p]), demand,
                                  float(subtree[n]), float(stockout[p]) if leaf else 0.0))
        flow[:, p] = subtree
        solution = tree_recursion(chain)
        levels[:, p] = solution.echelon_levels
        cost += solution.cost
        on_hand[:, p] = tree_on_hand(chain, solution.echelon_levels, subtree * mean_lead)
    zeros = np.zeros(n_nodes)
    return Plan(params=params, method="tree recursion", echelon_levels=levels, storage_price=zeros,
                inbound_price=zeros.copy(), cost=cost, dual_bound=cost, history=[PricingStep(0, cost, cost, 0.0)],
                storage_use=on_hand @ params.volume, inbound_use=flow.sum(1))


# The decomposition ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Feedback:
    """What a round of the decomposition hands to the next, per node (see module doc); what it hands on per product
    (stock-out probabilities for the allocation, the storage model's warm start) stays with the shards."""

    prices: tuple[np.ndarray, np.ndarray] | None  # (storage, inbound) warm start of the price search
    storage_offset: np.ndarray  # (N,) storage model minus the echelon accounting
    overflow: OverflowCost | None  # expected overflow cost of the soft caps (the storage model's variances)

    def after(self, pricing: PriceSearch, stock: _Storage, overflow_rate: np.ndarray) -> _Feedback:
        """The feedback of a round that priced ``pricing`` and modelled ``stock``."""
        return _Feedback(prices=(pricing.storage_price, pricing.inbound_price),
                         storage_offset=stock.use - pricing.totals.storage_use,
                         overflow=OverflowCost(overflow_rate, stock.sd))


@dataclass(frozen=True)
class _Storage:
    """The storage model's totals over the catalog."""

    use: np.ndarray  # (N,) expected volume on hand
    sd: np.ndarray  # (N,) standard deviation of the end-of-period volume


def _decomposition_plan(params: EnvParams, shards: int, executor: ExecutorFactory) -> Plan:
    running = executor(shard_models(params, shards))
    try:
        return _decompose(params, running)
    finally:
        running.close()


def _decompose(params: EnvParams, shards: ShardExecutor) -> Plan:
    """The rounds of the module doc, with every per-product stage run by the shards."""
    storage_capacity = np.asarray(params.storage_capacity, dtype=float)
    inbound_capacity = np.asarray(params.inbound_capacity, dtype=float)
    overflow_rate = np.asarray(params.overflow_cost, dtype=float)
    catalog = shards.map("catalog")
    holding, volume = combine([part.holding for part in catalog]), float(combine([part.volume for part in catalog]))

    def price(feedback: _Feedback, round_totals: list[DemandTotals]) -> tuple[PriceSearch, _Storage]:
        """Stages 4 and 5: capacity prices for the round's demand given the feedback, then the storage model at the
        rounded levels the prices give."""
        problem = pricing_problem(storage_capacity, inbound_capacity, holding, volume, params.num_products,
                                  round_totals, lambda lam, pi: shards.map("solve", lam, pi))
        pricing = search_prices(problem, start=feedback.prices, storage_offset=feedback.storage_offset,
                                overflow=feedback.overflow)
        stock = shards.map("model_storage", pricing.storage_price, pricing.inbound_price)
        return pricing, _Storage(combine([part.volume for part in stock]),
                                 np.sqrt(combine([part.volume_var for part in stock])))

    feedback = _Feedback(None, np.zeros(params.num_nodes), None)
    for _ in range(ALLOCATION_ROUNDS):
        round_totals = shards.map("allocate")
        pricing, stock = price(feedback, round_totals)
        shards.map("feed_back_stockouts")
        feedback = feedback.after(pricing, stock, overflow_rate)
    pricing, stock = _fit_storage(price, round_totals, pricing, stock, feedback, storage_capacity)
    levels = np.concatenate(shards.map("levels", pricing.storage_price, pricing.inbound_price), axis=1)
    return Plan(params=params, method="echelon newsvendor", echelon_levels=levels,
                storage_price=pricing.storage_price, inbound_price=pricing.inbound_price, cost=pricing.cost,
                dual_bound=pricing.dual_bound, history=pricing.history, storage_use=stock.use,
                inbound_use=pricing.totals.inbound_use, storage_sd=stock.sd)


def _fit_storage(price, round_totals: list[DemandTotals], pricing: PriceSearch, stock: _Storage, feedback: _Feedback,
                 capacity: np.ndarray) -> tuple[PriceSearch, _Storage]:
    """Re-price with storage offsets only raised (by the remaining excess, doubled at each attempt) until the
    storage model fits every cap, at most ``FINAL_STORAGE_CHECKS`` times."""
    for check in range(FINAL_STORAGE_CHECKS):
        if _fits(stock.use, capacity):
            break
        pricing, stock = price(feedback, round_totals)
        excess = np.where(np.isfinite(capacity), np.maximum(stock.use - capacity, 0.0), 0.0)
        # rounded levels move in whole units: push by twice as much each time until the storage model fits
        offset = np.maximum(feedback.storage_offset, stock.use - pricing.totals.storage_use)
        feedback = replace(feedback, prices=(pricing.storage_price, pricing.inbound_price),
                           storage_offset=offset + 2.0**check * excess)
    return pricing, stock


def _fits(use: np.ndarray, capacity: np.ndarray) -> bool:
    capped = np.isfinite(capacity)
    return bool(np.all(use[capped] <= capacity[capped] * (1.0 + 1e-9)))
