"""Exact inverse-cdf sampling of demand from uniforms, via compact precomputed tables.

Demand of a stream (region, speed, product) in period t is ``Q_t(u) = #{k : F_t(k) <= u}``, the
quantile function of its marginal distribution at a uniform u (so common random numbers and copulas
are simply shared or coupled uniforms). Without trend the marginal depends on t only through the
seasonal phase, so each (phase, stream) row gets its cdf over its own support (a ragged table) and a
guide table of ``GUIDE`` cells (Chen & Asau 1974): a uniform whose cell holds no jump of the cdf
resolves with one lookup, the others by a vectorized binary search within the cell. Supports are
truncated where the upper tail is below 1e-12 (that mass goes to the last value). With a trend the
quantiles are computed directly with scipy (slower, exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from envs.scenario.limits import TAIL

GUIDE = 64


def common_value(values: float | np.ndarray) -> float | np.ndarray:
    """A per-product parameter (P,) as one number when every product has the same (the arithmetic of a scenario
    without per-product parameters stays that of one number), else the array itself."""
    values = np.asarray(values, dtype=float)
    return float(values.flat[0]) if values.ndim == 0 or (values == values.flat[0]).all() else values


def marginal(distribution: str, mean: np.ndarray, dispersion: float | np.ndarray, cv: float | np.ndarray):
    """Frozen scipy distribution(s) of one period's demand with the given mean(s); ``dispersion`` and ``cv`` are
    numbers or arrays that broadcast with ``mean``.

    ``normal`` is the normal with sd ``cv x mean``, truncated at 0 and rounded to the nearest unit;
    scipy has no frozen form for it, so it is returned as a small object with ``cdf`` and ``ppf``.
    """
    mean = np.asarray(mean, dtype=float)
    if distribution == "poisson":
        return stats.poisson(mean)
    if distribution == "negative_binomial":
        return stats.nbinom(dispersion, dispersion / (dispersion + mean))
    return RoundedTruncatedNormal(mean, cv * mean)


@dataclass(frozen=True)
class RoundedTruncatedNormal:
    """D = round(X), X ~ Normal(mean, sd) conditioned on X >= 0 (sd = 0: D = round(mean))."""

    mean: np.ndarray
    sd: np.ndarray

    def cdf(self, k):
        k = np.floor(np.asarray(k, dtype=float))
        sd = np.where(self.sd > 0, self.sd, 1.0)
        low = stats.norm.cdf(-self.mean / sd)
        value = (stats.norm.cdf((k + 0.5 - self.mean) / sd) - low) / np.maximum(1.0 - low, 1e-300)
        value = np.clip(value, 0.0, 1.0)
        point = (k >= np.rint(self.mean)).astype(float)
        return np.where(k < 0, 0.0, np.where(self.sd > 0, value, point))

    def ppf(self, u):
        sd = np.where(self.sd > 0, self.sd, 1.0)
        low = stats.norm.cdf(-self.mean / sd)
        x = self.mean + sd * stats.norm.ppf(low + (1.0 - low) * np.asarray(u))
        # rounding: smallest k with cdf(k) >= u is the k whose cell [k-0.5, k+0.5) contains x
        return np.where(self.sd > 0, np.maximum(np.ceil(x - 0.5), 0.0), np.rint(self.mean))


@dataclass(frozen=True, eq=False)
class DemandTable:
    """Ragged cdf rows (flat, with row offsets) and a guide table (rows, GUIDE + 1)."""

    cdf: np.ndarray  # (total support points,) every row's cdf, rows back to back
    offset: np.ndarray  # (rows,) where each row starts in ``cdf``
    guide: np.ndarray  # (rows, GUIDE + 1) guide[r, g] = #{k : F_r(k) <= g / GUIDE}, capped at the last k
    streams: int

    def quantile(self, u: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """Demand for uniforms ``u`` (B, *stream_shape) with seasonal ``phase`` (B,)."""
        shape = u.shape
        flat_u = u.reshape(shape[0], -1)
        rows = phase[:, None] * self.streams + np.arange(self.streams)[None, :]
        cell = np.minimum((flat_u * GUIDE).astype(np.int64), GUIDE - 1)
        guide = self.guide.reshape(-1)
        index = rows * (GUIDE + 1) + cell
        low = guide[index].astype(np.int64)
        high = guide[index + 1].astype(np.int64)
        result = low.astype(np.float64)
        open_ = np.flatnonzero(high > low)
        if len(open_):
            u_o = flat_u.reshape(-1)[open_]
            base = self.offset[rows.reshape(-1)[open_]]
            lo, hi = low.reshape(-1)[open_], high.reshape(-1)[open_]
            for _ in range(int(np.max(hi - lo)).bit_length()):  # smallest k in [lo, hi] with F(k) > u
                mid = (lo + hi) // 2
                above = self.cdf[base + mid] > u_o
                hi = np.where(above, mid, hi)
                lo = np.where(above, lo, mid + 1)
            result.reshape(-1)[open_] = lo
        return result.reshape(shape)


CHUNK_ENTRIES = 1 << 22
"""Table entries computed at once: building in chunks of rows bounds the temporary arrays of scipy's cdf."""


def build_demand_table(distribution: str, means: np.ndarray, dispersion: float | np.ndarray,
                       cv: float | np.ndarray) -> DemandTable:
    """Tables for ``means`` of shape (phases, *stream_shape); vectorized over rows, in chunks of about
    :data:`CHUNK_ENTRIES` entries so that the memory needed beyond the table itself stays bounded. ``dispersion`` and
    ``cv`` are numbers or per-product arrays (P,), the last axis of ``means``."""
    phases = means.shape[0]
    flat_mean = means.reshape(-1)
    rows = len(flat_mean)
    dispersion, cv = (value if isinstance(value := common_value(given), float) else
                      np.broadcast_to(value, means.shape).reshape(-1) for given in (dispersion, cv))

    def of_rows(value: float | np.ndarray, chunk: slice, row_of: np.ndarray) -> float | np.ndarray:
        return value if isinstance(value, float) else value[chunk][row_of]

    top = np.asarray(marginal(distribution, flat_mean, dispersion, cv).ppf(1.0 - TAIL), dtype=float)
    size = np.where(flat_mean > 0, np.nan_to_num(top, nan=0.0), 0.0).astype(np.int64) + 2
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    cdf = np.empty(int(size.sum()))
    guide = np.empty((rows, GUIDE + 1), dtype=np.int16 if size.max() < np.iinfo(np.int16).max else np.int32)
    start = 0
    while start < rows:  # rows [start, stop) hold at most CHUNK_ENTRIES entries (or one row)
        stop = max(int(np.searchsorted(offset, offset[start] + CHUNK_ENTRIES, side="right")), start + 1)
        chunk = slice(start, stop)
        row_of = np.repeat(np.arange(stop - start), size[chunk])
        first_entry = int(offset[start])
        k = np.arange(first_entry, first_entry + len(row_of)) - offset[chunk][row_of]
        mean = flat_mean[chunk][row_of]
        values = np.asarray(marginal(distribution, mean, of_rows(dispersion, chunk, row_of),
                                     of_rows(cv, chunk, row_of)).cdf(k), dtype=float)
        values = np.where(mean > 0, np.clip(np.nan_to_num(values, nan=1.0), 0.0, 1.0), 1.0)
        values[offset[chunk] + size[chunk] - 1 - first_entry] = 1.0
        cdf[first_entry : first_entry + len(values)] = values
        # First guide level g with g / GUIDE >= F(k); guide[r, g] counts such k up to g.
        level = np.ceil(values * GUIDE)
        level = np.where((level - 1) / GUIDE >= values, level - 1, level)
        level = np.where(level / GUIDE < values, level + 1, level).astype(np.int64)
        counts = np.bincount(row_of * (GUIDE + 1) + level, minlength=(stop - start) * (GUIDE + 1))
        cumulative = np.cumsum(counts.reshape(stop - start, GUIDE + 1), axis=1)
        guide[chunk] = np.minimum(cumulative, (size[chunk] - 1)[:, None])
        start = stop
    return DemandTable(cdf=cdf, offset=offset, guide=guide, streams=rows // phases)
