"""Training sessions of the gradient agent (``echelon train --algo gradient``) in a run folder.

Same run folder as the SB3 agents (:mod:`experiments.runs`): config.yaml, command.txt, meta.json, status,
metrics.csv (one row per iteration: env steps so far, the sampled paths' cost per period, env-steps/s),
``checkpoints/gradient_<iteration>.pt`` every ``checkpoint_every`` iterations (policy and optimizer state),
``policy.pt`` (the final policy: torch ``state_dict`` and the settings that rebuild it), ``plan.json`` for
residual policies, final_eval.json, and TensorBoard logs in ``tb/`` (per iteration, at global step = env
steps: the sampled cost per period, env-steps/s and the learning rate). Interrupts save a checkpoint;
``--resume`` continues from it exactly (iteration i's paths depend on (seed, i) only), dropping the rows of
metrics.csv and TensorBoard events past it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from agents.gradient_agent import GradientTrainer
from agents.gradient_config import agent_config
from agents.gradient_policies import GradientNumpyPolicy
from baselines.evaluation import Policy
from experiments.checkpoints import GRADIENT, gradient_checkpoint, latest_gradient_checkpoint
from experiments.files import write_atomic
from experiments.interrupts import StopFlag
from experiments.loading import load_torch
from experiments.metrics_file import append_metrics, metric_value, trim_metrics
from experiments.run_config import env_params
from experiments.runs import METRICS, POLICY, Run, RunError


class GradientSession:
    """The gradient agent training inside a run folder (the :class:`experiments.session.Trainer` of the gradient
    agent). ``previous`` is the last ``metrics.csv`` row of the earlier sessions, whose ``time_s`` the new rows
    continue."""

    def __init__(self, run: Run, config: dict, trainer: GradientTrainer, resumed: bool,
                 previous: dict[str, str] | None = None) -> None:
        self.run, self.config, self.trainer, self.resumed = run, config, trainer, resumed
        self.time_offset = metric_value(previous, "time_s")
        self.start_steps, self.start_iteration = env_steps(trainer), trainer.iteration
        self.iterations, self.every = trainer.config.iterations, int(config.get("checkpoint_every", 25))
        self.progress = {"total": self.iterations, "initial": trainer.iteration, "desc": "train gradient", "unit": "it"}

    def steps(self) -> int:
        return env_steps(self.trainer)

    def fit(self, stop: StopFlag, bar: tqdm) -> None:
        started = time.perf_counter()
        # purge_step hides the events a failed or killed session logged past the checkpoint resumed from
        purge_step = self.start_steps + 1 if self.resumed else None
        with SummaryWriter(str(self.run.tensorboard_dir), purge_step=purge_step) as writer:
            while self.trainer.iteration < self.iterations and not stop.requested:
                row = self.trainer.step()
                self._record(row, writer, time.perf_counter() - started)
                bar.update(1)
                bar.set_postfix_str(f"cost/period {row['cost_per_period']:.2f}", refresh=False)
                if self.trainer.iteration % self.every == 0 or self.trainer.iteration == self.iterations:
                    self.save_checkpoint()

    def _record(self, row: dict, writer: SummaryWriter, elapsed: float) -> None:
        """One iteration's row of metrics.csv and its TensorBoard scalars."""
        steps = self.steps()
        append_metrics(self.run.file(METRICS), {
            "timesteps": steps, "iteration": self.trainer.iteration, "mean_cost_per_period": row["cost_per_period"],
            "fps": round(row["env_steps_per_second"], 1), "time_s": round(self.time_offset + elapsed, 2)})
        writer.add_scalar("train/cost_per_period", row["cost_per_period"], steps)
        writer.add_scalar("time/env_steps_per_second", row["env_steps_per_second"], steps)
        writer.add_scalar("train/learning_rate", row["learning_rate"], steps)

    def save_checkpoint(self) -> Path:
        path = gradient_checkpoint(self.run.checkpoint_dir, self.trainer.iteration)
        save_torch(path, self.trainer.state_dict())
        return path

    def save_final(self) -> tuple[Path, Policy]:
        """Save ``policy.pt``: the state_dict and the settings that rebuild the module."""
        trainer = self.trainer
        save_torch(self.run.file(POLICY), {
            "env_id": self.config["env_id"], "action": trainer.config.action, "network": trainer.config.network,
            "hidden": list(trainer.config.hidden),
            "max_log_multiplier": trainer.config.max_log_multiplier, "iteration": trainer.iteration,
            "env_steps": self.steps(), "state_dict": trainer.policy.state_dict()})
        return self.run.file(POLICY), GradientNumpyPolicy(trainer.policy, trainer.params)

    def stopped_at(self) -> str:
        return f"iteration {self.trainer.iteration} of {self.iterations}"

    def summary(self, start_steps: int, seconds: float, fps: float) -> str:
        iterations = self.trainer.iteration - self.start_iteration
        return (f"{iterations} iterations ({self.steps() - start_steps:,} env steps) in {seconds:.1f} s "
                f"({fps:,.0f} env-steps/s)")

    def result_fields(self) -> dict[str, Any]:
        return {"iterations": self.trainer.iteration}


def env_steps(trainer: GradientTrainer) -> int:
    return trainer.iteration * trainer.config.paths * trainer.config.horizon


def new_trainer(config: dict, echelon_levels: np.ndarray | None) -> GradientTrainer:
    """A fresh gradient trainer for a new run's config (built before its run folder is created)."""
    return GradientTrainer(env_params(config["env_id"]), agent_config(config), echelon_levels)


def resumed_session(run: Run, config: dict, echelon_levels: np.ndarray | None,
                    checkpoint: str | Path | None) -> GradientSession:
    """A gradient run's trainer at its latest checkpoint (or ``checkpoint``), ``metrics.csv`` trimmed to it."""
    path = Path(checkpoint) if checkpoint is not None else latest_gradient_checkpoint(run.checkpoint_dir)
    if path is None:
        raise RunError(f"{run.path} has no checkpoint to resume from; start a new run instead")
    if path.resolve().parent != run.checkpoint_dir.resolve() or GRADIENT.count(path) is None:
        raise RunError(f"{path} is not a checkpoint of {run.path}")
    state = load_torch(path)
    trainer = GradientTrainer(env_params(config["env_id"]), agent_config(config), echelon_levels)
    try:
        trainer.load_state_dict(state)
    except Exception as error:
        raise RunError(f"{path} is corrupted or incompatible ({type(error).__name__}: {error}); the run folder "
                       "was left unchanged") from error
    previous = trim_metrics(run.file(METRICS), env_steps(trainer))
    return GradientSession(run, config, trainer, resumed=True, previous=previous)


def save_torch(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    write_atomic(path, buffer.getvalue())
