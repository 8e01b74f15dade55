"""``echelon sweep`` on Ray Tune, through the real command line with tiny budgets: two trials in local mode (every
Ray socket on the loopback address), the same on a two-node cluster started here, resume after an interrupt, a
failing trial, and bad sweep files refused before anything starts."""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from cli_helpers import ROOT

from agents.config import ConfigError
from experiments.cli import main
from experiments.ray_cluster import LOOPBACK_VARIABLE
from experiments.sweep import DefineByRun
from experiments.sweep_config import check_sweep

ENV_ID = "echelon/Serial-v1"
TINY = {"paths": 2, "horizon": 5, "checkpoint_every": 1, "hidden": [4]}
BASE = {"env_id": ENV_ID, "algo": "gradient", "seeds": 2, "action": "direct",
        "set": {"gradient": {**TINY, "iterations": 3}}, "eval_episodes": 4}


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "experiments.cli", "sweep", *args, "--no-progress"]


def sweep_env() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)}


def run_sweep(workdir: Path, sweep: dict, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    (workdir / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    return subprocess.run(sweep_command("sweep.yaml", *args), cwd=workdir, capture_output=True, text=True,
                          timeout=timeout, env=sweep_env())


def results(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "results.csv").sort_values("seed").reset_index(drop=True)


def sessions(run: Path) -> list[dict]:
    return json.loads((run / "meta.json").read_text())["sessions"]


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it (from /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent and child not in found]
        found.update(children)
        frontier += children
    return found


def listening_addresses(pids: set[int]) -> set[str]:
    """Local addresses of the TCP sockets listened on by ``pids`` (from /proc/net/tcp and tcp6)."""
    inodes = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    addresses = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                address = socket.inet_ntop(family, words)
                addresses.add(address.removeprefix("::ffff:"))
    return addresses


# Bad sweep files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    ({"learning_rat": 0.1}, "unknown key 'learning_rat'"),
    ({"grid": {}}, "grid is empty"),
    ({"grid": {"gradient": {"learning_rate": []}}}, "grid.gradient.learning_rate: empty list"),
    ({"grid": {"gradient": {"learning_rat": [0.1]}}}, "grid.gradient.learning_rat: unknown hyperparameter"),
    ({"algo": "dqn"}, "algo: unknown algorithm 'dqn'"),
    ({"env_id": "echelon/Nowhere-v1"}, "env_id: unknown env id 'echelon/Nowhere-v1'"),
    ({"grid": {"gradient": {"learning_rate": [0.01, -1]}}}, "learning_rate=-1 is refused"),
    ({"seeds": 0}, "seeds: expected a whole number >= 1"),
    ({"search": {"trials": 2, "space": {"gradient": {"learning_rate": {"loguniform": [0, 1]}}}}},
     "search.space.gradient.learning_rate.loguniform"),
])
def test_bad_sweep_files_are_refused_naming_the_field(change, field):
    with pytest.raises(ConfigError, match=field.replace("(", r"\(").replace("[", r"\[")):
        check_sweep({**BASE, **change}, "sweep.yaml")


def test_sweep_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as done:
        main(["sweep", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for option in ("--resume", "--output", "--address", "--cpus", "--progress", "ray start --head",
                   "127.0.0.1", "Exit status 1 when a trial failed"):
        assert option in text, option


def test_a_bad_sweep_file_starts_nothing(tmp_path: Path, capsys):
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({**BASE, "grid": {"gradient": {"learning_rate": []}}}))
    assert main(["sweep", str(tmp_path / "bad.yaml"), "--output", str(tmp_path / "out")]) == 1
    assert "grid.gradient.learning_rate: empty list" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# Sweeps on Ray --------------------------------------------------------------------------------------
def test_two_trial_sweep_in_local_mode_binds_only_the_loopback_address(tmp_path: Path):
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(BASE))
    sweep = subprocess.Popen(sweep_command("sweep.yaml", "--output", "out"), cwd=tmp_path, env=sweep_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: set[str] = set()
    while sweep.poll() is None:  # every socket Ray's processes listen on, while the trials run
        seen |= listening_addresses(descendants(sweep.pid))
        time.sleep(0.5)
    out, err = sweep.communicate()
    assert sweep.returncode == 0, err[-3000:]
    assert seen and seen <= {"127.0.0.1"}, seen
    folder = tmp_path / "out"
    table = results(folder)
    assert table["status"].tolist() == ["finished", "finished"] and table["seed"].tolist() == [0, 1000]
    for row in table.itertuples():
        run = folder / row.run
        assert (run / "status").read_text().strip() == "finished"
        assert {"config.yaml", "command.txt", "meta.json", "metrics.csv", "policy.pt", "final_eval.json"} <= {
            p.name for p in run.iterdir()}
        final = json.loads((run / "final_eval.json").read_text())
        assert row.eval_cost_per_period == pytest.approx(final["cost_per_period"]["total"]["mean"])
    report = (folder / "report.md").read_text()
    assert "## Configurations across seeds" in report and "gradient direct on Serial-v1" in report
    assert "local (127.0.0.1)" in report and out.strip().endswith("report.md")
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["sessions"][0]["ray_startup_seconds"] > 0 and meta["packages"]["ray"]


def test_two_trial_sweep_on_a_two_node_cluster(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(LOOPBACK_VARIABLE, "0")  # before Ray is imported: the test's cluster stays on 127.0.0.1
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    cluster_utils = importlib.import_module("ray.cluster_utils")  # only now: Ray reads the variable at import
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    address = cluster.address
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        done = run_sweep(tmp_path, BASE, "--output", "out", "--address", address)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        cluster.shutdown()
    table = results(tmp_path / "out")
    assert table["status"].tolist() == ["finished", "finished"]
    assert table["node"].nunique() == 2  # one trial on each node
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert address.startswith("127.0.0.1:")
    assert meta["sessions"][0]["ray_nodes"] == 2 and meta["sessions"][0]["address"] == address


def test_an_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path: Path):
    sweep = {**BASE, "seeds": [0], "set": {"gradient": {**TINY, "checkpoint_every": 100}},
             "grid": {"gradient": {"iterations": [2, 800]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    process = subprocess.Popen(sweep_command("sweep.yaml", "--output", "out"), cwd=tmp_path, env=sweep_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "out" / "runs"

    def short_finished_and_long_checkpointed():
        short = [run for run in runs.glob("*") if (run / "status").exists()
                 and (run / "status").read_text().strip() == "finished"]
        long = [run for run in runs.glob("*") if run not in short and len(list(run.glob("checkpoints/*.pt"))) > 1]
        return short and long and (short[0], long[0])

    try:
        short, long = wait_for(short_finished_and_long_checkpointed, 150, "one trial finished, the other running")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err[-3000:]
    assert "continue with: echelon sweep --resume" in err
    assert results(tmp_path / "out").set_index("run").loc[f"runs/{long.name}", "status"] == "unfinished"
    resumed = subprocess.run(sweep_command("--resume", "out"), cwd=tmp_path, capture_output=True, text=True,
                             timeout=240, env=sweep_env())
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (results(tmp_path / "out")["status"] == "finished").all()
    assert len(sessions(short)) == 1  # not rerun
    resumed_sessions = sessions(long)
    assert len(resumed_sessions) == 2 and resumed_sessions[1]["start_timesteps"] > 0  # from its checkpoint
    assert resumed_sessions[1]["status"] == "finished"


def test_a_crashing_trial_is_retried_once_then_reported_failed(tmp_path: Path):
    sweep = {**BASE, "seeds": [0], "set": {"gradient": {**TINY, "checkpoint_every": 40}},
             "grid": {"gradient": {"iterations": [2, 4000]}}, "max_failures": 1}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    process = subprocess.Popen(sweep_command("sweep.yaml", "--output", "out"), cwd=tmp_path, env=sweep_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "out" / "runs"

    def long_run():
        found = [run for run in runs.glob("*") if "4000" in (run / "config.yaml").read_text()] if runs.exists() else []
        return found and found[0]

    def trainer(run: Path, attempt: int):
        """The pid of the run's trainer in session ``attempt``, once it has saved a checkpoint in that session."""
        found = sessions(run) if (run / "meta.json").exists() else []
        checkpoints = len(list(run.glob("checkpoints/*.pt")))
        return len(found) == attempt and checkpoints >= attempt + 1 and found[-1]["pid"]

    try:
        run = wait_for(long_run, 120, "the long trial's run folder")
        for attempt in (1, 2):  # the crash, then the crash of the retry
            os.kill(wait_for(lambda a=attempt: trainer(run, a), 150, f"attempt {attempt}"), signal.SIGKILL)
        _, err = process.communicate(timeout=180)
    finally:
        process.kill()
    assert process.returncode == 1, err[-3000:]
    table = results(tmp_path / "out").set_index("run")
    assert table.loc[f"runs/{run.name}", "status"] == "failed" and table.loc[f"runs/{run.name}", "attempts"] == 2
    assert "exit status -9" in table.loc[f"runs/{run.name}", "error"]
    assert (table["status"] == "finished").sum() == 1  # the other trial went on
    retried = sessions(run)
    assert len(retried) == 2 and retried[1]["start_timesteps"] > 0  # the retry continued from its checkpoint
    assert "Failed trials" in (tmp_path / "out" / "report.md").read_text()


def test_search_samples_the_space_with_tpe_and_cycles_the_seeds():
    sweep = check_sweep({**BASE, "algo": ["gradient", "ppo"], "seeds": 2,
                         "search": {"trials": 4, "space": {
                             "gradient": {"learning_rate": {"loguniform": [1e-3, 1e-1]}},
                             "ppo": {"algo_kwargs.n_epochs": {"randint": [1, 4]}, "crn_groups": {"choice": [1, 2]}}}}},
                        "sweep.yaml")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    space = DefineByRun(sweep)
    for number in range(6):
        trial = study.ask()
        constants = space(trial)
        assert constants["seed"] == [0, 1000][number % 2] and constants["env_id"] == ENV_ID
        algo = trial.params["algo"]
        if algo == "gradient":
            assert set(trial.params) == {"algo", "gradient.learning_rate"}
            assert 1e-3 <= trial.params["gradient.learning_rate"] <= 1e-1
        else:
            assert set(trial.params) == {"algo", "ppo.algo_kwargs.n_epochs", "ppo.crn_groups"}
            assert trial.params["ppo.algo_kwargs.n_epochs"] in (1, 2, 3) and trial.params["ppo.crn_groups"] in (1, 2)
        study.tell(trial, 1.0)


def test_a_search_sweep_runs_tpe_trials_with_asha(tmp_path: Path):
    sweep = {**BASE, "set": {"gradient": {**TINY, "iterations": 6}},
             "search": {"trials": 2, "space": {"gradient": {"learning_rate": {"loguniform": [1e-3, 1e-1]}}},
                        "asha": {"grace_period": 1, "reduction_factor": 2}}}
    done = run_sweep(tmp_path, sweep, "--output", "out")
    assert done.returncode == 0, done.stderr[-3000:]
    table = results(tmp_path / "out")
    assert len(table) == 2 and set(table["status"]) <= {"finished", "stopped early"}
    assert table["learning_rate"].between(1e-3, 1e-1).all() and table["learning_rate"].nunique() == 2
    assert table["seed"].tolist() == [0, 1000]
    assert "search (Optuna TPE, 2 trials, ASHA grace 1, reduction 2)" in (tmp_path / "out" / "report.md").read_text()
