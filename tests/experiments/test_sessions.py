"""How a training session ends in its run folder: ``finished`` with its result, or ``failed`` on any error."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from experiments import session, train
from experiments.liveness import check_not_in_progress
from experiments.runs import Run, RunError, create_run
from experiments.session import failing_session, finish_session

ENV_ID = "echelon/Serial-v1"
TINY = {
    "ppo": dict(sets=["algo_kwargs.n_steps=16", "algo_kwargs.batch_size=32", "algo_kwargs.n_epochs=1",
                      "eval_episodes=2"], total_steps=64, num_envs=2),
    "gradient": dict(sets=["iterations=2", "paths=2", "horizon=5", "hidden=[4]", "eval_episodes=2"]),
}


@pytest.fixture
def run(tmp_path: Path) -> Run:
    run = create_run(tmp_path, {"env_id": ENV_ID, "algo": "ppo", "seed": 0}, ["test"], "run")
    run.start_session(["test"], 5, "started")
    return run


def last_session(run: Run) -> dict:
    return json.loads(run.file("meta.json").read_text())["sessions"][-1]


def test_an_error_inside_a_failing_session_marks_it_failed_and_propagates(run: Run):
    with pytest.raises(KeyboardInterrupt), failing_session(run, lambda: 7):
        raise KeyboardInterrupt
    assert run.status == "failed" and last_session(run)["end_timesteps"] == 7


def test_an_error_while_recording_the_failure_does_not_hide_the_original(run: Run):
    with pytest.raises(RuntimeError, match="original"), failing_session(run, lambda: 1 // 0):
        raise RuntimeError("original")


def test_finish_session_records_the_result_and_the_evaluation_cost(run: Run):
    result = {"timesteps": 9}
    finish_session(run, 9, result, lambda: 1.5)
    meta = json.loads(run.file("meta.json").read_text())
    assert run.status == "finished" and meta["end_time"] is not None
    assert meta["result"] == {"timesteps": 9, "eval_cost_per_period": 1.5}
    run.start_session(["test"], 9, "resumed")
    finish_session(run, 9, {"timesteps": 9}, lambda: None)  # no evaluation: no cost
    assert run.status == "finished" and "eval_cost_per_period" not in run.load_meta()["result"]


def test_a_failing_final_evaluation_fails_the_session(run: Run):
    def broken() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        finish_session(run, 9, {"timesteps": 9}, broken)
    assert run.status == "failed" and last_session(run)["end_timesteps"] == 9
    assert run.load_meta()["result"] is None


@pytest.mark.parametrize("algo", ["ppo", "gradient"])
def test_both_trainers_leave_a_failed_run_when_the_final_evaluation_breaks(algo, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(session, "final_evaluation", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        train.train(ENV_ID, algo, 0, runs_dir=tmp_path, run_name="broken", progress=False, argv=["test"],
                    **TINY[algo])
    run = Run(tmp_path / "broken")
    assert run.status == "failed" and last_session(run)["status"] == "failed"
    assert last_session(run)["end_timesteps"] == (64 if algo == "ppo" else 2 * 2 * 5)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from Linux's /proc")
def test_a_running_run_is_refused_only_while_its_own_process_lives(run: Run):
    """A live process that started after the session did only reused the dead trainer's process id."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        meta = run.load_meta()
        session = meta["sessions"][-1]
        for offset, refused in ((60, True), (-3600, False)):
            when = datetime.now().astimezone() + timedelta(seconds=offset)
            session.update(pid=other.pid, start_time=when.isoformat(timespec="seconds"))
            run.save_meta(meta)
            if refused:
                with pytest.raises(RunError, match=f"is being trained by process {other.pid}"):
                    check_not_in_progress(run)
            else:
                check_not_in_progress(run)
    finally:
        other.kill()
        other.wait()
