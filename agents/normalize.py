"""SB3's ``VecNormalize`` with observations normalized in float32, in place of a float64 pass and a deep copy.

``VecNormalize.normalize_obs`` deep-copies the batch, normalizes it in float64 (its statistics' type) and casts
the result back to float32: on a thousand replicas of a 1,500-wide observation that is several passes over
tens of megabytes per step. :class:`Float32VecNormalize` writes ``clip((obs - mean) * (1 / std))`` into one new
float32 array. The statistics, their updates and reward normalization are SB3's. The normalized values differ
from SB3's by float32 rounding, relative to the feature's scale (larger where a nearly constant feature has a large
mean). The saved file pickles this class, so loading it needs this package (as loading the model does).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize


class Float32VecNormalize(VecNormalize):
    """``VecNormalize`` whose observation normalization runs in float32 without copying its input first."""

    def normalize_obs(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        if not self.norm_obs or not isinstance(obs, np.ndarray) or not isinstance(self.obs_rms, RunningMeanStd):
            return super().normalize_obs(obs)
        scale = (1.0 / np.sqrt(self.obs_rms.var + self.epsilon)).astype(np.float32)
        normalized = np.subtract(obs, self.obs_rms.mean.astype(np.float32), dtype=np.float32)
        normalized *= scale
        return np.clip(normalized, -self.clip_obs, self.clip_obs, out=normalized)
