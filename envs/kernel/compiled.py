"""The compiled simulator: the reference's noise, transition and env step, per replica and in place.

One numba module holds every compiled function. Numba's on-disk cache notices changes in a function's own
source file only, not in the callees, constants and modules it uses, so this module keys its cache
directory by a hash of every source it depends on (:func:`cache_directory`): an edit anywhere compiles
afresh instead of loading stale machine code. Each function follows the reference it names (:mod:`envs.noise`,
:mod:`envs.dynamics`, :mod:`envs.actions`, :mod:`envs.observation`) step for step; loops run over products
innermost where the reference treats products independently, so the compiler can vectorize them.

Units are whole numbers held in float64 and agree with the reference exactly; cost sums are taken in a
different order and agree to rounding. The differential tests prove both.

The ``*_one`` functions simulate one replica: they take its rows of the batched arrays (views without
the batch axis) and update the state rows in place. Intermediate quantities (noise, orders, shipments,
fulfilment scratch) live in per-thread buffers, so a batch streams through memory only its state, its
observations and its outcome rows. Entry points first borrow their arrays (:func:`borrowed`), so that
taking rows and passing them on counts no references. Entry points take the arrays and the fields of
:class:`~envs.kernel.layout.KernelParams` in the order :mod:`envs.simulator` passes them:
``step_batch`` (a whole env step or reset per replica) and, for the tests, :func:`noise_batch`,
``transition_batch`` and :func:`observe_batch`. The first two exist twice (:func:`batch_functions`): a process
compiles the pair its scenarios need, one product or several. In the one-product pair the product count is a
constant (:func:`num_products_of`), so the compiler removes the loops over products altogether.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np
from numba.core import cgutils, types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

from envs import demand_table, info, noise
from envs import philox as philox_module
from envs.demand_table import GUIDE
from envs.info import COST_PARTS, NODE_GROUPS, SPEED_GROUPS
from envs.kernel import layout
from envs.kernel.layout import (
    BACKORDERS,
    BASE_TOTAL,
    COST_SCALE,
    CUTOFF_SHARE,
    DEMAND_HEAD,
    DEMAND_SOURCE,
    DEMAND_TRACE,
    FROM_VENDOR,
    HAS_INBOUND_CAPACITY,
    HOLDING,
    INBOUND_CAPACITY,
    INBOUND_UNITS,
    INV_DEMAND_SCALE,
    INV_INBOUND,
    INV_MAX_LEVEL,
    INV_STORAGE,
    MAX_LEVEL,
    MAX_ORDER,
    MIX_THRESHOLD,
    OVERFLOW_COST,
    PIPELINE_HOLDING,
    PURCHASE,
    SCRATCH_ROWS,
    SEQUENTIAL,
    SPILL_SHARE,
    START_ON_HAND,
    STORAGE_CAPACITY,
    TRANSPORT,
    TREND,
    WARMUP_ORDER,
)
from envs.noise import COMMON, LEAD_TIME, LEAD_TIME_WORDS, STREAMS
from envs.philox import philox4x32

_DEPENDENCIES = (demand_table, info, layout, noise, philox_module)


def cache_directory() -> str:
    """Where compiled code is cached: below ``$NUMBA_CACHE_DIR`` (else this package's ``__pycache__`` where
    writable, else ``~/.cache/echelon-gym``), in a folder named by a hash of the kernel's sources."""
    digest = hashlib.sha256()
    for path in (__file__, *(module.__file__ for module in _DEPENDENCIES)):
        digest.update(Path(path).read_bytes())
    base = numba.config.CACHE_DIR
    if not base:
        in_tree = Path(__file__).parent / "__pycache__"
        writable = os.access(in_tree, os.W_OK) if in_tree.exists() else os.access(in_tree.parent, os.W_OK)
        cache_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        base = str(in_tree) if writable else str(cache_home / "echelon-gym")
    return os.path.join(base, f"kernel-{digest.hexdigest()[:16]}")


_CACHE_DIRECTORY = cache_directory()


def _compiled(loop_vectorize: bool = True, **options):
    """``numba.njit(**options)`` with its on-disk cache in :data:`_CACHE_DIRECTORY`; without LLVM's loop
    vectorizer unless ``loop_vectorize``."""

    def decorate(function):
        dispatcher = numba.njit(**options)(function)
        user_directory = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = _CACHE_DIRECTORY  # read when the cache is attached, so set just for that
        try:
            dispatcher.enable_caching()
        finally:
            numba.config.CACHE_DIR = user_directory
        if not loop_vectorize:
            dispatcher.compile = _without_loop_vectorizer(dispatcher.compile)
        return dispatcher

    return decorate


def _without_loop_vectorizer(compile_signature):
    """``compile_signature`` (a dispatcher's ``compile``) with numba's ``LOOP_VECTORIZE`` off while it runs: numba
    reads it when it builds the module passes, during the compilation. Holding numba's compiler lock, so that no
    other thread compiles meanwhile."""

    def compile_without(signature):
        with global_compiler_lock:
            vectorize = numba.config.LOOP_VECTORIZE
            numba.config.LOOP_VECTORIZE = False
            try:
                return compile_signature(signature)
            finally:
                numba.config.LOOP_VECTORIZE = vectorize

    return compile_without


jit = _compiled(nogil=True)
scalar_jit = _compiled(loop_vectorize=False, nogil=True)
"""For the one-product step: its loops over one product gain nothing from LLVM's loop vectorizer, whose
run-time checks on entering each loop cost time there."""
inline = _compiled(nogil=True, inline="always")
summing = _compiled(nogil=True, fastmath={"reassoc"})
"""For functions whose only floating-point chains are sums (reviewed one by one): reassociating them lets
the reductions over products vectorize; sums of units stay exact and cost sums change by rounding only.
Nowhere else, because reassociation also rewrites products such as ``x * (y / z)``, whose rounding the units
depend on. Such a function cannot be inlined (inlining takes the caller's flags), so each call passes every
array; with one product there is nothing to vectorize, and the ``*_in_order`` copies compiled with
:data:`inline` (the same source, sums in source order) skip that cost."""
philox = inline(philox4x32)


@inline
def num_products_of(array, one_product):
    """The product count of ``array`` (products on its last axis). ``one_product`` is a constant of the caller:
    True in the one-product step, whose loops over products the compiler then folds away (with the count read
    from a shape they stay loops of unknown length), False elsewhere."""
    return 1 if one_product else array.shape[-1]


@inline
def span(values, start, length):
    """``values[start:start + length]`` (``start >= 0``) as a view: loops indexing it from 0 store contiguously. Indexed
    ``values[start + i]`` instead, the compiler cannot tell that the index is never negative, keeps numba's
    wrap-around of negative indices, and stores element by element (with 512-bit vectors, as scatters)."""
    return values[start : start + length]


@intrinsic
def borrowed(typing_context, values):
    """The tuple ``values`` with every array borrowed: the same array, its reference count detached.

    Numba counts the references of an array (and of every view of it) with atomic operations on a header
    that all views and all threads share; a per-replica loop that takes rows and calls helpers would do
    dozens per replica-step, contended between the threads stepping the same arrays. An entry point's
    caller holds its arguments for the whole call, so the body may use them uncounted; views of a borrowed
    array are borrowed too, and the compiler then drops their counting altogether. A borrowed array must
    not outlive the call (never returned or stored)."""
    if not isinstance(values, types.BaseTuple):
        return None

    def codegen(context, builder, signature, args):
        items = []
        for index, kind in enumerate(values.types):
            item = builder.extract_value(args[0], index)
            if isinstance(kind, types.Array):
                array = make_array(kind)(context, builder, value=item)
                array.meminfo = cgutils.get_null_value(array.meminfo.type)
                item = array._getvalue()
            items.append(item)
        return context.make_tuple(builder, values, items)

    return values(values), codegen


@intrinsic
def flat(typing_context, array):
    """A C-contiguous ``array`` as one axis: the same data, one view (what ``array.ravel()`` gives, without the
    call into numba's helper library that ravel makes to check for a copy-free reshape, which a C-contiguous
    array never needs)."""
    if not isinstance(array, types.Array) or array.layout != "C":
        return None
    result = array.copy(ndim=1)

    def codegen(context, builder, signature, args):
        source = make_array(array)(context, builder, value=args[0])
        view = make_array(result)(context, builder)
        size = context.get_constant(types.intp, 1)
        for extent in cgutils.unpack_tuple(builder, source.shape, array.ndim):
            size = builder.mul(size, extent)
        populate_array(view, data=source.data, shape=[size], strides=[source.itemsize], itemsize=source.itemsize,
                       meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, result, view._getvalue())

    return result(array), codegen


COST_TOTAL, COST_HOLDING, COST_PURCHASE, COST_TRANSPORT, COST_SHIPPING, COST_OVERFLOW = range(len(COST_PARTS))
PENALTY, FILL_RATE, REQUESTED, SERVED, LOST, NEW_ORDERS = range(len(SPEED_GROUPS))
STORAGE_USE, INBOUND_USE, STORAGE_USED, RECEIVED = range(len(NODE_GROUPS))
ACTION_TOLERANCE = 1e-5
"""Actions within this of [-1, 1] are float round-off and are clipped (as in :mod:`envs.actions`)."""

_U53 = 2.0**-53
_U24 = 2.0**-24
_MASK24 = np.uint64(0xFFFFFF)
_MASK16 = np.uint64(0xFFFF)
_MASK8 = np.uint64(0xFF)


# Noise (envs.noise) ------------------------------------------------------------------------------------------


@inline
def quantile(u, row, table_cdf, table_offset, table_guide):
    """Smallest k with F(k) > u in table row ``row`` (the reference's guide table and binary search)."""
    cell = min(np.int64(u * GUIDE), GUIDE - 1)
    low = np.int64(table_guide[row, cell])
    high = np.int64(table_guide[row, cell + 1])
    base = table_offset[row]
    while low < high:
        middle = (low + high) // 2
        if table_cdf[base + middle] > u:
            high = middle
        else:
            low = middle + 1
    return np.float64(low)


@inline
def demand_quantiles(flat_demand, below, row, table_cdf, table_offset, table_guide, table_head):
    """In place, the streams' demand uniforms (flat) become their demands in table rows ``row + j``.

    Each stream first counts the values of its cdf head F(0) ... F(DEMAND_HEAD - 1) at or below its uniform
    (:func:`~envs.kernel.layout.demand_heads`): below F(DEMAND_HEAD - 1) that count is the demand. The count
    vectorizes over streams and reads the heads in order, with no branch and no dependent load; only the
    uniforms above every head value (large demands, rare where means are small) take :func:`quantile`'s
    search, whose unpredictable branches and scattered loads cost far more. ``below`` (>= streams) is
    float32 scratch."""
    streams = flat_demand.shape[0]
    first = np.uint64(row)
    for j in range(streams):  # vectorized; unsigned indices, so there is no negative index to wrap
        count = 0
        for i in range(DEMAND_HEAD):
            count += table_head[i, first + np.uint64(j)] <= flat_demand[j]
        below[j] = np.float32(count)
    for j in range(streams):
        if below[j] < DEMAND_HEAD:
            flat_demand[j] = np.float64(below[j])
        else:
            flat_demand[j] = quantile(flat_demand[j], row + j, table_cdf, table_offset, table_guide)


@inline
def float24(bits):
    """The float32 uniform of 24 random bits, as :mod:`envs.noise` computes it (a float64 product rounded)."""
    return np.float32(np.float64(np.int64(bits)) * _U24)


@inline
def uniform24(word):
    """The float32 uniform of a Philox word's top 24 bits, held in float64 (as :mod:`envs.noise` draws lead
    times)."""
    return np.float64(float24(np.uint64(word) >> np.uint64(8)))


@inline
def lead_times(key_low, key_high, t, lead_time, uniforms, lead_time_cdf, fixed_lead_time, one_product):
    """Lead times (N, P) in period word ``t`` (:mod:`envs.noise`). Nodes come in groups of
    :data:`~envs.noise.LEAD_TIME_WORDS` that share one Philox call per product, a word each: the call is made
    once per group into ``uniforms`` (>= LEAD_TIME_WORDS, >= P), and not at all where every lead time of the
    group is deterministic.

    A whole group with a random lead time is compared in one loop over products per age (with few products,
    the loops' fixed cost is most of the work), its deterministic nodes by their cdf too, which steps from 0
    to 1 and so gives their lead time for any uniform; a group without a random lead time, and a short last
    group, node by node."""
    num_nodes, num_products = lead_time.shape[0], num_products_of(lead_time, one_product)
    num_ages = lead_time_cdf.shape[1]
    groups = (num_nodes + LEAD_TIME_WORDS - 1) // LEAD_TIME_WORDS
    for group in range(groups):
        first, last = group * LEAD_TIME_WORDS, min((group + 1) * LEAD_TIME_WORDS, num_nodes)
        random = False
        for n in range(first, last):
            random = random or fixed_lead_time[n] == 0
        if random:
            for p in range(num_products):  # vectorized
                w0, w1, w2, w3 = philox(np.uint32(p * groups + group), t, np.uint32(LEAD_TIME), np.uint32(0),
                                        key_low, key_high)
                uniforms[0, p], uniforms[1, p] = uniform24(w0), uniform24(w1)
                uniforms[2, p], uniforms[3, p] = uniform24(w2), uniform24(w3)
        if random and last - first == LEAD_TIME_WORDS:
            n0, n1, n2, n3 = first, first + 1, first + 2, first + 3
            for p in range(num_products):
                lead_time[n0, p], lead_time[n1, p], lead_time[n2, p], lead_time[n3, p] = 1, 1, 1, 1
            for a in range(num_ages - 1):  # lead time = 1 + #{a : u >= P(L <= a + 1)}, compared in float32
                c0, c1, c2, c3 = lead_time_cdf[n0, a], lead_time_cdf[n1, a], lead_time_cdf[n2, a], lead_time_cdf[n3, a]
                for p in range(num_products):
                    lead_time[n0, p] += uniforms[0, p] >= c0
                    lead_time[n1, p] += uniforms[1, p] >= c1
                    lead_time[n2, p] += uniforms[2, p] >= c2
                    lead_time[n3, p] += uniforms[3, p] >= c3
            continue
        for n in range(first, last):
            if fixed_lead_time[n] > 0:
                for p in range(num_products):
                    lead_time[n, p] = fixed_lead_time[n]
                continue
            for p in range(num_products):
                lead_time[n, p] = 1
            for a in range(num_ages - 1):
                for p in range(num_products):
                    lead_time[n, p] += uniforms[n - first, p] >= lead_time_cdf[n, a]


@inline
def noise_one(key_low, key_high, period, demand, cutoff_uniform, spill_uniform, lead_time, mix, scratch,
              seasonality, scalars, flags, lead_time_cdf, fixed_lead_time, table_cdf, table_offset, table_guide,
              table_head, trace, one_product):
    """The noise of one replica with episode key words ``key_low, key_high`` in ``period`` (:mod:`envs.noise`):
    demand, cutoff and spill uniforms (R, S, P) and lead times (N, P). ``mix`` (R, S, P) float32 and
    ``scratch`` (:data:`~envs.kernel.layout.SCRATCH_ROWS`, >= P) are scratch."""
    num_regions, num_speeds, num_products = demand.shape[0], demand.shape[1], num_products_of(demand, one_product)
    common = scratch[0]
    t = np.uint32(np.uint64(period) & np.uint64(0xFFFFFFFF))
    threshold = scalars[MIX_THRESHOLD]
    traced = flags[DEMAND_SOURCE] == DEMAND_TRACE
    flat_demand, flat_mix = flat(demand), flat(mix)
    flat_cutoff, flat_spill = flat(cutoff_uniform), flat(spill_uniform)
    for j in range(flat_demand.shape[0]):  # every stream's bits: one flat, branch-free, vectorized loop
        w0, w1, w2, w3 = philox(np.uint32(j), t, np.uint32(STREAMS), np.uint32(0), key_low, key_high)
        x = (np.uint64(w0) << np.uint64(32)) | np.uint64(w1)
        y = (np.uint64(w2) << np.uint64(32)) | np.uint64(w3)
        flat_demand[j] = np.float64(np.int64(x >> np.uint64(11))) * _U53
        flat_mix[j] = float24(y >> np.uint64(40))
        flat_cutoff[j] = float24((y >> np.uint64(16)) & _MASK24)
        flat_spill[j] = float24(((y & _MASK16) << np.uint64(8)) | (x & _MASK8))
    if traced:
        trace_row = period % trace.shape[0]
        for r in range(num_regions):
            for s in range(num_speeds):
                for p in range(num_products):
                    demand[r, s, p] = trace[trace_row, r, s, p]
    else:  # the mixture copula, then the uniforms become demand by inverse cdf, in place
        if threshold > 0.0:
            for p in range(num_products):
                w0, w1, _, _ = philox(np.uint32(p), t, np.uint32(COMMON), np.uint32(0), key_low, key_high)
                x = (np.uint64(w0) << np.uint64(32)) | np.uint64(w1)
                common[p] = np.float64(np.int64(x >> np.uint64(11))) * _U53
            for r in range(num_regions):
                for s in range(num_speeds):
                    for p in range(num_products):
                        if np.float64(mix[r, s, p]) < threshold:
                            demand[r, s, p] = common[p]
        row = (period % seasonality.shape[0]) * flat_demand.shape[0]
        demand_quantiles(flat_demand, flat_mix, row, table_cdf, table_offset, table_guide, table_head)
    lead_times(key_low, key_high, t, lead_time, scratch, lead_time_cdf, fixed_lead_time, one_product)


# Transition (envs.dynamics) ---------------------------------------------------------------------------------


@jit
def speed_col(group, speed, num_speeds):
    return len(COST_PARTS) + group * num_speeds + speed


@jit
def node_col(group, node, num_speeds, num_nodes):
    return len(COST_PARTS) + len(SPEED_GROUPS) * num_speeds + group * num_nodes + node


@inline
def apportion(share, units, remainder):
    """In place, ``share`` (n,) becomes the whole-unit split of ``units`` in proportion to it, as
    :func:`envs.dynamics._apportion`: floors, then one more unit to each of the ``leftover`` largest
    remainders that are positive (ties to the lower index). ``remainder`` (n,) is scratch."""
    size = share.shape[0]
    whole_total = 0.0
    for i in range(size):
        whole = np.floor(share[i])
        remainder[i] = share[i] - whole
        share[i] = whole
        whole_total += whole
    leftover = int(units - whole_total)
    if leftover * size > 4096:  # many units to place: sort once (stable, so ties keep the lower index)
        order = np.argsort(-remainder, kind="mergesort")
        for rank in range(min(leftover, size)):
            if remainder[order[rank]] > 0.0:
                share[order[rank]] += 1.0
        return
    for _ in range(leftover):  # few: pick the largest positive remainder each time
        best, best_value = -1, 0.0
        for i in range(size):
            if remainder[i] > best_value:
                best, best_value = i, remainder[i]
        if best < 0:
            break
        share[best] += 1.0
        remainder[best] = 0.0


@inline
def receive(on_hand, dock, pipeline, due, received, scratch, node, flags, one_product):
    """Step 1: arrivals join the dock; each node receives up to its inbound capacity. ``scratch`` (3, >= P)."""
    num_nodes, num_ages, num_products = pipeline.shape[0], pipeline.shape[1], num_products_of(pipeline, one_product)
    capped = flags[HAS_INBOUND_CAPACITY] != 0
    arriving, taken, remainder = scratch[0, :num_products], scratch[1, :num_products], scratch[2, :num_products]
    for n in range(num_nodes):
        for p in range(num_products):
            arriving[p] = dock[n, p]
        for a in range(num_ages):
            for p in range(num_products):
                if due[n, a, p] == 0:
                    arriving[p] += pipeline[n, a, p]
                    pipeline[n, a, p] = 0.0
        total = 0.0
        for p in range(num_products):
            total += arriving[p]
        units = min(node[INBOUND_UNITS, n], total)
        if capped and units < total:
            fraction = units / max(total, 1.0)
            for p in range(num_products):
                taken[p] = arriving[p] * fraction
            apportion(taken, units, remainder)
            count = 0.0
            for p in range(num_products):
                dock[n, p] = arriving[p] - taken[p]
                on_hand[n, p] += taken[p]
                count += taken[p]
            received[n] = count
        else:
            for p in range(num_products):
                on_hand[n, p] += arriving[p]
                dock[n, p] = 0.0
            received[n] = total


SHIP_ACROSS_PRODUCTS = 4
"""Products from which :func:`ship` rations a short supplier's products together, with products in the inner
loops; with fewer, the loops would be too short to gain, so it rations product by product."""


@inline
def ration_product(on_hand, order, shipped, scratch, child_node, supplier, first, last, p):
    """:func:`ship` of one product of one supplier (children ``child_node[first:last]``)."""
    sent, remainder = scratch[1, : last - first], scratch[2, : last - first]
    requested = 0.0
    for k in range(first, last):
        requested += order[child_node[k], p]
    units = min(on_hand[supplier, p], requested)
    outflow = requested
    if units < requested:  # short: ration (otherwise every request ships as asked)
        fraction = units / max(requested, 1.0)
        for k in range(first, last):
            sent[k - first] = order[child_node[k], p] * fraction
        apportion(sent, units, remainder)
        outflow = 0.0
        for k in range(first, last):
            shipped[child_node[k], p] = sent[k - first]
            outflow += sent[k - first]
    on_hand[supplier, p] -= outflow


@inline
def ship(on_hand, order, shipped, scratch, child_start, child_node, one_product):
    """Step 2 (shipping): vendors ship in full; a stocking supplier ships min(on hand, requests), rationed
    among its children in proportion to their requests (largest remainder, as :func:`envs.dynamics._apportion`).
    With :data:`SHIP_ACROSS_PRODUCTS` or more products (never in the one-product step, which does not compile
    this path), a supplier short of any product apportions every product at once, over products in the inner
    loops: a product not short gets its requests back exactly (its fraction is 1.0), and a child's rank among the
    remainders is counted branch-free. ``scratch`` (:data:`~envs.kernel.layout.SCRATCH_ROWS` + children,
    >= max(N, P))."""
    num_nodes, num_products = on_hand.shape[0], num_products_of(on_hand, one_product)
    requested, fraction, leftover, rank = (scratch[0, :num_products], scratch[1, :num_products],
                                           scratch[2, :num_products], scratch[3, :num_products])
    remainder = scratch[SCRATCH_ROWS:]
    for n in range(num_nodes):
        for p in range(num_products):
            shipped[n, p] = order[n, p]
    for supplier in range(num_nodes):
        first, last = child_start[supplier], child_start[supplier + 1]
        if first == last:
            continue
        if one_product or num_products < SHIP_ACROSS_PRODUCTS:
            for p in range(num_products):
                ration_product(on_hand, order, shipped, scratch, child_node, supplier, first, last, p)
            continue
        for p in range(num_products):
            requested[p] = 0.0
        for k in range(first, last):
            for p in range(num_products):
                requested[p] += order[child_node[k], p]
        short = 0
        for p in range(num_products):
            short += on_hand[supplier, p] < requested[p]
        if short == 0:  # every request ships as asked
            for p in range(num_products):
                on_hand[supplier, p] -= requested[p]
            continue
        for p in range(num_products):
            units = min(on_hand[supplier, p], requested[p])
            fraction[p] = units / max(requested[p], 1.0)
            leftover[p] = units
        for k in range(first, last):  # whole shares, and the units they leave over
            child = child_node[k]
            for p in range(num_products):
                share = order[child, p] * fraction[p]
                whole = np.floor(share)
                remainder[k - first, p] = share - whole
                shipped[child, p] = whole
                leftover[p] -= whole
        for k in range(first, last):  # one unit more where the remainder ranks among the leftover largest
            for p in range(num_products):
                rank[p] = 0.0
            for j in range(first, last):  # ties rank the lower index first
                if j < k:
                    for p in range(num_products):
                        rank[p] += remainder[j - first, p] >= remainder[k - first, p]
                elif j > k:
                    for p in range(num_products):
                        rank[p] += remainder[j - first, p] > remainder[k - first, p]
            child = child_node[k]
            for p in range(num_products):
                if rank[p] < leftover[p] and remainder[k - first, p] > 0.0:
                    shipped[child, p] += 1.0
        for k in range(first, last):
            for p in range(num_products):
                on_hand[supplier, p] -= shipped[child_node[k], p]


@inline
def advance_pipeline(pipeline, due, last_due, shipped, lead_time, flags, one_product):
    """Step 2 (transit): shipments enter the pipeline at age 0, due ``L - 1`` periods after the next start
    (never before an earlier shipment under sequential lead times); older ones age by one period."""
    num_nodes, num_ages, num_products = pipeline.shape[0], pipeline.shape[1], num_products_of(pipeline, one_product)
    sequential = flags[SEQUENTIAL] != 0
    for n in range(num_nodes):
        for a in range(num_ages - 1, 0, -1):
            for p in range(num_products):
                pipeline[n, a, p] = pipeline[n, a - 1, p]
                due[n, a, p] = due[n, a - 1, p] - 1
        for p in range(num_products):
            due_new = lead_time[n, p] - 1
            latest = max(last_due[n, p] - 1, 0)
            if sequential:
                due_new = max(due_new, latest)
            if shipped[n, p] > 0.0:
                latest = due_new
            last_due[n, p] = latest
            pipeline[n, 0, p] = shipped[n, p]
            due[n, 0, p] = due_new


@summing
def fulfil(on_hand, backlog, demand, cutoff_uniform, spill_uniform, outcome, served_units, work,
           speed, penalty, flags, arc_start, arc_node, arc_cost, one_product):
    """Step 3: serve orders speed by speed (fastest first); on-time orders of every region before late ones;
    each stream along its eligible nodes in the fulfillment policy's order; spill a share of the unmet
    orders to the next slower speed; lose or backorder the rest. Fills the speed columns of ``outcome``;
    ``work`` (4, R, P) is scratch."""
    num_regions, num_speeds, num_products = demand.shape[0], demand.shape[1], num_products_of(demand, one_product)
    open_orders, remaining, carry, late = work[0], work[1], work[2], work[3]
    backorders = flags[BACKORDERS] != 0
    shipping = 0.0
    for p in range(num_products):  # units served = stock before less stock after (whole units: exact)
        served_units[p] = 0.0
    for n in range(on_hand.shape[0]):
        for p in range(num_products):
            served_units[p] += on_hand[n, p]
    for r in range(num_regions):
        for p in range(num_products):
            carry[r, p] = 0.0
    for s in range(num_speeds):
        cutoff_share = speed[CUTOFF_SHARE, s]
        requested = unmet = 0.0
        classes = 2 if cutoff_share > 0.0 else 1
        for late_class in range(classes):
            for r in range(num_regions):
                left = 0.0
                if late_class == 0:
                    for p in range(num_products):
                        new = demand[r, s, p]
                        late[r, p] = np.floor(new * cutoff_share + np.float64(cutoff_uniform[r, s, p]))
                        open_orders[r, p] = new - late[r, p] + backlog[r, s, p] + carry[r, p]
                        left += open_orders[r, p]
                else:
                    for p in range(num_products):
                        open_orders[r, p] = late[r, p]
                        left += late[r, p]
                requested += left
                group = (2 * s + late_class) * num_regions + r
                for k in range(arc_start[group], arc_start[group + 1]):
                    if left <= 0.0:  # every order of the region is served: later nodes would take nothing
                        break
                    n, unit_cost = arc_node[k], arc_cost[k]
                    taken = 0.0
                    for p in range(num_products):
                        take = min(open_orders[r, p], on_hand[n, p])
                        on_hand[n, p] -= take
                        open_orders[r, p] -= take
                        taken += take
                    shipping += unit_cost * taken
                    left -= taken
                if late_class == 0:
                    for p in range(num_products):
                        remaining[r, p] = open_orders[r, p]
                else:
                    for p in range(num_products):
                        remaining[r, p] += open_orders[r, p]
                unmet += left
        outcome[speed_col(REQUESTED, s, num_speeds)] = requested
        outcome[speed_col(SERVED, s, num_speeds)] = requested - unmet
        spill_share = speed[SPILL_SHARE, s]
        spills = s + 1 < num_speeds and spill_share > 0.0
        left = 0.0
        penalty_cost = 0.0
        for r in range(num_regions):
            if spills:
                for p in range(num_products):
                    spilled = np.floor(remaining[r, p] * spill_share + np.float64(spill_uniform[r, s, p]))
                    carry[r, p] = spilled
                    remaining[r, p] -= spilled
                    left += remaining[r, p]
                    penalty_cost += remaining[r, p] * penalty[s, p]
            else:
                for p in range(num_products):
                    carry[r, p] = 0.0
                    left += remaining[r, p]
                    penalty_cost += remaining[r, p] * penalty[s, p]
            if backorders:
                for p in range(num_products):
                    backlog[r, s, p] = remaining[r, p]
        outcome[speed_col(PENALTY, s, num_speeds)] = penalty_cost
        outcome[speed_col(LOST, s, num_speeds)] = 0.0 if backorders else left
    for n in range(on_hand.shape[0]):
        for p in range(num_products):
            served_units[p] -= on_hand[n, p]
    outcome[COST_SHIPPING] = shipping


@summing
def costs(on_hand, dock, pipeline, shipped, demand, last_demand, received, outcome, purchased,
          node_product, node, volume, one_product):
    """Step 4: costs and per-period totals on the end-of-period state."""
    num_nodes, num_ages, num_products = pipeline.shape[0], pipeline.shape[1], num_products_of(pipeline, one_product)
    num_regions, num_speeds = demand.shape[0], demand.shape[1]
    holding = purchase = transport = overflow_cost = 0.0
    for p in range(num_products):
        purchased[p] = 0.0
    for n in range(num_nodes):
        storage_used = 0.0
        for p in range(num_products):
            holding += (on_hand[n, p] + dock[n, p]) * node_product[HOLDING, n, p]
            purchase += shipped[n, p] * node_product[PURCHASE, n, p]
            transport += shipped[n, p] * node_product[TRANSPORT, n, p]
            purchased[p] += shipped[n, p] * node[FROM_VENDOR, n]
            storage_used += on_hand[n, p] * volume[p]
        for a in range(num_ages):
            for p in range(num_products):
                holding += pipeline[n, a, p] * node_product[PIPELINE_HOLDING, n, p]
        capacity = node[STORAGE_CAPACITY, n]
        overflow_cost += max(storage_used - capacity, 0.0) * node[OVERFLOW_COST, n]
        outcome[node_col(STORAGE_USED, n, num_speeds, num_nodes)] = storage_used
        outcome[node_col(STORAGE_USE, n, num_speeds, num_nodes)] = (
            storage_used / capacity if np.isfinite(capacity) else 0.0
        )
        inbound = node[INBOUND_CAPACITY, n]
        outcome[node_col(RECEIVED, n, num_speeds, num_nodes)] = received[n]
        outcome[node_col(INBOUND_USE, n, num_speeds, num_nodes)] = (
            received[n] / inbound if np.isfinite(inbound) else 0.0
        )
    total_penalty = 0.0
    for s in range(num_speeds):
        total_penalty += outcome[speed_col(PENALTY, s, num_speeds)]
        requested = outcome[speed_col(REQUESTED, s, num_speeds)]
        served = outcome[speed_col(SERVED, s, num_speeds)]
        outcome[speed_col(FILL_RATE, s, num_speeds)] = served / max(requested, 1e-12) if requested > 0 else 1.0
        outcome[speed_col(NEW_ORDERS, s, num_speeds)] = 0.0
    for r in range(num_regions):
        for p in range(num_products):
            last_demand[r, p] = 0.0
        for s in range(num_speeds):
            new_orders = 0.0
            for p in range(num_products):
                new_orders += demand[r, s, p]
                last_demand[r, p] += demand[r, s, p]
            outcome[speed_col(NEW_ORDERS, s, num_speeds)] += new_orders
    outcome[COST_HOLDING] = holding
    outcome[COST_PURCHASE] = purchase
    outcome[COST_TRANSPORT] = transport
    outcome[COST_OVERFLOW] = overflow_cost
    outcome[COST_TOTAL] = holding + purchase + transport + outcome[COST_SHIPPING] + total_penalty + overflow_cost


fulfil_in_order, costs_in_order = inline(fulfil.py_func), inline(costs.py_func)


def transitions(one_product):
    """One period of one replica (:func:`envs.dynamics.transition`): state rows in place, its outcome row written
    (the caller advances its period). ``one_product`` (a constant of the closure) chooses the one-product
    transition, with fulfilment and costs inlined with their sums in order (a call would cost more than they
    do) and its loops over products folded away; else the reassociated fulfilment and costs, whose sums over
    products vectorize."""
    fulfil_stage, costs_stage = (fulfil_in_order, costs_in_order) if one_product else (fulfil, costs)

    @inline
    def transition_one(on_hand, dock, pipeline, due, last_due, backlog, last_demand, received,
                       order, demand, cutoff_uniform, spill_uniform, lead_time,
                       outcome, shipped, purchased, served_units, work, scratch,
                       node_product, node, volume, speed, penalty, flags, child_start, child_node,
                       arc_start, arc_node, arc_cost):
        receive(on_hand, dock, pipeline, due, received, scratch, node, flags, one_product)
        ship(on_hand, order, shipped, scratch, child_start, child_node, one_product)
        advance_pipeline(pipeline, due, last_due, shipped, lead_time, flags, one_product)
        fulfil_stage(on_hand, backlog, demand, cutoff_uniform, spill_uniform, outcome, served_units, work,
                     speed, penalty, flags, arc_start, arc_node, arc_cost, one_product)
        costs_stage(on_hand, dock, pipeline, shipped, demand, last_demand, received, outcome, purchased,
                    node_product, node, volume, one_product)

    return transition_one


several_products_transition, one_product_transition = transitions(False), transitions(True)


# Env step: actions, observations, batches -------------------------------------------------------------------


@jit
def actions_valid(actions):
    """False when any action is non-finite or outside [-1, 1] (beyond round-off)."""
    for b in range(actions.shape[0]):
        for i in range(actions.shape[1]):
            value = actions[b, i]
            if not np.isfinite(value) or abs(value) > 1.0 + ACTION_TOLERANCE:
                return False
    return True


@inline
def decode_one(action, mode, on_hand, dock, pipeline, backlog, order, node_product, flags, backlog_node, one_product):
    """Order quantities (N, P) of one replica from its normalized action (N * P,) (:mod:`envs.actions`)."""
    num_nodes, num_ages, num_products = pipeline.shape[0], pipeline.shape[1], num_products_of(pipeline, one_product)
    for n in range(num_nodes):
        if mode == 0:  # the inventory position into the order row, ages outermost: products are added side by side
            for p in range(num_products):
                order[n, p] = on_hand[n, p] + dock[n, p]
            for a in range(num_ages):
                for p in range(num_products):
                    order[n, p] += pipeline[n, a, p]
        node_action = span(action, n * num_products, num_products)
        for p in range(num_products):
            value = min(max(node_action[p], -1.0), 1.0)
            fraction = (value + 1.0) / 2.0
            if mode == 0:
                level = np.rint(fraction * node_product[MAX_LEVEL, n, p])
                order[n, p] = level - order[n, p]
            else:
                order[n, p] = np.rint(fraction * node_product[MAX_ORDER, n, p])
    if mode == 0:
        if flags[BACKORDERS] != 0:  # backlog charged to a node lowers its inventory position
            for r in range(backlog_node.shape[0]):
                for s in range(backlog_node.shape[1]):
                    n = backlog_node[r, s]
                    if n >= 0:
                        for p in range(num_products):
                            order[n, p] += backlog[r, s, p]
        for n in range(num_nodes):
            for p in range(num_products):
                order[n, p] = max(order[n, p], 0.0)


@inline
def observe_one(on_hand, dock, pipeline, backlog, last_demand, received, period, observation,
                node_product, node, volume, region_product, seasonality, season_table, scalars, pipeline_scale,
                one_product):
    """One replica's observation (:func:`envs.observation.observe`) into ``observation`` (O,)."""
    num_nodes, num_ages, num_products = pipeline.shape[0], pipeline.shape[1], num_products_of(pipeline, one_product)
    num_regions, num_speeds = backlog.shape[0], backlog.shape[1]
    cells = num_nodes * num_products
    for n in range(num_nodes):
        stock = span(observation, n * num_products, num_products)
        inbound = span(observation, cells + n * num_products, num_products)
        for p in range(num_products):
            scale = node_product[INV_MAX_LEVEL, n, p]
            stock[p] = np.float32(on_hand[n, p] * scale)
            inbound[p] = np.float32(dock[n, p] * scale)
    column = 2 * cells
    for n in range(num_nodes):
        for a in range(num_ages):
            out = span(observation, column, num_products)
            for p in range(num_products):
                out[p] = np.float32(pipeline[n, a, p] * pipeline_scale[n, a, p])
            column += num_products
    for r in range(num_regions):
        out = span(observation, column, num_products)
        for p in range(num_products):
            owed = 0.0
            for s in range(num_speeds):
                owed += backlog[r, s, p]
            out[p] = np.float32(owed * region_product[INV_DEMAND_SCALE, r, p])
        column += num_products
    for r in range(num_regions):
        out = span(observation, column, num_products)
        for p in range(num_products):
            out[p] = np.float32(last_demand[r, p] * region_product[INV_DEMAND_SCALE, r, p])
        column += num_products
    phase = period % seasonality.shape[0]
    factor = seasonality[phase]
    if scalars[TREND] != 0.0:
        factor = factor * (1.0 + scalars[TREND]) ** np.float64(period)
    else:
        factor = factor * 1.0
    for r in range(num_regions):
        out = span(observation, column, num_products)
        for p in range(num_products):
            forecast = factor * region_product[BASE_TOTAL, r, p]
            out[p] = np.float32(forecast * region_product[INV_DEMAND_SCALE, r, p])
        column += num_products
    observation[column] = np.float32(season_table[phase, 0])
    observation[column + 1] = np.float32(season_table[phase, 1])
    column += 2
    out = span(observation, column, num_nodes)
    for n in range(num_nodes):
        volume_used = 0.0
        for p in range(num_products):
            volume_used += on_hand[n, p] * volume[p]
        out[n] = np.float32(volume_used * node[INV_STORAGE, n])
    column += num_nodes
    out = span(observation, column, num_nodes)
    for n in range(num_nodes):
        out[n] = np.float32(received[n] * node[INV_INBOUND, n])


class BatchFunctions(NamedTuple):
    """The batch functions that run the transition, compiled for one product count (:func:`batch_functions_of`)."""

    step_batch: Callable
    transition_batch: Callable


def batch_functions_of(one_product: bool) -> BatchFunctions:
    """:class:`BatchFunctions` for one product (``one_product``: :data:`one_product_transition`, and the noise,
    decoding and observation with their loops over products folded away) or for several
    (:data:`several_products_transition`). ``one_product`` is a constant of the closures (part of their cache
    key), so each compiles one of the two transitions and a process compiles only the pair its scenarios use.
    The one-product pair compiles without the loop vectorizer (:data:`scalar_jit`) and refuses arrays with
    several products."""
    batch_jit = scalar_jit if one_product else jit

    @batch_jit
    def step_batch(rows, first, last, actions, mode, noise_given, warmup, key_low, key_high,
                   on_hand, dock, pipeline, due, last_due, backlog, last_demand, received, period,
                   demand, cutoff_uniform, spill_uniform, lead_time, mix, order, work, scratch,
                   shipped, purchased, served_units, outcome, rewards, observations,
                   node_product, node, volume, speed, penalty, region_product, seasonality, season_table, scalars,
                   flags, child_start, child_node, backlog_node, arc_start, arc_node, arc_cost, lead_time_cdf,
                   fixed_lead_time, table_cdf, table_offset, table_guide, table_head, trace, pipeline_scale):
        """One env step (``warmup < 0``), or a reset with ``warmup`` warm-up periods, of every replica
        ``first <= b < last`` where ``rows`` is True: state rows in place; outcome, reward and observation rows
        written. ``mix``, ``order``, ``work``, ``scratch``, ``shipped``, ``purchased`` and ``served_units`` are
        one thread's buffers (no batch axis); so are the noise arrays (leading axis of length 1) unless
        ``noise_given``, when the caller filled them per replica. Releases the GIL, so threads can run disjoint
        ranges at once."""
        rows, actions, key_low, key_high, period = borrowed((rows, actions, key_low, key_high, period))
        on_hand, dock, pipeline, due, last_due, backlog, last_demand, received = borrowed(
            (on_hand, dock, pipeline, due, last_due, backlog, last_demand, received))
        demand, cutoff_uniform, spill_uniform, lead_time = borrowed((demand, cutoff_uniform, spill_uniform, lead_time))
        mix, order, work, scratch, shipped, purchased, served_units = borrowed(
            (mix, order, work, scratch, shipped, purchased, served_units))
        outcome, rewards, observations = borrowed((outcome, rewards, observations))
        node_product, node, volume, speed, penalty, region_product = borrowed(
            (node_product, node, volume, speed, penalty, region_product))
        seasonality, season_table, scalars, flags, pipeline_scale = borrowed(
            (seasonality, season_table, scalars, flags, pipeline_scale))
        child_start, child_node, backlog_node, arc_start, arc_node, arc_cost = borrowed(
            (child_start, child_node, backlog_node, arc_start, arc_node, arc_cost))
        lead_time_cdf, fixed_lead_time, table_cdf, table_offset, table_guide, table_head, trace = borrowed(
            (lead_time_cdf, fixed_lead_time, table_cdf, table_offset, table_guide, table_head, trace))
        if one_product and on_hand.shape[2] != 1:
            raise ValueError("the one-product step_batch was given several products")
        for b in range(first, last):
            if not rows[b]:
                continue
            slot = b if noise_given else 0
            periods = 1
            if warmup >= 0:  # the initial state (envs.state.initial_state), then the warm-up periods
                on_hand[b] = node_product[START_ON_HAND]
                dock[b], pipeline[b], due[b], last_due[b] = 0.0, 0.0, -1, 0
                backlog[b], last_demand[b], received[b], period[b] = 0.0, 0.0, 0.0, 0
                periods = warmup
            for _ in range(periods):
                if warmup >= 0:
                    order[:] = node_product[WARMUP_ORDER]
                else:
                    decode_one(actions[b], mode, on_hand[b], dock[b], pipeline[b], backlog[b], order, node_product,
                               flags, backlog_node, one_product)
                if not noise_given:
                    noise_one(key_low[b], key_high[b], period[b], demand[0], cutoff_uniform[0], spill_uniform[0],
                              lead_time[0], mix, scratch, seasonality, scalars, flags, lead_time_cdf, fixed_lead_time,
                              table_cdf, table_offset, table_guide, table_head, trace, one_product)
                if one_product:  # a constant of the closure: numba prunes the other branch before compiling it
                    one_product_transition(on_hand[b], dock[b], pipeline[b], due[b], last_due[b], backlog[b],
                                           last_demand[b], received[b], order, demand[slot], cutoff_uniform[slot],
                                           spill_uniform[slot], lead_time[slot], outcome[b], shipped, purchased,
                                           served_units, work, scratch, node_product, node, volume, speed, penalty,
                                           flags, child_start, child_node, arc_start, arc_node, arc_cost)
                else:
                    several_products_transition(on_hand[b], dock[b], pipeline[b], due[b], last_due[b], backlog[b],
                                                last_demand[b], received[b], order, demand[slot], cutoff_uniform[slot],
                                                spill_uniform[slot], lead_time[slot], outcome[b], shipped, purchased,
                                                served_units, work, scratch, node_product, node, volume, speed,
                                                penalty, flags, child_start, child_node, arc_start, arc_node, arc_cost)
                period[b] += 1
                rewards[b] = -outcome[b, COST_TOTAL] / scalars[COST_SCALE]
            observe_one(on_hand[b], dock[b], pipeline[b], backlog[b], last_demand[b], received[b], period[b],
                        observations[b], node_product, node, volume, region_product, seasonality, season_table, scalars,
                        pipeline_scale, one_product)

    @batch_jit
    def transition_batch(rows, on_hand, dock, pipeline, due, last_due, backlog, last_demand, received, period,
                         order, demand, cutoff_uniform, spill_uniform, lead_time, work, scratch,
                         outcome, shipped, purchased, served_units,
                         node_product, node, volume, speed, penalty, flags, child_start, child_node,
                         arc_start, arc_node, arc_cost):
        """The transition alone, with per-replica orders and noise, for the replicas where ``rows`` is True
        (``work`` and ``scratch`` are one thread's buffers)."""
        rows, period, on_hand, dock, pipeline, due, last_due, backlog, last_demand, received = borrowed(
            (rows, period, on_hand, dock, pipeline, due, last_due, backlog, last_demand, received))
        order, demand, cutoff_uniform, spill_uniform, lead_time, work, scratch = borrowed(
            (order, demand, cutoff_uniform, spill_uniform, lead_time, work, scratch))
        outcome, shipped, purchased, served_units = borrowed((outcome, shipped, purchased, served_units))
        node_product, node, volume, speed, penalty, flags = borrowed(
            (node_product, node, volume, speed, penalty, flags))
        child_start, child_node, arc_start, arc_node, arc_cost = borrowed(
            (child_start, child_node, arc_start, arc_node, arc_cost))
        if one_product and on_hand.shape[2] != 1:
            raise ValueError("the one-product transition_batch was given several products")
        for b in range(rows.shape[0]):
            if rows[b]:
                if one_product:  # a constant of the closure: numba prunes the other branch before compiling it
                    one_product_transition(on_hand[b], dock[b], pipeline[b], due[b], last_due[b], backlog[b],
                                           last_demand[b], received[b], order[b], demand[b], cutoff_uniform[b],
                                           spill_uniform[b], lead_time[b], outcome[b], shipped[b], purchased[b],
                                           served_units[b], work, scratch, node_product, node, volume, speed,
                                           penalty, flags, child_start, child_node, arc_start, arc_node, arc_cost)
                else:
                    several_products_transition(on_hand[b], dock[b], pipeline[b], due[b], last_due[b], backlog[b],
                                                last_demand[b], received[b], order[b], demand[b], cutoff_uniform[b],
                                                spill_uniform[b], lead_time[b], outcome[b], shipped[b], purchased[b],
                                                served_units[b], work, scratch, node_product, node, volume, speed,
                                                penalty, flags, child_start, child_node, arc_start, arc_node, arc_cost)
                period[b] += 1

    return BatchFunctions(step_batch, transition_batch)


SEVERAL_PRODUCTS, ONE_PRODUCT = batch_functions_of(False), batch_functions_of(True)


def batch_functions(num_products: int) -> BatchFunctions:
    """The batch functions for scenarios with ``num_products`` products (:data:`ONE_PRODUCT` or
    :data:`SEVERAL_PRODUCTS`)."""
    return ONE_PRODUCT if num_products == 1 else SEVERAL_PRODUCTS


@jit
def noise_batch(rows, key_low, key_high, period, demand, cutoff_uniform, spill_uniform, lead_time, mix, scratch,
                seasonality, scalars, flags, lead_time_cdf, fixed_lead_time, table_cdf, table_offset, table_guide,
                table_head, trace):
    """The noise alone of the replicas where ``rows`` is True, in their ``period``."""
    rows, key_low, key_high, period = borrowed((rows, key_low, key_high, period))
    demand, cutoff_uniform, spill_uniform, lead_time, mix, scratch = borrowed(
        (demand, cutoff_uniform, spill_uniform, lead_time, mix, scratch))
    seasonality, scalars, flags, lead_time_cdf, fixed_lead_time = borrowed(
        (seasonality, scalars, flags, lead_time_cdf, fixed_lead_time))
    table_cdf, table_offset, table_guide, table_head, trace = borrowed(
        (table_cdf, table_offset, table_guide, table_head, trace))
    for b in range(rows.shape[0]):
        if rows[b]:
            noise_one(key_low[b], key_high[b], period[b], demand[b], cutoff_uniform[b], spill_uniform[b],
                      lead_time[b], mix, scratch, seasonality, scalars, flags, lead_time_cdf, fixed_lead_time,
                      table_cdf, table_offset, table_guide, table_head, trace, False)


@jit
def observe_batch(rows, on_hand, dock, pipeline, backlog, last_demand, received, period, observations,
                  node_product, node, volume, region_product, seasonality, season_table, scalars, pipeline_scale):
    """Observations of the replicas where ``rows`` is True."""
    rows, on_hand, dock, pipeline, backlog, last_demand, received, period, observations = borrowed(
        (rows, on_hand, dock, pipeline, backlog, last_demand, received, period, observations))
    node_product, node, volume, region_product, seasonality, season_table, scalars, pipeline_scale = borrowed(
        (node_product, node, volume, region_product, seasonality, season_table, scalars, pipeline_scale))
    for b in range(rows.shape[0]):
        if rows[b]:
            observe_one(on_hand[b], dock[b], pipeline[b], backlog[b], last_demand[b], received[b], period[b],
                        observations[b], node_product, node, volume, region_product, seasonality, season_table,
                        scalars, pipeline_scale, False)
