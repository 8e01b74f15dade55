"""Figures of the benchmark report (matplotlib, Agg backend): one function per PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cost_plot(summary: pd.DataFrame, path: Path, optimum: float | None, title: str) -> Path:
    """Left: mean cost per period with 95% CIs per policy (and the exact optimum where there is one). Right: the
    paired difference to the plan in percent, for the policies within 25% of it (the others are named)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * len(summary) + 1.8), sharey=True)
    y = np.arange(len(summary))[::-1]
    left.errorbar(summary["cost_mean"], y, xerr=summary["cost_ci95"], fmt="o", capsize=4)
    left.set_yticks(y, summary["label"])
    if optimum is not None:
        left.axvline(optimum, color="green", linestyle=":", label="exact optimum (Clark-Scarf)")
        left.legend(loc="best", fontsize=8)
    left.set_xlabel("mean cost per period (95% CI)")
    left.set_title(title, fontsize=10)
    plan = float(summary.loc[summary["policy"] == "plan", "cost_mean"].iloc[0])
    near = summary["vs_plan_pct"].abs() < 25
    right.errorbar(summary.loc[near, "vs_plan_pct"], y[near.to_numpy()],
                   xerr=100 * summary.loc[near, "vs_plan_ci95"] / plan, fmt="o", capsize=4, color="C1")
    right.axvline(0.0, color="grey", linestyle="--")
    off = ", ".join(summary.loc[~near, "label"])
    right.set_xlabel("paired difference to the analytic plan, % (95% CI)")
    right.set_title("vs plan" + (f" (off scale: {off})" if off else ""), fontsize=10)
    return _save(fig, path)


def learning_curves_plot(curves: pd.DataFrame, bands: pd.DataFrame, path: Path, references: dict[str, float],
                         ylabel: str = "cost per period (training draws)") -> Path:
    """Cost per period against env steps (``curves``: group, seed, timesteps, mean_cost_per_period), one panel per
    group (agent or configuration): every run faintly, and the mean over runs with its 95% bootstrap band
    (``bands``, from :func:`experiments.seed_report.curve_bands`)."""
    groups = list(dict.fromkeys(curves["group"]))
    count = max(len(groups), 1)
    columns = min(count, 3)
    fig, axes = plt.subplots(-(-count // columns), columns, figsize=(6 * columns, 4 * -(-count // columns)),
                             squeeze=False)
    for ax, group in zip(axes.ravel(), groups, strict=False):
        for _, rows in curves[curves["group"] == group].groupby("seed"):
            ax.plot(rows["timesteps"], rows["mean_cost_per_period"], color="C0", alpha=0.25, linewidth=0.8)
        band = bands[bands["group"] == group]
        if len(band):
            ax.plot(band["timesteps"], band["mean"], color="C0", marker=".",
                    label=f"mean of {int(band['runs'].max())} runs")
            ax.fill_between(band["timesteps"], band["low"], band["high"], color="C0", alpha=0.25,
                            label="95% bootstrap band over runs")
        for name, value in references.items():
            ax.axhline(value, linestyle="--", linewidth=1, label=name, color="grey" if "plan" in name else "C1")
        ax.set_xlabel("env steps")
        ax.set_ylabel(ylabel)
        ax.set_title(group, fontsize=10)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    return _save(fig, path)


def seeds_plot(runs: pd.DataFrame, path: Path, reference: str, title: str) -> Path:
    """Every run's paired gap to the reference (%), one row per group: a box over the runs, each run as a point
    with its 95% interval over episodes (``runs``: group, seed, gap_pct, gap_pct_ci95)."""
    groups = list(dict.fromkeys(runs["group"]))
    fig, ax = plt.subplots(figsize=(10, 0.7 * len(groups) + 1.8))
    y = np.arange(len(groups))[::-1].astype(float)
    ax.boxplot([runs.loc[runs["group"] == g, "gap_pct"].to_numpy() for g in groups], positions=y, vert=False,
               widths=0.5, showfliers=False, medianprops={"color": "C1"})
    for position, group in zip(y, groups, strict=True):
        rows = runs[runs["group"] == group]
        offsets = np.linspace(-0.18, 0.18, len(rows)) if len(rows) > 1 else np.zeros(1)
        ax.errorbar(rows["gap_pct"], position + offsets, xerr=rows["gap_pct_ci95"], fmt="o", color="C0",
                    markersize=4, capsize=2, linewidth=1)
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, groups)
    ax.set_xlabel(f"paired gap to the {reference}, % of its cost (each run: 95% CI over episodes)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def inventory_plot(trajectories: pd.DataFrame, path: Path) -> Path:
    """Mean on hand and in transit per echelon over the episode, one line per policy."""
    by = trajectories.groupby(["policy", "echelon", "period"], sort=False)[["on_hand", "in_transit"]].sum()
    by = by.reset_index()
    echelons = sorted(by["echelon"].unique())
    fig, axes = plt.subplots(len(echelons), 2, figsize=(11, 2.6 * len(echelons)), squeeze=False, sharex=True)
    for row, echelon in enumerate(echelons):
        for col, column in enumerate(("on_hand", "in_transit")):
            ax = axes[row][col]
            for policy, rows in by[by["echelon"] == echelon].groupby("policy", sort=False):
                ax.plot(rows["period"], rows[column], label=policy, linewidth=1)
            ax.set_title(f"echelon {echelon}: {column.replace('_', ' ')} (units)", fontsize=9)
    axes[-1][0].set_xlabel("period")
    axes[-1][1].set_xlabel("period")
    axes[0][1].legend(fontsize=7, loc="best")
    return _save(fig, path)


def fill_rate_plot(fill: pd.DataFrame, path: Path, ci: pd.DataFrame | None = None) -> Path:
    """Fill rate by delivery speed (grouped bars per policy); ``fill`` is policies x speeds, ``ci`` the 95%
    half-widths in the same layout (error bars)."""
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(len(fill), 1)
    x = np.arange(len(fill.columns))
    for i, (policy, row) in enumerate(fill.iterrows()):
        ax.bar(x + i * width, row.to_numpy(), width, label=policy,
               yerr=None if ci is None else ci.loc[policy].to_numpy(), capsize=2)
    ax.set_xticks(x + 0.4 - width / 2, fill.columns)
    lowest = fill if ci is None else fill - ci
    ax.set_ylim(max(0.0, float(np.nanmin(lowest.to_numpy())) - 0.05), 1.0)
    ax.set_ylabel("fill rate")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def capacity_plot(capacity: pd.DataFrame, path: Path) -> Path:
    """Mean storage and inbound use relative to the caps, per capped node and policy (1 = at the cap), with 95%
    error bars when ``capacity`` has ``{kind}_use_ci95`` columns."""
    kinds = [k for k in ("storage", "inbound") if np.isfinite(capacity[f"{k}_cap"]).any()]
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(7 * max(len(kinds), 1), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=False):
        rows = capacity[np.isfinite(capacity[f"{kind}_cap"])]
        order = list(dict.fromkeys(rows["node"])), list(dict.fromkeys(rows["policy"]))
        table = rows.pivot(index="node", columns="policy", values=f"{kind}_use").loc[order]
        errors = (rows.pivot(index="node", columns="policy", values=f"{kind}_use_ci95").loc[order]
                  if f"{kind}_use_ci95" in rows else None)
        width = 0.8 / max(len(table.columns), 1)
        x = np.arange(len(table))
        for i, policy in enumerate(table.columns):
            ax.bar(x + i * width, table[policy].to_numpy(), width, label=policy,
                   yerr=None if errors is None else errors[policy].to_numpy(), capsize=2)
        ax.axhline(1.0, color="red", linestyle="--", linewidth=1)
        ax.set_xticks(x + 0.4 - width / 2, table.index, rotation=30)
        ax.set_ylabel(f"mean {kind} use / cap")
        ax.set_title(f"{kind} use against caps")
    if kinds:
        axes[0][0].legend(fontsize=7)
    else:
        axes[0][0].text(0.5, 0.5, "no finite caps in this scenario", ha="center", va="center")
        axes[0][0].axis("off")
    return _save(fig, path)
