"""Randomness: exact inverse-cdf demand, moments, seasonality and trend, region correlation, lead times."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_noise, make_state
from scipy import stats

from envs import demand_table as demand_table_module
from envs.demand_table import build_demand_table
from envs.dynamics import transition
from envs.noise import demand_table, draw_uniforms, quantile, realize, sample_noise
from envs.params import compile_scenario
from envs.scenario import Demand, LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed
from envs.scenario.limits import TAIL

MEANS = np.array([0.0, 0.3, 1.0, 4.7, 12.5, 80.0, 400.0])
DISPERSION, CV = 2.5, 0.4


def reference_cdf(distribution: str, mean: float, support: np.ndarray) -> np.ndarray:
    """P(D <= k) from scipy, written independently of envs.demand_table."""
    if distribution == "poisson":
        return stats.poisson(mean).cdf(support)
    if distribution == "negative_binomial":
        return stats.nbinom(DISPERSION, DISPERSION / (DISPERSION + mean)).cdf(support)
    sd = CV * mean
    if sd == 0:
        return (support >= round(mean)).astype(float)
    x = stats.truncnorm(-mean / sd, np.inf, loc=mean, scale=sd)  # D = round(X): P(D <= k) = P(X < k + 0.5)
    return x.cdf(support + 0.5)


def reference_quantile(distribution: str, mean: float, u: np.ndarray) -> np.ndarray:
    if distribution == "poisson":
        return stats.poisson(mean).ppf(u)
    if distribution == "negative_binomial":
        return stats.nbinom(DISPERSION, DISPERSION / (DISPERSION + mean)).ppf(u)
    support = np.arange(0, 5000)
    return np.searchsorted(reference_cdf(distribution, mean, support), u, side="left").astype(float)


def reference_moments(distribution: str, mean: float):
    support = np.arange(0, 20000, dtype=float)
    pmf = np.diff(reference_cdf(distribution, mean, support), prepend=0.0)
    mu = (pmf * support).sum()
    var = (pmf * (support - mu) ** 2).sum()
    mu4 = (pmf * (support - mu) ** 4).sum()
    return mu, var, mu4


def table_quantile(table, u: np.ndarray, phase: int = 0) -> np.ndarray:
    """Quantiles for uniforms u (K,) in every stream of the table: (K, streams)."""
    grid = np.ascontiguousarray(np.broadcast_to(u[:, None], (len(u), table.streams)))
    return table.quantile(grid, np.full(len(u), phase, dtype=np.int64))


@pytest.mark.parametrize("distribution", ["poisson", "negative_binomial", "normal"])
def test_demand_table_is_the_exact_quantile_function(distribution):
    table = build_demand_table(distribution, MEANS[None, :], DISPERSION, CV)
    grid = (np.arange(20_000) + 0.5) / 20_000
    rng = np.random.default_rng(5)
    tail = 1.0 - np.array([1e-3, 1e-6, 1e-9, 1e-11, 2e-12, TAIL])
    for u in (grid, rng.random(100_000), tail, np.array([1e-300, 1e-12, 1e-6])):
        got = table_quantile(table, u)
        for j, mean in enumerate(MEANS):
            want = reference_quantile(distribution, mean, u)
            mismatch = np.flatnonzero(got[:, j] != want)
            assert len(mismatch) == 0, (
                f"{distribution} mean {mean}: u={u[mismatch[:3]]} gives {got[mismatch[:3], j]}, "
                f"scipy {want[mismatch[:3]]}"
            )


@pytest.mark.parametrize("distribution", ["poisson", "negative_binomial", "normal"])
def test_demand_table_truncates_only_the_far_tail(distribution):
    """Above 1 - 1e-12 the table may stop short of scipy's quantile, never beyond its last value."""
    table = build_demand_table(distribution, MEANS[None, :], DISPERSION, CV)
    u = 1.0 - np.array([5e-13, 1e-14, 1e-15, 2.2e-16])
    got = table_quantile(table, u)
    top = table_quantile(table, np.array([np.nextafter(1.0, 0.0)]))
    assert np.all(got <= top)
    assert np.all(np.diff(got, axis=0) >= 0)
    for j, mean in enumerate(MEANS):
        assert np.all(got[:, j] >= reference_quantile(distribution, mean, np.array([1.0 - TAIL]))[0])


def one_product_scenario(demand: Demand, regions: int = 2, mean: float = 12.0, speeds: int = 1) -> Scenario:
    return Scenario(
        name="demand",
        nodes=(
            Node("vendor", "vendor"),
            Node("fc", "fulfillment_center", supplier="vendor", lead_time=LeadTime.fixed(1)),
        ),
        products=(Product("a", mean),),
        regions=tuple(Region(f"r{i}", float(i + 1), (ServiceLink("fc", 0),)) for i in range(regions)),
        speeds=tuple(Speed(f"s{i}", i, 1.0, demand_share=1.0) for i in range(speeds)),
        demand=demand,
    )


@pytest.mark.parametrize("trend", [0.0, 0.01])
def test_params_quantile_follows_seasonality_and_trend_exactly(trend):
    """Stream means are base x seasonality[t mod C] x (1 + trend)^t; with a trend there is no table
    and scipy is called directly. Either way each demand is the scipy quantile at the stream mean."""
    demand = Demand("negative_binomial", dispersion=3.0, seasonality=(0.5, 1.0, 2.0), trend=trend)
    params = compile_scenario(one_product_scenario(demand, regions=2, mean=9.0, speeds=2))
    assert (demand_table(params) is None) == (trend != 0)
    periods = np.arange(0, 40)
    u = np.random.default_rng(1).random((len(periods), 2, 2, 1))
    got = quantile(params, u, periods)
    base = np.array([1.0, 2.0])[:, None, None] / 3.0 * np.array([0.5, 0.5])[None, :, None] * 9.0
    means = base[None] * (np.array([0.5, 1.0, 2.0])[periods % 3] * (1 + trend) ** periods)[:, None, None, None]
    np.testing.assert_allclose(params.mean_demand(periods), means, rtol=1e-12)
    np.testing.assert_array_equal(got, stats.nbinom(3.0, 3.0 / (3.0 + means)).ppf(u))


@pytest.mark.parametrize("distribution", ["poisson", "negative_binomial", "normal"])
def test_sample_moments_match_the_distribution(distribution):
    demand = Demand(distribution, dispersion=DISPERSION, cv=CV)
    params = compile_scenario(one_product_scenario(demand, regions=2, mean=15.0))
    n = 40_000
    sample = sample_noise(np.random.default_rng(11), params, 0, n).demand[:, :, 0, 0]
    for r, mean in enumerate([5.0, 10.0]):
        mu, var, mu4 = reference_moments(distribution, mean)
        if distribution != "normal":
            assert mu == pytest.approx(mean, rel=1e-9)
        x = sample[:, r]
        assert np.all(x == np.floor(x)) and np.all(x >= 0)
        assert abs(x.mean() - mu) < 4.5 * np.sqrt(var / n), (x.mean(), mu)
        assert abs(x.var() - var) < 4.5 * np.sqrt((mu4 - var**2) / n), (x.var(), var)


def test_seasonality_shifts_the_mean():
    demand = Demand("poisson", seasonality=(0.5, 1.0, 2.0))
    params = compile_scenario(one_product_scenario(demand, regions=1, mean=10.0))
    n = 30_000
    sample = sample_noise(np.random.default_rng(2), params, 0, n).demand[:, 0, 0, 0]
    for phase, factor in enumerate([0.5, 1.0, 2.0]):
        x = sample[phase::3]
        assert abs(x.mean() - 10.0 * factor) < 4.5 * np.sqrt(10.0 * factor / len(x)), (phase, x.mean())
    # a sample started mid-cycle is aligned with the period, not with the start of the sample
    shifted = sample_noise(np.random.default_rng(2), params, 1, n).demand[:, 0, 0, 0]
    assert abs(shifted[2::3].mean() - 5.0) < 4.5 * np.sqrt(5.0 / (n / 3))


def test_trend_grows_the_mean():
    demand = Demand("poisson", trend=0.002)
    params = compile_scenario(one_product_scenario(demand, regions=1, mean=10.0))
    sample = sample_noise(np.random.default_rng(3), params, 0, 1000).demand[:, 0, 0, 0]
    for window in (slice(0, 200), slice(800, 1000)):
        means = 10.0 * 1.002 ** np.arange(1000)[window]
        assert abs(sample[window].sum() - means.sum()) < 4.5 * np.sqrt(means.sum())
    assert sample[800:].mean() > 1.3 * sample[:200].mean()


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.7])
def test_region_correlation_gives_rank_correlation_and_keeps_marginals(rho):
    demand = Demand("poisson", region_correlation=rho)
    params = compile_scenario(one_product_scenario(demand, regions=3, mean=120.0))  # means 20, 40, 60
    n = 40_000
    sample = sample_noise(np.random.default_rng(17), params, 0, n).demand[:, :, 0, 0]
    for a, b in ((0, 1), (1, 2), (0, 2)):
        spearman = stats.spearmanr(sample[:, a], sample[:, b])[0]
        assert abs(spearman - rho) < 0.03, (a, b, spearman)
    for r, mean in enumerate([20.0, 40.0, 60.0]):
        edges = np.unique(stats.poisson(mean).ppf(np.linspace(0, 1, 21)[1:-1]))
        bins = np.concatenate([[-0.5], edges + 0.5, [np.inf]])
        observed = np.histogram(sample[:, r], bins)[0]
        cdf = stats.poisson(mean).cdf(np.concatenate([[-1], edges, [np.inf]]))
        expected = np.diff(cdf) * n
        assert stats.chisquare(observed, expected).pvalue > 1e-3, (r, observed, expected)


def test_correlation_uses_the_common_uniform_only_through_the_mixture():
    """realize: a stream uses the product's common uniform exactly when mix < sqrt(rho)."""
    params = compile_scenario(one_product_scenario(Demand("poisson", region_correlation=0.49), regions=2, mean=20))
    periods = np.arange(500)
    uniforms = draw_uniforms(np.full(500, 4, dtype=np.uint64), periods, params)
    noise = realize(uniforms, periods, params)
    chosen = np.where(uniforms.mix < 0.7, uniforms.common[:, None, None, :], uniforms.demand)
    np.testing.assert_array_equal(noise.demand, quantile(params, chosen, periods))
    assert 0.6 < (uniforms.mix < 0.7).mean() < 0.8


LEAD_TIMES = {
    "dc": LeadTime((1, 2, 3), (0.3, 0.5, 0.2)),
    "fc": LeadTime((1, 2, 3, 4), (0.25, 0.0, 0.5, 0.25)),
    "ssd": LeadTime.fixed(2),
}


def lead_scenario(mode: str = "independent") -> Scenario:
    return Scenario(
        name="leads",
        nodes=(
            Node("vendor", "vendor"),
            Node("dc", "distribution_center", supplier="vendor", lead_time=LEAD_TIMES["dc"]),
            Node("fc", "fulfillment_center", supplier="vendor", lead_time=LEAD_TIMES["fc"]),
            Node("ssd", "same_day_site", supplier="dc", lead_time=LEAD_TIMES["ssd"]),
        ),
        products=(Product("a", 5.0), Product("b", 2.0)),
        regions=(Region("r", 1.0, (ServiceLink("fc", 0), ServiceLink("ssd", 0))),),
        speeds=(Speed("s", 0, 1.0),),
        lead_time_mode=mode,
    )


def test_lead_time_draws_follow_the_pmf():
    params = compile_scenario(lead_scenario())
    n = 30_000
    lead = sample_noise(np.random.default_rng(8), params, 0, n).lead_time
    assert lead.shape == (n, 3, 2)
    for i, name in enumerate(["dc", "fc", "ssd"]):
        pmf = LEAD_TIMES[name].pmf
        for k in range(2):
            values, counts = np.unique(lead[:, i, k], return_counts=True)
            assert set(values.tolist()) <= set(pmf), (name, values)
            if len(pmf) > 1:
                observed = np.array([counts[values == p].sum() for p in pmf])
                expected = np.array(list(pmf.values())) * n
                assert stats.chisquare(observed, expected).pvalue > 1e-3, (name, observed, expected)
    # products and nodes draw independently
    assert abs(np.corrcoef(lead[:, 0, 0], lead[:, 0, 1])[0, 1]) < 0.03


@pytest.mark.parametrize("mode", ["independent", "sequential"])
def test_arrivals_follow_lead_times_and_sequential_mode_keeps_order(mode):
    """Node fc (from the vendor, lead time 1, 3 or 4) orders t + 1 units in period t. An order placed in t
    with lead time L arrives at the start of period t + L; under sequential lead times no later than any
    earlier order: arrival(t) = max(t + L_t, arrival(t - 1))."""
    params = compile_scenario(lead_scenario(mode))
    periods = 400
    lead = sample_noise(np.random.default_rng(21), params, 0, periods).lead_time
    fc = 1
    state = make_state(params)
    arrivals: dict[int, float] = {}
    previous = -1
    crossed = False
    for t in range(periods):
        order = np.zeros((1, 3, 2))
        order[0, fc, 0] = t + 1
        state, out = transition(state, order, make_noise(params, lead_time=lead[t]), params)
        if t:  # received at the start of period t
            assert out.received[0, fc] == arrivals.pop(t, 0.0), f"period {t}"
        arrival = t + int(lead[t, fc, 0])
        crossed |= arrival < previous
        if mode == "sequential":
            arrival = max(arrival, previous)
        arrivals[arrival] = arrivals.get(arrival, 0.0) + t + 1
        previous = arrival
        loaded = state.pipeline[0, fc, :, 0] > 0
        due = state.due[0, fc, :, 0][loaded]  # youngest first
        if mode == "sequential":
            assert np.all(np.diff(due) <= 0), f"a later shipment is due before an earlier one at {t}: {due}"
    assert crossed, "the lead times never crossed; the test would not notice a broken sequential mode"


@pytest.mark.parametrize("distribution", ["poisson", "negative_binomial", "normal"])
def test_tables_built_in_chunks_are_the_tables_built_at_once(monkeypatch, distribution):
    """Chunking bounds the memory of building a table; the table is the same for any chunk size."""
    means = np.random.default_rng(3).gamma(0.5, 20.0, (3, 2, 2, 25))
    means[0, 0, 0, :4] = 0.0
    monkeypatch.setattr(demand_table_module, "CHUNK_ENTRIES", 1 << 30)
    whole = build_demand_table(distribution, means, 3.0, 0.4)
    for chunk in (1, 37, 500):
        monkeypatch.setattr(demand_table_module, "CHUNK_ENTRIES", chunk)
        table = build_demand_table(distribution, means, 3.0, 0.4)
        for field in ("cdf", "offset", "guide"):
            np.testing.assert_array_equal(getattr(table, field), getattr(whole, field), err_msg=field)
