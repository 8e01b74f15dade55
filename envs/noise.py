"""Exogenous randomness: the one place where random numbers are drawn.

A replica's generator only ever draws uniforms (:func:`draw_uniforms`, fixed order and shapes per
block of periods); :func:`realize` turns a batch of uniforms into the noise the transition consumes
(demand by inverse cdf, lead times by inverse cdf), deterministically. Regions are coupled through a
mixture copula: each stream's demand uniform is, with probability ``sqrt(region_correlation)``, the
product's common uniform of that period, so the rank correlation between two streams of a product is
``region_correlation`` while every marginal stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from envs.params import EnvParams


@dataclass(frozen=True)
class Uniforms:
    """Raw uniforms for one period per leading index (time in a block, or batch)."""

    demand: np.ndarray  # (..., R, S, P)
    mix: np.ndarray  # (..., R, S, P) chooses common vs own uniform
    common: np.ndarray  # (..., P) the product's common uniform
    cutoff: np.ndarray  # (..., R, S, P)
    spill: np.ndarray  # (..., R, S, P)
    lead_time: np.ndarray  # (..., N, P)


@dataclass(frozen=True)
class Noise:
    """What the transition consumes, leading axis batch."""

    demand: np.ndarray  # (B, R, S, P) whole units
    cutoff_uniform: np.ndarray  # (B, R, S, P) rounds the after-cut-off share (float32)
    spill_uniform: np.ndarray  # (B, R, S, P) rounds the spill-down share (float32)
    lead_time: np.ndarray  # (B, N, P) periods until the order placed this period arrives (int8)


def draw_uniforms(rng: np.random.Generator, params: EnvParams, length: int) -> Uniforms:
    """Uniforms for ``length`` consecutive periods, drawn in a fixed order."""
    stream = (length, params.num_regions, params.num_speeds, params.num_products)
    return Uniforms(
        demand=rng.random(stream),
        mix=rng.random(stream, dtype=np.float32),
        common=rng.random((length, params.num_products)),
        cutoff=rng.random(stream, dtype=np.float32),
        spill=rng.random(stream, dtype=np.float32),
        lead_time=rng.random((length, params.num_nodes, params.num_products), dtype=np.float32),
    )


def realize(uniforms: Uniforms, periods: np.ndarray, params: EnvParams) -> Noise:
    """Noise for a batch of replicas in periods ``periods`` (B,) from their uniforms (B, ...)."""
    if params.trace is not None:
        demand = params.trace[periods % len(params.trace)]
    else:
        u = uniforms.demand
        if params.region_correlation > 0:
            use_common = uniforms.mix < np.sqrt(params.region_correlation)
            u = np.where(use_common, uniforms.common[:, None, None, :], u)
        demand = params.quantile(u, periods)
    lead_time = np.ones(uniforms.lead_time.shape, dtype=np.int8)
    for age in range(params.num_ages - 1):  # lead time = 1 + #{a : u >= P(L <= a + 1)}
        lead_time += uniforms.lead_time >= params.lead_time_cdf[:, age, None].astype(np.float32)
    return Noise(demand=demand, cutoff_uniform=uniforms.cutoff, spill_uniform=uniforms.spill, lead_time=lead_time)


def sample_noise(rng: np.random.Generator, params: EnvParams, start_period: int, length: int) -> Noise:
    """Noise for ``length`` consecutive periods of one replica (leading axis: time)."""
    periods = np.arange(start_period, start_period + length)
    return realize(draw_uniforms(rng, params, length), periods, params)


def uniform_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Uniforms))
