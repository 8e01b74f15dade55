"""Simulator throughput benchmark: single env through ``gymnasium.make`` and the batched vector env.

Run ``python -m experiments.speed`` (``--quick`` for a short run). Prints one table: steps per second of
every registered env on both simulator paths' default (the compiled kernel unless ``ECHELON_SIMULATOR``
says otherwise), including resets at episode ends, with actions drawn once up front so the figure measures
the environment, not the policy; the peak memory of each vector env; and, unless ``--no-compile``, the time
from a fresh process to the first step with an empty compilation cache and with a warm one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the ids)
from envs import ENV_IDS
from experiments import measure

IDS = tuple(ENV_IDS)


def single_env_rate(env_id: str, seconds: float) -> float:
    env = gym.make(env_id)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (256,) + env.action_space.shape).astype(np.float32)
    env.step(actions[0])
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


def _child(argv: list[str], cache: str | None = None) -> dict:
    """Run this module's ``--child`` mode in a fresh process and return what it reports."""
    environment = dict(os.environ, **({"NUMBA_CACHE_DIR": cache} if cache else {}))
    output = subprocess.run([sys.executable, "-m", "experiments.speed", "--child", *argv], env=environment,
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def child_main(argv: list[str]) -> None:
    """``--child memory ENV_ID NUM_ENVS SECONDS``: rate and peak memory of a vector env;
    ``--child first-step ENV_ID``: seconds from process start to the first step of the vector env."""
    kind, env_id = argv[0], argv[1]
    if kind == "memory":
        rate = vector_env_rate(env_id, int(argv[2]), float(argv[3]))
        peak = measure.peak_memory_bytes() / 2**30
        print(json.dumps({"rate": rate, "peak_gib": peak}))
    else:
        env = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
        env.reset(seed=0)
        env.step(env.action_space.sample())
        print(json.dumps({"seconds": time.time() - float(os.environ["ECHELON_SPEED_START"])}))


def first_step_seconds(env_id: str) -> tuple[float, float]:
    """Seconds to the first step in a fresh process with an empty compilation cache, then with the warm one."""
    with tempfile.TemporaryDirectory() as cache:
        times = []
        for _ in range(2):
            os.environ["ECHELON_SPEED_START"] = repr(time.time())
            times.append(_child(["first-step", env_id], cache)["seconds"])
    return times[0], times[1]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=1024, help="replicas in the vector env (default 1024)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per cell (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 second per cell")
    parser.add_argument("--ids", nargs="*", default=list(IDS), help="env ids to measure")
    parser.add_argument("--no-compile", action="store_true", help="skip the compilation-time measurement")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else args.seconds
    machine, load = measure.machine(), measure.load_average()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} | {machine} | numpy {np.__version__} | gymnasium {gym.__version__} "
          f"| simulator {os.environ.get('ECHELON_SIMULATOR') or 'compiled'} | load average before: {load}")
    print(f"| env id | single env steps/s | vector env ({args.num_envs} replicas) env-steps/s | peak memory (GiB) |")
    print("|---|---:|---:|---:|")
    for env_id in args.ids:
        single = single_env_rate(env_id, seconds)
        batched = _child(["memory", env_id, str(args.num_envs), str(seconds)])
        print(f"| {env_id} | {single:,.0f} | {batched['rate']:,.0f} | {batched['peak_gib']:.2f} |", flush=True)
    if not args.no_compile:
        first, cached = first_step_seconds(args.ids[0])
        print(f"\nFresh process to first step ({args.ids[0]}): {first:.1f} s with an empty compilation cache, "
              f"{cached:.1f} s with the cache it wrote.")


if __name__ == "__main__":
    main()
