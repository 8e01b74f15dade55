"""Simulator throughput benchmark: single env through ``gymnasium.make`` and the batched vector env.

Run ``python -m experiments.speed`` (``--quick`` for a short run). Prints one table with steps per
second for every scenario, including resets at episode ends, with actions drawn once up front so the
figure measures the environment, not the policy.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the ids)

IDS = ("echelon/Serial-v1", "echelon/OWMR-v1", "echelon/Network-v1", "echelon/NetworkLarge-v1")


def single_env_rate(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (256,) + env.action_space.shape).astype(np.float32)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in actions[:64]:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        steps += 64
    return steps / (time.perf_counter() - start)


def vector_env_rate(env_id: str, num_envs: int, seconds: float) -> float:
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (4,) + env.action_space.shape).astype(np.float32)
    env.step(actions[0])
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 4])
        steps += 1
    return steps * num_envs / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=1024, help="replicas in the vector env (default 1024)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per cell (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 second per cell")
    parser.add_argument("--ids", nargs="*", default=list(IDS), help="env ids to measure")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else args.seconds
    machine = f"{platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    print(f"# {time.strftime('%Y-%m-%d')} | {machine} | numpy {np.__version__} | gymnasium {gym.__version__}")
    print(f"| env id | single env steps/s | vector env ({args.num_envs} replicas) env-steps/s |")
    print("|---|---:|---:|")
    for env_id in args.ids:
        single = single_env_rate(env_id, seconds)
        batched = vector_env_rate(env_id, args.num_envs, seconds)
        print(f"| {env_id} | {single:,.0f} | {batched:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
