"""The catalog type: products as columns, checked as a whole; per-product demand parameters reach the simulator's
demand tables and the planner's demand moments."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import assert_same_params, hand_scenario, small_env_scenario

from baselines.network_model import stream_moments
from envs import noise
from envs.params import compile_scenario
from envs.scenario import Catalog, Demand, Product, ScenarioError, network_scenario
from envs.single import EchelonEnv

PRODUCTS = (Product("a", 6.0, volume=0.5, unit_cost=1.0, holding_cost=0.2, penalty_scale=1.0),
            Product("b", 3.0, volume=2.0, unit_cost=2.0, holding_cost=0.3, penalty_scale=2.0))


def test_a_tuple_of_products_becomes_a_catalog_that_still_reads_like_one():
    scenario = small_env_scenario()
    catalog = scenario.products
    assert isinstance(catalog, Catalog) and len(catalog) == 2
    assert list(catalog) == list(PRODUCTS) and catalog[1] == PRODUCTS[1] and catalog[-1].name == "b"
    assert catalog.volume.tolist() == [0.5, 2.0] and catalog.dispersion is None
    assert dataclasses.replace(scenario, products=catalog) == scenario
    columns = Catalog(name=["a", "b"], mean_demand=[6.0, 3.0], volume=[0.5, 2.0], unit_cost=[1.0, 2.0],
                      holding_cost=[0.2, 0.3], penalty_scale=[1.0, 2.0])
    assert columns == catalog and hash(columns) == hash(catalog)
    assert_same_params(compile_scenario(dataclasses.replace(scenario, products=columns)), compile_scenario(scenario))


def test_columns_are_read_only_and_defaults_fill_the_columns_left_out():
    catalog = Catalog(name=["x"], mean_demand=[2])
    assert catalog[0] == Product("x", 2.0)
    with pytest.raises(ValueError, match="read-only"):
        catalog.volume[0] = 3.0


@pytest.mark.parametrize(("columns", "fragments"), [
    (dict(name=["a", "b"], mean_demand=[1.0, -1.0]), ["products[1] ('b').mean_demand", ">= 0", "-1.0"]),
    (dict(name=["a", "b"], mean_demand=[1.0, np.nan]), ["products[1]", "mean_demand", "NaN"]),
    (dict(name=["a"], mean_demand=[1.0], volume=[0.0]), ["volume", "> 0"]),
    (dict(name=["a", "b", "c"], mean_demand=[1, 2e6, 3e6]),
     ["products[1]", "above the limit of 1e+06", "larger units", "1 more row"]),
    (dict(name=["a", "a"], mean_demand=[1, 2]), ["products[1]", "duplicate name 'a'", "products[0]"]),
    (dict(name=["a", ""], mean_demand=[1, 2]), ["products[1]", "non-empty"]),
    (dict(name=["a", 3], mean_demand=[1, 2]), ["products[1]", "quote"]),
    (dict(name=[], mean_demand=[]), ["at least one product"]),
    (dict(name=["a"], mean_demand=["5"]), ["mean_demand", "numbers"]),
    (dict(name=["a"], mean_demand=[True]), ["mean_demand", "numbers"]),
    (dict(name=["a", "b"], mean_demand=[1.0]), ["1 values for 2 products"]),
    (dict(name=["a"], mean_demand=[1.0], dispersion=[1e-4]), ["dispersion", "below the limit of 0.001"]),
    (dict(name=["a"], mean_demand=[1.0], cv=[0.0]), ["cv", "> 0"]),
])
def test_a_bad_column_value_is_refused_with_its_row_and_column(columns, fragments):
    with pytest.raises(ScenarioError) as info:
        Catalog(**columns)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


def test_per_product_demand_parameters_must_be_given_for_every_product_or_none():
    with pytest.raises(ScenarioError, match=r"products\[1\] \('b'\).dispersion: give a dispersion for every product"):
        dataclasses.replace(small_env_scenario(), products=(dataclasses.replace(PRODUCTS[0], dispersion=2.0),
                                                            PRODUCTS[1]))


@pytest.mark.parametrize(("column", "demand", "fragments"), [
    ("dispersion", Demand("poisson"), ["only the negative_binomial distribution uses", "'poisson'"]),
    ("cv", Demand("negative_binomial"), ["only the normal distribution uses", "drop the cv column"]),
    ("dispersion", Demand("negative_binomial", trace="trace.csv"), ["replays a trace"]),
])
def test_a_per_product_parameter_the_demand_would_not_use_is_refused(column, demand, fragments):
    products = tuple(dataclasses.replace(p, **{column: 2.0}) for p in PRODUCTS)
    with pytest.raises(ScenarioError) as info:
        dataclasses.replace(small_env_scenario(), products=products, demand=demand)
    for fragment in fragments:
        assert fragment in str(info.value)


def one_stream(products, demand: Demand):
    """hand_scenario's world with one region, one speed and one seasonal phase: table row p is product p."""
    base = hand_scenario()
    return dataclasses.replace(base, products=products, demand=demand, regions=base.regions[:1],
                               speeds=(dataclasses.replace(base.speeds[0], spill_share=0.0),))


@pytest.mark.parametrize(("distribution", "column", "values"), [
    ("negative_binomial", "dispersion", (0.7, 40.0)),
    ("normal", "cv", (0.2, 1.5)),
])
def test_per_product_demand_parameters_reach_the_demand_tables_and_the_planner(distribution, column, values):
    products = tuple(Product(name, mean, **{column: value}) for name, mean, value in (("a", 6.0, values[0]),
                                                                                      ("b", 3.0, values[1])))
    params = compile_scenario(one_stream(products, Demand(distribution)))
    assert getattr(params, column).tolist() == list(values)
    table = noise.demand_table(params)
    _, var = stream_moments(params)
    for p, (product, value) in enumerate(zip(products, values, strict=True)):
        alone = compile_scenario(one_stream((dataclasses.replace(product, **{column: None}),),
                                            Demand(distribution, **{column: value})))
        single = noise.demand_table(alone)
        row = table.cdf[table.offset[p]:table.offset[p + 1] if p + 1 < len(table.offset) else None]
        assert np.array_equal(row, single.cdf) and np.array_equal(table.guide[p], single.guide[0])
        assert var[0, 0, p] == stream_moments(alone)[1][0, 0, 0]
    expected = 6.0 + 6.0**2 / values[0] if distribution == "negative_binomial" else (values[0] * 6.0) ** 2
    assert var[0, 0, 0] == pytest.approx(expected)


def test_a_dispersion_column_of_one_value_simulates_exactly_as_the_demand_dispersion():
    scenario = network_scenario()
    products = Catalog(**scenario.products.columns, dispersion=np.full(len(scenario.products), 5.0))
    per_product = dataclasses.replace(scenario, products=products)
    rewards = []
    for world in (scenario, per_product):
        env = EchelonEnv(world)
        env.reset(seed=3)
        rewards.append([env.step(np.full(env.action_space.shape, 0.2, np.float32))[1] for _ in range(5)])
    assert rewards[0] == rewards[1]
