"""The arrays the planner reads, built straight from a scenario (no demand tables, so 10,000 products plan fast).

:func:`envs.params.compile_scenario` also builds the simulator's inverse-cdf demand tables, whose cost grows
with phases x streams (tens of seconds for thousands of products); the planner needs none of them. This
module computes the planner's inputs with the same public definitions (field names as in
:class:`~envs.params.EnvParams`, fulfillment lists from :func:`envs.fulfillment.get_fulfillment_policy`);
``tests/baselines/test_planner_parts.py`` checks that they agree with ``compile_scenario``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.fulfillment import get_fulfillment_policy
from envs.scenario import Scenario


@dataclass(frozen=True, eq=False)
class ScenarioArrays:
    """The subset of EnvParams the planner uses (same names, same meaning)."""

    scenario: Scenario
    supplier_index: np.ndarray
    holding_cost: np.ndarray
    volume: np.ndarray
    storage_capacity: np.ndarray
    inbound_capacity: np.ndarray
    base_mean: np.ndarray
    seasonality: np.ndarray
    dispersion: float
    cv: float
    region_correlation: float
    penalty: np.ndarray
    cutoff_share: np.ndarray
    spill_share: np.ndarray
    arc_groups: tuple  # [2 * speed + late][region] -> ((node, 0), ...) in fulfillment order
    backorders: bool

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


def scenario_arrays(scenario: Scenario) -> ScenarioArrays:
    nodes = scenario.stocking_nodes
    index = {n.name: i for i, n in enumerate(nodes)}
    products = scenario.products
    factor = np.array([n.holding_cost_factor for n in nodes])
    region_share = np.array([r.demand_share for r in scenario.regions])
    speed_share = np.array([s.demand_share for s in scenario.speeds])
    product_mean = np.array([p.mean_demand for p in products])
    base_mean = ((region_share / region_share.sum())[:, None, None] * (speed_share / speed_share.sum())[None, :, None]
                 * product_mean[None, None, :])
    policy = get_fulfillment_policy(scenario.fulfillment)
    groups = tuple(
        tuple(tuple((index[name], 0) for name, _ in policy(scenario, s, late, r)) for r in range(len(scenario.regions)))
        for s in range(len(scenario.speeds)) for late in (False, True)
    )
    return ScenarioArrays(
        scenario=scenario,
        supplier_index=np.array([index.get(n.supplier, -1) for n in nodes], dtype=np.int64),
        holding_cost=factor[:, None] * np.array([p.holding_cost for p in products])[None, :],
        volume=np.array([p.volume for p in products]),
        storage_capacity=np.array([n.storage_capacity for n in nodes], dtype=float),
        inbound_capacity=np.array([n.inbound_capacity for n in nodes], dtype=float),
        base_mean=base_mean,
        seasonality=np.array(scenario.demand.seasonality, dtype=float),
        dispersion=float(scenario.demand.dispersion),
        cv=float(scenario.demand.cv),
        region_correlation=float(scenario.demand.region_correlation),
        penalty=np.array([s.penalty for s in scenario.speeds])[:, None]
        * np.array([p.penalty_scale for p in products])[None, :],
        cutoff_share=np.array([s.cutoff_share for s in scenario.speeds]),
        spill_share=np.array([s.spill_share for s in scenario.speeds]),
        arc_groups=groups,
        backorders=scenario.backorders,
    )
