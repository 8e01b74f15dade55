"""Statistics across training seeds: the definitions of Agarwal et al. (2021), checked by hand and against a plain
numpy bootstrap; stratification keeps each task's runs apart."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.evaluation import estimate, paired_difference, ratio_estimate
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
    assert np.array_equal(gap.episode_differences, delta.replicas) and gap.reference_costs is reference.replicas


def test_a_percent_interval_counts_the_reference_noise():
    """The delta method against a plain bootstrap of the ratio of means over the same episodes."""
    rng = np.random.default_rng(1)
    reference = 100 + 20 * rng.normal(size=400)
    difference = 30 + 0.5 * (reference - 100) + rng.normal(size=400)  # correlated with the reference's cost
    percent = ratio_estimate(100 * difference, reference)
    picks = rng.integers(0, 400, size=(20_000, 400))
    ratios = 100 * difference[picks].mean(axis=1) / reference[picks].mean(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    assert percent.mean == pytest.approx(100 * difference.mean() / reference.mean())
    assert percent.half_width == pytest.approx((high - low) / 2, rel=0.1)
    fixed_mean = 100 * estimate(difference).half_width / reference.mean()  # the reference's cost taken as exact
    assert abs(percent.half_width / fixed_mean - 1) > 0.3


def episode_runs(episode_noise: np.ndarray, seed_effects: list[float], task: str = "env",
                 level: float = 100.0) -> list[RunGap]:
    """Runs whose per-episode differences share the episodes' noise, each shifted by its seed's effect."""
    reference = np.full(episode_noise.shape, level)
    return [run_gap(seed, task, estimate(reference + effect + episode_noise), estimate(reference))
            for seed, effect in enumerate(seed_effects)]


def test_the_interval_across_seeds_covers_the_shared_episode_noise():
    """Five nearly identical runs scored on the same noisy episodes: resampling the runs alone sees no spread (an
    interval conditional on those episodes); resampling the episodes as well gives the episodes' uncertainty."""
    noise = 3.0 * np.random.default_rng(2).normal(size=100)
    gaps = episode_runs(noise, [-4.0, -4.01, -3.99, -4.02, -3.98])
    stats = across_seeds(gaps)
    episodes_only = estimate(np.mean([gap.episode_differences for gap in gaps], axis=0))
    assert stats.mean.point == pytest.approx(np.mean([gap.gap_pct for gap in gaps]))
    assert stats.mean.high - stats.mean.low == pytest.approx(2 * episodes_only.half_width, rel=0.15)
    runs_alone = across_seeds([RunGap(*(getattr(gap, name) for name in ("seed", "task", "cost", "gap", "gap_ci95",
                                                                        "gap_pct", "gap_pct_ci95"))) for gap in gaps])
    assert runs_alone.mean.high - runs_alone.mean.low < 0.1 * (stats.mean.high - stats.mean.low)
    assert stats.improvement.point == 1.0 and stats.improvement.low == 1.0  # every resample still beats it
    assert across_seeds(gaps).mean == stats.mean  # a fixed bootstrap seed


def test_runs_on_other_episodes_fall_back_to_resampling_runs():
    first = episode_runs(np.random.default_rng(3).normal(size=20), [-1.0, -2.0, -3.0])
    other = episode_runs(np.random.default_rng(4).normal(size=20), [-1.5], level=101.0)  # another reference
    mixed = across_seeds(first[:2] + other)
    plain = across_seeds(runs([gap.gap_pct for gap in first[:2] + other]))
    assert (mixed.mean.low, mixed.mean.high) == (plain.mean.low, plain.mean.high)
