"""Every ``echelon`` command given bad arguments ends in exactly one ``echelon <command>: error: ...`` line and a
non-zero exit, never a traceback, without leaving a run folder; checks run before the long work."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from cli_helpers import ENV_ID, echelon

from experiments import cli
from experiments.files import unwritable

LONG = "x" * 300
QUICK_EVAL = ["--episodes", "2", "--threads", "1"]
SLOW_EVAL = ["--episodes", "1000000", "--threads", "1"]  # minutes if an output check came after the evaluation
TRAIN = ["--env-id", ENV_ID, "--algo", "ppo", "--threads", "1"]

BAD = {  # command -> argument lists that must fail (argparse's own refusals and the command's)
    "train": [
        ["--env-id", "echelon/Nope-v1", "--algo", "ppo"],
        ["--algo", "ppo", "--threads", "1"],
        [*TRAIN, "--runs-dir", "a-file/runs"],
        [*TRAIN, "--run-name", LONG],
        [*TRAIN, "--run-name", "existing"],
        [*TRAIN, "--seed", str(2**32)],
        [*TRAIN, "--threads", "100000"],
        [*TRAIN, "--config", "big-seed.yaml"],
        [*TRAIN, "--set", "algo_kwargs.n_epochs=0"],
        ["--env-id", ENV_ID, "--algo", "sac", "--set", "algo_kwargs.buffer_size=10000000000000", "--threads", "1"],
        ["--env-id", ENV_ID, "--algo", "gradient", "--set", "learning_rate=1e400", "--threads", "1"],
        ["--resume", "a-file", "--threads", "1"],
        ["--resume", "existing", "--seed", "3", "--threads", "1"],
    ],
    "evaluate": [
        [*QUICK_EVAL],
        ["--policy", "planner", *QUICK_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--output", "a-folder", *SLOW_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--output", "missing/x.json", *SLOW_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--output", f"{LONG}.json", *SLOW_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--output", "a-fifo", *SLOW_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--episodes", str(10**30)],
        ["--run", "a-folder", *QUICK_EVAL],
        ["--run", "existing", "--env-id", ENV_ID, *QUICK_EVAL],
    ],
    "compare": [
        [*QUICK_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--warmup-periods", str(10**9), *QUICK_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--baseline", "nope", *QUICK_EVAL],
        ["--policy", "planner", "--env-id", ENV_ID, "--output", "missing/x.json", *SLOW_EVAL],
        ["--run", "no-such-run", "--policy", "planner", *QUICK_EVAL],
    ],
    "benchmark": [
        ["--quick", "--output", "a-file/report", "--threads", "1"],
        ["--quick", "--output", f"reports/{LONG}", "--threads", "1"],
        ["--quick", "--output", "a-folder", "--threads", "1"],
        ["--quick", "--seed", str(2**40)],
        ["--quick", "--episodes", "1"],
    ],
    "transfer": [
        ["--scenario", "network", *QUICK_EVAL],
        ["--runs", "no-such-run", *QUICK_EVAL],
        ["--runs", "no-such-run", "--scenario", "network", *QUICK_EVAL],
        ["--runs", "existing", "--scenario", "network", *QUICK_EVAL],
        ["--runs", "a-folder", "--scenario", "network", *QUICK_EVAL],
        ["--runs", "existing", "--scenario", "no-such-scenario", *QUICK_EVAL],
        ["--runs", "existing", "--scenario", "missing.yaml", *QUICK_EVAL],
    ],
    "catalog": [
        ["catalog.xlsx"],
        ["a-folder"],
        ["a-file/catalog.csv"],
        [f"{LONG}.csv"],
        ["catalog.csv", "--products", "0"],
        ["catalog.csv", "--products", str(10**8)],
        ["catalog.csv", "--demand-spread", "-1"],
        ["catalog.csv", "--median-volume", "nan"],
    ],
}
CASES = [(command, args) for command, lists in BAD.items() for args in lists]
REAL = [("train", [*TRAIN, "--runs-dir", "a-file/runs"]), ("evaluate", ["--run", "a-folder", *QUICK_EVAL]),
        ("compare", ["--policy", "planner", "--env-id", ENV_ID, "--output", "missing/x.json", *SLOW_EVAL]),
        ("benchmark", ["--quick", "--output", "a-file/report", "--threads", "1"]),
        ("transfer", ["--runs", "no-such-run", "--scenario", "network", *QUICK_EVAL])]
"""Cases run as the real command too (the rest run its entry point in this process, which is much faster)."""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with a file, a folder, a FIFO, a YAML file and an unfinished run folder to misuse."""
    workdir = tmp_path_factory.mktemp("bad-arguments")
    (workdir / "a-file").write_text("")
    (workdir / "a-folder").mkdir()
    os.mkfifo(workdir / "a-fifo")
    (workdir / "big-seed.yaml").write_text(yaml.safe_dump({"seed": 2**40}))
    existing = workdir / "runs" / "existing"
    existing.mkdir(parents=True)
    (existing / "status").write_text("interrupted\n")
    (existing / "config.yaml").write_text(yaml.safe_dump({"env_id": ENV_ID, "algo": "ppo", "seed": 0}))
    return workdir


def check_failure(command: str, code: int, stdout: str, stderr: str) -> None:
    """Exit 1 or 2, exactly one ``echelon <command>: error:`` line, no traceback, nothing else reported."""
    assert code in (1, 2), (code, stderr[-2000:])
    assert "Traceback" not in stderr, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith(f"echelon {command}: error: ")]
    assert len(errors) == 1, stderr[-2000:]
    assert "error" not in stdout.lower()


@pytest.mark.parametrize(("command", "args"), CASES, ids=[f"{c} {' '.join(a)[:60]}" for c, a in CASES])
def test_a_bad_command_ends_in_one_error_line_and_a_non_zero_exit(workdir, monkeypatch, capsys, command, args):
    monkeypatch.chdir(workdir)
    try:
        code = cli.main([command, *args])
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    captured = capsys.readouterr()
    check_failure(command, code, captured.out, captured.err)
    assert sorted(p.name for p in (workdir / "runs").iterdir()) == ["existing"]
    assert not (workdir / "reports").exists()


def test_the_real_command_fails_the_same_way(workdir):
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: echelon(case[0], *case[1], cwd=workdir, timeout=300), REAL))
    for (command, _), result in zip(REAL, results):
        check_failure(command, result.returncode, result.stdout, result.stderr)


def test_an_output_that_cannot_be_written_after_the_evaluation_keeps_the_results(capsys, monkeypatch, tmp_path):
    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "write_json", disk_full)
    output = tmp_path / "eval.json"
    code = cli.main(["evaluate", "--policy", "planner", "--env-id", ENV_ID, "--json", "--output", str(output),
                     *QUICK_EVAL])
    captured = capsys.readouterr()
    assert code == 1 and not output.exists()
    assert captured.err.splitlines() == [f"echelon evaluate: error: cannot write {output} (No space left on device); "
                                         "the results are printed above"]
    assert json.loads(captured.out)["policy"] == "planner"


def test_an_unexpected_error_is_one_line_too(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(cli, "cmd_compare", broken)
    code = cli.main(["compare", "--policy", "planner", "--env-id", ENV_ID, *QUICK_EVAL])
    assert code == 1 and capsys.readouterr().err == "echelon compare: error: RuntimeError: something broke\n"


@pytest.mark.parametrize(("path", "kind", "problem"), [
    ("new.json", "file", None),
    ("a-file", "file", None),
    ("a-folder", "file", "it is a folder; give a file name"),
    ("a-fifo", "file", "it exists and is not a regular file"),
    ("missing/new.json", "file", "the folder missing does not exist"),
    ("a-file/new.json", "file", "a-file is not a writable folder"),
    (f"{LONG}.json", "file", "is longer than 255 bytes"),
    ("nul\0.json", "file", "it contains a NUL character"),
    ("a-folder", "folder", None),
    ("new/deeper/folder", "folder", None),
    ("a-file", "folder", "a-file is not a writable folder"),
    ("a-file/sub", "folder", "a-file is not a writable folder"),
])
def test_paths_that_cannot_be_written_are_found_before_writing(tmp_path, monkeypatch, path, kind, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-folder").mkdir()
    os.mkfifo(tmp_path / "a-fifo")
    before = sorted(p.name for p in tmp_path.iterdir())
    found = unwritable(path, kind)
    assert found == problem if problem is None or not problem.startswith("is longer") else problem in found
    assert sorted(p.name for p in tmp_path.iterdir()) == before
