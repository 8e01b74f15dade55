"""``echelon benchmark --quick`` through the real command line: the report folder with every training seed and the
statistics across seeds, and reruns give the same numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import echelon

from baselines.evaluation import ratio_estimate
from baselines.planner import exact_optimum, plan

DETERMINISTIC = ("summary.csv", "episodes.csv", "seeds.csv", "aggregate.csv", "trajectories.csv", "capacity.csv",
                 "learning_curves.csv", "learning_curve_bands.csv")
SEEDS = [3, 1003]  # --seed 3, two seeds in quick mode
RUNS = [f"{algo}-seed{seed}" for algo in ("ppo", "gradient") for seed in SEEDS]
POLICY_NAMES = ["plan", "tuned", "newsvendor", "constant", *RUNS]


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
    for name in (*DETERMINISTIC, "report.md", "timing.json", "config.yaml", "meta.json", "cost.png", "seeds.png",
                 "learning_curves.png", "inventory.png", "fill_rate.png", "capacity.png"):
        assert (folder / name).stat().st_size > 0, name
    summary = pd.read_csv(folder / "summary.csv")
    assert summary["policy"].tolist() == POLICY_NAMES
    assert summary.loc[summary["policy"] == "plan", "vs_plan_mean"].item() == 0.0
    assert (summary.loc[summary["policy"] == "constant", "vs_plan_mean"] > 0).all()
    assert (summary["gap_to_hindsight_pct"] > 0).all()  # no policy beats the perfect-information bound
    assert (summary["gap_to_hindsight_avoidable_pct"] > summary["gap_to_hindsight_pct"]).all()
    episodes = pd.read_csv(folder / "episodes.csv")
    assert episodes.groupby("policy").size().eq(16).all()
    plan_rows = episodes[episodes.policy == "plan"]
    solved = plan_rows.dropna(subset=["hindsight_bound"])
    assert len(solved) == 2 and solved.episode.tolist() == [0, 1]  # the bound's episodes, the first ones
    recomputed = ratio_estimate(100 * (solved.cost_per_period - solved.hindsight_bound), solved.hindsight_bound)
    plan_summary = summary.set_index("policy").loc["plan"]
    assert recomputed.mean == pytest.approx(plan_summary["gap_to_hindsight_pct"], abs=1e-6)  # the CSV rounds
    assert recomputed.half_width == pytest.approx(plan_summary["gap_to_hindsight_pct_ci95"], abs=1e-6)
    trajectories = pd.read_csv(folder / "trajectories.csv")
    assert sorted(trajectories["echelon"].unique()) == [1, 2, 3] and trajectories["period"].max() == 99
    curves = pd.read_csv(folder / "learning_curves.csv")
    assert set(curves["group"]) == {"PPO (residual)", "gradient agent (residual)"}
    assert sorted(set(curves["seed"])) == SEEDS
    report = (folder / "report.md").read_text()
    for text in ("## Cost per period", "## Across training seeds", "IQM gap %", "P(run beats plan)", "worst seed",
                 "stratified bootstrap", "Agarwal et al. (2021)", "## Quality targets",
                 "bounds the plan's analytic model, not the simulator", "## Fill rate by speed",
                 "Perfect-information (hindsight) lower bound on the first 2 episodes", "above hindsight bound %",
                 "per period is unavoidable",
                 "## Capacity use against caps", "## Inventory by echelon", "## Training", "env-steps/s", "Quick mode",
                 "PPO (residual), seed 1003", "gradient agent (residual), seed 3", "tuned base stock"):
        assert text in report, text
    for name in RUNS:
        run = folder / "runs" / name
        assert (run / "status").read_text().strip() == "finished"
        assert "action: residual" in (run / "config.yaml").read_text() and (run / "plan.json").exists()


def test_every_seed_is_paired_with_the_plan_and_summarized_across_seeds(reports: list[Path]):
    folder = reports[0]
    summary = pd.read_csv(folder / "summary.csv").set_index("policy")
    seeds = pd.read_csv(folder / "seeds.csv")
    assert seeds["seed"].tolist() == SEEDS * 2
    for row in seeds.itertuples():
        name = f"{'ppo' if row.group.startswith('PPO') else 'gradient'}-seed{row.seed}"
        assert row.gap_mean == pytest.approx(summary.loc[name, "vs_plan_mean"])
        assert row.gap_pct == pytest.approx(summary.loc[name, "vs_plan_pct"])
    aggregate = pd.read_csv(folder / "aggregate.csv").set_index("group")
    for group, runs in seeds.groupby("group"):
        row = aggregate.loc[group]
        assert row["runs"] == 2 and row["mean_gap_pct"] == pytest.approx(runs["gap_pct"].mean())
        assert row["mean_gap_pct_low"] <= row["mean_gap_pct"] <= row["mean_gap_pct_high"]
        assert row["worst_gap_pct"] == runs["gap_pct"].max()
        assert row["probability_of_improvement"] == pytest.approx((runs["gap_pct"] < 0).mean())


def test_reruns_with_the_same_seed_give_the_same_numbers(reports: list[Path]):
    first, again = reports
    for name in DETERMINISTIC:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_exact_optimum_only_where_the_plan_is_clark_scarf():
    serial = plan("serial")
    assert exact_optimum(serial) == serial.cost
    assert exact_optimum(plan("owmr")) is None  # the balance relaxation is a bound there, not the optimum
    assert exact_optimum(plan("network")) is None
