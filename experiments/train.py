"""The one training entry point: SB3 agents and the gradient agent, one run folder per run.

``train`` resolves the configuration (:mod:`experiments.run_config`), computes the analytic plan for residual
agents (saved as ``plan.json``), creates the run folder (:mod:`experiments.runs`) and runs a training session
(:mod:`experiments.session`) with the SB3 trainer (:mod:`experiments.train_sb3`) or the gradient agent's
(:mod:`experiments.train_gradient`). The first Ctrl-C (or SIGTERM) stops at the next step and saves a checkpoint
(a second Ctrl-C stops at once, still saving); the run is then ``interrupted`` and ``resume`` continues it from
its latest checkpoint with the same step count.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents.config import ConfigError
from baselines.planner import plan
from envs import env_scenario
from experiments import train_gradient, train_sb3
from experiments.liveness import check_not_in_progress
from experiments.residual_plan import load_plan_levels, save_plan
from experiments.run_config import check_saved_config, hyperparams_file, resolve_config
from experiments.runs import CONFIG, FINISHED, Run, RunError, check_new_run, create_run, discarded_on_error, open_run
from experiments.session import Trainer, run_session


def train(env_id: str | None, algo: str | None, seed: int | None, *, runs_dir: str | Path = "runs",
          run_name: str | None = None, config_file: str | Path | None = None, sets: list[str] | None = None,
          total_steps: int | None = None, num_envs: int | None = None, checkpoint_every: int | None = None,
          progress: bool | None = None, verbose: int = 0, argv: list[str] | None = None,
          action: str | None = None) -> tuple[Run, int]:
    """Start a new run; returns it and the exit status (0 finished, 130 interrupted).

    Everything that can be checked or built without the run folder (configuration, folder name, plan, model) is,
    before the folder is created; if anything fails before the first session starts, the folder is removed.
    """
    config = resolve_config(env_id, algo, seed, config_file, sets, total_steps=total_steps, num_envs=num_envs,
                            checkpoint_every=checkpoint_every, action=action)
    check_new_run(runs_dir, run_name)
    levels, method = None, None
    if config.get("action") == "residual":
        planned = plan(env_scenario(config["env_id"]))
        levels, method = planned.echelon_levels, planned.method
    extra_meta = {"hyperparams_file": str(hyperparams_file(config["algo"]))}
    argv = argv or sys.argv
    model = None if config["algo"] == "gradient" else train_sb3.new_model(config, levels, verbose)
    gradient = train_gradient.new_trainer(config, levels) if model is None else None
    run = create_run(runs_dir, config, argv, run_name, extra_meta=extra_meta)
    try:
        with discarded_on_error(run):
            if levels is not None:
                save_plan(run, levels, method)
            trainer: Trainer = (train_gradient.GradientSession(run, config, gradient, resumed=False) if model is None
                                else train_sb3.SB3Trainer(run, config, model, resumed=False))
        return run, run_session(run, config, trainer, argv, resumed=False, progress=progress)
    finally:
        run.unlock()


def resume(run_dir: str | Path, *, checkpoint: str | Path | None = None, total_steps: int | None = None,
           progress: bool | None = None, verbose: int = 0, argv: list[str] | None = None) -> tuple[Run, int]:
    """Continue an unfinished run from its latest checkpoint (or ``checkpoint``) with the same step count.

    Only one process may train a run: the run's lock (:meth:`~experiments.runs.Run.lock`) is held from before the
    first check to the end, and a second ``resume`` is refused. Everything is read and checked (config, meta.json,
    checkpoint, normalization statistics, replay buffer, metrics.csv, a new budget, whether a gradient update fits in
    the memory available) before the folder is written to; a finished run is refused. Rows of ``metrics.csv`` past
    the checkpoint (from a session that failed or was killed after it) are dropped.
    """
    run = open_run(run_dir)
    _refuse_finished(run)
    with run.locked():
        _refuse_finished(run)  # again, now that no other process can change it
        check_not_in_progress(run)
        config = run.load_config()
        try:
            check_saved_config(config, total_steps)
        except ConfigError as error:
            raise RunError(f"{run.file(CONFIG)} is corrupted ({error}); the run folder was left unchanged") from error
        run.load_meta()  # checked now: the session reads it only after the folder has been written to
        levels = load_plan_levels(run) if config.get("action") == "residual" else None
        trainer: Trainer = (
            train_gradient.resumed_session(run, config, levels, checkpoint) if config["algo"] == "gradient"
            else train_sb3.resumed_trainer(run, config, levels, checkpoint, total_steps, verbose))
        return run, run_session(run, config, trainer, argv or sys.argv, resumed=True, progress=progress)


def _refuse_finished(run: Run) -> None:
    if run.status == FINISHED:
        raise RunError(f"{run.path} is finished; a finished run is never overwritten "
                       f"(start a new one with: echelon train --config {run.file(CONFIG)})")
