"""Statistics across training seeds: how much a learned agent's result depends on the seed it was trained with.

The definitions are those of Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (NeurIPS), as its library rliable computes them. Each training seed of one configuration is a *run*;
its score on a *task* (an env id) is its paired gap to a reference policy (the analytic plan, or ``echelon
compare``'s baseline) on the common evaluation episodes, in percent of the reference's cost: lower is better, and
each run keeps its own 95% Student-t interval over episodes. Across runs:

- the **mean** and the **interquartile mean** (IQM: the mean of the middle half of the scores,
  ``scipy.stats.trim_mean`` cutting 25% at each end, rliable's ``aggregate_iqm``), each with a 95% **stratified
  bootstrap** interval: runs resampled with replacement within each task, percentile interval, 10,000 resamples
  from a fixed seed (``scipy.stats.bootstrap`` with one sample per task, which resamples each independently);
- the **probability of improvement** over the reference: the chance that a run beats it, P(gap < 0) with ties
  counting one half (rliable's ``probability_of_improvement``, the Mann-Whitney statistic, against the reference's
  single run), averaged over tasks, with the same bootstrap interval;
- the **worst seed**: the run with the largest gap, with its interval over episodes.

rliable itself is not a dependency: its bootstrap library (arch < 8) fails to import beside pandas 3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from baselines.evaluation import Estimate, paired_difference

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
    gap_pct_ci95: float


def run_gap(seed: int, task: str, cost: Estimate, reference: Estimate) -> RunGap:
    """The paired gap of a run whose per-episode costs are ``cost`` to the reference's on the same episodes."""
    delta = paired_difference(cost, reference)
    scale = 100.0 / reference.mean
    return RunGap(int(seed), task, cost.mean, delta.mean, delta.half_width, scale * delta.mean,
                  scale * delta.half_width)


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
    tasks = [np.array([run.gap_pct for run in runs if run.task == task]) for task in names]
    return AcrossSeeds(tuple(runs), stratified_bootstrap(tasks, _mean), stratified_bootstrap(tasks, _iqm),
                       stratified_bootstrap(tasks, _improvement))


def format_interval(interval: Interval, digits: int = 2, unit: str = "") -> str:
    """``-4.12% [-4.40, -3.80]`` (the bounds omitted when there are none)."""
    text = f"{interval.point:+.{digits}f}{unit}"
    if np.isnan(interval.low):
        return text
    return f"{text} [{interval.low:+.{digits}f}, {interval.high:+.{digits}f}]"


def format_probability(interval: Interval) -> str:
    text = f"{interval.point:.2f}"
    return text if np.isnan(interval.low) else f"{text} [{interval.low:.2f}, {interval.high:.2f}]"
