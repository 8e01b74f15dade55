"""Named policies, residual PPO, SAC and TD3 and the gradient agent through the real command line (tiny budgets,
Serial-v0)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from cli_helpers import ENV_ID, echelon
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from agents.config import ConfigError
from experiments import run_config, train
from experiments.evaluate import run_episodes
from experiments.loading import load_run
from experiments.named_policies import POLICIES, make_named_policy

EVAL = ["--episodes", "6", "--threads", "1"]
TINY_PPO = ["--env-id", ENV_ID, "--algo", "ppo", "--seed", "2", "--num-envs", "4", "--total-steps", "256",
            "--set", "algo_kwargs.n_steps=32", "--set", "algo_kwargs.batch_size=64", "--set", "algo_kwargs.n_epochs=1",
            "--set", "eval_episodes=4", "--threads", "1"]  # fmt: skip
TINY_OFF_POLICY = ["--env-id", ENV_ID, "--seed", "3", "--num-envs", "2", "--total-steps", "96",
                   "--set", "algo_kwargs.learning_starts=16", "--set", "algo_kwargs.batch_size=16",
                   "--set", "algo_kwargs.buffer_size=1000", "--set", "policy_kwargs.net_arch=[32, 32]",
                   "--set", "eval_episodes=4", "--threads", "1"]  # fmt: skip
TINY_GRADIENT = ["--env-id", ENV_ID, "--algo", "gradient", "--seed", "4", "--set", "iterations=4", "--set", "paths=4",
                 "--set", "horizon=10", "--set", "checkpoint_every=2", "--set", "eval_episodes=4", "--threads", "1"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("agents-cli")


@pytest.fixture(scope="module")
def named(workdir: Path) -> dict:
    output = workdir / "named.json"
    flags = [arg for name in POLICIES for arg in ("--policy", name)]
    result = echelon("compare", *flags, "--env-id", ENV_ID, *EVAL, "--output", str(output), cwd=workdir)
    assert result.returncode == 0, result.stderr
    return {row["policy"]: row for row in json.loads(output.read_text())["policies"]}


@pytest.fixture(scope="module")
def residual_run(workdir: Path) -> Path:
    result = echelon("train", *TINY_PPO, "--action", "residual", "--set", "max_log_multiplier=0.3", "--set",
                     "crn_groups=2", "--run-name", "residual", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "runs" / "residual"


@pytest.fixture(scope="module", params=["sac", "td3"])
def off_policy_residual_run(request, workdir: Path) -> Path:
    algo = request.param
    result = echelon("train", *TINY_OFF_POLICY, "--algo", algo, "--action", "residual", "--run-name",
                     f"{algo}-residual", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "runs" / f"{algo}-residual"


@pytest.fixture(scope="module")
def gradient_run(workdir: Path) -> Path:
    result = echelon("train", *TINY_GRADIENT, "--run-name", "gradient", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "runs" / "gradient"


def test_named_policies_rank_as_expected(named: dict):
    """The plan is the exact optimum on Serial-v0: every other named policy costs more on the same draws."""
    assert list(named) == ["planner", *[n for n in POLICIES if n != "planner"]]
    assert named["planner"]["difference_to_baseline"]["mean"] == 0.0
    for name in ("newsvendor", "constant", "random"):
        delta = named[name]["difference_to_baseline"]
        assert delta["mean"] - delta["ci95"] > 0, name
    assert abs(named["tuned"]["difference_to_baseline"]["mean"]) < 0.05 * named["planner"]["cost_per_period"]["mean"]


def test_evaluate_a_named_policy_writes_the_same_numbers_as_compare(named: dict, workdir: Path):
    output = workdir / "planner.json"
    result = echelon("evaluate", "--policy", "planner", "--env-id", ENV_ID, *EVAL, "--output", str(output),
                     cwd=workdir)
    assert result.returncode == 0, result.stderr
    summary = json.loads(output.read_text())
    assert summary["episode_cost_per_period"] == named["planner"]["summary"]["episode_cost_per_period"]
    assert summary["cost_per_period"]["total"]["ci95"] > 0 and summary["fill_rate"]["standard"]["mean"] > 0.9


def test_residual_run_records_and_reconstructs_the_plan(residual_run: Path, named: dict, workdir: Path):
    config = yaml.safe_load((residual_run / "config.yaml").read_text())
    assert config["action"] == "residual" and config["max_log_multiplier"] == 0.3
    assert config["policy_kwargs"]["log_std_init"] == -3.0  # the residual section of ppo.yaml applies
    assert "residual" not in config
    levels = json.loads((residual_run / "plan.json").read_text())["echelon_levels"]
    assert len(levels) == 3
    result = echelon("evaluate", "--run", str(residual_run), *EVAL, cwd=workdir)
    assert result.returncode == 0, result.stderr
    evaluated = json.loads((residual_run / "eval.json").read_text())
    final = json.loads((residual_run / "final_eval.json").read_text())
    assert evaluated["episode_cost_per_period"][:4] == final["episode_cost_per_period"]
    # 256 steps barely move a policy that starts at zero: it is still about the plan (a direct policy
    # started at the middle of the action range costs far more).
    plan_cost = named["planner"]["cost_per_period"]["mean"]
    assert abs(evaluated["cost_per_period"]["total"]["mean"] - plan_cost) < 0.02 * plan_cost


def test_off_policy_residual_run_finishes_and_its_model_reproduces_the_final_evaluation(
        off_policy_residual_run: Path, workdir: Path):
    run = off_policy_residual_run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["action"] == "residual" and config["max_log_multiplier"] == 0.5  # the bound is recorded
    assert (run / "status").read_text().strip() == "finished"
    assert {"model.zip", "vecnormalize.pkl", "plan.json", "final_eval.json"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "meta.json").read_text())["result"]["timesteps"] == 96
    result = echelon("evaluate", "--run", str(run), *EVAL, cwd=workdir)
    assert result.returncode == 0, result.stderr
    evaluated = json.loads((run / "eval.json").read_text())
    final = json.loads((run / "final_eval.json").read_text())
    assert evaluated["episode_cost_per_period"][:4] == final["episode_cost_per_period"]
    assert evaluated["model_timesteps"] == final["model_timesteps"] == 96
    assert evaluated["policy"] == final["policy"] == f"{config['algo']} residual ({run.name})"


def test_off_policy_residual_model_with_a_zero_action_is_exactly_the_plan(off_policy_residual_run: Path):
    """The whole reloaded chain (normalization, actor, squashing, residual map) turns a zero action into the plan."""
    loaded = load_run(off_policy_residual_run)
    output = [m for m in loaded.policy.model.actor.mu.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        output.weight.zero_()
        output.bias.zero_()
    agent, planner = (run_episodes(policy, ENV_ID, 4).summary()["episode_cost_per_period"]
                      for policy in (loaded.policy, make_named_policy("planner", ENV_ID)))
    assert agent == planner


def test_gradient_run_folder_and_evaluation(gradient_run: Path, workdir: Path):
    names = {p.name for p in gradient_run.iterdir()}
    assert {"config.yaml", "command.txt", "meta.json", "status", "metrics.csv", "tb", "checkpoints", "policy.pt",
            "plan.json", "final_eval.json"} <= names
    assert any(path.stat().st_size > 0 for path in (gradient_run / "tb").glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (gradient_run / "checkpoints").iterdir()) == ["gradient_2.pt", "gradient_4.pt"]
    metrics = pd.read_csv(gradient_run / "metrics.csv")
    assert metrics["timesteps"].tolist() == [40, 80, 120, 160] and metrics["fps"].gt(0).all()
    meta = json.loads((gradient_run / "meta.json").read_text())
    assert meta["result"]["timesteps"] == 160 and meta["seed"] == 4 and meta["git"]["revision"]
    record = torch.load(gradient_run / "policy.pt", weights_only=True)
    assert record["action"] == "residual" and record["iteration"] == 4 and "net.0.weight" in record["state_dict"]
    result = echelon("evaluate", "--run", str(gradient_run), *EVAL, cwd=workdir)
    assert result.returncode == 0, result.stderr
    evaluated = json.loads((gradient_run / "eval.json").read_text())
    final = json.loads((gradient_run / "final_eval.json").read_text())
    assert evaluated["episode_cost_per_period"][:4] == final["episode_cost_per_period"]
    assert evaluated["model_timesteps"] == 160


def test_compare_runs_of_every_kind(residual_run: Path, gradient_run: Path, named: dict, workdir: Path):
    output = workdir / "all.json"
    result = echelon("compare", "--run", str(gradient_run), "--run", str(residual_run), "--policy", "planner", *EVAL,
                     "--output", str(output), cwd=workdir)
    assert result.returncode == 0, result.stderr
    rows = json.loads(output.read_text())["policies"]
    assert [r["policy"] for r in rows] == ["gradient residual (gradient)", "ppo residual (residual)", "planner"]
    assert rows[2]["summary"]["episode_cost_per_period"] == named["planner"]["summary"]["episode_cost_per_period"]


def test_gradient_resume_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    sets = ["iterations=4", "paths=4", "horizon=10", "checkpoint_every=2", "eval_episodes=0", "hidden=[8]"]
    straight, code = train.train(ENV_ID, "gradient", 1, runs_dir=tmp_path, run_name="straight", sets=sets,
                                 progress=False, argv=["test"])
    assert code == 0
    stopped, code = train.train(ENV_ID, "gradient", 1, runs_dir=tmp_path, run_name="stopped", sets=sets,
                                progress=False, argv=["test"])
    # Pretend it failed after its first checkpoint (its metrics and TensorBoard events went on), then continue it.
    (stopped.path / "policy.pt").unlink()
    (stopped.path / "checkpoints" / "gradient_4.pt").unlink()
    stopped.set_status("failed")
    _, code = train.resume(stopped.path, progress=False, argv=["test", "--resume"])
    assert code == 0
    a = torch.load(straight.path / "policy.pt", weights_only=True)["state_dict"]
    b = torch.load(stopped.path / "policy.pt", weights_only=True)["state_dict"]
    for name, value in a.items():
        torch.testing.assert_close(b[name], value, rtol=0, atol=0)
    metrics = pd.read_csv(stopped.path / "metrics.csv")
    assert metrics["timesteps"].tolist() == [40, 80, 120, 160] and metrics["time_s"].is_monotonic_increasing
    events = EventAccumulator(str(stopped.path / "tb"))
    events.Reload()
    tags = {"train/cost_per_period", "time/env_steps_per_second", "train/learning_rate"}
    assert tags <= set(events.Tags()["scalars"])
    logged = events.Scalars("train/cost_per_period")
    assert [event.step for event in logged] == [40, 80, 120, 160]
    assert [event.value for event in logged] == pytest.approx(metrics["mean_cost_per_period"].tolist())


def test_gradient_and_residual_options_are_checked():
    with pytest.raises(ConfigError, match="--total-steps: not used by the gradient agent"):
        run_config.resolve_config(ENV_ID, "gradient", 0, total_steps=100)
    with pytest.raises(ConfigError, match="paths: expected a whole number >= 1"):
        run_config.resolve_config(ENV_ID, "gradient", 0, sets=["paths=0"])
    with pytest.raises(ConfigError, match="final_learning_rate: expected a number > 0, got -0.1"):
        run_config.resolve_config(ENV_ID, "gradient", 0, sets=["final_learning_rate=-0.1"])
    resolved = run_config.resolve_config(ENV_ID, "gradient", 0, sets=["final_learning_rate=1e-4"])
    assert resolved["final_learning_rate"] == 1e-4
    with pytest.raises(ConfigError, match=r"max_log_multiplier: expected a number in \(0, 3\]"):
        run_config.resolve_config(ENV_ID, "ppo", 0, sets=["max_log_multiplier=5"], action="residual")
    with pytest.raises(ConfigError, match="action residual needs env_kwargs.action_mode order_up_to"):
        run_config.resolve_config(ENV_ID, "ppo", 0, sets=["env_kwargs.action_mode=quantity"], action="residual")
    assert run_config.resolve_config(ENV_ID, "gradient", 0, action="direct")["action"] == "direct"
