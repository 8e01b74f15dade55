"""Training sessions of the stable-baselines3 agents (PPO, SAC, TD3, A2C) in a run folder.

The training env is ``SB3VecEnv`` (wrapped in :class:`~agents.residual.ResidualVecEnv` around the analytic plan
when ``action`` is ``residual``) -> ``VecMonitor`` -> ``VecNormalize`` (normalizing in float32,
:mod:`agents.normalize`). A session (:mod:`experiments.session`) shows a progress bar, writes TensorBoard logs,
a checkpoint every ``checkpoint_every`` env steps and a row of ``metrics.csv`` every ``metrics_every``; a resumed
session continues from a checkpoint with the same step count.
"""

from __future__ import annotations

import math
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
from tqdm import tqdm

from agents.cell_network import CellScenario
from agents.config import ConfigError
from agents.crn import CommonRandomNumbers
from agents.normalize import Float32VecNormalize
from agents.residual import ResidualVecEnv
from agents.sb3_agents import OFF_POLICY, make_model
from baselines.evaluation import Policy
from envs import env_scenario
from envs.sb3 import SB3VecEnv
from experiments.checkpoints import CHECKPOINT_PREFIX, SB3_REPLAY_BUFFER, Checkpoint, latest_sb3_checkpoint
from experiments.files import write_atomic
from experiments.interrupts import StopFlag
from experiments.loading import ModelPolicy, load_sb3_model, load_vecnormalize
from experiments.metrics_file import append_metrics, metric_value, trim_metrics
from experiments.residual_plan import residual_policy
from experiments.run_config import env_action_mode, env_kwargs_of
from experiments.runs import CONFIG, METRICS, MODEL, VECNORMALIZE, Run, RunError


# Environment ----------------------------------------------------------------------------------------
def make_train_env(config: dict, echelon_levels: np.ndarray | None = None) -> VecNormalize:
    """``SB3VecEnv`` (episode length of the registered spec) [-> ``ResidualVecEnv`` on the plan's
    ``echelon_levels`` when ``action`` is ``residual``] -> ``VecMonitor`` [-> ``CommonRandomNumbers`` when
    ``crn_groups`` > 1] -> ``VecNormalize``."""
    env_id = config["env_id"]
    venv = SB3VecEnv(num_envs=int(config["num_envs"]), scenario=env_scenario(env_id),
                     max_episode_steps=gym.spec(env_id).max_episode_steps, **env_kwargs_of(config))
    if config.get("action") == "residual":
        if echelon_levels is None:
            raise ValueError("a residual run needs the plan's echelon levels")
        venv = ResidualVecEnv(venv, residual_policy(config, echelon_levels, venv.vector_env.params))
    monitored = VecMonitor(venv)
    groups = int(config.get("crn_groups", 1))
    if groups > 1:
        if int(config["num_envs"]) % groups:
            raise ConfigError(f"crn_groups ({groups}) must divide num_envs ({config['num_envs']})")
        monitored = CommonRandomNumbers(monitored, groups)
    norm = config.get("normalize") or {}
    gamma = float((config.get("algo_kwargs") or {}).get("gamma", 0.99))
    return Float32VecNormalize(monitored, norm_obs=bool(norm.get("obs", True)),
                               norm_reward=bool(norm.get("reward", False)), clip_obs=float(norm.get("clip_obs", 10.0)),
                               clip_reward=float(norm.get("clip_reward", 10.0)), gamma=gamma)


# Callbacks ------------------------------------------------------------------------------------------
class StepCheckpoint(CheckpointCallback):
    """SB3's checkpoint callback, triggered whenever ``num_timesteps`` crosses a multiple of ``every`` (so a
    resumed run keeps the cadence); files are written atomically, model last; only the newest replay buffer
    is kept."""

    def __init__(self, every: int, save_path: Path) -> None:
        super().__init__(save_freq=1, save_path=str(save_path), name_prefix=CHECKPOINT_PREFIX,
                         save_replay_buffer=True, save_vecnormalize=True)
        self.every = int(every)

    def _on_training_start(self) -> None:
        self._previous = self.model.num_timesteps

    def _on_step(self) -> bool:
        if self.num_timesteps // self.every > self._previous // self.every:
            self.save_now()
        self._previous = self.num_timesteps
        return True

    def save_now(self) -> Checkpoint:
        return save_checkpoint(self.model, Path(self.save_path))


def save_checkpoint(model: BaseAlgorithm, folder: Path) -> Checkpoint:
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpoint.at(folder, int(model.num_timesteps))
    vecnormalize = model.get_vec_normalize_env()
    if vecnormalize is not None:
        _save_pickled(vecnormalize, checkpoint.vecnormalize)
    if getattr(model, "replay_buffer", None) is not None:
        _save_with(model.save_replay_buffer, checkpoint.replay_buffer)
        for _, old in SB3_REPLAY_BUFFER.found(folder):
            if old != checkpoint.replay_buffer:
                old.unlink(missing_ok=True)
    _save_with(model.save, checkpoint.model)
    return checkpoint


def _save_with(save, path: Path) -> None:
    """Call an SB3 ``save(file)`` into a temporary file, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            save(handle)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _save_pickled(vecnormalize: VecNormalize, path: Path) -> None:
    write_atomic(path, pickle.dumps(vecnormalize))


class CostMetrics(BaseCallback):
    """Episode costs from the env's ``info["cost"]``: rows of ``metrics.csv``, TensorBoard scalars and the
    progress bar's postfix, every ``every`` steps and at the end of each session. ``previous`` is the last row of
    the earlier sessions (a resumed session continues its ``episodes`` and ``time_s``)."""

    def __init__(self, path: Path, every: int, bar: tqdm | None = None, previous: dict[str, str] | None = None) -> None:
        super().__init__()
        self.path, self.every, self.bar = Path(path), int(every), bar
        self.episodes_total = int(metric_value(previous, "episodes"))
        self.time_offset = metric_value(previous, "time_s")
        self.window: list[tuple[float, int]] = []  # (episode cost, episode length) since the last row
        self.last_cost: float = math.nan

    def _on_training_start(self) -> None:
        self.running = np.zeros(self.training_env.num_envs)
        self.lengths = np.zeros(self.training_env.num_envs, dtype=np.int64)
        self.row_time, self.row_steps = time.perf_counter(), self.model.num_timesteps
        self.start_time, self.start_steps = self.row_time, self.row_steps

    def _on_step(self) -> bool:
        infos, dones = self.locals["infos"], self.locals["dones"]
        self.running += np.fromiter((info.get("cost", 0.0) for info in infos), float, len(infos))
        self.lengths += 1
        for i in np.flatnonzero(dones):
            self.window.append((float(self.running[i]), int(self.lengths[i])))
            self.episodes_total += 1
            self.running[i], self.lengths[i] = 0.0, 0
        if self.bar is not None:
            self.bar.update(self.model.num_timesteps - self.bar.n)
        if self.num_timesteps // self.every > (self.num_timesteps - self.training_env.num_envs) // self.every:
            self.write_row()
        return True

    def _on_training_end(self) -> None:
        if self.model.num_timesteps != self.row_steps:
            self.write_row()

    def write_row(self) -> None:
        now = time.perf_counter()
        steps = self.model.num_timesteps
        fps = (steps - self.row_steps) / max(now - self.row_time, 1e-9)
        costs = np.array([cost for cost, _ in self.window])
        lengths = np.array([length for _, length in self.window])
        per_period = float(np.mean(costs / lengths)) if self.window else math.nan
        if self.window:
            self.last_cost = per_period
        row = {
            "timesteps": steps,
            "episodes": self.episodes_total,
            "mean_episode_cost": float(costs.mean()) if self.window else math.nan,
            "mean_cost_per_period": per_period,
            "episodes_in_window": len(self.window),
            "fps": round(fps, 1),
            "time_s": round(self.time_offset + now - self.start_time, 2),
        }
        append_metrics(self.path, row)
        if self.window:
            self.logger.record("rollout/ep_cost_per_period", per_period)
        self.window = []
        self.row_time, self.row_steps = now, steps
        if self.bar is not None and not math.isnan(self.last_cost):
            self.bar.set_postfix_str(f"cost/period {self.last_cost:.2f}", refresh=False)


# Sessions -------------------------------------------------------------------------------------------
class SB3Trainer:
    """An SB3 model training inside a run folder (the :class:`experiments.session.Trainer` of SB3 agents).

    ``previous`` is the last ``metrics.csv`` row of the earlier sessions (a resumed session continues its
    ``episodes`` and ``time_s``)."""

    def __init__(self, run: Run, config: dict, model: BaseAlgorithm, resumed: bool,
                 previous: dict[str, str] | None = None) -> None:
        self.run, self.config, self.model, self.resumed, self.previous = run, config, model, resumed, previous
        self.total = int(config["total_steps"])
        self.progress = {"total": self.total, "initial": self.steps(), "desc": f"train {config['algo']}",
                         "unit": "step"}

    def steps(self) -> int:
        return int(self.model.num_timesteps)

    def fit(self, stop: StopFlag, bar: tqdm) -> None:
        self.model.tensorboard_log = str(self.run.tensorboard_dir)
        metrics = CostMetrics(self.run.file(METRICS), int(self.config.get("metrics_every", 10_000)), bar,
                              self.previous)
        checkpoints = StepCheckpoint(int(self.config.get("checkpoint_every", 100_000)), self.run.checkpoint_dir)
        start_steps = self.steps()
        if self.total > start_steps:
            self.model.learn(total_timesteps=self.total - start_steps if self.resumed else self.total,
                             callback=CallbackList([metrics, checkpoints, stop]), reset_num_timesteps=not self.resumed,
                             tb_log_name=self.config["algo"].upper(), progress_bar=False)

    def save_checkpoint(self) -> Path:
        return save_checkpoint(self.model, self.run.checkpoint_dir).model

    def save_final(self) -> tuple[Path, Policy]:
        """Save the final model and its statistics; the policy is evaluated as it will be reloaded."""
        _save_pickled(self.model.get_vec_normalize_env(), self.run.file(VECNORMALIZE))
        _save_with(self.model.save, self.run.file(MODEL))
        policy = ModelPolicy(self.model, _frozen_copy(self.model.get_vec_normalize_env()), env_action_mode(self.config),
                             _residual_of(self.model.get_env()))
        return self.run.file(MODEL), policy

    def stopped_at(self) -> str:
        return f"{self.steps():,} steps"

    def summary(self, start_steps: int, seconds: float, fps: float) -> str:
        return f"{self.steps():,} steps in {seconds:.1f} s ({fps:,.0f} steps/s)"

    def result_fields(self) -> dict[str, Any]:
        return {}


def new_model(config: dict, echelon_levels: np.ndarray | None, verbose: int = 0) -> BaseAlgorithm:
    """A fresh model of a new run's config on its training env (a product-shared policy reads the plan's levels)."""
    env = make_train_env(config, echelon_levels)
    cells = None
    if config.get("network") == "cells":
        cells = CellScenario.of(env.unwrapped.vector_env.params, echelon_levels)
    return make_model(config["algo"], env, config, seed=config["seed"], tensorboard_log=None, verbose=verbose,
                      cells=cells)


def resumed_trainer(run: Run, config: dict, echelon_levels: np.ndarray | None, checkpoint: str | Path | None,
                    total_steps: int | None, verbose: int = 0) -> SB3Trainer:
    """The model of an unfinished run at its latest checkpoint (or ``checkpoint``), with its normalization
    statistics and replay buffer, ``metrics.csv`` trimmed to the checkpoint and the new budget recorded."""
    if checkpoint is not None:
        found = Checkpoint.from_model_path(Path(checkpoint))
        if found.model.resolve().parent != run.checkpoint_dir.resolve():
            raise RunError(f"{checkpoint} is not a checkpoint of {run.path}")
    else:
        found = latest_sb3_checkpoint(run.checkpoint_dir)
        if found is None:
            raise RunError(f"{run.path} has no checkpoint to resume from; start a new run instead")
    if total_steps is not None and total_steps < found.steps:
        raise RunError(f"--total-steps {total_steps:,} is below the {found.steps:,} steps this run has already trained "
                       f"(checkpoint {found.model.name}); give a larger budget, or leave --total-steps out to keep the "
                       f"run's {int(config['total_steps']):,}")
    env = make_train_env(config, echelon_levels)
    vecnormalize = load_vecnormalize(found.vecnormalize, config, venv=env.venv)
    vecnormalize.training = True
    model = load_sb3_model(config["algo"], found.model, env=vecnormalize, device=config.get("device", "cpu"),
                           verbose=verbose)
    if config["algo"] in OFF_POLICY:
        if found.replay_buffer.exists():
            try:
                model.load_replay_buffer(str(found.replay_buffer))
            except Exception as error:
                raise RunError(f"{found.replay_buffer} is corrupted ({type(error).__name__}: {error}); the run "
                               "folder was left unchanged (delete the file to resume with an empty buffer)") from error
        else:
            tqdm.write(f"note: no replay buffer saved at {found.steps} steps; resuming with an empty buffer",
                       file=sys.stderr)
    previous = trim_metrics(run.file(METRICS), int(model.num_timesteps))
    if total_steps is not None and total_steps != config["total_steps"]:
        config["total_steps"] = int(total_steps)
        write_atomic(run.file(CONFIG), yaml.safe_dump(config, sort_keys=False))
    model.set_random_seed(resume_seed(int(config["seed"]), int(model.num_timesteps)))
    return SB3Trainer(run, config, model, resumed=True, previous=previous)


def resume_seed(seed: int, steps: int) -> int:
    """Seed of a session resumed at ``steps``: derived from (seed, steps), so a resumed run is reproducible, and
    in [2**20, 2**31) so its replicas' seeds stay clear of the evaluation seeds (1e6 .. 2**20 by default)."""
    return int(np.random.SeedSequence([seed, steps]).generate_state(1)[0] % (2**31 - 2**20)) + 2**20


def _residual_of(env) -> Any:
    """The :class:`~agents.residual.ResidualPolicy` of a wrapped training env (None if not residual)."""
    while env is not None:
        if isinstance(env, ResidualVecEnv):
            return env.policy
        env = getattr(env, "venv", None)
    return None


def _frozen_copy(vecnormalize: VecNormalize) -> VecNormalize:
    """The statistics as a reloaded model sees them (a pickled round trip, so evaluation matches exactly)."""
    frozen = pickle.loads(pickle.dumps(vecnormalize))
    frozen.training = False
    frozen.norm_reward = False
    return frozen
