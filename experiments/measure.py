"""What the speed scripts share: the best wall time of a piece of work, a process's peak memory, and the machine and
load lines that head their tables in BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from typing import TypeVar

Result = TypeVar("Result")


def best_time(work: Callable[[], Result], repeats: int) -> tuple[float, Result]:
    """The fastest of ``repeats`` runs of ``work`` in wall-clock seconds, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def peak_memory_bytes() -> int:
    """This process's peak resident memory (``ru_maxrss``, which Linux reports in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def machine() -> str:
    """Architecture, cores and Python version, as the tables' header lines print them."""
    return f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as the tables' header lines print them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())
