"""No run is corrupted: one process trains a run at a time (a real lock), a killed session is recorded as killed, a
budget below the steps already trained is refused, and a run folder that cannot be completed is not left behind."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import COMMAND, ENV, echelon

from agents.config import ConfigError
from experiments import train, train_sb3
from experiments.checkpoints import latest_sb3_checkpoint
from experiments.runs import LOCK, Run, RunError, create_run

ENV_ID = "echelon/Serial-v1"
TINY_PPO = dict(sets=["algo_kwargs.n_steps=32", "algo_kwargs.batch_size=64", "algo_kwargs.n_epochs=1",
                      "eval_episodes=0", "metrics_every=256"], total_steps=1024, num_envs=4, checkpoint_every=512)
STOPPED = 512  # the checkpoint the interrupted run stopped at
LONG = ["--total-steps", "50000000", "--threads", "1"]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() + f"@{p.stat().st_mtime_ns}"
            for p in sorted(folder.rglob("*")) if p.is_file()}


def sessions(run: Path) -> list[dict]:
    return json.loads((run / "meta.json").read_text())["sessions"]


def metrics_steps(run: Path) -> list[int]:
    with open(run / "metrics.csv") as handle:
        return [int(row["timesteps"]) for row in csv.DictReader(handle)]


def error_lines(stderr: str, command: str = "train") -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"echelon {command}: error: ")]


def wait_for(condition, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    """A PPO run stopped at its checkpoint of 512 steps: its later files removed, its session recorded interrupted."""
    runs = tmp_path_factory.mktemp("integrity")
    run, code = train.train(ENV_ID, "ppo", 0, runs_dir=runs, run_name="base", progress=False, argv=["test"],
                            **TINY_PPO)
    assert code == 0
    for name in ("model.zip", "vecnormalize.pkl"):
        run.file(name).unlink()
    for path in run.checkpoint_dir.glob("*_1024_steps.*"):
        path.unlink()
    meta = run.load_meta()
    meta["sessions"][-1].update(status="interrupted", end_timesteps=STOPPED)
    meta["end_time"], meta["result"] = None, None
    run.save_meta(meta)
    run.set_status("interrupted")
    return run.path


def copy_run(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / "run"))


# The lock ------------------------------------------------------------------------------------------------------
def test_a_run_is_locked_by_one_holder_at_a_time(tmp_path):
    run = create_run(tmp_path, {"env_id": ENV_ID, "algo": "ppo", "seed": 0}, ["test"], "run")
    other = Run(run.path)
    with pytest.raises(RunError, match=f"is being trained by another process \\(it holds {LOCK}\\)"):
        other.lock()
    run.unlock()
    with other.locked():
        with pytest.raises(RunError, match="another process"):
            Run(run.path).lock()
    Run(run.path).lock()


def test_the_lock_is_released_when_its_process_is_killed(tmp_path):
    run = create_run(tmp_path, {"env_id": ENV_ID, "algo": "ppo", "seed": 0}, ["test"], "run")
    run.unlock()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from experiments.runs import Run; Run(sys.argv[1]).lock(); "
                               "print('locked', flush=True); time.sleep(120)", str(run.path)],
        stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match="another process"):
            Run(run.path).lock()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    Run(run.path).lock()


def test_two_resumes_started_at_once_train_the_run_once(interrupted, tmp_path):
    run = copy_run(interrupted, tmp_path)
    before = len(sessions(run))
    procs = [subprocess.Popen([*COMMAND, "train", "--resume", str(run), *LONG], cwd=tmp_path, env=ENV, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    try:
        wait_for(lambda: any(p.poll() is not None for p in procs), what="one of the two resumes to be refused")
        refused = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not refused)
        _, err = refused.communicate()
        assert refused.returncode == 1 and "Traceback" not in err
        assert len(error_lines(err)) == 1 and "is being trained by another process" in error_lines(err)[0]
        wait_for(lambda: len(sessions(run)) == before + 1 and max(metrics_steps(run)) > STOPPED,
                 what="the other resume to train")
        assert winner.poll() is None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.communicate(timeout=120)
    assert winner.returncode == 130
    recorded = sessions(run)
    assert len(recorded) == before + 1 and recorded[-1]["status"] == "interrupted"
    steps = metrics_steps(run)
    assert steps == sorted(set(steps)), "metrics.csv has a row twice"
    assert (run / "command.txt").read_text().count("--resume") == 1
    assert (run / "status").read_text().strip() == "interrupted"


# Killed sessions and budgets -----------------------------------------------------------------------------------
def test_a_killed_session_is_recorded_killed_when_the_run_is_resumed(interrupted, tmp_path):
    run = copy_run(interrupted, tmp_path)
    before = len(sessions(run))
    proc = subprocess.Popen([*COMMAND, "train", "--resume", str(run), *LONG],
                            cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (latest_sb3_checkpoint(run / "checkpoints").steps > STOPPED), what="a new checkpoint")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (run / "status").read_text().strip() == "running" and sessions(run)[-1]["status"] == "running"
    steps = latest_sb3_checkpoint(run / "checkpoints").steps
    result = echelon("train", "--resume", str(run), "--total-steps", str(steps + 64), "--threads", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    killed, finished = sessions(run)[-2:]
    assert len(sessions(run)) == before + 2
    assert killed["status"] == "killed" and killed["end_time"] is None
    assert "killed" in killed["note"] and f"resumed from the checkpoint at {steps} steps" in killed["note"]
    assert finished["status"] == "finished" and finished["start_timesteps"] == steps
    assert (run / "status").read_text().strip() == "finished"
    recorded = metrics_steps(run)
    assert recorded == sorted(set(recorded))


@pytest.mark.parametrize("budget", [1, 500, STOPPED - 1])
def test_a_budget_below_the_steps_trained_is_refused_and_nothing_changes(interrupted, tmp_path, budget):
    run = copy_run(interrupted, tmp_path)
    before = snapshot(run)
    with pytest.raises(RunError, match=f"--total-steps {budget:,} is below the {STOPPED} steps this run has "
                                       "already trained .*leave --total-steps out to keep the run's 1,024"):
        train.resume(run, total_steps=budget, progress=False, argv=["test"])
    assert snapshot(run) == before


def test_the_command_line_refuses_a_budget_below_the_steps_trained(interrupted, tmp_path):
    run = copy_run(interrupted, tmp_path)
    before = snapshot(run)
    result = echelon("train", "--resume", str(run), "--total-steps", "100", "--threads", "1", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == ["echelon train: error: --total-steps 100 is below the 512 steps this run "
                                          "has already trained (checkpoint model_512_steps.zip); give a larger budget, "
                                          "or leave --total-steps out to keep the run's 1,024"]
    assert snapshot(run) == before


# Run folders that cannot be completed -------------------------------------------------------------------------
@pytest.mark.parametrize(("runs_dir", "name", "fragment"), [
    ("a-file", None, "--runs-dir a-file: cannot create a run folder there, a-file is not a writable folder"),
    ("a-file/runs", None, "a-file is not a writable folder"),
    ("runs", "x" * 300, "is longer than 255 bytes"),
    ("runs", "a/b", "invalid run name 'a/b'"),
    ("runs", "..", "invalid run name '..'"),
    ("runs", "", "invalid run name ''"),
])
def test_a_run_folder_that_cannot_be_created_is_refused_before_any_work(tmp_path, monkeypatch, runs_dir, name,
                                                                        fragment):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    built = []
    monkeypatch.setattr(train_sb3, "new_model", lambda *args, **kwargs: built.append(1))
    with pytest.raises(RunError) as info:
        train.train(ENV_ID, "ppo", 0, runs_dir=runs_dir, run_name=name, progress=False, argv=["test"], **TINY_PPO)
    assert fragment in str(info.value) and not built
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("algo", ["ppo", "gradient"])
def test_a_run_folder_whose_files_cannot_be_written_is_removed(tmp_path, monkeypatch, algo):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train, "save_plan", disk_full)
    sets = ["iterations=1", "paths=2", "horizon=3", "hidden=[4]", "eval_episodes=0"] if algo == "gradient" else \
        TINY_PPO["sets"]
    kwargs = {} if algo == "gradient" else dict(total_steps=64, num_envs=8)
    with pytest.raises(RunError, match="No space left on device.*it was removed"):
        train.train(ENV_ID, algo, 0, runs_dir=tmp_path, run_name="half", progress=False, argv=["test"], sets=sets,
                    action="residual", **kwargs)
    assert not (tmp_path / "half").exists()
    monkeypatch.setattr(Run, "save_meta", disk_full)
    with pytest.raises(RunError, match="cannot write the run folder .*No space left on device"):
        create_run(tmp_path, {"env_id": ENV_ID, "algo": algo, "seed": 0}, ["test"], "half")
    assert list(tmp_path.iterdir()) == []


def test_an_error_while_training_fails_the_run_with_its_record(tmp_path, monkeypatch):
    def diverge(self, stop, bar):
        raise ValueError("action contains a non-finite value (nan)")

    monkeypatch.setattr(train_sb3.SB3Trainer, "fit", diverge)
    with pytest.raises(RunError, match=r"training stopped at 0 steps by ValueError: action contains a non-finite "
                                       r"value \(nan\); the run .* is marked failed"):
        train.train(ENV_ID, "ppo", 0, runs_dir=tmp_path, run_name="diverged", progress=False, argv=["test"],
                    **TINY_PPO)
    run = Run(tmp_path / "diverged")
    assert run.status == "failed"
    assert run.load_meta()["sessions"][-1]["error"] == "ValueError: action contains a non-finite value (nan)"


# Arguments stable-baselines3 accepts but cannot train with ----------------------------------------------------
@pytest.mark.parametrize(("algo", "item", "fragment"), [
    ("ppo", "algo_kwargs.n_epochs=0", "algo_kwargs.n_epochs: expected a whole number >= 1, got 0"),
    ("a2c", "algo_kwargs.n_steps=0", "algo_kwargs.n_steps: expected a whole number >= 1, got 0"),
    ("a2c", "algo_kwargs.rms_prop_eps=0", "algo_kwargs.rms_prop_eps: expected a number > 0, got 0"),
    ("sac", "algo_kwargs.train_freq=0", "algo_kwargs.train_freq: expected a whole number >= 1"),
    ("sac", "algo_kwargs.train_freq=[0, episode]", "algo_kwargs.train_freq: expected a whole number >= 1"),
    ("sac", "algo_kwargs.tau=5", "algo_kwargs.tau: expected a number in [0, 1], got 5"),
    ("sac", "algo_kwargs.target_update_interval=0", "target_update_interval: expected a whole number >= 1"),
    ("td3", "algo_kwargs.policy_delay=0", "algo_kwargs.policy_delay: expected a whole number >= 1, got 0"),
    ("td3", "algo_kwargs.target_policy_noise=-1", "target_policy_noise: expected a number >= 0, got -1"),
    ("ppo", "policy_kwargs.net_arch=[-1]", "net_arch: layer widths must be whole numbers >= 0, got [-1]"),
    ("ppo", "policy_kwargs.net_arch={pi: [8], vf: [-2]}", "net_arch: layer widths must be whole numbers >= 0"),
    ("ppo", "algo_kwargs.learning_rate=.nan", "algo_kwargs.learning_rate: expected a finite number, got nan"),
    ("ppo", "algo_kwargs.gamma=.inf", "algo_kwargs.gamma: expected a finite number, got inf"),
    ("gradient", "learning_rate=1e400", "learning_rate: expected a finite number, got inf"),
    ("gradient", "hidden=[64.5]", "hidden: expected a list of whole layer widths >= 1, got [64.5]"),
    ("gradient", "hidden=[true]", "hidden: expected a list of whole layer widths >= 1, got [True]"),
    ("gradient", "warmup_periods=1000000", "warmup_periods: 1000000 is above the limit of 10,000 periods"),
    ("ppo", "env_kwargs.warmup_periods=20000", "env_kwargs.warmup_periods: 20000 is above the limit of 10,000"),
    ("sac", "algo_kwargs.buffer_size=10000000000000", "needs more memory than there is"),
])
def test_arguments_the_library_cannot_train_with_are_refused_before_a_run_folder_exists(tmp_path, algo, item,
                                                                                       fragment):
    extra = dict(total_steps=64, num_envs=2) if algo != "gradient" else {}
    with pytest.raises(ConfigError) as info:
        train.train(ENV_ID, algo, 0, runs_dir=tmp_path, run_name="never", progress=False, argv=["test"],
                    sets=[item], **extra)
    assert fragment in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_bounds_still_accept_no_bound(tmp_path):
    """``.inf`` keeps meaning 'no bound' where a key is a bound."""
    config = train.resolve_config(ENV_ID, "ppo", 0, sets=["normalize.clip_obs=.inf", "algo_kwargs.max_grad_norm=.inf"])
    assert config["normalize"]["clip_obs"] == float("inf")
