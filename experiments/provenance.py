"""Where a result came from: git revision, package versions, machine, times (the start of every ``meta.json``)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "numba", "gymnasium", "stable-baselines3", "torch", "scipy", "pandas", "pyyaml", "ray", "optuna",
            "echelon-gym")
REPO_ROOT = Path(__file__).resolve().parents[1]


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


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
    """The opening ``meta.json`` of a run (or a benchmark) with identity ``config`` (env_id, algo, seed)."""
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
