"""Policies the ``echelon`` command evaluates: named baselines and the policy of any trained run folder.

Every policy maps an observation batch (B, obs_size) to an action batch (B, N * P) and has an
``action_mode`` (and optionally ``reset()``), as :func:`baselines.evaluation.evaluate` expects; none reads
the env's internals.

Named policies (``--policy``): ``planner`` (the analytic plan's echelon base stock), ``tuned`` (the plan's
levels scaled by simulation, :func:`baselines.tuning.tune` on its own fixed seeds), ``newsvendor`` and
``constant`` (the naive references of :mod:`baselines.naive`) and ``random`` (uniform actions).

Run folders: SB3 runs (``model.zip`` + ``vecnormalize.pkl``; residual runs also ``plan.json``, the plan's
echelon levels they were trained on) and gradient runs (``policy.pt``).
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecNormalize

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER
from agents.residual import ResidualPolicy
from agents.sb3_agents import ALGOS, ConfigError, load_model
from baselines.naive import constant_order_reference, newsvendor_reference
from baselines.planner import plan
from baselines.policies import EchelonBaseStockPolicy
from baselines.tuning import tune
from envs import ENV_IDS
from envs.params import EnvParams, compile_scenario
from envs.sb3 import SB3VecEnv
from envs.scenario import resolve_scenario
from experiments.runs import MODEL, PLAN, VECNORMALIZE, Checkpoint, Run, RunError, open_run, write_atomic

TUNING_SEED = 10_000
"""Seed of the tuning simulations of the ``tuned`` policy: fixed, and away from the evaluation seeds."""


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


class RandomPolicy:
    """Uniform random actions in [-1, 1] (a floor every learned policy should beat): episode j's actions come from
    its own generator seeded (seed, j), so they do not depend on how the episodes are split into chunks."""

    def __init__(self, env_id: str, seed: int = 0, action_mode: str = "order_up_to") -> None:
        env = gym.make(env_id)
        self.size = int(np.prod(env.action_space.shape))
        env.close()
        self.seed = seed
        self.action_mode = action_mode
        self.start_episodes(0, 0)

    def start_episodes(self, first: int, count: int) -> None:
        """The next batches are episodes ``first .. first + count - 1`` (called by ``run_episodes`` per chunk)."""
        self.first, self.count = first, count
        self.reset()

    def reset(self) -> None:
        self.rngs = [np.random.default_rng((self.seed, self.first + i)) for i in range(self.count)]

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        if len(observations) != len(self.rngs):  # not told which episodes: episodes 0 .. B - 1
            self.start_episodes(0, len(observations))
        return np.stack([rng.uniform(-1.0, 1.0, self.size) for rng in self.rngs]).astype(np.float32)


def scenario_name(env_id: str) -> str:
    if env_id not in ENV_IDS:
        raise ConfigError(f"unknown env id {env_id!r}; registered ids: {', '.join(ENV_IDS)}")
    return ENV_IDS[env_id][0]


def _tuned(env_id: str, seed: int = 0):
    return tune(plan(scenario_name(env_id)), env_id, seed=TUNING_SEED).policy


POLICIES: dict[str, Callable[[str, int], Any]] = {
    "planner": lambda env_id, seed=0: plan(scenario_name(env_id)).policy(),
    "tuned": _tuned,
    "newsvendor": lambda env_id, seed=0: newsvendor_reference(scenario_name(env_id)),
    "constant": lambda env_id, seed=0: constant_order_reference(scenario_name(env_id)),
    "random": lambda env_id, seed=0: RandomPolicy(env_id, seed),
}


def make_named_policy(name: str, env_id: str, seed: int = 0):
    """The named policy on ``env_id``; ``seed`` only seeds ``random``."""
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    scenario_name(env_id)
    return POLICIES[name](env_id, seed)


# Residual runs --------------------------------------------------------------------------------------
def save_plan(run: Run, echelon_levels: np.ndarray, method: str) -> None:
    """Record the plan a residual agent corrects (so it is evaluated on the same plan whatever the planner
    computes later)."""
    data = {"method": method, "echelon_levels": np.asarray(echelon_levels, dtype=float).tolist()}
    write_atomic(run.file(PLAN), json.dumps(data) + "\n")


def load_plan_levels(run: Run) -> np.ndarray:
    path = run.file(PLAN)
    try:
        return np.asarray(json.loads(path.read_text())["echelon_levels"], dtype=float)
    except FileNotFoundError as error:
        raise RunError(f"{path} is missing: the plan this residual run was trained on") from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(f"{path} is corrupted ({type(error).__name__}: {error}); the run folder was left "
                       "unchanged") from error


def residual_policy(config: dict, echelon_levels: np.ndarray, params: EnvParams | None = None) -> ResidualPolicy:
    """The plan-correcting action map of a residual run's config."""
    params = params or compile_scenario(resolve_scenario(scenario_name(config["env_id"])))
    bound = float(config.get("max_log_multiplier", DEFAULT_MAX_LOG_MULTIPLIER))
    return ResidualPolicy(EchelonBaseStockPolicy(echelon_levels, params), bound)


# SB3 runs -------------------------------------------------------------------------------------------
def env_kwargs_of(config: dict) -> dict:
    """The env arguments recorded in a run's config (``action_mode``, ``warmup_periods``)."""
    return {k: v for k, v in (config.get("env_kwargs") or {}).items() if k in ("action_mode", "warmup_periods")}


def load_vecnormalize(path: Path, config: dict, venv=None):
    """Observation statistics saved with a model, attached to ``venv`` (default: a one-replica env of the run's
    scenario) and frozen (``training=False``, no reward normalization; set ``training`` back to continue)."""
    if not path.exists():
        raise RunError(f"{path} is missing: the observation normalization saved with the model")
    if venv is None:
        venv = SB3VecEnv(num_envs=1, scenario=scenario_name(config["env_id"]), **env_kwargs_of(config))
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


@dataclass
class LoadedRun:
    run: Run
    config: dict
    policy: Any
    model_path: Path
    timesteps: int

    @property
    def warmup_periods(self) -> int | None:
        """The env warm-up the run was trained with (None: the scenario's)."""
        return self.config.get("warmup_periods", env_kwargs_of(self.config).get("warmup_periods"))

    @property
    def label(self) -> str:
        return f"{policy_name(self.config)} ({self.run.path.name})"


def policy_name(config: dict) -> str:
    """``<algo>`` or ``<algo> residual``: what a run's policy is called in evaluations."""
    return f"{config['algo']}{' residual' if config.get('action') == 'residual' else ''}"


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None) -> LoadedRun:
    """The policy of a run: its final model (or ``checkpoint``, which must be inside the run folder, or the latest
    checkpoint of an unfinished run)."""
    run = open_run(run_dir)
    if checkpoint is not None and not Path(checkpoint).resolve().is_relative_to(run.path.resolve()):
        raise RunError(f"checkpoint {checkpoint} is not inside the run folder {run.path}: a checkpoint is evaluated "
                       "with its own run's config (and is reported under that run's name)")
    config = run.load_config()
    if config["algo"] == "gradient":
        from experiments.train_gradient import load_gradient_run

        return load_gradient_run(run, config, checkpoint)
    if config["algo"] not in ALGOS:
        raise RunError(f"{run.file('config.yaml')} is corrupted (unknown algo {config['algo']!r})")
    if checkpoint is not None:
        found = Checkpoint.from_model_path(Path(checkpoint))
        model_path, vecnorm_path = found.model, found.vecnormalize
    elif run.file(MODEL).exists():
        model_path, vecnorm_path = run.file(MODEL), run.file(VECNORMALIZE)
    else:
        latest = run.latest_checkpoint()
        if latest is None:
            raise RunError(f"{run.path} has no final model and no checkpoint yet")
        model_path, vecnorm_path = latest.model, latest.vecnormalize
    vecnormalize = load_vecnormalize(vecnorm_path, config)
    model = load_sb3_model(config["algo"], model_path, device=config.get("device", "cpu"))
    residual = residual_policy(config, load_plan_levels(run)) if config.get("action") == "residual" else None
    action_mode = env_kwargs_of(config).get("action_mode", "order_up_to")
    policy = ModelPolicy(model, vecnormalize, action_mode, residual)
    return LoadedRun(run, config, policy, model_path, int(model.num_timesteps))
