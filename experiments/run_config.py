"""A run's configuration: resolving it for a new run, checking it on resume, and reading it.

Precedence, lowest first (:func:`resolve_config`): ``default`` and the env's entry in
``agents/hyperparams/<algo>.yaml``, the ``--config`` file, ``--set key=value`` overrides, then explicit flags.
The resolved configuration is the run's ``config.yaml``; the readers below are the one place its optional
keys get their defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agents.config import (
    ALGO_NAMES,
    ConfigError,
    check_algo,
    check_env_id,
    coerce_numbers,
    deep_merge,
    hyperparams_path,
    read_yaml,
)
from agents.gradient_config import GRADIENT_KEYS, load_gradient_hyperparams
from agents.sb3_agents import TOP_LEVEL_KEYS, load_hyperparams
from envs import env_scenario
from envs.params import EnvParams, compile_scenario
from envs.scenario import resolve_scenario
from experiments.conventions import MAX_TRAINING_SEED
from experiments.runs import RunError

IDENTITY_KEYS = ("env_id", "algo", "seed")


def hyperparam_keys(algo: str) -> dict:
    return GRADIENT_KEYS if algo == "gradient" else TOP_LEVEL_KEYS


def load_algo_hyperparams(algo: str, env_id: str, overrides: dict | None = None) -> dict:
    """Resolved hyperparameters of any algorithm (SB3 or ``gradient``)."""
    if check_algo(algo) == "gradient":
        return load_gradient_hyperparams(env_id, overrides)
    return load_hyperparams(algo, env_id, overrides)


def hyperparams_file(algo: str) -> Path:
    return hyperparams_path(check_algo(algo))


# New runs -------------------------------------------------------------------------------------------
def parse_sets(items: list[str] | None) -> dict:
    """``["algo_kwargs.learning_rate=1e-3", "num_envs=8"]`` -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected key=value (e.g. algo_kwargs.learning_rate=1e-3)")
        try:
            value = coerce_numbers(yaml.safe_load(text)) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({error})") from error
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is set to a value and used as a mapping")
        node[parts[-1]] = value
    return out


def resolve_config(env_id: str | None, algo: str | None, seed: int | None, config_file: str | Path | None = None,
                   sets: list[str] | None = None, **flags: Any) -> dict:
    """The resolved configuration of a new run.

    Precedence, lowest first: ``default`` and the env's entry in ``agents/hyperparams/<algo>.yaml``, the
    ``--config`` file (a mapping with any hyperparameter key, and optionally ``env_id``, ``algo``, ``seed``:
    a previous run's ``config.yaml`` works), ``--set key=value`` overrides, then explicit flags
    (``total_steps``, ``num_envs``, ``checkpoint_every``, ``action``; None means unset; the gradient agent
    takes ``action`` only).
    """
    from_file: dict = {}
    if config_file is not None:
        from_file = read_yaml(Path(config_file), "config file")
        if from_file is None:
            from_file = {}
        if not isinstance(from_file, dict):
            raise ConfigError(f"{config_file} must be a mapping of hyperparameters")
    env_id = env_id if env_id is not None else from_file.get("env_id")
    algo = algo if algo is not None else from_file.get("algo")
    seed = seed if seed is not None else from_file.get("seed", 0)
    if env_id is None:
        raise ConfigError("no env id: pass --env-id (e.g. echelon/Serial-v1) or a --config that sets env_id")
    if algo is None:
        raise ConfigError(f"no algorithm: pass --algo ({', '.join(ALGO_NAMES)}) or a --config that sets algo")
    check_env_id(env_id)
    keys = hyperparam_keys(check_algo(algo))
    unknown = [k for k in from_file if k not in keys and k not in IDENTITY_KEYS]
    if unknown:
        raise ConfigError(f"{config_file}: unknown key {unknown[0]!r}; allowed: {', '.join((*IDENTITY_KEYS, *keys))}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_TRAINING_SEED:
        raise ConfigError(f"seed must be a whole number in [0, {MAX_TRAINING_SEED}], got {seed!r}")
    overrides = {k: v for k, v in from_file.items() if k in keys}
    overrides = deep_merge(overrides, parse_sets(sets))
    unknown = [k for k in overrides if k not in keys]
    if unknown:
        raise ConfigError(f"--set: unknown key {unknown[0]!r}; allowed: {', '.join(keys)}")
    flags = {k: v for k, v in flags.items() if v is not None}
    if algo == "gradient" and set(flags) - {"action"}:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(set(flags) - {"action"}))
        raise ConfigError(f"{names}: not used by the gradient agent; set paths, horizon, iterations or "
                          "checkpoint_every (iterations) with --set")
    overrides.update(flags)
    hyperparams = load_algo_hyperparams(algo, env_id, overrides)
    if hyperparams.get("action") == "residual" and env_action_mode(hyperparams) != "order_up_to":
        raise ConfigError("action residual needs env_kwargs.action_mode order_up_to")
    return {"env_id": env_id, "algo": algo, "seed": seed, **hyperparams}


def check_saved_config(config: dict, total_steps: int | None = None) -> None:
    """Check a saved ``config.yaml`` (with a new ``total_steps`` budget, if given) as a new run's would be; a
    :class:`ConfigError` names what is wrong (a :class:`RunError` a budget the gradient agent does not take)."""
    keys = hyperparam_keys(check_algo(config["algo"]))
    unknown = [k for k in config if k not in keys and k not in IDENTITY_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}")
    check_env_id(config["env_id"])
    hyper = {k: v for k, v in config.items() if k in keys}
    if total_steps is not None:
        if config["algo"] == "gradient":
            raise RunError("--total-steps is not used by the gradient agent (its budget is 'iterations')")
        hyper["total_steps"] = total_steps
    load_algo_hyperparams(config["algo"], config["env_id"], hyper)


# Reading a config -----------------------------------------------------------------------------------
def env_kwargs_of(config: dict) -> dict:
    """The env arguments recorded in a run's config (``action_mode``, ``warmup_periods``)."""
    return {k: v for k, v in (config.get("env_kwargs") or {}).items() if k in ("action_mode", "warmup_periods")}


def env_action_mode(config: dict) -> str:
    """The env action mode a run's policy speaks."""
    return env_kwargs_of(config).get("action_mode", "order_up_to")


def warmup_periods(config: dict) -> int | None:
    """The env warm-up a run trains with (None: the scenario's): a gradient run's ``warmup_periods``, an SB3 run's
    ``env_kwargs.warmup_periods``."""
    return config.get("warmup_periods", env_kwargs_of(config).get("warmup_periods"))


def policy_name(config: dict) -> str:
    """``<algo>`` or ``<algo> residual``: what a run's policy is called in evaluations."""
    return f"{config['algo']}{' residual' if config.get('action') == 'residual' else ''}"


def env_params(env_id: str) -> EnvParams:
    """The compiled scenario of an env id (a :class:`ConfigError` for an unknown one)."""
    return compile_scenario(resolve_scenario(env_scenario(check_env_id(env_id))))
