"""Compile a :class:`Scenario` into flat arrays: the static parameters of the transition.

This is the only place the simulator reads the scenario's object graph; :class:`EnvParams` is inert data
(arrays, numbers and names, like gymnax's frozen ``EnvParams``), and everything derived from its fields is a
property. Shapes use N stocking nodes (suppliers first), P products, R regions, S speeds (fastest first)
and A pipeline ages (the longest lead time).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from envs.scenario.errors import ScenarioError
from envs.scenario.flows import base_mean, node_flow
from envs.scenario.fulfillment import first_choice_nodes, get_fulfillment_policy
from envs.scenario.tree import SupplyTree, children_of, lead_time_mean, lead_time_var
from envs.scenario.types import Scenario
from envs.trace import load_trace

ServingLists = tuple[tuple[tuple[tuple[tuple[int, int], ...], ...], ...], ...]
"""``serving[s][late][r]``: the (node, shipping-cost id) pairs that serve region r's orders of speed s (placed
after the cut-off when ``late``), in the order the fulfillment policy draws on them."""

SAFETY_SPREAD = 3.0
"""Action scales cover the mean plus this many Poisson standard deviations (sqrt of the mean) ..."""
LEVEL_HEADROOM, ORDER_HEADROOM = 2.0, 3.0
"""... times these factors (order-up-to levels, order quantities), plus :data:`SCALE_FLOOR` units, so a policy
can ask for well above any sensible level or order without the action range binding."""
SCALE_FLOOR = 2.0


def action_scale(mean: np.ndarray, headroom: float) -> np.ndarray:
    """The whole number an action of +1 asks for: ``ceil(headroom (mean + 3 sqrt(mean))) + 2``."""
    return np.ceil(headroom * (mean + SAFETY_SPREAD * np.sqrt(mean))) + SCALE_FLOOR


@dataclass(frozen=True)
class FulfillmentArc:
    """One (speed, late, region, node) serving option and its shipping cost per unit."""

    speed: int
    late: bool
    region: int
    node: int
    shipping_cost: float


@dataclass(frozen=True, eq=False)
class EnvParams:
    """Static arrays of one scenario; see module docstring for the axes."""

    scenario_name: str  # the scenario's name, for messages
    node_names: tuple[str, ...]  # (N,) stocking nodes
    node_kinds: tuple[str, ...]  # (N,) distribution_center, fulfillment_center or same_day_site
    speed_names: tuple[str, ...]  # (S,)
    supplier_index: np.ndarray  # (N,) index of the stocking supplier, -1 when supplied by a vendor
    lead_time_pmf: np.ndarray  # (N, A) P(lead time = a + 1), the scenario's probabilities
    mean_lead_time: np.ndarray  # (N,) the scenario's lead-time moments (envs.scenario.tree)
    lead_time_var: np.ndarray  # (N,)
    holding_cost: np.ndarray  # (N, P) per unit and period on hand (and at the dock)
    pipeline_holding_cost: np.ndarray  # (N, P) per unit and period in transit to the node
    purchase_cost: np.ndarray  # (N, P) per unit bought from a vendor
    transport_cost: np.ndarray  # (N, P) per unit shipped in
    volume: np.ndarray  # (P,)
    storage_capacity: np.ndarray  # (N,) volume, inf for none
    overflow_cost: np.ndarray  # (N,)
    inbound_capacity: np.ndarray  # (N,) units per period, inf for none
    base_mean: np.ndarray  # (R, S, P) mean demand per period before seasonality and trend
    seasonality: np.ndarray  # (C,)
    trend: float
    distribution: str  # "poisson", "negative_binomial" or "normal" (see envs.demand_table.marginal)
    dispersion: np.ndarray  # (P,) negative binomial size k of each product's demand
    cv: np.ndarray  # (P,) coefficient of variation of each product's normal demand
    region_correlation: float
    trace: np.ndarray | None  # (T, R, S, P) replayed demand, or None
    penalty: np.ndarray  # (S, P) per unit lost, or per unit and period backordered
    cutoff_share: np.ndarray  # (S,)
    spill_share: np.ndarray  # (S,)
    serving: ServingLists
    shipping_costs: tuple[float, ...]  # distinct shipping costs (cost id -> cost)
    backlog_node: np.ndarray  # (R, S) node whose inventory position carries a stream's backlog (-1: none)
    backorders: bool
    sequential: bool
    node_flow: np.ndarray  # (N, P) expected demand per period served through the node
    max_level: np.ndarray  # (N, P) order-up-to level at action +1
    max_order: np.ndarray  # (N, P) order quantity at action +1
    demand_scale: np.ndarray  # (R, P) mean demand per period (all speeds), floored at 1
    cost_scale: float  # reward = -cost / cost_scale
    warmup_periods: int  # the scenario's default warm-up before an episode

    @property
    def num_nodes(self) -> int:
        return len(self.supplier_index)

    @property
    def num_products(self) -> int:
        return len(self.volume)

    @property
    def num_regions(self) -> int:
        return self.base_mean.shape[0]

    @property
    def num_speeds(self) -> int:
        return self.base_mean.shape[1]

    @property
    def num_ages(self) -> int:
        return self.lead_time_pmf.shape[1]

    @functools.cached_property
    def lead_time_cdf(self) -> np.ndarray:
        """(N, A) P(lead time <= a + 1), exactly 1 at the longest lead time."""
        cdf = np.minimum(np.cumsum(self.lead_time_pmf, axis=1), 1.0)
        cdf[:, -1] = 1.0
        return cdf

    def lead_time_law(self, node: int) -> dict[int, float]:
        """The lead-time pmf of ``node`` as {periods: probability} (positive probabilities only)."""
        return {a + 1: float(q) for a, q in enumerate(self.lead_time_pmf[node]) if q > 0}

    @property
    def lead_time_mode(self) -> str:
        return "sequential" if self.sequential else "independent"

    @property
    def from_vendor(self) -> np.ndarray:
        """(N,) True for nodes a vendor supplies."""
        return self.supplier_index < 0

    @functools.cached_property
    def arcs(self) -> tuple[FulfillmentArc, ...]:
        """Every serving option of :attr:`serving`, flattened in the order the simulator visits them."""
        return tuple(
            FulfillmentArc(s, bool(late), r, node, self.shipping_costs[cost])
            for s, by_late in enumerate(self.serving) for late, by_region in enumerate(by_late)
            for r, members in enumerate(by_region) for node, cost in members
        )

    @functools.cached_property
    def children(self) -> tuple[tuple[int, np.ndarray], ...]:
        """(stocking supplier, indices of the nodes it supplies), for every supplier of a stocking node."""
        return tuple((u, np.array(kids, dtype=np.int64)) for u, kids in enumerate(children_of(self.supplier_index))
                     if kids)

    @property
    def has_internal_supply(self) -> bool:
        return bool((self.supplier_index >= 0).any())

    @property
    def inbound_units(self) -> np.ndarray:
        """(N,) whole units receivable per period (inf for none)."""
        return np.floor(self.inbound_capacity)

    @property
    def has_inbound_capacity(self) -> bool:
        return bool(np.isfinite(self.inbound_capacity).any())

    @functools.cached_property
    def backlog_owner(self) -> np.ndarray:
        """(N, R * S) one-hot form of :attr:`backlog_node`."""
        return (self.backlog_node.reshape(1, -1) == np.arange(self.num_nodes)[:, None]).astype(float)

    @property
    def mix_threshold(self) -> float:
        """A stream uses its product's common demand uniform when its mix uniform is below this."""
        return float(np.sqrt(self.region_correlation))

    @property
    def lead_time_cdf32(self) -> np.ndarray:
        """``lead_time_cdf`` in float32, the precision lead-time uniforms are compared at."""
        return self.lead_time_cdf.astype(np.float32)

    @functools.cached_property
    def season_table(self) -> np.ndarray:
        """(C, 2) sin and cos of each seasonal phase (the observation's season block)."""
        angle = 2.0 * np.pi * np.arange(len(self.seasonality)) / len(self.seasonality)
        return np.stack([np.sin(angle), np.cos(angle)], 1)

    def demand_factor(self, period: np.ndarray) -> np.ndarray:
        """Seasonality x trend multiplier of the base mean in the given period(s)."""
        period = np.asarray(period)
        return self.seasonality[period % len(self.seasonality)] * (1.0 + self.trend) ** period

    def mean_demand(self, period: np.ndarray) -> np.ndarray:
        """Mean demand (..., R, S, P) in the given period(s)."""
        return self.base_mean * self.demand_factor(period)[..., None, None, None]


def _serving(scenario: Scenario) -> tuple[ServingLists, tuple[float, ...]]:
    """The fulfillment policy's serving lists, with shipping costs as ids into the sorted distinct costs."""
    policy = get_fulfillment_policy(scenario.fulfillment)
    index = {node.name: n for n, node in enumerate(scenario.stocking_nodes)}
    lists = [[[policy(scenario, s, late, r) for r in range(len(scenario.regions))] for late in (False, True)]
             for s in range(len(scenario.speeds))]
    costs = sorted({float(cost) for by_late in lists for by_region in by_late for members in by_region
                    for _, cost in members})
    serving = tuple(
        tuple(tuple(tuple((index[name], costs.index(float(cost))) for name, cost in members) for members in by_region)
              for by_region in by_late)
        for by_late in lists
    )
    return serving, tuple(costs)


def _lead_time_pmf(scenario: Scenario) -> np.ndarray:
    pmf = np.zeros((len(scenario.stocking_nodes), scenario.max_lead_time))
    for n, node in enumerate(scenario.stocking_nodes):
        for periods, prob in node.lead_time.pmf.items():
            pmf[n, periods - 1] = prob
    return pmf


def compile_scenario(scenario: Scenario) -> EnvParams:
    """Turn a validated scenario into the arrays the transition uses."""
    nodes = scenario.stocking_nodes
    supplier_index = SupplyTree.of(scenario).supplier
    serving, costs = _serving(scenario)
    if not costs:
        raise ScenarioError(
            f"scenario {scenario.name!r}: no region can be served by any node within any speed's promise; "
            "add region links whose transit fits a promise"
        )
    products = scenario.products
    product_holding = np.array(products.holding_cost)
    factor = np.array([n.holding_cost_factor for n in nodes])
    supplier_factor = np.array([factor[u] if u >= 0 else 0.0 for u in supplier_index])
    volume = np.array(products.volume)
    unit_cost = np.array(products.unit_cost)
    speed_share = np.array([s.demand_share for s in scenario.speeds])
    product_mean = np.array(products.mean_demand)
    penalty = np.array([s.penalty for s in scenario.speeds])[:, None] * np.array(products.penalty_scale)[None, :]
    stream_mean = base_mean(scenario)
    flow = node_flow(scenario)
    mean_lead = lead_time_mean(scenario)
    mean_penalty = float(((speed_share / speed_share.sum()) @ penalty) @ product_mean)
    cost_scale = max(mean_penalty, 1e-6)
    demand = scenario.demand
    return EnvParams(
        scenario_name=scenario.name,
        node_names=tuple(n.name for n in nodes),
        node_kinds=tuple(n.kind for n in nodes),
        speed_names=tuple(s.name for s in scenario.speeds),
        supplier_index=supplier_index,
        lead_time_pmf=_lead_time_pmf(scenario),
        mean_lead_time=mean_lead,
        lead_time_var=lead_time_var(scenario),
        holding_cost=factor[:, None] * product_holding[None, :],
        pipeline_holding_cost=supplier_factor[:, None] * product_holding[None, :],
        purchase_cost=np.where((supplier_index < 0)[:, None], unit_cost[None, :], 0.0),
        transport_cost=np.array([n.transport_cost for n in nodes])[:, None] * volume[None, :],
        volume=volume,
        storage_capacity=np.array([n.storage_capacity for n in nodes], dtype=float),
        overflow_cost=np.array([n.overflow_cost for n in nodes]),
        inbound_capacity=np.array([n.inbound_capacity for n in nodes], dtype=float),
        base_mean=stream_mean,
        seasonality=np.array(demand.seasonality),
        trend=float(demand.trend),
        distribution=demand.distribution,
        dispersion=np.array(scenario.product_dispersion, dtype=float),
        cv=np.array(scenario.product_cv, dtype=float),
        region_correlation=float(demand.region_correlation),
        trace=load_trace(demand.trace, scenario) if demand.trace else None,
        penalty=penalty,
        cutoff_share=np.array([s.cutoff_share for s in scenario.speeds]),
        spill_share=np.array([s.spill_share for s in scenario.speeds]),
        serving=serving,
        shipping_costs=costs,
        backlog_node=first_choice_nodes(scenario),
        backorders=scenario.backorders,
        sequential=scenario.lead_time_mode == "sequential",
        node_flow=flow,
        max_level=action_scale(flow * (mean_lead[:, None] + 1.0), LEVEL_HEADROOM),
        max_order=action_scale(flow, ORDER_HEADROOM),
        demand_scale=np.maximum(stream_mean.sum(axis=1), 1.0),
        cost_scale=cost_scale if math.isfinite(cost_scale) else 1.0,
        warmup_periods=scenario.warmup_periods,
    )
