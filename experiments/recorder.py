"""Stock trajectories read from the observations a policy receives (nothing from the env's internals).

:class:`StockRecorder` wraps a policy for :func:`baselines.evaluation.evaluate`: at the start of every period
it reads on hand and in transit per stocking node from the observation batch
(:func:`baselines.echelon_position.read_stock`) and accumulates their sum over replicas, so the means over
episodes per period come out after any number of evaluation chunks. Nodes are grouped into echelons by their
depth below the vendors (:attr:`envs.scenario.SupplyTree.depth`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from baselines.echelon_position import read_stock
from envs.params import EnvParams
from envs.scenario import SupplyTree


class StockRecorder:
    """A policy wrapper recording mean on hand and in transit (units, summed over products) per node and period."""

    def __init__(self, policy, params: EnvParams, periods: int) -> None:
        self.policy, self.params = policy, params
        self.action_mode = policy.action_mode
        self.on_hand = np.zeros((periods, params.num_nodes))
        self.in_transit = np.zeros((periods, params.num_nodes))
        self.count = np.zeros(periods)
        self.period = 0

    def reset(self) -> None:
        self.period = 0
        if hasattr(self.policy, "reset"):
            self.policy.reset()

    def start_episodes(self, first: int, count: int) -> None:
        """Pass the chunk's episodes on to a policy that draws its own randomness per episode."""
        if hasattr(self.policy, "start_episodes"):
            self.policy.start_episodes(first, count)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        if self.period < len(self.count):
            stock = read_stock(observations, self.params)
            self.on_hand[self.period] += stock.on_hand.sum(2).sum(0)
            self.in_transit[self.period] += stock.in_transit.sum(2).sum(0)
            self.count[self.period] += len(observations)
        self.period += 1
        return self.policy(observations)

    def frame(self) -> pd.DataFrame:
        """Long table: period, node, echelon, on_hand, in_transit (means over the recorded episodes)."""
        count = np.maximum(self.count, 1)[:, None]
        periods, nodes = np.meshgrid(np.arange(len(self.count)), np.arange(self.params.num_nodes), indexing="ij")
        return pd.DataFrame({
            "period": periods.ravel(),
            "node": np.asarray(self.params.node_names)[nodes.ravel()],
            "echelon": SupplyTree(self.params.supplier_index).depth[nodes.ravel()],
            "on_hand": (self.on_hand / count).ravel(),
            "in_transit": (self.in_transit / count).ravel(),
        })
