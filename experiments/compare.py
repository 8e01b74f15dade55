"""``echelon compare``: runs and named policies evaluated on the same episodes, paired against a baseline.

Every entry (in command-line order) is evaluated on the same env id with the same episode seeds and the same env
warm-up (common random numbers); each row gives the mean cost per period with its 95% CI, the paired
difference to the baseline entry (episode by episode) in cost and in percent of the baseline's cost, and how far
the cost is above the analytic plan's dual bound and above the exact optimum (where the plan is exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.config import ConfigError
from baselines.evaluation import paired_difference
from baselines.planner import Plan, exact_optimum, plan, plan_gaps
from envs import env_scenario
from experiments.conventions import UsageError
from experiments.evaluate import common_warmup, run_episodes
from experiments.loading import LoadedRun, load_run
from experiments.named_policies import make_named_policy
from experiments.results import EpisodeResults

Entry = tuple[str, str]
"""``("run", RUN_DIR)`` or ``("policy", NAME)``."""


@dataclass(frozen=True)
class Comparison:
    """Every entry's results on the same episodes, and the baseline the differences are taken against."""

    env_id: str
    episodes: int
    seed: int
    warmup: int
    results: list[tuple[str, EpisodeResults]]  # (label, results) in entry order
    baseline: int  # index into ``results``
    planned: Plan

    def rows(self) -> list[dict[str, Any]]:
        """Per entry: cost with its CI, the paired difference to the baseline, plan gaps, fill rate, full summary."""
        base = self.results[self.baseline][1]
        rows = []
        for label, outcome in self.results:
            delta, summary = paired_difference(outcome.cost, base.cost), outcome.summary()
            rows.append({"policy": label, "cost_per_period": summary["cost_per_period"]["total"],
                         "difference_to_baseline": {"mean": delta.mean, "ci95": delta.half_width,
                                                    "pct": 100 * delta.mean / base.cost.mean,
                                                    "pct_ci95": 100 * delta.half_width / base.cost.mean},
                         **plan_gaps(outcome.cost.mean, self.planned), "fill_rate": summary["fill_rate"],
                         "summary": summary})
        return rows

    def text(self, rows: list[dict[str, Any]]) -> str:
        """The printed table."""
        optimum = exact_optimum(self.planned)
        lines = [f"{self.env_id}: {self.episodes} episodes each, seeds {self.seed}..{self.seed + self.episodes - 1}, "
                 f"warm-up {self.warmup} periods (common random numbers); differences paired against "
                 f"{self.results[self.baseline][0]}",
                 f"analytic plan ({self.planned.method}): dual bound {self.planned.dual_bound:.3f}, exact optimum "
                 + ("none known" if optimum is None else f"{optimum:.3f}")]
        width = max(len(r["policy"]) for r in rows) + 2
        lines.append(f"{'policy':<{width}}{'cost/period':>12}{'95% CI':>10}{'vs baseline':>13}{'95% CI':>10}{'%':>8}"
                     f"{'95% CI':>8}{'>bound %':>10}{'>opt %':>8}  fill rate (95% CI)")
        for r in rows:
            cost, delta, gap = r["cost_per_period"], r["difference_to_baseline"], r["gap_to_optimum_pct"]
            fill = ", ".join(f"{k} {v['mean']:.3f}{_pm(v['ci95'])}" for k, v in r["fill_rate"].items())
            gap_text = "-" if gap is None else format(gap, "+.2f")
            lines.append(f"{r['policy']:<{width}}{cost['mean']:>12.3f}{_pm(cost['ci95']):>10}{delta['mean']:>+13.3f}"
                         f"{_pm(delta['ci95']):>10}{delta['pct']:>+8.2f}{_pm(delta['pct_ci95'], 2):>8}"
                         f"{r['gap_to_dual_bound_pct']:>+10.2f}{gap_text:>8}  {fill}")
        return "\n".join(lines)

    def to_json(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"env_id": self.env_id, "episodes": self.episodes, "seed": self.seed, "warmup_periods": self.warmup,
                "baseline": self.results[self.baseline][0],
                "plan": {"method": self.planned.method, "dual_bound": self.planned.dual_bound,
                         "exact_optimum": exact_optimum(self.planned)},
                "policies": rows}


def compare(entries: list[Entry], env_id: str | None = None, baseline: str | None = None, episodes: int = 100,
            seed: int = 0, num_envs: int | None = None, periods: int | None = None, warmup: int | None = None,
            progress: bool | None = None) -> Comparison:
    """Evaluate ``entries`` on common random numbers. ``baseline`` names the entry the differences are taken
    against (see :func:`baseline_index`; ``planner`` is added as an entry when named and not given); ``env_id``
    defaults to the runs' (which must agree) and ``warmup`` to the entries' common warm-up."""
    given = list(entries)
    if baseline == "planner" and ("policy", "planner") not in given:
        given.append(("policy", "planner"))
    runs = {value: load_run(value) for kind, value in given if kind == "run"}
    env_id = _env_id(env_id, runs)
    labels = [runs[value].label if kind == "run" else value for kind, value in given]
    base = baseline_index(baseline, given, labels)
    if warmup is None:
        warmup = common_warmup(env_id, {label: runs[value].warmup_periods if kind == "run" else None
                                        for label, (kind, value) in zip(labels, given, strict=True)})
    results = []
    for (kind, value), label in zip(given, labels, strict=True):
        policy = runs[value].policy if kind == "run" else make_named_policy(value, env_id, seed)
        results.append((label, run_episodes(policy, env_id, episodes, seed, num_envs, periods, warmup, progress)))
    return Comparison(env_id, episodes, seed, warmup, results, base, plan(env_scenario(env_id)))


def baseline_index(name: str | None, given: list[Entry], labels: list[str]) -> int:
    """Index of the ``--baseline`` entry (a label, or a RUN_DIR / policy name as given); default: ``planner`` when
    it is an entry, else the first entry."""
    if name is None:
        return labels.index("planner") if ("policy", "planner") in given else 0
    for index, ((_, value), label) in enumerate(zip(given, labels, strict=True)):
        if name in (label, value):
            return index
    raise UsageError(f"--baseline {name!r} is not an entry; choose one of: {', '.join(labels)}")


def _env_id(env_id: str | None, runs: dict[str, LoadedRun]) -> str:
    """The env id of the comparison: the runs' (which must agree with each other and with ``env_id``)."""
    env_ids = {loaded.config["env_id"] for loaded in runs.values()}
    if len(env_ids) > 1:
        raise ConfigError(f"the runs were trained on different env ids: {', '.join(sorted(env_ids))}")
    if env_id and env_ids and env_id not in env_ids:
        raise ConfigError(f"--env-id {env_id} differs from the runs' env id {env_ids.pop()}")
    env_id = env_id or (env_ids.pop() if env_ids else None)
    if env_id is None:
        raise UsageError("--policy needs --env-id")
    return env_id


def _pm(half: float, digits: int = 3) -> str:
    return f"±{half:.{digits}f}"
