"""Statistics across training seeds: the definitions of Agarwal et al. (2021), checked by hand and against a plain
numpy bootstrap; stratification keeps each task's runs apart."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.evaluation import estimate, paired_difference
from experiments.seed_statistics import (
    RunGap,
    across_seeds,
    format_interval,
    interquartile_mean,
    run_gap,
    stratified_bootstrap,
)


def runs(gaps: list[float], task: str = "env") -> list[RunGap]:
    return [RunGap(seed, task, 100.0 + gap, gap, 0.1, gap, 0.1) for seed, gap in enumerate(gaps)]


def test_interquartile_mean_is_the_mean_of_the_middle_half():
    assert interquartile_mean(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert interquartile_mean(np.array([-100.0, 1.0, 2.0, 3.0, 100.0])) == pytest.approx(2.0)


def test_point_estimates_and_worst_seed():
    stats = across_seeds(runs([-4.0, -2.0, 0.0, 3.0, -5.0]))
    assert stats.mean.point == pytest.approx(-1.6)
    assert stats.iqm.point == pytest.approx(np.mean([-4.0, -2.0, 0.0]))
    assert stats.improvement.point == pytest.approx((1 + 1 + 0.5 + 0 + 1) / 5)  # a tie counts one half
    assert stats.worst.seed == 3 and stats.worst.gap_pct == 3.0
    assert stats.mean.low < stats.mean.point < stats.mean.high


def test_mean_interval_is_the_percentile_bootstrap_over_seeds():
    gaps = np.array([-4.1, -3.9, -4.5, -3.0, -5.2, -4.4, -3.6])
    interval = across_seeds(runs(list(gaps))).mean
    rng = np.random.default_rng(7)
    means = gaps[rng.integers(0, len(gaps), size=(20_000, len(gaps)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    assert interval.low == pytest.approx(low, abs=0.03) and interval.high == pytest.approx(high, abs=0.03)


def test_bootstrap_is_stratified_by_task():
    """Two tasks far apart: resampling within each task keeps five runs of each, so the mean over tasks barely
    moves; a pooled resample would mix them and give an interval about a hundred times wider."""
    first, second = [-10.0, -10.1, -9.9, -10.2, -9.8], [10.0, 10.1, 9.9, 10.2, 9.8]
    interval = across_seeds(runs(first, "a") + runs(second, "b")).mean
    assert interval.point == pytest.approx(0.0)
    assert interval.high - interval.low < 0.3
    pooled = stratified_bootstrap([np.array(first + second)], lambda x, axis=-1: np.mean(x, axis=axis))
    assert pooled.high - pooled.low > 6.0


def test_one_run_has_no_interval_and_identical_runs_a_point_interval():
    single = across_seeds(runs([-2.0]))
    assert np.isnan(single.mean.low) and format_interval(single.mean) == "-2.00"
    same = across_seeds(runs([1.0, 1.0, 1.0]))
    assert same.mean.low == same.mean.high == 1.0


def test_run_gap_is_the_paired_difference_in_percent_of_the_reference():
    rng = np.random.default_rng(0)
    reference = estimate(100 + rng.normal(size=50))
    cost = estimate(reference.replicas - 3 + 0.1 * rng.normal(size=50))
    gap = run_gap(4, "env", cost, reference)
    delta = paired_difference(cost, reference)
    assert gap.gap == pytest.approx(delta.mean) and gap.gap_ci95 == pytest.approx(delta.half_width)
    assert gap.gap_pct == pytest.approx(100 * delta.mean / reference.mean)
