"""Product-shared policies run on scenarios they were not trained on, paired against each scenario's own plan.

A run trained with ``network: cells`` (PPO or the gradient agent, residual on the plan) has weights that fit any
scenario (:mod:`agents.cell_network`). Here its policy is rebuilt on a target scenario, around that scenario's own
analytic plan, and evaluated with the plan on the same episodes (common random numbers, seeds ``--seed`` on, the
scenario's warm-up, ``--periods`` each); each run gives a paired gap to the plan and the runs together the
statistics across training seeds of :mod:`experiments.seed_statistics`.

    echelon transfer --runs RUN [RUN ...] --scenario network-large --products 2000
    python -m experiments.transfer --runs RUN [RUN ...] --scenario network-large --products 2000   # the same

``--scenario`` takes registered names or YAML files; ``--products N`` adds a generated network of N products
(the generator of the registered networks, 4 fulfillment centers, 2 same-day sites, 6 regions). The module's
entry point runs the ``echelon transfer`` command (:mod:`experiments.cli`, which holds the options).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np

from agents.cell_policy import CellActorCriticPolicy, rebind
from agents.gradient_policies import GradientNumpyPolicy, build_policy
from baselines.evaluation import Policy
from baselines.planner import plan
from envs.params import EnvParams
from envs.scenario import Scenario, network_scenario, resolve_scenario
from experiments.compare import check_one_configuration
from experiments.conventions import DEFAULT_EPISODES, DEFAULT_EVAL_SEED, DEFAULT_TRANSFER_PERIODS
from experiments.evaluate import scenario_episodes
from experiments.loading import LoadedRun, ModelPolicy, load_run
from experiments.residual_plan import residual_policy
from experiments.runs import RunError
from experiments.seed_statistics import across_seeds, format_interval, format_probability, run_gap


def transferred_policy(loaded: LoadedRun, params: EnvParams, echelon_levels: np.ndarray) -> Policy:
    """The policy of a product-shared run rebuilt on another scenario (its ``params`` and plan levels)."""
    _check_product_shared(loaded)
    config = loaded.config
    if config["algo"] == "gradient":
        module = build_policy(params, "residual", config["hidden"], echelon_levels,
                              float(config["max_log_multiplier"]), "cells")
        module.net.load_state_dict(loaded.policy.module.net.state_dict())  # the weights alone (agents.cell_network)
        return GradientNumpyPolicy(module, params)
    model = loaded.policy.model
    policy = rebind(model.policy, params, echelon_levels)  # predicts like the model (SB3's BasePolicy.predict)
    return ModelPolicy(policy, None, loaded.policy.action_mode, residual_policy(config, echelon_levels, params))


def _check_product_shared(loaded: LoadedRun) -> None:
    """Refuse a run whose weights fit one scenario only."""
    config = loaded.config
    if config.get("network") != "cells":
        raise RunError(f"{loaded.run.path} was trained with network {config.get('network', 'mlp')!r}, whose weights "
                       "fit one scenario only; only runs with network 'cells' run on other scenarios")
    if config["algo"] != "gradient" and not isinstance(loaded.policy.model.policy, CellActorCriticPolicy):
        raise RunError(f"{loaded.model_path} does not hold a product-shared policy")


def target_scenarios(names: list[str], products: list[int], generator_seed: int) -> list[Scenario]:
    """Registered names or YAML files, then generated networks of the given sizes."""
    scenarios = [resolve_scenario(name) for name in names]
    return scenarios + [network_scenario(f"network-{count}", num_products=count, seed=generator_seed)
                        for count in products]


def transfer(run_dirs: list[str], scenarios: list[Scenario], episodes: int = DEFAULT_EPISODES,
             seed: int = DEFAULT_EVAL_SEED, periods: int = DEFAULT_TRANSFER_PERIODS, num_envs: int | None = None,
             progress: bool | None = None) -> list[dict[str, Any]]:
    """Per target scenario: the plan's cost and every run's paired gap to it, with the statistics across seeds."""
    runs = [load_run(path) for path in run_dirs]
    for loaded in runs:  # every run refused before the first plan, not after it
        _check_product_shared(loaded)
    check_one_configuration(runs)  # the statistics across seeds are those of one configuration
    results = []
    for scenario in scenarios:
        start = time.perf_counter()
        planned = plan(scenario)
        params = planned.params
        base = scenario_episodes(planned.policy(), scenario, scenario.name, episodes, seed, num_envs, periods,
                                 progress)
        gaps = []
        for loaded in runs:
            policy = transferred_policy(loaded, params, planned.echelon_levels)
            outcome = scenario_episodes(policy, scenario, scenario.name, episodes, seed, num_envs, periods, progress)
            gaps.append(run_gap(int(loaded.config["seed"]), scenario.name, outcome.cost, base.cost))
        stats = across_seeds(gaps)
        results.append({
            "scenario": scenario.name, "nodes": params.num_nodes, "products": params.num_products,
            "episodes": episodes, "periods": periods, "seed": seed, "plan_cost": base.cost.mean,
            "plan_ci95": base.cost.half_width, "runs": [gap.record() | {"run": str(loaded.run.path)}
                                                         for gap, loaded in zip(gaps, runs, strict=True)],
            "across_seeds": stats.summary(), "seconds": round(time.perf_counter() - start, 1)})
        print(describe(results[-1], stats), flush=True)
    return results


def describe(result: dict[str, Any], stats) -> str:
    count = len(result["runs"])
    lines = [f"{result['scenario']} ({result['nodes']} stocking nodes x {result['products']} products), "
             f"{result['episodes']} episodes x {result['periods']} periods: plan {result['plan_cost']:.2f} "
             f"± {result['plan_ci95']:.2f} per period ({result['seconds']:.0f} s)",
             f"  gap to the plan across {count} run{'s' * (count != 1)}: mean {format_interval(stats.mean, unit='%')}, "
             f"IQM {format_interval(stats.iqm, unit='%')}, P(run beats plan) {format_probability(stats.improvement)}"]
    lines += [f"  seed {run['seed']}: {run['gap_pct']:+.2f}% ± {run['gap_pct_ci95']:.2f} "
              f"({run['gap']:+.2f} ± {run['gap_ci95']:.2f} per period)" for run in result["runs"]]
    return "\n".join(lines)


def transfer_json(run_dirs: list[str], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The content of the ``--output`` file: the run folders and :func:`transfer`'s results."""
    return {"runs": list(run_dirs), "results": json.loads(json.dumps(results, default=float))}


def main(argv: list[str] | None = None) -> int:
    """``python -m experiments.transfer``: the same as ``echelon transfer`` (options, messages, exit status)."""
    from experiments import cli  # imported here: the command imports this module when it runs

    return cli.main(["transfer", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
