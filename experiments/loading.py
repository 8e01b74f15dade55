"""The policy of a run folder, as it was saved: SB3 runs and gradient runs alike.

SB3 runs hold ``model.zip`` + ``vecnormalize.pkl`` (or checkpoints of both); gradient runs hold ``policy.pt`` (or
checkpoints); residual runs also hold ``plan.json`` (:mod:`experiments.residual_plan`). Every policy maps an
observation batch to an action batch with an ``action_mode``, as :func:`baselines.evaluation.evaluate`
expects; none reads the env's internals.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecNormalize

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER, check_env_id
from agents.gradient_policies import GradientNumpyPolicy, build_policy
from agents.residual import ResidualPolicy
from agents.sb3_agents import ALGOS, load_model
from envs import env_scenario
from envs.sb3 import SB3VecEnv
from experiments.checkpoints import Checkpoint, latest_gradient_checkpoint, latest_sb3_checkpoint
from experiments.residual_plan import load_plan_levels, residual_policy
from experiments.run_config import env_action_mode, env_kwargs_of, env_params, policy_name, warmup_periods
from experiments.runs import CONFIG, MODEL, POLICY, VECNORMALIZE, Run, RunError, open_run


class ModelPolicy:
    """Deterministic actions of a trained SB3 model on observations normalized by its saved statistics;
    with ``residual``, the model's action is a residual on the plan (:class:`agents.residual.ResidualPolicy`)."""

    def __init__(self, model, vecnormalize, action_mode: str = "order_up_to",
                 residual: ResidualPolicy | None = None) -> None:
        self.model = model
        self.vecnormalize = vecnormalize
        self.action_mode = action_mode
        self.residual = residual

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        normalized = observations if self.vecnormalize is None else self.vecnormalize.normalize_obs(observations)
        actions, _ = self.model.predict(normalized, deterministic=True)
        actions = np.clip(actions, -1.0, 1.0)
        return actions if self.residual is None else self.residual.env_action(observations, actions)


@dataclass
class LoadedRun:
    """A run's policy with what is needed to evaluate and report it."""

    run: Run
    config: dict
    policy: Any
    model_path: Path
    timesteps: int

    @property
    def warmup_periods(self) -> int | None:
        """The env warm-up the run was trained with (None: the scenario's)."""
        return warmup_periods(self.config)

    @property
    def label(self) -> str:
        return f"{policy_name(self.config)} ({self.run.path.name})"


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None) -> LoadedRun:
    """The policy of a run: its final model (or ``checkpoint``, which must be inside the run folder, or the latest
    checkpoint of an unfinished run)."""
    run = open_run(run_dir)
    if checkpoint is not None and not Path(checkpoint).resolve().is_relative_to(run.path.resolve()):
        raise RunError(f"checkpoint {checkpoint} is not inside the run folder {run.path}: a checkpoint is evaluated "
                       "with its own run's config (and is reported under that run's name)")
    config = run.load_config()
    if config["algo"] == "gradient":
        return _load_gradient_run(run, config, checkpoint)
    if config["algo"] not in ALGOS:
        raise RunError(f"{run.file(CONFIG)} is corrupted (unknown algo {config['algo']!r})")
    return _load_sb3_run(run, config, checkpoint)


def _load_sb3_run(run: Run, config: dict, checkpoint: str | Path | None) -> LoadedRun:
    if checkpoint is not None:
        found = Checkpoint.from_model_path(Path(checkpoint))
        model_path, vecnorm_path = found.model, found.vecnormalize
    elif run.file(MODEL).exists():
        model_path, vecnorm_path = run.file(MODEL), run.file(VECNORMALIZE)
    else:
        latest = latest_sb3_checkpoint(run.checkpoint_dir)
        if latest is None:
            raise RunError(f"{run.path} has no final model and no checkpoint yet")
        model_path, vecnorm_path = latest.model, latest.vecnormalize
    vecnormalize = load_vecnormalize(vecnorm_path, config)
    model = load_sb3_model(config["algo"], model_path, device=config.get("device", "cpu"))
    residual = residual_policy(config, load_plan_levels(run)) if config.get("action") == "residual" else None
    policy = ModelPolicy(model, vecnormalize, env_action_mode(config), residual)
    return LoadedRun(run, config, policy, model_path, int(model.num_timesteps))


def _load_gradient_run(run: Run, config: dict, checkpoint: str | Path | None) -> LoadedRun:
    """The policy of a gradient run: ``policy.pt`` (or ``checkpoint``, or the latest checkpoint)."""
    params = env_params(config["env_id"])
    path = Path(checkpoint) if checkpoint is not None else run.file(POLICY)
    if checkpoint is None and not path.exists():
        path = latest_gradient_checkpoint(run.checkpoint_dir)
        if path is None:
            raise RunError(f"{run.path} has no final policy and no checkpoint yet")
    data = load_torch(path)
    state = data.get("state_dict", data.get("policy"))
    action = config.get("action", "direct")
    try:
        levels = state["echelon_levels"].numpy() if action == "residual" else None
        bound = float(config.get("max_log_multiplier", DEFAULT_MAX_LOG_MULTIPLIER))
        module = build_policy(params, action, config["hidden"], levels, bound, config.get("network", "mlp"))
        module.load_state_dict(state)
    except Exception as error:
        raise RunError(f"{path} is corrupted or incompatible ({type(error).__name__}: {error}); the run folder "
                       "was left unchanged") from error
    iteration = int(data.get("iteration", 0))
    steps = iteration * int(config["paths"]) * int(config["horizon"])
    return LoadedRun(run, config, GradientNumpyPolicy(module, params), path, steps)


def load_vecnormalize(path: Path, config: dict, venv=None):
    """Observation statistics saved with a model, attached to ``venv`` (default: a one-replica env of the run's
    scenario) and frozen (``training=False``, no reward normalization; set ``training`` back to continue)."""
    if not path.exists():
        raise RunError(f"{path} is missing: the observation normalization saved with the model")
    if venv is None:
        venv = SB3VecEnv(num_envs=1, scenario=env_scenario(check_env_id(config["env_id"])), **env_kwargs_of(config))
    try:
        vecnormalize = VecNormalize.load(str(path), venv)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError,
            KeyError, AssertionError) as error:
        raise RunError(f"{path} is corrupted ({type(error).__name__}: {error}); the run folder was left "
                       "unchanged") from error
    vecnormalize.training = False
    return vecnormalize


def load_sb3_model(algo: str, path: Path, env=None, **kwargs):
    """Load a saved model; a :class:`RunError` names the file when it is missing or corrupted."""
    if not path.exists():
        raise RunError(f"{path} is missing")
    try:
        return load_model(algo, path, env=env, **kwargs)
    except Exception as error:  # zipfile, pickle, torch and shape errors all mean the same thing here
        raise RunError(f"{path} is corrupted or incompatible ({type(error).__name__}: {error}); the run "
                       "folder was left unchanged") from error


def load_torch(path: Path) -> dict:
    """A torch file of the run folder (weights only); a :class:`RunError` names it when missing or corrupted."""
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
