"""Echelon positions read from observations, and the local order-up-to level that implements an echelon level.

Node n of an echelon base-stock policy orders ``S_n - (echelon position)``, its echelon position being its own
and all its descendants' stock (on hand + dock + in transit) minus the backlog owed by its subtree. The env
orders ``level - local position`` with local position = own stock - backlog charged to n, so the policy asks
for the local level ``S_n - echelon position + own stock - backlog charged to n`` (:func:`local_request`).

The formulas are written once for numpy arrays and torch tensors alike (``xp`` is ``numpy`` or ``torch``), so
the numpy policies of :mod:`baselines.policies` and the gradient agent's torch policies ask for the same
levels. Observations are unscaled with the public scales (on hand and dock x max_level, pipeline x max_order,
backlog x demand_scale) and rounded back to whole units.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.observation import split_observation
from envs.params import EnvParams
from envs.scenario import SupplyTree


@dataclass(frozen=True)
class ObservedStock:
    """Whole-unit stock read from an observation batch (numpy arrays or torch tensors)."""

    on_hand: Any  # (B, N, P)
    dock: Any  # (B, N, P)
    in_transit: Any  # (B, N, P) summed over pipeline ages
    backlog: Any  # (B, R, P) summed over speeds

    @property
    def installation_stock(self) -> Any:
        """On hand + dock + in transit per node (B, N, P)."""
        return self.on_hand + self.dock + self.in_transit


def stock_from_blocks(blocks: Mapping[str, Any], max_level: Any, max_order: Any, demand_scale: Any,
                      round_units: Callable[[Any], Any], xp: Any = np) -> ObservedStock:
    """Unscale the stock blocks of an observation (see :mod:`envs.observation`) and round them with
    ``round_units`` (``numpy.rint``, or a rounding that lets gradients through); ``xp`` is ``numpy`` or
    ``torch``, as the blocks are."""
    return ObservedStock(
        on_hand=round_units(blocks["on_hand"] * max_level),
        dock=round_units(blocks["dock"] * max_level),
        in_transit=round_units(xp.einsum("bnap,np->bnp", blocks["pipeline"], max_order)),
        backlog=round_units(blocks["backlog"] * demand_scale),
    )


def read_stock(observations: np.ndarray, params: EnvParams) -> ObservedStock:
    """Whole-unit stock of a numpy observation batch."""
    # The float32 blocks meet the float64 scales, so the arithmetic runs in float64 without converting the
    # observation's other blocks.
    blocks = split_observation(np.asarray(observations), params)
    return stock_from_blocks(blocks, params.max_level, params.max_order, params.demand_scale, np.rint)


def observed_backlog_owner(params: EnvParams) -> np.ndarray:
    """(R, N) one-hot: the node charged with region r's backlog as the observation shows it (summed over speeds).

    The env charges a backlog of (region r, speed s) to ``backlog_node[r, s]``; the observation sums backlogs
    over speeds, so a region's backlog is attributed to the node of its fastest speed that has one (exact
    whenever all speeds of a region share that node, as in the serial and one-warehouse scenarios). All zeros
    under lost sales.
    """
    owner = np.zeros((params.num_regions, params.num_nodes))
    if not params.backorders:
        return owner
    for r in range(params.num_regions):
        nodes = [n for n in params.backlog_node[r] if n >= 0]
        if nodes:
            owner[r, nodes[0]] = 1.0
    return owner


@dataclass(frozen=True, eq=False)
class EchelonMatrices:
    """What turns observed stock into echelon positions: subtree membership and backlog charges."""

    subtree: Any  # (N, N) [n, m] = 1 when m is n or one of its descendants
    owner: Any  # (R, N) node charged with a region's observed backlog
    subtree_owner: Any  # (R, N) [r, n] = 1 when region r's backlog is charged inside n's subtree

    @classmethod
    def of(cls, params: EnvParams) -> EchelonMatrices:
        subtree = SupplyTree(params.supplier_index).subtree_matrix
        owner = observed_backlog_owner(params)
        return cls(subtree, owner, owner @ subtree.T)


def echelon_position(own: Any, backlog: Any, subtree: Any, subtree_owner: Any, xp: Any = np) -> Any:
    """Echelon positions (B, N, P): each node's and its descendants' own stock ``own`` (B, N, P) minus the
    backlog (B, R, P) charged inside its subtree (``subtree`` and ``subtree_owner`` of :class:`EchelonMatrices`;
    in torch, all of one dtype: ``matmul`` does not promote)."""
    # Broadcast matrix products: numpy's einsum is much slower on these small matrices.
    return xp.matmul(subtree, own) - xp.matmul(subtree_owner.T, backlog)


def local_request(echelon_levels: Any, stock: ObservedStock, matrices: EchelonMatrices, xp: Any = np) -> Any:
    """Local order-up-to levels (B, N, P) that implement echelon levels (B or 1, N, P) given observed stock."""
    own = stock.installation_stock
    position = echelon_position(own, stock.backlog, matrices.subtree, matrices.subtree_owner, xp)
    charged = xp.matmul(matrices.owner.T, stock.backlog)
    return echelon_levels - position + own - charged
