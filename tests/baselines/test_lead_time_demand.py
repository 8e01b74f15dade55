"""Demand over a random lead time: exact mixtures, moments (Snyder & Shen 2019, Sec. 4.6) and validation."""

import itertools

import numpy as np
import pytest
from scipy import integrate, stats

from baselines.lead_time_demand import lead_time_demand
from baselines.serial import clark_scarf
from baselines.single_node import newsvendor

LEAD_TIMES = {0: 0.1, 1: 0.2, 2: 0.3, 4: 0.4}


def _lead_time_moments(pmf):
    mean = sum(lt * p for lt, p in pmf.items())
    return mean, sum(lt * lt * p for lt, p in pmf.items()) - mean**2


@pytest.mark.parametrize("per_period", [stats.poisson(3.5), stats.norm(10, 2), stats.binom(6, 0.35)])
def test_moments_follow_the_random_sum_formulas(per_period):
    """E[D_L] = E[L] mu and Var[D_L] = E[L] sigma^2 + mu^2 Var[L]."""
    demand = lead_time_demand(per_period, LEAD_TIMES)
    lt_mean, lt_var = _lead_time_moments(LEAD_TIMES)
    mu, var = per_period.mean(), per_period.var()
    assert demand.mean() == pytest.approx(lt_mean * mu, rel=1e-12)
    assert demand.var() == pytest.approx(lt_mean * var + mu**2 * lt_var, rel=1e-12)
    assert demand.std() == pytest.approx(np.sqrt(demand.var()))
    if hasattr(demand, "pmf"):  # the grid agrees with the analytic moments
        low, pmf = demand.integer_grid()
        values = np.arange(low, low + len(pmf))
        assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
        assert values @ pmf == pytest.approx(demand.mean(), rel=1e-9)
        assert (values - demand.mean()) ** 2 @ pmf == pytest.approx(demand.var(), rel=1e-8)


def test_poisson_mixture_is_exact():
    demand = lead_time_demand(stats.poisson(2.0), LEAD_TIMES)
    x = np.arange(0, 40)
    expected = sum(p * (stats.poisson.pmf(x, 2.0 * lt) if lt else (x == 0)) for lt, p in LEAD_TIMES.items())
    np.testing.assert_allclose(demand.pmf(x), expected, atol=1e-12)  # tails below 1e-12 are dropped
    np.testing.assert_allclose(demand.cdf(x), np.cumsum(expected), atol=1e-12)
    deterministic = lead_time_demand(stats.poisson(2.0), {3: 1.0})
    np.testing.assert_allclose(deterministic.cdf(x), stats.poisson.cdf(x, 6.0), atol=1e-12)
    q = np.array([0.01, 0.3, 0.5, 0.9, 0.999])
    np.testing.assert_array_equal(deterministic.ppf(q), stats.poisson.ppf(q, 6.0))


def test_general_discrete_convolution_matches_enumeration():
    """Brute force: enumerate every demand path of every lead time."""
    values, probs = np.array([0, 1, 3]), np.array([0.5, 0.3, 0.2])
    per_period = stats.rv_discrete(values=(values, probs))
    pmf = {0: 0.2, 1: 0.3, 3: 0.5}
    exact = np.zeros(10)
    for lt, weight in pmf.items():
        for path in itertools.product(range(3), repeat=lt):
            exact[sum(values[list(path)])] += weight * np.prod(probs[list(path)])
    demand = lead_time_demand(per_period, pmf)
    np.testing.assert_allclose(demand.pmf(np.arange(10)), exact, atol=1e-15)


def test_normal_mixture_matches_monte_carlo():
    demand = lead_time_demand(stats.norm(10, 3), LEAD_TIMES)
    rng = np.random.default_rng(7)
    lead_times = rng.choice(list(LEAD_TIMES), size=200_000, p=list(LEAD_TIMES.values()))
    sample = 10 * lead_times + 3 * np.sqrt(lead_times) * rng.standard_normal(lead_times.size)
    for x in (-1.0, 0.0, 5.0, 15.0, 30.0, 45.0):
        assert demand.cdf(x) == pytest.approx(np.mean(sample <= x), abs=4e-3)
    for q in (0.05, 0.2, 0.5, 0.9):  # the atom at 0 holds the quantiles up to about 0.1
        assert demand.ppf(q) == pytest.approx(np.quantile(sample, q), abs=0.15)
    total, _ = integrate.quad(demand.pdf, -30, 120, limit=200)
    assert total == pytest.approx(1 - LEAD_TIMES[0], abs=1e-8)


def test_zero_lead_time_is_a_point_mass():
    discrete = lead_time_demand(stats.poisson(5), {0: 1.0})
    assert discrete.pmf(0) == 1.0 and discrete.mean() == 0.0 and discrete.std() == 0.0
    continuous = lead_time_demand(stats.norm(5, 1), {0: 1.0})
    assert continuous.cdf(-1e-9) == 0.0 and continuous.cdf(0.0) == 1.0


def test_usable_as_a_demand_elsewhere():
    normal_3 = lead_time_demand(stats.norm(10, 2), {3: 1.0})
    level, cost = newsvendor(normal_3, 1.0, 9.0)
    ref_level, ref_cost = newsvendor(stats.norm(30, 2 * np.sqrt(3)), 1.0, 9.0)
    assert level == pytest.approx(ref_level, rel=1e-9) and cost == pytest.approx(ref_cost, rel=1e-9)
    poisson_2 = lead_time_demand(stats.poisson(4), {2: 1.0})
    assert newsvendor(poisson_2, 1.0, 4.0) == pytest.approx(newsvendor(stats.poisson(8), 1.0, 4.0), rel=1e-12)
    # Upstream stage with lead time 0 (point mass): a single stage with local holding cost h_1 + h_2,
    # plus h_2 per unit in transit to stage 1 (echelon holding cost on the pipeline).
    bottom = lead_time_demand(stats.poisson(4), {1: 0.5, 2: 0.5})
    serial = clark_scarf([1.0, 0.5], 10.0, [bottom, lead_time_demand(stats.poisson(4), {0: 1.0})])
    single_level, single_cost = newsvendor(bottom, 1.5, 10.0)
    assert serial.cost == pytest.approx(single_cost + 0.5 * bottom.mean(), rel=1e-9)
    assert min(serial.echelon_levels) == single_level


@pytest.mark.parametrize("bad", [{}, {-1: 1.0}, {1.5: 1.0}, {True: 1.0}, {1: 0.5, 2: 0.4}, {1: 1.2, 2: -0.2},
                                 {1: float("nan")}, [(1, 1.0)]])
def test_invalid_lead_time_pmf(bad):
    with pytest.raises(ValueError, match="lead_time_pmf"):
        lead_time_demand(stats.poisson(3), bad)


def test_unsupported_per_period_demand():
    with pytest.raises(ValueError, match="per_period_demand"):
        lead_time_demand(stats.gamma(2.0), {1: 1.0})
    with pytest.raises(ValueError, match="per_period_demand"):
        lead_time_demand([1, 2, 3], {1: 1.0})
