"""Catalog files: a scenario YAML naming its products in a CSV or Parquet file loads into the same scenario (and the
same params) as the YAML listing them; every bad value is refused naming the file, the row and the column."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import assert_same_params, small_env_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.params import compile_scenario
from envs.scenario import (
    Catalog,
    Demand,
    ScenarioError,
    load_scenario_file,
    network_scenario,
    save_scenario_file,
    scenario_to_dict,
)
from envs.scenario.catalog_file import read_catalog, write_catalog

HEADER = "name,mean_demand,volume,unit_cost,holding_cost,penalty_scale\n"
GOOD = HEADER + "a,6,0.5,1,0.2,1\nb,3,2,2,0.3,2\n"


def scenario_yaml(tmp_path: Path, products) -> Path:
    """small_env_scenario's YAML with ``products`` in place of its list."""
    data = scenario_to_dict(small_env_scenario())
    data["products"] = products
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("world", ["small", "network"])
def test_a_scenario_with_its_products_in_a_file_equals_the_one_listing_them(tmp_path, suffix, world):
    scenario = small_env_scenario() if world == "small" else network_scenario()
    save_scenario_file(scenario, tmp_path / "inline.yaml")
    save_scenario_file(scenario, tmp_path / "tabled.yaml", catalog_file=f"products/catalog.{suffix}")
    assert yaml.safe_load((tmp_path / "tabled.yaml").read_text())["products"] == {"file": f"products/catalog.{suffix}"}
    inline, tabled = load_scenario_file(tmp_path / "inline.yaml"), load_scenario_file(tmp_path / "tabled.yaml")
    assert tabled == inline == scenario
    assert_same_params(compile_scenario(tabled), compile_scenario(scenario))


def test_a_hand_written_csv_reads_like_the_yaml_list(tmp_path):
    (tmp_path / "catalog.csv").write_text(GOOD)
    loaded = load_scenario_file(scenario_yaml(tmp_path, {"file": "catalog.csv"}))
    assert loaded == small_env_scenario()
    (tmp_path / "short.csv").write_text("name,mean_demand\nx,1e1\ny,0\n")
    short = read_catalog(tmp_path / "short.csv")
    assert short == Catalog(name=["x", "y"], mean_demand=[10.0, 0.0])


def test_per_product_demand_parameters_round_trip(tmp_path):
    scenario = dataclasses.replace(small_env_scenario(), products=Catalog(
        **small_env_scenario().products.columns, dispersion=[0.5, 20.0]), demand=Demand("negative_binomial"))
    for suffix in ("csv", "parquet"):
        save_scenario_file(scenario, tmp_path / f"{suffix}.yaml", catalog_file=f"catalog.{suffix}")
        assert load_scenario_file(tmp_path / f"{suffix}.yaml") == scenario
    save_scenario_file(scenario, tmp_path / "inline.yaml")
    assert load_scenario_file(tmp_path / "inline.yaml").products.dispersion.tolist() == [0.5, 20.0]


def refusal(tmp_path: Path, text: str, name: str = "catalog.csv") -> str:
    (tmp_path / name).write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(scenario_yaml(tmp_path, {"file": name}))
    return str(info.value)


@pytest.mark.parametrize(("text", "fragments"), [
    ("mean_demand,volume\n1,2\n", ["missing column(s) ['name']", "['name', 'mean_demand']"]),
    ("name,volume\na,2\n", ["missing column(s) ['mean_demand']"]),
    ("name,mean_demand,colour\na,1,red\n", ["unknown column(s) ['colour']", "known columns"]),
    ("name,mean_demand,mean_demand\na,1,2\n", ["['mean_demand'] appear more than once"]),
    (HEADER, ["has no rows", "one row per product"]),
    (HEADER + "a,6,0.5,1,0.2,1\nb,lots,2,2,0.3,2\n", ["row 3 column 'mean_demand'", "'lots' is not a number",
                                                      "write a number"]),
    (HEADER + "a,6,0.5,1,0.2,1\nb,3,,2,0.3,2\n", ["row 3 column 'volume'", "missing (NaN)", "give a number"]),
    (HEADER + "a,6,0.5,1,0.2,1\nb,3,nan,2,0.3,2\n", ["row 3 column 'volume'", "missing (NaN)"]),
    (HEADER + "a,6,0.5,-1,0.2,1\nb,3,2,2,0.3,2\n", ["row 2 column 'unit_cost'", ">= 0", "-1.0"]),
    (HEADER + "a,6,0.5,1,0.2,1\nb,3,0,2,0.3,2\n", ["row 3 column 'volume'", "> 0", "got 0.0"]),
    (HEADER + "a,6,0.5,1,2e6,1\nb,3,2,2,3e6,2\n", ["row 2 column 'holding_cost'", "above the limit of 1e+06",
                                                   "currency unit", "1 more row"]),
    (HEADER + "a,6,0.5,1,0.2,1\nb,3,inf,2,0.3,2\n", ["row 3 column 'volume'", "finite"]),
    (HEADER + "a,6,0.5,1,0.2,1\na,3,2,2,0.3,2\n", ["row 3 column 'name'", "duplicate name 'a'", "(first at",
                                                   "row 2 column 'name'", "unique"]),
    (HEADER + "a,6,0.5,1,0.2,1\n,3,2,2,0.3,2\n", ["row 3 column 'name'", "non-empty"]),
    (HEADER + "\na,6,0.5,1,0.2,1\n\nb,-3,2,2,0.3,2\n", ["row 5 column 'mean_demand'"]),  # empty lines count
    ("name,mean_demand,dispersion\na,6,0.0001\n", ["row 2 column 'dispersion'", "below the limit of 0.001"]),
])
def test_a_bad_csv_is_refused_naming_the_file_the_row_and_the_column(tmp_path, text, fragments):
    message = refusal(tmp_path, text)
    assert "catalog file" in message and "catalog.csv" in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(("columns", "fragments"), [
    ({"name": ["a", "b"], "mean_demand": [1.0, -2.0]}, ["data row 2 column 'mean_demand'", ">= 0"]),
    ({"name": ["a", "b"], "mean_demand": [1.0, None]}, ["data row 2 column 'mean_demand'", "missing (NaN)"]),
    ({"name": ["a", "b"], "mean_demand": ["1", "x"]}, ["data row 2 column 'mean_demand'", "'x' is not a number"]),
    ({"name": [1, 2], "mean_demand": [1.0, 2.0]}, ["column 'name'", "int64", "text"]),
    ({"name": ["a", "b"], "mean_demand": [True, False]}, ["column 'mean_demand'", "bool", "not numbers"]),
    ({"name": ["a", None], "mean_demand": [1.0, 2.0]}, ["data row 2 column 'name'", "non-empty"]),
    ({"name": pa.array([], pa.string()), "mean_demand": pa.array([], pa.float64())}, ["has no rows"]),
])
def test_a_bad_parquet_file_is_refused_naming_the_file_the_row_and_the_column(tmp_path, columns, fragments):
    pq.write_table(pa.table(columns), tmp_path / "catalog.parquet")
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(scenario_yaml(tmp_path, {"file": "catalog.parquet"}))
    message = str(info.value)
    assert "catalog.parquet" in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(("products", "fragments"), [
    ({"file": "missing.csv"}, ["missing.csv", "does not exist"]),
    ({"file": "catalog.xlsx"}, ["unknown format '.xlsx'", ".csv or .parquet"]),
    ({"file": "catalog.csv", "sheet": 1}, ["unknown key(s) ['sheet']"]),
    ({"file": 3}, ["products.file", "path"]),
])
def test_a_bad_reference_to_a_catalog_file_is_refused(tmp_path, products, fragments):
    (tmp_path / "catalog.csv").write_text(GOOD)
    with pytest.raises(ScenarioError) as info:
        load_scenario_file(scenario_yaml(tmp_path, products))
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)


COLUMN_LIMITS = {"mean_demand": 1e6, "volume": 1e6, "unit_cost": 1e6, "holding_cost": 1e6, "penalty_scale": 1e3}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 40), data=st.data())
def test_the_first_bad_value_of_a_column_is_named_by_its_row_wherever_it_is(tmp_path, rows, data):
    column = data.draw(st.sampled_from(sorted(COLUMN_LIMITS)))
    bad_rows = sorted(data.draw(st.sets(st.integers(0, rows - 1), min_size=1, max_size=rows)))
    bad = data.draw(st.sampled_from(["-1", "nan", "", "abc", f"{COLUMN_LIMITS[column] * 10:g}", "inf"]))
    suffix = data.draw(st.sampled_from(["csv", "parquet"]))
    table = {"name": [f"p{i}" for i in range(rows)], **{c: ["1"] * rows for c in COLUMN_LIMITS}}
    for i in bad_rows:
        table[column][i] = bad
    path = tmp_path / f"catalog.{suffix}"
    if suffix == "csv":
        path.write_text(",".join(table) + "\n" + "".join(",".join(row) + "\n" for row in zip(*table.values())))
        where = f"row {bad_rows[0] + 2} column {column!r}"
    else:
        pq.write_table(pa.table(table), path)  # numbers as text: read as a spreadsheet export would hold them
        where = f"data row {bad_rows[0] + 1} column {column!r}"
    with pytest.raises(ScenarioError) as info:
        read_catalog(path)
    assert f"catalog file {str(path)!r}: {where}:" in str(info.value), str(info.value)


def test_write_catalog_writes_numbers_that_read_back_exactly(tmp_path):
    rng = np.random.default_rng(4)
    catalog = Catalog(name=[f"item {i}, \"quoted\"" for i in range(500)], mean_demand=rng.lognormal(0, 3, 500),
                      volume=rng.random(500) + 1e-9, cv=rng.random(500) + 0.01)
    for suffix in ("csv", "parquet"):
        write_catalog(catalog, tmp_path / f"c.{suffix}")
        assert read_catalog(tmp_path / f"c.{suffix}") == catalog
