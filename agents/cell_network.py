"""A product-shared policy network: one small network applied to every (node, product) cell of a scenario.

Every cell is described by the same features (what the observation shows of it, public facts of the scenario
about it, and its node), and every layer mixes a cell's representation with means pooled across the cells of its
node, of its product and of the whole network (a permutation-equivariant layer in the sense of Deep Sets,
Zaheer et al. 2017; Hartford et al. 2018 for exchangeable matrices). No weight has a dimension that depends on
the number of nodes, products, regions or pipeline ages, so a network trained on one scenario runs on any other:
:meth:`CellNetwork.bind` gives it a scenario's :class:`CellScenario`, which is plain data and never saved with
the weights.

The network reads the plan's echelon levels (a feature of every cell) and outputs one number per cell; it is used
as the residual on that plan (:mod:`agents.residual`), starting at zero (the plan itself).

Cell features (all scale-free, so that fast and slow products look alike, and none shrinks or grows with the
number of products: a product's volume is compared with the node's mean product, capacity with the whole catalog):

=======================  ===================================================================================
group                    features
=======================  ===================================================================================
stock                    on hand and dock / max level; pipeline by age / max order (ages beyond
                         :data:`PIPELINE_AGES` are added to the last); echelon position / plan level;
                         installation position / max level
demand                   backlog, last orders and next forecast of the regions the node's subtree serves,
                         / their mean demand, weighted by that mean demand
product (public)         plan level / max level; log(1 + expected flow through the node); cv of a period's
                         flow; log(holding cost / penalty); log(volume x max level / the node's mean over
                         products)
node (public)            depth (one-hot, 4 levels), serves customers, supplied by a vendor, mean and sd of
                         the lead time / 10, storage capped, inbound capped, storage pressure (log(1 + volume of
                         every product's max level / storage capacity); 0 uncapped)
node and network state   storage use, inbound use; season (sin, cos)
=======================  ===================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.echelon_position import EchelonMatrices, echelon_position
from envs.observation import observation_layout
from envs.params import EnvParams
from envs.scenario import SupplyTree

PIPELINE_AGES = 8
"""Pipeline ages a cell sees (a fixed number, so that scenarios with other lead times share the weights)."""
MAX_DEPTH = 4
"""Depth levels of the one-hot node depth (deeper nodes count as the last)."""
CELL_STATE_FEATURES = 2 + PIPELINE_AGES + 2 + 3
NODE_STATE_FEATURES = 2 + 2
STATIC_CELL_FEATURES = 5
STATIC_NODE_FEATURES = MAX_DEPTH + 7


@dataclass(frozen=True, eq=False)
class CellScenario:
    """What a product-shared network knows of a scenario besides the observation: public, inert arrays."""

    block_sizes: tuple[int, ...]  # observation blocks in order (envs.observation.observation_layout)
    num_ages: int  # pipeline ages of the observation
    static: np.ndarray  # (N, P, STATIC_CELL_FEATURES + STATIC_NODE_FEATURES)
    region_weight: np.ndarray  # (N, R, P) weight of region r's demand in cell (n, p); sums to 1 over r
    subtree: np.ndarray  # (N, N) [n, m] = 1 when m is n or below it
    subtree_owner: np.ndarray  # (R, N) region r's backlog is charged inside n's subtree
    max_level: np.ndarray  # (N, P)
    max_order: np.ndarray  # (N, P)
    demand_scale: np.ndarray  # (R, P)
    echelon_scale: np.ndarray  # (N, P) the plan's echelon level, at least 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.max_level.shape

    @classmethod
    def of(cls, params: EnvParams, echelon_levels: np.ndarray) -> CellScenario:
        """The cell view of ``params`` with the plan's ``echelon_levels`` (N, P)."""
        levels = np.asarray(echelon_levels, dtype=float).reshape(params.num_nodes, params.num_products)
        matrices = EchelonMatrices.of(params)
        return cls(
            block_sizes=tuple(int(np.prod(shape)) for shape in observation_layout(params).values()),
            num_ages=params.num_ages,
            static=np.concatenate([_cell_facts(params, levels), np.broadcast_to(
                _node_facts(params)[:, None, :], (params.num_nodes, params.num_products, STATIC_NODE_FEATURES))],
                axis=2).astype(np.float32),
            region_weight=_region_weight(params, matrices.subtree).astype(np.float32),
            subtree=matrices.subtree.astype(np.float32),
            subtree_owner=matrices.subtree_owner.astype(np.float32),
            max_level=params.max_level.astype(np.float32),
            max_order=params.max_order.astype(np.float32),
            demand_scale=params.demand_scale.astype(np.float32),
            echelon_scale=np.maximum(levels, 1.0).astype(np.float32),
        )


def _cell_facts(params: EnvParams, levels: np.ndarray) -> np.ndarray:
    """(N, P, STATIC_CELL_FEATURES) public facts of each cell (see the module's table)."""
    flow = params.node_flow
    extra = {"poisson": np.zeros(params.num_products), "negative_binomial": 1.0 / params.dispersion,
             "normal": params.cv**2}[params.distribution]
    cv = np.sqrt(1.0 / np.maximum(flow, 1e-3) + extra[None, :])
    penalty = np.maximum(params.penalty.max(axis=0), 1e-9)[None, :]
    stock_volume = _stock_volume(params)
    relative_volume = stock_volume / np.maximum(stock_volume.mean(axis=1, keepdims=True), 1e-9)
    return np.stack([levels / params.max_level, np.log1p(flow), np.minimum(cv, 10.0),
                     np.log(np.maximum(params.holding_cost, 1e-9) / penalty),
                     np.log(np.maximum(relative_volume, 1e-6))], axis=2)


def _stock_volume(params: EnvParams) -> np.ndarray:
    """(N, P) volume of each cell's max level: what a product would take of its node's storage at most."""
    return params.volume[None, :] * params.max_level


def _node_facts(params: EnvParams) -> np.ndarray:
    """(N, STATIC_NODE_FEATURES) public facts of each node (see the module's table)."""
    depth = np.minimum(SupplyTree(params.supplier_index).depth, MAX_DEPTH - 1)
    capacity = params.storage_capacity
    capped = np.isfinite(capacity)
    storage_pressure = np.log1p(np.where(capped, _stock_volume(params).sum(axis=1) / np.where(capped, capacity, 1.0),
                                         0.0))
    serves = np.zeros(params.num_nodes)
    for arc in params.arcs:
        serves[arc.node] = 1.0
    return np.column_stack([
        np.eye(MAX_DEPTH)[depth], serves, (params.supplier_index < 0).astype(float),
        params.mean_lead_time / 10.0, np.sqrt(params.lead_time_var) / 10.0,
        capped.astype(float), np.isfinite(params.inbound_capacity).astype(float),
        storage_pressure,
    ])


def _region_weight(params: EnvParams, subtree: np.ndarray) -> np.ndarray:
    """(N, R, P): the mean demand of region r for product p that node n's subtree serves first, normalized over r
    (uniform over regions for a node whose subtree serves none)."""
    direct = np.zeros((params.num_nodes, params.num_regions, params.num_products))
    counted: set[tuple[int, int, int]] = set()
    for arc in params.arcs:
        if not arc.late and (arc.speed, arc.region, arc.node) not in counted:
            counted.add((arc.speed, arc.region, arc.node))
            direct[arc.node, arc.region] += params.base_mean[arc.region, arc.speed]
    weight = np.einsum("nm,mrp->nrp", subtree, direct)
    total = weight.sum(axis=1, keepdims=True)
    return np.where(total > 0, weight / np.where(total > 0, total, 1.0), 1.0 / params.num_regions)


class EquivariantLayer(nn.Module):
    """``act(W h + U mean_products(h) + V mean_nodes(h) + Z mean_cells(h) + context + b)`` over cells (B, N, P, F).

    ``node_context`` (B, N, F') and ``cell_context`` (N, P, F') are added before the activation (the first layer's
    node state and public facts, at their own resolution: no per-cell copy of them is made)."""

    def __init__(self, inputs: int, outputs: int, activation: type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        self.activation = activation()
        self.cell = nn.Linear(inputs, outputs)
        self.node = nn.Linear(inputs, outputs, bias=False)
        self.product = nn.Linear(inputs, outputs, bias=False)
        self.network = nn.Linear(inputs, outputs, bias=False)

    def forward(self, cells: torch.Tensor, node_context: torch.Tensor | None = None,
                cell_context: torch.Tensor | None = None) -> torch.Tensor:
        node_mean = cells.mean(dim=2)  # (B, N, F)
        node = self.node(node_mean) + self.network(node_mean.mean(dim=1))[:, None]
        if node_context is not None:
            node = node + node_context
        pre = self.cell(cells) + node[:, :, None] + self.product(cells.mean(dim=1))[:, None]
        return self.activation(pre if cell_context is None else pre + cell_context)


class CellNetwork(nn.Module):
    """Observation batch (B, obs) -> one output per cell (B, N * P) and a pooled embedding (B, widths[-1]).

    Its weights depend only on ``widths``; :meth:`bind` attaches a scenario (non-persistent buffers, so
    ``state_dict`` holds the weights alone and loads into a network bound to any scenario).
    """

    def __init__(self, widths: tuple[int, ...], scenario: CellScenario,
                 activation: type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"a product-shared network needs at least one layer width >= 1, got {widths!r}")
        sizes = (CELL_STATE_FEATURES, *(int(w) for w in widths))
        self.layers = nn.ModuleList(EquivariantLayer(a, b, activation)
                                    for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.facts = nn.Linear(STATIC_CELL_FEATURES + STATIC_NODE_FEATURES, sizes[1], bias=False)
        self.node_state = nn.Linear(NODE_STATE_FEATURES, sizes[1], bias=False)
        self.head = nn.Linear(sizes[-1], 1)
        nn.init.zeros_(self.head.weight)  # zero residual: the untrained network is the plan
        nn.init.zeros_(self.head.bias)
        self.bind(scenario)

    @property
    def embedding_size(self) -> int:
        return self.head.in_features

    def bind(self, scenario: CellScenario) -> CellNetwork:
        """Attach ``scenario`` (its arrays become buffers on the network's device); returns the network."""
        self.scenario = scenario
        device = self.head.weight.device
        for name in ("static", "region_weight", "subtree", "subtree_owner", "max_level", "max_order",
                     "demand_scale", "echelon_scale"):
            self.register_buffer(f"_{name}", torch.as_tensor(getattr(scenario, name), device=device),
                                 persistent=False)
        return self

    def inputs(self, observation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cells' state (B, N, P, CELL_STATE_FEATURES) and the nodes' and network's (B, N, NODE_STATE_FEATURES)
        of a float32 observation batch."""
        names = ("on_hand", "dock", "pipeline", "backlog", "recent_demand", "forecast", "season", "storage_use",
                 "inbound_use")
        parts = dict(zip(names, torch.split(observation, list(self.scenario.block_sizes), dim=1), strict=True))
        b, (n, p) = observation.shape[0], self.scenario.shape
        on_hand, dock = parts["on_hand"].reshape(b, n, p), parts["dock"].reshape(b, n, p)
        pipeline = parts["pipeline"].reshape(b, n, self.scenario.num_ages, p)
        in_transit = (pipeline * self._max_order[:, None, :]).sum(dim=2)
        own = (on_hand + dock) * self._max_level + in_transit
        backlog = parts["backlog"].reshape(b, -1, p)
        echelon = echelon_position(own, backlog * self._demand_scale, self._subtree, self._subtree_owner, torch)
        demand = [(self._region_weight[None] * parts[name].reshape(b, 1, -1, p)).sum(dim=2)
                  for name in ("backlog", "recent_demand", "forecast")]
        cells = torch.cat([on_hand[..., None], dock[..., None], _ages(pipeline, PIPELINE_AGES),
                           (echelon / self._echelon_scale)[..., None], (own / self._max_level)[..., None],
                           torch.stack(demand, dim=3)], dim=3)
        nodes = torch.cat([parts["storage_use"][..., None], parts["inbound_use"][..., None],
                           parts["season"][:, None, :].expand(b, n, 2)], dim=2)
        return cells, nodes

    def embed(self, observation: torch.Tensor) -> torch.Tensor:
        """The last layer's cell representations (B, N, P, widths[-1])."""
        cells, nodes = self.inputs(observation)
        first, *rest = self.layers
        hidden = first(cells, self.node_state(nodes), self.facts(self._static))
        for layer in rest:
            hidden = layer(hidden)
        return hidden

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """One unbounded output per cell, (B, N * P)."""
        hidden = self.embed(observation)
        return self.head(hidden).reshape(observation.shape[0], -1)


def _ages(pipeline: torch.Tensor, ages: int) -> torch.Tensor:
    """(B, N, A, P) -> (B, N, P, ages): the first ``ages`` - 1 ages, then the rest summed (zeros where A is less)."""
    b, n, a, p = pipeline.shape
    if a < ages:
        pipeline = torch.cat([pipeline, pipeline.new_zeros(b, n, ages - a, p)], dim=2)
    elif a > ages:
        pipeline = torch.cat([pipeline[:, :, : ages - 1], pipeline[:, :, ages - 1 :].sum(dim=2, keepdim=True)], dim=2)
    return pipeline.permute(0, 1, 3, 2)
