"""One period's outcome per replica as a row of numbers, and the env's ``info`` dict built from it.

Both simulator paths fill the same (B, K) **outcome matrix**: the reference from a
:class:`~envs.dynamics.StepOutcome` (:func:`outcome_matrix`), the compiled kernel directly. Columns, in
order: the cost parts :data:`COST_PARTS`; for each group of :data:`SPEED_GROUPS` one column per speed; for
each group of :data:`NODE_GROUPS` one column per stocking node. ``info`` reports every group but
``new_orders``, ``storage_used`` and ``received``; its values are views of (vector env) or floats from
(single env) the matrix, so building it costs no arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.dynamics import StepOutcome
from envs.params import EnvParams

COST_PARTS = ("total", "holding", "purchase", "transport", "shipping", "overflow")
SPEED_GROUPS = ("penalty", "fill_rate", "requested", "served", "lost", "new_orders")
NODE_GROUPS = ("storage_use", "inbound_use", "storage_used", "received")
INFO_SPEED_GROUPS = ("fill_rate", "requested", "served", "lost")
INFO_NODE_GROUPS = ("storage_use", "inbound_use")


def speed_column(group: str, speed: int, num_speeds: int) -> int:
    return len(COST_PARTS) + SPEED_GROUPS.index(group) * num_speeds + speed


def node_column(group: str, node: int, num_speeds: int, num_nodes: int) -> int:
    return len(COST_PARTS) + len(SPEED_GROUPS) * num_speeds + NODE_GROUPS.index(group) * num_nodes + node


def num_columns(num_speeds: int, num_nodes: int) -> int:
    return len(COST_PARTS) + len(SPEED_GROUPS) * num_speeds + len(NODE_GROUPS) * num_nodes


@dataclass(frozen=True)
class InfoLayout:
    """Where each ``info[group][name]`` sits in the outcome matrix."""

    groups: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    num_columns: int

    @classmethod
    def of(cls, params: EnvParams) -> InfoLayout:
        speeds, nodes = params.speed_names, params.node_names
        s, n = params.num_speeds, params.num_nodes
        cost = tuple((part, k) for k, part in enumerate(COST_PARTS)) + tuple(
            (f"penalty_{name}", speed_column("penalty", i, s)) for i, name in enumerate(speeds)
        )
        by_speed = tuple(
            (group, tuple((name, speed_column(group, i, s)) for i, name in enumerate(speeds)))
            for group in INFO_SPEED_GROUPS
        )
        by_node = tuple(
            (group, tuple((name, node_column(group, i, s, n)) for i, name in enumerate(nodes)))
            for group in INFO_NODE_GROUPS
        )
        return cls((("cost", cost),) + by_speed + by_node, num_columns(s, n))

    def batch(self, matrix: np.ndarray) -> dict:
        """``info`` of a batch: every value a (B,) view of ``matrix``."""
        return {group: {name: matrix[:, k] for name, k in columns} for group, columns in self.groups}

    def row(self, matrix: np.ndarray, index: int = 0) -> dict:
        """``info`` of one replica as plain floats."""
        values = matrix[index].tolist()
        return {group: {name: values[k] for name, k in columns} for group, columns in self.groups}


def outcome_matrix(outcome: StepOutcome, params: EnvParams) -> np.ndarray:
    """The reference outcome matrix (B, K) of a :class:`StepOutcome`."""
    s, n = params.num_speeds, params.num_nodes
    finite_storage = np.isfinite(params.storage_capacity)
    finite_inbound = np.isfinite(params.inbound_capacity)
    storage = np.where(finite_storage, outcome.storage_used / np.where(finite_storage, params.storage_capacity, 1), 0)
    inbound = np.where(finite_inbound, outcome.received / np.where(finite_inbound, params.inbound_capacity, 1), 0)
    fill = np.where(outcome.requested > 0, outcome.served / np.maximum(outcome.requested, 1e-12), 1.0)
    matrix = np.empty((outcome.holding_cost.shape[0], num_columns(s, n)))
    parts = (outcome.total_cost, outcome.holding_cost, outcome.purchase_cost, outcome.transport_cost,
             outcome.shipping_cost, outcome.overflow_cost)
    for k, value in enumerate(parts):
        matrix[:, k] = value
    by_speed = (outcome.penalty_cost, fill, outcome.requested, outcome.served, outcome.lost, outcome.new_orders)
    for group, value in zip(SPEED_GROUPS, by_speed, strict=True):
        start = speed_column(group, 0, s)
        matrix[:, start : start + s] = value
    for group, value in zip(NODE_GROUPS, (storage, inbound, outcome.storage_used, outcome.received), strict=True):
        start = node_column(group, 0, s, n)
        matrix[:, start : start + n] = value
    return matrix
