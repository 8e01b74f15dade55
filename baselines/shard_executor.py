"""Where the planner's shards run: the executor protocol, and the executor that keeps every shard in this process.

The planner (:mod:`baselines.planner`) cuts the catalog into shards of whole chunks of products
(:func:`baselines.product_sums.chunk_bounds`), hands each shard's model to an executor once, and from then on only
asks it to call a :class:`~baselines.product_shard.ProductShard` method on every shard with a few per-node arrays,
getting the results back in catalog order. :class:`LocalExecutor` runs the shards here, one after another;
``experiments.plan_workers`` runs them on Ray actors (the same :class:`ShardGroup` in each).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from baselines.network_model import NetworkModel, catalog_speed_demand, network_model
from baselines.product_shard import ProductShard
from baselines.product_sums import chunk_bounds
from envs.params import EnvParams


class ShardExecutor(Protocol):
    """Holds the shards of one plan."""

    def map(self, call: str, *args: Any) -> list[Any]:
        """``ProductShard.<call>(*args)`` on every shard; the results in catalog order."""
        ...

    def close(self) -> None:
        """Release the shards (and whatever runs them)."""
        ...


ExecutorFactory = Callable[[Iterable[NetworkModel]], ShardExecutor]
"""Builds an executor from the shards' models, in catalog order (consumed one at a time)."""


class ShardGroup:
    """Consecutive shards held in one process; calls them in catalog order."""

    def __init__(self) -> None:
        self.shards: list[ProductShard] = []

    def add(self, model: NetworkModel) -> int:
        """Hold one more shard (the next in catalog order); returns how many it holds."""
        self.shards.append(ProductShard(model))
        return len(self.shards)

    def call(self, call: str, *args: Any) -> list[Any]:
        if call not in ProductShard.CALLS:
            raise ValueError(f"{call!r} is not one of {ProductShard.CALLS}")
        return [getattr(shard, call)(*args) for shard in self.shards]


class LocalExecutor:
    """Every shard in this process, one after another (one shard: the planner in one piece)."""

    def __init__(self, models: Iterable[NetworkModel]) -> None:
        self.group = ShardGroup()
        for model in models:
            self.group.add(model)

    def map(self, call: str, *args: Any) -> list[Any]:
        return self.group.call(call, *args)

    def close(self) -> None:
        self.group.shards.clear()


def shard_models(params: EnvParams, shards: int) -> Iterator[NetworkModel]:
    """The models of ``shards`` contiguous slices of whole chunks of the catalog, made one at a time."""
    bounds = chunk_bounds(params.num_products, shards)
    speed_demand = catalog_speed_demand(params)
    for products in bounds:
        yield network_model(params, products, speed_demand)
