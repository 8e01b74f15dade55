"""Expected demand per period of every stream and of every stocking node, from the scenario alone.

A stream is one (region, speed, product). Its base mean spreads a product's mean demand over regions and
speeds by their demand shares (before seasonality and trend). A node's flow is the demand of the streams
that ask it first, plus what its subtree draws through it; it sizes capacities, action scales and the
warm-up orders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from envs.scenario.fulfillment import first_choice_nodes
from envs.scenario.tree import SupplyTree

if TYPE_CHECKING:  # annotations only: the scenario types use this module to check a scenario
    from envs.scenario.types import Scenario


def base_mean(scenario: Scenario) -> np.ndarray:
    """(R, S, P) mean demand per period of every stream before seasonality and trend."""
    region_share = np.array([r.demand_share for r in scenario.regions])
    speed_share = np.array([s.demand_share for s in scenario.speeds])
    product_mean = scenario.products.mean_demand
    return (
        (region_share / region_share.sum())[:, None, None]
        * (speed_share / speed_share.sum())[None, :, None]
        * product_mean[None, None, :]
    )


def node_flow(scenario: Scenario) -> np.ndarray:
    """(N, P) expected demand per period served through each stocking node.

    A stream counts at the node it asks first; a stream no node can serve within its promise counts where
    the next slower speed of its region is asked first (its orders spill there).
    """
    mean = base_mean(scenario)
    first = first_choice_nodes(scenario)
    n_regions, n_speeds = first.shape
    flow = np.zeros((len(scenario.stocking_nodes), len(scenario.products)))
    for s in range(n_speeds):
        for r in range(n_regions):
            target = first[r, s]
            if target < 0 and s + 1 < n_speeds:
                target = first[r, s + 1]
            if target >= 0:
                flow[target] += mean[r, s]
    return SupplyTree.of(scenario).subtree_totals(flow)
