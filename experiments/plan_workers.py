"""The planner's shards on Ray: a few actors, each holding its shards for the whole plan.

:class:`RayExecutor` implements :class:`baselines.shard_executor.ShardExecutor`. Each worker is a Ray actor holding a
:class:`~baselines.shard_executor.ShardGroup`; shard k lives on worker k mod W. A shard's model (its slice of the
catalog) is sent once, when the executor starts, at most one per worker in flight, so the driver never holds more
than a few shards' models at a time; every later call sends the node prices (a few (N,) arrays) and returns per-node
partial sums, and the workers keep the per-product state in between. Ray itself is started or joined by
:func:`experiments.ray_cluster.connect` (local: every process on 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from baselines.network_model import NetworkModel
from baselines.shard_executor import ShardGroup
from experiments.measure import peak_memory_bytes


class PlanWorker(ShardGroup):
    """The shards of one Ray actor, and its process's peak memory."""

    def peak_memory(self) -> int:
        """Peak resident memory of this worker process, in bytes (``ru_maxrss``)."""
        return peak_memory_bytes()


class RayExecutor:
    """Shards on ``workers`` Ray actors (module doc); ``ray`` is the connected Ray module."""

    def __init__(self, models: Iterable[NetworkModel], ray: ModuleType, workers: int) -> None:
        self.ray = ray
        self.closing_memory: list[int] = []
        actor = ray.remote(num_cpus=1)(PlanWorker)
        self.workers = [actor.remote() for _ in range(workers)]
        pending: list[Any] = []
        for k, model in enumerate(models):
            pending.append(self.workers[k % workers].add.remote(model))
            if len(pending) >= workers:  # bounded: wait for the oldest model to reach its worker
                ray.get(pending.pop(0))
        ray.get(pending)

    def map(self, call: str, *args: Any) -> list[Any]:
        per_worker = self.ray.get([worker.call.remote(call, *args) for worker in self.workers])
        count = sum(len(results) for results in per_worker)
        return [per_worker[k % len(self.workers)][k // len(self.workers)] for k in range(count)]

    def peak_memory(self) -> list[int]:
        """Each worker's peak resident memory, in bytes."""
        return self.ray.get([worker.peak_memory.remote() for worker in self.workers])

    def close(self) -> None:
        """Record each worker's peak memory (:attr:`closing_memory`), then end the workers."""
        if self.workers:
            self.closing_memory = self.peak_memory()
        for worker in self.workers:
            self.ray.kill(worker)
        self.workers = []
