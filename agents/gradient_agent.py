"""A policy trained by the pathwise gradient of simulated cost through the simulator itself.

In the spirit of hindsight differentiable policy optimization (Alvo, Russo & Kanoria 2023; Madeka et
al. 2022): sample many demand and lead-time paths, roll the *same* transition as the env forward on
torch tensors with a neural order-up-to policy, and descend the gradient of the total cost. Rounding
is relaxed by straight-through estimators during training only (:mod:`agents.torch_dynamics`); the
policy is evaluated in the real env. Policies (:mod:`agents.gradient_policies`) set order-up-to levels
directly (``direct``) or as log-multipliers of an analytic plan's echelon levels (``residual``).

Iteration i draws its paths from seeds derived from ``(seed, i)`` only, so a run resumed from a checkpoint
(:meth:`GradientTrainer.state_dict`) continues exactly as if it had never stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from agents.config import DEFAULT_MAX_LOG_MULTIPLIER
from agents.gradient_memory import check_update_memory
from agents.gradient_policies import LevelPolicy, ResidualLevelPolicy, build_policy
from agents.torch_dynamics import exact_namespace, relaxed_namespace, rollout_noise, to_torch
from envs.dynamics import transition
from envs.noise import episode_keys
from envs.observation import observe
from envs.params import EnvParams
from envs.simulator import Simulator
from envs.state import State

__all__ = ["GradientAgentConfig", "GradientTrainer", "rollout_costs", "train"]


@dataclass
class GradientAgentConfig:
    """Training settings (plain data; YAML-friendly)."""

    hidden: tuple[int, ...] = (128, 128)
    paths: int = 64  # sampled demand / lead-time paths per update
    horizon: int = 50  # periods per rollout
    iterations: int = 200
    learning_rate: float = 3e-3
    final_learning_rate: float | None = None  # cosine decay to this over ``iterations``; None: constant
    seed: int = 0
    warmup_periods: int | None = None  # default: the scenario's
    action: str = "direct"  # or "residual" (needs the plan's echelon levels)
    network: str = "mlp"  # or "cells" (residual only: one network shared by every cell)
    max_log_multiplier: float = DEFAULT_MAX_LOG_MULTIPLIER
    history: list[dict] = field(default_factory=list)


def rollout_costs(
    policy: LevelPolicy | ResidualLevelPolicy,
    params: EnvParams,
    state: Any,
    keys: np.ndarray,
    horizon: int,
    relax: bool,
) -> torch.Tensor:
    """Per-period costs (T, B) of running ``policy`` from ``state`` (numpy or torch) for ``horizon`` periods.

    Noise comes from the episode ``keys`` (B,) exactly as in the env (:func:`agents.torch_dynamics.rollout_noise`),
    so with ``relax=False`` and the env's episode keys this reproduces the numpy env (same decoding, same
    transition) period by period.
    """
    xp = relaxed_namespace() if relax else exact_namespace()
    state = state if isinstance(state.on_hand, torch.Tensor) else to_torch(state)
    costs = []
    for step_noise in rollout_noise(keys, state.period.cpu().numpy(), horizon, params):
        observation = observe(state, params, xp)
        level = policy.levels(observation, relax).reshape(state.on_hand.shape)
        order = torch.relu(level - state.inventory_position(params, xp))
        state, outcome = transition(state, order, step_noise, params, xp)
        costs.append(outcome.total_cost)
    return torch.stack(costs)


class GradientTrainer:
    """Adam on the mean simulated cost per period (scaled by ``params.cost_scale``), one update per :meth:`step`.

    A configuration whose update would not fit in the memory available is refused here, before anything is built
    (:func:`agents.gradient_memory.check_update_memory`)."""

    def __init__(self, params: EnvParams, config: GradientAgentConfig,
                 echelon_levels: np.ndarray | None = None) -> None:
        check_update_memory(params, config.paths, config.horizon, config.hidden, config.network)
        torch.manual_seed(config.seed)
        self.params, self.config = params, config
        self.policy = build_policy(params, config.action, config.hidden, echelon_levels, config.max_log_multiplier,
                                   config.network)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)
        self.warmup = params.warmup_periods if config.warmup_periods is None else config.warmup_periods
        self.iteration = 0

    def start_state(self, keys: np.ndarray) -> State:
        """The paths' state after the env's warm-up (on the compiled simulator where available: the same state as
        :func:`envs.simulator.start_state`, faster)."""
        simulator = Simulator(self.params, len(keys), "order_up_to", self.warmup)
        simulator.reset(np.ones(len(keys), dtype=bool), keys, simulator.new_observations())
        return simulator.state

    def path_rngs(self, iteration: int) -> list[np.random.Generator]:
        seeds = np.random.SeedSequence([self.config.seed, iteration]).spawn(self.config.paths)
        return [np.random.default_rng(s) for s in seeds]

    def learning_rate(self, iteration: int) -> float:
        """Adam's step size at ``iteration``: constant, or a cosine decay from ``learning_rate`` to
        ``final_learning_rate`` over ``iterations`` (Loshchilov & Hutter 2017, without restarts). It depends on
        the iteration only, so a resumed run takes exactly the steps of an uninterrupted one."""
        first, last = self.config.learning_rate, self.config.final_learning_rate
        if last is None:
            return first
        progress = min(iteration / max(self.config.iterations - 1, 1), 1.0)
        return last + (first - last) * (1.0 + math.cos(math.pi * progress)) / 2.0

    def step(self) -> dict[str, float]:
        """One update; returns the iteration's row (cost per period of the sampled paths, env-steps/s)."""
        start = time.perf_counter()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(self.iteration)
        keys = episode_keys(self.path_rngs(self.iteration))
        state = self.start_state(keys)
        self.policy.train()
        costs = rollout_costs(self.policy, self.params, state, keys, self.config.horizon, relax=True)
        loss = costs.mean() / self.params.cost_scale
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        elapsed = time.perf_counter() - start
        row = {"iteration": self.iteration, "cost_per_period": float(costs.detach().mean()),
               "learning_rate": self.optimizer.param_groups[0]["lr"],
               "env_steps_per_second": self.config.paths * self.config.horizon / elapsed}
        self.iteration += 1
        self.config.history.append(row)
        return row

    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "policy": self.policy.state_dict(),
                "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.iteration = int(state["iteration"])


def train(params: EnvParams, config: GradientAgentConfig, progress: Any = None,
          echelon_levels: np.ndarray | None = None) -> LevelPolicy | ResidualLevelPolicy:
    """Train a policy for ``config.iterations`` updates; ``progress(row)`` is called after each."""
    trainer = GradientTrainer(params, config, echelon_levels)
    while trainer.iteration < config.iterations:
        row = trainer.step()
        if progress is not None:
            progress(row)
    return trainer.policy
