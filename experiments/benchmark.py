"""``echelon benchmark``: the analytic plan, its tuned version, the naive references and the learned agents on
one env id, evaluated together with common random numbers; writes a report folder (:mod:`experiments.report`).

Each learned agent (PPO and the gradient agent, residual on the plan by default) is trained ``seeds`` times, with
the training seeds of :func:`experiments.seeds.training_seeds`, in ``echelon train`` child processes
(:mod:`experiments.train_process`, one core each, as many at once as the machine has cores, the longest first)
into ``OUTPUT/runs/<agent>-seed<seed>``, with the budgets of their hyperparameter files
(``agents/hyperparams/{ppo,gradient}.yaml``, the env id's entry and its ``residual`` section), or tiny budgets with
``quick``. Meanwhile the plan is computed, tuned (fixed tuning seeds) and the baselines are evaluated, then every
run as soon as it finishes. Every policy is evaluated on the same episodes: episode j seeded 1,000,000 + j, the
registered episode length, from the env's warm-up. Nothing else is random, so a rerun with the same seeds gives
the same numbers (only timings differ).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm

from agents.config import check_env_id
from baselines.evaluation import Policy
from baselines.naive import constant_order_reference, newsvendor_reference
from baselines.planner import exact_optimum, plan
from baselines.tuning import tune
from envs import env_scenario
from experiments.conventions import DEFAULT_EVAL_SEED, TUNING_SEED
from experiments.evaluate import episode_length, eval_scenario, run_episodes
from experiments.files import write_atomic
from experiments.hindsight_bound import default_bound_episodes, episode_bounds
from experiments.loading import LoadedRun, load_run
from experiments.provenance import base_meta, now_iso
from experiments.recorder import StockRecorder
from experiments.report import write_report
from experiments.residual_plan import load_plan_levels
from experiments.results import Benchmark, PolicyResult, Training
from experiments.runs import META, METRICS, RunError
from experiments.seeds import training_seeds
from experiments.train_process import TrainingJob, TrainingPool, train_command

EPISODES, QUICK_EPISODES = 100, 16
QUICK_TRAIN = {
    "ppo": ["--total-steps", "1024", "--num-envs", "8", "--checkpoint-every", "512", "--set", "algo_kwargs.n_steps=64",
            "--set", "algo_kwargs.batch_size=256", "--set", "algo_kwargs.n_epochs=1", "--set", "metrics_every=256"],
    "gradient": ["--set", "iterations=4", "--set", "paths=8", "--set", "horizon=20", "--set", "checkpoint_every=2"],
}
QUICK_TUNING = {"num_envs": 4, "periods": 20, "warmup": 10}
AGENTS = ("ppo", "gradient")  # in the order their runs start (the longer first)
AGENT_LABELS = {"ppo": "PPO", "gradient": "gradient agent"}
SEEDS, QUICK_SEEDS = 5, 2


def default_output(env_id: str, seed: int, quick: bool) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{env_id.split('/')[-1]}-seed{seed}{'-quick' if quick else ''}-{stamp}"


def available_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_name(algo: str, seed: int) -> str:
    return f"{algo}-seed{seed}"


def train_args(algo: str, env_id: str, seed: int, action: str, runs_dir: Path, quick: bool) -> list[str]:
    """The ``echelon train`` arguments of one learned agent's run (evaluation is left to the benchmark)."""
    return ["--env-id", env_id, "--algo", algo, "--seed", str(seed), "--action", action, "--runs-dir", str(runs_dir),
            "--run-name", run_name(algo, seed), "--set", "eval_episodes=0", *(QUICK_TRAIN[algo] if quick else [])]


def training_jobs(env_id: str, seeds: list[int], action: str, output: Path, quick: bool) -> list[TrainingJob]:
    """Every agent's run for every seed, in the order they start (agent by agent, then seed by seed)."""
    runs = (output / "runs").resolve()
    return [TrainingJob(run_name(algo, seed), train_command(train_args(algo, env_id, seed, action, runs, quick)),
                        output / "logs" / f"train-{run_name(algo, seed)}.log", runs / run_name(algo, seed))
            for algo in AGENTS for seed in seeds]


def training_progress(run: Path) -> tuple[int, int | None]:
    """(env steps recorded in metrics.csv, planned env steps) of a run folder being trained."""
    try:
        config = yaml.safe_load((run / "config.yaml").read_text())
        total = (int(config["iterations"]) * int(config["paths"]) * int(config["horizon"])
                 if config["algo"] == "gradient" else int(config["total_steps"]))
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return 0, None
    try:
        done = int(pd.read_csv(run / "metrics.csv")["timesteps"].iloc[-1])
    except (OSError, KeyError, IndexError, ValueError, pd.errors.EmptyDataError):
        done = 0
    return done, total


class TrainingBars:
    """One progress bar per agent: env steps over all its runs (from their metrics.csv)."""

    def __init__(self, jobs: list[TrainingJob], progress: bool | None) -> None:
        self.jobs = jobs
        disable = None if progress is None else not progress
        self.bars = {algo: tqdm(desc=f"train {algo}", unit="step", leave=False, disable=disable) for algo in AGENTS}

    def update(self) -> None:
        for algo, bar in self.bars.items():
            done, total = 0, 0
            for job in self.jobs:
                if job.name.startswith(f"{algo}-"):
                    steps, planned = training_progress(job.run)
                    done, total = done + steps, total + (planned or 0)
            bar.total = total or None
            bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def load_training(name: str, agent: str, seed: int, loaded: LoadedRun) -> Training:
    meta = loaded.run.load_meta()
    result = meta.get("result") or {}
    curve = pd.read_csv(loaded.run.file(METRICS))[["timesteps", "mean_cost_per_period"]]
    return Training(name, agent, seed, loaded.run.path, int(result.get("timesteps", loaded.timesteps)),
                    float(result.get("session_seconds", float("nan"))), float(result.get("session_fps", float("nan"))),
                    curve, loaded.config)


def evaluate_policy(name: str, label: str, policy: Policy, bench: Benchmark, progress: bool | None = None,
                    agent: str | None = None, seed: int | None = None) -> PolicyResult:
    """``policy`` on the benchmark's common episodes (every policy from the scenario's warm-up state)."""
    recorder = StockRecorder(policy, bench.plan.params, bench.periods)
    results = run_episodes(recorder, bench.env_id, bench.episodes, DEFAULT_EVAL_SEED, None, bench.periods,
                           progress=progress)
    return PolicyResult(name, label, results, recorder.frame(), agent, seed)


def evaluate_agent(name: str, label: str, loaded: LoadedRun, bench: Benchmark, progress: bool | None = None,
                   agent: str | None = None, seed: int | None = None) -> PolicyResult:
    """A trained agent on the common episodes, like the baselines (so the episodes pair); a note says when it was
    trained with another env warm-up than the scenario's."""
    default = eval_scenario(bench.env_id).warmup_periods
    if loaded.warmup_periods is not None and int(loaded.warmup_periods) != default:
        bench.notes.append(f"{name} was trained with warmup_periods={loaded.warmup_periods}; it is evaluated, like "
                           f"every policy, from the scenario's warm-up ({default} periods)")
    return evaluate_policy(name, label, loaded.policy, bench, progress, agent, seed)


def run_benchmark(env_id: str, seed: int = 0, *, seeds: int | None = None, quick: bool = False,
                  action: str = "residual", episodes: int | None = None, output: str | Path | None = None,
                  progress: bool | None = None, argv: list[str] | None = None, workers: int | None = None) -> Path:
    """Run the benchmark and write its report folder; returns the path of ``report.md``. ``seeds`` runs per agent
    (default 5, 2 with ``quick``) from training seed ``seed`` on, ``workers`` trainings at once (default: the
    CPUs this process may use)."""
    scenario = env_scenario(check_env_id(env_id))
    output = create_output(Path(output) if output is not None else default_output(env_id, seed, quick))
    started = time.perf_counter()
    episodes = episodes or (QUICK_EPISODES if quick else EPISODES)
    seed_list = training_seeds(seed, seeds or (QUICK_SEEDS if quick else SEEDS))
    workers = workers or available_cpus()
    meta = write_config_and_meta(output, env_id, seed_list, quick, action, episodes, workers, argv or sys.argv)
    jobs = training_jobs(env_id, seed_list, action, output, quick)
    pool = TrainingPool(jobs, workers)
    pool.poll()
    bars = TrainingBars(jobs, progress)
    try:
        with tqdm(total=7 + len(jobs), desc="benchmark", unit="stage",
                  disable=None if progress is None else not progress) as bar:
            bench = evaluate_baselines(env_id, scenario, seed_list, quick, action, episodes, bar)
            clock = time.perf_counter()
            bench.hindsight = episode_bounds(env_id, default_bound_episodes(env_id, episodes, quick),
                                             DEFAULT_EVAL_SEED, bench.periods)
            bench.timing["hindsight_s"] = time.perf_counter() - clock
            bar.update(1)
            clock = time.perf_counter()
            evaluate_agents(bench, pool, bars, bar)
            bench.timing["training_and_agent_evaluation_s"] = time.perf_counter() - clock
    except BaseException:
        pool.stop()
        raise
    finally:
        bars.close()
    bench.timing["total_s"] = time.perf_counter() - started
    report = write_report(bench, output)
    meta.update(end_time=now_iso(), result={"report": str(report), "wall_seconds": round(bench.timing["total_s"], 1)})
    write_atomic(output / META, json.dumps(meta, indent=2, default=str) + "\n")
    return report


def create_output(output: Path) -> Path:
    """The new report folder (an existing one is refused: a report is never overwritten)."""
    if output.exists():
        raise RunError(f"{output} already exists; a report folder is never overwritten (choose another --output)")
    try:
        output.mkdir(parents=True)
    except OSError as error:
        raise RunError(f"cannot create the report folder {output}: {error}") from error
    return output


def write_config_and_meta(output: Path, env_id: str, seeds: list[int], quick: bool, action: str, episodes: int,
                          workers: int, argv: list[str]) -> dict:
    """``config.yaml`` (what was asked) and the opening ``meta.json`` (where it runs); returns the meta."""
    config = {"env_id": env_id, "seeds": seeds, "quick": quick, "action": action, "episodes": episodes,
              "eval_seed": DEFAULT_EVAL_SEED, "tuning_seed": TUNING_SEED, "workers": workers,
              "tuning": QUICK_TUNING if quick else "baselines.tuning.tune defaults",
              "train_commands": {run_name(a, s): ["echelon", "train", *train_args(a, env_id, s, action, Path("runs"),
                                                                                  quick)]
                                 for a in AGENTS for s in seeds}}
    write_atomic(output / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    meta = {**base_meta({"env_id": env_id, "algo": "benchmark", "seed": seeds}), "command": " ".join(argv)}
    write_atomic(output / META, json.dumps(meta, indent=2, default=str) + "\n")
    return meta


def evaluate_baselines(env_id: str, scenario: str, seeds: list[int], quick: bool, action: str, episodes: int,
                       bar: tqdm) -> Benchmark:
    """The plan, its tuned version and the naive references, evaluated on the common episodes (while the agents
    train)."""
    clock = time.perf_counter()
    planned = plan(scenario)
    bench = Benchmark(env_id, seeds, quick, action, episodes, episode_length(env_id), planned, exact_optimum(planned))
    bench.timing["plan_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    tuned = tune(planned, env_id, seed=TUNING_SEED, **(QUICK_TUNING if quick else {}))
    bench.timing["tune_s"] = time.perf_counter() - clock
    bar.update(2)
    clock = time.perf_counter()
    baselines = [("plan", "analytic plan", planned.policy()),
                 ("tuned", "tuned base stock", tuned.policy),
                 ("newsvendor", "newsvendor reference", newsvendor_reference(scenario)),
                 ("constant", "constant-order reference", constant_order_reference(scenario))]
    for name, label, policy in baselines:
        bench.policies.append(evaluate_policy(name, label, policy, bench))
        bar.update(1)
    bench.timing["evaluate_baselines_s"] = time.perf_counter() - clock
    bench.notes.append("tuned factors (node kind, product class): " + ", ".join(
        f"{kind}/{cls} {factor:g}" for (kind, cls), factor in tuned.factors.items()))
    return bench


def agent_label(algo: str, action: str, seed: int) -> str:
    return f"{AGENT_LABELS[algo]}{' (residual)' if action == 'residual' else ''}, seed {seed}"


def evaluate_agents(bench: Benchmark, pool: TrainingPool, bars: TrainingBars, bar: tqdm) -> None:
    """Each run as soon as it finishes, on the common episodes, with its training record; then in a fixed order."""
    evaluated: dict[str, PolicyResult] = {}
    runs = {run_name(algo, seed): (algo, seed) for algo in ("ppo", "gradient") for seed in bench.seeds}
    while True:
        for job in pool.poll():
            algo, seed = runs[job.name]
            loaded = load_run(job.run)
            if loaded.config.get("action") == "residual" and not np.allclose(
                    load_plan_levels(loaded.run), bench.plan.echelon_levels):
                bench.notes.append(f"{job.name} trained on a plan that differs from this benchmark's plan")
            bench.training[job.name] = load_training(job.name, algo, seed, loaded)
            evaluated[job.name] = evaluate_agent(job.name, agent_label(algo, bench.action, seed), loaded, bench,
                                                 agent=algo, seed=seed)
            bar.update(1)
        if pool.done:
            break
        bars.update()
        time.sleep(1.0)
    bench.policies += [evaluated[name] for name in runs]  # PPO's runs first, each agent's by seed
    bench.training = {name: bench.training[name] for name in runs}
