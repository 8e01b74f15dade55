"""The perfect-information bound on the episodes a benchmark or a comparison evaluates, and each policy's gap to it.

The bound (:mod:`baselines.hindsight`) is solved on the first episodes of the evaluation, the very episodes the
policies were evaluated on (same seeds, start states and noise: :mod:`baselines.episodes`), so every policy's
gap to it is paired episode by episode. An LP per episode is costly on large networks, hence a default number of
episodes per env id that keeps the main job within its time budget.
"""

from __future__ import annotations

from baselines.episodes import sample_episodes
from baselines.hindsight import hindsight_bounds
from envs.params import compile_scenario
from experiments.conventions import BOUND_EPISODES, BOUND_EPISODES_BY_ENV, QUICK_BOUND_EPISODES
from experiments.evaluate import eval_scenario
from experiments.results import EpisodeBounds


def default_bound_episodes(env_id: str, episodes: int, quick: bool = False) -> int:
    """How many of ``episodes`` evaluation episodes the bound is solved on by default."""
    count = QUICK_BOUND_EPISODES if quick else BOUND_EPISODES_BY_ENV.get(env_id, BOUND_EPISODES)
    return min(count, episodes)


def episode_bounds(env_id: str, episodes: int, seed: int, periods: int, warmup_periods: int | None = None,
                   workers: int = 1) -> EpisodeBounds:
    """The bound of evaluation episodes ``seed .. seed + episodes - 1`` of ``periods`` periods after the env's
    warm-up (``warmup_periods``, default the scenario's), as :func:`experiments.evaluate.run_episodes` runs them."""
    scenario = eval_scenario(env_id, warmup_periods)
    params = compile_scenario(scenario)
    starts, noises = sample_episodes(params, range(seed, seed + episodes), periods, scenario.warmup_periods)
    return EpisodeBounds(seed, hindsight_bounds(params, starts, noises, workers))
