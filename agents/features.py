"""A first layer shared by the policy and the value network of an SB3 actor-critic.

The echelon observations are wide (on hand, dock and pipeline by age for every node and product) while the
networks after them are small, so the first layer holds nearly all of an MLP's weights and work. Sharing
it between actor and critic (``policy_kwargs: {shared_layer: units}``) halves that work in every rollout and
update; both heads still have their own layers (``net_arch``).
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class SharedLayer(BaseFeaturesExtractor):
    """``activation(W obs + b)`` with ``units`` outputs, the features both heads read."""

    def __init__(self, observation_space: gym.spaces.Box, units: int, activation_fn: type[nn.Module]) -> None:
        super().__init__(observation_space, features_dim=units)
        self.layer = nn.Sequential(nn.Flatten(), nn.Linear(int(observation_space.shape[0]), units), activation_fn())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.layer(observations)
