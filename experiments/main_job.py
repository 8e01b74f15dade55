"""The default benchmark (``make benchmark``): simulate the default ``network`` scenario.

Runs a simple base-stock heuristic (each node orders up to its mean throughput over lead time plus one
period, plus ``safety`` standard deviations, computed from the public scenario only) in the batched
env with common random numbers, and prints the cost breakdown per period with 95% confidence
intervals across replicas, fill rate by speed and capacity use.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
from scipy import stats

import envs  # noqa: F401  (registers the ids)
from envs.actions import encode_level
from envs.params import EnvParams


def heuristic_levels(params: EnvParams, safety: float = 1.5) -> np.ndarray:
    """Local order-up-to levels (N, P): mean throughput over lead time + 1, plus safety stock."""
    mean_lead = np.array([node.lead_time.mean for node in params.scenario.stocking_nodes])
    protected = params.node_flow * (mean_lead[:, None] + 1.0)
    return np.ceil(protected + safety * np.sqrt(protected))


def mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t confidence interval."""
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def run(env_id: str, num_envs: int, periods: int, seed: int) -> dict:
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", max_episode_steps=None)
    params = env.unwrapped.params
    action = np.broadcast_to(encode_level(heuristic_levels(params), params), env.action_space.shape).astype(np.float32)
    env.reset(seed=seed)
    totals: dict[str, np.ndarray] = {}
    fill: dict[str, np.ndarray] = {}
    use: dict[str, np.ndarray] = {}
    for _ in range(periods):
        _, _, _, _, info = env.step(action)
        for key, value in info["cost"].items():
            totals[key] = totals.get(key, 0.0) + value
        for key, value in info["fill_rate"].items():
            fill[key] = fill.get(key, 0.0) + value
        for key, value in info["storage_use"].items():
            use[key] = np.maximum(use.get(key, 0.0), value)
    return {"cost": totals, "fill": fill, "use": use, "periods": periods, "params": params}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="echelon/Network-v0")
    parser.add_argument("--num-envs", type=int, default=64, help="replicas (default 64)")
    parser.add_argument("--periods", type=int, default=365, help="periods simulated per replica (default 365)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(args.env_id, args.num_envs, args.periods, args.seed)
    elapsed = time.perf_counter() - start
    params = result["params"]
    print(f"{args.env_id} ({params.scenario.description})")
    print(f"base-stock heuristic, {args.num_envs} replicas x {args.periods} periods, seed {args.seed}:")
    print(f"{'cost per period':<24}{'mean':>12}{'95% CI':>12}")
    for key, value in result["cost"].items():
        mean, half = mean_ci(value / args.periods)
        print(f"{key:<24}{mean:>12.2f}{'±' + format(half, '.2f'):>12}")
    print("fill rate by speed: " + ", ".join(f"{k} {np.mean(v) / args.periods:.3f}" for k, v in result["fill"].items()))
    capped = [k for k in result["use"] if np.isfinite(params.scenario.node(k).storage_capacity)]
    print("peak storage use / cap: " + ", ".join(f"{k} {np.mean(result['use'][k]):.2f}" for k in capped))
    print(f"simulated {args.num_envs * args.periods:,} periods in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
