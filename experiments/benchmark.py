"""``echelon benchmark``: the analytic plan, its tuned version, the naive references and the learned agents on
one env id, evaluated together with common random numbers; writes a report folder (:mod:`experiments.report`).

The two learned agents (PPO and the gradient agent, residual on the plan by default) train at the same time in
two ``echelon train`` processes (one core each, ``--threads 1``) into ``OUTPUT/runs``, with the budgets of their
hyperparameter files (``agents/hyperparams/{ppo,gradient}.yaml``, the env id's entry and its ``residual``
section), or tiny budgets with ``quick``. Meanwhile the plan is computed, tuned (fixed tuning seeds) and the
baselines are evaluated. Every policy is evaluated on the same episodes: episode j seeded 1,000,000 + j, the
registered episode length, from the env's warm-up. Training seeds are ``seed``; nothing else is random, so a
rerun with the same seed gives the same numbers (only timings differ).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import subprocess
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
from experiments.loading import LoadedRun, load_run
from experiments.provenance import base_meta, now_iso
from experiments.recorder import StockRecorder
from experiments.report import write_report
from experiments.residual_plan import load_plan_levels
from experiments.results import Benchmark, PolicyResult, Training
from experiments.runs import META, METRICS, RunError

EPISODES, QUICK_EPISODES = 100, 16
QUICK_TRAIN = {
    "ppo": ["--total-steps", "1024", "--num-envs", "8", "--checkpoint-every", "512", "--set", "algo_kwargs.n_steps=64",
            "--set", "algo_kwargs.batch_size=256", "--set", "algo_kwargs.n_epochs=1", "--set", "metrics_every=256"],
    "gradient": ["--set", "iterations=4", "--set", "paths=8", "--set", "horizon=20", "--set", "checkpoint_every=2"],
}
QUICK_TUNING = {"num_envs": 4, "periods": 20, "warmup": 10}
AGENTS = ("ppo", "gradient")


def default_output(env_id: str, seed: int, quick: bool) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{env_id.split('/')[-1]}-seed{seed}{'-quick' if quick else ''}-{stamp}"


def train_command(algo: str, env_id: str, seed: int, action: str, runs_dir: Path, quick: bool) -> list[str]:
    """The ``echelon train`` command line of one learned agent (evaluation is left to the benchmark)."""
    return [sys.executable, "-m", "experiments.cli", "train", "--env-id", env_id, "--algo", algo, "--seed", str(seed),
            "--action", action, "--runs-dir", str(runs_dir), "--run-name", algo, "--threads", "1", "--no-progress",
            "--set", "eval_episodes=0", *(QUICK_TRAIN[algo] if quick else [])]


def _stop_with_parent() -> None:
    """In the child before exec (Linux): receive SIGTERM when the benchmark dies, even by SIGKILL, so a
    killed benchmark leaves no training behind (SIGTERM saves a checkpoint and stops)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_training(env_id: str, seed: int, action: str, output: Path, quick: bool) -> dict[str, subprocess.Popen]:
    logs = output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = {}
    for algo in AGENTS:
        command = train_command(algo, env_id, seed, action, (output / "runs").resolve(), quick)
        with open(logs / f"train-{algo}.log", "w") as log:
            log.write(" ".join(command) + "\n")
            log.flush()
            processes[algo] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               preexec_fn=_stop_with_parent if sys.platform == "linux" else None)
    return processes


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


def wait_training(processes: dict[str, subprocess.Popen], output: Path, progress: bool | None = None) -> None:
    """Wait for both trainings (progress bars from their metrics.csv); a failure raises with its log's end."""
    disable = None if progress is None else not progress
    bars = {algo: tqdm(desc=f"train {algo}", unit="step", leave=False, disable=disable) for algo in processes}
    try:
        while any(process.poll() is None for process in processes.values()):
            for algo, bar in bars.items():
                done, total = training_progress(output / "runs" / algo)
                bar.total = total
                bar.update(done - bar.n)
            time.sleep(1.0)
    finally:
        for bar in bars.values():
            bar.close()
    for algo, process in processes.items():
        if process.returncode != 0:
            tail = (output / "logs" / f"train-{algo}.log").read_text().splitlines()[-15:]
            raise RunError(f"training {algo} failed (exit status {process.returncode}); end of its log:\n"
                           + "\n".join(tail))


def stop_training(processes: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to unfinished trainings (each saves a checkpoint and can be resumed), then wait for them."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()


def load_training(name: str, loaded: LoadedRun) -> Training:
    meta = loaded.run.load_meta()
    result = meta.get("result") or {}
    curve = pd.read_csv(loaded.run.file(METRICS))[["timesteps", "mean_cost_per_period"]]
    return Training(name, loaded.run.path, int(result.get("timesteps", loaded.timesteps)),
                    float(result.get("session_seconds", float("nan"))), float(result.get("session_fps", float("nan"))),
                    curve, loaded.config)


def evaluate_policy(name: str, label: str, policy: Policy, bench: Benchmark,
                    progress: bool | None = None) -> PolicyResult:
    """``policy`` on the benchmark's common episodes (every policy from the scenario's warm-up state)."""
    recorder = StockRecorder(policy, bench.plan.params, bench.periods)
    results = run_episodes(recorder, bench.env_id, bench.episodes, DEFAULT_EVAL_SEED, None, bench.periods,
                           progress=progress)
    return PolicyResult(name, label, results, recorder.frame())


def evaluate_agent(name: str, label: str, loaded: LoadedRun, bench: Benchmark,
                   progress: bool | None = None) -> PolicyResult:
    """A trained agent on the common episodes, like the baselines (so the episodes pair); a note says when it was
    trained with another env warm-up than the scenario's."""
    default = eval_scenario(bench.env_id).warmup_periods
    if loaded.warmup_periods is not None and int(loaded.warmup_periods) != default:
        bench.notes.append(f"{name} was trained with warmup_periods={loaded.warmup_periods}; it is evaluated, like "
                           f"every policy, from the scenario's warm-up ({default} periods)")
    return evaluate_policy(name, label, loaded.policy, bench, progress)


def run_benchmark(env_id: str, seed: int = 0, *, quick: bool = False, action: str = "residual",
                  episodes: int | None = None, output: str | Path | None = None, progress: bool | None = None,
                  argv: list[str] | None = None) -> Path:
    """Run the benchmark and write its report folder; returns the path of ``report.md``."""
    scenario = env_scenario(check_env_id(env_id))
    output = create_output(Path(output) if output is not None else default_output(env_id, seed, quick))
    started = time.perf_counter()
    episodes = episodes or (QUICK_EPISODES if quick else EPISODES)
    meta = write_config_and_meta(output, env_id, seed, quick, action, episodes, argv or sys.argv)
    processes = start_training(env_id, seed, action, output, quick)
    try:
        with tqdm(total=8, desc="benchmark", unit="stage", disable=None if progress is None else not progress) as bar:
            bench = evaluate_baselines(env_id, scenario, seed, quick, action, episodes, bar)
            clock = time.perf_counter()
            wait_training(processes, output, progress)
            bench.timing["wait_for_training_s"] = time.perf_counter() - clock
            evaluate_agents(bench, output, bar)
    except BaseException:
        stop_training(processes)
        raise
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


def write_config_and_meta(output: Path, env_id: str, seed: int, quick: bool, action: str, episodes: int,
                          argv: list[str]) -> dict:
    """``config.yaml`` (what was asked) and the opening ``meta.json`` (where it runs); returns the meta."""
    config = {"env_id": env_id, "seed": seed, "quick": quick, "action": action, "episodes": episodes,
              "eval_seed": DEFAULT_EVAL_SEED, "tuning_seed": TUNING_SEED,
              "tuning": QUICK_TUNING if quick else "baselines.tuning.tune defaults",
              "train_commands": {a: train_command(a, env_id, seed, action, Path("runs"), quick)[2:] for a in AGENTS}}
    write_atomic(output / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    meta = {**base_meta({"env_id": env_id, "algo": "benchmark", "seed": seed}), "command": " ".join(argv)}
    write_atomic(output / META, json.dumps(meta, indent=2, default=str) + "\n")
    return meta


def evaluate_baselines(env_id: str, scenario: str, seed: int, quick: bool, action: str, episodes: int,
                       bar: tqdm) -> Benchmark:
    """The plan, its tuned version and the naive references, evaluated on the common episodes (while the agents
    train)."""
    clock = time.perf_counter()
    planned = plan(scenario)
    bench = Benchmark(env_id, seed, quick, action, episodes, episode_length(env_id), planned, exact_optimum(planned))
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


def evaluate_agents(bench: Benchmark, output: Path, bar: tqdm) -> None:
    """The trained agents of ``output/runs``, evaluated on the common episodes, with their training records."""
    clock = time.perf_counter()
    for algo in AGENTS:
        loaded = load_run(output / "runs" / algo)
        if loaded.config.get("action") == "residual" and not np.allclose(
                load_plan_levels(loaded.run), bench.plan.echelon_levels):
            bench.notes.append(f"{algo} trained on a plan that differs from this benchmark's plan")
        bench.training[algo] = load_training(algo, loaded)
        label = f"{'PPO' if algo == 'ppo' else 'gradient agent'}{' (residual)' if bench.action == 'residual' else ''}"
        bench.policies.append(evaluate_agent(algo, label, loaded, bench))
        bar.update(1)
    bench.timing["evaluate_agents_s"] = time.perf_counter() - clock
