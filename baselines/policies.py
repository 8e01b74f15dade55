"""Policy objects that act in the env through observations only (no access to env internals).

Every policy is built from a scenario's public :class:`~envs.params.EnvParams` and maps a batch of
observations (B, obs_size) to a batch of normalized actions (B, N * P); ``action_mode`` says which action
mode of the env it speaks.

- :class:`EchelonBaseStockPolicy`: echelon order-up-to levels S_n (Clark & Scarf 1960), expressed as the
  env's local order-up-to action through the echelon position read from the observation
  (:mod:`baselines.echelon_position`).
- :class:`LocalBaseStockPolicy`: installation order-up-to levels (the env's own action, clipped).
- :class:`ConstantOrderPolicy`: orders a fixed mean quantity every period (quantity mode), with a
  deterministic carry of fractions so the long-run mean order equals the target exactly.
"""

from __future__ import annotations

import numpy as np

from baselines.echelon_position import EchelonMatrices, local_request, read_stock
from envs.actions import encode_level, encode_quantity
from envs.params import EnvParams


class EchelonBaseStockPolicy:
    """Echelon base-stock levels (N, P) turned into the env's local order-up-to action.

    The policy requests the local level of :func:`~baselines.echelon_position.local_request`, clipped by the env
    to [0, max_level]. ``clip_rate`` records how often a request exceeded ``max_level`` (it should be ~0).
    """

    action_mode = "order_up_to"

    def __init__(self, echelon_levels: np.ndarray, params: EnvParams) -> None:
        self.params = params
        self.echelon_levels = np.asarray(echelon_levels, dtype=float).reshape(params.num_nodes, params.num_products)
        self._matrices = EchelonMatrices.of(params)
        self.requests = 0
        self.clipped = 0

    def levels(self, observations: np.ndarray) -> np.ndarray:
        """Local order-up-to levels (B, N, P) that implement the echelon policy for this batch."""
        return local_request(self.echelon_levels[None], read_stock(observations, self.params), self._matrices)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        level = np.rint(self.levels(observations))
        self.requests += level.size
        self.clipped += int(np.count_nonzero(level > self.params.max_level))
        return encode_level(level, self.params).reshape(level.shape[0], -1)

    @property
    def clip_rate(self) -> float:
        return self.clipped / max(self.requests, 1)


class LocalBaseStockPolicy:
    """Installation (local) order-up-to levels (N, P): the env's ``order_up_to`` action, fixed."""

    action_mode = "order_up_to"

    def __init__(self, local_levels: np.ndarray, params: EnvParams) -> None:
        self.params = params
        self.local_levels = np.asarray(local_levels, dtype=float).reshape(params.num_nodes, params.num_products)
        self._action = encode_level(np.rint(self.local_levels), params)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._action, (np.atleast_2d(observations).shape[0], self._action.size)).copy()


class ConstantOrderPolicy:
    """Orders ``quantity`` (N, P) units per period, whatever the state (``quantity`` action mode).

    Fractional means are met on average by carrying the fraction: in period t the order is
    floor((t + 1) q) - floor(t q), so every replica orders the same sequence. Call :meth:`reset` at the
    start of an evaluation (``evaluate`` does).
    """

    action_mode = "quantity"

    def __init__(self, quantity: np.ndarray, params: EnvParams) -> None:
        self.params = params
        self.quantity = np.asarray(quantity, dtype=float).reshape(params.num_nodes, params.num_products)
        self.period = 0

    def reset(self) -> None:
        self.period = 0

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        t = self.period
        self.period += 1
        order = np.floor((t + 1) * self.quantity + 1e-9) - np.floor(t * self.quantity + 1e-9)
        action = encode_quantity(order, self.params)
        return np.broadcast_to(action, (np.atleast_2d(observations).shape[0], action.size)).copy()
