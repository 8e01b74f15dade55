"""Observations: a normalized float32 vector built from the state, and its layout.

Blocks, in order (N stocking nodes, P products, R regions, A pipeline ages):

==============================  ==========  ====================================================
block                           size        value
==============================  ==========  ====================================================
on_hand                         N x P       on hand / max order-up-to level
dock                            N x P       waiting at the dock / max order-up-to level
pipeline                        N x A x P   in transit by age (periods since shipped) / max order
backlog                         R x P       backordered orders / mean demand
recent_demand                   R x P       last period's orders / mean demand
forecast                        R x P       next period's mean demand / mean demand
season                          2           sin and cos of the seasonal phase
storage_use                     N           volume on hand / storage capacity (0 if none)
inbound_use                     N           units received last period / inbound cap (0 if none)
==============================  ==========  ====================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.params import EnvParams
from envs.state import State


def observation_layout(params: EnvParams) -> dict[str, tuple[int, ...]]:
    """Block name -> shape, in observation order."""
    n, p, r, a = params.num_nodes, params.num_products, params.num_regions, params.num_ages
    return {
        "on_hand": (n, p),
        "dock": (n, p),
        "pipeline": (n, a, p),
        "backlog": (r, p),
        "recent_demand": (r, p),
        "forecast": (r, p),
        "season": (2,),
        "storage_use": (n,),
        "inbound_use": (n,),
    }


def observation_size(params: EnvParams) -> int:
    """Length of the observation vector."""
    return sum(int(np.prod(shape)) for shape in observation_layout(params).values())


def observation_space(params: EnvParams) -> spaces.Box:
    layout = observation_layout(params).items()
    low = np.concatenate([np.full(int(np.prod(shape)), -1.0 if name == "season" else 0.0) for name, shape in layout])
    low = low.astype(np.float32)
    size = len(low)
    # Unbounded above (stock can grow without limit); float32 max rather than inf keeps checkers quiet.
    return spaces.Box(low=low, high=np.full(size, np.finfo(np.float32).max, dtype=np.float32), dtype=np.float32)


def observe(state: State, params: EnvParams, xp: Any = np) -> Any:
    """Observation batch (B, size) for the state at the start of a period: float32 with numpy; with
    another array namespace (e.g. torch, for differentiable rollouts) the arrays' own dtype."""
    b = state.batch_size
    period = np.asarray(state.period)
    forecast = params.demand_factor(period)[:, None, None] * params.base_mean.sum(1)[None]
    blocks = (  # (value (B, *block shape), scale broadcastable to the block shape)
        (state.on_hand, 1.0 / params.max_level),
        (state.dock, 1.0 / params.max_level),
        (state.pipeline, 1.0 / params.max_order[:, None, :]),
        (xp.sum(state.backlog, axis=2), 1.0 / params.demand_scale),
        (state.last_demand, 1.0 / params.demand_scale),
        (forecast, 1.0 / params.demand_scale),
        (params.season_table[period % len(params.seasonality)], 1.0),
        (xp.matmul(state.on_hand, xp.asarray(params.volume)), _inverse_or_zero(params.storage_capacity)),
        (state.received, _inverse_or_zero(params.inbound_capacity)),
    )
    if xp is not np:  # e.g. torch: state blocks are already tensors, derived ones are numpy
        return xp.concat(
            [
                xp.reshape((xp.asarray(value) if isinstance(value, np.ndarray) else value) * xp.asarray(scale), (b, -1))
                for value, scale in blocks
            ],
            axis=1,
        )
    out = np.empty((b, observation_size(params)), dtype=np.float32)
    offset = 0
    for value, scale in blocks:
        size = value[0].size
        target = out[:, offset : offset + size].reshape(value.shape)
        np.multiply(value, scale, out=target, casting="unsafe")
        offset += size
    return out


def _inverse_or_zero(capacity: np.ndarray) -> np.ndarray:
    """1 / capacity where finite, else 0 (uncapped nodes report zero use)."""
    return np.where(np.isfinite(capacity), 1.0 / np.where(np.isfinite(capacity), capacity, 1.0), 0.0)


def split_observation(observation: np.ndarray, params: EnvParams) -> dict[str, np.ndarray]:
    """Inverse of the layout: block name -> array (B, *shape) (for policies and tests)."""
    observation = np.atleast_2d(observation)
    out, offset = {}, 0
    for name, shape in observation_layout(params).items():
        size = int(np.prod(shape))
        out[name] = observation[:, offset : offset + size].reshape((-1,) + shape)
        offset += size
    return out
