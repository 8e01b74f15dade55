"""Simulate a policy on the vector env with common random numbers; per-replica averages with 95% CIs.

Replica i of :class:`~envs.vector.EchelonVectorEnv` seeded ``seed`` draws exactly the uniforms of a single
env seeded ``seed + i``, and every random number is exogenous (independent of actions), so two policies
evaluated with the same ``seed`` and ``num_envs`` see the same demands and lead times: common random
numbers. Each replica's time average after ``warmup`` periods is one independent observation of every
metric (cost and its breakdown, fill rate and lost units by speed, capacity use by node); the confidence
intervals are Student-t intervals over replicas (paired over replicas for differences).

A replica's fill rate by speed is units served / units requested over its evaluated periods, the ratio of the
sums. A period's requests are all its open orders: new ones, those spilled in from a faster speed and the backlog,
so under backorders a unit owed for k periods is requested k + 1 times and the rate falls with the backlog's age
(it is not the classic type-2 fill rate, the share of demand met from stock on arrival).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy import stats

from envs import ENV_IDS, env_scenario
from envs.observation import split_observation
from envs.params import EnvParams
from envs.scenario import Scenario
from envs.vector import EchelonVectorEnv

INFO_GROUPS = ("cost", "requested", "served", "lost", "storage_use", "inbound_use")
"""The groups of the env's info kept per replica (by cost component, by speed or by node); each replica's
``fill_rate`` by speed is derived from them as ``sum(served) / sum(requested)`` (see :func:`fill_rates`)."""


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


Metrics = dict[str, dict[str, np.ndarray]]
"""group -> name -> array of shape (B,) (one value per replica)."""


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Simulated long-run behaviour of one policy: every metric's time average per replica.

    ``replicas[group][name]`` (shape (B,)) is the replica's mean over the evaluated periods of
    ``info[group][name]`` for the groups :data:`INFO_GROUPS` (``cost`` by component with ``total``;
    ``requested``, ``served`` and ``lost`` units by speed; ``storage_use`` and ``inbound_use`` / cap by node,
    0 where uncapped), and of the end-of-period volume on hand by node (group ``storage_volume``); group
    ``fill_rate`` by speed is the replica's served / requested units over those periods.
    """

    replicas: Metrics = field(repr=False)

    @cached_property
    def cost(self) -> Estimate:
        """Mean total cost per period with its interval (per-replica values in ``cost.replicas``)."""
        return estimate(self.replicas["cost"]["total"])

    @property
    def num_replicas(self) -> int:
        return len(self.replicas["cost"]["total"])

    def means(self, group: str) -> dict[str, float]:
        """Mean over replicas of each metric of ``group``."""
        return {name: float(np.mean(values)) for name, values in self.replicas[group].items()}

    def estimates(self, group: str, confidence: float = 0.95) -> dict[str, Estimate]:
        """Student-t interval over replicas of each metric of ``group``."""
        return {name: estimate(values, confidence) for name, values in self.replicas[group].items()}

    def per_node(self, group: str) -> np.ndarray:
        """(B, N) replica averages of a by-node group (``storage_use``, ``inbound_use``, ``storage_volume``)."""
        return np.column_stack(list(self.replicas[group].values()))

    @property
    def storage_use(self) -> np.ndarray:
        """(N,) mean volume on hand / storage capacity (0 where uncapped)."""
        return self.per_node("storage_use").mean(0)

    @property
    def inbound_use(self) -> np.ndarray:
        """(N,) mean units received / inbound capacity (0 where uncapped)."""
        return self.per_node("inbound_use").mean(0)

    @property
    def storage_volume(self) -> np.ndarray:
        """(N,) mean volume on hand at the end of a period."""
        return self.per_node("storage_volume").mean(0)

    @property
    def storage_replicas(self) -> np.ndarray:
        """(B, N) storage use / cap per replica."""
        return self.per_node("storage_use")

    def storage_estimate(self, node: int, confidence: float = 0.95) -> Estimate:
        """Mean storage use / cap of ``node`` with a Student-t interval over replicas (replica time-averages)."""
        return estimate(self.storage_replicas[:, node], confidence)


def estimate(samples: np.ndarray, confidence: float = 0.95) -> Estimate:
    """Student-t interval for the mean of independent ``samples`` (one per replica); 0 wide if all are equal."""
    samples = np.asarray(samples, dtype=float)
    if samples.size < 2:
        raise ValueError("need at least two replicas for a confidence interval")
    if np.all(samples == samples[0]):
        return Estimate(float(samples[0]), 0.0, samples)
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


def ratio_estimate(numerator: np.ndarray, denominator: np.ndarray, confidence: float = 0.95) -> Estimate:
    """CI of mean(numerator) / mean(denominator) over the same replicas (e.g. a paired difference in percent of
    the reference's cost): the delta method, i.e. the Student-t interval of the linearized replica values
    ``R + (x_i - R y_i) / mean(y)``, whose mean is the ratio ``R``. It counts the denominator's own noise and its
    correlation with the numerator, which dividing the difference's interval by a fixed mean would not."""
    x, y = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if x.shape != y.shape:
        raise ValueError("a ratio needs the same replicas in its numerator and its denominator")
    scale = float(np.mean(y))
    ratio = float(np.mean(x)) / scale
    return estimate(ratio + (x - ratio * y) / scale, confidence)


def percent_difference(first: Evaluation | Estimate, second: Evaluation | Estimate,
                       confidence: float = 0.95) -> Estimate:
    """CI of the paired difference cost(first) - cost(second) in percent of cost(second) (:func:`ratio_estimate`:
    the second's cost is noisy too)."""
    reference = second.cost if isinstance(second, Evaluation) else second
    return ratio_estimate(100 * paired_difference(first, second, confidence).replicas, reference.replicas, confidence)


def concatenate(evaluations: Sequence[Evaluation]) -> Evaluation:
    """One evaluation whose replicas are those of ``evaluations``, in order (e.g. chunks of consecutive seeds)."""
    groups = evaluations[0].replicas
    return Evaluation({group: {name: np.concatenate([e.replicas[group][name] for e in evaluations])
                               for name in names} for group, names in groups.items()})


def scenario_of(env: str | Scenario | Path) -> Scenario | str | Path:
    """Accept a registered env id (``echelon/Serial-v1``), a scenario name, a YAML path or a Scenario."""
    return env_scenario(env) if isinstance(env, str) and env in ENV_IDS else env


def period_metrics(info: dict, observations: np.ndarray, params: EnvParams) -> Metrics:
    """One period's metrics by group, each (B,): the :data:`INFO_GROUPS` of ``info`` and the volume on hand
    per node read from the end-of-period ``observations``."""
    on_hand = split_observation(observations, params)["on_hand"] * params.max_level
    volume = on_hand @ params.volume
    return {**{group: info[group] for group in INFO_GROUPS},
            "storage_volume": dict(zip(params.node_names, volume.T, strict=True))}


def _add(totals: Metrics, metrics: Metrics) -> None:
    for group, values in metrics.items():
        target = totals.setdefault(group, {})
        for name, value in values.items():
            target[name] = target.get(name, 0.0) + np.asarray(value, dtype=float)


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
    totals: Metrics = {}
    for t in range(warmup + periods):
        observations, _, _, _, info = vec.step(policy(observations))
        if t >= warmup:
            _add(totals, period_metrics(info, observations, vec.params))
    vec.close()
    averages = {group: {name: total / periods for name, total in values.items()} for group, values in totals.items()}
    return Evaluation({**averages, "fill_rate": fill_rates(averages["requested"], averages["served"])})


def fill_rates(requested: dict[str, np.ndarray], served: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Fill rate per replica and speed over the evaluated periods (module doc): units served / units requested, the
    ratio of the sums, not the mean of per-period ratios; 1 for a speed that was never asked for."""
    return {name: np.where(requested[name] > 0, served[name] / np.maximum(requested[name], 1e-300), 1.0)
            for name in requested}
