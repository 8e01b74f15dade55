"""Exogenous randomness: what the transition consumes, as a pure function of (episode key, period).

Every replica's episode starts by drawing one 64-bit **episode key** from its seeded generator
(:func:`episode_keys`; the env's ``np_random``); everything random in that episode is then a function of
the key and the period only, computed by the counter-based generator Philox4x32-10 (:mod:`envs.philox`).
Counter words: ``(index, period, family, 0)``; key words: the key's low and high 32 bits. The families:

=============  ==================================  ==============================================================
family         index                               fields of the 128 output bits ``x = w0:w1``, ``y = w2:w3``
=============  ==================================  ==============================================================
``STREAMS``    stream ``(r * S + s) * P + p``      demand ``x >> 11`` (53 bits); mix ``y >> 40``; cutoff
                                                   ``(y >> 16) & 0xFFFFFF``; spill ``(y & 0xFFFF) << 8 | x & 0xFF``
                                                   (24 bits each)
``COMMON``     product ``p``                       the product's common demand uniform ``x >> 11`` (53 bits)
``LEAD_TIME``  ``p * ceil(N / 4) + n // 4``        node n's lead-time uniform ``w[n % 4] >> 8`` (24 bits)
=============  ==================================  ==============================================================

A b-bit field k is the uniform ``k / 2**b``. :func:`realize` turns uniforms into noise deterministically
(demand by inverse cdf, lead times by inverse cdf). Regions are coupled through a mixture copula: each
stream's demand uniform is, with probability ``sqrt(region_correlation)``, the product's common uniform of
that period, so the rank correlation between two streams of a product is ``region_correlation`` while
every marginal stays exact.

Because the noise of (key, period) does not depend on the batch, on other replicas or on actions, replica
i of a vector env seeded s sees exactly the noise of a single env seeded s + i, and two policies run with
the same seeds face the same demands and lead times (common random numbers). This module is the
reference; the compiled kernel (:mod:`envs.kernel`) computes the same fields and is tested equal to it.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from envs.demand_table import DemandTable, build_demand_table, common_value, marginal
from envs.params import EnvParams
from envs.philox import philox4x32
from envs.scenario.limits import MAX_UNITS
from envs.sizes import check_demand_tables

STREAMS, COMMON, LEAD_TIME = 0, 1, 2
"""Philox counter word 2: which family of draws a counter belongs to."""

LEAD_TIME_WORDS = 4
"""Nodes sharing one Philox call for their lead-time uniforms (one 32-bit word each)."""

_U53 = 2.0**-53
_U24 = 2.0**-24


@dataclass(frozen=True)
class Uniforms:
    """Raw uniforms for one period per leading index (replica)."""

    demand: np.ndarray  # (B, R, S, P) float64
    mix: np.ndarray  # (B, R, S, P) float64, chooses the common vs the stream's own uniform
    common: np.ndarray  # (B, P) float64, the product's common uniform
    cutoff: np.ndarray  # (B, R, S, P) float32
    spill: np.ndarray  # (B, R, S, P) float32
    lead_time: np.ndarray  # (B, N, P) float32


@dataclass(frozen=True)
class Noise:
    """What the transition consumes, leading axis batch."""

    demand: np.ndarray  # (B, R, S, P) whole units
    cutoff_uniform: np.ndarray  # (B, R, S, P) rounds the after-cut-off share (float32)
    spill_uniform: np.ndarray  # (B, R, S, P) rounds the spill-down share (float32)
    lead_time: np.ndarray  # (B, N, P) periods until the order placed this period arrives (int8)


def episode_keys(rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """One fresh 64-bit episode key per generator (the only draw an episode makes from it)."""
    return np.array([rng.integers(0, 2**64, dtype=np.uint64) for rng in rngs], dtype=np.uint64)


def key_words(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Philox key words (low, high 32 bits) of 64-bit episode keys."""
    keys = np.asarray(keys, dtype=np.uint64)
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32), (keys >> np.uint64(32)).astype(np.uint32)


def _words(index: np.ndarray, periods: np.ndarray, family: int, keys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Philox words for counters (index, period, family, 0); ``index`` (K,), periods and keys (B,) -> (B, K)."""
    k0, k1 = key_words(keys)
    return philox4x32(
        index.astype(np.uint32)[None, :],
        np.asarray(periods).astype(np.uint32)[:, None],
        np.uint32(family),
        np.uint32(0),
        k0[:, None],
        k1[:, None],
    )


def _join(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    return (high.astype(np.uint64) << np.uint64(32)) | low.astype(np.uint64)


def _uniform53(x: np.ndarray) -> np.ndarray:
    return (x >> np.uint64(11)).astype(np.float64) * _U53


def _uniform24(bits: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    return (bits.astype(np.float64) * _U24).astype(dtype)


def draw_uniforms(keys: np.ndarray, periods: np.ndarray, params: EnvParams) -> Uniforms:
    """The uniforms of replicas with episode ``keys`` (B,) in ``periods`` (B,) (see the module docstring)."""
    keys = np.asarray(keys, dtype=np.uint64)
    batch = len(keys)
    n, p, r, s = params.num_nodes, params.num_products, params.num_regions, params.num_speeds
    w0, w1, w2, w3 = _words(np.arange(r * s * p), periods, STREAMS, keys)
    x, y = _join(w0, w1), _join(w2, w3)
    stream = (batch, r, s, p)
    mask24, mask16 = np.uint64(0xFFFFFF), np.uint64(0xFFFF)
    spill_bits = ((y & mask16) << np.uint64(8)) | (x & np.uint64(0xFF))
    c0, c1, _, _ = _words(np.arange(p), periods, COMMON, keys)
    groups = -(-n // LEAD_TIME_WORDS)
    node, product = np.meshgrid(np.arange(n), np.arange(p), indexing="ij")
    lead_words = _words((product * groups + node // LEAD_TIME_WORDS).reshape(-1), periods, LEAD_TIME, keys)
    lead_bits = np.choose(np.broadcast_to((node % LEAD_TIME_WORDS).reshape(-1), (batch, n * p)), lead_words)
    return Uniforms(
        demand=_uniform53(x).reshape(stream),
        mix=_uniform24(y >> np.uint64(40)).reshape(stream),
        common=_uniform53(_join(c0, c1)),
        cutoff=_uniform24((y >> np.uint64(16)) & mask24, np.float32).reshape(stream),
        spill=_uniform24(spill_bits, np.float32).reshape(stream),
        lead_time=_uniform24(lead_bits >> np.uint32(8), np.float32).reshape(batch, n, p),
    )


_TABLES: weakref.WeakKeyDictionary[EnvParams, DemandTable | None] = weakref.WeakKeyDictionary()


def demand_table(params: EnvParams) -> DemandTable | None:
    """Inverse-cdf tables per (seasonal phase, stream), built on first use for each params (None with a trend,
    whose marginals change every period, or a trace); tables above the size limit are refused first
    (:func:`envs.sizes.check_demand_tables`)."""
    if params not in _TABLES:
        table = None
        if params.trace is None and params.trend == 0:
            check_demand_tables(params)
            means = params.base_mean[None] * params.seasonality[:, None, None, None]
            table = build_demand_table(params.distribution, means, params.dispersion, params.cv)
        _TABLES[params] = table
    return _TABLES[params]


def quantile(params: EnvParams, u: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Demand (B, R, S, P) at uniforms ``u`` in ``periods`` (B,): each stream's marginal quantile."""
    table = demand_table(params)
    if table is not None:
        return table.quantile(u, np.asarray(periods) % len(params.seasonality))
    mean = params.mean_demand(periods)
    exact = (mean <= MAX_UNITS).reshape(len(periods), -1).all(1)
    if not exact.all():  # a trend compounds: refuse the periods whose units would no longer be exact
        period = int(np.asarray(periods)[np.flatnonzero(~exact)[0]])
        raise ValueError(f"period {period}: a trend of {params.trend} per period has grown mean demand beyond "
                         f"{MAX_UNITS:.0e} units per stream, where units are no longer exact; use shorter episodes "
                         "or a smaller trend")
    dispersion, cv = common_value(params.dispersion), common_value(params.cv)
    return np.asarray(marginal(params.distribution, mean, dispersion, cv).ppf(u), dtype=float)


def realize(uniforms: Uniforms, periods: np.ndarray, params: EnvParams) -> Noise:
    """Noise for a batch of replicas in periods ``periods`` (B,) from their uniforms (B, ...)."""
    periods = np.asarray(periods)
    if params.trace is not None:
        demand = params.trace[periods % len(params.trace)]
    else:
        u = uniforms.demand
        if params.region_correlation > 0:
            use_common = uniforms.mix < params.mix_threshold
            u = np.where(use_common, uniforms.common[:, None, None, :], u)
        demand = quantile(params, u, periods)
    lead_time = np.ones(uniforms.lead_time.shape, dtype=np.int8)
    for age in range(params.num_ages - 1):  # lead time = 1 + #{a : u >= P(L <= a + 1)}
        lead_time += uniforms.lead_time >= params.lead_time_cdf32[:, age, None]
    return Noise(demand=demand, cutoff_uniform=uniforms.cutoff, spill_uniform=uniforms.spill, lead_time=lead_time)


def noise(keys: np.ndarray, periods: np.ndarray, params: EnvParams) -> Noise:
    """The noise of replicas with episode ``keys`` (B,) in ``periods`` (B,)."""
    return realize(draw_uniforms(keys, periods, params), periods, params)


def sample_noise(rng: np.random.Generator, params: EnvParams, start_period: int, length: int) -> Noise:
    """Noise for ``length`` consecutive periods of one episode whose key is drawn from ``rng`` (leading axis: time)."""
    periods = np.arange(start_period, start_period + length)
    return noise(np.repeat(episode_keys([rng]), length), periods, params)
