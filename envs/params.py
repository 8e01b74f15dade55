"""Compile a :class:`Scenario` into flat arrays: the static parameters of the transition.

This is the only place the scenario's object graph is read by the simulator; the dynamics see arrays
only (like gymnax's frozen ``EnvParams``). Shapes use N stocking nodes (suppliers first), P products,
R regions, S speeds (fastest first) and A pipeline ages (the longest lead time).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from envs.demand_table import DemandTable, build_demand_table, marginal
from envs.scenario.errors import ScenarioError
from envs.scenario.fulfillment import get_fulfillment_policy
from envs.scenario.types import Scenario
from envs.trace import load_trace

DISTRIBUTION_CODES = {"poisson": 0, "negative_binomial": 1, "normal": 2}


@dataclass(frozen=True)
class FulfillmentArc:
    """One (speed, late, region, node) option in the order the greedy serving loop visits it."""

    speed: int
    late: bool
    region: int
    node: int
    shipping_cost: float


@dataclass(frozen=True, eq=False)
class EnvParams:
    """Static arrays of one scenario; see module docstring for the axes."""

    scenario: Scenario
    supplier_index: np.ndarray  # (N,) index of the stocking supplier, -1 when supplied by a vendor
    from_vendor: np.ndarray  # (N,) bool
    lead_time_cdf: np.ndarray  # (N, A) P(lead time <= a + 1)
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
    distribution: int
    dispersion: float
    cv: float
    region_correlation: float
    trace: np.ndarray | None  # (T, R, S, P) replayed demand, or None
    penalty: np.ndarray  # (S, P) per unit lost, or per unit and period backordered
    cutoff_share: np.ndarray  # (S,)
    spill_share: np.ndarray  # (S,)
    arcs: tuple[FulfillmentArc, ...]
    arc_groups: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]  # [2*speed+late][region] -> ((node, cost id),)
    shipping_costs: tuple[float, ...]  # distinct shipping costs (cost id -> cost)
    children: tuple[tuple[int, np.ndarray], ...]  # (stocking supplier, indices of the nodes it supplies)
    inbound_units: np.ndarray  # (N,) whole units receivable per period (inf for none)
    has_inbound_capacity: bool
    has_internal_supply: bool
    backlog_node: np.ndarray  # (R, S) node whose inventory position carries a backlog (-1: none)
    backlog_owner: np.ndarray  # (N, R*S) one-hot form of backlog_node
    backorders: bool
    sequential: bool
    node_flow: np.ndarray  # (N, P) expected demand per period served through the node
    max_level: np.ndarray  # (N, P) order-up-to level at action +1
    max_order: np.ndarray  # (N, P) order quantity at action +1
    demand_scale: np.ndarray  # (R, P) mean demand per period (all speeds), floored at 1
    cost_scale: float  # reward = -cost / cost_scale

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
        return self.lead_time_cdf.shape[1]

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.scenario.stocking_nodes)

    @property
    def observation_size(self) -> int:
        n, p, r, a = self.num_nodes, self.num_products, self.num_regions, self.num_ages
        return 2 * n * p + n * a * p + 3 * r * p + 2 + 2 * n

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

    @functools.cached_property
    def demand_table(self) -> DemandTable | None:
        """Inverse-cdf tables per (seasonal phase, stream), built on first use (None with a trend or trace)."""
        demand = self.scenario.demand
        if self.trace is not None or demand.trend != 0:
            return None
        means = self.base_mean[None] * self.seasonality[:, None, None, None]
        return build_demand_table(demand.distribution, means, demand.dispersion, demand.cv)

    def quantile(self, u: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Demand (B, R, S, P) at uniforms ``u`` in periods ``period`` (B,): the marginal quantile."""
        if self.demand_table is not None:
            return self.demand_table.quantile(u, np.asarray(period) % len(self.seasonality))
        demand = self.scenario.demand
        mean = self.mean_demand(period)
        return np.asarray(marginal(demand.distribution, mean, demand.dispersion, demand.cv).ppf(u), dtype=float)


def _arcs(scenario: Scenario, node_index: dict[str, int]) -> tuple[tuple[FulfillmentArc, ...], tuple]:
    policy = get_fulfillment_policy(scenario.fulfillment)
    arcs: list[FulfillmentArc] = []
    groups = []
    for s in range(len(scenario.speeds)):
        for late in (False, True):
            per_region = []
            for r in range(len(scenario.regions)):
                members = []
                for node_name, cost in policy(scenario, s, late, r):
                    members.append((len(arcs), node_index[node_name]))
                    arcs.append(FulfillmentArc(s, late, r, node_index[node_name], float(cost)))
                per_region.append(tuple(members))
            groups.append(tuple(per_region))
    return tuple(arcs), tuple(groups)


def compile_scenario(scenario: Scenario) -> EnvParams:
    """Turn a validated scenario into the arrays the transition uses."""
    nodes = scenario.stocking_nodes
    node_index = {n.name: i for i, n in enumerate(nodes)}
    n_nodes, n_products = len(nodes), len(scenario.products)
    n_regions, n_speeds = len(scenario.regions), len(scenario.speeds)
    ages = scenario.max_lead_time

    supplier_index = np.array([node_index.get(n.supplier, -1) for n in nodes], dtype=np.int64)
    lead_time_cdf = np.ones((n_nodes, ages))
    for n, node in enumerate(nodes):
        pmf = np.zeros(ages)
        for periods, prob in node.lead_time.pmf.items():
            pmf[periods - 1] = prob
        lead_time_cdf[n] = np.minimum(np.cumsum(pmf), 1.0)
        lead_time_cdf[n, -1] = 1.0

    product_holding = np.array([p.holding_cost for p in scenario.products])
    factor = np.array([n.holding_cost_factor for n in nodes])
    holding = factor[:, None] * product_holding[None, :]
    supplier_factor = np.array([factor[u] if u >= 0 else 0.0 for u in supplier_index])
    volume = np.array([p.volume for p in scenario.products])
    unit_cost = np.array([p.unit_cost for p in scenario.products])
    from_vendor = supplier_index < 0

    region_share = np.array([r.demand_share for r in scenario.regions])
    speed_share = np.array([s.demand_share for s in scenario.speeds])
    product_mean = np.array([p.mean_demand for p in scenario.products])
    base_mean = (
        (region_share / region_share.sum())[:, None, None]
        * (speed_share / speed_share.sum())[None, :, None]
        * product_mean[None, None, :]
    )
    penalty = np.array([s.penalty for s in scenario.speeds])[:, None] * np.array(
        [p.penalty_scale for p in scenario.products]
    )[None, :]

    arcs, groups = _arcs(scenario, node_index)
    costs = sorted({a.shipping_cost for a in arcs})
    if not arcs:
        raise ScenarioError(
            f"scenario {scenario.name!r}: no region can be served by any node within any speed's promise; "
            "add region links whose transit fits a promise"
        )
    # The node a stream's demand is expected to draw on first (for scales and backlog positions).
    backlog_node = np.full((n_regions, n_speeds), -1, dtype=np.int64)
    for s in range(n_speeds):
        for r in range(n_regions):
            for late in (0, 1):
                members = groups[2 * s + late][r]
                if members and backlog_node[r, s] < 0:
                    backlog_node[r, s] = members[0][1]
    node_flow = np.zeros((n_nodes, n_products))
    for s in range(n_speeds):
        for r in range(n_regions):
            target = backlog_node[r, s]
            if target < 0 and s + 1 < n_speeds:
                target = backlog_node[r, s + 1]
            if target >= 0:
                node_flow[target] += base_mean[r, s]
    for n in reversed(range(n_nodes)):  # suppliers come first, so children are done before parents
        if supplier_index[n] >= 0:
            node_flow[supplier_index[n]] += node_flow[n]
    mean_lead = np.array([n.lead_time.mean for n in nodes])
    protection = node_flow * (mean_lead[:, None] + 1.0)
    max_level = np.ceil(2.0 * (protection + 3.0 * np.sqrt(protection))) + 2.0
    max_order = np.ceil(3.0 * (node_flow + 3.0 * np.sqrt(node_flow))) + 2.0

    trace = load_trace(scenario.demand.trace, scenario) if scenario.demand.trace else None
    seasonality = np.array(scenario.demand.seasonality)
    demand_scale = np.maximum(base_mean.sum(axis=1), 1.0)
    mean_penalty = float(((speed_share / speed_share.sum()) @ penalty) @ product_mean)
    cost_scale = max(mean_penalty, 1e-6)

    return EnvParams(
        scenario=scenario,
        supplier_index=supplier_index,
        from_vendor=from_vendor,
        lead_time_cdf=lead_time_cdf,
        holding_cost=holding,
        pipeline_holding_cost=supplier_factor[:, None] * product_holding[None, :],
        purchase_cost=np.where(from_vendor[:, None], unit_cost[None, :], 0.0),
        transport_cost=np.array([n.transport_cost for n in nodes])[:, None] * volume[None, :],
        volume=volume,
        storage_capacity=np.array([n.storage_capacity for n in nodes], dtype=float),
        overflow_cost=np.array([n.overflow_cost for n in nodes]),
        inbound_capacity=np.array([n.inbound_capacity for n in nodes], dtype=float),
        base_mean=base_mean,
        seasonality=seasonality,
        trend=float(scenario.demand.trend),
        distribution=DISTRIBUTION_CODES[scenario.demand.distribution],
        dispersion=float(scenario.demand.dispersion),
        cv=float(scenario.demand.cv),
        region_correlation=float(scenario.demand.region_correlation),
        trace=trace,
        penalty=penalty,
        cutoff_share=np.array([s.cutoff_share for s in scenario.speeds]),
        spill_share=np.array([s.spill_share for s in scenario.speeds]),
        arcs=arcs,
        arc_groups=tuple(
            tuple(tuple((node, costs.index(arcs[arc].shipping_cost)) for arc, node in region) for region in group)
            for group in groups
        ),
        shipping_costs=tuple(costs),
        children=tuple(
            (u, np.flatnonzero(supplier_index == u)) for u in range(n_nodes) if (supplier_index == u).any()
        ),
        inbound_units=np.floor(np.array([n.inbound_capacity for n in nodes], dtype=float)),
        has_inbound_capacity=bool(np.isfinite([n.inbound_capacity for n in nodes]).any()),
        has_internal_supply=bool((supplier_index >= 0).any()),
        backlog_node=backlog_node,
        backlog_owner=(backlog_node.reshape(1, -1) == np.arange(n_nodes)[:, None]).astype(float),
        backorders=scenario.backorders,
        sequential=scenario.lead_time_mode == "sequential",
        node_flow=node_flow,
        max_level=max_level,
        max_order=max_order,
        demand_scale=demand_scale,
        cost_scale=cost_scale if math.isfinite(cost_scale) else 1.0,
    )
