"""What an evaluation and a benchmark produce: the result types the pipeline fills and the report reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from baselines.evaluation import Estimate, Evaluation
from baselines.hindsight import BoundGaps, HindsightBounds, bound_gaps
from baselines.planner import Plan


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


@dataclass(frozen=True)
class EpisodeBounds:
    """The bound of the first ``bounds.cost_per_period.size`` evaluation episodes (seeds ``seed`` on)."""

    seed: int
    bounds: HindsightBounds

    @property
    def episodes(self) -> int:
        return int(self.bounds.cost_per_period.size)

    def gaps(self, episode_costs: np.ndarray) -> BoundGaps:
        """A policy's paired gaps to the bound, from its per-episode costs per period (evaluation order)."""
        return bound_gaps(np.asarray(episode_costs)[: self.episodes], self.bounds)

    def gap_columns(self, episode_costs: np.ndarray) -> dict[str, float]:
        """The gaps as flat columns (percent of the bound, and of its avoidable part, with 95% half-widths)."""
        gaps = self.gaps(episode_costs)
        return {"gap_to_hindsight_pct": gaps.percent.mean, "gap_to_hindsight_pct_ci95": gaps.percent.half_width,
                "gap_to_hindsight_avoidable_pct": gaps.percent_avoidable.mean,
                "gap_to_hindsight_avoidable_pct_ci95": gaps.percent_avoidable.half_width}

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the bound and the unavoidable cost per period (mean and 95% CI), episodes and solve time."""
        cost = self.bounds.cost
        unavoidable = float(np.mean(self.bounds.unavoidable_per_period))
        return {"episodes": self.episodes, "seeds": [self.seed, self.seed + self.episodes - 1],
                "bound_per_period": {"mean": cost.mean, "ci95": cost.half_width},
                "unavoidable_per_period": unavoidable,
                "solve_seconds_per_episode": float(np.mean(self.bounds.seconds))}

    def describe(self) -> str:
        """One sentence for reports."""
        s = self.summary()
        bound = s["bound_per_period"]
        return (f"Perfect-information (hindsight) lower bound on the first {self.episodes} episodes (seeds "
                f"{s['seeds'][0]}..{s['seeds'][1]}): {bound['mean']:.3f} ± {bound['ci95']:.3f} per period, of which "
                f"{s['unavoidable_per_period']:.3f} is the unavoidable penalty on orders no node can serve in time "
                f"(the same for every policy); {s['solve_seconds_per_episode']:.1f} s per episode (HiGHS). No policy "
                "that does not see the future can expect to cost less.")


@dataclass
class PolicyResult:
    """One evaluated policy: its results on the common episodes and its mean stock trajectory; a trained agent's
    run also names its agent and training seed."""

    name: str
    label: str
    results: EpisodeResults
    trajectory: pd.DataFrame
    agent: str | None = None
    seed: int | None = None


@dataclass
class Training:
    """A learned agent's run folder, throughput and learning curve."""

    name: str
    agent: str
    seed: int
    run: Path
    steps: int
    seconds: float
    steps_per_second: float
    curve: pd.DataFrame  # timesteps, mean_cost_per_period (on training draws)
    config: dict


@dataclass
class Benchmark:
    """Everything a benchmark report is written from."""

    env_id: str
    seeds: list[int]  # training seeds of every learned agent
    quick: bool
    action: str
    episodes: int
    periods: int
    plan: Plan
    optimum: float | None  # the exact optimal cost where the analytic model is exact (serial chains)
    policies: list[PolicyResult] = field(default_factory=list)
    training: dict[str, Training] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    hindsight: EpisodeBounds | None = None  # the perfect-information bound on the first episodes

    def result(self, name: str) -> PolicyResult:
        return next(p for p in self.policies if p.name == name)

    @property
    def agents(self) -> list[str]:
        """The learned agents, in the order of their first run."""
        return list(dict.fromkeys(p.agent for p in self.policies if p.agent is not None))

    def runs(self, agent: str) -> list[PolicyResult]:
        """An agent's evaluated runs, by seed."""
        return sorted((p for p in self.policies if p.agent == agent), key=lambda p: p.seed)
