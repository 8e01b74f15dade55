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

from envs.kernel.layout import DEMAND_GIVEN, demand_source, kernel_params
from envs.noise import Noise, key_words, noise
from envs.params import EnvParams
from envs.simulator import kernel, resolve_simulator
from envs.state import State


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


def state_to_numpy(state: State) -> State:
    """A torch State back as numpy arrays (detached)."""
    return State(**{f.name: getattr(state, f.name).detach().cpu().numpy() for f in dataclasses.fields(State)})


def noise_to_torch(noise: Noise) -> Noise:
    return to_torch(noise)


def rollout_noise(keys: np.ndarray, periods: np.ndarray, horizon: int, params: EnvParams) -> list[Noise]:
    """The noise of replicas with episode ``keys`` (B,) in periods ``periods + t`` for t < ``horizon``, as torch
    tensors per period: the same draws as :func:`envs.noise.noise`, computed for the whole rollout in one call of
    the compiled kernel (the reference, period by period, where the kernel is unavailable or switched off or
    cannot sample the scenario's demand itself)."""
    keys, periods = np.asarray(keys, dtype=np.uint64), np.asarray(periods, dtype=np.int64)
    if resolve_simulator(None) == "compiled" and demand_source(params) != DEMAND_GIVEN:
        drawn = _compiled_noise(np.tile(keys, horizon), (periods[None, :] + np.arange(horizon)[:, None]).ravel(),
                                params)
        batch = (horizon, len(keys))
        whole = Noise(**{name: value.reshape(batch + value.shape[1:]) for name, value in drawn.items()})
    else:
        steps = [noise(keys, periods + t, params) for t in range(horizon)]
        whole = Noise(**{f.name: np.stack([getattr(n, f.name) for n in steps]) for f in dataclasses.fields(Noise)})
    tensors = to_torch(whole)
    return [Noise(**{f.name: getattr(tensors, f.name)[t] for f in dataclasses.fields(Noise)}) for t in range(horizon)]


def _compiled_noise(keys: np.ndarray, periods: np.ndarray, params: EnvParams) -> dict[str, np.ndarray]:
    """:func:`envs.noise.noise` of replicas ``keys`` in ``periods`` (K,) by the compiled kernel, as Noise fields."""
    b, n, p = len(keys), params.num_nodes, params.num_products
    stream = (b, params.num_regions, params.num_speeds, p)
    fields = {"demand": np.zeros(stream), "cutoff_uniform": np.zeros(stream, np.float32),
              "spill_uniform": np.zeros(stream, np.float32), "lead_time": np.zeros((b, n, p), np.int8)}
    low, high = key_words(keys)
    kernel.noise_batch(np.ones(b, bool), low, high, periods, *fields.values(), np.zeros(stream[1:], np.float32),
                       np.zeros((3, max(n, p))), *kernel_params(params).noise_args())
    return fields
