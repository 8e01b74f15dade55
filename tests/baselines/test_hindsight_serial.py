"""Serial-v1: the hindsight bound against the Clark-Scarf optimum (the best policy that does not see the future)."""

import numpy as np

from baselines.episodes import sample_episodes
from baselines.hindsight import hindsight_bounds
from baselines.planner import plan
from envs.params import compile_scenario
from envs.scenario import get_scenario

EPISODES, PERIODS = 24, 100


def test_bound_is_below_the_clark_scarf_optimum():
    """The mean bound per period over episodes from the warm-up state, with its 95% interval, lies below the
    exact optimal long-run cost; the gap is what perfect information is worth (no safety stock needed)."""
    params = compile_scenario(get_scenario("serial"))
    optimum = plan("serial").cost
    starts, noises = sample_episodes(params, range(100, 100 + EPISODES), PERIODS)
    bounds = hindsight_bounds(params, starts, noises)
    bound = bounds.cost
    print(f"\nSerial-v1: hindsight bound {bound} per period over {EPISODES} episodes of {PERIODS} periods; "
          f"Clark-Scarf optimum {optimum:.3f}; gap {100 * (optimum - bound.mean) / optimum:.1f}% of the optimum")
    assert bound.high < optimum
    assert np.all(bounds.unavoidable_per_period == 0)  # every order has an eligible node
