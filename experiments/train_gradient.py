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
import re
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER
from agents.gradient_agent import GradientTrainer
from agents.gradient_config import agent_config
from agents.gradient_policies import GradientNumpyPolicy, build_policy
from envs import ENV_IDS
from envs.params import EnvParams, compile_scenario
from envs.scenario import resolve_scenario
from experiments.evaluate import final_evaluation
from experiments.interrupts import StopFlag, graceful_interrupts
from experiments.policies import LoadedRun, policy_name
from experiments.runs import (
    CHECKPOINTS,
    INTERRUPTED,
    METRICS,
    POLICY,
    Run,
    RunError,
    metric_value,
    write_atomic,
)

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

EXIT_INTERRUPTED = 130
_CHECKPOINT = re.compile(r"^gradient_(\d+)\.pt$")


def env_params(env_id: str) -> EnvParams:
    return compile_scenario(resolve_scenario(ENV_IDS[env_id][0]))


def checkpoint_path(run: Run, iteration: int) -> Path:
    return run.path / CHECKPOINTS / f"gradient_{iteration}.pt"


def latest_checkpoint(run: Run) -> Path | None:
    found = [(int(match.group(1)), path) for path in (run.path / CHECKPOINTS).glob("gradient_*.pt")
             if (match := _CHECKPOINT.match(path.name))]
    return max(found)[1] if found else None


def _save_torch(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    write_atomic(path, buffer.getvalue())


def _load_torch(path: Path) -> dict:
    if not path.exists():
        raise RunError(f"{path} is missing")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict):
            raise TypeError(f"expected a dict, got {type(data).__name__}")
        return data
    except Exception as error:  # pickle, zip and torch errors all mean the same thing here
        raise RunError(f"{path} is corrupted ({type(error).__name__}: {error}); the run folder was left "
                       "unchanged") from error


def policy_record(trainer: GradientTrainer, config: dict) -> dict[str, Any]:
    """What ``policy.pt`` holds: the state_dict and the settings that rebuild the module."""
    return {"env_id": config["env_id"], "action": trainer.config.action, "hidden": list(trainer.config.hidden),
            "max_log_multiplier": trainer.config.max_log_multiplier, "iteration": trainer.iteration,
            "env_steps": env_steps(trainer), "state_dict": trainer.policy.state_dict()}


def env_steps(trainer: GradientTrainer) -> int:
    return trainer.iteration * trainer.config.paths * trainer.config.horizon


def start_session(run: Run, config: dict, echelon_levels: np.ndarray | None, argv: list[str],
                  progress: bool | None = None) -> int:
    """Train a new gradient run; returns the exit status (0 finished, 130 interrupted)."""
    trainer = GradientTrainer(env_params(config["env_id"]), agent_config(config), echelon_levels)
    return _session(run, config, trainer, argv, resumed=False, progress=progress)


def resume_session(run: Run, config: dict, echelon_levels: np.ndarray | None, checkpoint: str | Path | None,
                   argv: list[str], progress: bool | None = None) -> int:
    """Continue a gradient run from its latest checkpoint (or ``checkpoint``)."""
    path = Path(checkpoint) if checkpoint is not None else latest_checkpoint(run)
    if path is None:
        raise RunError(f"{run.path} has no checkpoint to resume from; start a new run instead")
    if path.resolve().parent != (run.path / CHECKPOINTS).resolve() or not _CHECKPOINT.match(path.name):
        raise RunError(f"{path} is not a checkpoint of {run.path}")
    state = _load_torch(path)
    trainer = GradientTrainer(env_params(config["env_id"]), agent_config(config), echelon_levels)
    try:
        trainer.load_state_dict(state)
    except Exception as error:
        raise RunError(f"{path} is corrupted or incompatible ({type(error).__name__}: {error}); the run folder "
                       "was left unchanged") from error
    previous = run.trim_metrics(env_steps(trainer))
    return _session(run, config, trainer, argv, resumed=True, progress=progress, previous=previous)


def _session(run: Run, config: dict, trainer: GradientTrainer, argv: list[str], resumed: bool,
             progress: bool | None, previous: dict[str, str] | None = None) -> int:
    """Train up to ``iterations`` inside ``run``; save, evaluate and record the outcome (``previous``: the last
    ``metrics.csv`` row of the earlier sessions, whose ``time_s`` the new rows continue)."""
    from torch.utils.tensorboard import SummaryWriter  # imported here: loading a gradient run does not need it

    start_steps, start_iteration = env_steps(trainer), trainer.iteration
    time_offset = metric_value(previous, "time_s")
    run.start_session(argv, start_steps, "resumed" if resumed else "started")
    iterations, every = trainer.config.iterations, int(config.get("checkpoint_every", 25))
    stop = StopFlag()
    started = time.perf_counter()
    bar = tqdm(total=iterations, initial=trainer.iteration, desc="train gradient", unit="it", dynamic_ncols=True,
               disable=None if progress is None else not progress)
    # purge_step hides the events a failed or killed session logged past the checkpoint resumed from
    writer = SummaryWriter(str(run.tensorboard_dir), purge_step=start_steps + 1 if resumed else None)
    with run.failing_session(lambda: env_steps(trainer)), bar, graceful_interrupts(stop), writer:
        try:
            while trainer.iteration < iterations and not stop.requested:
                row = trainer.step()
                _write_metrics(run, trainer, row, time_offset + time.perf_counter() - started)
                _log_tensorboard(writer, trainer, row)
                bar.update(1)
                bar.set_postfix_str(f"cost/period {row['cost_per_period']:.2f}", refresh=False)
                if trainer.iteration % every == 0 or trainer.iteration == iterations:
                    _save_torch(checkpoint_path(run, trainer.iteration), trainer.state_dict())
        except KeyboardInterrupt:
            stop.requested = True
        if stop.requested:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the checkpoint be written
            path = checkpoint_path(run, trainer.iteration)
            _save_torch(path, trainer.state_dict())
    steps, seconds = env_steps(trainer), time.perf_counter() - started
    result: dict[str, Any] = {"timesteps": steps, "iterations": trainer.iteration, "session_seconds": round(seconds, 2),
                              "session_fps": round((steps - start_steps) / max(seconds, 1e-9), 1)}
    if stop.requested:
        run.end_session(INTERRUPTED, steps)
        print(f"interrupted at iteration {trainer.iteration} of {iterations}; checkpoint {path}\n"
              f"continue with: echelon train --resume {run.path}")
        return EXIT_INTERRUPTED
    run.finish_session(steps, result, lambda: _save_and_evaluate(run, config, trainer, progress))
    print(f"finished {trainer.iteration - start_iteration} iterations ({steps - start_steps:,} env steps) in "
          f"{seconds:.1f} s ({result['session_fps']:,.0f} env-steps/s): {run.path}")
    return 0


def _save_and_evaluate(run: Run, config: dict, trainer: GradientTrainer, progress: bool | None) -> Any:
    """Save ``policy.pt``, then evaluate the final policy (None: no evaluation)."""
    _save_torch(run.file(POLICY), policy_record(trainer, config))
    return final_evaluation(run, config, GradientNumpyPolicy(trainer.policy, trainer.params), policy_name(config),
                            run.file(POLICY), env_steps(trainer), config.get("warmup_periods"), progress)


def _write_metrics(run: Run, trainer: GradientTrainer, row: dict, elapsed: float) -> None:
    path = run.file(METRICS)
    record = {"timesteps": env_steps(trainer), "iteration": trainer.iteration,
              "mean_cost_per_period": row["cost_per_period"], "fps": round(row["env_steps_per_second"], 1),
              "time_s": round(elapsed, 2)}
    pd.DataFrame([record]).to_csv(path, mode="a", header=not path.exists(), index=False)


def _log_tensorboard(writer: SummaryWriter, trainer: GradientTrainer, row: dict) -> None:
    step = env_steps(trainer)
    writer.add_scalar("train/cost_per_period", row["cost_per_period"], step)
    writer.add_scalar("time/env_steps_per_second", row["env_steps_per_second"], step)
    writer.add_scalar("train/learning_rate", row["learning_rate"], step)


def load_gradient_run(run: Run, config: dict, checkpoint: str | Path | None = None) -> LoadedRun:
    """The policy of a gradient run: ``policy.pt`` (or ``checkpoint``, or the latest checkpoint)."""
    params = env_params(config["env_id"])
    path = Path(checkpoint) if checkpoint is not None else run.file(POLICY)
    if checkpoint is None and not path.exists():
        path = latest_checkpoint(run)
        if path is None:
            raise RunError(f"{run.path} has no final policy and no checkpoint yet")
    data = _load_torch(path)
    state = data.get("state_dict", data.get("policy"))
    action = config.get("action", "direct")
    try:
        levels = state["echelon_levels"].numpy() if action == "residual" else None
        bound = float(config.get("max_log_multiplier", DEFAULT_MAX_LOG_MULTIPLIER))
        module = build_policy(params, action, config["hidden"], levels, bound)
        module.load_state_dict(state)
    except Exception as error:
        raise RunError(f"{path} is corrupted or incompatible ({type(error).__name__}: {error}); the run folder "
                       "was left unchanged") from error
    iteration = int(data.get("iteration", 0))
    steps = iteration * int(config["paths"]) * int(config["horizon"])
    return LoadedRun(run, config, GradientNumpyPolicy(module, params), path, steps)

