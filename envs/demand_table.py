"""Exact inverse-cdf sampling of demand from uniforms, via precomputed tables.

Demand of a stream (region, speed, product) in period t is ``Q_t(u)``, the quantile function of its
marginal distribution evaluated at a uniform u (so common random numbers and copulas are simply shared
or coupled uniforms). Without trend the marginal depends on t only through the seasonal phase, so each
(phase, stream) gets a cdf table and a coarse grid index: most uniforms resolve with one lookup, the
few that fall in a grid cell containing a jump of the cdf are resolved by comparing with the cdf.
Supports are truncated where the upper tail is below 1e-12 (the mass is put on the last value).
With a trend the quantiles are computed directly with scipy (slower, exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

GRID = 1024
TAIL = 1e-12


def marginal(distribution: str, mean: np.ndarray, dispersion: float, cv: float):
    """Frozen scipy distribution(s) of one period's demand with the given mean(s).

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
    """cdf (rows, K) and grid index (rows, GRID + 1) for rows = phases x streams."""

    cdf: np.ndarray
    grid: np.ndarray
    streams: int

    def quantile(self, u: np.ndarray, phase: np.ndarray) -> np.ndarray:
        """Demand for uniforms ``u`` (B, *stream_shape) with seasonal ``phase`` (B,)."""
        shape = u.shape
        flat_u = u.reshape(shape[0], -1)
        rows = phase[:, None] * self.streams + np.arange(self.streams)[None, :]
        cell = np.minimum((flat_u * GRID).astype(np.int64), GRID - 1)
        base = rows * (GRID + 1) + cell
        grid = self.grid.reshape(-1)
        low = grid[base]
        high = grid[base + 1]
        result = low.astype(np.float64)
        ambiguous = np.flatnonzero(high > low)
        if len(ambiguous):
            u_a = flat_u.reshape(-1)[ambiguous]
            lo_a = low.reshape(-1)[ambiguous]
            hi_a = high.reshape(-1)[ambiguous]
            rows_a = rows.reshape(-1)[ambiguous]
            count = lo_a.astype(np.int64)
            for j in range(int((hi_a - lo_a).max())):
                k = lo_a + j
                inside = k < hi_a
                count += inside & (self.cdf[rows_a, np.minimum(k, self.cdf.shape[1] - 1)] <= u_a)
            result.reshape(-1)[ambiguous] = count
        return result.reshape(shape)


def build_demand_table(distribution: str, means: np.ndarray, dispersion: float, cv: float) -> DemandTable:
    """Tables for ``means`` of shape (phases, *stream_shape)."""
    phases = means.shape[0]
    flat = means.reshape(phases, -1)
    dist = marginal(distribution, flat.reshape(-1, 1), dispersion, cv)
    top = int(np.max(dist.ppf(1.0 - TAIL))) if flat.size else 0
    support = np.arange(top + 2, dtype=float)
    cdf = np.broadcast_to(np.asarray(dist.cdf(support[None, :]), dtype=float), (flat.size, len(support)))
    cdf = np.maximum.accumulate(np.clip(cdf, 0.0, 1.0), axis=1)
    cdf[:, -1] = 1.0
    levels = np.arange(GRID + 1) / GRID
    grid = np.empty((flat.size, GRID + 1), dtype=np.int32)
    for row in range(flat.size):
        grid[row] = np.searchsorted(cdf[row], levels, side="right")
    grid[:, -1] = np.minimum(grid[:, -1], cdf.shape[1] - 1)
    return DemandTable(cdf=cdf, grid=grid, streams=flat.shape[1])
