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
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm import tqdm

from agents.config import ConfigError, check_env_id
from baselines.evaluation import Evaluation, Policy, concatenate, evaluate
from envs import env_scenario
from envs.scenario import Scenario, resolve_scenario
from experiments.conventions import DEFAULT_EPISODES, DEFAULT_EVAL_SEED
from experiments.files import write_json
from experiments.loading import LoadedRun
from experiments.results import EpisodeResults
from experiments.runs import FINAL_EVAL, Run

MAX_EVAL_ENVS = 256


def episode_length(env_id: str) -> int:
    steps = gym.spec(env_id).max_episode_steps
    return int(steps) if steps else 200


def eval_scenario(env_id: str, warmup_periods: int | None = None) -> Scenario:
    """The env id's scenario, with the env's warm-up overridden when ``warmup_periods`` is set."""
    scenario = resolve_scenario(env_scenario(check_env_id(env_id)))
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
    periods = episode_length(env_id) if periods is None else int(periods)
    return scenario_episodes(policy, eval_scenario(env_id, warmup_periods), env_id, episodes, seed, num_envs, periods,
                             progress)


def scenario_episodes(policy: Policy, scenario: Scenario, label: str, episodes: int, seed: int,
                      num_envs: int | None, periods: int, progress: bool | None = None) -> EpisodeResults:
    """:func:`run_episodes` on any scenario (``label`` names it in the results, e.g. an env id)."""
    if episodes < 2:
        raise ConfigError(f"need at least 2 episodes for a confidence interval, got {episodes}")
    parts: list[Evaluation] = []
    with tqdm(total=episodes, desc="evaluate", unit="episode", disable=None if progress is None else not progress,
              leave=False) as bar:
        for first, size in chunks(episodes, MAX_EVAL_ENVS if num_envs is None else num_envs):
            if hasattr(policy, "start_episodes"):  # policies with their own randomness, seeded per episode
                policy.start_episodes(first, size)
            parts.append(evaluate(policy, scenario, num_envs=size, periods=periods, seed=seed + first, warmup=0))
            bar.update(size)
    return EpisodeResults(env_id=label, seed=seed, periods=periods, evaluation=concatenate(parts))


def evaluate_loaded(loaded: LoadedRun, episodes: int = DEFAULT_EPISODES, seed: int = DEFAULT_EVAL_SEED,
                    num_envs: int | None = None, periods: int | None = None,
                    progress: bool | None = None) -> dict[str, Any]:
    """Summary (JSON-ready) of a loaded run's policy on its own env id and env settings."""
    results = run_episodes(loaded.policy, loaded.config["env_id"], episodes, seed, num_envs, periods,
                           loaded.warmup_periods, progress)
    return {"policy": loaded.label, "model": str(loaded.model_path), "model_timesteps": loaded.timesteps,
            **results.summary()}


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
