"""Smoke tests of the ``echelon`` command through the real command line, with tiny budgets on Serial-v0."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_helpers import COMMAND, ENV, ENV_ID, echelon

TINY = [
    "--env-id", ENV_ID, "--algo", "ppo", "--seed", "3", "--num-envs", "4", "--checkpoint-every", "128",
    "--set", "algo_kwargs.n_steps=32", "--set", "algo_kwargs.batch_size=64", "--set", "algo_kwargs.n_epochs=2",
    "--set", "metrics_every=128", "--set", "eval_episodes=4", "--threads", "1",
]  # fmt: skip
EVAL = ["--episodes", "4", "--threads", "1"]


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content hash of every file (with mtimes, so a rewrite with equal bytes shows too)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + f"@{p.stat().st_mtime_ns}"
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def metrics_steps(run: Path) -> list[int]:
    with open(run / "metrics.csv") as handle:
        return [int(row["timesteps"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def finished_run(workdir: Path) -> Path:
    done = echelon("train", *TINY, "--total-steps", "256", "--run-name", "done", cwd=workdir)
    assert done.returncode == 0, done.stderr
    return workdir / "runs" / "done"


@pytest.fixture(scope="module")
def interrupted_run(workdir: Path) -> tuple[Path, int]:
    """A run stopped by SIGINT after its first checkpoint (kept as a pristine copy for the corruption tests)."""
    proc = subprocess.Popen([*COMMAND, "train", *TINY, "--total-steps", "10000000", "--run-name", "stopped"],
                            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    checkpoints = workdir / "runs" / "stopped" / "checkpoints"
    deadline = time.monotonic() + 90
    while not list(checkpoints.glob("model_*_steps.zip")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run = workdir / "runs" / "stopped"
    assert (run / "status").read_text().strip() == "interrupted"
    steps = max(int(p.name.split("_")[1]) for p in checkpoints.glob("model_*_steps.zip"))
    assert "echelon train --resume runs/stopped" in out
    shutil.copytree(run, workdir / "stopped-pristine")
    return run, steps


def test_help_explains_every_option(workdir: Path):
    top = echelon("--help", cwd=workdir)
    assert top.returncode == 0
    listed = top.stdout.split("{", 1)[1].split("}", 1)[0].split(",")  # the usage line's list of commands
    assert listed == ["train", "evaluate", "compare", "transfer", "benchmark", "sweep", "plan", "catalog"]
    for command in listed:
        assert f"\n    {command} " in top.stdout  # with its help line
    options = {
        "train": ["--env-id", "--algo", "--action", "--seed", "--config", "--set", "--num-envs", "--checkpoint-every",
                  "--runs-dir", "--run-name", "--total-steps", "--resume", "--threads", "--verbose", "--progress"],
        "evaluate": ["--run", "--policy", "--env-id", "--checkpoint", "--output", "--json", "--episodes", "--seed",
                     "--num-envs", "--periods", "--progress"],
        "compare": ["--run", "--policy", "--baseline", "--env-id", "--warmup-periods", "--output", "--episodes",
                    "--seed", "--num-envs", "--periods"],
        "transfer": ["--runs", "--scenario", "--products", "--generator-seed", "--output", "--episodes", "--seed",
                     "--num-envs", "--periods", "--threads", "--progress"],
        "benchmark": ["--env-id", "--seed", "--quick", "--action", "--episodes", "--output", "--threads",
                      "--progress"],
    }
    for command, flags in options.items():
        result = echelon(command, "--help", cwd=workdir)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        for flag in flags:
            line = next(i for i, text in enumerate(lines) if text.strip().startswith(flag))
            described = " ".join(lines[line : line + 2]).split(flag, 1)[1]
            assert len(described.split()) >= 3, f"{command} {flag} has no help text"


def test_train_writes_a_complete_run_folder(finished_run: Path):
    names = {p.name for p in finished_run.iterdir()}
    assert {"config.yaml", "command.txt", "meta.json", "status", "metrics.csv", "tb", "checkpoints", "model.zip",
            "vecnormalize.pkl", "final_eval.json"} <= names
    assert (finished_run / "status").read_text().strip() == "finished"
    config = yaml.safe_load((finished_run / "config.yaml").read_text())
    assert config["env_id"] == ENV_ID and config["algo"] == "ppo" and config["seed"] == 3
    assert config["num_envs"] == 4 and config["total_steps"] == 256 and config["algo_kwargs"]["n_steps"] == 32
    meta = json.loads((finished_run / "meta.json").read_text())
    assert meta["seed"] == 3 and meta["git"]["revision"] and meta["end_time"]
    assert {"numpy", "gymnasium", "stable-baselines3", "torch", "scipy", "echelon-gym"} <= set(meta["packages"])
    assert meta["sessions"][0]["status"] == "finished" and meta["result"]["timesteps"] >= 256
    assert "train --env-id echelon/Serial-v1" in (finished_run / "command.txt").read_text()
    assert metrics_steps(finished_run)[-1] == meta["result"]["timesteps"]
    assert list((finished_run / "tb").rglob("events.out.tfevents.*"))
    assert len(list((finished_run / "checkpoints").glob("model_vecnormalize_*_steps.pkl"))) >= 2


def test_saved_model_reproduces_its_evaluation_exactly(finished_run: Path, workdir: Path):
    result = echelon("evaluate", "--run", str(finished_run), *EVAL, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "cost per period" in result.stdout and "95% CI" in result.stdout
    reloaded = json.loads((finished_run / "eval.json").read_text())
    in_training = json.loads((finished_run / "final_eval.json").read_text())
    assert reloaded["episode_cost_per_period"] == in_training["episode_cost_per_period"]
    assert reloaded["cost_per_period"] == in_training["cost_per_period"]
    assert reloaded["fill_rate"] == in_training["fill_rate"]
    assert set(reloaded["cost_per_period"]["total"]) == {"mean", "ci95"}


def test_a_finished_run_is_never_overwritten(finished_run: Path, workdir: Path):
    before = snapshot(finished_run)
    again = echelon("train", *TINY, "--total-steps", "256", "--run-name", "done", cwd=workdir)
    assert again.returncode == 1 and "finished run" in again.stderr and "never overwritten" in again.stderr
    resumed = echelon("train", "--resume", str(finished_run), cwd=workdir)
    assert resumed.returncode == 1 and "finished" in resumed.stderr
    assert snapshot(finished_run) == before


def test_resume_continues_with_the_same_step_count(interrupted_run: tuple[Path, int], workdir: Path):
    run, steps = interrupted_run
    total = steps + 256
    result = echelon("train", "--resume", str(run), "--total-steps", str(total), "--threads", "1", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (run / "status").read_text().strip() == "finished"
    meta = json.loads((run / "meta.json").read_text())
    first, second = meta["sessions"]
    assert first["status"] == "interrupted" and first["end_timesteps"] == steps
    assert second["start_timesteps"] == steps and second["end_timesteps"] >= total
    recorded = metrics_steps(run)
    assert recorded == sorted(recorded) and recorded[-1] == second["end_timesteps"]
    assert len(list((run / "tb").iterdir())) == 1  # TensorBoard continues the same curve
    assert (run / "command.txt").read_text().count("echelon train") == 2


def test_corrupted_config_gets_a_clear_error_and_the_folder_is_left_intact(interrupted_run, workdir: Path):
    run = workdir / "bad-config"
    shutil.copytree(workdir / "stopped-pristine", run)
    (run / "config.yaml").write_text("env_id: echelon/Serial-v1\nalgo: [ppo\n")
    before = snapshot(run)
    result = echelon("train", "--resume", str(run), cwd=workdir)
    assert result.returncode == 1
    assert "config.yaml is corrupted" in result.stderr and "left unchanged" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(run) == before


def test_corrupted_checkpoint_gets_a_clear_error_and_the_folder_is_left_intact(interrupted_run, workdir: Path):
    run = workdir / "bad-checkpoint"
    shutil.copytree(workdir / "stopped-pristine", run)
    latest = max((run / "checkpoints").glob("model_*_steps.zip"), key=lambda p: int(p.name.split("_")[1]))
    latest.write_bytes(b"not a zip file")
    before = snapshot(run)
    result = echelon("train", "--resume", str(run), cwd=workdir)
    assert result.returncode == 1
    assert latest.name in result.stderr and "corrupted" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(run) == before


def test_corrupted_model_fails_evaluation_clearly(finished_run: Path, workdir: Path):
    run = workdir / "bad-model"
    shutil.copytree(finished_run, run)
    (run / "vecnormalize.pkl").write_bytes(b"\x80\x04garbage")
    before = snapshot(run)
    result = echelon("evaluate", "--run", str(run), *EVAL, cwd=workdir)
    assert result.returncode == 1 and "vecnormalize.pkl is corrupted" in result.stderr
    assert snapshot(run) == before


def test_compare_pairs_runs_and_policies_on_the_same_draws(finished_run: Path, workdir: Path):
    output = workdir / "compare.json"
    result = echelon("compare", "--run", str(finished_run), "--policy", "random", *EVAL, "--output", str(output),
                     cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "random" in result.stdout and "paired against ppo (done)" in result.stdout
    rows = json.loads(output.read_text())["policies"]
    assert rows[0]["difference_to_baseline"]["mean"] == 0.0
    evaluated = json.loads((finished_run / "final_eval.json").read_text())
    assert rows[0]["summary"]["episode_cost_per_period"] == evaluated["episode_cost_per_period"]


def test_compare_keeps_the_command_line_order_and_pairs_against_the_plan(finished_run: Path, workdir: Path):
    output = workdir / "compare-plan.json"
    result = echelon("compare", "--policy", "random", "--run", str(finished_run), "--policy", "planner", *EVAL,
                     "--output", str(output), cwd=workdir)
    assert result.returncode == 0, result.stderr
    compared = json.loads(output.read_text())
    rows = {row["policy"]: row for row in compared["policies"]}
    assert list(rows) == ["random", "ppo (done)", "planner"] and compared["baseline"] == "planner"
    plan_costs = np.array(rows["planner"]["summary"]["episode_cost_per_period"])
    for row in rows.values():
        delta = np.array(row["summary"]["episode_cost_per_period"]) - plan_costs
        assert row["difference_to_baseline"]["mean"] == pytest.approx(delta.mean())
        assert row["difference_to_baseline"]["pct"] == pytest.approx(100 * delta.mean() / plan_costs.mean())
        cost, optimum = row["cost_per_period"]["mean"], compared["plan"]["exact_optimum"]
        assert row["gap_to_optimum_pct"] == pytest.approx(100 * (cost - optimum) / optimum)  # Serial: Clark-Scarf
        assert row["gap_to_dual_bound_pct"] is not None
    chosen = echelon("compare", "--policy", "planner", "--run", str(finished_run), "--baseline", str(finished_run),
                     *EVAL, "--output", str(output), cwd=workdir)
    assert chosen.returncode == 0, chosen.stderr
    rows = json.loads(output.read_text())["policies"]
    assert [row["policy"] for row in rows] == ["planner", "ppo (done)"]
    assert rows[1]["difference_to_baseline"]["mean"] == 0.0 and rows[0]["difference_to_baseline"]["mean"] != 0.0


def test_compare_refuses_runs_with_another_warmup(finished_run: Path, workdir: Path):
    run = workdir / "other-warmup"
    shutil.copytree(finished_run, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["env_kwargs"] = {**(config.get("env_kwargs") or {}), "warmup_periods": 3}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    refused = echelon("compare", "--run", str(run), "--policy", "planner", *EVAL, cwd=workdir)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "ppo (other-warmup): 3" in refused.stderr and "--warmup-periods" in refused.stderr
    output = workdir / "compare-warmup.json"
    forced = echelon("compare", "--run", str(run), "--policy", "planner", "--warmup-periods", "3", *EVAL,
                     "--output", str(output), cwd=workdir)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(output.read_text())["warmup_periods"] == 3


def test_evaluate_takes_checkpoints_of_its_own_run_only(finished_run: Path, workdir: Path):
    other = workdir / "other-run"
    shutil.copytree(finished_run, other)
    (other / "eval.json").unlink(missing_ok=True)
    checkpoint = max((other / "checkpoints").glob("model_*_steps.zip"), key=lambda p: int(p.name.split("_")[1]))
    before = snapshot(finished_run)
    foreign = echelon("evaluate", "--run", str(finished_run), "--checkpoint", str(checkpoint), *EVAL, cwd=workdir)
    assert foreign.returncode == 1 and "not inside the run folder" in foreign.stderr
    assert snapshot(finished_run) == before
    own = echelon("evaluate", "--run", str(other), "--checkpoint", str(checkpoint), *EVAL, cwd=workdir)
    assert own.returncode == 0, own.stderr
    written = json.loads((other / f"eval_{checkpoint.stem}.json").read_text())
    assert written["model"].endswith(checkpoint.name) and not (other / "eval.json").exists()


def test_unwritable_outputs_are_refused_before_any_evaluation(workdir: Path):
    missing = str(workdir / "missing" / "x.json")
    slow = ["--episodes", "100000", "--threads", "1"]  # would take minutes if it ran before the check
    for command in (["evaluate", "--policy", "planner"], ["compare", "--policy", "planner"]):
        result = echelon(*command, "--env-id", ENV_ID, *slow, "--output", missing, cwd=workdir, timeout=60)
        assert result.returncode == 2, result.stderr
        assert f"echelon {command[0]}: error: --output {missing}: the folder" in result.stderr
        assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    blocker = workdir / "a-file"
    blocker.write_text("")
    benchmark = echelon("benchmark", "--quick", "--output", str(blocker / "report"), cwd=workdir)
    assert benchmark.returncode == 2 and "not a writable folder" in benchmark.stderr
    assert "Traceback" not in benchmark.stderr


def test_bad_options_fail_clearly(workdir: Path):
    unknown = echelon("train", *TINY, "--set", "algo_kwargs.learning_rat=0.1", "--run-name", "never", cwd=workdir)
    assert unknown.returncode == 1 and "learning_rat" in unknown.stderr and "Traceback" not in unknown.stderr
    assert not (workdir / "runs" / "never").exists()
    bad_yaml = workdir / "bad.yaml"
    bad_yaml.write_text("num_envs: [4\n")
    broken = echelon("train", "--env-id", ENV_ID, "--algo", "ppo", "--config", str(bad_yaml), cwd=workdir)
    assert broken.returncode == 1 and "bad.yaml is not valid YAML" in broken.stderr
    algo = echelon("train", "--env-id", ENV_ID, "--algo", "dqn", cwd=workdir)
    assert algo.returncode == 2 and "dqn" in algo.stderr
    existing = workdir / "existing-report"
    existing.mkdir(exist_ok=True)
    benchmark = echelon("benchmark", "--quick", "--output", str(existing), cwd=workdir)
    assert benchmark.returncode == 1 and "never overwritten" in benchmark.stderr
    one = echelon("evaluate", "--policy", "planner", "--env-id", ENV_ID, "--episodes", "1", cwd=workdir)
    assert one.returncode == 2 and "at least 2 episodes" in one.stderr
