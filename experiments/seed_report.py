"""Statistics across seeds in a report: the per-run and aggregate tables (CSV and markdown) and the learning-curve
band, for every group of runs of one configuration (an agent of the benchmark, a configuration of a sweep).

The statistics themselves are :mod:`experiments.seed_statistics`; the figures are in :mod:`experiments.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from experiments.markdown import markdown_table, plus_minus
from experiments.seed_statistics import (
    REFERENCE,
    RESAMPLES,
    AcrossSeeds,
    format_interval,
    format_probability,
    stratified_bootstrap,
)

Groups = Mapping[str, AcrossSeeds]
"""Group name (agent, configuration) -> its runs and their statistics."""


def runs_frame(groups: Groups) -> pd.DataFrame:
    """One row per run: group, seed, task, cost, paired gap to the reference with its 95% CI over episodes."""
    rows = [{"group": name, "seed": run.seed, "task": run.task, "cost_mean": run.cost, "gap_mean": run.gap,
             "gap_ci95": run.gap_ci95, "gap_pct": run.gap_pct, "gap_pct_ci95": run.gap_pct_ci95}
            for name, stats in groups.items() for run in stats.runs]
    return pd.DataFrame(rows, columns=["group", "seed", "task", "cost_mean", "gap_mean", "gap_ci95", "gap_pct",
                                       "gap_pct_ci95"])


def aggregate_frame(groups: Groups) -> pd.DataFrame:
    """One row per group: runs, mean and IQM gap (%) and probability of improvement with their 95% bootstrap
    bounds, the worst seed."""
    return pd.DataFrame([{"group": name, **stats.summary()} for name, stats in groups.items()])


def seeds_markdown(groups: Groups, reference: str) -> list[str]:
    """The aggregate table, the per-run table and the definitions, as report lines."""
    aggregate = pd.DataFrame({
        "": list(groups),
        "runs": [len(stats.runs) for stats in groups.values()],
        "mean gap % [95% CI]": [format_interval(stats.mean) for stats in groups.values()],
        "IQM gap % [95% CI]": [format_interval(stats.iqm) for stats in groups.values()],
        f"P(run beats {reference}) [95% CI]": [format_probability(stats.improvement) for stats in groups.values()],
        "worst seed: gap % (95% CI)": [_worst(stats) for stats in groups.values()],
    })
    runs = runs_frame(groups)
    per_run = pd.DataFrame({
        "": runs["group"], "seed": runs["seed"].astype(str),
        "cost / period": [f"{v:.2f}" for v in runs["cost_mean"]],
        f"vs {reference}, paired (95% CI)": [plus_minus(m, h, sign=True) for m, h in zip(runs["gap_mean"],
                                                                                       runs["gap_ci95"], strict=True)],
        f"vs {reference} % (95% CI)": [plus_minus(m, h, sign=True) for m, h in zip(runs["gap_pct"],
                                                                                 runs["gap_pct_ci95"], strict=True)],
    })
    return [markdown_table(aggregate), "",
            f"A run's gap is its mean paired difference to the {reference} over the common episodes, in percent of "
            f"the {reference}'s cost (negative: cheaper), with its 95% interval over episodes (Student-t, delta "
            "method). Across a group's runs (training seeds): the mean and the interquartile mean (IQM: "
            "scipy.stats.trim_mean cutting 25% of the runs at each end, the middle 3 of 5, the mean itself for 2 or 3) "
            "with 95% two-level stratified bootstrap intervals (within each env id the common episodes are resampled, "
            "the same for every run and the reference, then the runs; percentile method, "
            f"{RESAMPLES:,} resamples, fixed seed), the probability that a run beats the "
            f"{reference} (ties count one half) with the same interval, and the worst seed. Definitions: "
            f"{REFERENCE}. With few seeds, percentile bootstrap intervals are narrow; read them with the worst seed "
            "and the per-run table.", "", markdown_table(per_run), ""]


def _worst(stats: AcrossSeeds) -> str:
    worst = stats.worst
    return f"{worst.seed}: {plus_minus(worst.gap_pct, worst.gap_pct_ci95, sign=True)}"


def curve_bands(curves: pd.DataFrame, value: str = "mean_cost_per_period") -> pd.DataFrame:
    """Per group and logged step (``timesteps``): the mean of ``value`` over the runs logged there, with its 95%
    bootstrap interval over runs, and how many runs it holds (``curves``: group, seed, timesteps, value)."""
    rows = []
    for (group, steps), rows_at in curves.groupby(["group", "timesteps"], sort=False):
        values = rows_at[value].dropna().to_numpy(dtype=float)
        if values.size == 0:
            continue
        interval = stratified_bootstrap([values], lambda x, axis=-1: np.mean(x, axis=axis))
        rows.append({"group": group, "timesteps": steps, "mean": interval.point, "low": interval.low,
                     "high": interval.high, "runs": values.size})
    return pd.DataFrame(rows, columns=["group", "timesteps", "mean", "low", "high", "runs"])
