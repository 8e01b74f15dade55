"""A policy trained by the pathwise gradient of simulated cost through the simulator itself.

In the spirit of hindsight differentiable policy optimization (Alvo, Russo & Kanoria 2023; Madeka et
al. 2022): sample many demand and lead-time paths, roll the *same* transition as the env forward on
torch tensors with a neural order-up-to policy, and descend the gradient of the total cost. Rounding
is relaxed by straight-through estimators during training only (:mod:`agents.torch_dynamics`); the
policy is evaluated in the real env. The policy maps observations to the env's ``order_up_to`` action,
so it runs in ``gymnasium.make(env_id)`` unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.torch_dynamics import exact_namespace, relaxed_namespace, to_torch
from envs.dynamics import transition
from envs.engine import NoiseStreams, start_state
from envs.observation import observe
from envs.params import EnvParams


@dataclass
class GradientAgentConfig:
    """Training settings (plain data; YAML-friendly)."""

    hidden: tuple[int, ...] = (128, 128)
    paths: int = 64  # sampled demand / lead-time paths per update
    horizon: int = 50  # periods per rollout
    iterations: int = 200
    learning_rate: float = 3e-3
    seed: int = 0
    warmup_periods: int | None = None  # default: the scenario's
    history: list[dict] = field(default_factory=list)


class LevelPolicy(nn.Module):
    """Observation -> order-up-to action in (-1, 1) per (node, product), via tanh."""

    def __init__(self, observation_size: int, action_size: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = observation_size
        for size in hidden:
            layers += [nn.Linear(width, size), nn.Tanh()]
            width = size
        head = nn.Linear(width, action_size)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)  # start at half the maximum level: a base stock with ~3 sd of safety
        self.net = nn.Sequential(*layers, head)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(observation))

    def act(self, observation: np.ndarray) -> np.ndarray:
        """Env actions for a numpy observation batch (or a single observation)."""
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(observation), dtype=torch.float32)).numpy()


def _round(x: torch.Tensor, relax: bool) -> torch.Tensor:
    rounded = torch.round(x)  # half to even, like numpy.rint in the env's action decoding
    return x - (x - rounded).detach() if relax else rounded


def rollout_costs(
    policy: LevelPolicy,
    params: EnvParams,
    state: Any,
    noise: NoiseStreams,
    rngs: list[np.random.Generator],
    horizon: int,
    relax: bool,
) -> torch.Tensor:
    """Per-period costs (T, B) of running ``policy`` from torch ``state`` for ``horizon`` periods.

    Noise comes from ``noise``/``rngs`` exactly as in the env, so with ``relax=False`` and the env's
    seeds this reproduces the numpy env (same decoding, same transition) period by period.
    """
    xp = relaxed_namespace() if relax else exact_namespace()
    max_level = torch.as_tensor(params.max_level)
    costs = []
    for _ in range(horizon):
        observation = observe(state, params, xp).to(torch.float32)
        fraction = (policy(observation).to(torch.float64).reshape(state.on_hand.shape) + 1.0) / 2.0
        level = _round(fraction * max_level, relax)
        order = torch.relu(level - state.inventory_position(params, xp))
        step_noise = to_torch(noise.next(rngs, np.asarray(state.period)))
        state, outcome = transition(state, order, step_noise, params, xp)
        costs.append(outcome.total_cost)
    return torch.stack(costs)


def train(params: EnvParams, config: GradientAgentConfig, progress: Any = None) -> LevelPolicy:
    """Train a :class:`LevelPolicy` by Adam on the mean simulated cost per period (scaled)."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    policy = LevelPolicy(params.observation_size, params.num_nodes * params.num_products, config.hidden)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    warmup = params.scenario.warmup_periods if config.warmup_periods is None else config.warmup_periods
    noise = NoiseStreams(params, config.paths)
    for iteration in range(config.iterations):
        start = time.perf_counter()
        rngs = [np.random.default_rng(int(s)) for s in rng.integers(0, 2**63 - 1, size=config.paths)]
        state = start_state(params, noise, rngs, warmup)
        costs = rollout_costs(policy, params, to_torch(state), noise, rngs, config.horizon, relax=True)
        loss = costs.mean() / params.cost_scale
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        elapsed = time.perf_counter() - start
        config.history.append(
            {
                "iteration": iteration,
                "cost_per_period": float(costs.detach().mean()),
                "env_steps_per_second": config.paths * config.horizon / elapsed,
            }
        )
        if progress is not None:
            progress(config.history[-1])
    return policy
