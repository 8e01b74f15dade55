"""``echelon catalog`` writes a seeded synthetic catalog that a scenario YAML can name."""

from __future__ import annotations

import pytest

from envs.scenario.catalog_file import read_catalog
from envs.scenario.synthetic_catalog import long_tail_catalog
from experiments import cli


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_echelon_catalog_writes_the_generators_catalog(tmp_path, capsys, suffix):
    path = tmp_path / f"catalog.{suffix}"
    code = cli.main(["catalog", str(path), "--products", "500", "--seed", "3", "--demand-spread", "1.2"])
    assert code == 0 and "500 products" in capsys.readouterr().out
    assert read_catalog(path) == long_tail_catalog(500, seed=3, demand_spread=1.2)
