"""Exact echelon recursion on a supply tree with integer demand: Clark-Scarf on serial paths, balance at splits.

One product, stocking nodes with one supplier each (a tree), customer demand at the leaves, backorders.
On a serial path this is the exact recursion of Clark & Scarf (1960) / Chen & Zheng (1994) (the same as
:func:`baselines.serial.clark_scarf`). Where a node has several children it uses the *balance* (allocation)
relaxation of Eppen & Schrage (1981) and Federgruen & Zipkin (1984): the node's echelon stock x is
allocated to its children to minimize the sum of their cost functions, negative allocations allowed,

    G_C(x) = min { sum_c G_c(y_c) : sum_c y_c = min(x, sum_c S*_c), y_c <= S*_c },

which on the integer lattice is solved exactly by merging the children's (convex) cost increments in
increasing order. Balance makes the recursion a lower bound on the cost of the best echelon policy
(exact for a serial path; tight for identical children and a short upstream lead time). Then as in
Clark-Scarf, for node n with echelon holding cost h_n and demand D_n over its protection interval,

    ghat_n(x) = h_n x + G_C(min(x, sum_c S*_c))      (leaf: ghat_n(x) = h_n x + (p + h'_n) x^-)
    G_n(y) = E[ghat_n(y - D_n)],   S*_n = argmin G_n.

Timing follows the env (:mod:`envs.dynamics`): an order placed in period t arrives at the start of
t + L, so a leaf protects demand over L + 1 periods and an upstream node over its L periods. The env
charges holding on the end-of-period state while ghat_n of an upstream node sees its echelon stock at the
start of the period (when its children order), so one period of the subtree's mean demand times h_n is
subtracted from the cost of every non-leaf node. With these conventions the cost equals the env's
(holding on hand at the node's rate, in transit at the supplier's rate, backorder cost per unit-period).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import signal

from baselines._demand import integer_grid
from envs.scenario.tree import SupplyTree


@dataclass(frozen=True)
class TreeNode:
    """One stocking node: supplier index (-1: a vendor), local holding cost, protection-interval demand.

    ``demand`` is the demand of the node's subtree over its protection interval (L + 1 periods at a leaf,
    L periods upstream) as an integer distribution; ``mean_demand`` the subtree's mean demand per period;
    ``stockout_cost`` the backorder cost per unit and period (leaves only).
    """

    supplier: int
    holding_cost: float
    demand: Any
    mean_demand: float
    stockout_cost: float = 0.0


@dataclass(frozen=True)
class TreeSolution:
    """Echelon levels per node and the expected cost per period (env cost definition)."""

    echelon_levels: np.ndarray
    cost: float


@dataclass
class _Function:
    """A function tabulated on consecutive integers start, start + 1, ..."""

    start: int
    values: np.ndarray


def tree_recursion(nodes: Sequence[TreeNode], levels: Sequence[float] | None = None) -> TreeSolution:
    """Optimal echelon levels and cost (or the cost of given ``levels``) of the tree; see module doc."""
    nodes = list(nodes)
    tree = _supply_tree(nodes)
    children = tree.children
    echelon_holding = np.array(
        [n.holding_cost - (nodes[n.supplier].holding_cost if n.supplier >= 0 else 0.0) for n in nodes]
    )
    margin = _margin(nodes)
    chosen = np.zeros(len(nodes))
    functions: dict[int, _Function] = {}
    for i in tree.postorder():
        node = nodes[i]
        if children[i]:
            allocated = _allocate([functions[c] for c in children[i]], [chosen[c] for c in children[i]])
            start = allocated.start
            x = np.arange(start, start + len(allocated.values))
            expected = echelon_holding[i] * x + allocated.values
            expected = np.concatenate([expected, echelon_holding[i] * (x[-1] + 1 + np.arange(margin))
                                       + allocated.values[-1]])
        else:
            x = np.arange(-margin, margin + 1)
            expected = echelon_holding[i] * x + (node.stockout_cost + node.holding_cost) * np.maximum(-x, 0)
            start = -margin
        low, masses = integer_grid(node.demand)
        values = signal.convolve(expected, masses, mode="valid")
        start = start + len(masses) - 1 + low
        best = int(np.argmin(values)) if levels is None else int(round(levels[i])) - start
        if not 0 < best < len(values) - 1:
            raise RuntimeError(f"node {i}: level outside the lattice; widen the margin")
        chosen[i] = start + best
        functions[i] = _Function(start, values[: best + 1])  # G_n(min(S_n, x)) is flat above S_n
    roots = [i for i, n in enumerate(nodes) if n.supplier < 0]
    cost = sum(float(functions[r].values[-1]) for r in roots)
    cost -= sum(echelon_holding[i] * nodes[i].mean_demand for i in range(len(nodes)) if children[i])
    return TreeSolution(echelon_levels=chosen, cost=cost)


def tree_on_hand(nodes: Sequence[TreeNode], levels: Sequence[float], transit: Sequence[float]) -> np.ndarray:
    """E[on hand] per node at fixed levels: the cost is linear in local holding costs, so raising node n's
    rate by one adds its on-hand plus the stock in transit to its children (``transit[c]`` = mean
    demand x mean lead time of child c)."""
    nodes = list(nodes)
    base = tree_recursion(nodes, levels).cost
    children = _supply_tree(nodes).children
    out = np.zeros(len(nodes))
    for i, node in enumerate(nodes):
        bumped = list(nodes)
        bumped[i] = TreeNode(node.supplier, node.holding_cost + 1.0, node.demand, node.mean_demand,
                             node.stockout_cost)
        out[i] = tree_recursion(bumped, levels).cost - base - sum(transit[c] for c in children[i])
    return out


def _allocate(functions: list[_Function], levels: list[float]) -> _Function:
    """Balance allocation: min sum_c f_c(y_c) over sum_c y_c = x, y_c <= S_c (merged convex increments)."""
    base = sum(float(f.values[0]) for f in functions)
    start = sum(f.start for f in functions)
    increments = np.sort(np.concatenate([np.diff(f.values) for f in functions]))
    return _Function(start, base + np.concatenate(([0.0], np.cumsum(increments))))


def _supply_tree(nodes: list[TreeNode]) -> SupplyTree:
    return SupplyTree(np.array([node.supplier for node in nodes], dtype=np.int64))


def _margin(nodes: list[TreeNode]) -> int:
    """Half-width of the leaf lattice: three times the range of all demand in the tree, plus slack."""
    total = 0
    for node in nodes:
        low, masses = integer_grid(node.demand)
        total += low + len(masses)
    return 3 * total + 10
