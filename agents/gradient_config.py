"""Hyperparameters of the gradient agent: ``agents/hyperparams/gradient.yaml``, keyed by env id.

=================== ============================================================================
key                 meaning
=================== ============================================================================
hidden              widths of the tanh hidden layers, e.g. ``[64]`` (with ``network: cells``: of the shared layers)
network             ``mlp`` (over the whole observation) or ``cells`` (one network shared by every (node,
                    product) cell, :mod:`agents.cell_network`; it runs on any scenario; residual only)
paths               sampled demand / lead-time paths per update (bounded by the memory available, see horizon)
horizon             periods per sampled path (from the env's warm-up state, like an episode); an update keeps the
                    graph of paths x horizon periods, so a pair whose estimated memory is above what the machine has
                    available is refused when the trainer is built, before a run folder is written
                    (:mod:`agents.gradient_memory`)
iterations          Adam updates
learning_rate       Adam step size (the first one when final_learning_rate is set)
final_learning_rate cosine decay of the step size to this value at the last iteration (null: constant)
action              ``direct`` (order-up-to levels) or ``residual`` (log-multipliers of the plan's levels)
max_log_multiplier  bound of the residual log-multipliers
warmup_periods      env warm-up before each path (null: the scenario's)
checkpoint_every    iterations between checkpoints
eval_episodes       episodes of the final evaluation after training (0: none)
=================== ============================================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER, ConfigError, check_common, hyperparams_path, resolve_entry
from agents.gradient_agent import GradientAgentConfig

GRADIENT_KEYS: dict[str, Any] = {
    "hidden": list,
    "paths": int,
    "horizon": int,
    "iterations": int,
    "learning_rate": float,
    "final_learning_rate": (float, type(None)),
    "action": str,
    "network": str,
    "max_log_multiplier": float,
    "warmup_periods": (int, type(None)),
    "checkpoint_every": int,
    "eval_episodes": int,
}
_AT_LEAST_ONE = ("paths", "horizon", "iterations", "checkpoint_every")
REQUIRED = ("hidden", "paths", "horizon", "iterations", "learning_rate")


def validate_gradient(entry: dict, where: str) -> None:
    """Check the keys, types and values of one entry of ``gradient.yaml`` (or an override)."""
    check_common(entry, where)
    for key, value in entry.items():
        if key not in GRADIENT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(GRADIENT_KEYS)}")
        if isinstance(value, float) and value.is_integer() and GRADIENT_KEYS[key] in (int, (int, type(None))):
            value = int(value)
        if key == "hidden":
            if not isinstance(value, list) or not all(
                    isinstance(h, (int, float)) and not isinstance(h, bool) and float(h).is_integer() and h >= 1
                    for h in value):
                raise ConfigError(f"{where}.hidden: expected a list of whole layer widths >= 1, got {value!r}")
        elif key in ("learning_rate", "final_learning_rate"):
            if value is None and key == "final_learning_rate":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{where}.{key}: expected a number > 0, got {value!r}")
        elif GRADIENT_KEYS[key] is int or key == "warmup_periods":
            if value is None and key == "warmup_periods":
                continue
            least = 1 if key in _AT_LEAST_ONE else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"{where}.{key}: expected a whole number >= {least}, got {value!r}")


def load_gradient_hyperparams(env_id: str, overrides: dict | None = None, path: str | Path | None = None) -> dict:
    """Resolved hyperparameters on ``env_id`` (``default`` < env entry < ``residual`` sections < overrides)."""
    path = Path(path) if path is not None else hyperparams_path("gradient")
    resolved = resolve_entry(path, env_id, overrides, validate_gradient)
    missing = [key for key in REQUIRED if key not in resolved]
    if missing:
        raise ConfigError(f"{path}: neither 'default' nor {env_id!r} sets {missing[0]!r}")
    for key, value in list(resolved.items()):
        if GRADIENT_KEYS[key] is int and isinstance(value, float):
            resolved[key] = int(value)
    resolved["hidden"] = [int(h) for h in resolved["hidden"]]
    return resolved


def agent_config(config: dict) -> GradientAgentConfig:
    """The trainer's settings from a resolved run config (with its ``seed``)."""
    return GradientAgentConfig(
        hidden=tuple(config["hidden"]), paths=int(config["paths"]), horizon=int(config["horizon"]),
        iterations=int(config["iterations"]), learning_rate=float(config["learning_rate"]),
        final_learning_rate=None if config.get("final_learning_rate") is None else float(config["final_learning_rate"]),
        seed=int(config.get("seed", 0)), warmup_periods=config.get("warmup_periods"),
        action=config.get("action", "direct"), network=config.get("network", "mlp"),
        max_log_multiplier=float(config.get("max_log_multiplier", DEFAULT_MAX_LOG_MULTIPLIER)),
    )
