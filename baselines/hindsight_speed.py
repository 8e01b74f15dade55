"""Time the hindsight bound per episode: ``python -m baselines.hindsight_speed --scenario network --episodes 3``.

Prints, per episode, the LP's size, the seconds to build it and to solve it (one process, one thread; wall
clock and this process's CPU time, which a busy machine does not inflate), the bound and the unavoidable cost
per period. Episodes come from :func:`baselines.episodes.sample_episode`.
"""

from __future__ import annotations

import argparse
import time

from baselines.episodes import sample_episode
from baselines.hindsight import solve_episode_lp
from baselines.hindsight_lp import episode_lp
from baselines.hindsight_orders import unavoidable_cost
from envs.params import compile_scenario
from envs.scenario import resolve_scenario


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="scenario name or YAML path (repeatable)")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--periods", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in args.scenario or ["network"]:
        params = compile_scenario(resolve_scenario(name))
        for episode in range(args.episodes):
            start, noise = sample_episode(params, args.seed + episode, args.periods)
            began = time.perf_counter()
            lp = episode_lp(params, start, noise)
            built, cpu = time.perf_counter(), time.process_time()
            value, _ = solve_episode_lp(lp)
            solved, cpu = time.perf_counter(), time.process_time() - cpu
            rows, columns = lp.shape
            print(f"{name} episode {episode}: {rows} rows x {columns} columns, {lp.matrix.nnz} nonzeros; "
                  f"build {built - began:.2f} s, solve {solved - built:.2f} s ({cpu:.2f} s CPU); "
                  f"bound {value / args.periods:.3f} per period, "
                  f"unavoidable {unavoidable_cost(params, lp.orders) / args.periods:.3f}", flush=True)


if __name__ == "__main__":
    main()
