"""Torch policies of the gradient agent, and their observation-only numpy form for evaluation.

Both map an observation batch to order-up-to levels (B, N, P) in whole units, differentiably in training
(``relax=True``: rounding passes gradients straight through), exactly as the env decodes them otherwise:

- :class:`LevelPolicy` (``direct``): the env's own ``order_up_to`` action, tanh(net(obs)) in (-1, 1).
- :class:`ResidualLevelPolicy` (``residual``): log-multipliers of a plan's echelon levels, a = tanh(net(obs)),
  levels ``S * exp(max_log_multiplier * a)``, asked of the env through the echelon position read from the
  observation by the same code as the numpy policies (:mod:`baselines.echelon_position`). The head starts at
  zero, so training starts at the plan.

:class:`GradientNumpyPolicy` wraps a trained module as a callable for :func:`baselines.evaluation.evaluate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from agents.cell_network import CellNetwork, CellScenario
from agents.config import DEFAULT_MAX_LOG_MULTIPLIER
from agents.residual import ResidualPolicy
from baselines.echelon_position import EchelonMatrices, local_request, stock_from_blocks
from baselines.policies import EchelonBaseStockPolicy
from envs.observation import observation_layout, observation_size
from envs.params import EnvParams


def round_relaxed(x: torch.Tensor, relax: bool) -> torch.Tensor:
    """Round half to even (like ``numpy.rint``); with ``relax`` the gradient passes straight through."""
    rounded = torch.round(x)
    return x - (x - rounded).detach() if relax else rounded


def _mlp(observation_size: int, action_size: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = observation_size
    for size in hidden:
        layers += [nn.Linear(width, size), nn.Tanh()]
        width = size
    head = nn.Linear(width, action_size)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


class LevelPolicy(nn.Module):
    """Observation -> order-up-to action in (-1, 1) per (node, product), via tanh; starts at half of
    ``max_level`` (a base stock with ~3 sd of safety)."""

    kind = "direct"

    def __init__(self, observation_size: int, action_size: int, hidden: tuple[int, ...],
                 max_level: np.ndarray | None = None) -> None:
        super().__init__()
        self.net = _mlp(observation_size, action_size, tuple(hidden))
        level = np.ones(action_size) if max_level is None else np.asarray(max_level, dtype=float).reshape(-1)
        self.register_buffer("max_level", torch.as_tensor(level, dtype=torch.float64))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(observation))

    def levels(self, observation: torch.Tensor, relax: bool) -> torch.Tensor:
        """Order-up-to levels (B, N * P) for a float64 observation batch, as the env decodes the action."""
        fraction = (self(observation.to(torch.float32)).to(torch.float64) + 1.0) / 2.0
        return round_relaxed(fraction * self.max_level, relax)

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Env actions for a numpy observation batch (or a single observation)."""
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(observation), dtype=torch.float32)).numpy()


class ResidualLevelPolicy(nn.Module):
    """Log-multipliers of a plan's echelon levels (see module doc); ``echelon_levels`` is saved with it.

    ``network`` ``mlp``: an MLP over the whole observation; ``cells``: the product-shared network of
    :mod:`agents.cell_network` with layer widths ``hidden``, whose weights (``net.state_dict()``) run on any
    scenario."""

    kind = "residual"

    def __init__(self, params: EnvParams, echelon_levels: np.ndarray, hidden: tuple[int, ...],
                 max_log_multiplier: float = DEFAULT_MAX_LOG_MULTIPLIER, network: str = "mlp") -> None:
        super().__init__()
        size = params.num_nodes * params.num_products
        if network == "cells":
            self.net: nn.Module = CellNetwork(tuple(hidden), CellScenario.of(params, echelon_levels))
        elif network == "mlp":
            self.net = _mlp(observation_size(params), size, tuple(hidden))
        else:
            raise ValueError(f"network {network!r} is not 'mlp' or 'cells'")
        self.max_log_multiplier = float(max_log_multiplier)
        self.shape = (params.num_nodes, params.num_products)
        matrices = EchelonMatrices.of(params)
        buffers = {
            "echelon_levels": np.asarray(echelon_levels, dtype=float).reshape(self.shape),
            "max_level": params.max_level,
            "max_order": params.max_order,
            "demand_scale": params.demand_scale,
            "subtree": matrices.subtree,
            "owner": matrices.owner,
            "subtree_owner": matrices.subtree_owner,
        }
        for name, value in buffers.items():
            self.register_buffer(name, torch.as_tensor(np.asarray(value, dtype=float)))
        self._blocks, offset = {}, 0
        for name, shape in observation_layout(params).items():
            self._blocks[name] = (offset, shape)
            offset += int(np.prod(shape))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """Residual a in (-1, 1), (B, N * P)."""
        return torch.tanh(self.net(observation))

    def _blocks_of(self, observation: torch.Tensor) -> dict[str, torch.Tensor]:
        """The observation's blocks (B, *shape), split in one operation (one cheap backward pass, where slicing
        each block would zero-fill a gradient of the whole observation per block)."""
        sizes = [int(np.prod(shape)) for _, shape in self._blocks.values()]
        parts = torch.split(observation, sizes, dim=1)
        return {name: part.reshape((-1, *shape)) for (name, (_, shape)), part in zip(self._blocks.items(), parts)}

    def levels(self, observation: torch.Tensor, relax: bool) -> torch.Tensor:
        """Local order-up-to levels (B, N * P), as :meth:`ResidualPolicy.env_action` asks the env for them."""
        blocks = self._blocks_of(observation)
        stock = stock_from_blocks(blocks, self.max_level, self.max_order, self.demand_scale,
                                  lambda x: round_relaxed(x, relax), xp=torch)
        residual = self(observation.to(torch.float32)).to(torch.float64).reshape((-1, *self.shape))
        target = self.echelon_levels * torch.exp(self.max_log_multiplier * residual)
        matrices = EchelonMatrices(self.subtree, self.owner, self.subtree_owner)
        level = round_relaxed(local_request(target, stock, matrices, xp=torch), relax)
        return torch.clamp(level, torch.zeros_like(self.max_level), self.max_level).reshape(level.shape[0], -1)


class GradientNumpyPolicy:
    """A trained module as an observation-only policy for the numpy env (``action_mode`` order_up_to)."""

    action_mode = "order_up_to"

    def __init__(self, module: LevelPolicy | ResidualLevelPolicy, params: EnvParams) -> None:
        self.module = module.eval()
        self.residual = None
        if isinstance(module, ResidualLevelPolicy):
            levels = module.echelon_levels.numpy()
            self.residual = ResidualPolicy(EchelonBaseStockPolicy(levels, params), module.max_log_multiplier)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        observations = np.atleast_2d(observations)
        with torch.no_grad():
            action = self.module(torch.as_tensor(observations, dtype=torch.float32)).numpy().astype(np.float64)
        return action if self.residual is None else self.residual.env_action(observations, action)


def build_policy(params: EnvParams, kind: str, hidden: Any, echelon_levels: np.ndarray | None = None,
                 max_log_multiplier: float = DEFAULT_MAX_LOG_MULTIPLIER,
                 network: str = "mlp") -> LevelPolicy | ResidualLevelPolicy:
    """A fresh (untrained) policy module of ``kind`` ``direct`` or ``residual`` (which needs the plan levels);
    ``network`` ``cells`` (residual only) shares one network across cells."""
    hidden = tuple(int(h) for h in hidden)
    if kind == "direct":
        if network != "mlp":
            raise ValueError(f"network {network!r} corrects the plan: it needs the residual action")
        return LevelPolicy(observation_size(params), params.num_nodes * params.num_products, hidden, params.max_level)
    if kind == "residual":
        if echelon_levels is None:
            raise ValueError("a residual policy needs the plan's echelon levels")
        return ResidualLevelPolicy(params, echelon_levels, hidden, max_log_multiplier, network)
    raise ValueError(f"action {kind!r} is not 'direct' or 'residual'")
