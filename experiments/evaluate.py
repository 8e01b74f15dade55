"""Evaluate policies with common random numbers: the same demand and lead-time draws for every policy.

Episode j (j = 0 .. episodes - 1) runs on a replica seeded ``seed + j`` for the registered episode length;
because all randomness in the env is exogenous, every policy evaluated with the same ``seed`` faces the
same demands and lead times in every episode, whatever ``num_envs`` (the replicas simulated at once). Each
episode's average cost per period is one independent observation; means come with two-sided 95% Student-t
confidence intervals, and differences between policies are paired by episode.

A policy is any callable mapping an observation batch (B, obs_size) to an action batch (B, N * P) with an
``action_mode`` attribute (and optionally ``reset()``), as in :mod:`baselines.policies`.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from scipy import stats
from stable_baselines3.common.vec_env import VecNormalize
from tqdm import tqdm

from agents.sb3_agents import ALGOS, ConfigError, load_model
from envs import ENV_IDS
from envs.sb3 import SB3VecEnv
from envs.vector import EchelonVectorEnv
from experiments.runs import MODEL, VECNORMALIZE, Checkpoint, Run, RunError, open_run, write_atomic

DEFAULT_EVAL_SEED = 1_000_000
"""First evaluation seed: far from the training seeds (``seed .. seed + num_envs - 1``)."""

DEFAULT_EPISODES = 100
MAX_EVAL_ENVS = 256


class NotAvailableError(RuntimeError):
    """A policy or command that depends on work not merged yet."""


# Statistics -----------------------------------------------------------------------------------------
def mean_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the two-sided Student-t interval (NaN half-width for one value)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float(values.mean()), math.nan
    quantile = stats.t.ppf(0.5 + confidence / 2.0, values.size - 1)
    return float(values.mean()), float(quantile * values.std(ddof=1) / math.sqrt(values.size))


def _estimate(values: np.ndarray) -> dict[str, float | None]:
    mean, half = mean_ci(values)
    return {"mean": mean, "ci95": None if math.isnan(half) else half}


@dataclass
class EpisodeResults:
    """Per-episode averages per period (arrays of shape (episodes,))."""

    env_id: str
    seed: int
    periods: int
    cost: dict[str, np.ndarray] = field(default_factory=dict)  # "total", "holding", ...
    fill_rate: dict[str, np.ndarray] = field(default_factory=dict)  # by speed
    lost: dict[str, np.ndarray] = field(default_factory=dict)  # by speed, units per period

    @property
    def episodes(self) -> int:
        return len(self.cost["total"])

    def summary(self) -> dict[str, Any]:
        """JSON-ready: mean cost per period (total and breakdown), fill rate and lost units by speed, with
        95% CIs, plus the per-episode total cost per period (for paired comparisons)."""
        return {
            "env_id": self.env_id,
            "episodes": self.episodes,
            "seed": self.seed,
            "periods_per_episode": self.periods,
            "cost_per_period": {name: _estimate(v) for name, v in self.cost.items()},
            "fill_rate": {name: _estimate(v) for name, v in self.fill_rate.items()},
            "lost_per_period": {name: _estimate(v) for name, v in self.lost.items()},
            "episode_cost_per_period": [float(v) for v in self.cost["total"]],
        }


# Simulation -----------------------------------------------------------------------------------------
def episode_length(env_id: str) -> int:
    steps = gym.spec(env_id).max_episode_steps
    return int(steps) if steps else 200


def run_episodes(policy: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int = DEFAULT_EPISODES,
                 seed: int = DEFAULT_EVAL_SEED, num_envs: int | None = None, periods: int | None = None,
                 warmup_periods: int | None = None, progress: bool | None = None) -> EpisodeResults:
    """Run ``episodes`` episodes of ``periods`` periods (default: the registered episode length) of ``policy``,
    ``num_envs`` at a time (default ``min(episodes, 256)``); episode j uses seed ``seed + j``."""
    if env_id not in ENV_IDS:
        raise ConfigError(f"unknown env id {env_id!r}; registered ids: {', '.join(ENV_IDS)}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    periods = episode_length(env_id) if periods is None else int(periods)
    num_envs = min(episodes, MAX_EVAL_ENVS) if num_envs is None else max(1, min(int(num_envs), episodes))
    action_mode = getattr(policy, "action_mode", "order_up_to")
    results = EpisodeResults(env_id, seed, periods)
    chunks: dict[str, list[dict[str, np.ndarray]]] = {"cost": [], "fill_rate": [], "lost": []}
    envs: dict[int, EchelonVectorEnv] = {}
    if hasattr(policy, "reset"):
        policy.reset()
    with tqdm(total=episodes * periods, desc="evaluate", unit="period", disable=_disable(progress),
              leave=False) as bar:
        for start in range(0, episodes, num_envs):
            size = min(num_envs, episodes - start)
            if size not in envs:
                envs[size] = EchelonVectorEnv(size, ENV_IDS[env_id][0], action_mode=action_mode,
                                              warmup_periods=warmup_periods, max_episode_steps=None)
            env = envs[size]
            observations, _ = env.reset(seed=[seed + start + i for i in range(size)])
            sums: dict[str, dict[str, np.ndarray]] = {"cost": {}, "fill_rate": {}, "lost": {}}
            for _ in range(periods):
                actions = policy(observations)
                observations, _, _, _, info = env.step(actions)
                for group, values in sums.items():
                    for name, value in info[group].items():
                        values[name] = values.get(name, 0.0) + np.asarray(value, dtype=np.float64)
                bar.update(size)
            for group, values in sums.items():
                chunks[group].append({name: value / periods for name, value in values.items()})
    for env in envs.values():
        env.close()
    for group in ("cost", "fill_rate", "lost"):
        names = chunks[group][0].keys()
        setattr(results, group, {name: np.concatenate([c[name] for c in chunks[group]]) for name in names})
    return results


def _disable(progress: bool | None) -> bool | None:
    """tqdm's ``disable``: None shows the bar on terminals only."""
    return None if progress is None else not progress


# Policies -------------------------------------------------------------------------------------------
class ModelPolicy:
    """Deterministic actions of a trained SB3 model on observations normalized by its saved statistics."""

    def __init__(self, model, vecnormalize, action_mode: str = "order_up_to") -> None:
        self.model = model
        self.vecnormalize = vecnormalize
        self.action_mode = action_mode

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        if self.vecnormalize is not None:
            observations = self.vecnormalize.normalize_obs(observations)
        actions, _ = self.model.predict(observations, deterministic=True)
        return np.clip(actions, -1.0, 1.0)


class RandomPolicy:
    """Uniform random actions in [-1, 1] (a floor every learned policy should beat); reproducible."""

    def __init__(self, env_id: str, seed: int = 0, action_mode: str = "order_up_to") -> None:
        env = gym.make(env_id)
        self.size = int(np.prod(env.action_space.shape))
        env.close()
        self.seed = seed
        self.action_mode = action_mode
        self.reset()

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (len(observations), self.size)).astype(np.float32)


def _not_available(name: str) -> Callable[..., Any]:
    def factory(env_id: str, seed: int = 0):
        raise NotAvailableError(f"policy {name!r} is not yet available: needs the analytic planner (issue 3)")

    return factory


POLICIES: dict[str, Callable[..., Any]] = {
    "random": lambda env_id, seed=0: RandomPolicy(env_id, seed),
    # Hooks for the analytic planner and the residual (planner + learned correction) policies; each factory
    # takes (env_id, seed) and returns a policy callable with ``action_mode``.
    "planner": _not_available("planner"),
    "residual": _not_available("residual"),
}


def make_named_policy(name: str, env_id: str, seed: int = 0):
    if name not in POLICIES:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    if env_id not in ENV_IDS:
        raise ConfigError(f"unknown env id {env_id!r}; registered ids: {', '.join(ENV_IDS)}")
    return POLICIES[name](env_id, seed)


@dataclass
class LoadedRun:
    run: Run
    config: dict
    policy: ModelPolicy
    model_path: Path
    timesteps: int


def load_vecnormalize(path: Path, config: dict, venv=None):
    """Observation statistics saved with a model, attached to ``venv`` (default: a one-replica env of the run's
    scenario) and frozen (``training=False``, no reward normalization; set ``training`` back to continue)."""
    if not path.exists():
        raise RunError(f"{path} is missing: the observation normalization saved with the model")
    if venv is None:
        venv = SB3VecEnv(num_envs=1, scenario=ENV_IDS[config["env_id"]][0], **env_kwargs_of(config))
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


def env_kwargs_of(config: dict) -> dict:
    """The env arguments recorded in a run's config (``action_mode``, ``warmup_periods``)."""
    return {k: v for k, v in (config.get("env_kwargs") or {}).items() if k in ("action_mode", "warmup_periods")}


def load_run(run_dir: str | Path, checkpoint: str | Path | None = None) -> LoadedRun:
    """The policy of a run: its final model (or ``checkpoint``, or the latest checkpoint of an unfinished run)."""
    run = open_run(run_dir)
    config = run.load_config()
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
    action_mode = env_kwargs_of(config).get("action_mode", "order_up_to")
    return LoadedRun(run, config, ModelPolicy(model, vecnormalize, action_mode), model_path, int(model.num_timesteps))


def evaluate_run(run_dir: str | Path, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_EVAL_SEED,
                 num_envs: int | None = None, periods: int | None = None, checkpoint: str | Path | None = None,
                 progress: bool | None = None) -> dict[str, Any]:
    loaded = load_run(run_dir, checkpoint)
    results = run_episodes(loaded.policy, loaded.config["env_id"], episodes, seed, num_envs, periods,
                           env_kwargs_of(loaded.config).get("warmup_periods"), progress)
    summary = {"policy": f"{loaded.config['algo']} ({loaded.run.path.name})", "model": str(loaded.model_path),
               "model_timesteps": loaded.timesteps, **results.summary()}
    return summary


def write_json(path: Path, data: dict) -> None:
    write_atomic(Path(path), json.dumps(data, indent=2) + "\n")


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable report of :meth:`EpisodeResults.summary`."""
    last_seed = summary["seed"] + summary["episodes"] - 1
    lines = [
        f"{summary.get('policy', 'policy')} on {summary['env_id']}: {summary['episodes']} episodes x "
        f"{summary['periods_per_episode']} periods, seeds {summary['seed']}..{last_seed}",
        f"{'cost per period':<22}{'mean':>12}{'95% CI':>12}",
    ]
    for name, est in summary["cost_per_period"].items():
        lines.append(f"{name:<22}{est['mean']:>12.3f}{_half(est):>12}")
    lines.append("fill rate by speed: " + ", ".join(
        f"{name} {est['mean']:.4f}{_half(est, 4)}" for name, est in summary["fill_rate"].items()))
    lines.append("lost per period by speed: " + ", ".join(
        f"{name} {est['mean']:.3f}" for name, est in summary["lost_per_period"].items()))
    return "\n".join(lines)


def _half(est: dict, digits: int = 3) -> str:
    return "" if est["ci95"] is None else f"±{est['ci95']:.{digits}f}"
