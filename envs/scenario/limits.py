"""The limits on scenario values: what keeps the simulator's arithmetic exact and its memory bounded.

Units are whole numbers held in float64 (exact up to 2**53), lead-time counters are int8, and the demand
of every (seasonal phase, stream) is sampled from a table over its support, so absurd but finite values
would load into wrong numbers (an overflow, a NaN cost) or take minutes and gigabytes. The scenario types
refuse every value outside these limits with a message that names the field, the limit and the fix; the
types' docstrings state the limit of each field.
"""

from __future__ import annotations

import math

import numpy as np

from envs.scenario.errors import ScenarioError

MAX_LEAD_TIME = 100
"""Periods of the longest lead time (the simulator counts the periods left in int8)."""
MAX_MEAN_DEMAND = 1e6
"""Units of one product demanded per period, on average over all regions and speeds."""
MAX_SEASONALITY = 1e3
"""Largest seasonal multiplier of the mean demand."""
MAX_UNITS = MAX_MEAN_DEMAND * MAX_SEASONALITY
"""Units of one stream in one period (a demand trace's quantities)."""
MAX_TREND = 0.1
"""Largest demand growth per period."""
MIN_DISPERSION, MAX_DISPERSION = 1e-3, 1e6
"""Range of the negative binomial's size k (above it, the distribution is a Poisson to machine precision)."""
MAX_CV = 100.0
"""Largest coefficient of variation of normal demand."""
MAX_COST = 1e6
"""Largest cost per unit (or per unit and period, or per unit of volume)."""
MAX_COST_FACTOR = 1e3
"""Largest multiplier of a cost (a node's holding-cost factor, a product's penalty scale)."""
MAX_VOLUME = 1e6
"""Largest volume of one unit."""
MIN_STORAGE_CAPACITY = 1e-6
"""Smallest finite storage capacity (volume); capacity use is reported as volume / capacity."""
MIN_INBOUND_CAPACITY = 1.0
"""Smallest finite inbound capacity (units per period; it is rounded down to whole units)."""
MAX_SHARE = 1e9
"""Largest demand share of a region or a speed (shares are relative weights)."""
MAX_WARMUP_PERIODS = 10_000
"""Longest warm-up, simulated at every reset."""
MAX_DEMAND_TABLE = 100_000_000
"""Entries of the demand tables (about 8 bytes each): the support points of every (seasonal phase, stream), or the
periods x streams of a demand trace."""
MAX_REPLICA_SIZE = 10_000_000
"""Numbers in one replica's pipeline (stocking nodes x longest lead time x products) and demand streams (regions x
speeds x products); a vector env holds this many per replica, several times over."""

COST_FIX = "express costs in a larger currency unit (e.g. thousands)"
"""How to bring a cost within :data:`MAX_COST`."""
FACTOR_FIX = "move the scale into the costs it multiplies"
"""How to bring a cost factor within :data:`MAX_COST_FACTOR`."""
SHARE_FIX = "shares are relative weights: divide them all by a common factor"
"""How to bring a demand share within :data:`MAX_SHARE`."""

TAIL = 1e-12
"""Upper-tail mass the demand tables truncate (:mod:`envs.demand_table`)."""
NORMAL_TAIL_SDS = 7.2
"""Standard deviations above the mean that bound a truncated normal's ``1 - TAIL / 2`` quantile (7.13)."""


def check_range(value: float, where: str, low: float, high: float, unit: str, fix: str) -> None:
    """Refuse a number outside [low, high] with the field, the limit and the fix (the value is known finite)."""
    unit = f" {unit}" if unit else ""
    if value > high:
        raise ScenarioError(f"{where}: {value!r} is above the limit of {high:g}{unit}; {fix}")
    if value < low:
        raise ScenarioError(f"{where}: {value!r} is below the limit of {low:g}{unit}; {fix}")


def support_bound(distribution: str, means: np.ndarray, dispersion: float | np.ndarray,
                  cv: float | np.ndarray) -> np.ndarray:
    """Upper bounds of the ``1 - TAIL`` quantiles of demands with ``means`` (Chernoff's bound for Poisson and
    negative binomial demand, found by bisection; mean + 7.2 sd for the truncated normal): the support of a
    demand-table row, without scipy's quantile functions. ``dispersion`` and ``cv`` are numbers or per-product
    arrays (P,), the last axis of ``means``."""
    means = np.asarray(means, dtype=float)
    if distribution == "normal":
        return np.floor(means * (1.0 + NORMAL_TAIL_SDS * cv) + 0.5)
    k = np.asarray(dispersion, dtype=float) if distribution == "negative_binomial" else None
    level = -math.log(TAIL)
    positive = means > 0
    mean = np.where(positive, means, 1.0)

    log_mean = np.log(mean)

    def log_tail(x: np.ndarray) -> np.ndarray:  # log of Chernoff's bound on P(X >= x), x > mean
        log_ratio = np.log(x) - log_mean  # not log(x / mean), which overflows for a tiny mean
        if k is None:
            return x - mean - x * log_ratio
        return (x + k) * (np.log1p(x / k) - np.log1p(mean / k)) - x * log_ratio

    low, high = mean.copy(), 2.0 * mean + 2.0 * level + 10.0
    while (short := log_tail(high) > -level).any():
        high = np.where(short, 2.0 * high, high)
    for _ in range(60):
        middle = 0.5 * (low + high)
        enough = log_tail(middle) <= -level
        low, high = np.where(enough, low, middle), np.where(enough, middle, high)
    return np.where(positive, np.ceil(high) - 1.0, 0.0)


def demand_table_bound(distribution: str, base_means: np.ndarray, seasonality: np.ndarray,
                       dispersion: float | np.ndarray, cv: float | np.ndarray) -> float:
    """An upper bound of the demand tables' entries: a row per (seasonal phase, stream) with mean the stream's base
    mean (``base_means`` (..., P)) times the phase's multiplier, and support + 2 entries (``dispersion`` and ``cv``:
    numbers or per-product arrays (P,)). Bounded per product at its largest mean first, row by row (in chunks) only
    when that is above :data:`MAX_DEMAND_TABLE`."""
    base = np.asarray(base_means, float).reshape(-1, np.shape(base_means)[-1])
    seasonality = np.asarray(seasonality, float)
    rows = 2.0 * len(seasonality) * base.size
    if rows > MAX_DEMAND_TABLE:
        return rows
    largest = base.max(axis=0) * seasonality.max()
    total = rows + len(seasonality) * len(base) * float(np.sum(support_bound(distribution, largest, dispersion, cv)))
    if total <= MAX_DEMAND_TABLE:
        return total
    total, chunk = rows, max(1, 1_000_000 // base.size)
    for start in range(0, len(seasonality), chunk):
        means = np.multiply.outer(seasonality[start:start + chunk], base)
        total += float(np.sum(support_bound(distribution, means, dispersion, cv)))
        if total > MAX_DEMAND_TABLE:
            break
    return total
