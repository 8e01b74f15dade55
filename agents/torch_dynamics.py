"""Run the simulator's own transition on torch tensors, optionally with gradient relaxations.

The transition in :mod:`envs.dynamics` is written against an array namespace; this module supplies
torch namespaces for it. ``exact_namespace`` reproduces the numpy simulator (tested to the last unit).
``relaxed_namespace`` is for training only: ``floor`` (rationing, spill rounding) passes gradients
straight through (forward value unchanged, backward identity; Bengio et al. 2013), so costs stay
exact while the pathwise gradient is not cut at every rounding; ``maximum(x, 0)`` is ``relu(x)`` (the same
values; subgradient 0 at a tie, where ``torch.maximum`` gives 1/2 through several backward passes), other
``minimum``/``maximum`` calls keep torch's subgradients. Evaluation always runs in the real numpy env.

A rollout draws the noise of all its periods at once (:func:`rollout_noise`: one call of the compiled kernel's
noise, tested equal to :func:`envs.noise.noise`). It stays in float64: at 64 paths a period is ~700 tensor
operations on (64, 20) blocks, bound by per-operation overhead, so float32 gains nothing there (13% at 256 paths),
and float32 shares round across whole numbers in the largest-remainder splits, changing who gets a unit.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import array_api_compat.torch as torch_xp
import numpy as np
import torch

from envs.kernel.layout import DEMAND_GIVEN, demand_source
from envs.noise import Noise, noise
from envs.params import EnvParams
from envs.simulator import compiled_noise, resolve_simulator


def straight_through_floor(x: torch.Tensor) -> torch.Tensor:
    """floor(x) in the forward pass, identity in the backward pass."""
    return x - (x - torch.floor(x)).detach()


def relu_maximum(a: Any, b: Any) -> Any:
    """``maximum``, as ``relu`` where ``b`` is the number 0 (the unserved orders of the fulfillment loop): the same
    values and subgradient 0 at 0, with a backward of one mask where ``torch.maximum`` splits ties in half a
    dozen passes."""
    if isinstance(b, (int, float)) and b == 0:
        return torch.relu(a)
    return torch_xp.maximum(a, b)


def exact_namespace() -> Any:
    """The array namespace for exact torch execution of the transition."""
    return torch_xp


def relaxed_namespace() -> Any:
    """Like :func:`exact_namespace`, but with a straight-through ``floor`` and ``maximum(x, 0)`` as ``relu``."""
    names = {name: getattr(torch_xp, name) for name in dir(torch_xp) if not name.startswith("_")}
    names["floor"] = straight_through_floor
    names["maximum"] = relu_maximum
    return SimpleNamespace(**names)


def to_torch(value: Any, dtype: torch.dtype = torch.float64) -> Any:
    """A State or Noise (or array) as torch tensors; floating arrays become ``dtype``, others keep theirs."""
    if dataclasses.is_dataclass(value):
        return type(value)(**{f.name: to_torch(getattr(value, f.name), dtype) for f in dataclasses.fields(value)})
    array = np.asarray(value)
    tensor = torch.as_tensor(array)
    return tensor.to(dtype) if array.dtype.kind == "f" else tensor


def rollout_noise(keys: np.ndarray, periods: np.ndarray, horizon: int, params: EnvParams) -> list[Noise]:
    """The noise of replicas with episode ``keys`` (B,) in periods ``periods + t`` for t < ``horizon``, as torch
    tensors per period: the same draws as :func:`envs.noise.noise`, computed for the whole rollout in one call of
    the compiled kernel (the reference, period by period, where the kernel is unavailable or switched off or
    cannot sample the scenario's demand itself)."""
    keys, periods = np.asarray(keys, dtype=np.uint64), np.asarray(periods, dtype=np.int64)
    if resolve_simulator(None) == "compiled" and demand_source(params) != DEMAND_GIVEN:
        drawn = compiled_noise(np.tile(keys, horizon), (periods[None, :] + np.arange(horizon)[:, None]).ravel(),
                               params)
        batch = (horizon, len(keys))
        whole = Noise(**{f.name: getattr(drawn, f.name).reshape(batch + getattr(drawn, f.name).shape[1:])
                         for f in dataclasses.fields(Noise)})
    else:
        steps = [noise(keys, periods + t, params) for t in range(horizon)]
        whole = Noise(**{f.name: np.stack([getattr(n, f.name) for n in steps]) for f in dataclasses.fields(Noise)})
    tensors = to_torch(whole)
    return [Noise(**{f.name: getattr(tensors, f.name)[t] for f in dataclasses.fields(Noise)}) for t in range(horizon)]

