"""The benchmark report folder: report.md, PNG figures (:mod:`experiments.plots`) and the raw CSVs.

Deterministic files (equal on a rerun with the same seed): summary.csv, episodes.csv, trajectories.csv,
capacity.csv, learning_curves.csv. Timings and throughput are in timing.json and report.md only.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.evaluation import Estimate, paired_difference
from baselines.planner import plan_gaps
from envs import env_scenario
from envs.scenario import resolve_scenario
from experiments import plots
from experiments.conventions import DEFAULT_EVAL_SEED
from experiments.files import write_atomic
from experiments.results import Benchmark

# The project's quality targets, checked in every report:
SERIAL_TARGETS = {"ppo": 0.03, "gradient": 0.005}  # relative excess over the Clark-Scarf optimum
NETWORK_IMPROVEMENT = 0.03  # the best learned agent beats the plan by at least this
THROUGHPUT_TARGETS = {"ppo": 20_000, "gradient": 500_000}  # env-steps/s on Network-v0


def vs_plan(bench: Benchmark, name: str) -> Estimate:
    """Paired difference cost(name) - cost(plan), episode by episode."""
    return paired_difference(bench.result(name).results.cost, bench.result("plan").results.cost)


def summary_table(bench: Benchmark) -> pd.DataFrame:
    plan_cost = bench.result("plan").results.cost.mean
    rows = []
    for p in bench.policies:
        cost, delta = p.results.cost, vs_plan(bench, p.name)
        row = {"policy": p.name, "label": p.label, "cost_mean": cost.mean, "cost_ci95": cost.half_width,
               "vs_plan_mean": delta.mean, "vs_plan_ci95": delta.half_width,
               "vs_plan_pct": 100 * delta.mean / plan_cost,
               **{k: np.nan if v is None else v for k, v in plan_gaps(cost.mean, bench.plan).items()}}
        estimates = p.results.evaluation.estimates
        row.update(interval_columns("fill_", estimates("fill_rate")))
        row.update(interval_columns("cost_", {k: v for k, v in estimates("cost").items() if k != "total"}))
        row.update(interval_columns("lost_", estimates("lost")))
        rows.append(row)
    return pd.DataFrame(rows)


def interval_columns(prefix: str, estimates: dict[str, Estimate]) -> dict[str, float]:
    """Summary columns ``{prefix}{name}`` (mean over episodes) and ``{prefix}{name}_ci95`` (95% half-width)."""
    columns: dict[str, float] = {}
    for name, est in estimates.items():
        columns.update({f"{prefix}{name}": est.mean, f"{prefix}{name}_ci95": est.half_width})
    return columns


def metric_names(bench: Benchmark, group: str) -> list[str]:
    """The metrics of an evaluation group (speeds, cost components without the total, nodes)."""
    return [name for name in bench.policies[0].results.evaluation.replicas[group] if name != "total"]


def metric_frame(summary: pd.DataFrame, prefix: str, names: list[str], suffix: str = "") -> pd.DataFrame:
    """Policies (by label) x ``names``: the summary columns ``{prefix}{name}{suffix}``."""
    frame = summary.set_index("label")[[f"{prefix}{name}{suffix}" for name in names]]
    frame.columns = names
    return frame


def interval_table(summary: pd.DataFrame, prefix: str, names: list[str], digits: int) -> pd.DataFrame:
    """Markdown-ready policies x ``names`` table of ``mean ± ci95`` from the summary columns."""
    means, halves = metric_frame(summary, prefix, names), metric_frame(summary, prefix, names, "_ci95")
    table = pd.DataFrame({name: [_pm(m, h, digits) for m, h in zip(means[name], halves[name], strict=True)]
                          for name in names}, index=means.index)
    return table.rename_axis("policy").reset_index()


def episodes_table(bench: Benchmark) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"policy": p.name, "episode": np.arange(p.results.episodes),
                                    "seed": DEFAULT_EVAL_SEED + np.arange(p.results.episodes),
                                    "cost_per_period": p.results.cost.replicas}) for p in bench.policies])


def trajectories_table(bench: Benchmark) -> pd.DataFrame:
    return pd.concat([p.trajectory.assign(policy=p.name) for p in bench.policies])[
        ["policy", "period", "node", "echelon", "on_hand", "in_transit"]]


def capacity_table(bench: Benchmark) -> pd.DataFrame:
    nodes = bench.plan.params.node_names
    rows = []
    for p in bench.policies:
        storage, inbound = p.results.intervals("storage_use"), p.results.intervals("inbound_use")
        rows += [{"policy": p.name, "node": node, "storage_cap": bench.plan.storage_capacity[i],
                  "storage_use": storage[node]["mean"], "storage_use_ci95": storage[node]["ci95"],
                  "inbound_cap": bench.plan.inbound_capacity[i], "inbound_use": inbound[node]["mean"],
                  "inbound_use_ci95": inbound[node]["ci95"]} for i, node in enumerate(nodes)]
    return pd.DataFrame(rows)


def curves_table(bench: Benchmark) -> pd.DataFrame:
    if not bench.training:
        return pd.DataFrame(columns=["agent", "timesteps", "mean_cost_per_period"])
    return pd.concat([t.curve.assign(agent=name) for name, t in bench.training.items()])[
        ["agent", "timesteps", "mean_cost_per_period"]]


# Quality targets ------------------------------------------------------------------------------------
def targets(bench: Benchmark) -> list[tuple[str, str, str]]:
    """(target, measured, met) rows for the quality targets that apply to this env id."""
    rows: list[tuple[str, str, str]] = []
    short = bench.env_id.split("/")[-1]
    if short.startswith("Serial") and bench.optimum is not None:
        for agent, limit in SERIAL_TARGETS.items():
            delta = vs_plan(bench, agent)
            cost = bench.result(agent).results.cost
            worst = (delta.mean + delta.half_width) / bench.optimum
            rows.append((f"{agent}: within {100 * limit:g}% of the Clark-Scarf optimum ({bench.optimum:.3f})",
                         f"paired excess over the optimal policy {100 * delta.mean / bench.optimum:+.2f}% "
                         f"(95% CI up to {100 * worst:+.2f}%); raw {cost.mean:.3f} vs optimum: "
                         f"{plan_gaps(cost.mean, bench.plan)['gap_to_optimum_pct']:+.2f}%",
                         _yes(worst <= limit)))
    if short.startswith("Network-"):
        best = min(("ppo", "gradient"), key=lambda a: bench.result(a).results.cost.mean)
        delta = vs_plan(bench, best)
        plan_cost = bench.result("plan").results.cost.mean
        gain = -delta.mean / plan_cost
        rows.append((f"best learned agent beats the plan by >= {100 * NETWORK_IMPROVEMENT:g}%, paired 95% CI "
                     "excluding zero",
                     f"{best}: {100 * gain:.2f}% better (paired difference {delta.mean:+.3f} ± {delta.half_width:.3f})",
                     _yes(gain >= NETWORK_IMPROVEMENT and delta.high < 0)))
        cost = bench.result(best).results.cost.mean
        rows.append(("gap to the plan's dual bound (bounds the analytic model, not the simulator)",
                     f"{best}: {cost:.3f} vs bound {bench.plan.dual_bound:.3f} "
                     f"({plan_gaps(cost, bench.plan)['gap_to_dual_bound_pct']:+.1f}%)", "reported"))
        for agent, target in THROUGHPUT_TARGETS.items():
            if agent in bench.training:
                fps = bench.training[agent].steps_per_second
                rows.append((f"{agent} training throughput >= {target:,} env-steps/s", f"{fps:,.0f} env-steps/s",
                             _yes(fps >= target)))
    return rows


def plan_row_gap(bench: Benchmark) -> float:
    return plan_gaps(bench.result("plan").results.cost.mean, bench.plan)["gap_to_optimum_pct"]


def _yes(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


# Markdown -------------------------------------------------------------------------------------------
def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:,.3f}"
    return str(value)


def _pm(mean: float, half: float, digits: int = 2, sign: bool = False) -> str:
    return f"{mean:{'+' if sign else ''}.{digits}f} ± {half:.{digits}f}"


def render(bench: Benchmark, summary: pd.DataFrame, files: list[str]) -> str:
    """report.md: one section after the other."""
    meta = json.loads((Path(files[0]).parent / "meta.json").read_text()) if files else {}
    speeds = metric_names(bench, "fill_rate")
    sections = [
        header_section(bench, meta),
        cost_section(bench, summary),
        targets_section(bench),
        fill_rate_section(summary, speeds),
        capacity_section(bench),
        inventory_section(bench),
        ["## Cost breakdown per period", "", "Mean over episodes ± 95% Student-t half-width.", "",
         markdown_table(interval_table(summary, "cost_", metric_names(bench, "cost"), 3)), ""],
        training_section(bench),
        ["## Notes", "", *[f"- {note}" for note in bench.notes], ""] if bench.notes else [],
        ["## Files", "", *[f"- `{Path(f).name}`" for f in files[1:]], "- `runs/`: the two training run folders "
         "(config, command, git revision, versions, metrics, checkpoints, policy)", "- `logs/`: their console output",
         ""],
    ]
    return "\n".join(line for section in sections for line in section)


def header_section(bench: Benchmark, meta: dict) -> list[str]:
    lines = [f"# Benchmark: {bench.env_id}{' (quick)' if bench.quick else ''}", ""]
    lines += [f"{resolve_scenario(env_scenario(bench.env_id)).description}", "",
              f"Command `{meta.get('command', '')}`, git {meta.get('git', {}).get('revision', '?')[:12]}"
              f"{' (uncommitted changes)' if meta.get('git', {}).get('dirty') else ''}, "
              f"{datetime.now():%Y-%m-%d %H:%M}; wall time {bench.timing.get('total_s', float('nan')):.0f} s on "
              f"{meta.get('cpu_count', '?')} cores. Training seed {bench.seed}; learned agents: {bench.action}.", ""]
    if bench.quick:
        lines += ["**Quick mode: tiny training budgets. This is a smoke test of the pipeline, not a result.**", ""]
    return lines


def cost_section(bench: Benchmark, summary: pd.DataFrame) -> list[str]:
    planned, plan_row = bench.plan, summary[summary["policy"] == "plan"].iloc[0]
    table = pd.DataFrame({
        "policy": summary["label"],
        "cost / period (95% CI)": [_pm(m, h) for m, h in zip(summary["cost_mean"], summary["cost_ci95"], strict=True)],
        "vs plan, paired (95% CI)": [_pm(m, h, sign=True) for m, h in zip(summary["vs_plan_mean"],
                                                                          summary["vs_plan_ci95"], strict=True)],
        "vs plan %": [f"{v:+.2f}%" for v in summary["vs_plan_pct"]],
        "above dual bound %": [f"{v:+.1f}%" for v in summary["gap_to_dual_bound_pct"]],
    })
    if bench.optimum is not None:
        table["above optimum %"] = [f"{v:+.2f}%" for v in summary["gap_to_optimum_pct"]]
    lines = ["## Cost per period", "",
             f"{bench.episodes} episodes x {bench.periods} periods (the registered episode length, from the env's "
             f"warm-up), episode j seeded {DEFAULT_EVAL_SEED} + j for every policy (common random numbers); 95% "
             "Student-t intervals over episodes; differences to the plan are paired episode by episode.", "",
             markdown_table(table), "",
             f"Analytic plan ({planned.method}): model cost {planned.cost:.3f} per period, Lagrangian dual bound "
             f"{planned.dual_bound:.3f} (model gap {100 * planned.relative_gap:.3f}%). **The dual bound bounds the "
             "plan's analytic model, not the simulator**: it is a lower bound on the optimal long-run cost of that "
             "model" + (" (exact for this scenario: the Clark-Scarf optimum)." if bench.optimum is not None else
                        ", which approximates the simulator (spill-over, rationing, capacity, lost sales), so the "
                        "'above dual bound' column measures model error as much as suboptimality.")
             + f" The plan's simulated cost is {plan_row['cost_mean']:.3f}.", ""]
    if bench.optimum is not None:
        lines += [f"Exact optimum: {bench.optimum:.3f} per period, the Clark-Scarf cost in the env's end-of-period "
                  "holding convention (the plan is then the optimal echelon base-stock policy; its long-run cost; "
                  "episodes start from the warm-up state, so the simulated optimal policy differs from it by the "
                  "transient and sampling error).", ""]
    else:
        lines += ["Exact optimum: none known for this scenario (the analytic engine is approximate or a relaxation "
                  "here).", ""]
    return lines


def targets_section(bench: Benchmark) -> list[str]:
    rows = targets(bench)
    lines = ["## Quality targets", ""]
    if not rows:
        return [*lines, "The project states targets for Serial-v0 and Network-v0 only.", ""]
    lines += [markdown_table(pd.DataFrame(rows, columns=["target", "measured", "status"])), ""]
    if bench.optimum is not None:
        lines += ["Criterion: the agent's paired excess over the simulated optimal policy (the plan) on the same "
                  "episodes, relative to the optimum, with the upper end of its 95% CI within the target. The raw "
                  "comparison with the optimum also counts the episodes' start-up transient and sampling error, "
                  f"which the optimal policy itself shows ({plan_row_gap(bench):+.2f}%).", ""]
    if bench.optimum is not None and bench.action == "residual":
        lines += ["The residual agents start at the exact optimum (zero residual = the Clark-Scarf policy), so "
                  "here the targets only check that training does not degrade it; `--action direct` trains agents "
                  "that learn from scratch.", ""]
    if bench.quick:
        lines += ["(Quick mode: the budgets are far too small for these targets.)", ""]
    return lines


def fill_rate_section(summary: pd.DataFrame, speeds: list[str]) -> list[str]:
    return ["## Fill rate by speed", "",
            "An episode's fill rate is its units served / units requested over all its periods (requests include "
            "orders spilled in from a faster speed and backlog). Mean over episodes ± 95% Student-t half-width.",
            "", markdown_table(interval_table(summary, "fill_", speeds, 4)), "",
            "Units lost per period by speed (lost sales; 0 under backorders), mean ± 95% CI:", "",
            markdown_table(interval_table(summary, "lost_", speeds, 3)), ""]


def capacity_section(bench: Benchmark) -> list[str]:
    capacity = capacity_table(bench)
    lines = ["## Capacity use against caps", ""]
    for kind, what in (("storage", "mean volume on hand / storage cap"), ("inbound", "mean units received / "
                                                                                     "inbound cap per period")):
        rows = capacity[np.isfinite(capacity[f"{kind}_cap"])]
        if rows.empty:
            lines += [f"No finite {kind} caps.", ""]
            continue
        rows = rows.assign(text=[_pm(m, h, 3) for m, h in zip(rows[f"{kind}_use"], rows[f"{kind}_use_ci95"],
                                                               strict=True)])
        table = rows.pivot(index="node", columns="policy", values="text")
        table = table.loc[list(dict.fromkeys(rows["node"])), [p.name for p in bench.policies]]
        caps = rows.drop_duplicates("node").set_index("node")[f"{kind}_cap"]
        table.insert(0, "cap", caps.loc[table.index])
        lines += [f"{kind.capitalize()} ({what}, mean over episodes ± 95% CI; 1 = at the cap):", "",
                  markdown_table(table.reset_index()), ""]
    return lines


def inventory_section(bench: Benchmark) -> list[str]:
    trajectories = trajectories_table(bench)
    per_echelon = trajectories.groupby(["policy", "echelon", "period"], sort=False)[["on_hand", "in_transit"]].sum()
    means = per_echelon.groupby(["policy", "echelon"], sort=False).mean().unstack("echelon")
    means.columns = [f"echelon {e} {c.replace('_', ' ')}" for c, e in means.columns]
    means = means.loc[[p.name for p in bench.policies]]
    names = trajectories.drop_duplicates("node").groupby("echelon")["node"].apply(lambda s: ", ".join(s))
    return ["## Inventory by echelon", "",
            "Units summed over products and over the echelon's nodes, read from the observations at the start of "
            "each period, averaged over episodes and periods. Echelons: " + "; ".join(
                f"{e}: {nodes}" for e, nodes in names.items()) + ".", "",
            markdown_table(means.reset_index()), ""]


def training_section(bench: Benchmark) -> list[str]:
    if not bench.training:
        return []
    rows = []
    for name, t in bench.training.items():
        residual = t.config.get("action") == "residual"
        keys = ("total_steps", "num_envs", "crn_groups", *(("max_log_multiplier",) if residual else ()), "paths",
                "horizon", "iterations", "learning_rate", "hidden")
        settings = f"action={t.config.get('action', 'direct')}"
        settings += "".join(f", {k}={t.config[k]}" for k in keys if k in t.config)
        algo = t.config.get("algo_kwargs") or {}
        settings += "".join(f", {k}={algo[k]}" for k in ("n_steps", "batch_size", "n_epochs", "learning_rate",
                                                           "gamma") if k in algo)
        policy = t.config.get("policy_kwargs") or {}
        settings += "".join(f", {k}={policy[k]}" for k in ("net_arch", "log_std_init") if k in policy)
        rows.append((name, f"runs/{t.run.name}", f"{t.steps:,}", f"{t.seconds:.1f}", f"{t.steps_per_second:,.0f}",
                     settings))
    return ["## Training", "",
            "Both agents trained at the same time, one process and one torch thread each, on this machine's cores "
            "(the baselines were tuned and evaluated meanwhile). Throughput = env steps / training session seconds "
            "(PPO: env steps collected, updates included; gradient agent: simulated periods x paths, forward and "
            "backward). Learning curves (learning_curves.png) show the cost of the training draws.", "",
            markdown_table(pd.DataFrame(rows, columns=["agent", "run", "env steps", "seconds", "env-steps/s",
                                                       "settings"])), ""]


def write_report(bench: Benchmark, output: Path) -> Path:
    """Write the CSVs, figures and report.md into ``output``; returns the path of report.md."""
    summary = summary_table(bench)
    tables = {"summary.csv": summary, "episodes.csv": episodes_table(bench),
              "trajectories.csv": trajectories_table(bench), "capacity.csv": capacity_table(bench),
              "learning_curves.csv": curves_table(bench)}
    files = [str(output / "meta.json")]
    for name, frame in tables.items():
        frame.to_csv(output / name, index=False, float_format="%.10g")
        files.append(str(output / name))
    title = f"{bench.env_id}: {bench.episodes} episodes x {bench.periods} periods"
    references = {"plan (evaluated)": bench.result("plan").results.cost.mean}
    speeds = metric_names(bench, "fill_rate")
    fill, fill_ci = metric_frame(summary, "fill_", speeds), metric_frame(summary, "fill_", speeds, "_ci95")
    files += [str(plots.cost_plot(summary, output / "cost.png", bench.optimum, title)),
              str(plots.learning_curves_plot(tables["learning_curves.csv"], output / "learning_curves.png",
                                             references)),
              str(plots.inventory_plot(tables["trajectories.csv"], output / "inventory.png")),
              str(plots.fill_rate_plot(fill, output / "fill_rate.png", fill_ci)),
              str(plots.capacity_plot(tables["capacity.csv"], output / "capacity.png"))]
    timing = {**{k: round(v, 2) for k, v in bench.timing.items()},
              "training": {name: {"env_steps": t.steps, "seconds": t.seconds,
                                  "env_steps_per_second": t.steps_per_second} for name, t in bench.training.items()}}
    write_atomic(output / "timing.json", json.dumps(timing, indent=2) + "\n")
    files.append(str(output / "timing.json"))
    report = output / "report.md"
    write_atomic(report, render(bench, summary, files))
    return report
