"""Product-shared runs rebuilt on other scenarios: the same policy where the scenario is the same, a clear refusal
for runs whose weights fit one scenario only."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.planner import plan
from envs.params import compile_scenario
from envs.scenario import network_scenario, resolve_scenario
from experiments import train, transfer
from experiments.evaluate import run_episodes, scenario_episodes
from experiments.loading import load_run
from experiments.runs import RunError

GRADIENT = ["network=cells", "hidden=[8]", "paths=4", "horizon=10", "iterations=2", "learning_rate=0.05",
            "eval_episodes=0"]
PPO = ["network=cells", "normalize.obs=false", "policy_kwargs.shared_layer=null", "policy_kwargs.net_arch=[8]",
       "num_envs=8", "crn_groups=1", "algo_kwargs.n_steps=8", "algo_kwargs.batch_size=32", "algo_kwargs.n_epochs=1",
       "policy_kwargs.log_std_init=-1", "eval_episodes=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    made = {}
    for algo, sets, steps in (("gradient", GRADIENT, None), ("ppo", PPO, 256)):
        run, status = train.train("echelon/Network-v1", algo, 0, runs_dir=folder, run_name=algo, sets=sets,
                                   total_steps=steps, progress=False, action="residual")
        assert status == 0
        made[algo] = run.path
    return made


@pytest.mark.parametrize("algo", ["gradient", "ppo"])
def test_a_run_rebuilt_on_its_own_scenario_is_the_same_policy(runs, algo):
    loaded = load_run(runs[algo])
    scenario = resolve_scenario("network")
    planned = plan(scenario)
    rebuilt = transfer.transferred_policy(load_run(runs[algo]), compile_scenario(scenario), planned.echelon_levels)
    own = run_episodes(loaded.policy, "echelon/Network-v1", episodes=4, seed=11, periods=12)
    moved = scenario_episodes(rebuilt, scenario, "network", episodes=4, seed=11, num_envs=None, periods=12)
    np.testing.assert_array_equal(moved.cost.replicas, own.cost.replicas)
    assert not np.array_equal(own.cost.replicas, run_episodes(planned.policy(), "echelon/Network-v1", episodes=4,
                                                              seed=11, periods=12).cost.replicas)


def test_transfer_pairs_every_run_with_each_scenarios_own_plan(runs, capsys):
    target = network_scenario("network-30", num_products=30, seed=2)
    results = transfer.transfer([str(runs["gradient"]), str(runs["ppo"])], [target], episodes=3, periods=8)
    (result,) = results
    assert result["products"] == 30 and len(result["runs"]) == 2
    plan_cost = scenario_episodes(plan(target).policy(), target, "t", episodes=3, seed=result["seed"],
                                  num_envs=None, periods=8).cost.mean
    assert result["plan_cost"] == pytest.approx(plan_cost, rel=1e-12)
    assert "network-30 (7 stocking nodes x 30 products)" in capsys.readouterr().out


def test_a_run_whose_weights_fit_one_scenario_is_refused(tmp_path):
    run, _ = train.train("echelon/Network-v1", "gradient", 0, runs_dir=tmp_path, run_name="mlp", progress=False,
                         sets=["hidden=[4]", "paths=2", "horizon=5", "iterations=1", "eval_episodes=0"],
                         action="residual")
    planned = plan("network-large")
    with pytest.raises(RunError, match="only runs with network 'cells' run on other scenarios"):
        transfer.transferred_policy(load_run(run.path), planned.params, planned.echelon_levels)
