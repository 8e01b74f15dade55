"""stable-baselines3 agents (PPO, SAC, TD3, A2C) built through one factory, with hyperparameters as YAML.

Hyperparameters live in ``agents/hyperparams/<algo>.yaml``: a mapping whose keys are registered env ids
(``echelon/Serial-v1``, ...) plus ``default``. :func:`load_hyperparams` deep-merges ``default``, the env's
entry and caller overrides into one resolved dict with these keys:

================  ==================================================================================
key               meaning
================  ==================================================================================
num_envs          replicas in the natively batched training env
total_steps       environment steps (summed over replicas) to train for
checkpoint_every  environment steps between checkpoints
metrics_every     environment steps between rows of ``metrics.csv``
eval_episodes     episodes of the final evaluation after training (0: none)
env_kwargs        ``action_mode`` and ``warmup_periods`` of the env
normalize         ``obs``, ``reward`` (bool), ``clip_obs``, ``clip_reward`` of ``VecNormalize``
policy_kwargs     ``MlpPolicy`` arguments (``net_arch``, ``activation_fn`` by name, ``log_std_init``, ...), and
                  ``shared_layer``: units of a first layer the actor and critic share (:mod:`agents.features`)
network           ``mlp`` (SB3's ``MlpPolicy``) or ``cells`` (PPO and A2C, residual: one network shared by every
                  (node, product) cell, :mod:`agents.cell_policy`, which runs on any scenario; ``net_arch`` is then
                  one list of the shared layers' widths, and observations are not normalized: the cells' features
                  are scale-free and per-dimension statistics would tie the policy to one scenario)
algo_kwargs       arguments of the SB3 class (``learning_rate``, ``n_steps``, ``buffer_size``, ...);
                  ``action_noise`` as ``{type: normal | ornstein_uhlenbeck, sigma: float}``
device            torch device: ``cpu`` (default; small MLPs run faster there), ``auto`` or ``cuda[:N]``
                  (refused when CUDA is not available)
action            ``direct`` (the env's action) or ``residual`` (log-multipliers of the analytic plan's
                  echelon levels, :mod:`agents.residual`; the ``residual`` section of an entry applies)
max_log_multiplier  bound of the residual log-multipliers (0.5 unless set)
crn_groups        replicas per group sharing all draws, rewards centered per group (:mod:`agents.crn`;
                  1: off)
================  ==================================================================================

Tables are resolved by :func:`agents.config.resolve_entry` (``residual`` sections, number coercion).
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import A2C, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from torch import nn

from agents.cell_network import CellScenario
from agents.cell_policy import CellActorCriticPolicy
from agents.config import (
    DEFAULT_KEY,
    SB3_ALGOS,
    ConfigError,
    check_common,
    check_env_id,
    hyperparams_path,
    resolve_entry,
)
from agents.features import SharedLayer
from agents.rollout_buffer import ReusedRolloutBuffer
from envs.actions import ACTION_MODES

ALGOS: dict[str, type[BaseAlgorithm]] = dict(zip(SB3_ALGOS, (PPO, SAC, TD3, A2C), strict=True))
OFF_POLICY = frozenset({"sac", "td3"})
CELL_ALGOS = ("ppo", "a2c")
"""The algorithms that take the product-shared actor-critic policy (``network: cells``)."""

TOP_LEVEL_KEYS = {
    "num_envs": int,
    "total_steps": int,
    "checkpoint_every": int,
    "metrics_every": int,
    "eval_episodes": int,
    "env_kwargs": dict,
    "normalize": dict,
    "policy_kwargs": dict,
    "algo_kwargs": dict,
    "device": str,
    "action": str,
    "network": str,
    "max_log_multiplier": float,
    "crn_groups": int,
}
ENV_KWARGS = {"action_mode", "warmup_periods"}
NORMALIZE_KWARGS = {"obs", "reward", "clip_obs", "clip_reward"}
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}
# Arguments of the SB3 classes that the factory sets itself and a config may not.
_RESERVED = {"self", "policy", "env", "seed", "tensorboard_log", "policy_kwargs", "verbose", "device",
             "_init_setup_model", "rollout_buffer_class"}
_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")
SB3_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "n_steps": (lambda v: v >= 1, "a whole number >= 1"),
    "n_epochs": (lambda v: v >= 1, "a whole number >= 1"),
    "train_freq": (lambda v: v >= 1, "a whole number >= 1 (or [n, 'step' | 'episode'] with n >= 1)"),
    "target_update_interval": (lambda v: v >= 1, "a whole number >= 1"),
    "policy_delay": (lambda v: v >= 1, "a whole number >= 1"),
    "tau": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "rms_prop_eps": (lambda v: v > 0, "a number > 0"),
    "target_policy_noise": (lambda v: v >= 0, "a number >= 0"),
}
"""SB3 arguments whose other values SB3 accepts but cannot train with (it crashes or turns every number into NaN)."""


# Loading --------------------------------------------------------------------------------------------
def check_sb3_algo(algo: str) -> str:
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
    return algo


def load_hyperparams(algo: str, env_id: str, overrides: dict | None = None,
                     path: str | Path | None = None) -> dict:
    """Resolved hyperparameters of ``algo`` on ``env_id``: ``default`` < the env's entry < (``residual``
    sections when the action is residual) < ``overrides`` (see :func:`agents.config.resolve_entry`).

    Reads ``agents/hyperparams/<algo>.yaml`` (or ``path``). Raises :class:`ConfigError` for an unknown
    algorithm or env id, a file that is not valid YAML or not a mapping of env ids, and unknown or
    ill-typed keys (the message names the file and the key).
    """
    check_sb3_algo(algo)
    check_env_id(env_id)
    path = Path(path) if path is not None else hyperparams_path(algo)
    resolved = resolve_entry(path, env_id, overrides, lambda entry, where: validate_hyperparams(algo, entry, where))
    for key in ("num_envs", "total_steps"):
        if key not in resolved:
            raise ConfigError(f"{path}: neither '{DEFAULT_KEY}' nor {env_id!r} sets {key!r}")
    if resolved.get("network") == "cells":
        _check_cells(algo, resolved, f"{path}: {env_id}")
    return resolved


def _check_cells(algo: str, resolved: dict, where: str) -> None:
    """What a product-shared policy (``network: cells``) needs of a resolved configuration."""
    if algo not in CELL_ALGOS:
        raise ConfigError(f"{where}: network 'cells' is an actor-critic policy of {' and '.join(CELL_ALGOS)}, not "
                          f"{algo}; use network=mlp")
    if (resolved.get("normalize") or {}).get("obs", True):
        raise ConfigError(f"{where}: network 'cells' reads scale-free cell features; set normalize.obs=false "
                          "(per-dimension statistics would tie the policy to one scenario)")
    kwargs = resolved.get("policy_kwargs") or {}
    if kwargs.get("shared_layer") is not None:
        raise ConfigError(f"{where}: policy_kwargs.shared_layer is an MLP's first layer; network 'cells' shares all "
                          "of its layers already (set policy_kwargs.shared_layer=null)")
    if not isinstance(kwargs.get("net_arch", []), list):
        raise ConfigError(f"{where}: policy_kwargs.net_arch of network 'cells' is one list of shared layer widths, "
                          f"e.g. [32, 32], got {kwargs['net_arch']!r}")


def validate_hyperparams(algo: str, entry: Any, where: str) -> None:
    """Check the keys, types and values of one entry; ``where`` names its origin in error messages."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping of hyperparameters, got {type(entry).__name__}")
    check_common(entry, where)
    for key, value in entry.items():
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
        kind = TOP_LEVEL_KEYS[key]
        if kind is int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}.{key}: expected a whole number >= 0, got {value!r}")
            if key in ("num_envs", "total_steps", "checkpoint_every", "metrics_every", "crn_groups") and value < 1:
                raise ConfigError(f"{where}.{key}: must be >= 1, got {value!r}")
        elif kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
        elif not isinstance(value, kind):
            raise ConfigError(f"{where}.{key}: expected a {kind.__name__}, got {value!r}")
    _check_keys(entry.get("env_kwargs", {}), ENV_KWARGS, f"{where}.env_kwargs")
    _check_keys(entry.get("normalize", {}), NORMALIZE_KWARGS, f"{where}.normalize")
    _check_values(entry, where)
    allowed = set(inspect.signature(ALGOS[algo].__init__).parameters) - _RESERVED
    _check_keys(entry.get("algo_kwargs", {}), allowed, f"{where}.algo_kwargs", f"{ALGOS[algo].__name__} argument")
    _check_numbers(algo, entry.get("algo_kwargs", {}), f"{where}.algo_kwargs")
    shared = entry.get("policy_kwargs", {}).get("shared_layer")  # null: none
    if shared is not None and (isinstance(shared, bool) or not isinstance(shared, int) or shared < 1):
        raise ConfigError(f"{where}.policy_kwargs.shared_layer: expected a whole number of units >= 1, got {shared!r}")
    _check_ranges(entry.get("algo_kwargs", {}), f"{where}.algo_kwargs")
    _check_net_arch(entry.get("policy_kwargs", {}).get("net_arch"), f"{where}.policy_kwargs.net_arch")
    activation = entry.get("policy_kwargs", {}).get("activation_fn")
    if activation is not None and activation not in ACTIVATIONS:
        raise ConfigError(f"{where}.policy_kwargs.activation_fn: {activation!r} is not one of {', '.join(ACTIVATIONS)}")
    noise = entry.get("algo_kwargs", {}).get("action_noise")
    if noise is not None:
        if not isinstance(noise, dict) or noise.get("type") not in ("normal", "ornstein_uhlenbeck") or not isinstance(
            noise.get("sigma"), (int, float)
        ):
            raise ConfigError(
                f"{where}.algo_kwargs.action_noise: expected {{type: normal | ornstein_uhlenbeck, sigma: float}}, "
                f"got {noise!r}"
            )


def _check_values(entry: dict, where: str) -> None:
    """Check the values of ``env_kwargs``, ``normalize`` and ``device`` (their keys and types are checked)."""
    env_kwargs, normalize = entry.get("env_kwargs", {}), entry.get("normalize", {})
    if "action_mode" in env_kwargs and env_kwargs["action_mode"] not in ACTION_MODES:
        raise ConfigError(f"{where}.env_kwargs.action_mode: expected one of {', '.join(ACTION_MODES)}, "
                          f"got {env_kwargs['action_mode']!r}")
    warmup = env_kwargs.get("warmup_periods")
    if warmup is not None and (not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0):
        raise ConfigError(f"{where}.env_kwargs.warmup_periods: expected a whole number >= 0 or null (the "
                          f"scenario's), got {warmup!r}")
    for key in ("obs", "reward"):
        if key in normalize and not isinstance(normalize[key], bool):
            raise ConfigError(f"{where}.normalize.{key}: expected true or false, got {normalize[key]!r}")
    for key in ("clip_obs", "clip_reward"):
        value = normalize.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{where}.normalize.{key}: expected a number > 0, got {value!r}")
    device = entry.get("device")
    if device is not None:
        if not _DEVICE.match(device):
            raise ConfigError(f"{where}.device: expected cpu, auto or cuda, got {device!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"{where}.device: {device!r} asked for, but CUDA is not available on this machine "
                              "(torch.cuda.is_available() is False); use device=cpu (or auto)")


def _check_numbers(algo: str, algo_kwargs: dict, where: str) -> None:
    """An argument whose SB3 default is a number must not be given as text or true/false (``gamma=abc``)."""
    defaults = inspect.signature(ALGOS[algo].__init__).parameters
    for key, value in algo_kwargs.items():
        default = defaults[key].default
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(value, (str, bool)) or value is None):
            raise ConfigError(f"{where}.{key}: expected a number (SB3's default is {default!r}), got {value!r}")


def _check_ranges(algo_kwargs: dict, where: str) -> None:
    """Refuse the values of :data:`SB3_RANGES` that SB3 accepts but cannot train with, before any training."""
    for key, (ok, expected) in SB3_RANGES.items():
        value = algo_kwargs.get(key)
        number = value[0] if key == "train_freq" and isinstance(value, list) and value else value
        if isinstance(number, (int, float)) and not isinstance(number, bool) and not ok(number):
            raise ConfigError(f"{where}.{key}: expected {expected}, got {value!r}")


def _check_net_arch(net_arch: Any, where: str) -> None:
    """Layer widths must be whole numbers >= 0 (a list, or a mapping of lists per network)."""
    widths = [w for part in net_arch.values() for w in (part if isinstance(part, list) else [part])] \
        if isinstance(net_arch, dict) else net_arch if isinstance(net_arch, list) else []
    for width in widths:
        if isinstance(width, float) and width.is_integer():
            width = int(width)
        if not isinstance(width, int) or isinstance(width, bool) or width < 0:
            raise ConfigError(f"{where}: layer widths must be whole numbers >= 0, got {net_arch!r}")


def _check_keys(mapping: Any, allowed: set[str], where: str, what: str = "key") -> None:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping, got {mapping!r}")
    for key in mapping:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown {what} {key!r}; allowed: {', '.join(sorted(allowed))}")


# Building -------------------------------------------------------------------------------------------
def policy_kwargs_for(hyperparams: dict) -> dict:
    """``policy_kwargs`` with activation names replaced by torch classes and ``shared_layer`` by its extractor."""
    kwargs = copy.deepcopy(hyperparams.get("policy_kwargs") or {})
    if isinstance(kwargs.get("activation_fn"), str):
        kwargs["activation_fn"] = ACTIVATIONS[kwargs["activation_fn"]]
    units = kwargs.pop("shared_layer", None)
    if units is not None:
        kwargs["features_extractor_class"] = SharedLayer
        kwargs["features_extractor_kwargs"] = {"units": int(units),
                                               "activation_fn": kwargs.get("activation_fn", nn.Tanh)}
    return kwargs


def algo_kwargs_for(algo: str, hyperparams: dict, action_dim: int) -> dict:
    """``algo_kwargs`` ready for the SB3 class (action noise objects, tuple ``train_freq``)."""
    kwargs = copy.deepcopy(hyperparams.get("algo_kwargs") or {})
    noise = kwargs.pop("action_noise", None)
    if noise is not None:
        cls = NormalActionNoise if noise["type"] == "normal" else OrnsteinUhlenbeckActionNoise
        kwargs["action_noise"] = cls(np.zeros(action_dim), float(noise["sigma"]) * np.ones(action_dim))
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    for key in ("n_steps", "batch_size", "n_epochs", "buffer_size", "learning_starts", "gradient_steps",
                "policy_delay", "train_freq"):
        if isinstance(kwargs.get(key), float) and kwargs[key].is_integer():
            kwargs[key] = int(kwargs[key])
    return kwargs


def make_model(algo: str, env, hyperparams: dict, seed: int, tensorboard_log: str | None = None,
               verbose: int = 0, cells: CellScenario | None = None) -> BaseAlgorithm:
    """A fresh SB3 model of ``algo`` (``ppo``, ``sac``, ``td3``, ``a2c``) on ``env``: an ``MlpPolicy``, or with
    ``network: cells`` the product-shared policy on the scenario's ``cells``.

    ``hyperparams`` is a resolved dict as returned by :func:`load_hyperparams` (only ``network``,
    ``policy_kwargs``, ``algo_kwargs`` and ``device`` are read here).
    """
    cls = ALGOS[check_sb3_algo(algo)]
    validate_hyperparams(algo, {k: v for k, v in hyperparams.items() if k in TOP_LEVEL_KEYS}, "hyperparams")
    action_dim = int(np.prod(env.action_space.shape))
    policy: str | type = "MlpPolicy"
    policy_kwargs = policy_kwargs_for(hyperparams)
    if hyperparams.get("network") == "cells":
        _check_cells(algo, hyperparams, "hyperparams")
        if cells is None:
            raise ValueError("network 'cells' needs the scenario's cells (agents.cell_network.CellScenario)")
        policy, policy_kwargs = CellActorCriticPolicy, {**policy_kwargs, "cells": cells}
    flat_rollouts = algo not in OFF_POLICY and isinstance(env.observation_space, spaces.Box)
    extra = {"rollout_buffer_class": ReusedRolloutBuffer} if flat_rollouts else {}
    try:
        return cls(
            policy,
            env,
            seed=seed,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=hyperparams.get("device", "cpu"),
            **algo_kwargs_for(algo, hyperparams, action_dim),
            **extra,
        )
    except (TypeError, ValueError, AssertionError, RuntimeError) as error:
        raise ConfigError(f"cannot build {cls.__name__} from these hyperparameters: {error}") from error
    except MemoryError as error:
        raise ConfigError(f"cannot build {cls.__name__}: it needs more memory than there is ({error}); lower "
                          "buffer_size, num_envs or the network's size") from error


def load_model(algo: str, path: str | Path, env=None, device: str = "cpu", **kwargs) -> BaseAlgorithm:
    """Load a saved model of ``algo`` (optionally attached to ``env``)."""
    return ALGOS[check_sb3_algo(algo)].load(str(path), env=env, device=device, **kwargs)
