"""``echelon plan``: writes the plan, refuses bad arguments in one line, and plans on local Ray workers exactly as in
one piece."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import echelon

from baselines.planner import plan
from envs.scenario.generate import network_scenario
from envs.scenario.io import save_scenario_file
from experiments import cli
from experiments.residual_plan import load_plan_levels
from experiments.runs import Run


def test_plan_writes_the_plan_a_residual_run_reads(tmp_path: Path, capsys):
    output = tmp_path / "plan.json"
    assert cli.main(["plan", "network", "--output", str(output)]) == 0
    assert "1 shard(s) in this process" in capsys.readouterr().out
    written = json.loads(output.read_text())
    expected = plan("network")
    assert written["method"] == expected.method and written["shards"] == 1 and written["workers"] == 0
    assert np.array_equal(np.array(written["echelon_levels"]), expected.echelon_levels)
    assert written["storage_price"] == expected.storage_price.tolist() and written["dual_bound"] == expected.dual_bound
    assert written["node_names"] == list(expected.params.node_names)
    assert np.array_equal(load_plan_levels(Run(tmp_path)), expected.echelon_levels)  # as a run folder's plan.json


@pytest.mark.parametrize("args", [
    ["network", "--shards", "2"],  # 20 products: one chunk
    ["network", "--shards", "0"],
    ["network", "--workers", "-1"],
    ["network", "--workers", "0", "--address", "10.0.0.5:6379"],
    ["network", "--output", "missing/plan.json"],
    ["no-such-scenario"],
    [],
])
def test_bad_plan_arguments_end_in_one_error_line(tmp_path: Path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(["plan", *args])
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    captured = capsys.readouterr()
    assert code in (1, 2) and "Traceback" not in captured.err
    assert len([line for line in captured.err.splitlines() if line.startswith("echelon plan: error: ")]) == 1
    assert not list(tmp_path.iterdir())


def test_two_ray_workers_plan_three_shards_exactly_as_one_piece(tmp_path: Path):
    """Local Ray (127.0.0.1) with 2 workers holding 3 shards of 1,600 products; ~15 s, most of it Ray's start."""
    scenario = network_scenario("catalog", num_products=1600, num_fulfillment_centers=4, num_same_day_sites=2,
                                num_regions=6, seed=2)
    save_scenario_file(scenario, tmp_path / "catalog.yaml")
    done = echelon("plan", "catalog.yaml", "--shards", "3", "--workers", "2", "--output", "plan.json", cwd=tmp_path,
                   timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "3 shard(s) on 2 Ray worker(s), local Ray (127.0.0.1)" in done.stdout
    written = json.loads((tmp_path / "plan.json").read_text())
    expected = plan(tmp_path / "catalog.yaml")
    assert np.isfinite(expected.storage_capacity).any() and max(expected.storage_price) > 0
    assert np.array_equal(np.array(written["echelon_levels"]), expected.echelon_levels)
    assert written["storage_price"] == expected.storage_price.tolist()
    assert written["inbound_price"] == expected.inbound_price.tolist()
    assert (written["cost"], written["dual_bound"]) == (expected.cost, expected.dual_bound)
