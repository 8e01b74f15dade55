"""``echelon plan``: a scenario's analytic plan, its products planned in shards (in this process or on Ray).

The shards run in this process (``--workers 0``, or one shard without ``--address``) or on Ray workers
(:mod:`experiments.plan_workers`): a local Ray instance bound to 127.0.0.1, or the cluster at ``--address``
(:mod:`experiments.ray_cluster`). The plan is the same bit for bit however it is split (:mod:`baselines.planner`).
Its file has the fields of a residual run's ``plan.json`` (``method``, ``echelon_levels``: N lists of P levels, read by
:mod:`experiments.residual_plan`) and the node names, prices, model use, cost and dual bound, and how it was computed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from baselines.network_model import NetworkModel
from baselines.planner import Plan, plan
from baselines.product_sums import chunk_bounds
from baselines.shard_executor import ShardExecutor
from envs.params import compile_scenario
from envs.scenario import resolve_scenario
from experiments.conventions import UsageError
from experiments.plan_workers import RayExecutor
from experiments.ray_cluster import connect
from experiments.runs import plan_fields


@dataclass(frozen=True)
class PlanRun:
    """A plan and how it was computed."""

    plan: Plan
    seconds: float  # planning, after the scenario was compiled (and Ray started)
    shards: int
    workers: int  # Ray workers; 0: the shards ran in this process
    where: str
    worker_memory: list[int] = field(default_factory=list)  # each Ray worker's peak resident memory, bytes


def run_plan(scenario: str | Path, shards: int = 1, workers: int | None = None, address: str | None = None) -> PlanRun:
    """Plan ``scenario`` in ``shards`` shards on ``workers`` Ray workers (None: one per shard; never more than Ray's
    CPUs); ``workers`` 0, or one shard without ``address``: in this process."""
    params = compile_scenario(resolve_scenario(scenario))
    try:
        chunk_bounds(params.num_products, shards)
    except ValueError as error:
        raise UsageError(f"--shards {shards}: {error}") from error
    if workers == 0 or (workers is None and shards == 1 and address is None):
        started = time.perf_counter()
        planned = plan(params, shards=shards)
        return PlanRun(planned, time.perf_counter() - started, shards, 0, "this process")
    ray, _ = connect(address, worker_niceness=0)  # the workers do the planning: an ordinary priority
    try:
        cpus = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        count = min(shards, workers or cpus, cpus)  # a worker takes a CPU: more would wait for one forever
        executors: list[RayExecutor] = []

        def on_ray(models: Iterable[NetworkModel]) -> ShardExecutor:
            executors.append(RayExecutor(models, ray, count))
            return executors[-1]

        started = time.perf_counter()
        planned = plan(params, shards=shards, executor=on_ray)
        seconds = time.perf_counter() - started
        where = f"the Ray cluster at {address}" if address is not None else "local Ray (127.0.0.1)"
        memory = executors[0].closing_memory if executors else []
        return PlanRun(planned, seconds, shards, count, where, memory)
    finally:
        ray.shutdown()


def summary(run: PlanRun, scenario: str | Path) -> str:
    planned = run.plan
    nodes, products = planned.echelon_levels.shape
    workers = "in this process" if run.workers == 0 else f"on {run.workers} Ray worker(s), {run.where}"
    gap = 100 * planned.relative_gap
    return (f"plan of {scenario}: {nodes} stocking nodes x {products:,} products, {planned.method}; model cost "
            f"{planned.cost:.4f} per period, dual bound {planned.dual_bound:.4f} (gap {gap:.3f}%); "
            f"{run.shards} shard(s) {workers}; {run.seconds:.2f} s")


def plan_json(run: PlanRun, scenario: str | Path) -> dict:
    """The content of the plan file (module doc)."""
    planned = run.plan

    def numbers(values: np.ndarray) -> list:
        return np.where(np.isfinite(values), values, None).tolist() if values.dtype.kind == "f" else values.tolist()

    return {**plan_fields(planned.method, planned.echelon_levels),
            "scenario": str(scenario), "node_names": list(planned.params.node_names),
            "storage_price": numbers(planned.storage_price), "inbound_price": numbers(planned.inbound_price),
            "storage_use": numbers(planned.storage_use), "inbound_use": numbers(planned.inbound_use),
            "storage_capacity": numbers(np.asarray(planned.storage_capacity, dtype=float)),
            "inbound_capacity": numbers(np.asarray(planned.inbound_capacity, dtype=float)),
            "cost": planned.cost, "dual_bound": planned.dual_bound, "shards": run.shards, "workers": run.workers,
            "where": run.where, "seconds": round(run.seconds, 3)}
