"""Policy objects that act in the env through observations only (no access to env internals).

Every policy is built from a scenario's public :class:`~envs.params.EnvParams` and maps a batch of
observations (B, obs_size) to a batch of normalized actions (B, N * P); ``action_mode`` says which action
mode of the env it speaks. Observations are unscaled with the public scales (on hand and dock x max_level,
pipeline x max_order, backlog x demand_scale) and rounded back to whole units.

- :class:`EchelonBaseStockPolicy`: echelon order-up-to levels S_n (Clark & Scarf 1960): node n orders up to
  S_n minus its echelon inventory position (its own and all descendants' on hand + dock + in transit,
  minus the backlog owed by its subtree), expressed as the env's local order-up-to action.
- :class:`LocalBaseStockPolicy`: installation order-up-to levels (the env's own action, clipped).
- :class:`ConstantOrderPolicy`: orders a fixed mean quantity every period (quantity mode), with a
  deterministic carry of fractions so the long-run mean order equals the target exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.actions import encode_level, encode_quantity
from envs.observation import split_observation
from envs.params import EnvParams


@dataclass(frozen=True)
class ObservedStock:
    """Whole-unit stock read from an observation batch."""

    on_hand: np.ndarray  # (B, N, P)
    dock: np.ndarray  # (B, N, P)
    in_transit: np.ndarray  # (B, N, P) summed over pipeline ages
    backlog: np.ndarray  # (B, R, P) summed over speeds

    @property
    def installation_stock(self) -> np.ndarray:
        """On hand + dock + in transit per node (B, N, P)."""
        return self.on_hand + self.dock + self.in_transit


def read_stock(observations: np.ndarray, params: EnvParams) -> ObservedStock:
    """Unscale the stock blocks of an observation batch (see :mod:`envs.observation`)."""
    blocks = split_observation(np.asarray(observations, dtype=np.float64), params)
    return ObservedStock(
        on_hand=np.rint(blocks["on_hand"] * params.max_level),
        dock=np.rint(blocks["dock"] * params.max_level),
        in_transit=np.rint((blocks["pipeline"] * params.max_order[:, None, :]).sum(2)),
        backlog=np.rint(blocks["backlog"] * params.demand_scale),
    )


def subtree_matrix(params: EnvParams) -> np.ndarray:
    """(N, N) with entry [n, m] = 1 when stocking node m is n or one of its descendants."""
    n_nodes = params.num_nodes
    matrix = np.eye(n_nodes)
    for m in range(n_nodes):
        parent = params.supplier_index[m]
        while parent >= 0:
            matrix[parent, m] = 1.0
            parent = params.supplier_index[parent]
    return matrix


def backlog_owner(params: EnvParams) -> np.ndarray:
    """(R, N) one-hot: the node charged with region r's backlog.

    The env charges a backlog of (region r, speed s) to ``backlog_node[r, s]``; the observation sums
    backlogs over speeds, so a region's backlog is attributed to the node of its fastest speed that has one
    (exact whenever all speeds of a region share that node, as in the serial and one-warehouse scenarios).
    """
    owner = np.zeros((params.num_regions, params.num_nodes))
    for r in range(params.num_regions):
        nodes = [n for n in params.backlog_node[r] if n >= 0]
        if nodes:
            owner[r, nodes[0]] = 1.0
    return owner


class EchelonBaseStockPolicy:
    """Echelon base-stock levels (N, P) turned into the env's local order-up-to action.

    Node n should order S_n - (echelon position). The env orders ``level - local position`` with local
    position = own stock - backlog charged to n, so the policy requests
    ``level = S_n - echelon position + own stock - backlog charged to n``, clipped by the env to
    [0, max_level]. ``clip_rate`` records how often a request exceeded ``max_level`` (it should be ~0).
    """

    action_mode = "order_up_to"

    def __init__(self, echelon_levels: np.ndarray, params: EnvParams) -> None:
        self.params = params
        self.echelon_levels = np.asarray(echelon_levels, dtype=float).reshape(params.num_nodes, params.num_products)
        self._subtree = subtree_matrix(params)
        owner = backlog_owner(params) if params.backorders else np.zeros((params.num_regions, params.num_nodes))
        self._owner = owner
        self._subtree_owner = owner @ self._subtree.T  # (R, N): region r's backlog is in n's subtree
        self.requests = 0
        self.clipped = 0

    def levels(self, observations: np.ndarray) -> np.ndarray:
        """Local order-up-to levels (B, N, P) that implement the echelon policy for this batch."""
        stock = read_stock(observations, self.params)
        own = stock.installation_stock
        echelon_stock = np.einsum("nm,bmp->bnp", self._subtree, own)
        subtree_backlog = np.einsum("rn,brp->bnp", self._subtree_owner, stock.backlog)
        charged = np.einsum("rn,brp->bnp", self._owner, stock.backlog)
        position = echelon_stock - subtree_backlog
        return self.echelon_levels[None] - position + own - charged

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        level = np.rint(self.levels(observations))
        self.requests += level.size
        self.clipped += int(np.count_nonzero(level > self.params.max_level))
        return encode_level(level, self.params).reshape(level.shape[0], -1)

    @property
    def clip_rate(self) -> float:
        return self.clipped / max(self.requests, 1)


class LocalBaseStockPolicy:
    """Installation (local) order-up-to levels (N, P): the env's ``order_up_to`` action, fixed."""

    action_mode = "order_up_to"

    def __init__(self, local_levels: np.ndarray, params: EnvParams) -> None:
        self.params = params
        self.local_levels = np.asarray(local_levels, dtype=float).reshape(params.num_nodes, params.num_products)
        self._action = encode_level(np.rint(self.local_levels), params)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._action, (np.atleast_2d(observations).shape[0], self._action.size)).copy()


class ConstantOrderPolicy:
    """Orders ``quantity`` (N, P) units per period, whatever the state (``quantity`` action mode).

    Fractional means are met on average by carrying the fraction: in period t the order is
    floor((t + 1) q) - floor(t q), so every replica orders the same sequence. Call :meth:`reset` at the
    start of an evaluation (``evaluate`` does).
    """

    action_mode = "quantity"

    def __init__(self, quantity: np.ndarray, params: EnvParams) -> None:
        self.params = params
        self.quantity = np.asarray(quantity, dtype=float).reshape(params.num_nodes, params.num_products)
        self.period = 0

    def reset(self) -> None:
        self.period = 0

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        t = self.period
        self.period += 1
        order = np.floor((t + 1) * self.quantity + 1e-9) - np.floor(t * self.quantity + 1e-9)
        action = encode_quantity(order, self.params)
        return np.broadcast_to(action, (np.atleast_2d(observations).shape[0], action.size)).copy()
