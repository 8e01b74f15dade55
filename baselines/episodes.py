"""Sampled episodes for offline computations: start states and the realized noise of every period.

:func:`sample_episode` is the one place the hindsight bound's tests and timings and the lead-time simulations
obtain noise, so that it can follow the env's noise generator when that changes. An episode starts like the
env's: the initial state, then ``warmup`` periods ordering each node's mean throughput (as
:func:`envs.engine.start_state` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from envs.dynamics import transition
from envs.noise import Noise, sample_noise
from envs.params import EnvParams
from envs.state import State, initial_state


def period_noise(noise: Noise, t: int) -> Noise:
    """Period ``t`` of a time-leading ``noise`` as a batch of one (what :func:`envs.dynamics.transition` takes)."""
    return Noise(**{f.name: getattr(noise, f.name)[t : t + 1] for f in fields(Noise)})


def batch_noise(noises: Sequence[Noise], t: int) -> Noise:
    """Period ``t`` of several episodes' time-leading noise, as a batch (episode i is replica i)."""
    return Noise(**{f.name: np.stack([getattr(noise, f.name)[t] for noise in noises]) for f in fields(Noise)})


def sample_episode(params: EnvParams, seed: int, periods: int, warmup: int | None = None) -> tuple[State, Noise]:
    """Start state (batch of one, after ``warmup`` periods, default the scenario's) and the noise of the
    ``periods`` periods that follow (leading axis time)."""
    warmup = params.warmup_periods if warmup is None else int(warmup)
    noise = sample_noise(np.random.default_rng(seed), params, 0, warmup + periods)
    state = initial_state(params, 1)
    order = np.rint(params.node_flow)[None]
    for t in range(warmup):
        state, _ = transition(state, order, period_noise(noise, t), params)
    episode = Noise(**{f.name: getattr(noise, f.name)[warmup:] for f in fields(Noise)})
    return state, episode


def sample_episodes(params: EnvParams, seeds: Sequence[int], periods: int,
                    warmup: int | None = None) -> tuple[State, list[Noise]]:
    """:func:`sample_episode` for each seed: the start states as one batch and each episode's noise."""
    episodes = [sample_episode(params, seed, periods, warmup) for seed in seeds]
    starts = State(**{f.name: np.concatenate([getattr(s, f.name) for s, _ in episodes]) for f in fields(State)})
    return starts, [noise for _, noise in episodes]
