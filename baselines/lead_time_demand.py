"""Demand over random lead times: the random-sum mixture, and the exact protection-interval demand of the env.

``lead_time_demand``: with a lead time L independent of per-period demand D (mean mu, variance sigma^2), the
demand over one lead time is the mixture sum_l P(L = l) D^{*l} of l-fold convolutions (D^{*0} is a point mass
at 0), so that E[D_L] = E[L] mu and Var[D_L] = E[L] sigma^2 + mu^2 Var[L] (Snyder & Shen 2019, Sec. 4.6;
Zipkin 2000, Sec. 7.4). Convolutions are exact for Poisson (Poisson(l lambda)) and normal (N(l mu, l sigma^2))
demand; other discrete demands are convolved numerically on the integer grid, dropping tails below 1e-12.

``protection_demand``: what a base-stock level S must cover in the env (:mod:`envs.dynamics`): an order placed
in period t (after receipts) arrives at the start of period A_t, A_t = t + L_t under ``independent`` lead times
and A_t = max(t + L_t, A of the latest *positive* order before t) under ``sequential`` ones (a zero order does
not move the env's ``last_due``). Under base stock with backorders every order is the previous period's demand,
so after receipts at the start of period u the stock on hand and in the pipeline behind it, less backorders, is
S - V with

    V = D_{u-1} + sum_{k>=1} O_k D_{u-k-1},   O_k = 1{the order placed in period u - k is outstanding},

and at the end of period u the net inventory is S - W, W = D_u + V (the review period). Lead times are
independent of demand, so:

- ``independent``: O_k is Bernoulli(P(L > k)), independent over k and of demand: V sums D over 1 + K periods,
  K = sum_{k=1}^{max L - 1} O_k (orders cross), not over L periods; E[V] = E[L] mu but
  Var[K] = sum_k P(L > k)(1 - P(L > k)), not Var[L];
- ``sequential``: arrivals keep the order of positive orders, so O_k = 1{some order placed in period u - j,
  j >= k, is positive (D_{u-j-1} > 0) and has L_{u-j} > j}. V follows from a recursion over the lags from the
  longest down, whose state is whether an order at that lag or earlier is still outstanding; it depends on
  P(D = 0), and it is not the declared pmf either (the theory notes' E_t = max(L_t, E_{t-1} - 1) is the case
  P(D = 0) = 0).

This is the exact stationary distribution for a node whose orders are the previous period's demand: a node
supplied by a vendor under (echelon) base stock (for an upstream node V is the demand over its protection
interval in the Clark & Scarf 1960 recursion, and its children's shipments do not change its own orders). A
node with a random lead time supplied by a stocking node receives shipments that depend on the supplier's stock,
so its outstanding pipeline is no longer a sum of past demands (orders cross, or a zero shipment reorders the
chain): no exact decomposition is known there (``protection_demand_is_exact``). With a deterministic lead time
L both modes give V = D^{*L} and W = D^{*(L+1)}, as the mixture does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from baselines._demand import (
    TAIL_TOLERANCE,
    family,
    integer_grid,
    is_discrete,
    is_scipy_distribution,
    normal_on_hand,
)
from envs.scenario.types import LEAD_TIME_MODES

_PMF_SUM_TOLERANCE = 1e-9


class _LeadTimeDemandBase:
    """Moments shared by both lead-time demand classes (exact, from the mixture formulas)."""

    is_discrete: bool

    def __init__(self, lead_time_pmf: dict[int, float], mean: float, var: float) -> None:
        self.lead_time_pmf = dict(lead_time_pmf)
        self._mean = mean
        self._var = var

    def mean(self) -> float:
        return self._mean

    def var(self) -> float:
        return self._var

    def std(self) -> float:
        return float(np.sqrt(self._var))

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(mean={self._mean:.6g}, std={self.std():.6g}, lead_time_pmf={self.lead_time_pmf})"


class DiscreteLeadTimeDemand(_LeadTimeDemandBase):
    """Integer-valued lead-time demand held as a pmf on consecutive integers (tails below 1e-12 dropped)."""

    is_discrete = True

    def __init__(self, low: int, pmf: np.ndarray, lead_time_pmf: dict[int, float], mean: float, var: float):
        super().__init__(lead_time_pmf, mean, var)
        self._low = int(low)
        self._pmf = np.asarray(pmf, dtype=float)
        self._cdf = np.cumsum(self._pmf)

    def integer_grid(self) -> tuple[int, np.ndarray]:
        """(lowest value, pmf on lowest, lowest + 1, ...): the representation used by the baselines."""
        return self._low, self._pmf.copy()

    def support(self) -> tuple[int, int]:
        return self._low, self._low + len(self._pmf) - 1

    def pmf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        index = x - self._low
        inside = (index >= 0) & (index < len(self._pmf)) & (index == np.floor(index))
        safe = np.where(inside, index, 0).astype(int)
        return _scalar(np.where(inside, self._pmf[safe], 0.0))

    def cdf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        count = np.clip(np.floor(x) - self._low + 1, 0, len(self._pmf)).astype(int)
        return _scalar(np.concatenate(([0.0], self._cdf))[count])

    def sf(self, x: Any) -> Any:
        return _scalar(1.0 - np.asarray(self.cdf(x)))

    def ppf(self, q: Any) -> Any:
        """Smallest x with F(x) >= q (slack 1e-12 for rounding); q = 0 gives lowest - 1 as in scipy."""
        q = np.asarray(q, dtype=float)
        index = np.searchsorted(self._cdf, q - 1e-12, side="left")
        value = self._low + np.minimum(index, len(self._pmf) - 1).astype(float)
        return _scalar(np.where(q <= 0, self._low - 1.0, value))

    def expect(self, func: Any) -> float:
        values = np.arange(self._low, self._low + len(self._pmf))
        return float(np.sum(np.asarray(func(values), dtype=float) * self._pmf))

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        rng = np.random.default_rng(random_state)
        return self._low + rng.choice(len(self._pmf), size=size, p=self._pmf / self._pmf.sum())


class NormalLeadTimeDemand(_LeadTimeDemandBase):
    """Mixture of N(l mu, l sigma^2) over lead times l >= 1, plus an atom at 0 with weight P(L = 0).

    `pdf` is the density of the continuous part (the atom at 0 has no density); `cdf` includes the atom.
    """

    is_discrete = False

    def __init__(self, per_period_mean: float, per_period_std: float, lead_time_pmf: dict[int, float],
                 mean: float, var: float):
        super().__init__(lead_time_pmf, mean, var)
        self.per_period_mean = float(per_period_mean)
        self.per_period_std = float(per_period_std)
        self._atom = float(lead_time_pmf.get(0, 0.0))
        lead_times = np.array([lt for lt in sorted(lead_time_pmf) if lt > 0], dtype=float)
        self._weights = np.array([lead_time_pmf[int(lt)] for lt in lead_times], dtype=float)
        self._means = lead_times * per_period_mean
        self._stds = np.sqrt(lead_times) * per_period_std

    def support(self) -> tuple[float, float]:
        return -np.inf, np.inf

    def cdf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        parts = special.ndtr((x[..., None] - self._means) / self._stds) @ self._weights
        return _scalar(parts + self._atom * (x >= 0))

    def sf(self, x: Any) -> Any:
        return _scalar(1.0 - np.asarray(self.cdf(x)))

    def pdf(self, x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        z = (x[..., None] - self._means) / self._stds
        return _scalar(stats.norm.pdf(z) / self._stds @ self._weights)

    def ppf(self, q: Any) -> Any:
        return _scalar(np.vectorize(self._ppf_scalar, otypes=[float])(np.asarray(q, dtype=float)))

    def _ppf_scalar(self, q: float) -> float:
        if q <= 0.0:
            return -np.inf
        if q >= 1.0:
            return np.inf
        below_zero = float(self.cdf(-1e-300)) if self._atom > 0 else None
        if below_zero is not None and below_zero < q <= below_zero + self._atom:
            return 0.0
        component_quantiles = self._means + self._stds * special.ndtri(q)
        low = min(component_quantiles.min(), 0.0) - 1.0
        high = max(component_quantiles.max(), 0.0) + 1.0
        return float(optimize.brentq(lambda x: float(self.cdf(x)) - q, low, high, xtol=1e-12, rtol=1e-14))

    def expected_on_hand(self, level: Any) -> np.ndarray:
        """E[(S - D)^+], exact: weighted normal loss functions plus the atom's (S)^+."""
        level = np.asarray(level, dtype=float)
        parts = normal_on_hand(self._means, self._stds, level[..., None]) @ self._weights
        return parts + self._atom * np.maximum(level, 0.0)

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        rng = np.random.default_rng(random_state)
        lead_times = np.array(sorted(self.lead_time_pmf))
        probs = np.array([self.lead_time_pmf[lt] for lt in lead_times])
        drawn = rng.choice(lead_times, size=size, p=probs / probs.sum())
        noise = rng.standard_normal(size)
        return self.per_period_mean * drawn + self.per_period_std * np.sqrt(drawn) * noise


def lead_time_demand(per_period_demand: Any,
                     lead_time_pmf: Mapping[int, float]) -> DiscreteLeadTimeDemand | NormalLeadTimeDemand:
    """Distribution of total demand over a random lead time with the given pmf {lead time: probability}.

    `per_period_demand` is a frozen scipy distribution: normal, or discrete with support bounded below.
    Returns an object with cdf, ppf, mean, var, std and pmf (discrete) or pdf (normal); see module doc.
    """
    pmf = _validated_lead_time_pmf(lead_time_pmf)
    if not is_scipy_distribution(per_period_demand):
        raise ValueError("per_period_demand must be a frozen scipy.stats distribution")
    mu, sigma2 = float(per_period_demand.mean()), float(per_period_demand.var())
    mean_lt = sum(lt * p for lt, p in pmf.items())
    var_lt = sum(lt * lt * p for lt, p in pmf.items()) - mean_lt**2
    mean, var = mean_lt * mu, mean_lt * sigma2 + mu * mu * max(var_lt, 0.0)

    fam = family(per_period_demand)
    if fam is not None and fam[0] == "normal":
        return NormalLeadTimeDemand(fam[1]["mean"], fam[1]["std"], pmf, mean, var)
    if not is_discrete(per_period_demand):
        raise ValueError("per_period_demand must be normal or discrete (discretize other continuous demand)")
    if fam is not None and fam[0] == "poisson":
        low, probs = _poisson_mixture(fam[1]["mean"], pmf)
    else:
        low, probs = _convolved_mixture(per_period_demand, pmf)
    return DiscreteLeadTimeDemand(low, probs, pmf, mean, var)


def protection_demand(per_period_demand: Any, lead_time_pmf: Mapping[int, float], mode: str,
                      review_period: bool = True) -> DiscreteLeadTimeDemand:
    """Exact stationary demand a base-stock level covers at a node supplied by a vendor (see module doc).

    ``per_period_demand``: discrete frozen scipy distribution on the non-negative integers (i.i.d. per period);
    ``lead_time_pmf``: {lead time >= 1: probability} of each order; ``mode``: the env's ``independent`` or
    ``sequential``. ``review_period``: W (end-of-period net inventory S - W, a node serving customers) or V
    (stock after receipts, before ordering: the upstream stage of the Clark-Scarf recursion).
    """
    pmf = _validated_lead_time_pmf(lead_time_pmf)
    if min(pmf) < 1:
        raise ValueError("lead_time_pmf: the env's lead times are whole periods >= 1")
    if mode not in LEAD_TIME_MODES:
        raise ValueError(f"mode {mode!r} is not one of {LEAD_TIME_MODES}")
    if not (is_scipy_distribution(per_period_demand) and is_discrete(per_period_demand)):
        raise ValueError("per_period_demand must be a discrete frozen scipy distribution")
    low, probs = integer_grid(per_period_demand)
    if low < 0:
        raise ValueError("per_period_demand must be non-negative")
    demand = np.concatenate((np.zeros(low), probs))  # pmf on 0, 1, ...
    outstanding = [sum(q for lead, q in pmf.items() if lead > k) for k in range(1, max(pmf))]  # P(L > k)
    if mode == "independent":
        total = np.ones(1)
        for p in outstanding:
            total = _add(total * (1.0 - p), p * _convolve(total, demand))
    else:
        zero = demand[0]
        positive = np.concatenate(([0.0], demand[1:]))
        idle, busy = np.ones(1), np.zeros(1)  # no order at this lag or earlier outstanding / some outstanding
        for p in reversed(outstanding):
            busy = _add(_convolve(busy, demand), p * _convolve(idle, positive))
            idle = idle * (zero + (1.0 - p) * (1.0 - zero))
        total = _add(idle, busy)
    total = _convolve(total, demand)  # D_{u-1}: the order being placed
    if review_period:
        total = _convolve(total, demand)
    values = np.arange(len(total))
    mean = float(values @ total)
    return DiscreteLeadTimeDemand(0, total, pmf, mean, float((values - mean) ** 2 @ total))


def protection_demand_is_exact(lead_time_pmf: Mapping[int, float], supplied_by_vendor: bool) -> bool:
    """Whether ``protection_demand`` is exact for a node: a deterministic lead time, or a vendor supplier."""
    return supplied_by_vendor or len(_validated_lead_time_pmf(lead_time_pmf)) == 1


def _convolve(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """pmf of the sum (both on 0, 1, ...), the upper tail below 1e-12 dropped."""
    out = np.convolve(first, second)
    tail = np.cumsum(out[::-1])
    return out[: len(out) - int(np.searchsorted(tail, TAIL_TOLERANCE / 2.0, side="right"))]


def _add(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    size = max(len(first), len(second))
    return np.pad(first, (0, size - len(first))) + np.pad(second, (0, size - len(second)))


def _validated_lead_time_pmf(lead_time_pmf: Mapping[int, float]) -> dict[int, float]:
    if not isinstance(lead_time_pmf, Mapping) or not lead_time_pmf:
        raise ValueError("lead_time_pmf must be a non-empty mapping {lead time: probability}")
    cleaned: dict[int, float] = {}
    for lead_time, prob in lead_time_pmf.items():
        if isinstance(lead_time, bool) or not isinstance(lead_time, int | np.integer) or lead_time < 0:
            raise ValueError(f"lead_time_pmf keys must be non-negative integers, got {lead_time!r}")
        prob = float(prob)
        if not np.isfinite(prob) or prob < 0:
            raise ValueError(f"lead_time_pmf probabilities must be finite and non-negative, got {prob!r}")
        if prob > 0:
            cleaned[int(lead_time)] = prob
    total = sum(cleaned.values())
    if abs(total - 1.0) > _PMF_SUM_TOLERANCE:
        raise ValueError(f"lead_time_pmf probabilities must sum to 1 (within 1e-9), got {total!r}")
    return cleaned


def _poisson_mixture(rate: float, pmf: dict[int, float]) -> tuple[int, np.ndarray]:
    """Exact mixture of Poisson(l * rate) pmfs on 0..high (upper tails below 1e-12 dropped)."""
    high = max(int(stats.poisson.ppf(1.0 - TAIL_TOLERANCE, rate * lt)) if lt > 0 else 0 for lt in pmf)
    values = np.arange(high + 1)
    probs = np.zeros(high + 1)
    for lt, weight in pmf.items():
        probs += weight * (stats.poisson.pmf(values, rate * lt) if lt > 0 else (values == 0))
    return 0, probs


def _convolved_mixture(per_period: Any, pmf: dict[int, float]) -> tuple[int, np.ndarray]:
    """Mixture of numerically convolved pmfs; each convolution is trimmed to mass >= 1 - 1e-12 per tail."""
    low, base = integer_grid(per_period)
    if low < -(10**9):
        raise ValueError("per_period_demand must have a support bounded below")
    components: dict[int, tuple[int, np.ndarray]] = {}
    current_low, current = 0, np.ones(1)
    for lt in range(max(pmf) + 1):
        if lt > 0:
            current_low, current = _trim(current_low + low, np.convolve(current, base))
        if lt in pmf:
            components[lt] = (current_low, current)
    mix_low = min(c_low for c_low, _ in components.values())
    mix_high = max(c_low + len(c) - 1 for c_low, c in components.values())
    probs = np.zeros(mix_high - mix_low + 1)
    for lt, (c_low, c) in components.items():
        probs[c_low - mix_low:c_low - mix_low + len(c)] += pmf[lt] * c
    return mix_low, probs


def _trim(low: int, probs: np.ndarray) -> tuple[int, np.ndarray]:
    lower_tail = np.cumsum(probs)
    upper_tail = np.cumsum(probs[::-1])[::-1]
    start = int(np.searchsorted(lower_tail, TAIL_TOLERANCE / 2.0, side="right"))
    stop = len(probs) - int(np.searchsorted(upper_tail[::-1], TAIL_TOLERANCE / 2.0, side="right"))
    return low + start, probs[start:stop]


def _scalar(value: np.ndarray) -> Any:
    return float(value) if np.ndim(value) == 0 else value
