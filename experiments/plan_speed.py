"""Planner speed benchmark: ``baselines.planner.plan`` on network-large and generated catalogs.

Run ``python -m experiments.plan_speed``. Prints a markdown table (for BENCHMARKS.md) of wall-clock seconds
per plan (best of ``--repeats``) for ``network-large`` and for generated catalogs of 1,000, 3,000 and 10,000
products on 12 stocking nodes (1 distribution center, 8 fulfillment centers, 3 same-day sites, 10 regions),
with seconds per 1,000 products to show the (near) linear growth. Scenario generation is not timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from baselines.planner import plan
from envs.scenario import get_scenario
from envs.scenario.generate import network_scenario


def catalog(num_products: int):
    return network_scenario(f"catalog-{num_products}", num_products=num_products, num_fulfillment_centers=8,
                            num_same_day_sites=3, num_regions=10, seed=1)


def best_time(scenario, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = plan(scenario)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, nargs="*", default=[1000, 3000, 10000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    print(f"# {time.strftime('%Y-%m-%d')} | {machine} | numpy {np.__version__}")
    print("| scenario | nodes | products | plan seconds | s per 1k products | dual gap | pricing steps |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    cases = [("network-large", get_scenario("network-large"))] + [(f"catalog {p}", catalog(p)) for p in args.products]
    for name, scenario in cases:
        seconds, result = best_time(scenario, args.repeats)
        products = len(scenario.products)
        print(f"| {name} | {len(scenario.stocking_nodes)} | {products} | {seconds:.2f} | "
              f"{1000 * seconds / products:.3f} | {100 * result.relative_gap:.3f}% | {len(result.history)} |")


if __name__ == "__main__":
    main()
