"""Product-shared runs rebuilt on other scenarios: the same policy where the scenario is the same, a clear refusal
for runs whose weights fit one scenario only; ``echelon transfer`` and ``python -m experiments.transfer`` alike."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from baselines.planner import plan
from envs.params import compile_scenario
from envs.scenario import network_scenario, resolve_scenario
from experiments import cli, train, transfer
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


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """A run whose weights fit its own scenario only (network 'mlp')."""
    run, status = train.train("echelon/Network-v1", "gradient", 0, runs_dir=tmp_path_factory.mktemp("mlp"),
                              run_name="mlp", progress=False, action="residual",
                              sets=["hidden=[4]", "paths=2", "horizon=5", "iterations=1", "eval_episodes=0"])
    assert status == 0
    return run.path


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


@pytest.mark.parametrize("algo", ["gradient", "ppo"])
def test_transfer_pairs_every_run_with_each_scenarios_own_plan(runs, capsys, algo):
    target = network_scenario("network-30", num_products=30, seed=2)
    results = transfer.transfer([str(runs[algo])], [target], episodes=3, periods=8)
    (result,) = results
    assert result["products"] == 30 and len(result["runs"]) == 1
    plan_cost = scenario_episodes(plan(target).policy(), target, "t", episodes=3, seed=result["seed"],
                                  num_envs=None, periods=8).cost.mean
    assert result["plan_cost"] == pytest.approx(plan_cost, rel=1e-12)
    assert "network-30 (7 stocking nodes x 30 products)" in capsys.readouterr().out


def test_a_run_whose_weights_fit_one_scenario_is_refused(mlp_run):
    planned = plan("network-large")
    with pytest.raises(RunError, match="only runs with network 'cells' run on other scenarios"):
        transfer.transferred_policy(load_run(mlp_run), planned.params, planned.echelon_levels)


SMALL = ["--products", "30", "--generator-seed", "2", "--episodes", "3", "--seed", "5", "--periods", "8"]
"""One generated 30-product target, 3 episodes of 8 periods: about a second."""


def without_times(printed: str) -> str:
    return re.sub(r"\(\d+ s\)", "", printed)


def test_echelon_transfer_gives_what_the_module_and_the_function_give(runs, tmp_path, capsys):
    run_dirs = [str(runs["gradient"])]
    assert cli.main(["transfer", "--runs", *run_dirs, *SMALL, "--output", str(tmp_path / "cli.json")]) == 0
    by_cli = capsys.readouterr()
    assert transfer.main(["--runs", *run_dirs, *SMALL, "--output", str(tmp_path / "module.json")]) == 0
    by_module = capsys.readouterr()
    target = network_scenario("network-30", num_products=30, seed=2)
    expected = transfer.transfer(run_dirs, [target], episodes=3, seed=5, periods=8)
    printed = capsys.readouterr().out
    assert by_cli.err == by_module.err == ""
    assert without_times(by_cli.out) == without_times(f"{printed}wrote {tmp_path / 'cli.json'}\n")
    assert without_times(by_module.out) == without_times(f"{printed}wrote {tmp_path / 'module.json'}\n")
    written = [json.loads((tmp_path / name).read_text()) for name in ("cli.json", "module.json")]
    for content in written:
        assert content["runs"] == run_dirs
        ((result,),) = [content["results"]]
        del result["seconds"]
    del expected[0]["seconds"]
    assert written[0] == written[1] == {"runs": run_dirs, "results": json.loads(json.dumps(expected))}
    assert (expected[0]["seed"], expected[0]["periods"], expected[0]["products"]) == (5, 8, 30)


BAD = {  # case -> arguments after --runs, exit status, the start of the error message
    "not product-shared": (["{cells}", "{mlp}", "--scenario", "network"], 1,
                           "{mlp} was trained with network 'mlp', whose weights fit one scenario only"),
    "missing run": (["{cells}", "gone", "--scenario", "network"], 1, "run folder gone does not exist"),
    "two configurations": (["{cells}", "{ppo}", "--scenario", "network"], 1,
                           "--runs: {cells} and {ppo} differ in 'algo' ('gradient' vs 'ppo')"),
    "unknown scenario": (["{cells}", "--scenario", "nowhere"], 1, "scenario 'nowhere' is neither a registered name"),
    "no target": (["{cells}"], 2, "give at least one --scenario or --products"),
    "no products": (["{cells}", "--products", "0"], 2, "argument --products: expected a whole number >= 1, got '0'"),
    "one episode": (["{cells}", "--scenario", "network", "--episodes", "1"], 2,
                    "argument --episodes: expected at least 2 episodes"),
    "unwritable output": (["{cells}", "--scenario", "network", "--output", "missing/out.json"], 2,
                          "--output missing/out.json: the folder missing does not exist"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_echelon_transfer_names_what_is_wrong_in_one_line(runs, mlp_run, tmp_path, monkeypatch, capsys, case):
    def planned_too_early(*args, **kwargs):
        raise AssertionError("planned before the arguments and every run were checked")

    monkeypatch.setattr(transfer, "plan", planned_too_early)  # every refusal comes before the first plan
    monkeypatch.chdir(tmp_path)
    args, status, named = BAD[case]
    paths = {"cells": runs["gradient"], "ppo": runs["ppo"], "mlp": mlp_run}
    try:
        code = cli.main(["transfer", "--runs", *(arg.format(**paths) for arg in args)])
    except SystemExit as stop:  # argparse's own refusals
        code = stop.code
    captured = capsys.readouterr()
    assert code == status and captured.out == ""
    assert captured.err.splitlines()[-1].startswith(f"echelon transfer: error: {named.format(**paths)}"), captured.err
    assert "Traceback" not in captured.err
    assert len([line for line in captured.err.splitlines() if "error" in line]) == 1
    assert not list(tmp_path.iterdir())


def test_the_module_is_echelon_transfer(capsys):
    assert transfer.main(["--runs", "any", "--episodes", "3"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == ("echelon transfer: error: give at least one --scenario or "
                                                       "--products")
