"""What an evaluation and a benchmark produce: the result types the pipeline fills and the report reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from baselines.evaluation import Estimate, Evaluation
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

    def result(self, name: str) -> PolicyResult:
        return next(p for p in self.policies if p.name == name)

    @property
    def agents(self) -> list[str]:
        """The learned agents, in the order of their first run."""
        return list(dict.fromkeys(p.agent for p in self.policies if p.agent is not None))

    def runs(self, agent: str) -> list[PolicyResult]:
        """An agent's evaluated runs, by seed."""
        return sorted((p for p in self.policies if p.agent == agent), key=lambda p: p.seed)
