"""Fulfillment policies: which nodes serve an order stream, in which order.

A policy is a function ``(scenario, speed_index, late, region_index) -> tuple[(node name, shipping cost)]``
returning the eligible nodes (transit within the promise, plus one period of slack for orders placed
after the cut-off) in the order they are drawn from. The simulator then serves each stream greedily
from on-hand stock along that list, speeds fastest first. Register your own with
:func:`register_fulfillment_policy`; a scenario names its policy in ``Scenario.fulfillment``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from envs.scenario.errors import ScenarioError

if TYPE_CHECKING:  # annotations only: the scenario types check their policy name against this registry
    from envs.scenario.types import Scenario, ServiceLink

FulfillmentPolicy = Callable[["Scenario", int, bool, int], tuple[tuple[str, float], ...]]


def eligible_links(scenario: Scenario, speed_index: int, late: bool, region_index: int) -> list[ServiceLink]:
    """Links of a region whose transit meets the speed's promise (one more period if ``late``)."""
    slack = scenario.speeds[speed_index].promise + (1 if late else 0)
    return [link for link in scenario.regions[region_index].links if link.transit <= slack]


def greedy(scenario: Scenario, speed_index: int, late: bool, region_index: int) -> tuple[tuple[str, float], ...]:
    """Cheapest shipping first (ties: shorter transit, then listing order)."""
    links = eligible_links(scenario, speed_index, late, region_index)
    ranked = sorted(enumerate(links), key=lambda il: (il[1].shipping_cost, il[1].transit, il[0]))
    return tuple((link.node, link.shipping_cost) for _, link in ranked)


def fastest(scenario: Scenario, speed_index: int, late: bool, region_index: int) -> tuple[tuple[str, float], ...]:
    """Shortest transit first (ties: cheaper shipping, then listing order)."""
    links = eligible_links(scenario, speed_index, late, region_index)
    ranked = sorted(enumerate(links), key=lambda il: (il[1].transit, il[1].shipping_cost, il[0]))
    return tuple((link.node, link.shipping_cost) for _, link in ranked)


FULFILLMENT_POLICIES: dict[str, FulfillmentPolicy] = {"greedy": greedy, "fastest": fastest}


def register_fulfillment_policy(name: str, policy: FulfillmentPolicy) -> None:
    """Make ``policy`` selectable as ``Scenario.fulfillment = name``."""
    if name in FULFILLMENT_POLICIES:
        raise ValueError(f"fulfillment policy {name!r} is already registered")
    FULFILLMENT_POLICIES[name] = policy


def get_fulfillment_policy(name: str) -> FulfillmentPolicy:
    if name not in FULFILLMENT_POLICIES:
        raise ScenarioError(
            f"scenario.fulfillment: unknown policy {name!r}; registered policies are {sorted(FULFILLMENT_POLICIES)}"
        )
    return FULFILLMENT_POLICIES[name]


def unserved_streams(scenario: Scenario) -> list[tuple[int, int]]:
    """(region, speed) indices of the streams none of whose orders a node can serve under the scenario's policy: no
    node within the promise, nor (when a share of orders comes after the cut-off) within one period more."""
    policy = get_fulfillment_policy(scenario.fulfillment)
    return [
        (r, s)
        for r in range(len(scenario.regions))
        for s, speed in enumerate(scenario.speeds)
        if not any(policy(scenario, s, late, r) for late in ((False, True) if speed.cutoff_share > 0 else (False,)))
    ]


def first_choice_nodes(scenario: Scenario) -> np.ndarray:
    """(R, S) stocking-node index each (region, speed) stream asks first under the scenario's policy: the head of
    its on-time orders' list, else of its late orders' list; -1 when no node can serve the stream."""
    policy = get_fulfillment_policy(scenario.fulfillment)
    index = {node.name: n for n, node in enumerate(scenario.stocking_nodes)}
    first = np.full((len(scenario.regions), len(scenario.speeds)), -1, dtype=np.int64)
    for s in range(len(scenario.speeds)):
        for r in range(len(scenario.regions)):
            for late in (False, True):
                members = policy(scenario, s, late, r)
                if members:
                    first[r, s] = index[members[0][0]]
                    break
    return first
