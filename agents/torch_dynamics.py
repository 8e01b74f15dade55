"""Run the simulator's own transition on torch tensors, optionally with gradient relaxations.

The transition in :mod:`envs.dynamics` is written against an array namespace; this module supplies
torch namespaces for it. ``exact_namespace`` reproduces the numpy simulator (tested to the last unit).
``relaxed_namespace`` is for training only: ``floor`` (rationing, spill rounding) passes gradients
straight through (forward value unchanged, backward identity; Bengio et al. 2013), so costs stay
exact while the pathwise gradient is not cut at every rounding. ``minimum``/``maximum`` keep their
exact subgradients. Evaluation always runs in the real numpy env.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import array_api_compat.torch as torch_xp
import numpy as np
import torch


def straight_through_floor(x: torch.Tensor) -> torch.Tensor:
    """floor(x) in the forward pass, identity in the backward pass."""
    return x - (x - torch.floor(x)).detach()


def exact_namespace() -> Any:
    """The array namespace for exact torch execution of the transition."""
    return torch_xp


def relaxed_namespace() -> Any:
    """Like :func:`exact_namespace`, but with a straight-through ``floor``."""
    names = {name: getattr(torch_xp, name) for name in dir(torch_xp) if not name.startswith("_")}
    names["floor"] = straight_through_floor
    return SimpleNamespace(**names)


def to_torch(value: Any, dtype: torch.dtype = torch.float64) -> Any:
    """A State or Noise (or array) as torch tensors; floating arrays become ``dtype``, others keep theirs."""
    if dataclasses.is_dataclass(value):
        return type(value)(**{f.name: to_torch(getattr(value, f.name), dtype) for f in dataclasses.fields(value)})
    array = np.asarray(value)
    tensor = torch.as_tensor(array)
    return tensor.to(dtype) if array.dtype.kind == "f" else tensor
