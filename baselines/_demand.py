"""Shared helpers that read demand distributions: family detection, integer grids, partial expectations.

A *demand* is a scipy.stats frozen distribution (discrete or continuous) or one of the lead-time demand
classes of :mod:`baselines.lead_time_demand`. Everything here works on both, so that the newsvendor,
the Clark-Scarf recursion and the Lagrangian pricing accept any of them.

The two partial expectations used throughout are the expected on-hand stock E[(S - D)^+] and the expected
shortage E[(D - S)^+] (Snyder & Shen 2019, Sec. 4.3). They are linked by E[(D - S)^+] = E[D] - S +
E[(S - D)^+], which is used to get the shortage exactly from the (finite, lower-tail) on-hand sum.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import integrate, special, stats

TAIL_TOLERANCE = 1e-12
"""Probability mass allowed to be dropped from each tail when a demand is put on a finite grid."""

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def std_normal_pdf(z: np.ndarray | float) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * np.square(z))


def normal_on_hand(mean: Any, std: Any, level: Any) -> np.ndarray:
    """E[(S - D)^+] for D ~ N(mean, std^2), vectorized; std = 0 is a point mass at the mean."""
    mean, std, level = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (mean, std, level)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (level - mean) / std
        smooth = std * (z * special.ndtr(z) + std_normal_pdf(z))
    return np.where(std > 0, smooth, np.maximum(level - mean, 0.0))


def is_frozen_scipy(demand: Any) -> bool:
    return isinstance(getattr(demand, "dist", None), stats.rv_continuous | stats.rv_discrete)


def is_scipy_distribution(demand: Any) -> bool:
    """A frozen scipy distribution, or one needing no shape parameters (e.g. ``rv_discrete(values=...)``)."""
    if is_frozen_scipy(demand):
        return True
    return isinstance(demand, stats.rv_continuous | stats.rv_discrete) and demand.numargs == 0


def is_discrete(demand: Any) -> bool:
    """True for integer-valued demand (scipy rv_discrete or a discrete lead-time demand)."""
    flag = getattr(demand, "is_discrete", None)
    if isinstance(flag, bool):
        return flag
    if is_frozen_scipy(demand):
        return isinstance(demand.dist, stats.rv_discrete)
    if is_scipy_distribution(demand):
        return isinstance(demand, stats.rv_discrete)
    return hasattr(demand, "pmf") and not hasattr(demand, "pdf")


def frozen_params(demand: Any) -> dict[str, float]:
    """Named parameters (shapes, loc, scale) of a scipy frozen distribution, without calling its methods."""
    dist = demand.dist
    names = [s.strip() for s in (dist.shapes or "").split(",") if s.strip()]
    names.append("loc")
    if isinstance(dist, stats.rv_continuous):
        names.append("scale")
    params: dict[str, float] = {"loc": 0.0, "scale": 1.0}
    params.update(zip(names, demand.args, strict=False))
    params.update(demand.kwds)
    return params


def family(demand: Any) -> tuple[str, dict[str, float]] | None:
    """('normal', {mean, std}) or ('poisson', {mean}) when closed forms apply, else None."""
    if not is_frozen_scipy(demand):
        return None
    name = demand.dist.name
    if name == "norm":
        params = frozen_params(demand)
        return "normal", {"mean": float(params["loc"]), "std": float(params["scale"])}
    if name == "poisson":
        params = frozen_params(demand)
        if params["loc"] == 0:
            return "poisson", {"mean": float(params["mu"])}
    return None


def integer_grid(demand: Any, tail: float = TAIL_TOLERANCE) -> tuple[int, np.ndarray]:
    """(lowest value, pmf array) of a discrete demand on consecutive integers, tails below `tail` dropped.

    A finite lower end of the support is kept exactly, so lower-tail sums such as E[(S - D)^+] are exact.
    """
    grid = getattr(demand, "integer_grid", None)
    if callable(grid):
        return grid()
    low, high = demand.support()
    low = int(low) if np.isfinite(low) else int(demand.ppf(tail / 2.0))
    high = int(high) if np.isfinite(high) else int(demand.ppf(1.0 - tail / 2.0))
    return low, np.asarray(demand.pmf(np.arange(low, high + 1)), dtype=float)


def expected_on_hand(demand: Any, level: Any) -> np.ndarray:
    """E[(S - D)^+] for each level S (array-like), exact for discrete, normal and normal-mixture demand."""
    level = np.asarray(level, dtype=float)
    own = getattr(demand, "expected_on_hand", None)
    if callable(own):
        return np.asarray(own(level), dtype=float)
    if is_discrete(demand):
        low, pmf = integer_grid(demand)
        values = np.arange(low, low + len(pmf), dtype=float)
        cdf = np.concatenate(([0.0], np.cumsum(pmf)))
        first_moment = np.concatenate(([0.0], np.cumsum(values * pmf)))
        count = np.clip(np.floor(level) - low + 1, 0, len(pmf)).astype(int)
        return level * cdf[count] - first_moment[count]
    fam = family(demand)
    if fam is not None and fam[0] == "normal":
        return normal_on_hand(fam[1]["mean"], fam[1]["std"], level)
    return np.vectorize(lambda s: _on_hand_by_quadrature(demand, s), otypes=[float])(level)


def expected_shortage(demand: Any, level: Any) -> np.ndarray:
    """E[(D - S)^+] = E[D] - S + E[(S - D)^+]."""
    level = np.asarray(level, dtype=float)
    return float(demand.mean()) - level + expected_on_hand(demand, level)


def _on_hand_by_quadrature(demand: Any, level: float) -> float:
    """E[(S - D)^+] = integral of F(x) over x < S, for a general continuous demand."""
    low = demand.support()[0]
    if not np.isfinite(low):
        low = float(demand.ppf(TAIL_TOLERANCE))
    if level <= low:
        return 0.0
    value, _ = integrate.quad(demand.cdf, low, level, limit=200)
    return float(value)


def newsvendor_level(demand: Any, fractile: float) -> float:
    """Smallest S with F(S) >= fractile (integer for discrete demand), i.e. the critical-fractile level.

    A relative slack of 1e-12 on the comparison absorbs rounding in cumulative sums.
    """
    level = float(demand.ppf(fractile))
    if not is_discrete(demand):
        return level
    target = fractile - 1e-12
    while float(demand.cdf(level)) < target:
        level += 1.0
    while float(demand.cdf(level - 1.0)) >= target:
        level -= 1.0
    return level
