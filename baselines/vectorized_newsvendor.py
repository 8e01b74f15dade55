"""Newsvendor solutions for many items at once, for normal or Poisson demand held in arrays.

This is the inner step of capacity pricing (Lagrangian relaxation): an item whose storage is priced at
lambda per unit of volume v solves a newsvendor with holding cost h + lambda v, so a planner evaluates
`vectorized_newsvendor(demands, holding_cost + multiplier * volume, stockout_cost)` once per multiplier.
Closed forms (Snyder & Shen 2019, Sec. 4.3; Zipkin 2000, Sec. 6.2):

- normal N(mu, sigma^2): S = mu + sigma z, z = Phi^{-1}(p / (p + h)),
  E[(S - D)^+] = sigma (z Phi(z) + phi(z));
- Poisson(lambda): S = smallest integer with F(S) >= p / (p + h), E[(S - D)^+] = S F(S) - lambda F(S - 1);

and E[(D - S)^+] = E[D] - S + E[(S - D)^+] in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from baselines._demand import normal_on_hand


@dataclass(frozen=True)
class NormalDemands:
    """Independent normal demands N(mean_i, std_i^2); std_i = 0 is a point mass at mean_i."""

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        mean, std = np.broadcast_arrays(np.asarray(self.mean, dtype=float), np.asarray(self.std, dtype=float))
        if mean.ndim != 1 or not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise ValueError("NormalDemands mean and std must be finite one-dimensional arrays")
        if np.any(std < 0):
            raise ValueError("NormalDemands std must be non-negative")
        object.__setattr__(self, "mean", mean.copy())
        object.__setattr__(self, "std", std.copy())

    def __len__(self) -> int:
        return len(self.mean)


@dataclass(frozen=True)
class PoissonDemands:
    """Independent Poisson demands with the given means."""

    mean: np.ndarray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=float)
        if mean.ndim != 1 or not np.all(np.isfinite(mean)) or np.any(mean < 0):
            raise ValueError("PoissonDemands mean must be a finite, non-negative one-dimensional array")
        object.__setattr__(self, "mean", mean.copy())

    def __len__(self) -> int:
        return len(self.mean)


@dataclass(frozen=True)
class NewsvendorArrays:
    """Per-item optimal levels with their expected on-hand stock E[(S - D)^+] and shortage E[(D - S)^+]."""

    levels: np.ndarray
    expected_on_hand: np.ndarray
    expected_shortage: np.ndarray

    def expected_cost(self, holding_cost: Any, stockout_cost: Any) -> np.ndarray:
        """Per-item h E[(S - D)^+] + p E[(D - S)^+] at these levels (h may differ from the one solved for)."""
        holding_cost, stockout_cost = np.asarray(holding_cost), np.asarray(stockout_cost)
        return holding_cost * self.expected_on_hand + stockout_cost * self.expected_shortage


def vectorized_newsvendor(demands: NormalDemands | PoissonDemands, holding_cost: Any,
                          stockout_cost: Any) -> NewsvendorArrays:
    """Critical-fractile levels p / (p + h) and their partial expectations for arrays of items.

    `holding_cost` and `stockout_cost` broadcast against the items and must be positive (no checks here:
    this sits in inner loops; validate once outside). For a priced newsvendor pass h + lambda v.
    """
    holding_cost = np.asarray(holding_cost, dtype=float)
    stockout_cost = np.asarray(stockout_cost, dtype=float)
    fractile = np.broadcast_to(stockout_cost / (stockout_cost + holding_cost), demands.mean.shape)
    if isinstance(demands, NormalDemands):
        levels = demands.mean + demands.std * special.ndtri(fractile)
        on_hand = normal_on_hand(demands.mean, demands.std, levels)
    elif isinstance(demands, PoissonDemands):
        levels, cdf_at, cdf_below = _poisson_levels_and_cdfs(demands.mean, fractile)
        on_hand = levels * cdf_at - demands.mean * cdf_below
    else:
        raise ValueError(f"demands must be NormalDemands or PoissonDemands, got {type(demands).__name__}")
    return NewsvendorArrays(levels, on_hand, demands.mean - levels + on_hand)


def _poisson_levels_and_cdfs(mean: np.ndarray, fractile: np.ndarray) -> tuple[np.ndarray, ...]:
    """Levels S with F(S) and F(S - 1); starts from the Cornish-Fisher quantile, corrects by unit steps.

    Several times faster than `scipy.stats.poisson.ppf` on large arrays; only items whose guess is off are
    re-evaluated.
    """
    mean, fractile = np.broadcast_arrays(mean, fractile)
    target = fractile - 1e-12
    z = special.ndtri(np.clip(fractile, 1e-300, 1.0 - 1e-16))
    levels = np.maximum(np.floor(mean + np.sqrt(mean) * z + (z * z - 1.0) / 6.0), 0.0)
    cdf_at, cdf_below = _poisson_cdf(levels, mean), _poisson_cdf(levels - 1, mean)
    while (up := np.flatnonzero(cdf_at < target)).size:
        levels[up] += 1
        cdf_below[up] = cdf_at[up]
        cdf_at[up] = _poisson_cdf(levels[up], mean[up])
    while (down := np.flatnonzero((levels > 0) & (cdf_below >= target))).size:
        levels[down] -= 1
        cdf_at[down] = cdf_below[down]
        cdf_below[down] = _poisson_cdf(levels[down] - 1, mean[down])
    return levels, cdf_at, cdf_below


def _poisson_cdf(k: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Poisson cdf at integer k, 0 for k < 0 (scipy's pdtr gives nan there)."""
    return np.where(k >= 0, special.pdtr(np.maximum(k, 0), mean), 0.0)
