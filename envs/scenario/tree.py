"""The supply tree of the stocking nodes: who supplies whom, subtrees, depth, echelon vs local levels, lead times.

Nodes are indexed as in :attr:`Scenario.stocking_nodes <envs.scenario.types.Scenario.stocking_nodes>`, where
every supplier comes before the nodes it supplies, so reversed index order visits children before parents.
A node supplied by a vendor has supplier -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the scenario types use this module to check a scenario
    from envs.scenario.types import Scenario



@dataclass(frozen=True, eq=False)
class SupplyTree:
    """The tree formed by each stocking node's supplier (``supplier[n]``, -1 for a vendor)."""

    supplier: np.ndarray  # (N,) int

    @classmethod
    def of(cls, scenario: Scenario) -> SupplyTree:
        """The supply tree of a scenario's stocking nodes."""
        index = {node.name: n for n, node in enumerate(scenario.stocking_nodes)}
        return cls(np.array([index.get(node.supplier, -1) for node in scenario.stocking_nodes], dtype=np.int64))

    @property
    def num_nodes(self) -> int:
        return len(self.supplier)

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        """Per node, the nodes it supplies (in index order)."""
        return children_of(self.supplier)

    def postorder(self) -> list[int]:
        """Every node after all of its descendants (reversed index order)."""
        return list(reversed(range(self.num_nodes)))

    @cached_property
    def is_leaf(self) -> np.ndarray:
        """(N,) True for nodes that supply no other stocking node."""
        return np.array([not kids for kids in self.children], dtype=bool)

    @property
    def is_serial(self) -> bool:
        """Whether every node supplies at most one other (a chain, or several separate chains)."""
        return all(len(kids) <= 1 for kids in self.children)

    @cached_property
    def depth(self) -> np.ndarray:
        """(N,) echelon of every node: 1 when a vendor supplies it, 2 when an echelon-1 node does, ..."""
        depth = np.zeros(self.num_nodes, dtype=int)
        for n in range(self.num_nodes):
            parent, depth[n] = self.supplier[n], 1
            while parent >= 0:
                depth[n] += 1
                parent = self.supplier[parent]
        return depth

    @cached_property
    def subtree_matrix(self) -> np.ndarray:
        """(N, N) with entry [n, m] = 1 when node m is n or one of its descendants."""
        matrix = np.eye(self.num_nodes)
        for m in range(self.num_nodes):
            parent = self.supplier[m]
            while parent >= 0:
                matrix[parent, m] = 1.0
                parent = self.supplier[parent]
        return matrix

    def subtree_totals(self, values: np.ndarray) -> np.ndarray:
        """``values`` (N, ...) summed over each node's subtree (the node and all its descendants)."""
        totals = np.array(values, dtype=float)
        for n in self.postorder():
            if self.supplier[n] >= 0:
                totals[self.supplier[n]] += totals[n]
        return totals

    def local_levels(self, echelon_levels: np.ndarray) -> np.ndarray:
        """Local levels s_n = S_n - sum of the children's echelon levels S_c (N, ...)."""
        local = np.asarray(echelon_levels, dtype=float).copy()
        for n, parent in enumerate(self.supplier):
            if parent >= 0:
                local[parent] -= echelon_levels[n]
        return local

    def supplier_values(self, values: np.ndarray) -> np.ndarray:
        """``values`` (N, P) of each node's stocking supplier; 0 where a vendor supplies the node."""
        return np.where(self.supplier[:, None] >= 0, values[np.maximum(self.supplier, 0)], 0.0)


def children_of(supplier: np.ndarray | list[int]) -> tuple[tuple[int, ...], ...]:
    """Per node, the indices of the nodes whose supplier it is (``supplier[n]`` = -1: none)."""
    children: list[list[int]] = [[] for _ in supplier]
    for n, parent in enumerate(supplier):
        if parent >= 0:
            children[parent].append(n)
    return tuple(tuple(kids) for kids in children)


def lead_time_mean(scenario: Scenario) -> np.ndarray:
    """(N,) mean lead time of every stocking node from its supplier."""
    return np.array([node.lead_time.mean for node in scenario.stocking_nodes])


def lead_time_var(scenario: Scenario) -> np.ndarray:
    """(N,) variance of every stocking node's lead time from its supplier."""
    return np.array([sum(q * (lead - node.lead_time.mean) ** 2 for lead, q in node.lead_time.pmf.items())
                     for node in scenario.stocking_nodes])
