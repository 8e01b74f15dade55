"""Perfect-information (hindsight) lower bound on the cost of an episode, and the part no policy can avoid.

For one episode (start state and the realized noise of every period) :func:`hindsight_bound` solves the linear
program of :mod:`baselines.hindsight_lp` with HiGHS. Every trajectory the env can produce on that episode is a
feasible point of it with its simulated cost, so the optimum is below the episode cost of every policy; over
episodes drawn like the env's, its mean is a lower bound on the expected cost of every policy that does not see
the future, fulfillment rule included (the perfect-information relaxation; Brown, Smith & Sun 2010).

The unavoidable cost (:mod:`baselines.hindsight_orders`) is the penalty on orders no node is eligible to serve
(e.g. same-day orders placed before the cut-off in a region without a transit-0 node). Every policy pays it and
the bound includes it, so gaps can be stated with it and, over what a policy can influence, without it
(:func:`bound_gaps`).

Episodes are independent LPs: :func:`hindsight_bounds` solves a batch, in worker processes if asked (each
solve is single-threaded).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from baselines.evaluation import Estimate, estimate, ratio_estimate
from baselines.hindsight_lp import EpisodeLP, episode_lp
from baselines.hindsight_orders import unavoidable_cost
from envs.noise import Noise
from envs.params import EnvParams
from envs.state import State


@dataclass(frozen=True)
class HindsightBound:
    """One episode: the bound on its total cost over ``periods`` periods, the unavoidable cost in it, and the
    seconds spent building and solving the LP."""

    cost: float
    unavoidable: float
    periods: int
    seconds: float

    @property
    def cost_per_period(self) -> float:
        return self.cost / self.periods


@dataclass(frozen=True)
class HindsightBounds:
    """A batch of episodes; arrays (B,) in episode order, costs per period (as evaluations report them)."""

    cost_per_period: np.ndarray
    unavoidable_per_period: np.ndarray
    seconds: np.ndarray
    periods: int

    @property
    def cost(self) -> Estimate:
        """Mean bound per period with its 95% Student-t interval over episodes."""
        return estimate(self.cost_per_period)


@dataclass(frozen=True)
class BoundGaps:
    """A policy against the bound on the same episodes (paired), per period.

    ``difference``: policy cost - bound. ``percent``: 100 difference / mean bound; ``percent_avoidable``: the same
    over the avoidable part of the bound (bound - unavoidable cost), i.e. over what policies can influence.
    """

    difference: Estimate
    percent: Estimate
    percent_avoidable: Estimate


def solve_episode_lp(lp: EpisodeLP) -> tuple[float, np.ndarray]:
    """Optimal value (episode cost) and solution of a hindsight LP, by HiGHS (:func:`scipy.optimize.milp` with no
    integer variables solves the LP with ranged rows as given)."""
    result = optimize.milp(lp.cost, constraints=optimize.LinearConstraint(lp.matrix, lp.row_lower, lp.row_upper),
                           bounds=optimize.Bounds(lp.lower, lp.upper))
    if result.status != 0:
        raise RuntimeError(f"hindsight LP not solved: {result.message}")
    return float(result.fun) + lp.constant, result.x


def hindsight_bound(params: EnvParams, start: State, noise: Noise) -> HindsightBound:
    """The bound of the episode starting in ``start`` (batch of one) with time-leading ``noise`` (T periods)."""
    began = time.perf_counter()
    lp = episode_lp(params, start, noise)
    value, _ = solve_episode_lp(lp)
    return HindsightBound(value, unavoidable_cost(params, lp.orders), int(noise.demand.shape[0]),
                          time.perf_counter() - began)


def hindsight_bounds(params: EnvParams, starts: State, noises: Sequence[Noise], workers: int = 1) -> HindsightBounds:
    """Bounds of a batch of episodes: episode i starts in replica i of ``starts`` with ``noises[i]`` (all of the same
    length). ``workers`` > 1 solves them in that many processes."""
    if starts.batch_size != len(noises):
        raise ValueError(f"{starts.batch_size} start states but {len(noises)} noise sequences")
    lengths = {int(noise.demand.shape[0]) for noise in noises}
    if len(lengths) != 1:
        raise ValueError(f"episodes must have one length, got {sorted(lengths)}")
    jobs = [(starts.take(np.array([i])), noise) for i, noise in enumerate(noises)]
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_set_params, initargs=(params,)) as pool:
            results = list(pool.map(_solve_job, jobs))
    else:
        results = [hindsight_bound(params, start, noise) for start, noise in jobs]
    periods = lengths.pop()
    return HindsightBounds(np.array([r.cost for r in results]) / periods,
                           np.array([r.unavoidable for r in results]) / periods,
                           np.array([r.seconds for r in results]), periods)


def bound_gaps(cost_per_period: np.ndarray, bounds: HindsightBounds) -> BoundGaps:
    """Paired gaps of a policy's per-episode costs per period (same episodes, same order) to the bound."""
    cost_per_period = np.asarray(cost_per_period, dtype=float)
    if cost_per_period.shape != bounds.cost_per_period.shape:
        raise ValueError("the policy's episodes and the bound's episodes differ in number")
    excess = cost_per_period - bounds.cost_per_period
    percent, avoidable = (ratio_estimate(100 * excess, scale) for scale in (
        bounds.cost_per_period, bounds.cost_per_period - bounds.unavoidable_per_period))
    return BoundGaps(estimate(excess), percent, avoidable)


_PARAMS: EnvParams | None = None


def _set_params(params: EnvParams) -> None:
    global _PARAMS
    _PARAMS = params


def _solve_job(job: tuple[State, Noise]) -> HindsightBound:
    return hindsight_bound(_PARAMS, *job)
