"""Planner speed benchmark: ``baselines.planner.plan`` on network-large and generated catalogs, and at catalog scale.

``python -m experiments.plan_speed`` prints a markdown table (for BENCHMARKS.md) of wall-clock seconds per plan
(best of ``--repeats``) for ``network-large`` and for generated catalogs of 1,000, 3,000 and 10,000 products on 12
stocking nodes (1 distribution center, 8 fulfillment centers, 3 same-day sites, 10 regions), with seconds per 1,000
products to show the (near) linear growth. Scenario generation is not timed.

``python -m experiments.plan_speed --scale`` prints the scaling table of the sharded planner ("Planner at catalog
scale" in BENCHMARKS.md): for each catalog size (``--sizes``, default 1k, 10k, 100k, 1M products on the same 12
nodes) one fresh child process builds the catalog and plans it, in this process (``--workers 0``) or on a local Ray
(127.0.0.1) with ``--workers`` workers, and reports the time of each stage (the executor's calls, summed over the
plan), the peak resident memory of the process (``ru_maxrss``) and of each Ray worker (the same, read in the worker
before it ends), and checks that the plan equals the one-shard plan where one is computed (``--check-up-to``).
Catalogs up to ``--generate-up-to`` products (default: every size) are generated
(``envs.scenario.generate.network_scenario`` and ``compile_scenario``); larger ones repeat the compiled arrays of a
generated catalog of that size, each copy's demand rescaled by its own factor in [0.7, 1.3] and the caps multiplied
by the number of copies.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from baselines.network_model import NetworkModel
from baselines.planner import Plan, plan
from baselines.product_sums import CHUNK
from baselines.shard_executor import LocalExecutor, ShardExecutor
from envs.params import EnvParams, compile_scenario
from envs.scenario import get_scenario
from envs.scenario.generate import network_scenario
from experiments import measure
from experiments.plan_workers import RayExecutor
from experiments.ray_cluster import connect

SIZES = (1_000, 10_000, 100_000, 1_000_000)
PRODUCTS_PER_SHARD = 50_000
"""Default shard size of the scaling table (a shard's transient arrays grow with it: ~1.5 GB at 50k products)."""


def catalog(num_products: int):
    return network_scenario(f"catalog-{num_products}", num_products=num_products, num_fulfillment_centers=8,
                            num_same_day_sites=3, num_regions=10, seed=1)


def tiled_params(params: EnvParams, copies: int, seed: int = 0) -> EnvParams:
    """``copies`` copies of a compiled catalog side by side, each copy's demand scaled by its own factor in
    [0.7, 1.3], storage and inbound caps multiplied by ``copies`` (module doc)."""
    factor = np.repeat(np.random.default_rng(seed).uniform(0.7, 1.3, copies), params.num_products)

    def tile(values: np.ndarray, scale: bool = False) -> np.ndarray:
        tiled = np.tile(values, (1,) * (values.ndim - 1) + (copies,))
        return tiled * factor if scale else tiled

    return replace(params, holding_cost=tile(params.holding_cost),
                   pipeline_holding_cost=tile(params.pipeline_holding_cost), purchase_cost=tile(params.purchase_cost),
                   transport_cost=tile(params.transport_cost), volume=tile(params.volume),
                   dispersion=tile(params.dispersion), cv=tile(params.cv),
                   base_mean=tile(params.base_mean, True), penalty=tile(params.penalty), trace=None,
                   node_flow=tile(params.node_flow, True), max_level=tile(params.max_level, True),
                   max_order=tile(params.max_order, True),
                   demand_scale=np.maximum(tile(params.demand_scale, True), 1.0),
                   storage_capacity=params.storage_capacity * copies, inbound_capacity=params.inbound_capacity * copies)


def build(num_products: int, generate_up_to: int) -> tuple[EnvParams, str]:
    """The catalog of the scaling table and how it was built."""
    if num_products <= generate_up_to:
        return compile_scenario(catalog(num_products)), "generated"
    base = max(size for size in range(generate_up_to, 0, -1) if num_products % size == 0)
    copies = num_products // base
    return tiled_params(compile_scenario(catalog(base)), copies), f"{base:,} generated x {copies} copies"


class TimedExecutor:
    """An executor that sums the wall time of each call over the plan (and of starting it)."""

    def __init__(self, inner: ShardExecutor, started: float) -> None:
        self.inner = inner
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds["start"] = time.perf_counter() - started

    def map(self, call: str, *args: Any) -> list[Any]:
        started = time.perf_counter()
        try:
            return self.inner.map(call, *args)
        finally:
            self.seconds[call] += time.perf_counter() - started
            self.calls[call] += 1

    def close(self) -> None:
        self.inner.close()


def run_case(num_products: int, shards: int, workers: int, generate_up_to: int, check_up_to: int) -> dict:
    """One row of the scaling table, in this process (a fresh one: ``ru_maxrss`` is the process's peak)."""
    started = time.perf_counter()
    params, how = build(num_products, generate_up_to)
    build_seconds = time.perf_counter() - started
    ray, ray_seconds, timed = None, 0.0, []
    if workers:
        ray, ray_seconds = connect(None, workers, worker_niceness=0)

    def executor(models: Iterable[NetworkModel]) -> ShardExecutor:
        begun = time.perf_counter()
        inner = RayExecutor(models, ray, workers) if ray is not None else LocalExecutor(models)
        timed.append(TimedExecutor(inner, begun))
        return timed[-1]

    try:
        started = time.perf_counter()
        planned = plan(params, shards=shards, executor=executor)
        seconds = time.perf_counter() - started
        worker_memory = timed[0].inner.closing_memory if ray is not None else []
    finally:
        if ray is not None:
            ray.shutdown()
    row = {"products": num_products, "how": how, "build_seconds": build_seconds, "shards": shards,
           "workers": workers, "ray_start_seconds": ray_seconds, "seconds": seconds,
           "stages": dict(timed[0].seconds), "calls": dict(timed[0].calls), "gap": planned.relative_gap,
           "pricing_steps": len(planned.history),
           "peak_rss": measure.peak_memory_bytes(), "worker_rss": worker_memory}
    if shards > 1 and num_products <= check_up_to:  # after the peak memory was read
        row["identical_to_one_shard"] = _identical(planned, plan(params))
    return row


def _identical(one: Plan, other: Plan) -> bool:
    return bool(np.array_equal(one.echelon_levels, other.echelon_levels)
                and np.array_equal(one.storage_price, other.storage_price)
                and np.array_equal(one.inbound_price, other.inbound_price)
                and one.cost == other.cost and one.dual_bound == other.dual_bound)


def scale_table(args: argparse.Namespace) -> None:
    """The scaling table: every size in a fresh child process (module doc)."""
    machine, load = measure.machine(), measure.load_average()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} | {machine} | numpy {np.__version__} | load average before: {load}")
    print("| products | catalog | build s | shards x workers | Ray start s | start s | allocate s | price s (calls) "
          "| storage s | other s | plan s | s per 1k | peak RSS driver | peak RSS per worker | gap | = 1 shard |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for size in args.sizes:
        shards = min(max(args.workers, 1, -(-size // args.shard_products)), max(size // CHUNK, 1))
        command = [sys.executable, "-m", "experiments.plan_speed", "--case", str(size), "--shards", str(shards),
                   "--workers", str(args.workers if shards > 1 else 0), "--generate-up-to", str(args.generate_up_to),
                   "--check-up-to", str(args.check_up_to)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"| {size:,} | failed: {done.stderr.strip().splitlines()[-1:]} |")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(_markdown_row(row), flush=True)


def _gib(size: float) -> str:
    return f"{size / 2**30:.2f} GiB"


def _markdown_row(row: dict) -> str:
    stages, calls = row["stages"], row["calls"]
    known = ("start", "catalog", "allocate", "solve", "model_storage", "feed_back_stockouts", "levels")
    other = row["seconds"] - sum(stages.get(name, 0.0) for name in known)
    allocate = stages.get("allocate", 0.0) + stages.get("feed_back_stockouts", 0.0)
    storage = stages.get("model_storage", 0.0)
    workers = f"{row['shards']} x {row['workers']} Ray" if row["workers"] else f"{row['shards']} x in process"
    worker_rss = ", ".join(_gib(x) for x in row["worker_rss"]) or "-"
    same = {True: "identical", False: "DIFFERENT"}.get(row.get("identical_to_one_shard"), "-")
    ray_start = f"{row['ray_start_seconds']:.1f}" if row["workers"] else "-"
    return (f"| {row['products']:,} | {row['how']} | {row['build_seconds']:.1f} | {workers} | {ray_start} | "
            f"{stages.get('start', 0.0):.1f} | {allocate:.1f} | "
            f"{stages.get('solve', 0.0):.1f} ({calls.get('solve', 0)}) "
            f"| {storage:.1f} | {other + stages.get('catalog', 0.0) + stages.get('levels', 0.0):.1f} | "
            f"{row['seconds']:.1f} | {1000 * row['seconds'] / row['products']:.3f} | {_gib(row['peak_rss'])} | "
            f"{worker_rss} | {100 * row['gap']:.3f}% | {same} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, nargs="*", default=[1000, 3000, 10000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--scale", action="store_true", help="the scaling table of the sharded planner")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--shard-products", type=int, default=PRODUCTS_PER_SHARD, help="products per shard")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (0: shards in the process)")
    parser.add_argument("--generate-up-to", type=int, default=1_000_000)
    parser.add_argument("--check-up-to", type=int, default=10_000,
                        help="compare with the one-shard plan up to this many products")
    parser.add_argument("--case", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.shards, args.workers, args.generate_up_to, args.check_up_to)))
        return
    if args.scale:
        scale_table(args)
        return
    machine = measure.machine()
    print(f"# {time.strftime('%Y-%m-%d')} | {machine} | numpy {np.__version__}")
    print("| scenario | nodes | products | plan seconds | s per 1k products | dual gap | pricing steps |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cases = [("network-large", get_scenario("network-large"))] + [(f"catalog {p}", catalog(p)) for p in args.products]
    for name, scenario in cases:
        seconds, result = measure.best_time(lambda s=scenario: plan(s), args.repeats)
        products = len(scenario.products)
        print(f"| {name} | {len(scenario.stocking_nodes)} | {products} | {seconds:.2f} | "
              f"{1000 * seconds / products:.3f} | {100 * result.relative_gap:.3f}% | {len(result.history)} |")


if __name__ == "__main__":
    main()
