"""Whether a run marked ``running`` is still being trained by a live process (Linux's /proc where available)."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from experiments.runs import RUNNING, Run, RunError


def check_not_in_progress(run: Run) -> None:
    """Refuse a run whose status is ``running`` while the process that runs it is still alive (a live process that
    started after the session did is taken to have reused the dead trainer's id)."""
    if run.status != RUNNING:
        return
    try:
        session = run.load_meta()["sessions"][-1]
    except (RunError, IndexError):
        return
    pid, host = session.get("pid"), session.get("hostname")
    if (isinstance(pid, int) and host == socket.gethostname() and pid != os.getpid() and _pid_alive(pid)
            and _trained_by(pid, session.get("start_time"))):
        raise RunError(f"{run.path} is being trained by process {pid}; stop it first (Ctrl-C saves a checkpoint)")


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
