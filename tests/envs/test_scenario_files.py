"""Scenario YAML files and demand traces: numbers in any form YAML or a CSV reader gives get their value or a message
that says how to write them; every error is a ScenarioError naming the file and the field (or row and column)."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import small_env_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.params import compile_scenario
from envs.scenario import Demand, ScenarioError, get_scenario, limits, load_scenario_file, scenario_to_dict
from envs.single import EchelonEnv
from envs.trace import load_trace

SERIAL = scenario_to_dict(get_scenario("serial"))


def serial(**changes) -> dict:
    data = copy.deepcopy(SERIAL)
    for path, value in changes.items():
        node = data
        keys = [int(k) if k.isdigit() else k for k in path.split("__")]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return data


def write(tmp_path: Path, data, name: str = "world.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


# Numbers written as text ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("line", "check"), [
    ("products: [{name: item, mean_demand: 1e1}]", lambda s: s.products[0].mean_demand == 10.0),
    ("products: [{name: item, mean_demand: '5'}]", lambda s: s.products[0].mean_demand == 5.0),
    ("products: [{name: item, mean_demand: 1_000}]", lambda s: s.products[0].mean_demand == 1000),
    ("products: [{name: item, mean_demand: 5, volume: 2.5E-1}]", lambda s: s.products[0].volume == 0.25),
    ("warmup_periods: 2e1", lambda s: s.warmup_periods == 20 and isinstance(s.warmup_periods, int)),
    ("warmup_periods: 3.0", lambda s: s.warmup_periods == 3),
    ("demand: {distribution: poisson, seasonality: [1e0, '2', 5e-1]}",
     lambda s: s.demand.seasonality == (1.0, 2.0, 0.5)),
])
def test_numbers_yaml_reads_as_text_get_their_value(tmp_path, line, check):
    key = line.split(":")[0]
    data = serial()
    data[key] = yaml.safe_load(line)[key]
    assert check(load_scenario_file(write(tmp_path, data)))


@pytest.mark.parametrize(("lead_time", "expected"), [
    ("2.0", {2: 1.0}), ("'3'", {3: 1.0}), ("1e0", {1: 1.0}), ("{2.0: 0.5, '3': 5e-1}", {2: 0.5, 3: 0.5}),
    ("{1: '0.25', 2: 0.75}", {1: 0.25, 2: 0.75}),
])
def test_lead_times_in_any_whole_form_get_their_value(tmp_path, lead_time, expected):
    text = yaml.safe_dump(SERIAL, sort_keys=False).replace("lead_time: 2\n", f"lead_time: {lead_time}\n", 1)
    assert load_scenario_file(write(tmp_path, text)).node("stage3").lead_time.pmf == expected


@pytest.mark.parametrize(("changes", "fragments"), [
    ({"nodes__1__lead_time": {2.5: 0.5, 4: 0.5}}, ["nodes[1].lead_time: period", "2.5", "not a whole number"]),
    ({"nodes__1__lead_time": 2.5}, ["nodes[1].lead_time", "2.5", "whole periods, such as 2"]),
    ({"nodes__1__lead_time": {2: "half", 3: 0.5}}, ["nodes[1].lead_time: probability of period 2", "'half'",
                                                    "write a number"]),
    ({"nodes__1__lead_time": {True: 1.0}}, ["nodes[1].lead_time: period", "true/false"]),
    ({"products__0__mean_demand": "lots"}, ["products[0].mean_demand", "'lots' is not a number", "write a number"]),
    ({"products__0__mean_demand": True}, ["products[0].mean_demand", "true/false", "write a number"]),
    ({"products__0__volume": None}, ["products[0].volume", "None is not a number"]),
    ({"products__0__holding_cost": [1]}, ["products[0].holding_cost", "[1] is not a number"]),
    ({"speeds__0__promise": 0.5}, ["speeds[0].promise", "not a whole number"]),
    ({"regions__0__links__0__transit": "soon"}, ["regions[0].links[0].transit", "'soon'"]),
    ({"warmup_periods": "1e400"}, ["warmup_periods", "whole number"]),
    ({"warmup_periods": 1e9}, ["warmup_periods", "above the limit of 10000"]),
    ({"products__0__mean_demand": "1e19"}, ["mean_demand", "above the limit of 1e+06", "larger units"]),
    ({"nodes__1__lead_time": 1_000_000}, ["nodes[1].lead_time", "above the limit of 100 periods"]),
    ({"demand__seasonality": 2}, ["demand", "seasonality", "expected a list of multipliers"]),
    ({"demand__seasonality": ["x"]}, ["demand.seasonality[0]", "'x' is not a number"]),
    ({"demand__trace": 5}, ["demand", "trace", "path of a CSV file"]),
    ({"nodes": 5}, ["nodes: expected a list"]),
    ({"regions__0__links": "stage1"}, ["regions[0].links: expected a list"]),
    ({"products__0__name": 12}, ["products[0].name", "quote"]),
    ({"nodes__2__supplier": ["stage3"]}, ["supplier", "quote"]),
    ({"fulfillment": ["greedy"]}, ["fulfillment", "unknown policy"]),
    ({"products__0": "item"}, ["products[0]: expected a mapping"]),
    ({"name": None}, ["scenario None.name", "must be a name"]),
])
def test_malformed_values_name_the_file_the_field_and_the_fix(tmp_path, changes, fragments):
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(write(tmp_path, serial(**changes)))
    message = str(info.value)
    for fragment in ["world.yaml", *fragments]:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_unreadable_files_are_scenario_errors(tmp_path):
    with pytest.raises(ScenarioError, match="is a folder"):
        load_scenario_file(tmp_path)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ScenarioError, match="binary.yaml.*cannot be read"):
        load_scenario_file(binary)
    with pytest.raises(ScenarioError, match="deep.yaml.*not valid YAML"):
        load_scenario_file(write(tmp_path, "[" * 5000 + "]" * 5000, "deep.yaml"))


JUNK = st.one_of(
    st.text(max_size=8), st.booleans(), st.none(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(-3, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", 1, 2.5]), st.integers(-1, 2), max_size=2),
)


def leaves(data, path=()):
    """Every (path, value) of a nested dict/list."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from leaves(value, (*path, i))
    yield path, data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_value_anywhere_loads_or_fails_with_a_scenario_error_naming_the_file(tmp_path, data):
    document = copy.deepcopy(SERIAL)
    paths = [path for path, _ in leaves(document) if path]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        node = document
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = data.draw(JUNK)
        except (KeyError, IndexError, TypeError):
            continue
    path = write(tmp_path, document)
    try:
        scenario = load_scenario_file(path)
    except ScenarioError as error:
        assert "world.yaml" in str(error)
        return
    try:
        env = EchelonEnv(scenario, simulator="reference")
    except ScenarioError as error:  # e.g. no node serves any demand, a trace that does not exist
        assert f"scenario {scenario.name!r}" in str(error) or "trace" in str(error)  # the name may be a drawn one
        return
    env.reset(seed=0)
    obs, reward, *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert np.isfinite(obs).all() and math.isfinite(reward) and math.isfinite(info["cost"]["total"])


# Demand traces -------------------------------------------------------------------------------------------------
HEADER = "period,product,region,speed,quantity\n"


def trace_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


def read(path: Path) -> np.ndarray:
    return load_trace(path, small_env_scenario(demand=Demand(trace=str(path))))


@pytest.mark.parametrize(("rows", "fragments"), [
    ("0,a,north,fast,1e19\n", ["row 2", "'quantity'", "1e19", "above the limit of 1e+09 units", "larger units"]),
    ("0,a,north,fast,3\n1,a,north,fast,9223372036854775808\n", ["row 3", "'quantity'", "above the limit"]),
    ("0,a,north,fast,inf\n", ["row 2", "'quantity'", "'inf'", "whole number >= 0"]),
    ("0,a,north,fast,nan\n", ["row 2", "'quantity'", "whole number >= 0"]),
    ("0,a,north,fast,\n", ["row 2", "'quantity'", "whole number >= 0"]),
    ("1e15,a,north,fast,1\n", ["row 2", "'period'", "1e15", "above the limit", "shorten the trace"]),
    ("0,a,north,fast,600000000\n0,a,north,fast,600000000\n", ["period 0", "'a'", "'north'", "'fast'",
                                                              "add up to 1.2e+09", "above the limit"]),
    ("0,a,north,fast,1\n0,,north,fast,1\n", ["column 'product'", "unknown name(s) ['']", "row 3", "known"]),
    ("0,a,north,fast,1\n0,a,west,fast,1\n", ["column 'region'", "'west'", "row 3", "known"]),
    ("0,a,north,fast,True\n", ["row 2", "'quantity'", "'True'"]),
])
def test_bad_trace_cells_name_the_file_row_and_column(tmp_path, rows, fragments):
    with pytest.raises(ScenarioError) as info:
        read(trace_file(tmp_path, HEADER + rows))
    for fragment in ["trace.csv", *fragments]:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


def test_trace_numbers_in_any_numeric_form_get_their_value(tmp_path):
    trace = read(trace_file(tmp_path, HEADER + "0,a,north,fast,1e3\n1.0, a, north, fast, 2.0\n2,b,south,slow,007\n"))
    assert trace[0, 0, 0, 0] == 1000 and trace[1, 0, 0, 0] == 2 and trace[2, 1, 1, 1] == 7
    assert trace.sum() == 1009


def test_trace_names_are_text_even_when_they_look_like_numbers(tmp_path):
    path = trace_file(tmp_path, HEADER + "0,01,north,fast,4\n0,1,north,fast,5\n")
    scenario = small_env_scenario(demand=Demand(trace=str(path)))
    scenario = dataclasses.replace(scenario, products=(dataclasses.replace(scenario.products[0], name="01"),
                                                       dataclasses.replace(scenario.products[1], name="1")))
    trace = compile_scenario(scenario).trace
    assert trace[0, 0, 0].tolist() == [4, 5]


def test_unreadable_traces_are_scenario_errors(tmp_path):
    with pytest.raises(ScenarioError, match="is a folder"):
        read(tmp_path)
    garbage = tmp_path / "trace.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x81garbage,\x00\n\x9c")
    with pytest.raises(ScenarioError, match="trace.csv"):
        read(garbage)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(st.one_of(st.text(max_size=6), st.integers(-5, 10**20).map(str),
                                         st.floats(allow_nan=True).map(repr)), min_size=5, max_size=5),
                      min_size=1, max_size=4))
def test_any_trace_cells_load_or_fail_with_a_scenario_error_naming_the_file(tmp_path, cells):
    text = HEADER + "".join(",".join(c.replace(",", "").replace("\n", "").replace("\r", "").replace('"', "")
                                     for c in row) + "\n" for row in cells)
    try:
        trace = read(trace_file(tmp_path, text))
    except ScenarioError as error:
        assert "trace.csv" in str(error)
        return
    assert np.isfinite(trace).all() and (trace >= 0).all() and trace.max() <= limits.MAX_UNITS
    assert (trace == np.floor(trace)).all() and math.prod(trace.shape) <= limits.MAX_DEMAND_TABLE
