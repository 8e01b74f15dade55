"""The hindsight bound in comparisons: solved on the compared episodes themselves, every entry's gap paired."""

from __future__ import annotations

import numpy as np

from baselines.episodes import sample_episodes
from baselines.hindsight import bound_gaps, hindsight_bounds
from envs.params import compile_scenario
from envs.scenario import get_scenario
from experiments.compare import compare


def test_compare_reports_each_entrys_paired_gap_to_the_bound_of_its_own_episodes():
    comparison = compare([("policy", "planner"), ("policy", "newsvendor")], env_id="echelon/Serial-v1", episodes=5,
                         seed=70, periods=30, bound_episodes=3)
    hindsight = comparison.hindsight
    assert hindsight.episodes == 3 and hindsight.seed == 70
    params = compile_scenario(get_scenario("serial"))
    starts, noises = sample_episodes(params, [70, 71, 72], 30)
    np.testing.assert_allclose(hindsight.bounds.cost_per_period,
                               hindsight_bounds(params, starts, noises).cost_per_period, rtol=1e-9)
    rows = comparison.rows()
    for entry, row in zip(comparison.entries, rows, strict=True):
        costs = entry.results.cost.replicas
        assert np.all(costs[:3] >= hindsight.bounds.cost_per_period - 1e-9)  # the bound holds episode by episode
        expected = bound_gaps(costs[:3], hindsight.bounds)
        assert row["gap_to_hindsight_pct"] == expected.percent.mean
        assert row["gap_to_hindsight_avoidable_pct"] == expected.percent_avoidable.mean
    text = comparison.text(rows)
    assert "Perfect-information (hindsight) lower bound on the first 3 episodes (seeds 70..72)" in text
    assert comparison.to_json(rows)["hindsight_bound"]["episodes"] == 3


def test_compare_without_the_bound_has_no_bound_columns():
    comparison = compare([("policy", "planner")], env_id="echelon/Serial-v1", episodes=2, seed=5, periods=10)
    assert comparison.hindsight is None and "gap_to_hindsight_pct" not in comparison.rows()[0]
