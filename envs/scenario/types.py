"""Frozen, validated dataclasses that describe one supply-chain world.

A scenario is plain data: nodes (vendors, distribution centers, fulfillment centers, same-day sites)
forming a supply tree, products, customer regions, delivery speeds and the demand model. Every
invariant is checked in ``__post_init__`` so that an invalid scenario fails where it is built (from
Python or YAML), with a message that names the field and the fix. Derived values are properties.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from envs.scenario.errors import ScenarioError
from envs.scenario.fulfillment import FULFILLMENT_POLICIES

NodeKind = Literal["vendor", "distribution_center", "fulfillment_center", "same_day_site"]
NODE_KINDS: tuple[str, ...] = ("vendor", "distribution_center", "fulfillment_center", "same_day_site")
UNMET_DEMAND = ("lost_sales", "backorders")
LEAD_TIME_MODES = ("independent", "sequential")
DISTRIBUTIONS = ("poisson", "negative_binomial", "normal")


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ScenarioError(f"{where}: {message}")


def _finite_non_negative(value: float, where: str) -> None:
    _require(
        isinstance(value, (int, float)) and math.isfinite(value) and value >= 0,
        where,
        f"must be a finite number >= 0, got {value!r}",
    )


def _positive_or_inf(value: float, where: str) -> None:
    _require(
        isinstance(value, (int, float)) and not math.isnan(value) and value > 0,
        where,
        f"must be > 0 (use .inf for no limit), got {value!r}",
    )


def _unique_names(items: tuple, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        _require(isinstance(item.name, str) and item.name != "", f"{where}[{i}].name", "must be a non-empty string")
        _require(item.name not in seen, f"{where}[{i}].name", f"duplicate name {item.name!r}; names must be unique")
        seen.add(item.name)


@dataclass(frozen=True)
class LeadTime:
    """Lead time of one supply arc: a pmf over whole periods (>= 1), drawn once per order."""

    periods: tuple[int, ...]
    probabilities: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "periods", tuple(self.periods))
        object.__setattr__(self, "probabilities", tuple(float(p) for p in self.probabilities))
        where = "lead_time"
        _require(len(self.periods) >= 1, where, "needs at least one period value")
        _require(
            len(self.periods) == len(self.probabilities),
            where,
            f"{len(self.periods)} periods but {len(self.probabilities)} probabilities; give one probability each",
        )
        for value in self.periods:
            _require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                where,
                f"periods must be whole numbers >= 1 (an order arrives at the earliest in the next period), "
                f"got {value!r}",
            )
        _require(len(set(self.periods)) == len(self.periods), where, f"periods {self.periods} repeat a value")
        for prob in self.probabilities:
            _require(math.isfinite(prob) and prob >= 0, where, f"probabilities must be >= 0, got {prob!r}")
        _require(
            abs(sum(self.probabilities) - 1.0) < 1e-9,
            where,
            f"probabilities sum to {sum(self.probabilities)!r}; they must sum to 1",
        )

    @classmethod
    def fixed(cls, periods: int) -> LeadTime:
        """A deterministic lead time."""
        return cls((periods,), (1.0,))

    @property
    def mean(self) -> float:
        return float(sum(p * q for p, q in zip(self.periods, self.probabilities)))

    @property
    def max(self) -> int:
        return max(p for p, q in zip(self.periods, self.probabilities) if q > 0)

    @property
    def pmf(self) -> dict[int, float]:
        return {p: q for p, q in zip(self.periods, self.probabilities) if q > 0}


@dataclass(frozen=True)
class Node:
    """A vendor (external, unlimited source) or a stocking node with one supplier.

    ``transport_cost`` is charged per unit of volume shipped in from the supplier; ``holding_cost_factor``
    multiplies each product's holding cost while stock sits here (or is in transit to a child of this node).
    Storage capacity is soft (each unit of volume above it costs ``overflow_cost`` per period); inbound
    capacity is hard (units beyond it wait at the dock and are received in a later period).
    """

    name: str
    kind: NodeKind
    supplier: str | None = None
    lead_time: LeadTime | None = None
    holding_cost_factor: float = 1.0
    transport_cost: float = 0.0
    storage_capacity: float = math.inf
    overflow_cost: float = 0.0
    inbound_capacity: float = math.inf

    def __post_init__(self) -> None:
        where = f"node {self.name!r}"
        _require(self.kind in NODE_KINDS, f"{where}.kind", f"{self.kind!r} is not one of {NODE_KINDS}")
        if self.kind == "vendor":
            _require(self.supplier is None, f"{where}.supplier", "a vendor is an external source; remove supplier")
            _require(self.lead_time is None, f"{where}.lead_time", "set lead times on the nodes a vendor supplies")
        else:
            _require(self.supplier is not None, f"{where}.supplier", "a stocking node needs a supplier node name")
            _require(
                isinstance(self.lead_time, LeadTime),
                f"{where}.lead_time",
                "a stocking node needs a lead time from its supplier (an int or a {periods: probability} map)",
            )
        _finite_non_negative(self.holding_cost_factor, f"{where}.holding_cost_factor")
        _finite_non_negative(self.transport_cost, f"{where}.transport_cost")
        _finite_non_negative(self.overflow_cost, f"{where}.overflow_cost")
        _positive_or_inf(self.storage_capacity, f"{where}.storage_capacity")
        _positive_or_inf(self.inbound_capacity, f"{where}.inbound_capacity")

    @property
    def is_vendor(self) -> bool:
        return self.kind == "vendor"


@dataclass(frozen=True)
class Product:
    """One product: mean demand per period over all regions and speeds, volume and costs."""

    name: str
    mean_demand: float
    volume: float = 1.0
    unit_cost: float = 0.0
    holding_cost: float = 1.0
    penalty_scale: float = 1.0

    def __post_init__(self) -> None:
        where = f"product {self.name!r}"
        _finite_non_negative(self.mean_demand, f"{where}.mean_demand")
        _require(
            isinstance(self.volume, (int, float)) and math.isfinite(self.volume) and self.volume > 0,
            f"{where}.volume",
            f"must be a finite number > 0, got {self.volume!r}",
        )
        _finite_non_negative(self.unit_cost, f"{where}.unit_cost")
        _finite_non_negative(self.holding_cost, f"{where}.holding_cost")
        _finite_non_negative(self.penalty_scale, f"{where}.penalty_scale")


@dataclass(frozen=True)
class ServiceLink:
    """A node that may ship to a region: transit time in whole periods and cost per unit shipped."""

    node: str
    transit: int
    shipping_cost: float = 0.0

    def __post_init__(self) -> None:
        where = f"service link to node {self.node!r}"
        _require(
            isinstance(self.transit, int) and not isinstance(self.transit, bool) and self.transit >= 0,
            f"{where}.transit",
            f"must be a whole number of periods >= 0, got {self.transit!r}",
        )
        _finite_non_negative(self.shipping_cost, f"{where}.shipping_cost")


@dataclass(frozen=True)
class Region:
    """A customer region: its share of each product's demand and the nodes that may serve it."""

    name: str
    demand_share: float
    links: tuple[ServiceLink, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "links", tuple(self.links))
        where = f"region {self.name!r}"
        _finite_non_negative(self.demand_share, f"{where}.demand_share")
        nodes = [link.node for link in self.links]
        _require(len(set(nodes)) == len(nodes), f"{where}.links", f"node listed twice in {nodes}")


@dataclass(frozen=True)
class Speed:
    """A delivery speed customers choose (same-day, one-day, ...).

    ``promise``: periods from order to delivery; a node is eligible if its transit time is within it.
    ``penalty``: per unit not served (lost sales) or per unit and period waiting (backorders), times the
    product's ``penalty_scale``. ``cutoff_share``: share of orders placed after the day's cut-off, which
    have one more period of slack. ``spill_share``: share of unmet orders that come back, in the same
    period, as orders of the next slower speed; the rest are lost (or backordered).
    """

    name: str
    promise: int
    penalty: float
    demand_share: float = 1.0
    cutoff_share: float = 0.0
    spill_share: float = 0.0

    def __post_init__(self) -> None:
        where = f"speed {self.name!r}"
        _require(
            isinstance(self.promise, int) and not isinstance(self.promise, bool) and self.promise >= 0,
            f"{where}.promise",
            f"must be a whole number of periods >= 0, got {self.promise!r}",
        )
        _finite_non_negative(self.penalty, f"{where}.penalty")
        _finite_non_negative(self.demand_share, f"{where}.demand_share")
        for name in ("cutoff_share", "spill_share"):
            value = getattr(self, name)
            _require(
                isinstance(value, (int, float)) and 0 <= value <= 1,
                f"{where}.{name}",
                f"is a share and must lie in [0, 1], got {value!r}",
            )


@dataclass(frozen=True)
class Demand:
    """Demand model shared by all streams (product x region x speed).

    The mean of a stream in period t is ``mean_demand x region share x speed share x seasonality[t mod
    len] x (1 + trend)^t``. ``dispersion`` is the negative binomial's size k (variance = mean +
    mean^2 / k); ``normal`` is a normal with sd ``cv x mean``, truncated at 0 and rounded.
    ``region_correlation`` in [0, 1) is the rank correlation between any two streams of a product in a
    period (a mixture copula: marginals are unchanged). ``trace`` replays a CSV (period, product,
    region, speed, quantity) instead, cyclically.
    """

    distribution: str = "poisson"
    dispersion: float = 1.0
    cv: float = 0.3
    seasonality: tuple[float, ...] = (1.0,)
    trend: float = 0.0
    region_correlation: float = 0.0
    trace: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seasonality", tuple(float(x) for x in self.seasonality))
        where = "demand"
        _require(
            self.distribution in DISTRIBUTIONS,
            f"{where}.distribution",
            f"{self.distribution!r} is not one of {DISTRIBUTIONS}",
        )
        _require(
            isinstance(self.dispersion, (int, float)) and math.isfinite(self.dispersion) and self.dispersion > 0,
            f"{where}.dispersion",
            f"negative-binomial size k (variance = mean + mean^2/k) must be > 0, got {self.dispersion!r}",
        )
        _require(
            isinstance(self.cv, (int, float)) and math.isfinite(self.cv) and self.cv > 0,
            f"{where}.cv",
            f"the normal's coefficient of variation must be > 0, got {self.cv!r}",
        )
        _require(len(self.seasonality) >= 1, f"{where}.seasonality", "needs at least one multiplier")
        for value in self.seasonality:
            _finite_non_negative(value, f"{where}.seasonality")
        _require(
            isinstance(self.trend, (int, float)) and math.isfinite(self.trend) and self.trend > -1,
            f"{where}.trend",
            f"growth per period must be > -1, got {self.trend!r}",
        )
        _require(
            isinstance(self.region_correlation, (int, float)) and 0 <= self.region_correlation < 1,
            f"{where}.region_correlation",
            f"must lie in [0, 1), got {self.region_correlation!r}",
        )


@dataclass(frozen=True)
class Scenario:
    """A complete world: the supply tree, products, regions, speeds, demand and rules.

    Nodes must be listed so that every supplier comes before the nodes it supplies (vendors first);
    speeds are listed fastest first (strictly increasing promise).
    """

    name: str
    nodes: tuple[Node, ...]
    products: tuple[Product, ...]
    regions: tuple[Region, ...]
    speeds: tuple[Speed, ...]
    demand: Demand = field(default_factory=Demand)
    unmet_demand: str = "lost_sales"
    lead_time_mode: str = "independent"
    fulfillment: str = "greedy"
    warmup_periods: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("nodes", "products", "regions", "speeds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        where = f"scenario {self.name!r}"
        for name in ("nodes", "products", "regions", "speeds"):
            _require(len(getattr(self, name)) >= 1, f"{where}.{name}", "needs at least one entry")
            _unique_names(getattr(self, name), f"{where}.{name}")
        _require(
            self.unmet_demand in UNMET_DEMAND,
            f"{where}.unmet_demand",
            f"{self.unmet_demand!r} is not one of {UNMET_DEMAND}",
        )
        _require(
            self.lead_time_mode in LEAD_TIME_MODES,
            f"{where}.lead_time_mode",
            f"{self.lead_time_mode!r} is not one of {LEAD_TIME_MODES}",
        )
        _require(
            isinstance(self.warmup_periods, int) and self.warmup_periods >= 0,
            f"{where}.warmup_periods",
            f"must be a whole number >= 0, got {self.warmup_periods!r}",
        )
        _require(
            self.fulfillment in FULFILLMENT_POLICIES,
            f"{where}.fulfillment",
            f"unknown policy {self.fulfillment!r}; registered policies are {sorted(FULFILLMENT_POLICIES)} "
            "(add one with envs.scenario.register_fulfillment_policy)",
        )
        seen: dict[str, Node] = {}
        for i, node in enumerate(self.nodes):
            if node.supplier is not None:
                _require(
                    node.supplier in seen,
                    f"{where}.nodes[{i}] ({node.name!r}).supplier",
                    f"{node.supplier!r} is not a node listed before it; list suppliers first "
                    f"(known so far: {sorted(seen)})",
                )
            seen[node.name] = node
        _require(
            any(not n.is_vendor for n in self.nodes), f"{where}.nodes", "needs at least one stocking node"
        )
        stocking = {n.name for n in self.nodes if not n.is_vendor}
        for region in self.regions:
            for link in region.links:
                _require(
                    link.node in stocking,
                    f"{where}: region {region.name!r} link",
                    f"{link.node!r} is not a stocking node; use one of {sorted(stocking)}",
                )
        promises = [s.promise for s in self.speeds]
        _require(
            all(a < b for a, b in zip(promises, promises[1:])),
            f"{where}.speeds",
            f"list speeds fastest first with strictly increasing promise, got promises {promises}",
        )
        _require(
            sum(s.demand_share for s in self.speeds) > 0, f"{where}.speeds", "demand shares sum to 0"
        )
        _require(
            sum(r.demand_share for r in self.regions) > 0, f"{where}.regions", "demand shares sum to 0"
        )
        _require(
            self.speeds[-1].spill_share == 0,
            f"{where}: speed {self.speeds[-1].name!r}.spill_share",
            "the slowest speed has no slower speed to spill into; set it to 0",
        )

    # Derived views -------------------------------------------------------------------------------
    @property
    def stocking_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_vendor)

    @property
    def max_lead_time(self) -> int:
        return max(n.lead_time.max for n in self.stocking_nodes)

    @property
    def backorders(self) -> bool:
        return self.unmet_demand == "backorders"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")
