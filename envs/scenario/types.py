"""Frozen, validated dataclasses that describe one supply-chain world.

A scenario is plain data: nodes (vendors, distribution centers, fulfillment centers, same-day sites)
forming a supply tree, products, customer regions, delivery speeds and the demand model. Every
invariant is checked in ``__post_init__`` so that an invalid scenario fails where it is built (from
Python or YAML), with a message that names the field and the fix. Derived values are properties.

Numbers are bounded (:mod:`envs.scenario.limits`), so that no finite but absurd value loads into wrong numbers or
takes minutes and gigabytes; each class states the limits of its fields. A scenario with demand no node can
serve loads with an :class:`~envs.scenario.errors.UnservableDemandWarning` that names it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from envs.scenario import limits
from envs.scenario.catalog import Catalog
from envs.scenario.errors import ScenarioError, UnservableDemandWarning
from envs.scenario.fulfillment import FULFILLMENT_POLICIES, unserved_streams

NodeKind = Literal["vendor", "distribution_center", "fulfillment_center", "same_day_site"]
NODE_KINDS: tuple[str, ...] = ("vendor", "distribution_center", "fulfillment_center", "same_day_site")
UNMET_DEMAND = ("lost_sales", "backorders")
LEAD_TIME_MODES = ("independent", "sequential")
DISTRIBUTIONS = ("poisson", "negative_binomial", "normal")


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise ScenarioError(f"{where}: {message}")


COST_FIX, FACTOR_FIX, SHARE_FIX = limits.COST_FIX, limits.FACTOR_FIX, limits.SHARE_FIX


def _is_number(value: object) -> bool:
    """An int or a float; not a bool (YAML's yes/no/true/false), not text."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_non_negative(value: float, where: str, limit: float = math.inf, unit: str = "", fix: str = "") -> None:
    _require(
        _is_number(value) and math.isfinite(value) and value >= 0,
        where,
        f"must be a finite number >= 0, got {value!r}",
    )
    limits.check_range(value, where, 0.0, limit, unit, fix)


def _cost(value: float, where: str) -> None:
    _finite_non_negative(value, where, limits.MAX_COST, "per unit", COST_FIX)


def _positive_or_inf(value: float, where: str, least: float, unit: str, fix: str) -> None:
    _require(
        _is_number(value) and not math.isnan(value) and value > 0,
        where,
        f"must be > 0 (use .inf for no limit), got {value!r}",
    )
    limits.check_range(value, where, least, math.inf, unit, fix)


def _plain_numbers(item: object) -> None:
    """Store numpy values of ``item``'s fields (``np.int64(3)``, ``np.float32(0.5)``, arrays) as Python numbers, tuples
    and lists, so that they are checked, compared and written to YAML like any other."""
    for f in fields(item):
        value = getattr(item, f.name)
        if isinstance(value, (np.generic, np.ndarray)):
            object.__setattr__(item, f.name, value.tolist())
        elif isinstance(value, (tuple, list)) and any(isinstance(v, np.generic) for v in value):
            object.__setattr__(item, f.name, type(value)(v.item() if isinstance(v, np.generic) else v for v in value))


def _text(value: object, where: str, optional: bool = False) -> None:
    _require(
        isinstance(value, str) or (optional and value is None),
        where,
        f"must be a name (text; quote names that look like numbers), got {value!r}",
    )


def _as_tuple(value: object, where: str, what: str) -> tuple:
    """``value`` as a tuple; a :class:`ScenarioError` when it is not a list or tuple of ``what``."""
    _require(isinstance(value, (tuple, list)), where, f"expected a list of {what}, got {value!r}")
    return tuple(value)


def _unique_names(items: tuple, where: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        _require(isinstance(item.name, str) and item.name != "", f"{where}[{i}].name",
                 f"must be a non-empty string (quote names that look like numbers), got {item.name!r}")
        _require(item.name not in seen, f"{where}[{i}].name", f"duplicate name {item.name!r}; names must be unique")
        seen.add(item.name)


@dataclass(frozen=True)
class LeadTime:
    """Lead time of one supply arc: a pmf over whole periods in [1, 100] (``MAX_LEAD_TIME``), drawn once per order."""

    periods: tuple[int, ...]
    probabilities: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        _plain_numbers(self)
        where = "lead_time"
        object.__setattr__(self, "periods", _as_tuple(self.periods, where, "whole periods"))
        probabilities = _as_tuple(self.probabilities, where, "probabilities")
        for prob in probabilities:
            _require(_is_number(prob), where, f"probabilities must be numbers, got {prob!r}")
        object.__setattr__(self, "probabilities", tuple(float(p) for p in probabilities))
        _require(len(self.periods) >= 1, where, "needs at least one period value")
        _require(
            len(self.periods) == len(self.probabilities),
            where,
            f"{len(self.periods)} periods but {len(self.probabilities)} probabilities; give one probability each",
        )
        for value in self.periods:
            _require(
                _is_whole(value) and value >= 1,
                where,
                f"periods must be whole numbers >= 1 (an order arrives at the earliest in the next period), "
                f"got {value!r}",
            )
            limits.check_range(value, where, 1, limits.MAX_LEAD_TIME, "periods (the simulator counts them in int8)",
                               "use longer periods (e.g. weeks instead of days)")
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

    Limits (:mod:`envs.scenario.limits`): costs at most 1e6 per unit (``MAX_COST``), ``holding_cost_factor`` at
    most 1e3 (``MAX_COST_FACTOR``); a finite ``storage_capacity`` at least 1e-6 (``MIN_STORAGE_CAPACITY``) and a
    finite ``inbound_capacity`` at least 1 unit per period (``MIN_INBOUND_CAPACITY``; it is rounded down to whole
    units, so a smaller one would receive nothing).
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
        _plain_numbers(self)
        where = f"node {self.name!r}"
        _require(self.kind in NODE_KINDS, f"{where}.kind", f"{self.kind!r} is not one of {NODE_KINDS}")
        _text(self.supplier, f"{where}.supplier", optional=True)
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
        _finite_non_negative(self.holding_cost_factor, f"{where}.holding_cost_factor", limits.MAX_COST_FACTOR, "",
                             FACTOR_FIX)
        _cost(self.transport_cost, f"{where}.transport_cost")
        _cost(self.overflow_cost, f"{where}.overflow_cost")
        _positive_or_inf(self.storage_capacity, f"{where}.storage_capacity", limits.MIN_STORAGE_CAPACITY,
                         "(volume)", "measure volume in a smaller unit, or give .inf for no capacity")
        _positive_or_inf(self.inbound_capacity, f"{where}.inbound_capacity", limits.MIN_INBOUND_CAPACITY,
                         "unit per period (it is rounded down to whole units, so less receives nothing)",
                         "give at least 1, or .inf for no capacity")

    @property
    def is_vendor(self) -> bool:
        return self.kind == "vendor"


@dataclass(frozen=True)
class ServiceLink:
    """A node that may ship to a region: transit time in whole periods and cost per unit shipped (at most 1e6,
    ``MAX_COST``)."""

    node: str
    transit: int
    shipping_cost: float = 0.0

    def __post_init__(self) -> None:
        _plain_numbers(self)
        where = f"service link to node {self.node!r}"
        _text(self.node, f"{where}.node")
        _require(
            _is_whole(self.transit) and self.transit >= 0,
            f"{where}.transit",
            f"must be a whole number of periods >= 0, got {self.transit!r}",
        )
        _cost(self.shipping_cost, f"{where}.shipping_cost")


@dataclass(frozen=True)
class Region:
    """A customer region: its share of each product's demand (a relative weight, at most 1e9, ``MAX_SHARE``) and the
    nodes that may serve it."""

    name: str
    demand_share: float
    links: tuple[ServiceLink, ...]

    def __post_init__(self) -> None:
        _plain_numbers(self)
        where = f"region {self.name!r}"
        object.__setattr__(self, "links", _as_tuple(self.links, f"{where}.links", "service links"))
        for i, link in enumerate(self.links):
            _require(isinstance(link, ServiceLink), f"{where}.links[{i}]", f"must be a ServiceLink, got {link!r}")
        _finite_non_negative(self.demand_share, f"{where}.demand_share", limits.MAX_SHARE, "", SHARE_FIX)
        nodes = [link.node for link in self.links]
        _require(len(set(nodes)) == len(nodes), f"{where}.links", f"node listed twice in {nodes}")


@dataclass(frozen=True)
class Speed:
    """A delivery speed customers choose (same-day, one-day, ...).

    ``promise``: periods from order to delivery; a node is eligible if its transit time is within it.
    ``penalty``: per unit not served (lost sales) or per unit and period waiting (backorders), times the
    product's ``penalty_scale``. ``cutoff_share``: share of orders placed after the day's cut-off, which
    have one more period of slack. ``spill_share``: share of unmet orders that come back, in the same
    period, as orders of the next slower speed; the rest are lost (or backordered). Limits: ``penalty`` at most 1e6
    (``MAX_COST``), ``demand_share`` (a relative weight) at most 1e9 (``MAX_SHARE``).
    """

    name: str
    promise: int
    penalty: float
    demand_share: float = 1.0
    cutoff_share: float = 0.0
    spill_share: float = 0.0

    def __post_init__(self) -> None:
        _plain_numbers(self)
        where = f"speed {self.name!r}"
        _require(
            _is_whole(self.promise) and self.promise >= 0,
            f"{where}.promise",
            f"must be a whole number of periods >= 0, got {self.promise!r}",
        )
        _cost(self.penalty, f"{where}.penalty")
        _finite_non_negative(self.demand_share, f"{where}.demand_share", limits.MAX_SHARE, "", SHARE_FIX)
        for name in ("cutoff_share", "spill_share"):
            value = getattr(self, name)
            _require(
                _is_number(value) and 0 <= value <= 1,
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

    Limits (:mod:`envs.scenario.limits`): seasonal multipliers at most 1e3 (``MAX_SEASONALITY``); ``trend`` at
    most 0.1 per period (``MAX_TREND``); for the negative binomial, ``dispersion`` in [1e-3, 1e6]
    (``MIN_DISPERSION``, ``MAX_DISPERSION``); for the normal, ``cv`` at most 100 (``MAX_CV``). A scenario's demand
    tables (every seasonal phase and stream over its support) or its trace (periods x streams) hold at most 1e8
    entries (``MAX_DEMAND_TABLE``); trace quantities are at most 1e9 units (``MAX_UNITS``).
    """

    distribution: str = "poisson"
    dispersion: float = 1.0
    cv: float = 0.3
    seasonality: tuple[float, ...] = (1.0,)
    trend: float = 0.0
    region_correlation: float = 0.0
    trace: str | None = None

    def __post_init__(self) -> None:
        _plain_numbers(self)
        where = "demand"
        seasonality = _as_tuple(self.seasonality, f"{where}.seasonality", "multipliers (e.g. [0.9, 1.1])")
        for value in seasonality:
            _finite_non_negative(value, f"{where}.seasonality", limits.MAX_SEASONALITY, "",
                                 "raise the products' mean_demand and lower the multipliers instead")
        object.__setattr__(self, "seasonality", tuple(float(x) for x in seasonality))
        _require(
            self.distribution in DISTRIBUTIONS,
            f"{where}.distribution",
            f"{self.distribution!r} is not one of {DISTRIBUTIONS}",
        )
        _require(
            _is_number(self.dispersion) and math.isfinite(self.dispersion) and self.dispersion > 0,
            f"{where}.dispersion",
            f"negative-binomial size k (variance = mean + mean^2/k) must be > 0, got {self.dispersion!r}",
        )
        if self.distribution == "negative_binomial":
            limits.check_range(self.dispersion, f"{where}.dispersion", limits.MIN_DISPERSION, math.inf, "",
                               "a tail that long cannot be tabulated; give a larger dispersion")
            limits.check_range(self.dispersion, f"{where}.dispersion", 0.0, limits.MAX_DISPERSION, "",
                               "use distribution: poisson (the negative binomial's limit as k grows)")
        _require(
            _is_number(self.cv) and math.isfinite(self.cv) and self.cv > 0,
            f"{where}.cv",
            f"the normal's coefficient of variation must be > 0, got {self.cv!r}",
        )
        if self.distribution == "normal":
            limits.check_range(self.cv, f"{where}.cv", 0.0, limits.MAX_CV, "",
                               "use a negative binomial with a small dispersion for demand that variable")
        _require(len(self.seasonality) >= 1, f"{where}.seasonality", "needs at least one multiplier")
        _require(
            _is_number(self.trend) and math.isfinite(self.trend) and self.trend > -1,
            f"{where}.trend",
            f"growth per period must be > -1, got {self.trend!r}",
        )
        limits.check_range(self.trend, f"{where}.trend", -1.0, limits.MAX_TREND, "per period",
                           "faster growth overflows within an episode; replay a demand trace instead")
        _require(
            _is_number(self.region_correlation) and 0 <= self.region_correlation < 1,
            f"{where}.region_correlation",
            f"must lie in [0, 1), got {self.region_correlation!r}",
        )
        _require(
            self.trace is None or (isinstance(self.trace, str) and self.trace != ""),
            f"{where}.trace",
            f"must be the path of a CSV file, got {self.trace!r}",
        )


@dataclass(frozen=True)
class Scenario:
    """A complete world: the supply tree, products, regions, speeds, demand and rules.

    Nodes must be listed so that every supplier comes before the nodes it supplies (vendors first);
    speeds are listed fastest first (strictly increasing promise). ``products`` is a
    :class:`~envs.scenario.catalog.Catalog`; a list or tuple of :class:`Product` is turned into one. A catalog's
    per-product ``dispersion`` or ``cv`` replaces the demand's for each product, and is refused where the demand's
    distribution has no such parameter (or a trace replaces it). Limits (:mod:`envs.scenario.limits`):
    ``warmup_periods`` at most 10,000 (``MAX_WARMUP_PERIODS``). How large a world the simulator holds (its replica
    size and demand tables) is checked where it is simulated (:mod:`envs.sizes`): a planner can plan a scenario too
    large to simulate.
    """

    name: str
    nodes: tuple[Node, ...]
    products: Catalog
    regions: tuple[Region, ...]
    speeds: tuple[Speed, ...]
    demand: Demand = field(default_factory=Demand)
    unmet_demand: str = "lost_sales"
    lead_time_mode: str = "independent"
    fulfillment: str = "greedy"
    warmup_periods: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        _plain_numbers(self)
        where = f"scenario {self.name!r}"
        _text(self.name, f"{where}.name")
        for name in ("nodes", "regions", "speeds"):
            object.__setattr__(self, name, _as_tuple(getattr(self, name), f"{where}.{name}", name))
        for name, kind in (("nodes", Node), ("regions", Region), ("speeds", Speed)):
            for i, item in enumerate(getattr(self, name)):
                _require(isinstance(item, kind), f"{where}.{name}[{i}]", f"must be a {kind.__name__}, got {item!r}")
        _require(isinstance(self.demand, Demand), f"{where}.demand", f"must be a Demand, got {self.demand!r}")
        for name in ("nodes", "regions", "speeds"):
            _require(len(getattr(self, name)) >= 1, f"{where}.{name}", "needs at least one entry")
            _unique_names(getattr(self, name), f"{where}.{name}")
        object.__setattr__(self, "products", Catalog.of(self.products, f"{where}.products"))
        self._check_demand_columns(where)
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
            _is_whole(self.warmup_periods) and self.warmup_periods >= 0,
            f"{where}.warmup_periods",
            f"must be a whole number >= 0, got {self.warmup_periods!r}",
        )
        limits.check_range(self.warmup_periods, f"{where}.warmup_periods", 0, limits.MAX_WARMUP_PERIODS,
                           "periods (simulated at every reset)", "a few lead times are enough to reach a steady state")
        _require(
            isinstance(self.fulfillment, str) and self.fulfillment in FULFILLMENT_POLICIES,
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
        self._warn_unserved(where)

    def _check_demand_columns(self, where: str) -> None:
        """Refuse a catalog's per-product demand parameter that the demand would not use."""
        uses = {"dispersion": "negative_binomial", "cv": "normal"}
        for column, distribution in uses.items():
            if getattr(self.products, column) is None:
                continue
            _require(
                self.demand.trace is None,
                f"{where}.products",
                f"the catalog gives each product a {column}, but the demand replays a trace; drop the {column} column",
            )
            _require(
                self.demand.distribution == distribution,
                f"{where}.products",
                f"the catalog gives each product a {column}, which only the {distribution} distribution uses, but "
                f"the demand's distribution is {self.demand.distribution!r}; set demand.distribution to "
                f"{distribution} or drop the {column} column",
            )

    def _warn_unserved(self, where: str) -> None:
        """Warn about streams with demand that no node can serve (every policy pays their penalty)."""
        if self.demand.trace is None and not (self.products.mean_demand > 0).any():
            return
        found: dict[int, list[str]] = {}
        for r, s in unserved_streams(self):
            if self.regions[r].demand_share > 0 and self.speeds[s].demand_share > 0:
                found.setdefault(r, []).append(repr(self.speeds[s].name))
        if not found:
            return
        named = "; ".join(
            f"region {self.regions[r].name!r} (no links)" if not self.regions[r].links
            else f"region {self.regions[r].name!r} at speed(s) {', '.join(speeds)} (no link within the promise, nor "
                 "one period more after the cut-off)"
            for r, speeds in found.items()
        )
        warnings.warn(
            f"{where}: no node can serve the demand of {named}; every policy pays its unmet-demand penalty (a "
            "spill_share of it moves to the next slower speed); add service links that meet the promise",
            UnservableDemandWarning,
            stacklevel=4,
        )

    # Derived views -------------------------------------------------------------------------------
    @property
    def stocking_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_vendor)

    @property
    def max_lead_time(self) -> int:
        return max(n.lead_time.max for n in self.stocking_nodes)

    @property
    def product_dispersion(self) -> np.ndarray:
        """(P,) negative-binomial size k of each product's demand: the catalog's, else the demand's."""
        given = self.products.dispersion
        return np.full(len(self.products), float(self.demand.dispersion)) if given is None else given

    @property
    def product_cv(self) -> np.ndarray:
        """(P,) coefficient of variation of each product's normal demand: the catalog's, else the demand's."""
        given = self.products.cv
        return np.full(len(self.products), float(self.demand.cv)) if given is None else given

    @property
    def backorders(self) -> bool:
        return self.unmet_demand == "backorders"

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")
