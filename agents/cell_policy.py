"""The product-shared network as an SB3 actor-critic policy (PPO, A2C): ``network: cells`` in their YAML.

The actor's mean action of every cell is the network's output for it (:class:`agents.cell_network.CellNetwork`);
one log standard deviation is shared by all cells, and the critic reads the mean over cells of the last shared
layer. So no parameter depends on the scenario's size, and the weights of a policy trained on one scenario load
into the policy built for another (:func:`rebind`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.distributions import DiagGaussianDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from torch import nn

from agents.cell_network import CellNetwork, CellScenario
from envs.observation import observation_space
from envs.params import EnvParams


class CellHeads(nn.Module):
    """SB3's ``mlp_extractor`` slot: features (the flat observation) -> per-cell means and the critic's latent."""

    def __init__(self, network: CellNetwork) -> None:
        super().__init__()
        self.network = network
        self.latent_dim_pi = 0  # unused: the actor's output is the action itself (``action_net`` is the identity)
        self.latent_dim_vf = network.embedding_size

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.network.embed(features)
        means = self.network.head(hidden).reshape(features.shape[0], -1)
        return means, hidden.mean(dim=(1, 2))

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.network(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.network.embed(features).mean(dim=(1, 2))


class CellActorCriticPolicy(ActorCriticPolicy):
    """Actor-critic over the cells of ``cells`` with shared layers of widths ``net_arch`` (a list)."""

    def __init__(self, observation_space: gym.spaces.Space, action_space: gym.spaces.Space, lr_schedule: Schedule,
                 cells: CellScenario, net_arch: list[int] | None = None, **kwargs: Any) -> None:
        if net_arch is not None and not isinstance(net_arch, list):
            raise ValueError("net_arch of a product-shared policy is one list of shared layer widths (actor and "
                             f"critic share them), got {net_arch!r}")
        if kwargs.get("use_sde"):
            raise ValueError("a product-shared policy has no state-dependent exploration (use_sde)")
        self.cells = cells
        kwargs["ortho_init"] = False  # the layers keep torch's initialization, the actor's head starts at zero
        super().__init__(observation_space, action_space, lr_schedule, net_arch=net_arch or [32, 32], **kwargs)

    def _build(self, lr_schedule: Schedule) -> None:
        if not isinstance(self.action_dist, DiagGaussianDistribution):
            raise ValueError("a product-shared policy needs a continuous (Box) action space")
        self.mlp_extractor = CellHeads(CellNetwork(tuple(self.net_arch), self.cells, self.activation_fn))
        self.action_net = nn.Identity()
        self.log_std = nn.Parameter(torch.full((1,), float(self.log_std_init)))  # one std for every cell
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._get_constructor_parameters(), "cells": self.cells}


def rebind(policy: CellActorCriticPolicy, params: EnvParams, echelon_levels: np.ndarray) -> CellActorCriticPolicy:
    """A copy of a trained ``policy`` for another scenario (its params and plan levels), with the same weights."""
    kwargs = {key: value for key, value in policy._get_constructor_parameters().items()
              if key not in ("observation_space", "action_space", "lr_schedule", "cells")}
    actions = gym.spaces.Box(-1.0, 1.0, (params.num_nodes * params.num_products,), dtype=np.float32)
    other = CellActorCriticPolicy(observation_space(params), actions, lambda _: 0.0,
                                  CellScenario.of(params, echelon_levels), **kwargs)
    other.load_state_dict(policy.state_dict())
    return other.eval()
