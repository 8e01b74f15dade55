"""Seeded generator of layered retail networks (the ``network`` and ``network-large`` scenarios).

Regions sit on a ring; fulfillment centers are spread around it and reach nearby regions in one day,
farther ones in two or three; same-day sites sit in some regions and are supplied by the nearest
fulfillment center; one distribution center, fed by an uncertain vendor lead time, supplies every
fulfillment center. Product catalogs mix fast and slow movers and small and bulky items (or are given: e.g. a
long-tailed one of :mod:`envs.scenario.synthetic_catalog`, of any size). Capacities
are set from the demand each node is expected to carry so that storage binds at fulfillment centers
and same-day sites, and inbound throughput binds at the distribution center.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from envs.scenario.catalog import Catalog
from envs.scenario.flows import node_flow
from envs.scenario.types import Demand, LeadTime, Node, Region, Scenario, ServiceLink, Speed

WEEKLY_PATTERN = (0.92, 0.95, 0.97, 1.0, 1.06, 1.15, 0.95)
SPEEDS = (
    Speed("same_day", promise=0, penalty=6.0, demand_share=0.15, cutoff_share=0.3, spill_share=0.6),
    Speed("one_day", promise=1, penalty=4.0, demand_share=0.35, cutoff_share=0.25, spill_share=0.5),
    Speed("two_day", promise=2, penalty=3.0, demand_share=0.50, cutoff_share=0.2, spill_share=0.0),
)


def _ring_distance(a: float, b: float, size: int) -> float:
    d = abs(a - b) % size
    return min(d, size - d)


CATALOG_DRAWS = 3
"""Normal draws per product of the drawn catalog (velocity, volume, value)."""


def _catalog(rng: np.random.Generator, num_products: int) -> Catalog:
    mean_demand = np.round(np.exp(rng.normal(math.log(8.0), 1.0, num_products)), 2).clip(0.2, 200.0)
    volume = np.round(np.exp(rng.normal(0.0, 0.8, num_products)), 3).clip(0.05, 20.0)
    value = np.round(np.exp(rng.normal(math.log(25.0), 0.7, num_products)), 2).tolist()
    # Purchase cost is left at zero: the unmet-demand penalty stands for lost margin plus goodwill (the
    # textbook lost-sales convention, Zipkin 2008), so policy differences are not swamped by a constant.
    # Python's round (correctly rounded), as the generator has always used, not numpy's.
    return Catalog(
        name=[f"sku{i:0{len(str(num_products - 1))}d}" for i in range(num_products)],
        mean_demand=mean_demand,
        volume=volume,
        unit_cost=np.zeros(num_products),
        holding_cost=[round(v * 0.004, 4) for v in value],
        penalty_scale=[round(0.5 + v / 50.0, 3) for v in value],
    )


def network_scenario(
    name: str = "network",
    num_products: int = 20,
    num_fulfillment_centers: int = 4,
    num_same_day_sites: int = 2,
    num_regions: int = 6,
    seed: int = 0,
    storage_tightness: float = 0.75,
    inbound_tightness: float = 1.15,
    products: Catalog | None = None,
) -> Scenario:
    """Build a seeded network scenario; the same arguments always give the same scenario.

    ``storage_tightness`` scales storage caps relative to the stock a base-stock policy is expected to
    hold (below 1 binds); ``inbound_tightness`` scales the distribution center's inbound cap relative to
    the mean daily flow through it. ``products``, when given, is the catalog instead of a drawn one
    (``num_products`` is then its length); the rest of the world is drawn as with a drawn catalog of that length.
    """
    rng = np.random.default_rng(seed)
    if products is None:
        products = _catalog(rng, num_products)
    else:
        num_products = len(products)
        rng.standard_normal(CATALOG_DRAWS * num_products)  # the draws of a drawn catalog: the same regions
    region_share = 1.0 + 0.5 * rng.random(num_regions)
    region_share = np.round(region_share / region_share.sum(), 4)
    fc_positions = [f * num_regions / num_fulfillment_centers for f in range(num_fulfillment_centers)]
    ssd_homes = [round(s * num_regions / max(num_same_day_sites, 1)) % num_regions for s in range(num_same_day_sites)]
    ssd_parents = [int(np.argmin([_ring_distance(p, home, num_regions) for p in fc_positions])) for home in ssd_homes]
    regions = tuple(
        Region(f"region{r}", float(region_share[r]), _service_links(r, num_regions, fc_positions, ssd_homes))
        for r in range(num_regions)
    )
    seasonality = tuple(round(x / np.mean(WEEKLY_PATTERN), 4) for x in WEEKLY_PATTERN)
    draft = Scenario(
        name=name,
        nodes=_nodes(num_fulfillment_centers, ssd_parents),
        products=products,
        regions=regions,
        speeds=SPEEDS,
        demand=Demand("negative_binomial", dispersion=5.0, seasonality=seasonality, region_correlation=0.2),
        unmet_demand="lost_sales",
        lead_time_mode="independent",
        warmup_periods=14,
        description=(
            f"Vendor -> 1 distribution center -> {num_fulfillment_centers} fulfillment centers -> "
            f"{num_same_day_sites} same-day sites; {num_regions} regions, 3 delivery speeds, "
            f"{num_products} products (generator seed {seed})."
        ),
    )
    return _with_capacities(draft, storage_tightness, inbound_tightness)


def _service_links(region: int, num_regions: int, fc_positions: list[float],
                   ssd_homes: list[int]) -> tuple[ServiceLink, ...]:
    """The nodes that may ship to ``region``, by name: every fulfillment center (transit 1 near it, 2 or 3
    farther), and the same-day sites within one region of their home (transit 0 at home, else 1)."""
    links = []
    for f, position in enumerate(fc_positions):
        d = _ring_distance(position, region, num_regions)
        transit = 1 if d < 1 else (2 if d <= num_regions / 4 + 0.5 else 3)
        links.append(ServiceLink(f"fc{f}", transit, round(0.3 + 0.25 * transit, 3)))
    for s, home in enumerate(ssd_homes):
        d = _ring_distance(home, region, num_regions)
        if d <= 1:
            transit = 0 if d < 1 else 1
            # Same-day couriers cost more than parcel shipping from a fulfillment center.
            links.append(ServiceLink(f"ssd{s}", transit, round(0.9 + 0.25 * transit, 3)))
    return tuple(sorted(links, key=lambda x: x.node))


def _nodes(num_fulfillment_centers: int, ssd_parents: list[int]) -> tuple[Node, ...]:
    """Vendor, one distribution center, the fulfillment centers and the same-day sites (uncapped drafts)."""
    nodes = [
        Node("vendor", "vendor"),
        Node(
            "dc",
            "distribution_center",
            supplier="vendor",
            lead_time=LeadTime((3, 4, 5, 6), (0.2, 0.45, 0.25, 0.1)),
            holding_cost_factor=0.6,
            transport_cost=0.05,
        ),
    ]
    for f in range(num_fulfillment_centers):
        nodes.append(
            Node(
                f"fc{f}",
                "fulfillment_center",
                supplier="dc",
                lead_time=LeadTime((1, 2), (0.85, 0.15)),
                holding_cost_factor=1.0,
                transport_cost=0.08,
                overflow_cost=0.5,
            )
        )
    for s, parent in enumerate(ssd_parents):
        nodes.append(
            Node(
                f"ssd{s}",
                "same_day_site",
                supplier=f"fc{parent}",
                lead_time=LeadTime.fixed(1),
                holding_cost_factor=1.5,
                transport_cost=0.1,
                overflow_cost=1.0,
            )
        )
    return tuple(nodes)


def _with_capacities(draft: Scenario, storage_tightness: float, inbound_tightness: float) -> Scenario:
    """Set storage caps at fulfillment centers and same-day sites to ``storage_tightness`` times the volume
    a base-stock policy would hold there (safety stock at 1.3 standard deviations of negative-binomial
    demand over lead time + 1, plus half a period's flow), and the distribution center's inbound cap to
    ``inbound_tightness`` times its mean daily inflow."""
    flows = node_flow(draft)
    volume = draft.products.volume
    k = draft.product_dispersion
    nodes = []
    for node, flow in zip(draft.stocking_nodes, flows, strict=True):
        if node.kind == "distribution_center":
            node = replace(node, inbound_capacity=float(math.ceil(inbound_tightness * flow.sum())))
        else:
            horizon = node.lead_time.mean + 1.0
            sd = np.sqrt(horizon * (flow + flow**2 / k))
            stock = float(np.sum(volume * (1.3 * sd + 0.5 * flow)))
            node = replace(node, storage_capacity=round(storage_tightness * stock, 1))
        nodes.append(node)
    return replace(draft, nodes=(draft.nodes[0], *nodes))
