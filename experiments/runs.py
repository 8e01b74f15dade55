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
session.lock          locked (``flock``) by the process that creates or trains the run, so that only one
                      process trains a run at a time; the operating system releases it when the process ends
====================  ==============================================================================

A finished run is never overwritten. Reading a corrupted ``config.yaml`` or checkpoint raises
:class:`RunError` before anything in the folder is touched. A session whose process ended without recording
it (killed) is recorded ``killed`` by the session that resumes the run. Elsewhere: checkpoint names
(:mod:`experiments.checkpoints`), ``metrics.csv`` (:mod:`experiments.metrics_file`), whether a run's trainer
is still alive (:mod:`experiments.liveness`), the session protocol (:mod:`experiments.session`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from experiments.files import unwritable, write_atomic
from experiments.provenance import base_meta, now_iso

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
LOCK = "session.lock"

RUNNING, INTERRUPTED, FAILED, FINISHED = "running", "interrupted", "failed", "finished"
STATUSES = (RUNNING, INTERRUPTED, FAILED, FINISHED)
KILLED = "killed"
"""The status of a session record whose process ended without recording it (a run's status is one of STATUSES)."""
REQUIRED_CONFIG_KEYS = ("env_id", "algo", "seed")
COUNT_KEYS = {"gradient": ("paths", "horizon", "iterations")}  # whole numbers >= 1 a config must set, by algo
DEFAULT_COUNT_KEYS = ("num_envs", "total_steps")


def plan_fields(method: str, echelon_levels: np.ndarray) -> dict:
    """The fields of a plan file that a residual run reads: the planner's method and its echelon levels (N lists
    of P numbers). A residual run's ``plan.json`` holds these; ``echelon plan --output`` adds more."""
    return {"method": method, "echelon_levels": np.asarray(echelon_levels, dtype=float).tolist()}


class RunError(Exception):
    """A run folder cannot be created, resumed or read; the folder is left as it was."""


def default_run_name(env_id: str, algo: str, seed: int, when: datetime | None = None) -> str:
    when = when or datetime.now()
    return f"{env_id.split('/')[-1]}-{algo}-seed{seed}-{when:%Y%m%d-%H%M%S}"


class Run:
    """An existing run folder: its files, its status and the records its sessions leave (meta.json, command.txt)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: int | None = None

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

    # lock
    def lock(self) -> None:
        """Hold the run's lock until :meth:`unlock` or the end of the process: only one process trains a run at a
        time. A :class:`RunError` says so when another process holds it."""
        if self._lock is not None:
            return
        try:
            fd = os.open(self.file(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RunError(f"cannot lock {self.file(LOCK)}: {error.strerror or error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            raise RunError(f"{self.path} is being trained by another process (it holds {LOCK}); wait until it ends "
                           "or stop it first (Ctrl-C saves a checkpoint)") from error
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[Run]:
        """The run, locked (:meth:`lock`) for the block."""
        self.lock()
        try:
            yield self
        finally:
            self.unlock()

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

    # session records
    def start_session(self, argv: list[str], start_steps: int, note: str) -> None:
        """Record a new session: its command, start and process in meta.json and command.txt; status running.

        Earlier sessions still recorded ``running`` were killed (a session starts only when no other process holds
        the run's lock): they are recorded ``killed``, with what the new session resumed from."""
        meta = self.load_meta()
        for session in meta["sessions"]:
            if session.get("status") == RUNNING:
                session.update(status=KILLED, note=(
                    f"the process ended without recording it (killed, or the machine stopped); found at {now_iso()} "
                    f"by the next session, which resumed from the checkpoint at {int(start_steps)} steps"))
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

    def end_session(self, status: str, timesteps: int, result: dict | None = None, error: str | None = None) -> None:
        """Record how the current session ended (with the error that ended it, and the run's result, if given)."""
        meta = self.load_meta()
        if meta["sessions"]:
            meta["sessions"][-1].update(end_time=now_iso(), end_timesteps=int(timesteps), status=status)
            if error is not None:
                meta["sessions"][-1]["error"] = error
        if status == FINISHED:
            meta["end_time"] = now_iso()
        if result is not None:
            meta["result"] = result
        self.save_meta(meta)
        self.set_status(status)


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


def check_new_run(runs_dir: str | Path, name: str | None) -> None:
    """Refuse, before any long work, a run folder that cannot be created: a runs folder that is a file or cannot be
    written, an invalid or too long name, an existing folder (a finished run is never overwritten)."""
    problem = unwritable(runs_dir, "folder")
    if problem is not None:
        raise RunError(f"--runs-dir {runs_dir}: cannot create a run folder there, {problem}")
    if name is None:
        return
    if not name or "/" in name or name in (".", ".."):
        raise RunError(f"invalid run name {name!r}; give a folder name without '/'")
    problem = unwritable(Path(runs_dir) / name, "folder")
    if problem is not None:
        raise RunError(f"invalid run name {name[:40]!r}: {problem}")
    if (Path(runs_dir) / name).exists():
        raise RunError(existing_run_message(Path(runs_dir) / name))


def create_run(runs_dir: str | Path, config: dict, argv: list[str], name: str | None = None,
               extra_meta: dict | None = None) -> Run:
    """Create a new run folder for ``config`` (``name`` or ``<env>-<algo>-seed<seed>-<time>``), locked
    (:meth:`Run.lock`; the caller unlocks it).

    An explicit ``name`` that already exists is refused (a finished run is never overwritten; an unfinished
    one is continued with ``--resume``). Automatic names get a ``-2``, ``-3``, ... suffix on a clash. A folder that
    cannot be written is refused with a :class:`RunError`, and nothing of it is left behind.
    """
    check_new_run(runs_dir, name)
    runs_dir = Path(runs_dir)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        if name is not None:
            path = runs_dir / name
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
    except OSError as error:
        raise RunError(f"cannot create a run folder in {runs_dir}: {error.strerror or error}") from error
    run = Run(path)
    with discarded_on_error(run):
        run.lock()
        write_atomic(run.file(CONFIG), yaml.safe_dump(config, sort_keys=False))
        run.save_meta({**base_meta(config), **(extra_meta or {})})
        run.file(COMMAND).touch()
    return run


@contextlib.contextmanager
def discarded_on_error(run: Run) -> Iterator[None]:
    """Remove a new run's folder (and release its lock) if the block fails before its first session starts, so that
    no half-written folder is left looking like a run; an ``OSError`` becomes a :class:`RunError`."""
    try:
        yield
    except BaseException as error:
        run.unlock()
        shutil.rmtree(run.path, ignore_errors=True)
        if isinstance(error, OSError):
            raise RunError(f"cannot write the run folder {run.path} ({error.strerror or error}); it was removed") \
                from error
        raise


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
        raise RunError(f"run folder {run.path} {'is not a folder' if run.path.exists() else 'does not exist'}")
    if not run.file(CONFIG).exists() and not run.file(STATUS).exists():
        raise RunError(f"{run.path} is not a run folder (no {CONFIG} or {STATUS})")
    return run

