"""Simulate a policy on the vector env with common random numbers; mean cost per period with a 95% CI.

Replica i of :class:`~envs.vector.EchelonVectorEnv` seeded ``seed`` draws exactly the uniforms of a single
env seeded ``seed + i``, and every random number is exogenous (independent of actions), so two policies
evaluated with the same ``seed`` and ``num_envs`` see the same demands and lead times: common random
numbers. Each replica's time-average cost after ``warmup`` periods is one independent observation; the
confidence intervals are Student-t intervals over replicas (paired over replicas for differences); the same
holds for each node's storage use (:meth:`Evaluation.storage_estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import stats

from envs import ENV_IDS
from envs.observation import split_observation
from envs.scenario import Scenario
from envs.vector import EchelonVectorEnv


class Policy(Protocol):
    """Maps a batch of observations (B, obs_size) to a batch of actions (B, N * P) in ``action_mode``."""

    action_mode: str

    def __call__(self, observations: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Estimate:
    """Mean of independent replica averages with a two-sided 95% Student-t interval."""

    mean: float
    half_width: float
    replicas: np.ndarray = field(repr=False)

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.half_width:.4f}"


@dataclass(frozen=True)
class Evaluation:
    """Simulated long-run behaviour of one policy: cost per period and capacity use per node."""

    cost: Estimate
    cost_breakdown: dict[str, float]
    storage_use: np.ndarray  # (N,) mean volume on hand / storage capacity (0 where uncapped)
    inbound_use: np.ndarray  # (N,) mean units received / inbound capacity (0 where uncapped)
    storage_volume: np.ndarray  # (N,) mean volume on hand at the end of a period
    fill_rate: dict[str, float]
    storage_replicas: np.ndarray | None = field(default=None, repr=False)  # (B, N) storage_use per replica

    def storage_estimate(self, node: int, confidence: float = 0.95) -> Estimate:
        """Mean storage use / cap of ``node`` with a Student-t interval over replicas (replica time-averages)."""
        if self.storage_replicas is None:
            raise ValueError("this evaluation kept no per-replica storage use")
        return estimate(self.storage_replicas[:, node], confidence)


def estimate(samples: np.ndarray, confidence: float = 0.95) -> Estimate:
    """Student-t interval for the mean of independent ``samples`` (one per replica)."""
    samples = np.asarray(samples, dtype=float)
    if samples.size < 2:
        raise ValueError("need at least two replicas for a confidence interval")
    quantile = stats.t.ppf(0.5 + confidence / 2.0, samples.size - 1)
    return Estimate(float(samples.mean()), float(quantile * samples.std(ddof=1) / np.sqrt(samples.size)), samples)


def paired_difference(first: Evaluation | Estimate, second: Evaluation | Estimate,
                      confidence: float = 0.95) -> Estimate:
    """CI of mean cost(first) - cost(second) from replica-wise differences (same seeds: common random numbers)."""
    a = first.cost if isinstance(first, Evaluation) else first
    b = second.cost if isinstance(second, Evaluation) else second
    if a.replicas.shape != b.replicas.shape:
        raise ValueError("paired differences need the same number of replicas (and the same seeds)")
    return estimate(a.replicas - b.replicas, confidence)


def scenario_of(env: str | Scenario | Path) -> Scenario | str | Path:
    """Accept a registered env id (``echelon/Serial-v0``), a scenario name, a YAML path or a Scenario."""
    if isinstance(env, str) and env in ENV_IDS:
        return ENV_IDS[env][0]
    return env


def evaluate(policy: Policy, env: str | Scenario | Path, num_envs: int = 64, periods: int = 300,
             seed: int = 0, warmup: int = 50) -> Evaluation:
    """Run ``policy`` on ``num_envs`` replicas (seeds ``seed .. seed + num_envs - 1``) for ``warmup + periods``.

    The env's own warm-up (scenario ``warmup_periods``, ordering mean flow) runs first; then ``warmup``
    periods under the policy are discarded so the average is taken near steady state. Episodes never
    truncate here. ``policy.reset()`` is called first when the policy has one (stateful policies).
    """
    if periods < 1 or warmup < 0:
        raise ValueError("periods must be >= 1 and warmup >= 0")
    vec = EchelonVectorEnv(num_envs, scenario_of(env), action_mode=policy.action_mode)
    if hasattr(policy, "reset"):
        policy.reset()
    observations, _ = vec.reset(seed=seed)
    totals = np.zeros(num_envs)
    parts: dict[str, float] = {}
    storage = np.zeros((num_envs, vec.params.num_nodes))
    storage_volume = np.zeros(vec.params.num_nodes)
    inbound = np.zeros(vec.params.num_nodes)
    fill: dict[str, float] = {}
    for t in range(warmup + periods):
        observations, _, _, _, info = vec.step(policy(observations))
        if t < warmup:
            continue
        totals += info["cost"]["total"]
        for name, value in info["cost"].items():
            parts[name] = parts.get(name, 0.0) + float(np.mean(value))
        for name, value in info["fill_rate"].items():
            fill[name] = fill.get(name, 0.0) + float(np.mean(value))
        storage += np.stack([np.asarray(v, dtype=float) for v in info["storage_use"].values()], axis=1)
        inbound += np.array([np.mean(v) for v in info["inbound_use"].values()])
        on_hand = split_observation(observations, vec.params)["on_hand"] * vec.params.max_level
        storage_volume += np.mean(on_hand @ vec.params.volume, axis=0)
    vec.close()
    return Evaluation(
        cost=estimate(totals / periods),
        cost_breakdown={k: v / periods for k, v in parts.items()},
        storage_use=storage.mean(0) / periods,
        inbound_use=inbound / periods,
        storage_volume=storage_volume / periods,
        fill_rate={k: v / periods for k, v in fill.items()},
        storage_replicas=storage / periods,
    )

