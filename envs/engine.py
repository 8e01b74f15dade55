"""Glue shared by the single and the vector env: per-replica noise streams, warm-up, reward, info.

Each replica owns a seeded generator and draws its noise in blocks of ``block_length(params)`` periods;
the single env is a batch of one using exactly the same code, so replica i of a vector env seeded with
``seed + i`` reproduces a single env seeded with ``seed + i`` step for step.
"""

from __future__ import annotations

import numpy as np

from envs.dynamics import StepOutcome, transition
from envs.noise import Noise, Uniforms, draw_uniforms, realize, uniform_fields
from envs.params import EnvParams
from envs.state import State, initial_state

_BLOCK_ELEMENTS = 1 << 14


def block_length(params: EnvParams) -> int:
    """Periods of uniforms drawn at once per replica (depends on the scenario only, never on the batch)."""
    streams = params.num_products * params.num_regions * params.num_speeds
    return int(np.clip(_BLOCK_ELEMENTS // max(streams, 1), 2, 256))


class NoiseStreams:
    """Noise for a batch of replicas, each drawing uniforms from its own generator in blocks."""

    def __init__(self, params: EnvParams, batch_size: int) -> None:
        self.params = params
        self.block = block_length(params)
        template = draw_uniforms(np.random.default_rng(0), params, self.block)
        self._buffers = {
            name: np.zeros((batch_size,) + getattr(template, name).shape, getattr(template, name).dtype)
            for name in uniform_fields()
        }
        self._cursor = np.full(batch_size, self.block, dtype=np.int64)  # block: buffer exhausted
        self._index = np.arange(batch_size)

    def discard(self, rows: np.ndarray) -> None:
        """Forget buffered noise of replicas ``rows`` (on reset)."""
        self._cursor[rows] = self.block

    def next_uniforms(
        self, rngs: list[np.random.Generator], rows: np.ndarray | None = None
    ) -> Uniforms:
        """Uniforms of the current period for each replica in ``rows`` (default: all), leading axis batch."""
        rows = self._index if rows is None else rows
        for i in rows[self._cursor[rows] >= self.block]:
            block = draw_uniforms(rngs[i], self.params, self.block)
            for name, buffer in self._buffers.items():
                buffer[i] = getattr(block, name)
            self._cursor[i] = 0
        at = (rows, self._cursor[rows])
        self._cursor[rows] += 1
        return Uniforms(**{name: buffer[at] for name, buffer in self._buffers.items()})

    def next(self, rngs: list[np.random.Generator], periods: np.ndarray, rows: np.ndarray | None = None) -> Noise:
        """Noise of the current period for each replica in ``rows`` (default: all), leading axis batch."""
        return realize(self.next_uniforms(rngs, rows), np.asarray(periods), self.params)


def start_state(
    params: EnvParams,
    noise: NoiseStreams,
    rngs: list[np.random.Generator],
    warmup: int,
    rows: np.ndarray | None = None,
) -> State:
    """Episode start for replicas ``rows`` (default all): the initial state, then ``warmup`` periods
    ordering each node's mean throughput so pipelines are filled. The warm-up is not part of the episode."""
    rows = np.arange(len(rngs)) if rows is None else np.asarray(rows)
    noise.discard(rows)
    state = initial_state(params, len(rows))
    order = np.broadcast_to(np.rint(params.node_flow), state.on_hand.shape)
    for _ in range(warmup):
        state, _ = transition(state, order, noise.next(rngs, state.period, rows), params)
    return state


def reward(outcome: StepOutcome, params: EnvParams) -> np.ndarray:
    """Negative total cost, scaled by the cost of losing one period's mean demand."""
    return -outcome.total_cost / params.cost_scale


def batch_info(outcome: StepOutcome, params: EnvParams) -> dict:
    """Cost breakdown; fill rate, units requested and served, and lost units by speed; capacity use by node:
    arrays of shape (B,). ``requested`` counts every order a speed had to serve this period (new, spilled in
    from a faster speed, backlog), so a fill rate over many periods is ``sum(served) / sum(requested)``."""
    scenario = params.scenario
    nodes = params.node_names
    finite_storage = np.isfinite(params.storage_capacity)
    finite_inbound = np.isfinite(params.inbound_capacity)
    storage = np.where(finite_storage, outcome.storage_used / np.where(finite_storage, params.storage_capacity, 1), 0)
    inbound = np.where(finite_inbound, outcome.received / np.where(finite_inbound, params.inbound_capacity, 1), 0)
    fill = np.where(outcome.requested > 0, outcome.served / np.maximum(outcome.requested, 1e-12), 1.0)
    return {
        "cost": {
            "total": outcome.total_cost,
            "holding": outcome.holding_cost,
            "purchase": outcome.purchase_cost,
            "transport": outcome.transport_cost,
            "shipping": outcome.shipping_cost,
            "overflow": outcome.overflow_cost,
            **{f"penalty_{s.name}": outcome.penalty_cost[:, i] for i, s in enumerate(scenario.speeds)},
        },
        "fill_rate": {s.name: fill[:, i] for i, s in enumerate(scenario.speeds)},
        "requested": {s.name: outcome.requested[:, i] for i, s in enumerate(scenario.speeds)},
        "served": {s.name: outcome.served[:, i] for i, s in enumerate(scenario.speeds)},
        "lost": {s.name: outcome.lost[:, i] for i, s in enumerate(scenario.speeds)},
        "storage_use": {name: storage[:, i] for i, name in enumerate(nodes)},
        "inbound_use": {name: inbound[:, i] for i, name in enumerate(nodes)},
    }


def unbatch_info(info: dict, index: int = 0) -> dict:
    """One replica's info as plain floats."""
    return {k: unbatch_info(v, index) if isinstance(v, dict) else float(v[index]) for k, v in info.items()}
