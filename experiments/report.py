"""The benchmark report folder: report.md, PNG figures (:mod:`experiments.plots`) and the raw CSVs.

Every learned agent's runs (one per training seed) are reported one by one and across seeds
(:mod:`experiments.seed_report`). Deterministic files (equal on a rerun with the same seeds): summary.csv,
episodes.csv, seeds.csv, aggregate.csv, trajectories.csv, capacity.csv, learning_curves.csv,
learning_curve_bands.csv. Timings and throughput are in timing.json and report.md only.
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
from experiments.markdown import markdown_table, plus_minus
from experiments.results import Benchmark
from experiments.seed_report import aggregate_frame, curve_bands, runs_frame, seeds_markdown
from experiments.seed_statistics import AcrossSeeds, across_seeds, format_interval, run_gap

# The project's quality targets, checked in every report:
SERIAL_TARGETS = {"ppo": 0.03, "gradient": 0.005}  # relative excess over the Clark-Scarf optimum
NETWORK_IMPROVEMENT = 0.03  # the best learned agent beats the plan by at least this
THROUGHPUT_TARGETS = {"ppo": 20_000, "gradient": 500_000}  # env-steps/s on Network-v0


def vs_plan(bench: Benchmark, name: str) -> Estimate:
    """Paired difference cost(name) - cost(plan), episode by episode."""
    return paired_difference(bench.result(name).results.cost, bench.result("plan").results.cost)


def agent_group(bench: Benchmark, agent: str) -> str:
    """An agent's name in the tables across seeds: its runs' label without the seed."""
    return bench.runs(agent)[0].label.rsplit(", seed", 1)[0]


def agent_statistics(bench: Benchmark) -> dict[str, AcrossSeeds]:
    """Per learned agent (by :func:`agent_group`): its runs' paired gaps to the plan and their statistics."""
    plan_cost = bench.result("plan").results.cost
    return {agent_group(bench, agent): across_seeds([run_gap(run.seed, bench.env_id, run.results.cost, plan_cost)
                                                     for run in bench.runs(agent)]) for agent in bench.agents}


def summary_table(bench: Benchmark) -> pd.DataFrame:
    plan_cost = bench.result("plan").results.cost.mean
    rows = []
    for p in bench.policies:
        cost, delta = p.results.cost, vs_plan(bench, p.name)
        row = {"policy": p.name, "label": p.label, "agent": p.agent or "", "seed": p.seed,
               "cost_mean": cost.mean, "cost_ci95": cost.half_width,
               "vs_plan_mean": delta.mean, "vs_plan_ci95": delta.half_width,
               "vs_plan_pct": 100 * delta.mean / plan_cost,
               **{k: np.nan if v is None else v for k, v in plan_gaps(cost.mean, bench.plan).items()},
               **(bench.hindsight.gap_columns(cost.replicas) if bench.hindsight is not None else {})}
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
    table = pd.DataFrame({name: [plus_minus(m, h, digits) for m, h in zip(means[name], halves[name], strict=True)]
                          for name in names}, index=means.index)
    return table.rename_axis("policy").reset_index()


def episodes_table(bench: Benchmark) -> pd.DataFrame:
    """Every policy's cost per period on every episode and, on the episodes it was solved for, the hindsight bound
    and its unavoidable part (empty elsewhere), so every paired gap of the report can be recomputed from this file."""
    frames = []
    for p in bench.policies:
        episodes = p.results.episodes
        bound, unavoidable = np.full(episodes, np.nan), np.full(episodes, np.nan)
        if bench.hindsight is not None:
            solved = bench.hindsight.episodes
            bound[:solved] = bench.hindsight.bounds.cost_per_period
            unavoidable[:solved] = bench.hindsight.bounds.unavoidable_per_period
        frames.append(pd.DataFrame({"policy": p.name, "episode": np.arange(episodes),
                                    "seed": DEFAULT_EVAL_SEED + np.arange(episodes),
                                    "cost_per_period": p.results.cost.replicas, "hindsight_bound": bound,
                                    "hindsight_unavoidable": unavoidable}))
    return pd.concat(frames)


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
    """Every run's learning curve: group (the agent), seed, timesteps, mean cost per period of the training draws."""
    columns = ["group", "seed", "timesteps", "mean_cost_per_period"]
    if not bench.training:
        return pd.DataFrame(columns=columns)
    return pd.concat([t.curve.assign(group=agent_group(bench, t.agent), seed=t.seed)
                      for t in bench.training.values()])[columns]


# Quality targets ------------------------------------------------------------------------------------
def targets(bench: Benchmark) -> list[tuple[str, str, str]]:
    """(target, measured, met) rows for the quality targets that apply to this env id, judged across seeds: the
    mean over an agent's runs of the paired gap to the plan, with its 95% bootstrap interval over episodes and
    runs (:mod:`experiments.seed_statistics`)."""
    rows: list[tuple[str, str, str]] = []
    short = bench.env_id.split("/")[-1]
    groups = {agent: stats for agent, stats in zip(bench.agents, agent_statistics(bench).values(), strict=True)}
    if short.startswith("Serial") and bench.optimum is not None:
        for agent, limit in SERIAL_TARGETS.items():
            if agent not in groups:
                continue
            stats = groups[agent]
            upper = stats.mean.high if not np.isnan(stats.mean.high) else stats.mean.point
            rows.append((f"{agent}: within {100 * limit:g}% of the Clark-Scarf optimum ({bench.optimum:.3f})",
                         f"paired excess over the optimal policy, mean over {len(stats.runs)} seeds "
                         f"{format_interval(stats.mean, unit='%')}; worst seed {stats.worst.seed}: "
                         f"{stats.worst.gap_pct:+.2f}%", _yes(upper <= 100 * limit)))
    if short.startswith("Network-") and groups:
        best = min(groups, key=lambda agent: groups[agent].mean.point)
        stats = groups[best]
        excludes_zero = not np.isnan(stats.mean.high) and stats.mean.high < 0
        rows.append((f"best learned agent beats the plan by >= {100 * NETWORK_IMPROVEMENT:g}% (mean over seeds), "
                     "95% bootstrap CI excluding zero",
                     f"{best}: mean gap {format_interval(stats.mean, unit='%')} over {len(stats.runs)} seeds, "
                     f"P(seed beats plan) {stats.improvement.point:.2f}, worst seed {stats.worst.seed}: "
                     f"{stats.worst.gap_pct:+.2f}%",
                     _yes(-stats.mean.point >= 100 * NETWORK_IMPROVEMENT and excludes_zero)))
        cost = float(np.mean([run.cost for run in stats.runs]))
        rows.append(("gap to the plan's dual bound (bounds the analytic model, not the simulator)",
                     f"{best}: {cost:.3f} (mean over seeds) vs bound {bench.plan.dual_bound:.3f} "
                     f"({plan_gaps(cost, bench.plan)['gap_to_dual_bound_pct']:+.1f}%)", "reported"))
        for agent, target in THROUGHPUT_TARGETS.items():
            rates = [t.steps_per_second for t in bench.training.values() if t.agent == agent]
            if rates:
                rows.append((f"{agent} training throughput >= {target:,} env-steps/s",
                             f"{np.mean(rates):,.0f} env-steps/s (mean over {len(rates)} runs)",
                             _yes(np.mean(rates) >= target)))
    return rows


def plan_row_gap(bench: Benchmark) -> float:
    return plan_gaps(bench.result("plan").results.cost.mean, bench.plan)["gap_to_optimum_pct"]


def _yes(flag: bool) -> str:
    return "**met**" if flag else "**not met**"


def render(bench: Benchmark, summary: pd.DataFrame, files: list[str]) -> str:
    """report.md: one section after the other."""
    meta = json.loads((Path(files[0]).parent / "meta.json").read_text()) if files else {}
    speeds = metric_names(bench, "fill_rate")
    sections = [
        header_section(bench, meta),
        cost_section(bench, summary),
        seeds_section(bench),
        targets_section(bench),
        fill_rate_section(summary, speeds),
        capacity_section(bench),
        inventory_section(bench),
        ["## Cost breakdown per period", "", "Mean over episodes ± 95% Student-t half-width.", "",
         markdown_table(interval_table(summary, "cost_", metric_names(bench, "cost"), 3)), "",
         *([f"Of the penalties, {bench.hindsight.summary()['unavoidable_per_period']:.3f} per period is unavoidable "
            "(orders no node can serve in time; the same for every policy, measured on the first "
            f"{bench.hindsight.episodes} episodes).", ""] if bench.hindsight is not None else [])],
        training_section(bench),
        ["## Notes", "", *[f"- {note}" for note in bench.notes], ""] if bench.notes else [],
        ["## Files", "", *[f"- `{Path(f).name}`" for f in files[1:]], "- `runs/`: the training run folders, one "
         "per agent and seed (config, command, git revision, versions, metrics, checkpoints, policy)",
         "- `logs/`: their console output", ""],
    ]
    return "\n".join(line for section in sections for line in section)


def header_section(bench: Benchmark, meta: dict) -> list[str]:
    lines = [f"# Benchmark: {bench.env_id}{' (quick)' if bench.quick else ''}", ""]
    lines += [f"{resolve_scenario(env_scenario(bench.env_id)).description}", "",
              f"Command `{meta.get('command', '')}`, git {meta.get('git', {}).get('revision', '?')[:12]}"
              f"{' (uncommitted changes)' if meta.get('git', {}).get('dirty') else ''}, "
              f"{datetime.now():%Y-%m-%d %H:%M}; wall time {bench.timing.get('total_s', float('nan')):.0f} s on "
              f"{meta.get('cpu_count', '?')} cores. Learned agents ({bench.action}) trained {len(bench.seeds)} times "
              f"each, training seeds {', '.join(map(str, bench.seeds))}.", ""]
    if bench.quick:
        lines += ["**Quick mode: tiny training budgets. This is a smoke test of the pipeline, not a result.**", ""]
    return lines


def cost_section(bench: Benchmark, summary: pd.DataFrame) -> list[str]:
    planned, plan_row = bench.plan, summary[summary["policy"] == "plan"].iloc[0]
    table = pd.DataFrame({
        "policy": summary["label"],
        "cost / period (95% CI)": [plus_minus(m, h) for m, h in zip(summary["cost_mean"], summary["cost_ci95"],
                                                                    strict=True)],
        "vs plan, paired (95% CI)": [plus_minus(m, h, sign=True) for m, h in zip(summary["vs_plan_mean"],
                                                                          summary["vs_plan_ci95"], strict=True)],
        "vs plan %": [f"{v:+.2f}%" for v in summary["vs_plan_pct"]],
        "above dual bound %": [f"{v:+.1f}%" for v in summary["gap_to_dual_bound_pct"]],
    })
    if bench.hindsight is not None:
        table["above hindsight bound % (avoidable part)"] = [
            f"{plus_minus(m, h, sign=True)}% ({a:+.1f}%)" for m, h, a in zip(
                summary["gap_to_hindsight_pct"], summary["gap_to_hindsight_pct_ci95"],
                summary["gap_to_hindsight_avoidable_pct"], strict=True)]
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
    if bench.hindsight is not None:
        lines += [bench.hindsight.describe() + " The gaps to it are paired on those episodes, in percent of the "
                  "bound and, in brackets, of its avoidable part (the bound minus the unavoidable penalty).", ""]
    if bench.optimum is not None:
        lines += [f"Exact optimum: {bench.optimum:.3f} per period, the Clark-Scarf cost in the env's end-of-period "
                  "holding convention (the plan is then the optimal echelon base-stock policy; its long-run cost; "
                  "episodes start from the warm-up state, so the simulated optimal policy differs from it by the "
                  "transient and sampling error).", ""]
    else:
        lines += ["Exact optimum: none known for this scenario (the analytic engine is approximate or a relaxation "
                  "here).", ""]
    return lines


def seeds_section(bench: Benchmark) -> list[str]:
    if not bench.agents:
        return []
    return ["## Across training seeds", "",
            f"Every learned agent was trained {len(bench.seeds)} times (seeds {', '.join(map(str, bench.seeds))}) and "
            "each run evaluated on the same episodes as the plan. The figure seeds.png shows every run.", "",
            *seeds_markdown(agent_statistics(bench), "plan")]


def targets_section(bench: Benchmark) -> list[str]:
    rows = targets(bench)
    lines = ["## Quality targets", ""]
    if not rows:
        return [*lines, "The project states targets for Serial and Network only.", ""]
    lines += [markdown_table(pd.DataFrame(rows, columns=["target", "measured", "status"])), ""]
    if bench.optimum is not None:
        lines += ["Criterion: the agent's paired excess over the simulated optimal policy (the plan) on the same "
                  "episodes, in percent of that policy's simulated cost, averaged over the training seeds, with the "
                  "upper end of its 95% bootstrap interval over episodes and seeds within the target. The raw "
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
        rows = rows.assign(text=[plus_minus(m, h, 3) for m, h in zip(rows[f"{kind}_use"], rows[f"{kind}_use_ci95"],
                                                               strict=True)])
        table = rows.pivot(index="policy", columns="node", values="text")
        nodes = list(dict.fromkeys(rows["node"]))
        table = table.loc[[p.name for p in bench.policies], nodes]
        caps = rows.drop_duplicates("node").set_index("node")[f"{kind}_cap"]
        table = pd.concat([pd.DataFrame([[f"{caps[node]:g}" for node in nodes]], index=["cap"], columns=nodes),
                           table])
        lines += [f"{kind.capitalize()} ({what}, mean over episodes ± 95% CI; 1 = at the cap):", "",
                  markdown_table(table.rename_axis("policy").reset_index()), ""]
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
        settings = f"action={t.config.get('action', 'direct')}, network={t.config.get('network', 'mlp')}"
        settings += "".join(f", {k}={t.config[k]}" for k in keys if k in t.config)
        algo = t.config.get("algo_kwargs") or {}
        settings += "".join(f", {k}={algo[k]}" for k in ("n_steps", "batch_size", "n_epochs", "learning_rate",
                                                           "gamma") if k in algo)
        policy = t.config.get("policy_kwargs") or {}
        settings += "".join(f", {k}={policy[k]}" for k in ("net_arch", "log_std_init") if k in policy)
        rows.append((name, f"runs/{t.run.name}", f"{t.steps:,}", f"{t.seconds:.1f}", f"{t.steps_per_second:,.0f}",
                     settings))
    workers = bench.timing.get("workers")
    return ["## Training", "",
            f"Every run trained in its own `echelon train` process with one torch thread, "
            f"{'at most ' + str(int(workers)) + ' at a time' if workers else 'several at a time'} (the baselines "
            "were tuned and evaluated meanwhile, and each run as soon as it finished). Throughput = env steps / "
            "training session seconds (PPO: env steps collected, updates included; gradient agent: simulated periods "
            "x paths, forward and backward). Learning curves (learning_curves.png) show the cost of the training "
            "draws: every run, and the mean over runs with its 95% bootstrap band.", "",
            markdown_table(pd.DataFrame(rows, columns=["run", "folder", "env steps", "seconds", "env-steps/s",
                                                       "settings"])), ""]


def write_report(bench: Benchmark, output: Path) -> Path:
    """Write the CSVs, figures and report.md into ``output``; returns the path of report.md."""
    summary = summary_table(bench)
    groups = agent_statistics(bench)
    curves = curves_table(bench)
    tables = {"summary.csv": summary, "episodes.csv": episodes_table(bench), "seeds.csv": runs_frame(groups),
              "aggregate.csv": aggregate_frame(groups), "trajectories.csv": trajectories_table(bench),
              "capacity.csv": capacity_table(bench), "learning_curves.csv": curves,
              "learning_curve_bands.csv": curve_bands(curves)}
    files = [str(output / "meta.json")]
    for name, frame in tables.items():
        frame.to_csv(output / name, index=False, float_format="%.10g")
        files.append(str(output / name))
    title = f"{bench.env_id}: {bench.episodes} episodes x {bench.periods} periods"
    references = {"plan (evaluated)": bench.result("plan").results.cost.mean}
    speeds = metric_names(bench, "fill_rate")
    fill, fill_ci = metric_frame(summary, "fill_", speeds), metric_frame(summary, "fill_", speeds, "_ci95")
    files += [str(plots.cost_plot(summary, output / "cost.png", bench.optimum, title))]
    if groups:
        files += [str(plots.seeds_plot(tables["seeds.csv"], output / "seeds.png", "plan",
                                       f"{title}: every training seed")),
                  str(plots.learning_curves_plot(curves, tables["learning_curve_bands.csv"],
                                                 output / "learning_curves.png", references))]
    files += [str(plots.inventory_plot(tables["trajectories.csv"], output / "inventory.png")),
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
