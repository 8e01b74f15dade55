"""A hypothesis strategy for random worlds with every feature the simulator has, for differential tests.

Supply trees of one to four stocking levels (some nodes straight from the vendor), one to four products,
one to three regions and speeds, fixed and random lead times in either mode, binding and slack storage and
inbound capacities, cut-offs and spill-down, lost sales or backorders, every demand distribution with
seasonality, region correlation, a trend (demand the kernel is given) or a replayed trace.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from envs.scenario import Demand, LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed, UnservableDemandWarning

KINDS = ("distribution_center", "fulfillment_center", "same_day_site", "same_day_site")
TRACE_DIRECTORY = Path(tempfile.mkdtemp(prefix="echelon-traces-"))
costs = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.75, 3.0])


@st.composite
def lead_times(draw, longest: int = 4):
    periods = draw(st.lists(st.integers(1, longest), min_size=1, max_size=3, unique=True))
    weights = draw(st.lists(st.integers(1, 5), min_size=len(periods), max_size=len(periods)))
    return LeadTime(tuple(periods), tuple(w / sum(weights) for w in weights))


@st.composite
def demands(draw, products: int, regions: int, speeds: tuple[Speed, ...]) -> Demand:
    kind = draw(st.sampled_from(["table", "table", "table", "trend", "trace"]))
    if kind == "trace":
        rows = draw(st.integers(1, 5))
        path = TRACE_DIRECTORY / f"trace-{draw(st.integers(0, 10**9))}.csv"
        lines = ["period,product,region,speed,quantity"]
        for _ in range(draw(st.integers(1, 12))):
            lines.append(f"{draw(st.integers(0, rows - 1))},p{draw(st.integers(0, products - 1))},"
                         f"r{draw(st.integers(0, regions - 1))},{draw(st.sampled_from(speeds)).name},"
                         f"{draw(st.integers(0, 9))}")
        path.write_text("\n".join(lines) + "\n")
        return Demand(trace=str(path))
    return Demand(
        distribution=draw(st.sampled_from(["poisson", "negative_binomial", "normal"])),
        dispersion=draw(st.sampled_from([0.5, 4.0])),
        cv=draw(st.sampled_from([0.2, 1.0])),
        seasonality=tuple(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5]), min_size=1, max_size=3))),
        trend=draw(st.sampled_from([-0.05, 0.02])) if kind == "trend" else 0.0,
        region_correlation=draw(st.sampled_from([0.0, 0.3, 0.9])),
    )


@st.composite
def worlds(draw) -> Scenario:
    """A random valid scenario (see the module docstring)."""

    def capacity(choices):
        return math.inf if draw(st.booleans()) else float(draw(st.sampled_from(choices)))

    nodes = [Node("vendor", "vendor")]
    levels = [["vendor"]]
    for level in range(draw(st.integers(1, 4))):
        names = []
        for i in range(draw(st.integers(1, 2))):
            supplier = draw(st.sampled_from(levels[-1] if level else ["vendor"]))
            if level and draw(st.integers(0, 4)) == 0:
                supplier = "vendor"  # a node supplied straight by the vendor below the top level
            name = f"n{level}{i}"
            nodes.append(Node(
                name, KINDS[level], supplier=supplier, lead_time=draw(lead_times()),
                holding_cost_factor=draw(costs), transport_cost=draw(costs),
                storage_capacity=capacity([0.5, 3.0, 12.0]), overflow_cost=draw(costs),
                inbound_capacity=capacity([1, 2.5, 6, 20]),
            ))
            names.append(name)
        levels.append(names)
    stocking = [node.name for node in nodes[1:]]
    products = tuple(
        Product(f"p{i}", draw(st.sampled_from([0.0, 0.3, 2.0, 7.0])), volume=draw(st.sampled_from([0.3, 1.0, 2.5])),
                unit_cost=draw(costs), holding_cost=draw(costs), penalty_scale=draw(st.sampled_from([0.5, 1.0, 2.0])))
        for i in range(draw(st.integers(1, 4)))
    )
    speed_count = draw(st.integers(1, 3))
    speeds = tuple(
        Speed(f"s{s}", s, draw(st.sampled_from([1.0, 4.0, 9.0])), demand_share=draw(st.sampled_from([0.5, 1.0])),
              cutoff_share=draw(st.sampled_from([0.0, 0.3, 1.0])),
              spill_share=0.0 if s == speed_count - 1 else draw(st.sampled_from([0.0, 0.5, 1.0])))
        for s in range(speed_count)
    )
    regions = []
    for r in range(draw(st.integers(1, 3))):
        linked = draw(st.lists(st.sampled_from(stocking), min_size=1, max_size=4, unique=True))
        links = tuple(ServiceLink(name, 0 if r == k == 0 else draw(st.integers(0, 2)), draw(costs))
                      for k, name in enumerate(linked))  # region 0 can always be served, so it compiles
        regions.append(Region(f"r{r}", draw(st.sampled_from([0.5, 1.0])), links))
    with warnings.catch_warnings():  # random links leave some streams unservable, on purpose
        warnings.simplefilter("ignore", UnservableDemandWarning)
        return Scenario(
            name="world",
            nodes=tuple(nodes),
            products=products,
            regions=tuple(regions),
            speeds=speeds,
            demand=draw(demands(len(products), len(regions), speeds)),
            unmet_demand=draw(st.sampled_from(["lost_sales", "backorders"])),
            lead_time_mode=draw(st.sampled_from(["independent", "sequential"])),
            fulfillment=draw(st.sampled_from(["greedy", "fastest"])),
            warmup_periods=draw(st.integers(0, 4)),
        )


def episode_keys(draw, count: int) -> np.ndarray:
    return np.array(draw(st.lists(st.integers(0, 2**64 - 1), min_size=count, max_size=count)), dtype=np.uint64)
