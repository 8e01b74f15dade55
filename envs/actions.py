"""Actions: the one function that decodes a normalized action into order quantities.

An action is a float vector in [-1, 1] with one entry per (stocking node, product), node-major.
``order_up_to`` (default): entry x sets the node's order-up-to level ``round((x + 1) / 2 * max_level)``
and the order is that level minus the inventory position (never negative). ``quantity``: entry x orders
``round((x + 1) / 2 * max_order)`` units. Invalid actions raise; nothing is silently clipped, except
float32 round-off within 1e-5 of the bounds.
"""

from __future__ import annotations

import numpy as np

from envs.params import EnvParams
from envs.state import State

ACTION_MODES = ("order_up_to", "quantity")
_TOLERANCE = 1e-5


def validate_action(action: np.ndarray, batch_size: int, params: EnvParams) -> np.ndarray:
    """Check shape, finiteness and range; returns a float64 array (B, N, P)."""
    expected = (batch_size, params.num_nodes * params.num_products)
    action = np.asarray(action, dtype=np.float64)
    if action.shape != expected:
        raise ValueError(
            f"action has shape {action.shape}, expected {expected[1:] if batch_size == 1 else expected} "
            f"(one entry per stocking node x product: {params.num_nodes} x {params.num_products})"
        )
    if not np.all(np.isfinite(action)):
        bad = np.argwhere(~np.isfinite(action))[0]
        raise ValueError(f"action contains a non-finite value ({action[tuple(bad)]}) at index {tuple(bad.tolist())}")
    if np.any(np.abs(action) > 1.0 + _TOLERANCE):
        bad = np.argwhere(np.abs(action) > 1.0 + _TOLERANCE)[0]
        raise ValueError(
            f"action value {action[tuple(bad)]} at index {tuple(bad.tolist())} is outside [-1, 1]; "
            "actions are normalized (see the env docstring)"
        )
    return np.clip(action, -1.0, 1.0).reshape(batch_size, params.num_nodes, params.num_products)


def decode_action(action: np.ndarray, state: State, params: EnvParams, mode: str = "order_up_to") -> np.ndarray:
    """Normalized action (B, N*P) -> order quantities (B, N, P), whole units >= 0."""
    fraction = (validate_action(action, state.batch_size, params) + 1.0) / 2.0
    if mode == "order_up_to":
        level = np.rint(fraction * params.max_level)
        return np.maximum(level - state.inventory_position(params), 0.0)
    if mode == "quantity":
        return np.rint(fraction * params.max_order)
    raise ValueError(f"action_mode {mode!r} is not one of {ACTION_MODES}")


def encode_level(level: np.ndarray, params: EnvParams) -> np.ndarray:
    """The ``order_up_to`` action that asks for ``level`` (N, P) (clipped to the representable range)."""
    return np.clip(2.0 * np.asarray(level, dtype=float) / params.max_level - 1.0, -1.0, 1.0).reshape(-1)


def encode_quantity(quantity: np.ndarray, params: EnvParams) -> np.ndarray:
    """The ``quantity`` action that orders ``quantity`` (N, P) (clipped to the representable range)."""
    return np.clip(2.0 * np.asarray(quantity, dtype=float) / params.max_order - 1.0, -1.0, 1.0).reshape(-1)
