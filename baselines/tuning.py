"""Simulation-tuned base stock: scale a plan's echelon levels by node kind and product class, on the env.

The analytic levels are multiplied by one factor per (node kind, product class) cell (node kinds: the
scenario's distribution centers, fulfillment centers, same-day sites; product classes: fast and slow movers,
split at the median mean demand). A coordinate search tries each factor times each of ``MOVES`` in turn
and keeps a move when the simulated mean cost drops; every candidate is simulated with the same seeds
(common random numbers, :func:`baselines.evaluation.evaluate`), so comparisons are paired and far less
noisy than the costs themselves. The result is the strongest heuristic here, at the price of simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.evaluation import Evaluation, evaluate
from baselines.planner import Plan
from baselines.policies import EchelonBaseStockPolicy
from envs.scenario import Scenario

MOVES = (0.8, 1.25)
PASSES = 2


@dataclass(frozen=True)
class TunedPolicy:
    """The tuned scaling (N, P), its policy and the tuning trace (factor grid and cost per accepted move)."""

    scale: np.ndarray
    factors: dict[tuple[str, str], float]
    policy: EchelonBaseStockPolicy
    evaluation: Evaluation
    trace: list[float] = field(repr=False)


def cells(plan: Plan) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Node-kind index (N,), product-class index (P,) and their names."""
    kinds = list(plan.params.node_kinds)
    kind_names = sorted(set(kinds))
    mean = plan.params.base_mean.sum((0, 1))
    fast = mean >= np.median(mean)
    class_names = ["slow", "fast"] if fast.any() and (~fast).any() else ["all"]
    product_class = fast.astype(int) if len(class_names) == 2 else np.zeros(len(mean), dtype=int)
    return np.array([kind_names.index(k) for k in kinds]), product_class, kind_names, class_names


def tune(plan: Plan, env: str | Scenario | Path, num_envs: int = 16, periods: int = 150, seed: int = 10_000,
         warmup: int = 50) -> TunedPolicy:
    """Coordinate search over the scaling factors (see module doc); seeds differ from evaluation seeds."""
    node_kind, product_class, kind_names, class_names = cells(plan)
    factors = np.ones((len(kind_names), len(class_names)))

    def run(grid: np.ndarray) -> tuple[Evaluation, EchelonBaseStockPolicy, np.ndarray]:
        scale = grid[node_kind][:, product_class]
        policy = plan.policy(scale)
        return evaluate(policy, env, num_envs, periods, seed, warmup), policy, scale

    best, policy, scale = run(factors)
    trace = [best.cost.mean]
    for _ in range(PASSES):
        improved = False
        for cell in np.ndindex(factors.shape):
            for move in MOVES:
                trial = factors.copy()
                trial[cell] *= move
                result, trial_policy, trial_scale = run(trial)
                if result.cost.mean < best.cost.mean:
                    factors, best, policy, scale, improved = trial, result, trial_policy, trial_scale, True
                    trace.append(best.cost.mean)
                    break
        if not improved:
            break
    named = {(kind_names[i], class_names[j]): float(factors[i, j]) for i, j in np.ndindex(factors.shape)}
    return TunedPolicy(scale, named, policy, best, trace)
