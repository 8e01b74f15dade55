"""``echelon train`` as a child process: the code that started it, a given number of cores, stopped with its parent.

The benchmark trains its agents in child processes, at most one per core at a time (:class:`TrainingPool`); every
sweep trial runs one (:mod:`experiments.sweep_trial`). A child runs ``python -m experiments.cli train`` with this
checkout first on its path (so it runs the same code as its parent, whatever is installed), with ``threads``
torch, BLAS and simulator-kernel threads (:data:`KERNEL_THREADS_VARIABLE`), and receives SIGTERM when the thread
that started it ends (Linux), which saves a checkpoint and marks its run ``interrupted``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from envs.simulator import THREADS_VARIABLE as KERNEL_THREADS_VARIABLE
from experiments.provenance import REPO_ROOT
from experiments.runs import RunError

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                    KERNEL_THREADS_VARIABLE)


def train_command(args: Sequence[str], threads: int = 1) -> list[str]:
    """The command line of ``echelon train ARGS`` on ``threads`` torch threads, without progress bars."""
    return [sys.executable, "-m", "experiments.cli", "train", *args, "--threads", str(threads), "--no-progress"]


def child_environment(threads: int = 1) -> dict[str, str]:
    """This process's environment with this checkout first on ``PYTHONPATH`` and ``threads`` threads everywhere."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else ""),
            **dict.fromkeys(THREAD_VARIABLES, str(threads))}


def _stop_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the parent's starting thread ends, even by SIGKILL."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(command: Sequence[str], log: Path, threads: int = 1, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``command`` with its output (after the command line itself) in ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        handle.write(" ".join(command) + "\n")
        handle.flush()
        return subprocess.Popen(list(command), stdout=handle, stderr=subprocess.STDOUT, cwd=cwd,
                                env=child_environment(threads),
                                preexec_fn=_stop_with_parent if sys.platform == "linux" else None)


def stop(processes: Iterable[subprocess.Popen], timeout: float = 120) -> None:
    """SIGTERM to the unfinished ``processes`` (each saves a checkpoint), then wait for them (SIGKILL after
    ``timeout`` seconds)."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text().splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class TrainingJob:
    """One ``echelon train`` child: its name, command line, log file and run folder."""

    name: str
    command: list[str]
    log: Path
    run: Path
    process: subprocess.Popen | None = field(default=None, repr=False)


class TrainingPool:
    """Runs ``jobs`` in their order, at most ``workers`` at a time; :meth:`poll` starts and reaps them."""

    def __init__(self, jobs: Sequence[TrainingJob], workers: int) -> None:
        self.jobs, self.workers = list(jobs), max(int(workers), 1)
        self.pending = list(self.jobs)
        self.reaped: list[TrainingJob] = []

    @property
    def running(self) -> list[TrainingJob]:
        return [job for job in self.jobs if job.process is not None and job.process.poll() is None]

    @property
    def done(self) -> bool:
        """Every job has finished and been returned by :meth:`poll`."""
        return len(self.reaped) == len(self.jobs)

    def poll(self) -> list[TrainingJob]:
        """Start jobs while workers are free; return the jobs that finished since the last call. A job that failed
        raises a :class:`RunError` with the end of its log (the others keep running until :meth:`stop`)."""
        finished = []
        for job in self.jobs:
            if job.process is not None and job.process.poll() is not None and job not in self.reaped:
                self.reaped.append(job)
                if job.process.returncode != 0:
                    raise RunError(f"training {job.name} failed (exit status {job.process.returncode}); end of its "
                                   f"log {job.log}:\n{log_tail(job.log)}")
                finished.append(job)
        while self.pending and len(self.running) < self.workers:
            job = self.pending.pop(0)
            job.process = start(job.command, job.log)
        return finished

    def stop(self) -> None:
        self.pending = []
        stop(job.process for job in self.jobs if job.process is not None)
