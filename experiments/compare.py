"""``echelon compare``: runs and named policies evaluated on the same episodes, paired against a baseline.

Every entry (in command-line order) is evaluated on the same env id with the same episode seeds and the same env
warm-up (common random numbers); each row gives the mean cost per period with its 95% CI, the paired
difference to the baseline entry (episode by episode) in cost and in percent of the baseline's cost, and how far
the cost is above the analytic plan's dual bound and above the exact optimum (where the plan is exact).

An entry may be several runs of one configuration (``--runs``: training seeds, e.g. a sweep's or a benchmark's
runs): each run is evaluated and paired with the baseline, and the entry is reported across its seeds like the
benchmark's agents (:mod:`experiments.seed_statistics`: mean and IQM with stratified bootstrap intervals, the
probability that a run beats the baseline, the worst seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.config import ConfigError
from baselines.evaluation import paired_difference, percent_difference
from baselines.planner import Plan, exact_optimum, plan, plan_gaps
from envs import env_scenario
from experiments.conventions import DEFAULT_EVAL_SEED, UsageError
from experiments.evaluate import common_warmup, episode_length, run_episodes
from experiments.hindsight_bound import default_bound_episodes, episode_bounds
from experiments.loading import LoadedRun, load_run
from experiments.named_policies import make_named_policy
from experiments.results import EpisodeBounds, EpisodeResults
from experiments.run_config import policy_name
from experiments.seed_statistics import AcrossSeeds, across_seeds, format_interval, format_probability, run_gap

Entry = tuple[str, Any]
"""``("run", RUN_DIR)``, ``("policy", NAME)`` or ``("runs", [RUN_DIR, ...])`` (runs of one configuration)."""


@dataclass(frozen=True)
class Evaluated:
    """An entry's results: one (seed None, label, results) for a run or a policy, one per run for a group."""

    label: str
    runs: list[tuple[int | None, str, EpisodeResults]]
    grouped: bool = False

    @property
    def results(self) -> EpisodeResults:
        """The results of a single entry (a group has one per run)."""
        if self.grouped:
            raise ValueError(f"{self.label} holds several runs")
        return self.runs[0][2]


@dataclass(frozen=True)
class Comparison:
    """Every entry's results on the same episodes, and the baseline the differences are taken against."""

    env_id: str
    episodes: int
    seed: int
    warmup: int
    entries: list[Evaluated]  # in entry order
    baseline: int  # index into ``entries`` (a single entry)
    planned: Plan
    hindsight: EpisodeBounds | None = None  # the perfect-information bound on the first episodes

    @property
    def baseline_results(self) -> EpisodeResults:
        return self.entries[self.baseline].results

    def row(self, label: str, outcome: EpisodeResults) -> dict[str, Any]:
        """One run or policy: cost with its CI, the paired difference to the baseline, plan gaps, full summary."""
        base = self.baseline_results
        delta, summary = paired_difference(outcome.cost, base.cost), outcome.summary()
        percent = percent_difference(outcome.cost, base.cost)
        bound = {} if self.hindsight is None else self.hindsight.gap_columns(outcome.cost.replicas)
        return {"policy": label, "cost_per_period": summary["cost_per_period"]["total"],
                "difference_to_baseline": {"mean": delta.mean, "ci95": delta.half_width,
                                           "pct": percent.mean, "pct_ci95": percent.half_width},
                **plan_gaps(outcome.cost.mean, self.planned), **bound, "fill_rate": summary["fill_rate"],
                "summary": summary}

    def across(self, entry: Evaluated) -> AcrossSeeds:
        """A group's runs paired with the baseline, and their statistics across seeds."""
        base = self.baseline_results.cost
        return across_seeds([run_gap(seed, self.env_id, outcome.cost, base) for seed, _, outcome in entry.runs])

    def rows(self) -> list[dict[str, Any]]:
        """Per entry: the row of a run or policy; for a group, the mean cost over its runs, its statistics across
        seeds and every run's row (with its seed)."""
        rows = []
        for entry in self.entries:
            if not entry.grouped:
                rows.append(self.row(entry.label, entry.results))
                continue
            runs = [{**self.row(label, outcome), "seed": seed} for seed, label, outcome in entry.runs]
            cost = float(sum(r["cost_per_period"]["mean"] for r in runs) / len(runs))
            rows.append({"policy": entry.label, "cost_per_period": {"mean": cost}, **plan_gaps(cost, self.planned),
                         "across_seeds": self.across(entry).summary(), "runs": runs})
        return rows

    def text(self, rows: list[dict[str, Any]]) -> str:
        """The printed table (a group: its statistics across seeds, then one line per run)."""
        optimum = exact_optimum(self.planned)
        baseline = self.entries[self.baseline].label
        lines = [f"{self.env_id}: {self.episodes} episodes each, seeds {self.seed}..{self.seed + self.episodes - 1}, "
                 f"warm-up {self.warmup} periods (common random numbers); differences paired against {baseline}",
                 f"analytic plan ({self.planned.method}): dual bound {self.planned.dual_bound:.3f}, exact optimum "
                 + ("none known" if optimum is None else f"{optimum:.3f}")]
        if self.hindsight is not None:
            lines.append(self.hindsight.describe() + " '>hindsight %': paired gap on those episodes, % of the bound "
                         "(and of its avoidable part)")
        singles = [r for row in rows for r in row.get("runs", [row])]
        width = max(len(r["policy"]) for r in (*rows, *singles)) + 4
        lines.append(f"{'policy':<{width}}{'cost/period':>12}{'95% CI':>10}{'vs baseline':>13}{'95% CI':>10}{'%':>8}"
                     f"{'95% CI':>8}{'>bound %':>10}{'>opt %':>8}"
                     + (f"{'>hindsight %':>24}" if self.hindsight is not None else "") + "  fill rate (95% CI)")
        for entry, row in zip(self.entries, rows, strict=True):
            if not entry.grouped:
                lines.append(_line(row, width))
                continue
            stats = self.across(entry)
            lines.append(f"{row['policy']}: {len(entry.runs)} runs; gap to {baseline} across seeds: mean "
                         f"{format_interval(stats.mean, unit='%')}, IQM {format_interval(stats.iqm, unit='%')} "
                         f"(95% stratified bootstrap), P(run beats {baseline}) {format_probability(stats.improvement)}"
                         f", worst seed {stats.worst.seed} ({stats.worst.gap_pct:+.2f}%)")
            lines += [_line({**r, "policy": f"  seed {r['seed']}"}, width) for r in row["runs"]]
        return "\n".join(lines)

    def to_json(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"env_id": self.env_id, "episodes": self.episodes, "seed": self.seed, "warmup_periods": self.warmup,
                "baseline": self.entries[self.baseline].label,
                "plan": {"method": self.planned.method, "dual_bound": self.planned.dual_bound,
                         "exact_optimum": exact_optimum(self.planned)},
                "hindsight_bound": None if self.hindsight is None else self.hindsight.summary(),
                "policies": rows}


def _line(r: dict[str, Any], width: int) -> str:
    cost, delta, gap = r["cost_per_period"], r["difference_to_baseline"], r["gap_to_optimum_pct"]
    fill = ", ".join(f"{k} {v['mean']:.3f}{_pm(v['ci95'])}" for k, v in r["fill_rate"].items())
    gap_text = "-" if gap is None else format(gap, "+.2f")
    hindsight = "" if "gap_to_hindsight_pct" not in r else format(
        f"{r['gap_to_hindsight_pct']:+.2f}{_pm(r['gap_to_hindsight_pct_ci95'], 2)} "
        f"({r['gap_to_hindsight_avoidable_pct']:+.1f})", ">24")
    return (f"{r['policy']:<{width}}{cost['mean']:>12.3f}{_pm(cost['ci95']):>10}{delta['mean']:>+13.3f}"
            f"{_pm(delta['ci95']):>10}{delta['pct']:>+8.2f}{_pm(delta['pct_ci95'], 2):>8}"
            f"{r['gap_to_dual_bound_pct']:>+10.2f}{gap_text:>8}{hindsight}  {fill}")


def compare(entries: list[Entry], env_id: str | None = None, baseline: str | None = None, episodes: int = 100,
            seed: int = DEFAULT_EVAL_SEED, num_envs: int | None = None, periods: int | None = None,
            warmup: int | None = None, progress: bool | None = None, bound_episodes: int | None = 0) -> Comparison:
    """Evaluate ``entries`` on common random numbers. ``baseline`` names the entry the differences are taken
    against (see :func:`baseline_index`; ``planner`` is added as an entry when named and not given); ``env_id``
    defaults to the runs' (which must agree) and ``warmup`` to the entries' common warm-up. The hindsight bound
    is solved on the first ``bound_episodes`` episodes (0: none; None: the env's default number)."""
    given = list(entries)
    if baseline == "planner" and ("policy", "planner") not in given:
        given.append(("policy", "planner"))
    paths = [path for kind, value in given if kind != "policy" for path in (value if kind == "runs" else [value])]
    runs = {path: load_run(path) for path in paths}
    env_id = _env_id(env_id, runs)
    labels = _labels(given, runs)
    base = baseline_index(baseline, given, labels)
    if warmup is None:
        warmup = common_warmup(env_id, {runs[path].label: runs[path].warmup_periods for path in paths}
                               | {value: None for kind, value in given if kind == "policy"})

    def evaluate(policy) -> EpisodeResults:
        return run_episodes(policy, env_id, episodes, seed, num_envs, periods, warmup, progress)

    evaluated = []
    for (kind, value), label in zip(given, labels, strict=True):
        if kind == "policy":
            evaluated.append(Evaluated(label, [(None, label, evaluate(make_named_policy(value, env_id, seed)))]))
        elif kind == "run":
            evaluated.append(Evaluated(label, [(None, label, evaluate(runs[value].policy))]))
        else:
            evaluated.append(Evaluated(label, [(int(runs[path].config["seed"]), runs[path].label,
                                                evaluate(runs[path].policy)) for path in value], grouped=True))
    hindsight = None
    if bound_episodes is None:
        bound_episodes = default_bound_episodes(env_id, episodes)
    if bound_episodes > 0:
        hindsight = episode_bounds(env_id, min(bound_episodes, episodes), seed,
                                   episode_length(env_id) if periods is None else periods, warmup)
    return Comparison(env_id, episodes, seed, warmup, evaluated, base, plan(env_scenario(env_id)), hindsight)


def _labels(given: list[Entry], runs: dict[str, LoadedRun]) -> list[str]:
    """Entry labels: a run's, a policy's name, or for a group ``<policy> (N seeds: ...)`` (checked to be runs of one
    configuration); a repeated label gets ``#2``, ``#3``, ..."""
    labels: list[str] = []
    for kind, value in given:
        if kind == "run":
            label = runs[value].label
        elif kind == "policy":
            label = value
        else:
            group = [runs[path] for path in value]
            check_one_configuration(group)
            label = f"{policy_name(group[0].config)} ({len(group)} seeds: " + ", ".join(
                str(loaded.config["seed"]) for loaded in group) + ")"
        count = sum(1 for other in labels if other == label or other.startswith(f"{label} #"))
        labels.append(label if count == 0 else f"{label} #{count + 1}")
    return labels


def check_one_configuration(group: list[LoadedRun]) -> None:
    """Refuse a ``--runs`` group whose runs differ in anything but their seed, or share a seed."""
    first = group[0]
    for other in group[1:]:
        keys = dict.fromkeys([*first.config, *other.config])
        differing = [key for key in keys if key != "seed" and first.config.get(key) != other.config.get(key)]
        if differing:
            key = differing[0]
            raise ConfigError(f"--runs: {first.run.path} and {other.run.path} differ in {key!r} "
                              f"({first.config.get(key)!r} vs {other.config.get(key)!r}); one --runs entry holds runs "
                              "of one configuration that differ only in their seed")
    seeds = [loaded.config["seed"] for loaded in group]
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ConfigError(f"--runs: several runs have seed {repeated[0]}; the runs of an entry are independent "
                          "training seeds")


def baseline_index(name: str | None, given: list[Entry], labels: list[str]) -> int:
    """Index of the ``--baseline`` entry (a label, or a RUN_DIR / policy name as given); default: ``planner`` when
    it is an entry, else the first entry. The baseline is one policy or run, not a ``--runs`` group."""
    if name is None:
        index = labels.index("planner") if ("policy", "planner") in given else 0
    else:
        index = next((i for i, ((_, value), label) in enumerate(zip(given, labels, strict=True))
                      if name == label or (isinstance(value, str) and name == value)), None)
        if index is None:
            raise UsageError(f"--baseline {name!r} is not an entry; choose one of: {', '.join(labels)}")
    if given[index][0] == "runs":
        raise UsageError(f"the baseline {labels[index]!r} is a --runs group; pair against one run or policy "
                         "(--baseline NAME, e.g. planner)")
    return index


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
