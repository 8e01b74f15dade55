"""Exogenous randomness: the one place where random numbers are drawn.

``sample_noise`` turns a seeded ``numpy.random.Generator`` into a block of noise for consecutive
periods; the transition consumes one period of it and never draws anything itself. The draw order
within a block is fixed (demand, common shock, cut-off and spill uniforms, lead-time uniforms), so a
generator in the same state always yields the same block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from envs.params import EnvParams


@dataclass(frozen=True)
class Noise:
    """Noise with one leading axis (time in a block, or batch when handed to the transition)."""

    demand: np.ndarray  # (..., P, R, S) whole units
    cutoff_uniform: np.ndarray  # (..., P, R, S) for rounding the after-cut-off share
    spill_uniform: np.ndarray  # (..., P, R, S) for rounding the spill-down share
    lead_time: np.ndarray  # (..., N, P) lead time of the order placed this period, in periods

    def take(self, index) -> Noise:
        """Index every field along the leading axis (or axes)."""
        return Noise(self.demand[index], self.cutoff_uniform[index], self.spill_uniform[index], self.lead_time[index])


def _demand(rng: np.random.Generator, params: EnvParams, periods: np.ndarray) -> np.ndarray:
    if params.trace is not None:
        return params.trace[periods % len(params.trace)].astype(float)
    mean = params.mean_demand(periods)
    if params.region_correlation > 0:
        c2 = params.region_correlation**2
        shock = rng.gamma(1.0 / c2, c2, size=(len(periods), params.num_products, 1, 1))
        mean = mean * shock
    if params.distribution == 0:
        return rng.poisson(mean).astype(float)
    if params.distribution == 1:
        k = params.dispersion
        return rng.negative_binomial(k, k / (k + mean)).astype(float)
    # Normal with sd = cv x mean, truncated at 0 (inverse-cdf sampling above the truncation point), rounded.
    sd = params.cv * mean
    safe_sd = np.where(sd > 0, sd, 1.0)
    low = ndtr(-mean / safe_sd)
    u = low + (1.0 - low) * rng.random(mean.shape)
    draw = mean + safe_sd * ndtri(np.clip(u, 1e-300, 1.0 - 1e-16))
    return np.where(sd > 0, np.rint(np.maximum(draw, 0.0)), np.rint(mean))


def sample_noise(rng: np.random.Generator, params: EnvParams, start_period: int, length: int) -> Noise:
    """Noise for periods ``start_period, ..., start_period + length - 1`` (leading axis: time)."""
    periods = np.arange(start_period, start_period + length)
    demand = _demand(rng, params, periods)
    shape = demand.shape
    cutoff_uniform = rng.random(shape)
    spill_uniform = rng.random(shape)
    u = rng.random((length, params.num_nodes, params.num_products))
    lead_time = 1 + (u[..., None] >= params.lead_time_cdf[None, :, None, :]).sum(axis=-1)
    return Noise(demand, cutoff_uniform, spill_uniform, np.minimum(lead_time, params.num_ages))
