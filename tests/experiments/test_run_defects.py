"""Configuration values checked before training, and resumes that leave a consistent run folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from cli_helpers import echelon

from agents.config import ConfigError
from experiments import run_config, train
from experiments.runs import Run, RunError

ENV_ID = "echelon/Serial-v1"
# Episodes are 200 periods: 2 replicas end 2 episodes every 400 steps.
TINY_PPO = dict(sets=["algo_kwargs.n_steps=16", "algo_kwargs.batch_size=32", "algo_kwargs.n_epochs=1",
                      "eval_episodes=0", "metrics_every=400"], total_steps=1600, num_envs=2, checkpoint_every=800)


@pytest.mark.parametrize("algo", ["ppo", "gradient"])
@pytest.mark.parametrize("episodes", [1, -1])
def test_eval_episodes_must_be_zero_or_at_least_two(algo, episodes):
    with pytest.raises(ConfigError, match=rf"override\.eval_episodes: expected 0 .* or a whole number >= 2 .*"
                                          rf"got {episodes}; set eval_episodes=0 or >= 2"):
        run_config.resolve_config(ENV_ID, algo, 0, sets=[f"eval_episodes={episodes}"])
    for fine in (0, 2):
        assert run_config.resolve_config(ENV_ID, algo, 0, sets=[f"eval_episodes={fine}"])["eval_episodes"] == fine


@pytest.mark.parametrize(("item", "message"), [
    ("env_kwargs.action_mode=bogus", "override.env_kwargs.action_mode: expected one of order_up_to, quantity, "
                                     "got 'bogus'"),
    ("env_kwargs.warmup_periods=-5", "override.env_kwargs.warmup_periods: expected a whole number >= 0 or null"),
    ("normalize.clip_obs=abc", "override.normalize.clip_obs: expected a number > 0, got 'abc'"),
    ("normalize.clip_reward=0", "override.normalize.clip_reward: expected a number > 0, got 0"),
    ("normalize.obs=maybe", "override.normalize.obs: expected true or false, got 'maybe'"),
    ("device=gpu", "override.device: expected cpu, auto or cuda, got 'gpu'"),
    ("device=cuda", "override.device: 'cuda' asked for, but CUDA is not available on this machine"),
    ("algo_kwargs.gamma=abc", "override.algo_kwargs.gamma: expected a number (SB3's default is 0.99), got 'abc'"),
    ("algo_kwargs.n_steps=true", "override.algo_kwargs.n_steps: expected a number (SB3's default is 2048), got True"),
])
def test_override_values_are_checked(item, message, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_config.resolve_config(ENV_ID, "ppo", 0, sets=[item])


def test_cuda_and_auto_are_accepted_where_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for device in ("cpu", "auto", "cuda", "cuda:1"):
        assert run_config.resolve_config(ENV_ID, "ppo", 0, sets=[f"device={device}"])["device"] == device


@pytest.fixture(scope="module")
def finished_ppo(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("defects")
    run, code = train.train(ENV_ID, "ppo", 0, runs_dir=runs, run_name="ppo", progress=False, argv=["test"],
                            **TINY_PPO)
    assert code == 0
    return run.path


def copy_run(source: Path, tmp_path: Path) -> Run:
    return Run(shutil.copytree(source, tmp_path / source.name))


def test_resuming_a_run_that_failed_after_its_last_checkpoint_keeps_metrics_cumulative(finished_ppo, tmp_path):
    before = pd.read_csv(finished_ppo / "metrics.csv")
    assert before["timesteps"].tolist() == [400, 800, 1200, 1600]
    assert before["episodes"].tolist() == [2, 4, 6, 8]
    run = copy_run(finished_ppo, tmp_path)
    # Failed after its last checkpoint (800 steps) had been passed: the rows at 1200 and 1600 are stale.
    for name in ("model_1600_steps.zip", "model_vecnormalize_1600_steps.pkl"):
        (run.checkpoint_dir / name).unlink()
    for name in ("model.zip", "vecnormalize.pkl"):
        run.file(name).unlink()
    run.set_status("failed")
    _, code = train.resume(run.path, progress=False, argv=["test", "--resume"])
    assert code == 0
    after = pd.read_csv(run.file("metrics.csv"))
    assert after["timesteps"].tolist() == [400, 800, 1200, 1600]
    assert after["episodes"].tolist() == [2, 4, 6, 8]
    assert after["time_s"].is_monotonic_increasing


@pytest.mark.parametrize("name, text", [("meta.json", "{not json"), ("metrics.csv", "timesteps,episodes\nabc,1\n")])
def test_resume_with_a_corrupted_file_leaves_the_run_folder_unchanged(finished_ppo, tmp_path, name, text):
    run = copy_run(finished_ppo, tmp_path)
    run.set_status("interrupted")
    run.file(name).write_text(text)
    files = {path: path.read_bytes() for path in run.path.rglob("*") if path.is_file()}
    with pytest.raises(RunError, match=f"{name} is corrupted .*the run folder was left unchanged"):
        train.resume(run.path, total_steps=3200, progress=False, argv=["test", "--resume"])
    assert {path: path.read_bytes() for path in run.path.rglob("*") if path.is_file()} == files


def test_the_command_line_reports_a_bad_value_without_a_traceback_or_a_run_folder(tmp_path):
    result = echelon("train", "--env-id", ENV_ID, "--algo", "ppo", "--set", "env_kwargs.action_mode=bogus",
                     cwd=tmp_path)
    assert result.returncode not in (0, 130) and "Traceback" not in result.stderr
    assert "override.env_kwargs.action_mode: expected one of order_up_to, quantity, got 'bogus'" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
