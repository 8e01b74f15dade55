"""SB3's on-policy rollout buffer without the copies that cost as much as a training epoch on wide observations.

SB3's :class:`~stable_baselines3.common.buffers.RolloutBuffer` allocates fresh zeroed arrays at every rollout
(the kernel then faults in every page of the observation array as the rollout writes it), copies them all
into env-major order before the update (``swap_and_flatten``) and copies every sampled minibatch once more into
a new tensor. With a thousand replicas of a 1,500-wide observation that is about 100 MB copied per rollout
and per epoch. :class:`ReusedRolloutBuffer` keeps one set of arrays for the whole run, flattens them
step-major (a view: minibatches are drawn by a random permutation, so the order of the flat index does not
matter) and hands the freshly gathered minibatch arrays to torch without copying them. Sampling draws the
same permutations from the same generator as SB3's buffer; the minibatches hold other transitions because
the flat index runs step-major.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.buffers import BaseBuffer, RolloutBuffer

_STORED = ("observations", "actions", "rewards", "returns", "episode_starts", "values", "log_probs", "advantages")


class ReusedRolloutBuffer(RolloutBuffer):
    """A :class:`RolloutBuffer` that allocates its arrays once and flattens and samples them without copies."""

    def reset(self) -> None:
        storage = getattr(self, "_storage", None)
        if storage is None:
            super().reset()
            self._storage = {name: getattr(self, name) for name in _STORED}
            return
        # Every row is written by ``add`` before the buffer is full, and only a full buffer is read, so the
        # arrays need no zeroing; ``get`` replaced them by flat views, and the advantage pass ``returns`` by a
        # new array.
        for name, array in storage.items():
            setattr(self, name, array)
        self.generator_ready = False
        BaseBuffer.reset(self)

    @staticmethod
    def swap_and_flatten(arr: np.ndarray) -> np.ndarray:
        """(steps, envs, ...) -> (steps * envs, ...) step-major: a view, where SB3 copies into env-major order."""
        shape = arr.shape if arr.ndim >= 3 else (*arr.shape, 1)
        return arr.reshape(shape[0] * shape[1], *shape[2:])

    def to_torch(self, array: np.ndarray, copy: bool = False) -> torch.Tensor:
        """A tensor on the array's memory: minibatches are gathered into new arrays, so nothing else holds them."""
        return super().to_torch(array, copy=copy)
