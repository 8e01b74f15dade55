"""Run folders: one per training run, holding everything needed to audit, resume and evaluate it.

Layout of ``runs/<env>-<algo>-seed<seed>-<YYYYmmdd-HHMMSS>/``:

====================  ==============================================================================
file                  contents
====================  ==============================================================================
config.yaml           the resolved configuration (reusable as ``echelon train --config``)
command.txt           the command line of every session (start and each ``--resume``)
meta.json             git revision and dirty flag, package versions, python, platform, seed, start and
                      end times, one record per session, final result
status                ``running``, ``interrupted``, ``failed`` or ``finished``
metrics.csv           timesteps, episodes, mean episode cost, mean cost per period, fps (gradient runs:
                      timesteps, iteration, mean cost per period, fps); cumulative across sessions
tb/                   TensorBoard logs (every run; a resumed session continues the same folder)
checkpoints/          ``model_<steps>_steps.zip`` with ``model_vecnormalize_<steps>_steps.pkl`` (and the
                      latest ``model_replay_buffer_<steps>_steps.pkl`` for SAC and TD3)
model.zip             final model, with ``vecnormalize.pkl`` (observation normalization statistics)
plan.json             residual runs: the analytic plan's echelon levels the agent corrects
policy.pt             gradient runs: the final policy (torch ``state_dict`` and its config); their
                      checkpoints are ``checkpoints/gradient_<iteration>.pt`` (policy and optimizer)
final_eval.json       evaluation of the final model right after training; ``eval.json`` from evaluate
====================  ==============================================================================

A finished run is never overwritten. Reading a corrupted ``config.yaml`` or checkpoint raises
:class:`RunError` before anything in the folder is touched.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

CONFIG = "config.yaml"
COMMAND = "command.txt"
META = "meta.json"
STATUS = "status"
METRICS = "metrics.csv"
TENSORBOARD = "tb"
CHECKPOINTS = "checkpoints"
MODEL = "model.zip"
VECNORMALIZE = "vecnormalize.pkl"
FINAL_EVAL = "final_eval.json"
EVAL = "eval.json"
PLAN = "plan.json"
POLICY = "policy.pt"
CHECKPOINT_PREFIX = "model"

RUNNING, INTERRUPTED, FAILED, FINISHED = "running", "interrupted", "failed", "finished"
STATUSES = (RUNNING, INTERRUPTED, FAILED, FINISHED)
REQUIRED_CONFIG_KEYS = ("env_id", "algo", "seed")
COUNT_KEYS = {"gradient": ("paths", "horizon", "iterations")}  # whole numbers >= 1 a config must set, by algo
DEFAULT_COUNT_KEYS = ("num_envs", "total_steps")
PACKAGES = ("numpy", "gymnasium", "stable-baselines3", "torch", "scipy", "pandas", "pyyaml", "echelon-gym")
REPO_ROOT = Path(__file__).resolve().parents[1]
_CHECKPOINT = re.compile(rf"^{CHECKPOINT_PREFIX}_(\d+)_steps\.zip$")


class RunError(Exception):
    """A run folder cannot be created, resumed or read; the folder is left as it was."""


# Small helpers -------------------------------------------------------------------------------------
def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def git_info(root: Path = REPO_ROOT) -> dict[str, Any]:
    """``{"revision": sha or "unknown", "dirty": bool or None}`` of the source tree (read-only git calls)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    revision = git("rev-parse", "HEAD")
    if revision is None:
        return {"revision": "unknown", "dirty": None}
    status = git("status", "--porcelain")
    return {"revision": revision.strip(), "dirty": None if status is None else bool(status.strip())}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def base_meta(config: dict) -> dict[str, Any]:
    return {
        "env_id": config["env_id"],
        "algo": config["algo"],
        "seed": config["seed"],
        "git": git_info(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "start_time": now_iso(),
        "end_time": None,
        "sessions": [],
        "result": None,
    }


def default_run_name(env_id: str, algo: str, seed: int, when: datetime | None = None) -> str:
    when = when or datetime.now()
    return f"{env_id.split('/')[-1]}-{algo}-seed{seed}-{when:%Y%m%d-%H%M%S}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch, from Linux's /proc; None where unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _trained_by(pid: int, session_start: Any) -> bool:
    """Whether the live process ``pid`` can be the one that started a session at ``session_start`` (ISO time): a
    process that started later is an unrelated one that was given the dead trainer's id."""
    started = _process_start_time(pid)
    try:
        session = datetime.fromisoformat(session_start).timestamp()
    except (TypeError, ValueError):
        return True
    return started is None or started <= session + 2.0  # 2 s: /proc's boot time is rounded to the second


# Checkpoints ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    steps: int
    model: Path
    vecnormalize: Path
    replay_buffer: Path

    @classmethod
    def at(cls, folder: Path, steps: int) -> Checkpoint:
        stem = f"{CHECKPOINT_PREFIX}_{{}}{steps}_steps"
        return cls(
            steps,
            folder / (stem.format("") + ".zip"),
            folder / (stem.format("vecnormalize_") + ".pkl"),
            folder / (stem.format("replay_buffer_") + ".pkl"),
        )

    @classmethod
    def from_model_path(cls, path: Path) -> Checkpoint:
        match = _CHECKPOINT.match(Path(path).name)
        if not match:
            raise RunError(f"{path} is not a checkpoint (expected {CHECKPOINT_PREFIX}_<steps>_steps.zip)")
        return cls.at(Path(path).parent, int(match.group(1)))


# Runs -----------------------------------------------------------------------------------------------
class Run:
    """An existing run folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # files
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / TENSORBOARD

    # status
    @property
    def status(self) -> str:
        try:
            status = self.file(STATUS).read_text().strip()
        except OSError as error:
            raise RunError(
                f"{self.file(STATUS)} cannot be read ({error.strerror or error}); is {self.path} a run folder?"
            ) from error
        if status not in STATUSES:
            raise RunError(f"{self.file(STATUS)} is corrupted: {status[:40]!r} is not one of {', '.join(STATUSES)}")
        return status

    def set_status(self, status: str) -> None:
        assert status in STATUSES
        write_atomic(self.file(STATUS), status + "\n")

    # config
    def load_config(self) -> dict:
        return load_config(self.file(CONFIG))

    # meta
    def load_meta(self) -> dict:
        path = self.file(META)
        try:
            meta = json.loads(path.read_text())
        except OSError as error:
            raise RunError(f"{path} cannot be read: {error.strerror or error}") from error
        except json.JSONDecodeError as error:
            raise RunError(f"{path} is corrupted (not JSON: {error}); the run folder was left unchanged") from error
        if not isinstance(meta, dict) or not isinstance(meta.get("sessions"), list):
            raise RunError(f"{path} is corrupted (no sessions list); the run folder was left unchanged")
        return meta

    def save_meta(self, meta: dict) -> None:
        write_atomic(self.file(META), json.dumps(meta, indent=2, default=str) + "\n")

    def append_command(self, argv: list[str], note: str) -> None:
        line = f"# {note} {now_iso()} in {os.getcwd()}\n{shlex.join(argv)}\n"
        with open(self.file(COMMAND), "a") as handle:
            handle.write(line)

    # sessions
    def start_session(self, argv: list[str], start_steps: int, note: str) -> None:
        meta = self.load_meta()
        meta["sessions"].append({
            "command": shlex.join(argv),
            "start_time": now_iso(),
            "start_timesteps": int(start_steps),
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "end_time": None,
            "end_timesteps": None,
            "status": RUNNING,
        })
        meta["end_time"] = None
        self.save_meta(meta)
        self.append_command(argv, note)
        self.set_status(RUNNING)

    def end_session(self, status: str, timesteps: int, result: dict | None = None) -> None:
        meta = self.load_meta()
        if meta["sessions"]:
            meta["sessions"][-1].update(end_time=now_iso(), end_timesteps=int(timesteps), status=status)
        if status == FINISHED:
            meta["end_time"] = now_iso()
        if result is not None:
            meta["result"] = result
        self.save_meta(meta)
        self.set_status(status)

    @contextlib.contextmanager
    def failing_session(self, steps: Callable[[], int]) -> Iterator[None]:
        """End the session ``failed`` at ``steps()`` steps if the block raises anything (Ctrl-C included), then
        re-raise; an error while recording the failure is dropped in favour of the original one."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.end_session(FAILED, steps())
            raise

    def finish_session(self, steps: int, result: dict, save_and_evaluate: Callable[[], Any]) -> None:
        """Save and evaluate the final policy with ``save_and_evaluate()`` (it returns the evaluation's cost per
        period, or None when there is no evaluation), then end the session ``finished`` with ``result`` (and
        that cost); the session is ``failed`` if saving or evaluating raises."""
        with self.failing_session(lambda: steps):
            cost = save_and_evaluate()
        if cost is not None:
            result["eval_cost_per_period"] = cost
        self.end_session(FINISHED, steps, result)

    def check_not_in_progress(self) -> None:
        """Refuse a run whose status is ``running`` while the process that runs it is still alive (a live process
        that started after the session did is taken to have reused the dead trainer's id)."""
        if self.status != RUNNING:
            return
        try:
            session = self.load_meta()["sessions"][-1]
        except (RunError, IndexError):
            return
        pid, host = session.get("pid"), session.get("hostname")
        if (isinstance(pid, int) and host == socket.gethostname() and pid != os.getpid() and _pid_alive(pid)
                and _trained_by(pid, session.get("start_time"))):
            raise RunError(f"{self.path} is being trained by process {pid}; stop it first (Ctrl-C saves a checkpoint)")

    def trim_metrics(self, steps: int) -> dict[str, str] | None:
        """Drop the rows of ``metrics.csv`` past ``steps`` (written after the checkpoint a resume starts from,
        by a session that failed or was killed) and return the last row kept (None: no rows)."""
        path = self.file(METRICS)
        if not path.exists():
            return None
        try:
            with open(path, newline="") as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
            kept = [row for row in rows if int(float(row["timesteps"])) <= steps]
        except (OSError, csv.Error, KeyError, TypeError, ValueError) as error:
            raise RunError(f"{path} is corrupted ({type(error).__name__}: {error}); the run folder was left "
                           "unchanged (delete the file to resume without the earlier metrics)") from error
        if len(kept) < len(rows):
            text = io.StringIO()
            writer = csv.DictWriter(text, reader.fieldnames or [], lineterminator="\n")
            writer.writeheader()
            writer.writerows(kept)
            write_atomic(path, text.getvalue())
        return kept[-1] if kept else None

    # checkpoints
    def checkpoints(self) -> list[Checkpoint]:
        """Complete checkpoints (model and normalization statistics present), oldest first."""
        if not self.checkpoint_dir.is_dir():
            return []
        found = []
        for path in self.checkpoint_dir.iterdir():
            match = _CHECKPOINT.match(path.name)
            if match:
                checkpoint = Checkpoint.at(self.checkpoint_dir, int(match.group(1)))
                if checkpoint.vecnormalize.exists():
                    found.append(checkpoint)
        return sorted(found, key=lambda c: c.steps)

    def latest_checkpoint(self) -> Checkpoint | None:
        found = self.checkpoints()
        return found[-1] if found else None


def metric_value(row: dict[str, str] | None, key: str) -> float:
    """A number of a ``metrics.csv`` row (0 when there is no row or no such number)."""
    try:
        return float(row[key]) if row else 0.0
    except (KeyError, TypeError, ValueError):
        return 0.0


def load_config(path: str | Path) -> dict:
    """Read and check a run's ``config.yaml``; a :class:`RunError` explains what is wrong with it."""
    path = Path(path)
    hint = "the run folder was left unchanged; restore the file or start a new run"
    try:
        text = path.read_text()
    except FileNotFoundError as error:
        raise RunError(f"{path} is missing; is {path.parent} a run folder?") from error
    except OSError as error:
        raise RunError(f"{path} cannot be read: {error.strerror or error}") from error
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RunError(f"{path} is corrupted (not valid YAML: {error}); {hint}") from error
    if not isinstance(config, dict):
        raise RunError(f"{path} is corrupted (expected a mapping, got {type(config).__name__}); {hint}")
    counts = COUNT_KEYS.get(config.get("algo"), DEFAULT_COUNT_KEYS)
    missing = [key for key in (*REQUIRED_CONFIG_KEYS, *counts) if key not in config]
    if missing:
        raise RunError(f"{path} is corrupted (missing {', '.join(missing)}); {hint}")
    for key in ("env_id", "algo"):
        if not isinstance(config[key], str):
            raise RunError(f"{path} is corrupted ({key} is {config[key]!r}, not a name); {hint}")
    for key, least in (("seed", 0), *((key, 1) for key in counts)):
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise RunError(f"{path} is corrupted ({key} is {value!r}, not a whole number >= {least}); {hint}")
    return config


def create_run(runs_dir: str | Path, config: dict, argv: list[str], name: str | None = None,
               extra_meta: dict | None = None) -> Run:
    """Create a new run folder for ``config`` (``name`` or ``<env>-<algo>-seed<seed>-<time>``).

    An explicit ``name`` that already exists is refused (a finished run is never overwritten; an unfinished
    one is continued with ``--resume``). Automatic names get a ``-2``, ``-3``, ... suffix on a clash.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if name is not None:
        if not name or "/" in name or name in (".", ".."):
            raise RunError(f"invalid run name {name!r}")
        path = runs_dir / name
        if path.exists():
            raise RunError(existing_run_message(path))
        try:
            path.mkdir()
        except FileExistsError as error:
            raise RunError(existing_run_message(path)) from error
    else:
        base = default_run_name(config["env_id"], config["algo"], config["seed"])
        for suffix in range(1, 1000):
            path = runs_dir / (base if suffix == 1 else f"{base}-{suffix}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:  # pragma: no cover
            raise RunError(f"cannot find a free run folder name for {base} in {runs_dir}")
    run = Run(path)
    write_atomic(run.file(CONFIG), yaml.safe_dump(config, sort_keys=False))
    run.save_meta({**base_meta(config), **(extra_meta or {})})
    run.file(COMMAND).touch()
    return run


def existing_run_message(path: Path) -> str:
    try:
        status = Run(path).status
    except RunError:
        status = None
    if status == FINISHED:
        return f"{path} is a finished run; a finished run is never overwritten (choose another --run-name)"
    if status in (INTERRUPTED, FAILED, RUNNING):
        return f"{path} already exists ({status}); continue it with: echelon train --resume {path}"
    return f"{path} already exists; choose another --run-name"


def open_run(path: str | Path) -> Run:
    """An existing run folder (checked: it exists and has a readable status)."""
    run = Run(path)
    if not run.path.is_dir():
        raise RunError(f"run folder {run.path} does not exist")
    if not run.file(CONFIG).exists() and not run.file(STATUS).exists():
        raise RunError(f"{run.path} is not a run folder (no {CONFIG} or {STATUS})")
    return run

