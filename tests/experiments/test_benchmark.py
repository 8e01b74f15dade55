"""``echelon benchmark --quick`` through the real command line: the report folder, and reruns give the same numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import echelon

from baselines.planner import exact_optimum, plan

DETERMINISTIC = ("summary.csv", "episodes.csv", "trajectories.csv", "capacity.csv", "learning_curves.csv")
POLICY_NAMES = ["plan", "tuned", "newsvendor", "constant", "ppo", "gradient"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[Path]:
    workdir = tmp_path_factory.mktemp("benchmark")
    folders = []
    for name in ("first", "again"):
        result = echelon("benchmark", "--quick", "--seed", "3", "--output", name, cwd=workdir, timeout=170)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith(f"report: {name}/report.md")
        folders.append(workdir / name)
    return folders


def test_quick_benchmark_writes_a_complete_report(reports: list[Path]):
    folder = reports[0]
    for name in (*DETERMINISTIC, "report.md", "timing.json", "config.yaml", "meta.json", "cost.png",
                 "learning_curves.png", "inventory.png", "fill_rate.png", "capacity.png"):
        assert (folder / name).stat().st_size > 0, name
    summary = pd.read_csv(folder / "summary.csv")
    assert summary["policy"].tolist() == POLICY_NAMES
    assert summary.loc[summary["policy"] == "plan", "vs_plan_mean"].item() == 0.0
    assert (summary.loc[summary["policy"] == "constant", "vs_plan_mean"] > 0).all()
    assert pd.read_csv(folder / "episodes.csv").groupby("policy").size().eq(16).all()
    trajectories = pd.read_csv(folder / "trajectories.csv")
    assert sorted(trajectories["echelon"].unique()) == [1, 2, 3] and trajectories["period"].max() == 99
    curves = pd.read_csv(folder / "learning_curves.csv")
    assert set(curves["agent"]) == {"ppo", "gradient"}
    report = (folder / "report.md").read_text()
    for text in ("## Cost per period", "## Quality targets", "bounds the plan's analytic model, not the simulator",
                 "## Fill rate by speed", "## Capacity use against caps", "## Inventory by echelon", "## Training",
                 "env-steps/s", "Quick mode", "PPO (residual)", "gradient agent (residual)", "tuned base stock"):
        assert text in report, text
    for algo in ("ppo", "gradient"):
        run = folder / "runs" / algo
        assert (run / "status").read_text().strip() == "finished"
        assert "action: residual" in (run / "config.yaml").read_text() and (run / "plan.json").exists()


def test_reruns_with_the_same_seed_give_the_same_numbers(reports: list[Path]):
    first, again = reports
    for name in DETERMINISTIC:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_exact_optimum_only_where_the_plan_is_clark_scarf():
    serial = plan("serial")
    assert exact_optimum(serial) == serial.cost
    assert exact_optimum(plan("owmr")) is None  # the balance relaxation is a bound there, not the optimum
    assert exact_optimum(plan("network")) is None
