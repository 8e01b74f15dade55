"""The hindsight LP contains every env trajectory: the env's own trajectories, written as LP points, are feasible
with their simulated cost, so the bound never exceeds them."""

import numpy as np
import pytest
from hindsight_cases import RandomActions, episode_cost, simulate, trajectory_point, tree_scenario
from scipy import stats

from baselines.episodes import sample_episode, sample_episodes
from baselines.hindsight import bound_gaps, hindsight_bound, hindsight_bounds, solve_episode_lp
from baselines.hindsight_lp import episode_lp
from baselines.planner import plan
from envs.params import compile_scenario
from envs.scenario import get_scenario

PERIODS = 24


def _policies(scenario, params):
    return {"plan": plan(scenario).policy(), "random levels": RandomActions(params, "order_up_to", 1),
            "random quantities": RandomActions(params, "quantity", 2)}


CASES = [("lost_sales", "independent"), ("backorders", "sequential"), ("lost_sales", "sequential"),
         ("backorders", "independent")]


@pytest.mark.parametrize(("unmet_demand", "mode"), CASES)
def test_env_trajectories_are_lp_points_with_their_cost(unmet_demand, mode):
    scenario = tree_scenario(unmet_demand, mode)
    params = compile_scenario(scenario)
    start, noise = sample_episode(params, seed=11, periods=PERIODS)
    lp = episode_lp(params, start, noise)
    bound, _ = solve_episode_lp(lp)
    seen = {"inbound cap binds": False, "storage overflows": False, "spill": False, "after cut-off": False,
            "sequential delay": False, "unavoidable": lp.orders.rest_lower.sum() > 0}
    for name, policy in _policies(scenario, params).items():
        steps = simulate(params, start, noise, policy)
        x = trajectory_point(lp, params, steps, noise)
        simulated = episode_cost(steps)
        assert lp.violation(x) <= 1e-9 * max(1.0, np.abs(x).max()), name
        assert lp.objective(x) == pytest.approx(simulated, rel=1e-12, abs=1e-9), name
        assert bound <= simulated + 1e-6 * simulated, name
        print(f"\n{unmet_demand}/{mode}, {name}: simulated {simulated:.2f}, bound {bound:.2f}")
        capped = np.isfinite(params.inbound_units)
        seen["inbound cap binds"] |= any(np.any(s.outcome.received[0, capped] == params.inbound_units[capped])
                                         for s in steps)
        seen["storage overflows"] |= any(s.outcome.overflow_cost[0] > 0 for s in steps)
        seen["spill"] |= bool(np.any(x[lp.columns["carry"][lp.columns["carry"] >= 0]] > 0))
        seen["after cut-off"] |= bool(lp.orders.late.sum() > 0)
        seen["sequential delay"] |= mode == "sequential" and any(
            np.any((s.next_state.due[0, :, 0] + 1 > noise.lead_time[t]) & (s.outcome.shipped[0] > 0))
            for t, s in enumerate(steps))
    expected = {key for key in seen if key != "sequential delay" or mode == "sequential"}
    assert {key for key, value in seen.items() if value} == expected  # the episode exercises every feature


@pytest.mark.parametrize("name", ["serial", "owmr"])
def test_plan_trajectories_on_registered_backorder_scenarios(name):
    """Serial and one-warehouse-many-retailers: the plan's trajectory is an LP point; the bound is below it."""
    scenario = get_scenario(name)
    params = compile_scenario(scenario)
    start, noise = sample_episode(params, seed=3, periods=40)
    lp = episode_lp(params, start, noise)
    bound, _ = solve_episode_lp(lp)
    steps = simulate(params, start, noise, plan(scenario).policy())
    x = trajectory_point(lp, params, steps, noise)
    assert lp.violation(x) <= 1e-9 * max(1.0, np.abs(x).max())
    assert lp.objective(x) == pytest.approx(episode_cost(steps), rel=1e-12)
    assert bound <= episode_cost(steps)


def test_unavoidable_cost_is_part_of_the_bound():
    params = compile_scenario(tree_scenario())
    start, noise = sample_episode(params, seed=5, periods=PERIODS)
    result = hindsight_bound(params, start, noise)
    assert 0 < result.unavoidable < result.cost
    assert result.periods == PERIODS and result.seconds > 0


def test_batch_in_worker_processes_matches_single_episodes_and_gaps_are_paired():
    params = compile_scenario(tree_scenario())
    starts, noises = sample_episodes(params, [21, 22, 23], PERIODS)
    one_process = hindsight_bounds(params, starts, noises)
    two_processes = hindsight_bounds(params, starts, noises, workers=2)
    np.testing.assert_allclose(two_processes.cost_per_period, one_process.cost_per_period, rtol=1e-9)
    np.testing.assert_array_equal(two_processes.unavoidable_per_period, one_process.unavoidable_per_period)
    single = hindsight_bound(params, starts.take(np.array([1])), noises[1])
    assert one_process.cost_per_period[1] == pytest.approx(single.cost_per_period, rel=1e-12)
    gaps = bound_gaps(one_process.cost_per_period + np.array([1.0, 2.0, 4.5]), one_process)
    avoidable = one_process.cost_per_period - one_process.unavoidable_per_period
    assert gaps.difference.mean == pytest.approx(2.5)
    mean_bound = one_process.cost_per_period.mean()
    assert gaps.percent.mean == pytest.approx(250 / mean_bound)
    assert gaps.percent_avoidable.mean == pytest.approx(250 / avoidable.mean())
    # the percent's interval counts the bound's own noise (delta method), not the difference's over a fixed mean
    ratio = 250 / mean_bound
    linearized = (100 * np.array([1.0, 2.0, 4.5]) - ratio * one_process.cost_per_period) / mean_bound
    expected = stats.t.ppf(0.975, 2) * linearized.std(ddof=1) / np.sqrt(3)
    assert gaps.percent.half_width == pytest.approx(expected)
    assert gaps.percent.half_width != pytest.approx(100 * gaps.difference.half_width / mean_bound)
