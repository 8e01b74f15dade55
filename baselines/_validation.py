"""Input checks shared by the baselines; every error names the offending argument."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_scalar(value: Any, name: str) -> float:
    value = _finite_float(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value


def non_negative_scalar(value: Any, name: str) -> float:
    value = _finite_float(value, name)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return value


def cost_vector(values: Any, name: str, length: int | None = None, *, strictly_positive: bool) -> np.ndarray:
    """1-D float array of finite costs (> 0 or >= 0), optionally of a required length."""
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if length is not None and len(array) != length:
        raise ValueError(f"{name} has length {len(array)}, expected {length}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    if strictly_positive and np.any(array <= 0):
        raise ValueError(f"{name} must be positive, got {array[array <= 0][0]!r}")
    if np.any(array < 0):
        raise ValueError(f"{name} must be non-negative, got {array[array < 0][0]!r}")
    return array


def _finite_float(value: Any, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value
