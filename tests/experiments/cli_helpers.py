"""Running the real ``echelon`` command in tests, on this checkout's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV_ID = "echelon/Serial-v1"
ROOT = Path(__file__).resolve().parents[2]  # this checkout, first on the path of the command (not an installed copy)
SCRIPT = Path(sys.executable).with_name("echelon")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "experiments.cli"]
ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore",
       "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
"""The environment of the command: this checkout first on the path (an editable install may point elsewhere)."""


def echelon(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV)
