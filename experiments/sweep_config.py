"""Sweep files (``echelon sweep SWEEP.yaml``): what to train, checked before anything starts.

A sweep file is a YAML mapping:

==============  ===================================================================================================
key             meaning
==============  ===================================================================================================
env_id          a registered env id, or a list of them (required)
algo            an algorithm (ppo, sac, td3, a2c, gradient), or a list of them (required)
seeds           N, the seeds of :func:`experiments.seeds.training_seeds` from 0, or a list of seeds (default 1)
action          ``direct`` or ``residual``, or a list (default: each algorithm's hyperparameter file)
set             per algorithm, hyperparameters of every trial, as ``echelon train --set`` (nested or dotted keys)
grid            per algorithm, dotted key -> list of values: every combination is a configuration, trained with
                every env id, action and seed
search          instead of ``grid``: ``trials`` (trials to sample), ``space`` (per algorithm, dotted key ->
                ``{uniform: [low, high]}``, ``{loguniform: [low, high]}``, ``{randint: [low, high]}`` (high
                excluded) or ``{choice: [values]}``) and optional ``asha`` (``grace_period``,
                ``reduction_factor``, in evaluations): Optuna's TPE through Ray Tune, ASHA stopping trials early
                on their evaluation cost; trial k trains with the k-th seed (cycling through ``seeds``)
eval_episodes   episodes of each evaluation of a trial (every checkpoint and the final policy; default 16)
cpus_per_trial  CPUs, and threads, of each trial (default 1)
max_failures    retries of a trial whose training crashed (default 1)
==============  ===================================================================================================

Every trial's configuration is resolved as ``echelon train`` would resolve it before anything starts, so an
unknown key, an empty grid, an unknown algorithm or env id, or a bad value is refused naming the field.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.config import ACTIONS, ConfigError, check_algo, check_env_id, read_yaml
from experiments.run_config import hyperparam_keys, resolve_config
from experiments.seeds import training_seeds

TOP_KEYS = ("env_id", "algo", "seeds", "action", "set", "grid", "search", "eval_episodes", "cpus_per_trial",
            "max_failures")
SEARCH_KEYS = ("trials", "space", "asha")
ASHA_KEYS = ("grace_period", "reduction_factor")
SPACES = ("uniform", "loguniform", "randint", "choice")
DEFAULTS = {"seeds": 1, "eval_episodes": 16, "cpus_per_trial": 1, "max_failures": 1}


@dataclass(frozen=True)
class Trial:
    """One training run of a sweep: env id, algorithm, seed, action (None: the algorithm's default) and its own
    hyperparameters (dotted key -> value, from the grid or the search)."""

    env_id: str
    algo: str
    seed: int
    action: str | None = None
    sets: dict[str, Any] = field(default_factory=dict)

    def configuration(self) -> dict[str, Any]:
        """What the trial's group shares: everything but the seed."""
        return {"env_id": self.env_id, "algo": self.algo, "action": self.action or "", **self.sets}

    def as_dict(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "algo": self.algo, "seed": self.seed, "action": self.action,
                "sets": dict(self.sets)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        return cls(data["env_id"], data["algo"], int(data["seed"]), data.get("action"), dict(data.get("sets") or {}))


@dataclass(frozen=True)
class Search:
    trials: int
    space: dict[str, dict[str, tuple[str, list]]]  # algo -> dotted key -> (kind, arguments)
    grace_period: int = 1
    reduction_factor: int = 2


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file."""

    source: dict[str, Any]  # the file's mapping with the defaults filled in (written to the sweep folder)
    env_ids: list[str]
    algos: list[str]
    seeds: list[int]
    actions: list[str | None]
    fixed: dict[str, dict[str, Any]]  # algo -> dotted key -> value, for every trial
    grid: dict[str, dict[str, list]]
    search: Search | None
    eval_episodes: int
    cpus_per_trial: int
    max_failures: int

    def grid_trials(self) -> list[Trial]:
        """Every trial of a grid sweep: env ids x algorithms x actions x the algorithm's grid x seeds."""
        trials = []
        for env_id, algo, action in itertools.product(self.env_ids, self.algos, self.actions):
            keys = list(self.grid.get(algo, {}))
            for values in itertools.product(*(self.grid[algo][key] for key in keys)):
                for seed in self.seeds:
                    trials.append(Trial(env_id, algo, seed, action, dict(zip(keys, values, strict=True))))
        return trials

    def set_args(self, trial: Trial) -> list[str]:
        """``--set KEY=VALUE`` arguments of a trial: the sweep's fixed ones for its algorithm, then its own."""
        return set_args({**self.fixed.get(trial.algo, {}), **trial.sets})


def set_args(sets: dict[str, Any]) -> list[str]:
    """``["--set", "key=value", ...]`` with values in JSON, which ``--set`` reads as YAML."""
    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; a :class:`ConfigError` names the field that is wrong."""
    path = Path(path)
    data = read_yaml(path, "sweep file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a sweep file is a mapping (env_id, algo, seeds, ...), got {type(data).__name__}")
    return check_sweep(data, str(path))


def check_sweep(data: dict[str, Any], where: str) -> Sweep:
    """Check a sweep mapping (see the module docstring) and every trial's configuration."""
    unknown = [key for key in data if key not in TOP_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(TOP_KEYS)}")
    for key in ("env_id", "algo"):
        if key not in data:
            raise ConfigError(f"{where}: {key} is missing")
    if "grid" in data and "search" in data:
        raise ConfigError(f"{where}: give grid or search, not both")
    data = {**DEFAULTS, **data}
    env_ids = _names(data["env_id"], f"{where}: env_id")
    for env_id in env_ids:
        _named(check_env_id, env_id, f"{where}: env_id")
    algos = _names(data["algo"], f"{where}: algo")
    for algo in algos:
        _named(check_algo, algo, f"{where}: algo")
    actions: list[str | None] = [None]
    if data.get("action") is not None:
        actions = list(_names(data["action"], f"{where}: action"))
        bad = [a for a in actions if a not in ACTIONS]
        if bad:
            raise ConfigError(f"{where}: action: {bad[0]!r} is not one of {', '.join(ACTIONS)}")
    counts = {key: _count(data[key], f"{where}: {key}", least) for key, least in
              (("eval_episodes", 2), ("cpus_per_trial", 1), ("max_failures", 0))}
    sweep = Sweep(source=data, env_ids=env_ids, algos=algos, seeds=_seeds(data["seeds"], f"{where}: seeds"),
                  actions=actions, fixed=_per_algo(data.get("set") or {}, algos, f"{where}: set", _flat_sets),
                  grid=_per_algo(data["grid"], algos, f"{where}: grid", _grid) if "grid" in data else {},
                  search=_search(data["search"], algos, f"{where}: search") if "search" in data else None,
                  **counts)
    if "grid" in data and not any(sweep.grid.values()):
        raise ConfigError(f"{where}: grid is empty; give per algorithm KEY: [values], or leave grid out")
    _check_trials(sweep, where)
    return sweep


def _names(value: Any, where: str) -> list[str]:
    names = value if isinstance(value, list) else [value]
    if not names:
        raise ConfigError(f"{where}: empty list")
    if not all(isinstance(name, str) for name in names):
        raise ConfigError(f"{where}: expected a name or a list of names, got {value!r}")
    return list(dict.fromkeys(names))


def _named(check, name: str, where: str) -> None:
    try:
        check(name)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _count(value: Any, where: str, least: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ConfigError(f"{where}: expected a whole number >= {least}, got {value!r}")
    return value


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, list):
        seeds = [_count(seed, where, 0) for seed in value]
        if not seeds or len(set(seeds)) < len(seeds):
            raise ConfigError(f"{where}: expected distinct seeds, got {value!r}")
        return seeds
    return training_seeds(0, _count(value, where, 1))


def _per_algo(value: Any, algos: list[str], where: str, parse) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of algorithm -> settings, got {value!r}")
    out = {}
    for algo, settings in value.items():
        if algo not in algos:
            raise ConfigError(f"{where}.{algo}: {algo!r} is not one of the sweep's algorithms ({', '.join(algos)})")
        if not isinstance(settings, dict):
            raise ConfigError(f"{where}.{algo}: expected a mapping, got {settings!r}")
        out[algo] = parse(settings, algo, f"{where}.{algo}")
    return out


def _flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (lists and scalars are values)."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _check_key(key: str, algo: str, where: str) -> None:
    top = str(key).split(".")[0]
    allowed = hyperparam_keys(algo)
    if top not in allowed:
        raise ConfigError(f"{where}.{key}: unknown hyperparameter {top!r} of {algo}; allowed: {', '.join(allowed)}")


def _flat_sets(settings: dict[str, Any], algo: str, where: str) -> dict[str, Any]:
    flat = _flatten(settings)
    for key in flat:
        _check_key(key, algo, where)
    return flat


def _grid(settings: dict[str, Any], algo: str, where: str) -> dict[str, list]:
    grid = {}
    for key, values in settings.items():
        _check_key(key, algo, where)
        if not isinstance(values, list):
            raise ConfigError(f"{where}.{key}: expected a list of values, got {values!r}")
        if not values:
            raise ConfigError(f"{where}.{key}: empty list of values")
        grid[str(key)] = values
    return grid


def _search(value: Any, algos: list[str], where: str) -> Search:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping with trials, space and asha, got {value!r}")
    unknown = [key for key in value if key not in SEARCH_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(SEARCH_KEYS)}")
    if "trials" not in value or "space" not in value:
        raise ConfigError(f"{where}: trials and space are required")
    space = _per_algo(value["space"], algos, f"{where}.space", _space)
    if not any(space.values()):
        raise ConfigError(f"{where}.space: empty; give per algorithm KEY: {{loguniform: [low, high]}} and the like")
    asha = value.get("asha") or {}
    if not isinstance(asha, dict) or [key for key in asha if key not in ASHA_KEYS]:
        raise ConfigError(f"{where}.asha: expected a mapping with {', '.join(ASHA_KEYS)}, got {asha!r}")
    return Search(_count(value["trials"], f"{where}.trials", 1), space,
                  _count(asha.get("grace_period", 1), f"{where}.asha.grace_period", 1),
                  _count(asha.get("reduction_factor", 2), f"{where}.asha.reduction_factor", 2))


def _space(settings: dict[str, Any], algo: str, where: str) -> dict[str, tuple[str, list]]:
    space = {}
    for key, spec in settings.items():
        _check_key(key, algo, where)
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in SPACES:
            raise ConfigError(f"{where}.{key}: expected one of {', '.join(f'{{{s}: ...}}' for s in SPACES)}, "
                              f"got {spec!r}")
        kind, arguments = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(arguments, list) or not arguments:
                raise ConfigError(f"{where}.{key}.choice: expected a non-empty list, got {arguments!r}")
        elif (not isinstance(arguments, list) or len(arguments) != 2
              or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in arguments)
              or not arguments[0] < arguments[1] or (kind == "loguniform" and arguments[0] <= 0)):
            raise ConfigError(f"{where}.{key}.{kind}: expected [low, high] with low < high"
                              f"{' and low > 0' if kind == 'loguniform' else ''}, got {arguments!r}")
        space[str(key)] = (kind, list(arguments))
    return space


def search_values(search: Search, algo: str) -> list[dict[str, Any]]:
    """Hyperparameter settings spanning a search space's bounds and choices (what :func:`check_sweep` resolves)."""
    space = search.space.get(algo, {})
    if not space:
        return [{}]
    options = [[(key, value) for value in (arguments if kind == "choice"
                                           else [int(arguments[0]), int(arguments[1]) - 1] if kind == "randint"
                                           else arguments)]
               for key, (kind, arguments) in space.items()]
    return [dict(pairs) for pairs in itertools.product(*options)]


def _check_trials(sweep: Sweep, where: str) -> None:
    """Resolve every configuration of the sweep as ``echelon train`` would (one seed each)."""
    if sweep.search is None:
        trials = [trial for trial in sweep.grid_trials() if trial.seed == sweep.seeds[0]]
    else:
        trials = [Trial(env_id, algo, sweep.seeds[0], action, sets)
                  for env_id, algo, action in itertools.product(sweep.env_ids, sweep.algos, sweep.actions)
                  for sets in search_values(sweep.search, algo)]
    for trial in trials:
        try:
            resolve_config(trial.env_id, trial.algo, trial.seed, sets=sweep.set_args(trial)[1::2],
                           action=trial.action)
        except ConfigError as error:
            settings = ", ".join(f"{k}={v}" for k, v in trial.configuration().items() if v != "")
            raise ConfigError(f"{where}: the trial {settings} is refused: {error}") from None
