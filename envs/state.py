"""The simulator state: arrays with a leading batch axis, and the initial state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.params import EnvParams


@dataclass(frozen=True)
class State:
    """State at the start of a period (before arrivals are received). Quantities are whole units.

    ``pipeline[b, n, a, p]`` holds the units ordered ``a + 1`` periods ago still in transit to node n and
    ``due`` the periods left until they arrive (0: received at the start of this period); ``last_due`` is
    the periods left for the latest shipment (used by sequential lead times); ``backlog[b, r, s, p]``
    the backordered orders per stream; ``received`` the units received at each node last period.
    """

    on_hand: np.ndarray  # (B, N, P)
    dock: np.ndarray  # (B, N, P)
    pipeline: np.ndarray  # (B, N, A, P)
    due: np.ndarray  # (B, N, A, P) int8; negative for empty cells
    last_due: np.ndarray  # (B, N, P) int8
    backlog: np.ndarray  # (B, R, S, P)
    last_demand: np.ndarray  # (B, R, P)
    received: np.ndarray  # (B, N)
    period: np.ndarray  # (B,) the period about to be simulated

    @property
    def batch_size(self) -> int:
        return self.on_hand.shape[0]

    def inventory_position(self, params: EnvParams, xp: Any = np) -> Any:
        """On hand + at the dock + in transit - backlog charged to the node, per (B, N, P)."""
        position = self.on_hand + self.dock + xp.sum(self.pipeline, axis=2)
        if params.backorders:
            b, r, s, p = self.backlog.shape
            streams = xp.reshape(self.backlog, (b, r * s, p))
            owed = xp.matmul(xp.asarray(params.backlog_owner), streams)  # (N, R*S) @ (B, R*S, P)
            position = position - owed
        return position

    def take(self, rows: np.ndarray) -> State:
        """The replicas ``rows`` as a smaller batch."""
        return State(*(getattr(self, f)[rows] for f in State.__dataclass_fields__))

    def put(self, rows: np.ndarray, other: State) -> State:
        """A copy with replicas ``rows`` replaced by the batch ``other``."""
        fields = {}
        for f in State.__dataclass_fields__:
            value = getattr(self, f).copy()
            value[rows] = getattr(other, f)
            fields[f] = value
        return State(**fields)


def initial_on_hand(params: EnvParams) -> np.ndarray:
    """(N, P) each node's mean throughput over its mean lead time plus one period, rounded."""
    return np.rint(params.node_flow * (params.mean_lead_time[:, None] + 1.0))


def initial_state(params: EnvParams, batch_size: int, period: int = 0) -> State:
    """Every node holds :func:`initial_on_hand`; nothing in transit."""
    n, p, a = params.num_nodes, params.num_products, params.num_ages
    start = initial_on_hand(params)
    zeros = np.zeros((batch_size, n, p))
    return State(
        on_hand=np.broadcast_to(start, (batch_size, n, p)).copy(),
        dock=zeros.copy(),
        pipeline=np.zeros((batch_size, n, a, p)),
        due=np.full((batch_size, n, a, p), -1, dtype=np.int8),
        last_due=np.zeros((batch_size, n, p), dtype=np.int8),
        backlog=np.zeros((batch_size, params.num_regions, params.num_speeds, p)),
        last_demand=np.zeros((batch_size, params.num_regions, p)),
        received=np.zeros((batch_size, n)),
        period=np.full(batch_size, period, dtype=np.int64),
    )

