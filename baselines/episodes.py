"""The env's episodes for offline computations: start states and the realized noise of every period.

Episode ``seed`` is exactly what an env reset with ``seed`` simulates (the replica of a vector env seeded so that
it gets that seed): its key is the first draw of the generator Gymnasium seeds with it, its start state the
initial state after the warm-up (:func:`envs.simulator.start_state`), and its noise that of the key in the
periods that follow (:func:`envs.noise.noise`). So the hindsight bound of an episode belongs to the very episode a
policy was evaluated on (common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np
from gymnasium.utils import seeding

from envs.noise import Noise, episode_keys, noise
from envs.params import EnvParams
from envs.simulator import start_state
from envs.state import State


def period_noise(noise: Noise, t: int) -> Noise:
    """Period ``t`` of a time-leading ``noise`` as a batch of one (what :func:`envs.dynamics.transition` takes)."""
    return Noise(**{f.name: getattr(noise, f.name)[t : t + 1] for f in fields(Noise)})


def batch_noise(noises: Sequence[Noise], t: int) -> Noise:
    """Period ``t`` of several episodes' time-leading noise, as a batch (episode i is replica i)."""
    return Noise(**{f.name: np.stack([getattr(noise, f.name)[t] for noise in noises]) for f in fields(Noise)})


def sample_episode(params: EnvParams, seed: int, periods: int, warmup: int | None = None) -> tuple[State, Noise]:
    """Start state (batch of one, after ``warmup`` periods, default the scenario's) and the noise of the
    ``periods`` periods that follow (leading axis time) of the env's episode ``seed``."""
    starts, noises = sample_episodes(params, [seed], periods, warmup)
    return starts, noises[0]


def sample_episodes(params: EnvParams, seeds: Sequence[int], periods: int,
                    warmup: int | None = None) -> tuple[State, list[Noise]]:
    """:func:`sample_episode` for each seed: the start states as one batch and each episode's noise."""
    warmup = params.warmup_periods if warmup is None else int(warmup)
    keys = episode_keys([seeding.np_random(int(seed))[0] for seed in seeds])
    window = np.arange(warmup, warmup + periods)
    return start_state(params, keys, warmup), [noise(np.full(periods, key), window, params) for key in keys]
