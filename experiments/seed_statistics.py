"""Statistics across training seeds: how much a learned agent's result depends on the seed it was trained with.

The definitions are those of Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS), as its library rliable computes them. Each training seed of one configuration is a *run*;
its score on a *task* (an env id) is its paired gap to a reference policy (the analytic plan, or ``echelon
compare``'s baseline) on the common evaluation episodes, in percent of the reference's cost: lower is better, and
each run keeps its own 95% interval over episodes (Student-t, by the delta method since the reference's cost is
noisy too). Across runs:

- the **mean** and the **interquartile mean** (IQM, ``scipy.stats.trim_mean`` cutting ``int(0.25 n)`` runs at each
  end, rliable's ``aggregate_iqm``: the mean itself for 2 or 3 runs, the middle 3 of 5), each with a 95%
  **two-level stratified bootstrap** interval: within each task, the evaluation episodes are resampled with
  replacement (the same ones for every run and the reference, so the pairing holds), then the runs; percentile
  interval, 10,000 resamples from a fixed seed. Every run is scored on the same episodes, so their noise is
  shared; resampling the runs alone (rliable's stratified bootstrap, used here only where runs come without their
  per-episode costs) would leave it out and give an interval conditional on those episodes;
- the **probability of improvement** over the reference: the chance that a run beats it, P(gap < 0) with ties
  counting one half (rliable's ``probability_of_improvement``, the Mann-Whitney statistic, against the reference's
  single run), averaged over tasks, with the same bootstrap interval;
- the **worst seed**: the run with the largest gap, with its interval over episodes.

With a handful of runs a percentile interval still covers less than its nominal 95% (the spread of 5 runs
understates that of the training procedure); read it with the worst seed and every run's own interval.

rliable itself is not a dependency: its bootstrap library (arch < 8) fails to import beside pandas 3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from baselines.evaluation import Estimate, paired_difference, percent_difference

RESAMPLES = 10_000
"""Bootstrap resamples per interval."""
BOOTSTRAP_SEED = 0
"""Seed of every bootstrap (a rerun reports the same intervals)."""
CONFIDENCE = 0.95
REFERENCE = ('Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical Precipice", '
             "NeurIPS (the definitions of rliable)")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a 95% bootstrap interval (NaN bounds when fewer than two runs)."""

    point: float
    low: float
    high: float


@dataclass(frozen=True)
class RunGap:
    """One training run on the common episodes, paired with the reference episode by episode."""

    seed: int
    task: str
    cost: float  # mean cost per period
    gap: float  # mean paired difference to the reference, cost per period
    gap_ci95: float  # its 95% Student-t half-width over episodes
    gap_pct: float  # the gap in percent of the reference's cost
    gap_pct_ci95: float  # its 95% half-width over episodes (delta method: the reference's cost is noisy too)
    episode_differences: np.ndarray | None = field(default=None, repr=False)  # per episode, cost - reference
    reference_costs: np.ndarray | None = field(default=None, repr=False)  # per episode, the reference's cost

    def record(self) -> dict[str, float | int | str]:
        """The run's figures (the scalars, not the per-episode arrays), JSON- and CSV-ready."""
        return {"seed": self.seed, "task": self.task, "cost": self.cost, "gap": self.gap, "gap_ci95": self.gap_ci95,
                "gap_pct": self.gap_pct, "gap_pct_ci95": self.gap_pct_ci95}


def run_gap(seed: int, task: str, cost: Estimate, reference: Estimate) -> RunGap:
    """The paired gap of a run whose per-episode costs are ``cost`` to the reference's on the same episodes."""
    delta = paired_difference(cost, reference)
    percent = percent_difference(cost, reference)
    return RunGap(int(seed), task, cost.mean, delta.mean, delta.half_width, percent.mean, percent.half_width,
                  delta.replicas, reference.replicas)


def interquartile_mean(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean of the middle 50% of ``scores`` along ``axis`` (25% cut at each end)."""
    return stats.trim_mean(scores, 0.25, axis=axis)


# Statistics of per-task score arrays (runs on the last axis, as scipy.stats.bootstrap passes resamples).
def _mean(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean([np.mean(scores, axis=axis) for scores in tasks], axis=0)


def _iqm(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return interquartile_mean(np.concatenate(tasks, axis=axis), axis=axis)


def _improvement(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    """P(a run's gap < 0), ties one half, averaged over tasks."""
    return np.mean([np.mean((scores < 0) + 0.5 * (scores == 0), axis=axis) for scores in tasks], axis=0)


def stratified_bootstrap(tasks: Sequence[np.ndarray], statistic: Callable[..., np.ndarray]) -> Interval:
    """``statistic(*tasks)`` with its 95% percentile interval over resamples of the runs within each task."""
    tasks = [np.asarray(scores, dtype=float) for scores in tasks]
    point = float(statistic(*tasks))
    if min(len(scores) for scores in tasks) < 2:
        return Interval(point, np.nan, np.nan)
    if all(np.all(scores == scores[0]) for scores in tasks):
        return Interval(point, point, point)
    result = stats.bootstrap(tasks, statistic, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                             method="percentile", vectorized=True, axis=-1, rng=np.random.default_rng(BOOTSTRAP_SEED))
    return Interval(point, float(result.confidence_interval.low), float(result.confidence_interval.high))


def two_level_bootstrap(tasks: Sequence[tuple[np.ndarray, np.ndarray]],
                        statistics: Sequence[Callable[..., np.ndarray]]) -> list[Interval]:
    """Each statistic of the runs' percent gaps with its 95% percentile interval when both the evaluation episodes
    and the runs are resampled, within each task: a task is (differences (runs, episodes), reference costs
    (episodes,)); a resample draws the task's episodes with replacement (the same ones for every run and the
    reference, which keeps the pairing), then its runs with replacement. The interval so covers the episodes' noise,
    which all runs share and resampling runs alone cannot see."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    points = [100 * differences.mean(axis=1) / reference.mean() for differences, reference in tasks]
    if min(len(scores) for scores in points) < 2:
        return [Interval(float(statistic(*points)), np.nan, np.nan) for statistic in statistics]
    resampled = []
    for differences, reference in tasks:
        runs, episodes = differences.shape
        counts = rng.multinomial(episodes, np.full(episodes, 1.0 / episodes), size=RESAMPLES)  # (R, episodes)
        gaps = 100 * (counts @ differences.T) / (counts @ reference)[:, None]  # (R, runs)
        picks = rng.integers(0, runs, size=(RESAMPLES, runs))
        resampled.append(np.take_along_axis(gaps, picks, axis=1))
    tail = 100 * (1 - CONFIDENCE) / 2
    intervals = []
    for statistic in statistics:
        values = statistic(*resampled, axis=-1)
        low, high = np.percentile(values, [tail, 100 - tail])
        intervals.append(Interval(float(statistic(*points)), float(low), float(high)))
    return intervals


@dataclass(frozen=True)
class AcrossSeeds:
    """The runs of one configuration and their statistics across seeds (scores: ``gap_pct``)."""

    runs: tuple[RunGap, ...]
    mean: Interval
    iqm: Interval
    improvement: Interval  # probability of improvement over the reference

    @property
    def worst(self) -> RunGap:
        return max(self.runs, key=lambda run: run.gap_pct)

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    def summary(self) -> dict[str, float | int]:
        """Flat JSON/CSV-ready fields."""
        worst = self.worst
        fields: dict[str, float | int] = {"runs": len(self.runs)}
        for name, interval in (("mean_gap_pct", self.mean), ("iqm_gap_pct", self.iqm),
                               ("probability_of_improvement", self.improvement)):
            fields.update({name: interval.point, f"{name}_low": interval.low, f"{name}_high": interval.high})
        fields.update(worst_seed=worst.seed, worst_gap_pct=worst.gap_pct, worst_gap_pct_ci95=worst.gap_pct_ci95)
        return fields


def across_seeds(runs: Sequence[RunGap]) -> AcrossSeeds:
    """Mean, IQM and probability of improvement over the runs' gaps, stratified by task."""
    if not runs:
        raise ValueError("no runs to summarize")
    names = dict.fromkeys(run.task for run in runs)
    statistics = (_mean, _iqm, _improvement)
    by_task = [[run for run in runs if run.task == task] for task in names]
    if all(_common_episodes(group) for group in by_task):
        tasks = [(np.array([run.episode_differences for run in group]), group[0].reference_costs) for group in by_task]
        return AcrossSeeds(tuple(runs), *two_level_bootstrap(tasks, statistics))
    scores = [np.array([run.gap_pct for run in group]) for group in by_task]
    return AcrossSeeds(tuple(runs), *(stratified_bootstrap(scores, statistic) for statistic in statistics))


def _common_episodes(runs: Sequence[RunGap]) -> bool:
    """Whether every run carries its per-episode differences to one reference evaluation (the same episodes)."""
    first = runs[0].reference_costs
    return first is not None and all(
        run.episode_differences is not None and run.episode_differences.shape == first.shape
        and run.reference_costs is not None and np.array_equal(run.reference_costs, first) for run in runs)


def format_interval(interval: Interval, digits: int = 2, unit: str = "") -> str:
    """``-4.12% [-4.40, -3.80]`` (the bounds omitted when there are none)."""
    text = f"{interval.point:+.{digits}f}{unit}"
    if np.isnan(interval.low):
        return text
    return f"{text} [{interval.low:+.{digits}f}, {interval.high:+.{digits}f}]"


def format_probability(interval: Interval) -> str:
    text = f"{interval.point:.2f}"
    return text if np.isnan(interval.low) else f"{text} [{interval.low:.2f}, {interval.high:.2f}]"
