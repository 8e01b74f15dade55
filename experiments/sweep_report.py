"""The sweep folder's results: ``results.csv`` (one row per trial), ``report.md`` grouped by configuration with the
statistics across seeds (:mod:`experiments.seed_report`), and their figures.

A trial is ``finished`` (its run finished and was evaluated), ``stopped early`` (ASHA stopped it; its last
checkpoint evaluation is reported), ``failed`` (its training crashed on every attempt) or ``unfinished`` (the sweep
was interrupted: ``echelon sweep --resume`` continues it). Finished runs are paired episode by episode with the
analytic plan evaluated on the same episodes (the runs' final evaluations: ``eval_episodes`` episodes seeded
1,000,000 + j, from the run's env warm-up) and grouped by configuration (everything but the seed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from baselines.evaluation import Estimate, estimate
from experiments import plots
from experiments.conventions import DEFAULT_EVAL_SEED
from experiments.evaluate import run_episodes
from experiments.files import write_atomic
from experiments.markdown import markdown_table
from experiments.named_policies import make_named_policy
from experiments.results import EpisodeResults
from experiments.run_config import warmup_periods
from experiments.runs import FINAL_EVAL, FINISHED, META, Run, RunError
from experiments.seed_report import aggregate_frame, curve_bands, runs_frame, seeds_markdown
from experiments.seed_statistics import AcrossSeeds, RunGap, across_seeds, run_gap
from experiments.sweep_config import Sweep, Trial
from experiments.sweep_trial import METRIC, TrialError, evaluations_file, run_name, trial_of

STATUSES = ("finished", "stopped early", "failed", "unfinished")
TRIALS_FILE = "trials.json"


@dataclass(frozen=True)
class TrialRecord:
    """A trial as Ray Tune left it: id, settings, Tune's status, failed attempts, error, wall seconds."""

    trial_id: str
    trial: Trial
    tune_status: str
    failures: int
    error: str
    seconds: float | None

    @classmethod
    def of(cls, tune_trial: Any) -> TrialRecord:
        """From a Tune ``Trial`` (what a Tune callback receives)."""
        last = tune_trial.last_result or {}
        error = ""
        if tune_trial.error_file and Path(tune_trial.error_file).exists():
            lines = [line for line in Path(tune_trial.error_file).read_text().splitlines() if line.strip()]
            error = next((line.split(": ", 1)[1] for line in lines if line.startswith(f"{TrialError.__module__}.")),
                         lines[-1] if lines else "")
        return cls(tune_trial.trial_id, trial_of(tune_trial.config), tune_trial.status, tune_trial.num_failures,
                   error.strip(), last.get("time_total_s"))

    def as_dict(self) -> dict[str, Any]:
        return {"trial_id": self.trial_id, "trial": self.trial.as_dict(), "tune_status": self.tune_status,
                "failures": self.failures, "error": self.error, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        return cls(data["trial_id"], Trial.from_dict(data["trial"]), data["tune_status"], int(data["failures"]),
                   data.get("error") or "", data.get("seconds"))

    def run(self, root: Path) -> Path:
        return root / "runs" / run_name(self.trial, self.trial_id)

    def finished(self, root: Path) -> bool:
        run = self.run(root)
        try:
            return Run(run).status == FINISHED and (run / FINAL_EVAL).exists()
        except RunError:
            return False

    def status(self, root: Path, interrupted: bool) -> str:
        """``failed``, ``finished``, ``stopped early`` (ended by the scheduler) or ``unfinished`` (not started, or
        stopped by an interrupt of the sweep)."""
        if self.tune_status == "ERROR":
            return "failed"
        if self.finished(root):
            return "finished"
        return "stopped early" if self.tune_status == "TERMINATED" and not interrupted else "unfinished"


def configuration_label(trial: Trial) -> str:
    """``gradient residual on Serial-v1, learning_rate=0.01``: a configuration's name in the report."""
    action = f" {trial.action}" if trial.action else ""
    sets = "".join(f", {key}={value}" for key, value in trial.sets.items())
    return f"{trial.algo}{action} on {trial.env_id.split('/')[-1]}{sets}"


def history(root: Path, record: TrialRecord) -> pd.DataFrame:
    """The trial's reported evaluations (empty when it reported none)."""
    path = evaluations_file(root, record.trial_id)
    if not path.exists():
        return pd.DataFrame(columns=["timesteps", METRIC, "eval_ci95", "final"])
    return pd.read_csv(path).drop_duplicates("timesteps", keep="last")


class PlanEvaluations:
    """The analytic plan on a run's evaluation episodes (per env id, episode count and warm-up), computed once."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int, int | None], EpisodeResults] = {}

    def __call__(self, env_id: str, episodes: int, warmup: int | None) -> EpisodeResults:
        key = (env_id, episodes, warmup)
        if key not in self.cache:
            policy = make_named_policy("planner", env_id, DEFAULT_EVAL_SEED)
            self.cache[key] = run_episodes(policy, env_id, episodes, DEFAULT_EVAL_SEED, warmup_periods=warmup,
                                           progress=False)
        return self.cache[key]


def results_table(root: Path, records: list[TrialRecord], plan: PlanEvaluations, interrupted: bool) -> pd.DataFrame:
    """One row per trial: status, settings, seed, last evaluation, paired gap to the plan (finished runs), env
    steps, wall time, attempts, node, run folder, error."""
    rows = []
    for record in records:
        trial, run, status = record.trial, record.run(root), record.status(root, interrupted)
        evaluations = history(root, record)
        last = evaluations.iloc[-1] if len(evaluations) else None
        row: dict[str, Any] = {"trial_id": record.trial_id, "status": status,
                               "configuration": configuration_label(trial), "env_id": trial.env_id,
                               "algo": trial.algo, "action": trial.action or "", "seed": trial.seed, **trial.sets,
                               "eval_cost_per_period": np.nan, "eval_ci95": np.nan, "vs_plan": np.nan,
                               "vs_plan_ci95": np.nan, "vs_plan_pct": np.nan, "vs_plan_pct_ci95": np.nan,
                               "timesteps": np.nan, "evaluations": int((evaluations.get("final") == False).sum())  # noqa: E712
                               if len(evaluations) else 0}
        if last is not None:
            row.update(eval_cost_per_period=float(last[METRIC]), eval_ci95=float(last["eval_ci95"]),
                       timesteps=int(last["timesteps"]))
        if status == "finished":  # the final evaluation (Tune may have stopped the trial before it reported it)
            gap = _gap(run, plan)
            final = final_costs(run)
            row.update(eval_cost_per_period=final.mean, eval_ci95=final.half_width,
                       timesteps=int(json.loads((run / FINAL_EVAL).read_text())["model_timesteps"]))
            row.update(vs_plan=gap.gap, vs_plan_ci95=gap.gap_ci95, vs_plan_pct=gap.gap_pct,
                       vs_plan_pct_ci95=gap.gap_pct_ci95)
        row.update(wall_s=record.seconds, attempts=record.failures + (status != "failed"),
                   node=str(last["node"]) if last is not None and "node" in last else "",
                   run=str(run.relative_to(root)) if run.exists() else "", error=record.error)
        rows.append(row)
    return pd.DataFrame(rows)


def final_costs(run: Path) -> Estimate:
    """The per-episode costs of a finished run's final evaluation."""
    return estimate(np.asarray(json.loads((run / FINAL_EVAL).read_text())["episode_cost_per_period"]))


def _gap(run: Path, plan: PlanEvaluations) -> RunGap:
    config = Run(run).load_config()
    costs = final_costs(run)
    reference = plan(config["env_id"], len(costs.replicas), warmup_periods(config)).cost
    return run_gap(int(config["seed"]), config["env_id"], costs, reference)


def configuration_statistics(root: Path, records: list[TrialRecord], plan: PlanEvaluations) -> dict[str, AcrossSeeds]:
    """Per configuration with finished runs: the runs' paired gaps to the plan and their statistics across seeds."""
    groups: dict[str, list] = {}
    for record in records:
        if record.tune_status != "ERROR" and record.finished(root):
            groups.setdefault(configuration_label(record.trial), []).append(_gap(record.run(root), plan))
    return {label: across_seeds(sorted(gaps, key=lambda gap: gap.seed)) for label, gaps in groups.items()}


def curves_frame(root: Path, records: list[TrialRecord]) -> pd.DataFrame:
    """Every trial's evaluations: group (configuration), seed, timesteps, evaluation cost per period."""
    frames = [history(root, record)[["timesteps", METRIC]].assign(group=configuration_label(record.trial),
                                                                   seed=record.trial.seed) for record in records]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(columns=["group", "seed", "timesteps", "mean_cost_per_period"])
    return pd.concat(frames).rename(columns={METRIC: "mean_cost_per_period"})[
        ["group", "seed", "timesteps", "mean_cost_per_period"]]


def load_records(root: Path) -> list[TrialRecord]:
    """The trials as :class:`experiments.sweep_callback.TrialRecorder` left them (none if it has not written)."""
    path = root / TRIALS_FILE
    return [TrialRecord.from_dict(data) for data in json.loads(path.read_text())] if path.exists() else []


def write_sweep_report(root: Path, sweep: Sweep, records: list[TrialRecord],
                       interrupted: bool = False) -> tuple[Path, dict[str, int]]:
    """Write results.csv, seeds.csv, aggregate.csv, the figures and report.md into the sweep folder; returns
    report.md and the number of trials in each status."""
    plan = PlanEvaluations()
    table = results_table(root, records, plan, interrupted)
    groups = configuration_statistics(root, records, plan)
    curves = curves_frame(root, records)
    table.to_csv(root / "results.csv", index=False, float_format="%.10g")
    runs_frame(groups).to_csv(root / "seeds.csv", index=False, float_format="%.10g")
    aggregate_frame(groups).to_csv(root / "aggregate.csv", index=False, float_format="%.10g")
    figures = []
    if groups:
        figures.append(plots.seeds_plot(runs_frame(groups), root / "seeds.png", "plan", "sweep: every finished run"))
    if len(curves):
        figures.append(plots.learning_curves_plot(curves, curve_bands(curves), root / "learning_curves.png", {},
                                                  ylabel="evaluation cost per period"))
    report = root / "report.md"
    write_atomic(report, render(root, sweep, table, groups, figures))
    return report, status_counts(table)


def status_counts(table: pd.DataFrame) -> dict[str, int]:
    return {status: int((table["status"] == status).sum()) if len(table) else 0 for status in STATUSES}


def render(root: Path, sweep: Sweep, table: pd.DataFrame, groups: dict[str, AcrossSeeds],
           figures: list[Path]) -> str:
    meta = json.loads((root / META).read_text())
    counts = status_counts(table)
    sessions = meta.get("sessions", [])
    mode = ("grid" if sweep.search is None else f"search (Optuna TPE, {sweep.search.trials} trials, ASHA grace "
            f"{sweep.search.grace_period}, reduction {sweep.search.reduction_factor})")
    lines = [f"# Sweep: {root.name}", "",
             f"{len(table)} trials ({', '.join(f'{n} {s}' for s, n in counts.items())}); {mode}; "
             f"{sweep.cpus_per_trial} CPU(s) per trial; each evaluation {sweep.eval_episodes} episodes seeded "
             f"{DEFAULT_EVAL_SEED} + j. Git {meta.get('git', {}).get('revision', '?')[:12]}"
             f"{' (uncommitted changes)' if meta.get('git', {}).get('dirty') else ''}, "
             f"{datetime.now():%Y-%m-%d %H:%M}, {meta.get('cpu_count', '?')} cores on {meta.get('hostname', '?')}.", "",
             "Sessions: " + "; ".join(f"`{s['command']}` ({s.get('address')}, Ray started in "
                                      f"{s.get('ray_startup_seconds', '?')} s, {s.get('ray_cpus', '?')} CPUs)"
                                      for s in sessions) + ".", ""]
    lines += ["## Configurations across seeds", ""]
    if groups:
        lines += seeds_markdown(groups, "plan")
    else:
        lines += ["No finished runs yet.", ""]
    shown = table[["trial_id", "status", "configuration", "seed", "eval_cost_per_period", "vs_plan_pct", "wall_s",
                   "attempts", "run"]] if len(table) else table
    lines += ["## Trials", "",
              "The last evaluation of each trial (its final policy when finished, its last checkpoint when stopped "
              "early), the paired gap to the plan of finished runs, the trial's wall time (all attempts) and how "
              "many attempts it took. Every column is in results.csv.", "",
              markdown_table(shown) if len(table) else "No trials.", ""]
    failed = table[table["status"] == "failed"] if len(table) else table
    if len(failed):
        lines += ["## Failed trials", "", *[f"- `{row.trial_id}` ({row.attempts} attempts): {row.error}"
                                            for row in failed.itertuples()], ""]
    lines += ["## Files", "", "- `results.csv`: one row per trial", "- `seeds.csv`, `aggregate.csv`: the finished "
              "runs and their statistics per configuration", *[f"- `{f.name}`" for f in figures],
              "- `runs/`: one `echelon train` run folder per trial (evaluate or compare them like any run)",
              "- `evaluations/`: each trial's reported evaluations", "- `logs/`: the trainings' console output",
              "- `tune/`: Ray Tune's state (`echelon sweep --resume` continues from it)",
              "- `sweep.yaml`, `meta.json`: the sweep as run, and its sessions", ""]
    return "\n".join(lines)

