"""Hyperparameter tables: ``agents/hyperparams/<algo>.yaml``, a mapping keyed by env id plus ``default``.

:func:`resolve_entry` deep-merges, lowest precedence first: ``default``, the env id's entry, then (when the
resolved ``action`` is ``residual``) the ``residual`` sections of ``default`` and of the env's entry, then the
caller's overrides; a residual configuration always states its ``max_log_multiplier`` (0.5 unless set). A
``residual`` section holds the settings that differ when the agent corrects the analytic plan (``--action
residual``) instead of setting the env's action directly; it never appears in a resolved configuration.

Numbers written like ``3e-4`` (which YAML 1.1 reads as strings) are read as numbers.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from envs import env_scenario
from envs.scenario.limits import MAX_WARMUP_PERIODS

HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"
DEFAULT_KEY = "default"
RESIDUAL_KEY = "residual"
ACTIONS = ("direct", "residual")
NETWORKS = ("mlp", "cells")
"""Policy networks: ``mlp`` over the whole observation (tied to one scenario's size) or ``cells``, one network
shared by every (node, product) cell (:mod:`agents.cell_network`; any scenario, residual on the plan only)."""
SB3_ALGOS = ("ppo", "sac", "td3", "a2c")
"""The stable-baselines3 algorithms (built by :mod:`agents.sb3_agents`)."""
ALGO_NAMES = (*SB3_ALGOS, "gradient")
"""Every algorithm ``echelon train --algo`` accepts."""
DEFAULT_MAX_LOG_MULTIPLIER = 0.5
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class ConfigError(ValueError):
    """A hyperparameter file, entry or override is invalid; the message names the file and key."""


def check_algo(algo: str) -> str:
    """``algo`` when ``echelon train`` knows it; otherwise a :class:`ConfigError` that lists the algorithms."""
    if algo not in ALGO_NAMES:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGO_NAMES)}")
    return algo


def hyperparams_path(algo: str) -> Path:
    """The hyperparameter table of ``algo`` (``agents/hyperparams/<algo>.yaml``)."""
    return HYPERPARAMS_DIR / f"{algo}.yaml"


def check_env_id(env_id: str) -> str:
    """``env_id`` when it is registered; otherwise a :class:`ConfigError` that lists the registered ids."""
    try:
        env_scenario(env_id)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return env_id


def read_yaml(path: Path, what: str = "file") -> Any:
    """Parse a YAML file, turning syntax and I/O errors into a :class:`ConfigError` naming it."""
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror or error}") from error
    try:
        return coerce_numbers(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error


def coerce_numbers(value: Any) -> Any:
    """Recursively turn strings that spell numbers (``3e-4``, which YAML 1.1 leaves as text) into floats."""
    if isinstance(value, dict):
        return {key: coerce_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [coerce_numbers(item) for item in value]
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    return value


def deep_merge(base: dict, update: dict) -> dict:
    """``base`` updated by ``update``; nested dicts are merged key by key (except ``net_arch``, replaced)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "net_arch":
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


UNBOUNDED_KEYS = frozenset({"clip_obs", "clip_reward", "max_grad_norm", "target_kl", "clip_range_vf"})
"""Keys of bounds, where ``.inf`` means no bound; every other number of a configuration must be finite."""


def _non_finite(value: Any, where: str, key: Any = None) -> tuple[str, float] | None:
    """Where in ``value`` (a number, or nested lists and mappings of them) a number is NaN, or infinite outside
    :data:`UNBOUNDED_KEYS`, and that number (None: nowhere)."""
    if isinstance(value, float) and (math.isnan(value) or (math.isinf(value) and key not in UNBOUNDED_KEYS)):
        return where, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return next((found for k, item in items if (found := _non_finite(item, f"{where}.{k}", k))), None)


def check_common(entry: dict, where: str) -> None:
    """Validate what every algorithm shares: ``action``, ``max_log_multiplier``, ``eval_episodes``, the env warm-up
    (at most :data:`~envs.scenario.limits.MAX_WARMUP_PERIODS`) and finite numbers everywhere."""
    found = _non_finite(entry, where)
    if found is not None:
        raise ConfigError(f"{found[0]}: expected a finite number, got {found[1]!r}")
    for key, warmup in (("warmup_periods", entry.get("warmup_periods")),
                        ("env_kwargs.warmup_periods", (entry.get("env_kwargs") or {}).get("warmup_periods")
                         if isinstance(entry.get("env_kwargs"), dict) else None)):
        if isinstance(warmup, (int, float)) and not isinstance(warmup, bool) and warmup > MAX_WARMUP_PERIODS:
            raise ConfigError(f"{where}.{key}: {warmup!r} is above the limit of {MAX_WARMUP_PERIODS:,} periods "
                              "(simulated at every reset); a few lead times are enough to reach a steady state")
    if "action" in entry and entry["action"] not in ACTIONS:
        raise ConfigError(f"{where}.action: expected one of {', '.join(ACTIONS)}, got {entry['action']!r}")
    if "network" in entry and entry["network"] not in NETWORKS:
        raise ConfigError(f"{where}.network: expected one of {', '.join(NETWORKS)}, got {entry['network']!r}")
    if "max_log_multiplier" in entry:
        value = entry["max_log_multiplier"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3:
            raise ConfigError(f"{where}.max_log_multiplier: expected a number in (0, 3], got {value!r}")
    if "eval_episodes" in entry:
        value = entry["eval_episodes"]
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole or value < 0 or value == 1:
            raise ConfigError(f"{where}.eval_episodes: expected 0 (no final evaluation) or a whole number >= 2 "
                              f"(a confidence interval needs 2), got {value!r}; set eval_episodes=0 or >= 2")


def resolve_entry(path: Path, env_id: str, overrides: dict | None,
                  validate: Callable[[Any, str], None]) -> dict:
    """The resolved hyperparameters of ``env_id`` in the table at ``path`` (see module doc).

    ``validate(entry, where)`` checks one entry (without its ``residual`` section) and raises
    :class:`ConfigError` naming ``where``.
    """
    check_env_id(env_id)
    table = read_yaml(path, "hyperparameter file")
    if not isinstance(table, dict):
        raise ConfigError(f"{path} must be a mapping from env ids (and '{DEFAULT_KEY}') to hyperparameters")

    def checked(entry: Any, where: str) -> dict:
        entry = {} if entry is None else entry
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping of hyperparameters, got {type(entry).__name__}")
        section = entry.get(RESIDUAL_KEY, {})
        if not isinstance(section, dict) or RESIDUAL_KEY in section:
            raise ConfigError(f"{where}.{RESIDUAL_KEY}: expected a mapping of hyperparameters (not nested)")
        validate({k: v for k, v in entry.items() if k != RESIDUAL_KEY}, where)
        validate(section, f"{where}.{RESIDUAL_KEY}")
        return entry

    for key, entry in table.items():
        if key != DEFAULT_KEY:
            try:
                env_scenario(key)
            except ValueError as error:
                raise ConfigError(f"{path}: {error}") from None
        checked(entry, f"{path}: {key}")
    resolved = deep_merge(table.get(DEFAULT_KEY) or {}, table.get(env_id) or {})
    overrides = coerce_numbers(checked(overrides, "override")) if overrides else {}
    residual = resolved.pop(RESIDUAL_KEY, {})
    overrides_residual = overrides.pop(RESIDUAL_KEY, {})
    if overrides.get("action", resolved.get("action")) == "residual":
        resolved = deep_merge(deep_merge(resolved, residual), overrides_residual)
    resolved = deep_merge(resolved, overrides)
    if resolved.get("action") == "residual":  # record the bound the policy is trained with in the run's config
        resolved.setdefault("max_log_multiplier", DEFAULT_MAX_LOG_MULTIPLIER)
    if resolved.get("network") == "cells" and resolved.get("action") != "residual":
        raise ConfigError(f"{path}: {env_id}: network 'cells' reads and corrects the analytic plan, so it needs "
                          "action 'residual' (set action=residual, or network=mlp for a direct action)")
    return resolved
