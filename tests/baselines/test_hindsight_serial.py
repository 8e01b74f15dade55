"""Serial-v0: the hindsight bound against the Clark-Scarf optimum (the best policy that does not see the future)."""

import numpy as np

from baselines.hindsight import hindsight_bounds
from baselines.hindsight_episodes import sample_episode
from baselines.planner import plan
from envs.params import compile_scenario
from envs.scenario import get_scenario
from envs.state import State

EPISODES, PERIODS = 24, 100


def test_bound_is_below_the_clark_scarf_optimum():
    """The mean bound per period over episodes from the warm-up state, with its 95% interval, lies below the
    exact optimal long-run cost; the gap is what perfect information is worth (no safety stock needed)."""
    params = compile_scenario(get_scenario("serial"))
    optimum = plan("serial").cost
    episodes = [sample_episode(params, seed=100 + i, periods=PERIODS) for i in range(EPISODES)]
    starts = State(*(np.concatenate([getattr(s, f) for s, _ in episodes]) for f in State.__dataclass_fields__))
    bounds = hindsight_bounds(params, starts, [noise for _, noise in episodes])
    bound = bounds.cost
    print(f"\nSerial-v0: hindsight bound {bound} per period over {EPISODES} episodes of {PERIODS} periods; "
          f"Clark-Scarf optimum {optimum:.3f}; gap {100 * (optimum - bound.mean) / optimum:.1f}% of the optimum")
    assert bound.high < optimum
    assert np.all(bounds.unavoidable_per_period == 0)  # every order has an eligible node
