"""Finite but absurd scenario values are refused with the field, the limit and the fix; values at the limits simulate
finite, whole-unit numbers; sizes that would take minutes or gigabytes are refused before anything is allocated."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from helpers import hand_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import noise
from envs.params import compile_scenario
from envs.scenario import (
    Demand,
    LeadTime,
    Node,
    Product,
    Region,
    Scenario,
    ScenarioError,
    ServiceLink,
    Speed,
    get_scenario,
    limits,
    load_scenario_file,
    network_scenario,
    save_scenario_file,
    scenario_names,
)
from envs.single import EchelonEnv

BASE = hand_scenario()


def with_product(**fields) -> Scenario:
    return dataclasses.replace(BASE, products=(dataclasses.replace(BASE.products[0], **fields),))


def with_stocking(**fields) -> Scenario:
    return dataclasses.replace(BASE, nodes=tuple(n if n.is_vendor else dataclasses.replace(n, **fields)
                                                 for n in BASE.nodes))


def with_speeds(**fields) -> Scenario:
    return dataclasses.replace(BASE, speeds=tuple(dataclasses.replace(s, **fields) for s in BASE.speeds))


def with_regions(**fields) -> Scenario:
    return dataclasses.replace(BASE, regions=tuple(dataclasses.replace(r, **fields) for r in BASE.regions))


def with_links(**fields) -> Scenario:
    return with_regions(links=(ServiceLink("fc1", 0, **fields), ServiceLink("fc2", 1)))


def with_demand(**fields) -> Scenario:
    return dataclasses.replace(BASE, demand=Demand(**fields))


# field -> (builder of a scenario with that field set to a value, the limit, the words of the fix)
FIELDS = {
    "mean_demand": (lambda v: with_product(mean_demand=v), limits.MAX_MEAN_DEMAND, "larger units"),
    "volume": (lambda v: with_product(volume=v), limits.MAX_VOLUME, "larger unit"),
    "unit_cost": (lambda v: with_product(unit_cost=v), limits.MAX_COST, "currency unit"),
    "holding_cost": (lambda v: with_product(holding_cost=v), limits.MAX_COST, "currency unit"),
    "penalty_scale": (lambda v: with_product(penalty_scale=v), limits.MAX_COST_FACTOR, "into the costs"),
    "holding_cost_factor": (lambda v: with_stocking(holding_cost_factor=v), limits.MAX_COST_FACTOR, "into the costs"),
    "transport_cost": (lambda v: with_stocking(transport_cost=v), limits.MAX_COST, "currency unit"),
    "overflow_cost": (lambda v: with_stocking(overflow_cost=v), limits.MAX_COST, "currency unit"),
    "shipping_cost": (lambda v: with_links(shipping_cost=v), limits.MAX_COST, "currency unit"),
    "penalty": (lambda v: with_speeds(penalty=v), limits.MAX_COST, "currency unit"),
    "demand_share": (lambda v: with_regions(demand_share=v), limits.MAX_SHARE, "relative weights"),
    "seasonality": (lambda v: with_demand(seasonality=(1.0, v)), limits.MAX_SEASONALITY, "mean_demand"),
    "trend": (lambda v: with_demand(trend=v), limits.MAX_TREND, "trace"),
    "dispersion": (lambda v: with_demand(distribution="negative_binomial", dispersion=v), limits.MAX_DISPERSION,
                   "poisson"),
    "cv": (lambda v: with_demand(distribution="normal", cv=v), limits.MAX_CV, "negative binomial"),
    "warmup_periods": (lambda v: dataclasses.replace(BASE, warmup_periods=int(v)), limits.MAX_WARMUP_PERIODS,
                       "steady state"),
    "lead_time": (lambda v: with_stocking(lead_time=LeadTime.fixed(int(v))), limits.MAX_LEAD_TIME, "weeks"),
}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(FIELDS)), st.floats(1.0001, 1e308))
def test_a_value_above_its_limit_is_refused_with_the_field_the_limit_and_the_fix(field, factor):
    build, limit, fix = FIELDS[field]
    value = limit * factor if math.isfinite(limit * factor) else 1e308
    if field in ("warmup_periods", "lead_time"):  # whole numbers
        value = max(int(min(value, 1e18)), limit + 1)
    with pytest.raises(ScenarioError) as info:
        build(value)
    message = str(info.value)
    assert field in message and "above the limit of" in message and f"{limit:g}" in message and fix in message, message


@pytest.mark.parametrize(("build", "fragments"), [
    (lambda: with_stocking(storage_capacity=1e-9), ["storage_capacity", "below the limit of 1e-06", ".inf"]),
    (lambda: with_stocking(inbound_capacity=0.5),
     ["inbound_capacity", "below the limit of 1 unit", "receives nothing"]),
    (lambda: with_demand(distribution="negative_binomial", dispersion=1e-6), ["dispersion", "below", "larger"]),
])
def test_a_value_below_its_limit_is_refused(build, fragments):
    with pytest.raises(ScenarioError) as info:
        build()
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_value_at_its_limit_is_accepted(field):
    build, limit, _ = FIELDS[field]
    build(limit)


@pytest.mark.parametrize(("build", "fragment"), [
    (lambda: with_product(mean_demand=True), "mean_demand"),
    (lambda: with_speeds(cutoff_share=True), "cutoff_share"),
    (lambda: with_regions(demand_share=False), "demand_share"),
    (lambda: LeadTime((1, 2), (True, False)), "probabilities must be numbers"),
    (lambda: dataclasses.replace(BASE, warmup_periods=True), "warmup_periods"),
])
def test_true_and_false_are_not_numbers(build, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        build()


@pytest.mark.parametrize("simulator", ["compiled", "reference"])
def test_a_scenario_at_the_limits_simulates_finite_whole_numbers(simulator):
    """Costs, factors and volume at their limits, demand at its limit, the longest lead time: no overflow."""
    top = limits.MAX_COST
    scenario = Scenario(
        name="limits",
        nodes=(Node("vendor", "vendor"),
               Node("dc", "distribution_center", supplier="vendor", lead_time=LeadTime((1, limits.MAX_LEAD_TIME),
                                                                                       (0.5, 0.5)),
                    holding_cost_factor=limits.MAX_COST_FACTOR, transport_cost=top, overflow_cost=top,
                    storage_capacity=limits.MIN_STORAGE_CAPACITY, inbound_capacity=limits.MIN_INBOUND_CAPACITY),
               Node("fc", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(limits.MAX_LEAD_TIME),
                    holding_cost_factor=limits.MAX_COST_FACTOR, transport_cost=top, overflow_cost=top,
                    storage_capacity=limits.MIN_STORAGE_CAPACITY)),
        products=(Product("p", limits.MAX_MEAN_DEMAND, volume=limits.MAX_VOLUME, unit_cost=top, holding_cost=top,
                          penalty_scale=limits.MAX_COST_FACTOR),),
        regions=(Region("r", limits.MAX_SHARE, (ServiceLink("fc", 0, top),)),),
        speeds=(Speed("s", 0, top, demand_share=limits.MAX_SHARE),),
        demand=Demand("poisson"),
        lead_time_mode="sequential",
        warmup_periods=2,
    )
    env = EchelonEnv(scenario, simulator=simulator)
    env.reset(seed=0)
    for t in range(2 * limits.MAX_LEAD_TIME + 5):
        obs, reward, *_, info = env.step(np.full(env.action_space.shape, 1.0 if t % 2 else 0.3, np.float32))
        assert np.isfinite(obs).all() and math.isfinite(reward)
        assert all(math.isfinite(value) for value in info["cost"].values())
    state = env._simulator.state
    for units in (state.on_hand, state.dock, state.pipeline):
        assert (units == np.floor(units)).all() and (units >= 0).all()
    assert state.due.min() >= -limits.MAX_LEAD_TIME and state.due.max() < limits.MAX_LEAD_TIME
    assert state.pipeline.sum() > 0 and (state.due[state.pipeline > 0] >= 0).all()


# Demand tables ------------------------------------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(distribution=st.sampled_from(["poisson", "negative_binomial", "normal"]),
       means=st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 400.0)), min_size=1, max_size=4),
       seasonality=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=3),
       dispersion=st.floats(0.3, 1e5), cv=st.floats(0.01, 5.0))
def test_the_table_bound_is_at_least_the_tables_built_and_close_to_them(distribution, means, seasonality, dispersion,
                                                                          cv):
    scenario = dataclasses.replace(
        BASE, products=tuple(Product(f"p{i}", m) for i, m in enumerate(means)),
        demand=Demand(distribution, dispersion=dispersion, cv=cv, seasonality=tuple(seasonality)))
    params = compile_scenario(scenario)
    built = noise.demand_table(params).cdf.size
    assert built <= limits.demand_table_bound(distribution, params.base_mean, params.seasonality, dispersion, cv)
    rows = params.base_mean[None] * params.seasonality[:, None, None, None]
    row_by_row = np.sum(limits.support_bound(distribution, rows, dispersion, cv)) + 2 * rows.size
    assert built <= row_by_row <= 1.3 * built + 4 * rows.size


@pytest.mark.parametrize(("demand", "products"), [
    (Demand("negative_binomial", dispersion=limits.MIN_DISPERSION), 50),  # a tail of millions per stream
    (Demand("poisson", seasonality=(1.0,) * 2_000), 2_000),  # many phases of many streams
    (Demand("normal", cv=limits.MAX_CV), 3_000),
])
def test_demand_tables_that_would_take_gigabytes_are_refused_before_they_are_built(demand, products):
    """The scenario loads and compiles (a planner needs no tables); simulating it is refused at once."""
    scenario = dataclasses.replace(BASE, products=tuple(Product(f"p{i}", 500.0) for i in range(products)),
                                   demand=demand)
    params = compile_scenario(scenario)
    refused = r"'hand'.demand: the demand tables .* above the limit of 1e\+08; lower"
    with pytest.raises(ScenarioError, match=refused):
        EchelonEnv(scenario)
    with pytest.raises(ScenarioError, match=refused):
        noise.demand_table(params)


def test_a_replica_too_large_to_hold_is_refused_by_the_simulator_not_the_planner():
    long_leads = with_stocking(lead_time=LeadTime.fixed(limits.MAX_LEAD_TIME))
    scenario = dataclasses.replace(long_leads, products=tuple(Product(f"p{i}", 1.0) for i in range(40_000)))
    assert compile_scenario(scenario).num_products == 40_000
    with pytest.raises(ScenarioError, match=r"'hand': replica size: .* above the limit of 1e\+07 numbers .*fewer "
                                            "products"):
        EchelonEnv(scenario)


@pytest.mark.parametrize("name", scenario_names())
def test_registered_scenarios_load_within_the_limits_without_warnings(name):
    get_scenario.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_scenario(name)


@pytest.mark.parametrize("kwargs", [
    dict(num_products=10_000),
    dict(num_products=10_000, num_fulfillment_centers=10, num_same_day_sites=4, num_regions=12, seed=1),
    dict(num_products=1, num_fulfillment_centers=1, num_same_day_sites=0, num_regions=1, seed=7),
])
def test_generated_scenarios_up_to_ten_thousand_products_load(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scenario = network_scenario("generated", **kwargs)
    assert len(scenario.products) == kwargs["num_products"]


def test_numpy_numbers_are_taken_as_plain_numbers(tmp_path):
    scenario = dataclasses.replace(
        BASE, products=(Product("p", np.float32(5.5), volume=np.int64(2)),), warmup_periods=np.int64(3),
        demand=Demand(seasonality=np.array([1.0, 2.0])),
        nodes=tuple(n if n.is_vendor else dataclasses.replace(n, lead_time=LeadTime(np.array([1, 2]),
                                                                                     np.array([0.25, 0.75])))
                    for n in BASE.nodes))
    assert type(scenario.warmup_periods) is int and type(scenario.products[0].mean_demand) is float
    assert scenario.node("dc").lead_time.pmf == {1: 0.25, 2: 0.75} and scenario.demand.seasonality == (1.0, 2.0)
    save_scenario_file(scenario, tmp_path / "numpy.yaml")
    assert load_scenario_file(tmp_path / "numpy.yaml") == scenario
    with pytest.raises(ScenarioError, match="mean_demand: must be a finite number >= 0, got True"):
        Product("p", np.bool_(True))


def test_a_trend_is_refused_at_the_period_where_units_stop_being_exact():
    """The largest trend compounds past the unit limit after a few hundred periods: that period is refused by
    name instead of sampling demand that is no longer whole (or infinite)."""
    scenario = Scenario("trend", (Node("vendor", "vendor"), Node("fc", "fulfillment_center", supplier="vendor",
                                                                     lead_time=LeadTime.fixed(1))),
                        (Product("a", limits.MAX_MEAN_DEMAND),), (Region("r", 1.0, (ServiceLink("fc", 0),)),),
                        (Speed("s", 0, 1.0),), demand=Demand("poisson", trend=limits.MAX_TREND))
    params = compile_scenario(scenario)
    first_bad = int(np.ceil(np.log(limits.MAX_UNITS / limits.MAX_MEAN_DEMAND) / np.log1p(limits.MAX_TREND)))
    keys = np.zeros(3, dtype=np.uint64)
    noise.noise(keys, np.array([0, first_bad - 2, first_bad - 1]), params)  # still exact
    with pytest.raises(ValueError, match=f"period {first_bad}: a trend of 0.1 per period"):
        noise.noise(keys, np.array([first_bad - 1, first_bad, first_bad + 1]), params)


@pytest.mark.parametrize("distribution", ["poisson", "negative_binomial"])
def test_a_tiny_mean_bounds_its_support_without_overflow(distribution):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bound = limits.support_bound(distribution, np.array([1e-320, 1e-300, 0.5]), 2.0, 0.3)
    assert bound[0] == bound[1] == 0.0 and bound[2] >= 1.0
