"""The synthetic catalog generator: seeded and reproducible, long-tailed in velocity and volume, costs following
volume; a network scenario takes its catalog."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from envs.params import compile_scenario
from envs.scenario import Catalog, network_scenario
from envs.scenario.synthetic_catalog import long_tail_catalog

N = 200_000


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return long_tail_catalog(N, seed=11)


def test_the_same_seed_gives_the_same_catalog_and_another_seed_another(catalog):
    assert long_tail_catalog(N, seed=11) == catalog
    assert long_tail_catalog(1000, seed=12) != long_tail_catalog(1000, seed=11)
    assert catalog.name[0] == "sku000000" and catalog.name[-1] == f"sku{N - 1}" and len(set(catalog.name)) == N


def test_velocity_has_a_long_tail_most_products_slow_a_few_very_fast(catalog):
    demand = catalog.mean_demand
    median, mean = np.median(demand), demand.mean()
    assert median == pytest.approx(0.5, rel=0.05)
    assert mean == pytest.approx(0.5 * np.exp(1.8**2 / 2), rel=0.1)  # lognormal: e^(sigma^2 / 2) x the median
    assert 0.78 < np.mean(demand < mean) < 0.85  # most products sell less than the average one
    top = np.sort(demand)[::-1]
    share_of_top_percent = top[: N // 100].sum() / top.sum()
    assert 0.25 < share_of_top_percent < 0.35  # the fastest 1% carry about 30% of all demand
    assert np.quantile(demand, 0.999) / median > 100


def test_volume_has_a_long_tail_and_costs_grow_with_it(catalog):
    volume = catalog.volume
    assert np.median(volume) == pytest.approx(1.0, rel=0.05)
    assert np.quantile(volume, 0.99) / np.median(volume) > 8
    assert stats.spearmanr(volume, catalog.holding_cost).statistic > 0.6
    assert stats.spearmanr(volume, catalog.penalty_scale).statistic > 0.6
    assert abs(stats.spearmanr(volume, catalog.mean_demand).statistic) < 0.02  # velocity independent of size
    assert (catalog.unit_cost == 0).all() and catalog.dispersion is None


@pytest.mark.parametrize("kwargs", [dict(num_products=0), dict(num_products=2.5), dict(num_products=3, median_demand=0),
                                    dict(num_products=3, volume_spread=-1.0)])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        long_tail_catalog(**kwargs)


def test_a_network_scenario_takes_a_given_catalog_with_the_same_world_around_it():
    products = long_tail_catalog(300, seed=5)
    given = network_scenario("given", products=products, seed=3)
    drawn = network_scenario("given", num_products=300, seed=3)
    assert given.products == products and given.regions == drawn.regions and len(given.products) == 300


def test_a_catalog_of_many_products_compiles_without_a_loop_over_products():
    """A generated scenario of 100,000 products: catalog, scenario and params built with columns throughout."""
    catalog = long_tail_catalog(100_000, seed=2)
    scenario = network_scenario("big", products=catalog, num_fulfillment_centers=8, num_same_day_sites=3,
                                num_regions=10, seed=1)
    params = compile_scenario(scenario)
    assert params.num_products == 100_000 and params.num_nodes == 12
    assert np.array_equal(params.volume, catalog.volume)
    assert scenario.regions == network_scenario("big", num_products=100_000, num_fulfillment_centers=8,
                                                num_same_day_sites=3, num_regions=10, seed=1).regions
