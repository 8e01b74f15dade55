"""Simulator throughput benchmark: single env through ``gymnasium.make`` and the batched vector env.

Run ``python -m experiments.speed`` (``--quick`` for a short run). Prints one table: steps per second of
every registered env on both simulator paths' default (the compiled kernel unless ``ECHELON_SIMULATOR``
says otherwise), including resets at episode ends, with actions drawn once up front so the figure measures
the environment, not the policy; the vector env's slowest and fastest whole second of the run (none with
``--quick``, whose run lasts one second); the peak memory of each vector env; and, unless ``--no-compile``, the time
from a fresh process to the first step with an empty compilation cache and with a warm one.

``--stages`` prints instead the compiled kernel's single-thread cost of one replica-step, whole and stage by
stage (noise, transition, observation; the rest is action decoding, the reward and the Python around the
call), each the fastest of repeated passes over the replicas in a fresh process with one kernel thread. Pin
that process to one core (``taskset -c 1``) for steadier figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the ids)
from envs import ENV_IDS
from envs.kernel import compiled as kernel
from envs.kernel.layout import DEMAND_GIVEN, ThreadBuffers, demand_source, kernel_params
from envs.noise import Noise, key_words, noise
from envs.simulator import THREADS_VARIABLE, Simulator
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


def vector_env_rate(env_id: str, num_envs: int, seconds: float) -> tuple[float, list[float]]:
    """Env-steps per second over ``seconds``, and over each whole second of it (how much the rate moves within
    one run: on a shared machine, more than the code does)."""
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (4,) + env.action_space.shape).astype(np.float32)
    env.step(actions[0])
    steps, windows = 0, []
    start = window_start = time.perf_counter()
    window_steps = 0
    while (now := time.perf_counter()) - start < seconds:
        if now - window_start >= 1.0:
            windows.append(window_steps * num_envs / (now - window_start))
            window_start, window_steps = now, 0
        env.step(actions[steps % 4])
        steps += 1
        window_steps += 1
    return steps * num_envs / (time.perf_counter() - start), windows


def stage_microseconds(env_id: str, num_envs: int, repeats: int) -> dict[str, float]:
    """Microseconds per replica-step of the compiled step (``step``) and of the kernel's stages, run alone over
    every replica: ``noise``, ``transition`` (from per-replica noise and orders) and ``observation``. Each is the
    fastest of ``repeats`` passes."""
    vector = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point").unwrapped
    params, everyone = vector.params, np.ones(num_envs, dtype=bool)
    simulator = Simulator(params, num_envs, vector.action_mode, vector.warmup_periods, "compiled")
    observations = simulator.new_observations()
    simulator.reset(everyone, np.arange(num_envs, dtype=np.uint64), observations)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (4, num_envs, params.num_nodes * params.num_products))
    steps = iter(range(10**9))

    def per_replica_step(work: Callable[[], object]) -> float:
        return measure.best_time(work, repeats)[0] / num_envs * 1e6

    figures = {"step": per_replica_step(lambda: simulator.step(actions[next(steps) % 4], observations))}
    state, kernel_arrays = simulator.state, kernel_params(params)
    drawn = noise(simulator.keys, state.period, params)  # also the noise stage's output arrays
    if demand_source(params) != DEMAND_GIVEN:  # the kernel draws this scenario's demand itself
        low, high = key_words(simulator.keys)
        buffers = ThreadBuffers.allocate(params)
        figures["noise"] = per_replica_step(lambda: kernel.noise_batch(
            everyone, low, high, state.period, drawn.demand, drawn.cutoff_uniform, drawn.spill_uniform,
            drawn.lead_time, buffers.mix, buffers.scratch, *kernel_arrays.noise_args()))
    figures["transition"] = _transition_microseconds(simulator, drawn, rng, per_replica_step)
    figures["observation"] = per_replica_step(lambda: kernel.observe_batch(
        everyone, state.on_hand, state.dock, state.pipeline, state.backlog, state.last_demand, state.received,
        state.period, observations, *kernel_arrays.observe_args()))
    return figures


def _transition_microseconds(simulator: Simulator, drawn: Noise, rng: np.random.Generator,
                             per_replica_step: Callable[[Callable[[], object]], float]) -> float:
    """The transition stage of :func:`stage_microseconds`: the same random orders and noise every pass, each
    pass one more period of the simulator's state."""
    params, batch = simulator.params, simulator.batch_size
    n, p = params.num_nodes, params.num_products
    order = np.rint(rng.uniform(0, 1, (batch, n, p)) * params.max_order)
    buffers = ThreadBuffers.allocate(params)
    outcome = np.zeros((batch, simulator.info_layout.num_columns))
    shipped, purchased, served_units = np.zeros((batch, n, p)), np.zeros((batch, p)), np.zeros((batch, p))
    state = tuple(getattr(simulator.state, field.name) for field in dataclasses.fields(simulator.state))
    arguments = (np.ones(batch, dtype=bool), *state, order, drawn.demand,
                 drawn.cutoff_uniform, drawn.spill_uniform, drawn.lead_time, buffers.work, buffers.scratch, outcome,
                 shipped, purchased, served_units, *kernel_params(params).transition_args())
    return per_replica_step(lambda: kernel.batch_functions(p).transition_batch(*arguments))


def print_stages(ids: list[str], num_envs: int, repeats: int) -> None:
    """The ``--stages`` table, each env measured in a fresh single-thread process."""
    print("Single-thread microseconds per replica-step (fastest pass). A stage run alone streams the state through\n"
          "memory, which a step does once for all stages, so stages can add up to more than the step.")
    print("| env id | replicas | step | noise | transition | observation | step - stages |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for env_id in ids:
        figures = _child(["stages", env_id, str(num_envs), str(repeats)], threads=1)
        parts = [figures.get(name, float("nan")) for name in ("noise", "transition", "observation")]
        rest = figures["step"] - sum(part for part in parts if np.isfinite(part))
        cells = " | ".join(f"{value:.2f}" for value in (figures["step"], *parts, rest))
        print(f"| {env_id} | {num_envs} | {cells} |", flush=True)


def _child(argv: list[str], cache: str | None = None, threads: int | None = None) -> dict:
    """Run this module's ``--child`` mode in a fresh process and return what it reports."""
    environment = dict(os.environ, **({"NUMBA_CACHE_DIR": cache} if cache else {}))
    if threads is not None:
        environment.update({THREADS_VARIABLE: str(threads), "NUMBA_NUM_THREADS": str(threads)})
    output = subprocess.run([sys.executable, "-m", "experiments.speed", "--child", *argv], env=environment,
                            capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def child_main(argv: list[str]) -> None:
    """``--child memory ENV_ID NUM_ENVS SECONDS``: rate and peak memory of a vector env;
    ``--child stages ENV_ID NUM_ENVS REPEATS``: :func:`stage_microseconds`;
    ``--child first-step ENV_ID``: seconds from process start to the first step of the vector env."""
    kind, env_id = argv[0], argv[1]
    if kind == "stages":
        print(json.dumps(stage_microseconds(env_id, int(argv[2]), int(argv[3]))))
    elif kind == "memory":
        rate, windows = vector_env_rate(env_id, int(argv[2]), float(argv[3]))
        peak = measure.peak_memory_bytes() / 2**30
        print(json.dumps({"rate": rate, "windows": windows, "peak_gib": peak}))
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
    parser.add_argument("--stages", action="store_true",
                        help="single-thread microseconds per replica-step of the compiled kernel, stage by stage")
    parser.add_argument("--repeats", type=int, default=20, help="passes per --stages figure, the fastest kept")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else args.seconds
    machine, load = measure.machine(), measure.load_average()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} | {machine} | numpy {np.__version__} | gymnasium {gym.__version__} "
          f"| simulator {os.environ.get('ECHELON_SIMULATOR') or 'compiled'} | load average before: {load}")
    if args.stages:
        print_stages(args.ids, args.num_envs, 5 if args.quick else args.repeats)
        print(f"load average after: {measure.load_average()}")
        return
    print(f"| env id | single env steps/s | vector env ({args.num_envs} replicas) env-steps/s "
          "| its one-second windows, slowest - fastest | peak memory (GiB) |")
    print("|---|---:|---:|---:|---:|")
    for env_id in args.ids:
        single = single_env_rate(env_id, seconds)
        batched = _child(["memory", env_id, str(args.num_envs), str(seconds)])
        windows = batched["windows"]
        spread = f"{min(windows):,.0f} - {max(windows):,.0f}" if windows else "-"
        print(f"| {env_id} | {single:,.0f} | {batched['rate']:,.0f} | {spread} | {batched['peak_gib']:.2f} |",
              flush=True)
    if not args.no_compile:
        first, cached = first_step_seconds(args.ids[0])
        print(f"\nFresh process to first step ({args.ids[0]}): {first:.1f} s with an empty compilation cache, "
              f"{cached:.1f} s with the cache it wrote.")


if __name__ == "__main__":
    main()
