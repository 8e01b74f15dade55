"""Evaluate policies on episodes with common random numbers, through :func:`baselines.evaluation.evaluate`.

Episode j (j = 0 .. episodes - 1) is replica j of the baselines' engine: seeded ``seed + j``, starting from the
env's warm-up and lasting the registered episode length (``warmup=0``: every period counts). Large episode
counts run in chunks of at most ``num_envs`` replicas, chunk k seeded at its first episode's seed, so the draws
never depend on the chunking. Because all randomness in the env is exogenous, every policy evaluated with the
same ``seed`` faces the same demands and lead times. Each episode's average cost per period is one
independent observation; the statistics are the baselines' (:func:`~baselines.evaluation.estimate`,
:func:`~baselines.evaluation.paired_difference`: Student-t 95% intervals, paired by episode).

Every metric (cost and its breakdown, fill rate and lost units by speed, capacity use by node) is kept per
episode, so each gets a Student-t interval over episodes. An episode's fill rate by speed is its units served /
units requested (the ratio of the sums over its periods; 1 if the speed was never asked for).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm import tqdm

from agents.sb3_agents import ConfigError
from baselines.evaluation import Estimate, Evaluation, Policy, concatenate, evaluate
from envs import ENV_IDS
from envs.scenario import Scenario, resolve_scenario
from experiments.policies import LoadedRun, load_run
from experiments.runs import FINAL_EVAL, Run, write_atomic

DEFAULT_EVAL_SEED = 1_000_000
"""First evaluation seed: far from the training seeds (``seed .. seed + num_envs - 1``)."""

DEFAULT_EPISODES = 100
MAX_EVAL_ENVS = 256


@dataclass
class EpisodeResults:
    """One policy on ``episodes`` episodes: every metric's average over each episode's periods (episode j is
    replica j of ``evaluation``), and their means over episodes."""

    env_id: str
    seed: int
    periods: int
    evaluation: Evaluation

    @property
    def episodes(self) -> int:
        return self.evaluation.num_replicas

    @property
    def cost(self) -> Estimate:
        """Mean total cost per period; per-episode values in ``cost.replicas``."""
        return self.evaluation.cost

    def intervals(self, group: str) -> dict[str, dict[str, float]]:
        """``{name: {"mean", "ci95"}}`` for the metrics of an evaluation group (95% Student-t over episodes)."""
        return {name: {"mean": e.mean, "ci95": e.half_width} for name, e in self.evaluation.estimates(group).items()}

    def summary(self) -> dict[str, Any]:
        """JSON-ready: mean and 95% CI over episodes of the cost per period (total and breakdown), fill rate and
        lost units per period by speed, capacity use by node, and the per-episode total cost per period (for
        paired comparisons)."""
        return {
            "env_id": self.env_id,
            "episodes": self.episodes,
            "seed": self.seed,
            "periods_per_episode": self.periods,
            "cost_per_period": self.intervals("cost"),
            "fill_rate": self.intervals("fill_rate"),
            "lost_per_period": self.intervals("lost"),
            "storage_use": self.intervals("storage_use"),
            "inbound_use": self.intervals("inbound_use"),
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


def common_warmup(env_id: str, warmups: dict[str, int | None]) -> int:
    """The env warm-up shared by entries (label: warm-up, None for the scenario's) evaluated on the same episodes;
    a :class:`ConfigError` names every entry's warm-up when they differ (their episodes would start from
    different states, so pairing them episode by episode would mean nothing)."""
    default = eval_scenario(env_id).warmup_periods
    resolved = {label: default if warmup is None else int(warmup) for label, warmup in warmups.items()}
    if len(set(resolved.values())) > 1:
        listed = ", ".join(f"{label}: {warmup}" for label, warmup in resolved.items())
        raise ConfigError(f"the entries use different env warm-ups ({listed} periods), so their episodes start from "
                          "different states and cannot be paired; give --warmup-periods N to evaluate all of them "
                          "with one warm-up")
    return next(iter(resolved.values()), default)


def chunks(episodes: int, num_envs: int) -> list[tuple[int, int]]:
    """(first episode, size) of near-equal chunks of at most ``num_envs`` (and at least 2) episodes."""
    count = -(-episodes // max(int(num_envs), 2))
    sizes = [episodes // count + (1 if k < episodes % count else 0) for k in range(count)]
    return [(sum(sizes[:k]), size) for k, size in enumerate(sizes)]


def run_episodes(policy: Policy, env_id: str, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_EVAL_SEED,
                 num_envs: int | None = None, periods: int | None = None, warmup_periods: int | None = None,
                 progress: bool | None = None) -> EpisodeResults:
    """Run ``episodes`` (>= 2) episodes of ``periods`` periods (default: the registered episode length) of
    ``policy``, ``num_envs`` at a time (default ``min(episodes, 256)``); episode j uses seed ``seed + j``.
    A policy with a ``start_episodes(first, count)`` method is told which episodes each chunk holds."""
    scenario = eval_scenario(env_id, warmup_periods)
    if episodes < 2:
        raise ConfigError(f"need at least 2 episodes for a confidence interval, got {episodes}")
    periods = episode_length(env_id) if periods is None else int(periods)
    parts: list[Evaluation] = []
    with tqdm(total=episodes, desc="evaluate", unit="episode", disable=None if progress is None else not progress,
              leave=False) as bar:
        for first, size in chunks(episodes, MAX_EVAL_ENVS if num_envs is None else num_envs):
            if hasattr(policy, "start_episodes"):  # policies with their own randomness, seeded per episode
                policy.start_episodes(first, size)
            parts.append(evaluate(policy, scenario, num_envs=size, periods=periods, seed=seed + first, warmup=0))
            bar.update(size)
    return EpisodeResults(env_id=env_id, seed=seed, periods=periods, evaluation=concatenate(parts))


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
    return summary["cost_per_period"]["total"]["mean"]


def write_json(path: Path, data: dict) -> None:
    write_atomic(Path(path), json.dumps(data, indent=2) + "\n")


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable report of :meth:`EpisodeResults.summary`: means with their 95% CIs."""
    last_seed = summary["seed"] + summary["episodes"] - 1
    lines = [f"{summary.get('policy', 'policy')} on {summary['env_id']}: {summary['episodes']} episodes x "
             f"{summary['periods_per_episode']} periods, seeds {summary['seed']}..{last_seed}"]
    lines += _section("cost per period", summary["cost_per_period"], 3)
    lines += _section("fill rate by speed", summary["fill_rate"], 4)
    lines += _section("lost units per period", summary["lost_per_period"], 3)
    for key, title in (("storage_use", "storage use / cap"), ("inbound_use", "inbound use / cap")):
        lines += _section(title, {k: v for k, v in summary[key].items() if v["mean"] > 0}, 3)
    return "\n".join(lines)


def _section(title: str, intervals: dict[str, dict[str, float]], digits: int) -> list[str]:
    """Table rows ``name  mean  ±ci95`` under a ``title`` header (nothing for no rows)."""
    if not intervals:
        return []
    return [f"{title:<22}{'mean':>12}{'95% CI':>12}",
            *(f"  {name:<20}{est['mean']:>12.{digits}f}{'±' + format(est['ci95'], f'.{digits}f'):>12}"
              for name, est in intervals.items())]
