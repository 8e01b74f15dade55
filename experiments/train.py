"""The one training entry point: SB3 agents and the gradient agent, one run folder per run.

``train`` resolves the configuration (``agents/hyperparams/<algo>.yaml`` for the env id, then ``--config``,
``--set`` and the explicit flags) and creates the run folder (see :mod:`experiments.runs`). The gradient agent
trains in :mod:`experiments.train_gradient`. SB3 agents train on ``SB3VecEnv`` (wrapped in
:class:`~agents.residual.ResidualVecEnv` around the analytic plan when ``action`` is ``residual``; the plan's
levels are saved as ``plan.json``) -> ``VecMonitor`` -> ``VecNormalize``, with a progress bar, TensorBoard logs,
periodic checkpoints and ``metrics.csv``. The first Ctrl-C (or SIGTERM) stops at the next env step and saves
a checkpoint (a second Ctrl-C stops at once, still saving); the run is then ``interrupted`` and ``resume``
continues it from its latest checkpoint with the same step count.
"""

from __future__ import annotations

import math
import pickle
import signal
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
from tqdm import tqdm

from agents.config import HYPERPARAMS_DIR
from agents.crn import CommonRandomNumbers
from agents.gradient_config import GRADIENT_KEYS, load_gradient_hyperparams
from agents.residual import ResidualVecEnv
from agents.sb3_agents import (
    ALGOS,
    OFF_POLICY,
    TOP_LEVEL_KEYS,
    ConfigError,
    check_env_id,
    coerce_numbers,
    deep_merge,
    load_hyperparams,
    make_model,
    read_yaml,
)
from baselines.planner import plan
from envs import ENV_IDS
from envs.sb3 import SB3VecEnv
from experiments.evaluate import final_evaluation
from experiments.interrupts import StopFlag, graceful_interrupts
from experiments.policies import (
    ModelPolicy,
    env_kwargs_of,
    load_plan_levels,
    load_sb3_model,
    load_vecnormalize,
    policy_name,
    residual_policy,
    save_plan,
)
from experiments.runs import (
    CHECKPOINT_PREFIX,
    CONFIG,
    FINISHED,
    INTERRUPTED,
    METRICS,
    MODEL,
    VECNORMALIZE,
    Checkpoint,
    Run,
    RunError,
    create_run,
    metric_value,
    open_run,
    write_atomic,
)

IDENTITY_KEYS = ("env_id", "algo", "seed")
EXIT_INTERRUPTED = 130
ALGO_NAMES = (*ALGOS, "gradient")


def check_algo(algo: str) -> str:
    if algo not in ALGO_NAMES:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGO_NAMES)}")
    return algo


def hyperparam_keys(algo: str) -> dict:
    return GRADIENT_KEYS if algo == "gradient" else TOP_LEVEL_KEYS


def load_algo_hyperparams(algo: str, env_id: str, overrides: dict | None = None) -> dict:
    """Resolved hyperparameters of any algorithm (SB3 or ``gradient``)."""
    if check_algo(algo) == "gradient":
        return load_gradient_hyperparams(env_id, overrides)
    return load_hyperparams(algo, env_id, overrides)


def hyperparams_file(algo: str) -> Path:
    return HYPERPARAMS_DIR / f"{check_algo(algo)}.yaml"


# Configuration --------------------------------------------------------------------------------------
def parse_sets(items: list[str] | None) -> dict:
    """``["algo_kwargs.learning_rate=1e-3", "num_envs=8"]`` -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value (e.g. algo_kwargs.learning_rate=1e-3)")
        try:
            value = coerce_numbers(yaml.safe_load(text)) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({error})") from error
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is set to a value and used as a mapping")
        node[parts[-1]] = value
    return out


def resolve_config(env_id: str | None, algo: str | None, seed: int | None, config_file: str | Path | None = None,
                   sets: list[str] | None = None, **flags: Any) -> dict:
    """The resolved configuration of a new run.

    Precedence, lowest first: ``default`` and the env's entry in ``agents/hyperparams/<algo>.yaml``, the
    ``--config`` file (a mapping with any hyperparameter key, and optionally ``env_id``, ``algo``, ``seed``:
    a previous run's ``config.yaml`` works), ``--set key=value`` overrides, then explicit flags
    (``total_steps``, ``num_envs``, ``checkpoint_every``, ``action``; None means unset; the gradient agent
    takes ``action`` only).
    """
    from_file: dict = {}
    if config_file is not None:
        from_file = read_yaml(Path(config_file), "config file")
        if from_file is None:
            from_file = {}
        if not isinstance(from_file, dict):
            raise ConfigError(f"{config_file} must be a mapping of hyperparameters")
    env_id = env_id if env_id is not None else from_file.get("env_id")
    algo = algo if algo is not None else from_file.get("algo")
    seed = seed if seed is not None else from_file.get("seed", 0)
    if env_id is None:
        raise ConfigError("no env id: pass --env-id (e.g. echelon/Serial-v0) or a --config that sets env_id")
    if algo is None:
        raise ConfigError(f"no algorithm: pass --algo ({', '.join(ALGO_NAMES)}) or a --config that sets algo")
    check_env_id(env_id)
    keys = hyperparam_keys(check_algo(algo))
    unknown = [k for k in from_file if k not in keys and k not in IDENTITY_KEYS]
    if unknown:
        raise ConfigError(f"{config_file}: unknown key {unknown[0]!r}; allowed: {', '.join((*IDENTITY_KEYS, *keys))}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {seed!r}")
    overrides = {k: v for k, v in from_file.items() if k in keys}
    overrides = deep_merge(overrides, parse_sets(sets))
    unknown = [k for k in overrides if k not in keys]
    if unknown:
        raise ConfigError(f"--set: unknown key {unknown[0]!r}; allowed: {', '.join(keys)}")
    flags = {k: v for k, v in flags.items() if v is not None}
    if algo == "gradient" and set(flags) - {"action"}:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(set(flags) - {"action"}))
        raise ConfigError(f"{names}: not used by the gradient agent; set paths, horizon, iterations or "
                          "checkpoint_every (iterations) with --set")
    overrides.update(flags)
    hyperparams = load_algo_hyperparams(algo, env_id, overrides)
    if hyperparams.get("action") == "residual" and env_kwargs_of(hyperparams).get("action_mode", "order_up_to") != (
            "order_up_to"):
        raise ConfigError("action residual needs env_kwargs.action_mode order_up_to")
    return {"env_id": env_id, "algo": algo, "seed": seed, **hyperparams}


# Environment ----------------------------------------------------------------------------------------
def make_train_env(config: dict, echelon_levels: np.ndarray | None = None) -> VecNormalize:
    """``SB3VecEnv`` (episode length of the registered spec) [-> ``ResidualVecEnv`` on the plan's
    ``echelon_levels`` when ``action`` is ``residual``] -> ``VecMonitor`` [-> ``CommonRandomNumbers`` when
    ``crn_groups`` > 1] -> ``VecNormalize``."""
    env_id = config["env_id"]
    venv = SB3VecEnv(num_envs=int(config["num_envs"]), scenario=ENV_IDS[env_id][0],
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
    return VecNormalize(monitored, norm_obs=bool(norm.get("obs", True)),
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
        self.last_saved: int | None = None

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
        for old in folder.glob(f"{CHECKPOINT_PREFIX}_replay_buffer_*_steps.pkl"):
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
        pd.DataFrame([row]).to_csv(self.path, mode="a", header=not self.path.exists(), index=False)
        if self.window:
            self.logger.record("rollout/ep_cost_per_period", per_period)
        self.window = []
        self.row_time, self.row_steps = now, steps
        if self.bar is not None and not math.isnan(self.last_cost):
            self.bar.set_postfix_str(f"cost/period {self.last_cost:.2f}", refresh=False)


# Training -------------------------------------------------------------------------------------------
def train(env_id: str | None, algo: str | None, seed: int | None, *, runs_dir: str | Path = "runs",
          run_name: str | None = None, config_file: str | Path | None = None, sets: list[str] | None = None,
          total_steps: int | None = None, num_envs: int | None = None, checkpoint_every: int | None = None,
          progress: bool | None = None, verbose: int = 0, argv: list[str] | None = None,
          action: str | None = None) -> tuple[Run, int]:
    """Start a new run; returns it and the exit status (0 finished, 130 interrupted)."""
    config = resolve_config(env_id, algo, seed, config_file, sets, total_steps=total_steps, num_envs=num_envs,
                            checkpoint_every=checkpoint_every, action=action)
    levels, method = None, None
    if config.get("action") == "residual":
        planned = plan(ENV_IDS[config["env_id"]][0])
        levels, method = planned.echelon_levels, planned.method
    extra_meta = {"hyperparams_file": str(hyperparams_file(config["algo"]))}
    if config["algo"] == "gradient":
        from experiments.train_gradient import start_session

        run = create_run(runs_dir, config, argv or sys.argv, run_name, extra_meta=extra_meta)
        if levels is not None:
            save_plan(run, levels, method)
        return run, start_session(run, config, levels, argv or sys.argv, progress=progress)
    env = make_train_env(config, levels)
    model = make_model(config["algo"], env, config, seed=config["seed"], tensorboard_log=None, verbose=verbose)
    run = create_run(runs_dir, config, argv or sys.argv, run_name, extra_meta=extra_meta)
    if levels is not None:
        save_plan(run, levels, method)
    return run, _session(run, config, model, argv or sys.argv, resumed=False, progress=progress)


def resume(run_dir: str | Path, *, checkpoint: str | Path | None = None, total_steps: int | None = None,
           progress: bool | None = None, verbose: int = 0, argv: list[str] | None = None) -> tuple[Run, int]:
    """Continue an unfinished run from its latest checkpoint (or ``checkpoint``) with the same step count.

    Everything is read and checked (config, meta.json, checkpoint, normalization statistics, replay buffer,
    metrics.csv) before the folder is written to; a finished run is refused. Rows of ``metrics.csv`` past the
    checkpoint (from a session that failed or was killed after it) are dropped.
    """
    run = open_run(run_dir)
    status = run.status
    if status == FINISHED:
        raise RunError(f"{run.path} is finished; a finished run is never overwritten "
                       f"(start a new one with: echelon train --config {run.file(CONFIG)})")
    run.check_not_in_progress()
    config = run.load_config()
    try:
        keys = hyperparam_keys(check_algo(config["algo"]))
        unknown = [k for k in config if k not in keys and k not in IDENTITY_KEYS]
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}")
        check_env_id(config["env_id"])
        hyper = {k: v for k, v in config.items() if k in keys}
        if total_steps is not None:
            if config["algo"] == "gradient":
                raise RunError("--total-steps is not used by the gradient agent (its budget is 'iterations')")
            hyper["total_steps"] = total_steps
        load_algo_hyperparams(config["algo"], config["env_id"], hyper)
    except ConfigError as error:
        raise RunError(f"{run.file(CONFIG)} is corrupted ({error}); the run folder was left unchanged") from error
    run.load_meta()  # checked now: the session reads it only after the folder has been written to
    levels = load_plan_levels(run) if config.get("action") == "residual" else None
    if config["algo"] == "gradient":
        from experiments.train_gradient import resume_session

        return run, resume_session(run, config, levels, checkpoint, argv or sys.argv, progress=progress)
    if checkpoint is not None:
        found = Checkpoint.from_model_path(Path(checkpoint))
        if found.model.resolve().parent != run.checkpoint_dir.resolve():
            raise RunError(f"{checkpoint} is not a checkpoint of {run.path}")
    else:
        found = run.latest_checkpoint()
        if found is None:
            raise RunError(f"{run.path} has no checkpoint to resume from; start a new run instead")
    env = make_train_env(config, levels)
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
    previous = run.trim_metrics(int(model.num_timesteps))
    if total_steps is not None and total_steps != config["total_steps"]:
        config["total_steps"] = int(total_steps)
        write_atomic(run.file(CONFIG), yaml.safe_dump(config, sort_keys=False))
    model.set_random_seed(resume_seed(int(config["seed"]), int(model.num_timesteps)))
    return run, _session(run, config, model, argv or sys.argv, resumed=True, progress=progress, previous=previous)


def resume_seed(seed: int, steps: int) -> int:
    """Seed of a session resumed at ``steps``: derived from (seed, steps), so a resumed run is reproducible, and
    in [2**20, 2**31) so its replicas' seeds stay clear of the evaluation seeds (1e6 .. 2**20 by default)."""
    return int(np.random.SeedSequence([seed, steps]).generate_state(1)[0] % (2**31 - 2**20)) + 2**20


def _session(run: Run, config: dict, model: BaseAlgorithm, argv: list[str], resumed: bool,
             progress: bool | None, previous: dict[str, str] | None = None) -> int:
    """Train ``model`` up to ``total_steps`` inside ``run``; save, evaluate and record the outcome (``previous``:
    the last ``metrics.csv`` row of the earlier sessions)."""
    start_steps = int(model.num_timesteps)
    run.start_session(argv, start_steps, "resumed" if resumed else "started")
    model.tensorboard_log = str(run.tensorboard_dir)
    total = int(config["total_steps"])
    stop = StopFlag()
    started = time.perf_counter()
    bar = tqdm(total=total, initial=start_steps, desc=f"train {config['algo']}", unit="step", dynamic_ncols=True,
               disable=None if progress is None else not progress)
    metrics = CostMetrics(run.file(METRICS), int(config.get("metrics_every", 10_000)), bar, previous)
    checkpoints = StepCheckpoint(int(config.get("checkpoint_every", 100_000)), run.checkpoint_dir)
    status = FINISHED
    with run.failing_session(lambda: int(model.num_timesteps)), bar, graceful_interrupts(stop):
        try:
            if total > start_steps:
                model.learn(total_timesteps=total - start_steps if resumed else total,
                            callback=CallbackList([metrics, checkpoints, stop]), reset_num_timesteps=not resumed,
                            tb_log_name=config["algo"].upper(), progress_bar=False)
        except KeyboardInterrupt:
            stop.requested = True
        if stop.requested:
            status = INTERRUPTED
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the checkpoint be written
            checkpoint = save_checkpoint(model, run.checkpoint_dir)
    steps = int(model.num_timesteps)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {"timesteps": steps, "session_seconds": round(seconds, 2),
                              "session_fps": round((steps - start_steps) / max(seconds, 1e-9), 1)}
    if status == INTERRUPTED:
        run.end_session(INTERRUPTED, steps)
        print(f"interrupted at {steps:,} steps; checkpoint {checkpoint.model}\n"
              f"continue with: echelon train --resume {run.path}")
        return EXIT_INTERRUPTED
    run.finish_session(steps, result, lambda: _save_and_evaluate(run, config, model, steps, progress))
    print(f"finished {steps:,} steps in {seconds:.1f} s ({result['session_fps']:,.0f} steps/s): {run.path}")
    return 0


def _save_and_evaluate(run: Run, config: dict, model: BaseAlgorithm, steps: int, progress: bool | None) -> Any:
    """Save the final model and its statistics, then evaluate it as it will be reloaded (None: no evaluation)."""
    save_checkpoint_final(model, run)
    action_mode = env_kwargs_of(config).get("action_mode", "order_up_to")
    policy = ModelPolicy(model, _frozen_copy(model.get_vec_normalize_env()), action_mode, _residual_of(model.get_env()))
    return final_evaluation(run, config, policy, policy_name(config), run.file(MODEL), steps,
                            env_kwargs_of(config).get("warmup_periods"), progress)


def _residual_of(env) -> Any:
    """The :class:`~agents.residual.ResidualPolicy` of a wrapped training env (None if not residual)."""
    while env is not None:
        if isinstance(env, ResidualVecEnv):
            return env.policy
        env = getattr(env, "venv", None)
    return None


def save_checkpoint_final(model: BaseAlgorithm, run: Run) -> None:
    _save_pickled(model.get_vec_normalize_env(), run.file(VECNORMALIZE))
    _save_with(model.save, run.file(MODEL))


def _frozen_copy(vecnormalize: VecNormalize) -> VecNormalize:
    """The statistics as a reloaded model sees them (a pickled round trip, so evaluation matches exactly)."""
    frozen = pickle.loads(pickle.dumps(vecnormalize))
    frozen.training = False
    frozen.norm_reward = False
    return frozen

