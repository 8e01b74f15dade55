"""Evaluate policies on episodes with common random numbers, through :func:`baselines.evaluation.evaluate`.

Episode j (j = 0 .. episodes - 1) is replica j of the baselines' engine: seeded ``seed + j``, starting from the
env's warm-up and lasting the registered episode length (``warmup=0``: every period counts). Large episode
counts run in chunks of at most ``num_envs`` replicas, chunk k seeded at its first episode's seed, so the draws
never depend on the chunking. Because all randomness in the env is exogenous, every policy evaluated with the
same ``seed`` faces the same demands and lead times. Each episode's average cost per period is one
independent observation; the statistics are the baselines' (:func:`~baselines.evaluation.estimate`,
:func:`~baselines.evaluation.paired_difference`: Student-t 95% intervals, paired by episode).

The engine reports per-episode arrays for the total cost only; the cost breakdown, fill rates and capacity
use are means over all episodes and periods (no interval).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from agents.sb3_agents import ConfigError
from baselines.evaluation import Estimate, Evaluation, Policy, estimate, evaluate
from envs import ENV_IDS
from envs.params import compile_scenario
from envs.scenario import Scenario, resolve_scenario
from experiments.policies import LoadedRun, load_run
from experiments.runs import FINAL_EVAL, Run, write_atomic

DEFAULT_EVAL_SEED = 1_000_000
"""First evaluation seed: far from the training seeds (``seed .. seed + num_envs - 1``)."""

DEFAULT_EPISODES = 100
MAX_EVAL_ENVS = 256


@dataclass
class EpisodeResults:
    """One policy on ``episodes`` episodes: per-episode total cost, and means over every episode and period."""

    env_id: str
    seed: int
    periods: int
    cost: Estimate  # per-episode cost per period in ``cost.replicas``
    cost_breakdown: dict[str, float]
    fill_rate: dict[str, float]  # by speed
    storage_use: dict[str, float]  # by stocking node: mean volume on hand / capacity (0 where uncapped)
    inbound_use: dict[str, float]  # by stocking node: mean units received / capacity (0 where uncapped)

    @property
    def episodes(self) -> int:
        return len(self.cost.replicas)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: mean cost per period (95% CI for the total), breakdown, fill rate, capacity use, and the
        per-episode total cost per period (for paired comparisons)."""
        return {
            "env_id": self.env_id,
            "episodes": self.episodes,
            "seed": self.seed,
            "periods_per_episode": self.periods,
            "cost_per_period": {"total": {"mean": self.cost.mean, "ci95": self.cost.half_width},
                                **{k: {"mean": v, "ci95": None} for k, v in self.cost_breakdown.items()
                                   if k != "total"}},
            "fill_rate": {k: {"mean": v, "ci95": None} for k, v in self.fill_rate.items()},
            "storage_use": self.storage_use,
            "inbound_use": self.inbound_use,
            "episode_cost_per_period": [float(v) for v in self.cost.replicas],
        }


def episode_length(env_id: str) -> int:
    steps = gym.spec(env_id).max_episode_steps
    return int(steps) if steps else 200


def eval_scenario(env_id: str, warmup_periods: int | None = None) -> Scenario:
    """The env id's scenario, with the env's warm-up overridden when ``warmup_periods`` is set."""
    if env_id not in ENV_IDS:
        raise ConfigError(f"unknown env id {env_id!r}; registered ids: {', '.join(ENV_IDS)}")
    scenario = resolve_scenario(ENV_IDS[env_id][0])
    return scenario if warmup_periods is None else dataclasses.replace(scenario, warmup_periods=int(warmup_periods))


def chunks(episodes: int, num_envs: int) -> list[tuple[int, int]]:
    """(first episode, size) of near-equal chunks of at most ``num_envs`` (and at least 2) episodes."""
    count = -(-episodes // max(int(num_envs), 2))
    sizes = [episodes // count + (1 if k < episodes % count else 0) for k in range(count)]
    return [(sum(sizes[:k]), size) for k, size in enumerate(sizes)]


def run_episodes(policy: Policy, env_id: str, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_EVAL_SEED,
                 num_envs: int | None = None, periods: int | None = None, warmup_periods: int | None = None,
                 progress: bool | None = None) -> EpisodeResults:
    """Run ``episodes`` (>= 2) episodes of ``periods`` periods (default: the registered episode length) of
    ``policy``, ``num_envs`` at a time (default ``min(episodes, 256)``); episode j uses seed ``seed + j``."""
    scenario = eval_scenario(env_id, warmup_periods)
    if episodes < 2:
        raise ConfigError(f"need at least 2 episodes for a confidence interval, got {episodes}")
    periods = episode_length(env_id) if periods is None else int(periods)
    parts: list[tuple[int, Evaluation]] = []
    with tqdm(total=episodes, desc="evaluate", unit="episode", disable=None if progress is None else not progress,
              leave=False) as bar:
        for first, size in chunks(episodes, MAX_EVAL_ENVS if num_envs is None else num_envs):
            parts.append((size, evaluate(policy, scenario, num_envs=size, periods=periods, seed=seed + first,
                                         warmup=0)))
            bar.update(size)
    weights = np.array([size for size, _ in parts], dtype=float) / episodes
    evaluations = [e for _, e in parts]
    nodes = compile_scenario(scenario).node_names

    def mean_of(get) -> Any:
        return sum(w * np.asarray(get(e), dtype=float) for w, e in zip(weights, evaluations, strict=True))

    return EpisodeResults(
        env_id=env_id, seed=seed, periods=periods,
        cost=estimate(np.concatenate([e.cost.replicas for e in evaluations])),
        cost_breakdown={k: float(mean_of(lambda e, k=k: e.cost_breakdown[k])) for k in evaluations[0].cost_breakdown},
        fill_rate={k: float(mean_of(lambda e, k=k: e.fill_rate[k])) for k in evaluations[0].fill_rate},
        storage_use=dict(zip(nodes, mean_of(lambda e: e.storage_use).tolist(), strict=True)),
        inbound_use=dict(zip(nodes, mean_of(lambda e: e.inbound_use).tolist(), strict=True)),
    )


def evaluate_loaded(loaded: LoadedRun, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_EVAL_SEED,
                    num_envs: int | None = None, periods: int | None = None,
                    progress: bool | None = None) -> dict[str, Any]:
    """Summary (JSON-ready) of a loaded run's policy on its own env id and env settings."""
    results = run_episodes(loaded.policy, loaded.config["env_id"], episodes, seed, num_envs, periods,
                           loaded.warmup_periods, progress)
    return {"policy": loaded.label, "model": str(loaded.model_path), "model_timesteps": loaded.timesteps,
            **results.summary()}


def evaluate_run(run_dir: str | Path, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_EVAL_SEED,
                 num_envs: int | None = None, periods: int | None = None, checkpoint: str | Path | None = None,
                 progress: bool | None = None) -> dict[str, Any]:
    return evaluate_loaded(load_run(run_dir, checkpoint), episodes, seed, num_envs, periods, progress)


def final_evaluation(run: Run, config: dict, policy: Policy, label: str, model: Path, steps: int,
                     warmup_periods: int | None, progress: bool | None) -> float | None:
    """After training: evaluate ``policy`` on ``config["eval_episodes"]`` episodes, write ``final_eval.json``
    into the run folder, print it, and return the mean cost per period (None when no episodes are asked)."""
    episodes = int(config.get("eval_episodes", 0))
    if episodes <= 0:
        return None
    summary = run_episodes(policy, config["env_id"], episodes, DEFAULT_EVAL_SEED, None, None, warmup_periods,
                           progress).summary()
    summary = {"policy": f"{label} ({run.path.name})", "model": str(model), "model_timesteps": steps, **summary}
    write_json(run.file(FINAL_EVAL), summary)
    print(format_summary(summary))
    return summary["cost_per_period"]["total"]


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
        f"{name} {est['mean']:.4f}" for name, est in summary["fill_rate"].items()))
    capped = {k: v for k, v in summary["storage_use"].items() if v > 0}
    if capped:
        lines.append("storage use / cap: " + ", ".join(f"{k} {v:.2f}" for k, v in capped.items()))
    return "\n".join(lines)


def _half(est: dict, digits: int = 3) -> str:
    return "" if est["ci95"] is None else f"±{est['ci95']:.{digits}f}"
