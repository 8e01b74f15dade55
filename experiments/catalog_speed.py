"""Catalog loading benchmark: a long-tailed synthetic catalog written, read back and compiled.

Run ``python -m experiments.catalog_speed``. For each ``--products`` size it draws a catalog
(:func:`envs.scenario.synthetic_catalog.long_tail_catalog`), builds a network scenario on it with 12 stocking nodes
(1 distribution center, 8 fulfillment centers, 3 same-day sites, 10 regions), writes the scenario as YAML with its
products in a CSV file and in a Parquet file, then times loading each (reading and checking every value) and
``compile_scenario`` on the loaded scenario. Prints a markdown table (for BENCHMARKS.md, "Catalog loading") of
wall-clock seconds (best of ``--repeats``), file sizes and the process's peak memory. With ``--plan``, also the
seconds of one ``baselines.planner.plan`` of each loaded scenario (it needs params only, never a simulator).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from baselines.planner import plan
from envs.params import compile_scenario
from envs.scenario import load_scenario_file, network_scenario, save_scenario_file
from envs.scenario.synthetic_catalog import long_tail_catalog
from experiments import measure


def peak_gib() -> float:
    return measure.peak_memory_bytes() / 2**30


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--plan", action="store_true", help="also time one plan of each size")
    args = parser.parse_args(argv)
    machine = measure.machine()
    print(f"# {time.strftime('%Y-%m-%d')} | {machine} | numpy {np.__version__}")
    print("| products | draw catalog s | build scenario s | format | file MB | load s | compile s | peak GiB |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for products in args.products:
        draw, catalog = measure.best_time(lambda n=products: long_tail_catalog(n, seed=0), 1)
        build, scenario = measure.best_time(lambda c=catalog, n=products: network_scenario(
            f"catalog-{n}", num_fulfillment_centers=8, num_same_day_sites=3, num_regions=10, seed=1, products=c), 1)
        with tempfile.TemporaryDirectory() as folder:
            for suffix in ("csv", "parquet"):
                yaml_path = Path(folder) / f"scenario-{suffix}.yaml"
                save_scenario_file(scenario, yaml_path, catalog_file=f"catalog.{suffix}")
                size = (Path(folder) / f"catalog.{suffix}").stat().st_size / 1e6
                load, loaded = measure.best_time(lambda p=yaml_path: load_scenario_file(p), args.repeats)
                assert loaded == scenario
                compile_seconds, params = measure.best_time(lambda s=loaded: compile_scenario(s), args.repeats)
                assert params.num_products == products and params.num_nodes == 12
                print(f"| {products:,} | {draw:.2f} | {build:.2f} | {suffix} | {size:.0f} | {load:.2f} | "
                      f"{compile_seconds:.2f} | {peak_gib():.1f} |", flush=True)
        if args.plan:
            seconds, result = measure.best_time(lambda s=scenario: plan(s), 1)
            print(f"plan of {products:,} products: {seconds:.1f} s, dual gap {100 * result.relative_gap:.3f}%, "
                  f"peak {peak_gib():.1f} GiB", flush=True)


if __name__ == "__main__":
    main()
