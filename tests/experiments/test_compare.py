"""Pieces of ``echelon compare`` / ``benchmark`` that need no trained run: per-episode random actions, one warm-up
for paired entries, and the benchmark evaluating its agents on the baselines' episodes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agents.config import ConfigError
from baselines.planner import exact_optimum, plan, plan_gaps
from envs.params import compile_scenario
from experiments.benchmark import evaluate_agent, evaluate_policy
from experiments.evaluate import common_warmup, eval_scenario, run_episodes
from experiments.named_policies import RandomPolicy
from experiments.recorder import StockRecorder
from experiments.results import Benchmark

ENV_ID = "echelon/Serial-v1"


@pytest.mark.parametrize("recorded", [False, True])
def test_random_policy_does_not_depend_on_the_chunking(recorded):
    def policy():  # the benchmark wraps policies in a StockRecorder, which must pass the episodes on
        random = RandomPolicy(ENV_ID, seed=7)
        return StockRecorder(random, eval_scenario_params(), 5) if recorded else random

    costs = [run_episodes(policy(), ENV_ID, 4, 123, num_envs=n, periods=5, progress=False).cost.replicas
             for n in (2, 4)]
    np.testing.assert_array_equal(costs[0], costs[1])
    assert len(set(costs[0])) == 4  # same-slot episodes of different chunks get different actions


def eval_scenario_params():
    return compile_scenario(eval_scenario(ENV_ID))


def test_random_actions_are_drawn_per_episode():
    policy = RandomPolicy(ENV_ID, seed=7)
    observations = np.zeros((4, 1))
    policy.start_episodes(0, 4)
    whole = policy(observations)
    policy.start_episodes(2, 2)
    np.testing.assert_array_equal(policy(observations[:2]), whole[2:])
    policy.reset()  # a new evaluation of the same episodes repeats their actions
    np.testing.assert_array_equal(policy(observations[:2]), whole[2:])
    assert not np.array_equal(whole[0], whole[2])


def test_entries_with_different_warmups_are_refused():
    default = eval_scenario(ENV_ID).warmup_periods
    assert common_warmup(ENV_ID, {"planner": None, "ppo (run)": default}) == default
    with pytest.raises(ConfigError, match=rf"planner: {default}, ppo \(run\): {default + 5}.*--warmup-periods"):
        common_warmup(ENV_ID, {"planner": None, "ppo (run)": default + 5})


def test_plan_gaps_against_the_dual_bound_and_the_exact_optimum():
    serial, network = plan("serial"), plan("network")
    gaps = plan_gaps(1.1 * serial.cost, serial)
    assert gaps["gap_to_optimum_pct"] == pytest.approx(10.0)
    assert gaps["gap_to_dual_bound_pct"] == pytest.approx(100 * (1.1 * serial.cost / serial.dual_bound - 1))
    assert exact_optimum(network) is None and plan_gaps(network.cost, network)["gap_to_optimum_pct"] is None


def test_benchmark_evaluates_agents_from_the_baselines_warmup():
    planned = plan("serial")
    bench = Benchmark(ENV_ID, [0], True, "residual", 3, 10, planned, exact_optimum(planned))
    agent = SimpleNamespace(policy=planned.policy(), warmup_periods=0)  # trained from an empty system
    evaluated = evaluate_agent("ppo", "PPO", agent, bench, progress=False)
    reference = evaluate_policy("plan", "analytic plan", planned.policy(), bench, progress=False)
    np.testing.assert_array_equal(evaluated.results.cost.replicas, reference.results.cost.replicas)
    assert any("ppo was trained with warmup_periods=0" in note for note in bench.notes)
