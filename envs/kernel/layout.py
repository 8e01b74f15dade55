"""The scenario's static arrays in the flat, fixed-dtype form the compiled kernel takes.

Numba compiles one machine-code version per argument type signature, so every scenario is given as the
same tuple of arrays with the same dtypes and dimensions (absent features are empty or dummy arrays and a
flag). Grouped arrays keep the argument list short: each call of a compiled function pays a little for
every argument. The index constants below name the rows of the grouped arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from envs.demand_table import GUIDE, DemandTable
from envs.noise import LEAD_TIME_WORDS, demand_table
from envs.params import EnvParams
from envs.state import initial_on_hand

# rows of KernelParams.node_product (N, P per row)
HOLDING, PIPELINE_HOLDING, PURCHASE, TRANSPORT, MAX_LEVEL, MAX_ORDER = 0, 1, 2, 3, 4, 5
INV_MAX_LEVEL, WARMUP_ORDER, START_ON_HAND = 6, 7, 8
# rows of KernelParams.node (N per row)
STORAGE_CAPACITY, OVERFLOW_COST, INBOUND_UNITS, INBOUND_CAPACITY, INV_STORAGE, INV_INBOUND, FROM_VENDOR = range(7)
# rows of KernelParams.speed (S per row)
CUTOFF_SHARE, SPILL_SHARE = 0, 1
# rows of KernelParams.region_product (R, P per row)
BASE_TOTAL, INV_DEMAND_SCALE = 0, 1
# entries of KernelParams.scalars
TREND, MIX_THRESHOLD, COST_SCALE = 0, 1, 2
# entries of KernelParams.flags
BACKORDERS, SEQUENTIAL, HAS_INBOUND_CAPACITY, DEMAND_SOURCE = 0, 1, 2, 3
# values of flags[DEMAND_SOURCE]
DEMAND_TABLE, DEMAND_TRACE, DEMAND_GIVEN = 0, 1, 2
ACTION_MODE_CODES = {"order_up_to": 0, "quantity": 1}
DEMAND_HEAD = 6
"""The first values of each demand cdf row, kept apart for the kernel's vectorized count (:func:`demand_heads`)."""
SCRATCH_ROWS = max(4, LEAD_TIME_WORDS)
"""Rows of a thread's scratch (rows of max(N, P)) before shipping's remainders (one row per child of a supplier,
so N more in a thread's buffers): three for receiving, four for shipping, one per word of a lead-time group for
the noise."""


class KernelParams(NamedTuple):
    """Static arrays of one scenario for the kernel (axes as in :class:`~envs.params.EnvParams`)."""

    node_product: np.ndarray  # (9, N, P) float64, rows HOLDING ... START_ON_HAND
    node: np.ndarray  # (7, N) float64, rows STORAGE_CAPACITY ... FROM_VENDOR
    volume: np.ndarray  # (P,) float64
    speed: np.ndarray  # (2, S) float64
    penalty: np.ndarray  # (S, P) float64
    region_product: np.ndarray  # (2, R, P) float64
    seasonality: np.ndarray  # (C,) float64
    season_table: np.ndarray  # (C, 2) float64
    scalars: np.ndarray  # (3,) float64
    flags: np.ndarray  # (4,) int64
    child_start: np.ndarray  # (N + 1,) int64: the children of node u are child_node[child_start[u]:child_start[u + 1]]
    child_node: np.ndarray  # (N,) int64
    backlog_node: np.ndarray  # (R, S) int64
    arc_start: np.ndarray  # (2 S R + 1,) int64: arcs of (speed s, late c, region r) at index (2 s + c) R + r
    arc_node: np.ndarray  # (arcs,) int64
    arc_cost: np.ndarray  # (arcs,) float64 shipping cost per unit
    lead_time_cdf: np.ndarray  # (N, A) float32
    fixed_lead_time: np.ndarray  # (N,) int64, the lead time where it is deterministic, else 0
    table_cdf: np.ndarray  # (cells,) float64 demand table (see envs.demand_table)
    table_offset: np.ndarray  # (rows,) int64
    table_guide: np.ndarray  # (rows, GUIDE + 1) int32
    table_head: np.ndarray  # (DEMAND_HEAD, rows) float64 the first cdf values of every row (demand_heads)
    trace: np.ndarray  # (T, R, S, P) float64 replayed demand (empty unless traced)
    pipeline_scale: np.ndarray  # (N, A, P) float64: 1 / max_order of the node and product, for every age

    def transition_args(self) -> tuple:
        """The fields ``transition_batch`` (:func:`envs.kernel.compiled.batch_functions`) takes, in its order."""
        return (self.node_product, self.node, self.volume, self.speed, self.penalty, self.flags, self.child_start,
                self.child_node, self.arc_start, self.arc_node, self.arc_cost)

    def noise_args(self) -> tuple:
        """The fields :func:`envs.kernel.compiled.noise_batch` takes, in its order."""
        return (self.seasonality, self.scalars, self.flags, self.lead_time_cdf, self.fixed_lead_time, self.table_cdf,
                self.table_offset, self.table_guide, self.table_head, self.trace)

    def observe_args(self) -> tuple:
        """The fields :func:`envs.kernel.compiled.observe_batch` takes, in its order."""
        return (self.node_product, self.node, self.volume, self.region_product, self.seasonality, self.season_table,
                self.scalars, self.pipeline_scale)


SEPARATION = 128
"""Alignment and padding, in bytes, of a thread's buffers: a cache line pair, which x86 cores prefetch together."""


def separate_arrays(*specs: tuple[tuple[int, ...], type]) -> list[np.ndarray]:
    """Zeroed arrays of the given (shape, dtype) carved from one block, each starting on a multiple of
    :data:`SEPARATION` and padded to one: a thread writing its own buffers then never writes to a line that
    another thread's data share (false sharing, which would stall both)."""
    sizes = [-(-int(np.prod(shape)) * np.dtype(dtype).itemsize // SEPARATION) * SEPARATION for shape, dtype in specs]
    block = np.zeros(sum(sizes) + SEPARATION, dtype=np.uint8)
    start = -block.ctypes.data % SEPARATION
    arrays = []
    for (shape, dtype), size in zip(specs, sizes, strict=True):
        count = int(np.prod(shape))
        arrays.append(block[start : start + count * np.dtype(dtype).itemsize].view(dtype).reshape(shape))
        start += size
    return arrays


class ThreadBuffers(NamedTuple):
    """One thread's working arrays for ``step_batch`` (:func:`envs.kernel.compiled.batch_functions`), in its
    argument order."""

    demand: np.ndarray  # (1, R, S, P), or (B, R, S, P) when the caller gives the noise per replica
    cutoff_uniform: np.ndarray  # like demand, float32
    spill_uniform: np.ndarray  # like demand, float32
    lead_time: np.ndarray  # (1 or B, N, P) int8
    mix: np.ndarray  # (R, S, P) float32
    order: np.ndarray  # (N, P)
    work: np.ndarray  # (4, R, P)
    scratch: np.ndarray  # (SCRATCH_ROWS + N, max(N, P))
    shipped: np.ndarray  # (N, P)
    purchased: np.ndarray  # (P,)
    served_units: np.ndarray  # (P,)

    @classmethod
    def allocate(cls, params: EnvParams, noise: tuple[np.ndarray, ...] | None = None) -> ThreadBuffers:
        """Fresh buffers, apart from other threads' (:func:`separate_arrays`); ``noise`` (demand, cutoff, spill,
        lead time arrays) is shared when given per replica."""
        n, p, r, s = params.num_nodes, params.num_products, params.num_regions, params.num_speeds
        buffers = [((r, s, p), np.float32), ((n, p), np.float64), ((4, r, p), np.float64),
                   ((SCRATCH_ROWS + n, max(n, p)), np.float64), ((n, p), np.float64), ((p,), np.float64),
                   ((p,), np.float64)]
        if noise is not None:
            return cls(*noise, *separate_arrays(*buffers))
        demand, cutoff, spill, lead_time, *own = separate_arrays(
            ((1, r, s, p), np.float64), ((1, r, s, p), np.float32), ((1, r, s, p), np.float32), ((1, n, p), np.int8),
            *buffers)
        lead_time[...] = 1
        return cls(demand, cutoff, spill, lead_time, *own)


def demand_source(params: EnvParams) -> int:
    """Where the kernel's demand comes from: its own inverse-cdf table, the trace, or the caller."""
    if params.trace is not None:
        return DEMAND_TRACE
    return DEMAND_TABLE if demand_table(params) is not None else DEMAND_GIVEN


def demand_heads(table: DemandTable) -> np.ndarray:
    """The first :data:`DEMAND_HEAD` cdf values F(0), F(1), ... of every row of ``table``, (DEMAND_HEAD, rows):
    row r's value i in column r, 1.0 past the row's end. Demand is then the count of head values at or below the
    uniform wherever that count stays below DEMAND_HEAD. A count and a search resolve a cdf that decreases
    (float round-off) differently, so such a row's head is all 0.0 and the row always searches."""
    size = np.diff(table.offset, append=len(table.cdf))
    index = np.arange(DEMAND_HEAD)[:, None]
    entry = np.minimum(table.offset[None, :] + index, len(table.cdf) - 1)
    heads = np.where(index < size[None, :], table.cdf[entry], 1.0)
    dips = np.flatnonzero(table.cdf[1:] < table.cdf[:-1]) + 1  # entries below the entry before them
    row = np.searchsorted(table.offset, dips, side="right") - 1
    heads[:, row[table.offset[row] != dips]] = 0.0  # a row's first entry follows another row
    return np.ascontiguousarray(heads)


def kernel_demand_table(table: DemandTable | None) -> tuple[np.ndarray, ...]:
    """The kernel's ``table_cdf``, ``table_offset``, ``table_guide`` and ``table_head`` (:func:`demand_heads`) of
    a demand table, or placeholders without one. The cdf is the table's own array, not a copy."""
    if table is None:
        return np.zeros(1), np.zeros(1, np.int64), np.zeros((1, GUIDE + 1), np.int32), np.zeros((DEMAND_HEAD, 1))
    return table.cdf, table.offset, table.guide.astype(np.int32), demand_heads(table)


def kernel_params(params: EnvParams) -> KernelParams:
    """Flatten ``params`` for the kernel."""
    n, p, r, s = params.num_nodes, params.num_products, params.num_regions, params.num_speeds
    node_product = np.stack([
        params.holding_cost, params.pipeline_holding_cost, params.purchase_cost, params.transport_cost,
        params.max_level, params.max_order, 1.0 / params.max_level, np.rint(params.node_flow), initial_on_hand(params),
    ]).astype(np.float64)
    finite_storage = np.isfinite(params.storage_capacity)
    finite_inbound = np.isfinite(params.inbound_capacity)
    node = np.stack([
        params.storage_capacity, params.overflow_cost, params.inbound_units, params.inbound_capacity,
        np.where(finite_storage, 1.0 / np.where(finite_storage, params.storage_capacity, 1.0), 0.0),
        np.where(finite_inbound, 1.0 / np.where(finite_inbound, params.inbound_capacity, 1.0), 0.0),
        params.from_vendor.astype(np.float64),
    ]).astype(np.float64)
    children = [(supplier, list(kids)) for supplier, kids in params.children]
    child_start = np.zeros(n + 1, dtype=np.int64)
    for supplier, kids in children:
        child_start[supplier + 1] = len(kids)
    child_start = np.cumsum(child_start)
    child_node = np.zeros(n, dtype=np.int64)
    for supplier, kids in children:
        child_node[child_start[supplier] : child_start[supplier] + len(kids)] = kids
    arc_counts, arc_node, arc_cost = [0], [], []
    for by_late in params.serving:
        for by_region in by_late:
            for members in by_region:
                arc_counts.append(len(members))
                for node_index, cost_id in members:
                    arc_node.append(node_index)
                    arc_cost.append(params.shipping_costs[cost_id])
    cdf = params.lead_time_cdf32  # a lead time is deterministic when its cdf only steps from 0 to 1
    fixed = ((cdf == 0.0) | (cdf == 1.0)).all(1)
    fixed_lead_time = np.where(fixed, 1 + (cdf[:, :-1] == 0.0).sum(1), 0).astype(np.int64)
    table = demand_table(params)
    table_cdf, table_offset, table_guide, table_head = kernel_demand_table(table)
    trace = params.trace if params.trace is not None else np.zeros((1, r, s, p))
    return KernelParams(
        node_product=np.ascontiguousarray(node_product),
        node=np.ascontiguousarray(node),
        volume=np.ascontiguousarray(params.volume, dtype=np.float64),
        speed=np.stack([params.cutoff_share, params.spill_share]).astype(np.float64),
        penalty=np.ascontiguousarray(params.penalty, dtype=np.float64),
        region_product=np.stack([params.base_mean.sum(1), 1.0 / params.demand_scale]).astype(np.float64),
        seasonality=np.ascontiguousarray(params.seasonality, dtype=np.float64),
        season_table=np.ascontiguousarray(params.season_table, dtype=np.float64),
        scalars=np.array([params.trend, params.mix_threshold, params.cost_scale], dtype=np.float64),
        flags=np.array(
            [params.backorders, params.sequential, params.has_inbound_capacity, demand_source(params)], dtype=np.int64
        ),
        child_start=child_start.astype(np.int64),
        child_node=child_node,
        backlog_node=np.ascontiguousarray(params.backlog_node, dtype=np.int64),
        arc_start=np.cumsum(arc_counts).astype(np.int64),
        arc_node=np.array(arc_node, dtype=np.int64),
        arc_cost=np.array(arc_cost, dtype=np.float64),
        lead_time_cdf=np.ascontiguousarray(params.lead_time_cdf32),
        fixed_lead_time=fixed_lead_time,
        table_cdf=np.ascontiguousarray(table_cdf, dtype=np.float64),
        table_offset=np.ascontiguousarray(table_offset, dtype=np.int64),
        table_guide=np.ascontiguousarray(table_guide),
        table_head=np.ascontiguousarray(table_head, dtype=np.float64),
        trace=np.ascontiguousarray(trace, dtype=np.float64),
        pipeline_scale=np.ascontiguousarray(
            np.broadcast_to((1.0 / params.max_order)[:, None, :], (n, params.num_ages, p)), dtype=np.float64
        ),
    )
