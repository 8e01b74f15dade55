"""Seeded synthetic catalogs with a retailer's long tails: most products slow and small, a few very fast or bulky.

A product's velocity (mean demand per period) is lognormal with a wide spread: with the defaults the median product
sells 0.5 units per period, the mean is about 2.5 (82% of products sell less), and the fastest 1% carry about 30%
of all demand (a Pareto-like head over a long tail of slow movers). Its unit volume is lognormal too (median 1,
spread 1: a few products are tens of times the median). Its value grows with its volume (value ~ 20 x volume^0.6,
times lognormal noise), and its holding cost (0.4% of value per period) and unmet-demand penalty scale (0.5 + value
/ 50) follow the value, as in :func:`envs.scenario.generate.network_scenario`'s catalogs; purchase cost is zero (the
penalty stands for the lost margin). Values are clipped to ranges well within :mod:`envs.scenario.limits`.

Everything is drawn at once with numpy from ``numpy.random.default_rng(seed)``: a million products take about a
second, and the same arguments always give the same catalog. ``echelon catalog`` writes one to a CSV or Parquet file.
"""

from __future__ import annotations

import numpy as np

from envs.scenario.catalog import Catalog

DEMAND_RANGE = (1e-3, 1e4)
"""Mean demand per period is clipped to this range."""
VOLUME_RANGE = (1e-2, 1e3)
"""Unit volume is clipped to this range."""


def long_tail_catalog(num_products: int, seed: int = 0, median_demand: float = 0.5, demand_spread: float = 1.8,
                      median_volume: float = 1.0, volume_spread: float = 1.0) -> Catalog:
    """A catalog of ``num_products`` products named ``sku0000000``, ... (see the module docstring).

    ``demand_spread`` and ``volume_spread`` are the standard deviations of the logarithms of velocity and volume
    (0 gives every product the median).
    """
    if not isinstance(num_products, int) or num_products < 1:
        raise ValueError(f"num_products must be a whole number >= 1, got {num_products!r}")
    for name, value in (("median_demand", median_demand), ("median_volume", median_volume)):
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    for name, value in (("demand_spread", demand_spread), ("volume_spread", volume_spread)):
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    velocity, size, noise = rng.standard_normal((3, num_products))
    mean_demand = np.round(median_demand * np.exp(demand_spread * velocity), 4).clip(*DEMAND_RANGE)
    volume = np.round(median_volume * np.exp(volume_spread * size), 4).clip(*VOLUME_RANGE)
    value = 20.0 * volume**0.6 * np.exp(0.5 * noise)
    width = len(str(num_products - 1))
    names = np.char.add("sku", np.char.zfill(np.arange(num_products).astype(str), width))
    return Catalog(
        name=names,
        mean_demand=mean_demand,
        volume=volume,
        unit_cost=np.zeros(num_products),
        holding_cost=np.round(0.004 * value, 5).clip(1e-5, None),
        penalty_scale=np.round(0.5 + value / 50.0, 4).clip(None, 1e3),
    )
