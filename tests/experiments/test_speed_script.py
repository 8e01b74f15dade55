"""The simulator benchmark script runs and reports what it says (its figures are recorded in BENCHMARKS.md)."""

from __future__ import annotations

from experiments import speed


def test_vector_rate_reports_the_whole_run_and_its_one_second_windows():
    rate, windows = speed.vector_env_rate("echelon/Serial-v1", 4, 2.5)
    assert rate > 0 and 1 <= len(windows) <= 2 and all(window > 0 for window in windows)
