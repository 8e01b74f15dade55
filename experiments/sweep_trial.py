"""One trial of a sweep, as Ray Tune runs it in a worker: a normal ``echelon train`` run folder, evaluated at every
checkpoint, its evaluation cost reported to Tune.

The trial trains in an ``echelon train`` child process (:mod:`experiments.train_process`) into
``SWEEP/runs/<algo>-<env>-seed<seed>-<trial id>`` on the trial's CPUs (``cpus_per_trial`` torch, BLAS and kernel
threads), so ``echelon evaluate`` and ``echelon compare`` work on it. Whenever a new checkpoint appears, the trial
evaluates it on the sweep's ``eval_episodes`` episodes (seeded 1,000,000 + j, as every evaluation) and reports
``eval_cost_per_period`` (the metric ASHA stops trials on) with a small Tune checkpoint naming the run; at the end
it reports the run's final evaluation (``final_eval.json``, the same episodes) with ``final`` true. Every report
is also appended to ``SWEEP/evaluations/<trial id>.csv`` (the sweep report's learning curves).

A trial started again (a retry after a crash, or ``echelon sweep --resume``) finds its run folder: a finished run
is reported as it is, an unfinished one is continued with ``echelon train --resume`` from its latest checkpoint
once its previous trainer has exited, and one without a checkpoint is set aside (``<run>.attempt<k>``) and
started anew. A training process that fails raises, so that Tune retries the trial (``max_failures``) and then
reports it failed. When Tune stops the trial (ASHA, or an interrupted sweep) its worker ends and the child gets
SIGTERM: it saves a checkpoint and ends ``interrupted``.

Ray is imported inside :func:`run_trial` only, which runs in a Ray worker: the sweep imports this module before
Ray has been started on the loopback address (:mod:`experiments.ray_cluster`).
"""

from __future__ import annotations

import importlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from experiments.checkpoints import GRADIENT, sb3_checkpoints
from experiments.conventions import DEFAULT_EVAL_SEED
from experiments.evaluate import run_episodes
from experiments.liveness import check_not_in_progress
from experiments.loading import load_run
from experiments.runs import FINAL_EVAL, FINISHED, Run, RunError
from experiments.sweep_config import Trial, set_args
from experiments.train_process import log_tail, start, stop, train_command

METRIC = "eval_cost_per_period"
POLL_SECONDS = 1.0
PREVIOUS_TRAINER_SECONDS = 180.0
"""How long a restarted trial waits for the trainer of its previous attempt to save its checkpoint and exit."""


class TrialError(RuntimeError):
    """A trial's training process failed (Tune retries the trial, then reports it failed)."""


def run_name(trial: Trial, trial_id: str) -> str:
    return f"{trial.algo}-{trial.env_id.split('/')[-1]}-seed{trial.seed}-{trial_id}"


def evaluations_file(root: Path, trial_id: str) -> Path:
    return root / "evaluations" / f"{trial_id}.csv"


def trial_of(config: dict[str, Any]) -> Trial:
    """The trial a Tune config describes: ``{"trial": {...}}`` (a grid) or the search's flat settings, whose
    hyperparameters are named ``<algo>.<key>``."""
    if "trial" in config:
        return Trial.from_dict(config["trial"])
    algo = config["algo"]
    sets = {key[len(algo) + 1:]: value for key, value in config.items() if key.startswith(f"{algo}.")}
    return Trial(config["env_id"], algo, int(config["seed"]), config.get("action"), sets)


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step count, file) of the run's complete checkpoints, oldest first (gradient: iterations; SB3: env steps)."""
    folder = run / "checkpoints"
    found = GRADIENT.found(folder)
    return found or [(checkpoint.steps, checkpoint.model) for checkpoint in sb3_checkpoints(folder)]


def evaluate_checkpoint(run: Path, checkpoint: Path, episodes: int) -> dict[str, float]:
    loaded = load_run(run, checkpoint)
    results = run_episodes(loaded.policy, loaded.config["env_id"], episodes, DEFAULT_EVAL_SEED,
                           warmup_periods=loaded.warmup_periods, progress=False)
    return {METRIC: results.cost.mean, "eval_ci95": results.cost.half_width, "timesteps": loaded.timesteps}


def wait_for_previous_trainer(run: Run) -> None:
    """Wait until no live process trains ``run`` (a killed worker's trainer saves its checkpoint first)."""
    deadline = time.monotonic() + PREVIOUS_TRAINER_SECONDS
    while True:
        try:
            check_not_in_progress(run)
            return
        except RunError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_SECONDS)


def training_args(trial: Trial, run: Path, sweep: dict[str, Any]) -> list[str] | None:
    """The ``echelon train`` arguments that start or continue the trial's run (None: it is finished)."""
    if run.exists():
        folder = Run(run)
        try:
            status = folder.status
        except RunError:
            status = None
        if status == FINISHED:
            return None
        if status is not None and checkpoints(run):
            wait_for_previous_trainer(folder)
            return ["--resume", str(run)]
        attempt = 1
        while run.with_name(f"{run.name}.attempt{attempt}").exists():
            attempt += 1
        run.rename(run.with_name(f"{run.name}.attempt{attempt}"))
    return ["--env-id", trial.env_id, "--algo", trial.algo, "--seed", str(trial.seed),
            *(["--action", trial.action] if trial.action else []), "--runs-dir", str(run.parent), "--run-name",
            run.name, *set_args({**sweep["fixed"].get(trial.algo, {}), **trial.sets,
                                 "eval_episodes": sweep["eval_episodes"]})]


def final_metrics(run: Path) -> dict[str, Any]:
    summary = json.loads((run / FINAL_EVAL).read_text())
    cost = summary["cost_per_period"]["total"]
    return {METRIC: cost["mean"], "eval_ci95": cost["ci95"], "timesteps": summary["model_timesteps"], "final": True}


def run_trial(config: dict[str, Any], sweep: dict[str, Any]) -> None:
    """The Ray Tune function trainable of a sweep (``sweep``: root, fixed, eval_episodes, cpus)."""
    tune = importlib.import_module("ray.tune")
    ray = importlib.import_module("ray")
    trial = trial_of(config)
    root, cpus = Path(sweep["root"]), int(sweep["cpus"])
    torch.set_num_threads(cpus)
    trial_id = tune.get_context().get_trial_id()
    run = root / "runs" / run_name(trial, trial_id)
    history = evaluations_file(root, trial_id)
    for folder in (run.parent, history.parent):
        folder.mkdir(parents=True, exist_ok=True)
    node = ray.get_runtime_context().get_node_id()
    started = time.perf_counter()

    def report(metrics: dict[str, Any]) -> None:
        row = {**metrics, "node": node, "trial_seconds": round(time.perf_counter() - started, 2)}
        pd.DataFrame([row]).to_csv(history, mode="a", header=not history.exists(), index=False)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "trial.json").write_text(json.dumps({"run": str(run)}))
            tune.report({**row, "run": str(run)}, checkpoint=tune.Checkpoint.from_directory(folder))

    args = training_args(trial, run, sweep)
    if args is not None:
        attempt = len(list((root / "logs").glob(f"{run.name}*.log"))) + 1
        log = root / "logs" / f"{run.name}{'' if attempt == 1 else f'.{attempt}'}.log"
        process = start(train_command(args, cpus), log, threads=cpus)
        evaluated = {steps for steps, _ in checkpoints(run)} if args[0] == "--resume" else set()
        try:
            while process.poll() is None:
                for steps, path in checkpoints(run):
                    if steps not in evaluated and process.poll() is None:
                        evaluated.add(steps)
                        report({**evaluate_checkpoint(run, path, sweep["eval_episodes"]), "final": False})
                time.sleep(POLL_SECONDS)
        finally:
            stop([process])
        if process.returncode != 0:
            raise TrialError(f"training {run.name} ended with exit status {process.returncode}; end of {log}:\n"
                             f"{log_tail(log)}")
    report(final_metrics(run))
