"""``echelon compare --runs``: several runs of one configuration as one entry, each paired with the baseline and
reported across seeds; groups of different configurations, repeated seeds and a group as baseline are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agents.config import ConfigError
from experiments import train
from experiments.cli import main
from experiments.compare import compare
from experiments.conventions import UsageError

ENV_ID = "echelon/Serial-v1"
SETS = ["iterations=2", "paths=4", "horizon=10", "checkpoint_every=2", "eval_episodes=0", "hidden=[4]"]
EVAL = dict(episodes=6, seed=1_000_000, periods=20, progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("seeds")
    made = {}
    for name, seed, extra in (("a", 0, []), ("b", 1000, []), ("c", 2000, []), ("lr", 3000, ["learning_rate=0.05"])):
        run, code = train.train(ENV_ID, "gradient", seed, runs_dir=folder, run_name=name, sets=[*SETS, *extra],
                                progress=False, argv=["test"])
        assert code == 0
        made[name] = run.path
    made["a-again"] = folder / "a-again"
    shutil.copytree(made["a"], made["a-again"])
    return made


def test_a_group_reports_every_run_and_the_statistics_across_seeds(runs: dict[str, Path]):
    group = [str(runs[name]) for name in ("a", "b", "c")]
    comparison = compare([("runs", group), ("policy", "planner")], **EVAL)
    grouped, planner = comparison.rows()
    assert grouped["policy"] == "gradient residual (3 seeds: 0, 1000, 2000)" and comparison.baseline == 1
    singles = [compare([("run", path), ("policy", "planner")], **EVAL).rows()[0] for path in group]
    for run, single in zip(grouped["runs"], singles, strict=True):
        assert run["difference_to_baseline"] == single["difference_to_baseline"]
    gaps = np.array([run["difference_to_baseline"]["pct"] for run in grouped["runs"]])
    stats = grouped["across_seeds"]
    assert stats["runs"] == 3 and stats["mean_gap_pct"] == pytest.approx(gaps.mean())
    assert stats["worst_seed"] == grouped["runs"][int(np.argmax(gaps))]["seed"]
    assert stats["probability_of_improvement"] == pytest.approx(np.mean((gaps < 0) + 0.5 * (gaps == 0)))
    assert grouped["cost_per_period"]["mean"] == pytest.approx(np.mean([r["cost_per_period"]["mean"]
                                                                        for r in grouped["runs"]]))
    text = comparison.text(comparison.rows())
    assert "3 runs; gap to planner across seeds: mean" in text and "IQM" in text and "  seed 1000" in text


def test_the_command_line_takes_runs_as_one_entry(runs: dict[str, Path], tmp_path: Path, capsys):
    output = tmp_path / "compare.json"
    code = main(["compare", "--runs", str(runs["a"]), str(runs["b"]), "--policy", "planner", "--episodes", "6",
                 "--periods", "20", "--no-progress", "--output", str(output)])
    assert code == 0, capsys.readouterr().err
    rows = json.loads(output.read_text())["policies"]
    assert [row["policy"] for row in rows] == ["gradient residual (2 seeds: 0, 1000)", "planner"]
    assert [run["seed"] for run in rows[0]["runs"]] == [0, 1000]


def test_groups_must_be_one_configuration_of_distinct_seeds(runs: dict[str, Path]):
    with pytest.raises(ConfigError, match="differ in 'learning_rate'"):
        compare([("runs", [str(runs["a"]), str(runs["lr"])]), ("policy", "planner")], **EVAL)
    with pytest.raises(ConfigError, match="several runs have seed 0"):
        compare([("runs", [str(runs["a"]), str(runs["a-again"])]), ("policy", "planner")], **EVAL)
    with pytest.raises(UsageError, match="is a --runs group"):
        compare([("runs", [str(runs["a"]), str(runs["b"])]), ("policy", "planner")],
                baseline="gradient residual (2 seeds: 0, 1000)", **EVAL)
