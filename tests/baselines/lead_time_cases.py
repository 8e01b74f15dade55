"""Single-node and two-stage backorder scenarios with random lead times, and paired simulations of base-stock levels.

Every level set is simulated on the same episodes (common random numbers) through the reference transition; an
episode's cost is its mean cost per period after a burn-in under the policy.
"""

from __future__ import annotations

import numpy as np

from baselines.episodes import batch_noise, sample_episodes
from baselines.evaluation import Estimate, estimate
from baselines.policies import EchelonBaseStockPolicy
from envs.actions import decode_action
from envs.dynamics import transition
from envs.observation import observe
from envs.params import EnvParams
from envs.scenario import LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed


def chain_scenario(mode: str, lead_times: list[LeadTime], holding_factors: list[float], rate: float,
                   penalty: float) -> Scenario:
    """vendor -> stage k -> ... -> stage 1 (serves one market, transit 0), Poisson(``rate``), backorders.
    ``lead_times`` and ``holding_factors`` from the top stage down (product holding cost 1)."""
    names = [f"stage{len(lead_times) - i}" for i in range(len(lead_times))]
    nodes = [Node("vendor", "vendor")]
    for i, (name, lead_time, factor) in enumerate(zip(names, lead_times, holding_factors)):
        kind = "fulfillment_center" if i == len(names) - 1 else "distribution_center"
        nodes.append(Node(name, kind, supplier=nodes[-1].name, lead_time=lead_time, holding_cost_factor=factor))
    return Scenario(
        name=f"chain-{mode}",
        nodes=tuple(nodes),
        products=(Product("item", rate),),
        regions=(Region("market", 1.0, (ServiceLink(names[-1], 0),)),),
        speeds=(Speed("standard", 0, penalty),),
        unmet_demand="backorders",
        lead_time_mode=mode,
        warmup_periods=0,
    )


def paired_costs(params: EnvParams, level_sets: list[np.ndarray], episodes: int, periods: int,
                 burn_in: int, seed: int = 0) -> list[Estimate]:
    """Mean cost per period (95% CI over episodes) of each echelon level set (N, P), all on the same episodes."""
    starts, noises = sample_episodes(params, range(seed, seed + episodes), burn_in + periods)
    results = []
    for levels in level_sets:
        policy = EchelonBaseStockPolicy(levels, params)
        state, total = starts, np.zeros(episodes)
        for t in range(burn_in + periods):
            orders = decode_action(policy(observe(state, params)), state, params, policy.action_mode)
            state, outcome = transition(state, orders, batch_noise(noises, t), params)
            if t >= burn_in:
                total += outcome.total_cost
        assert policy.clip_rate == 0.0  # the env's action range never truncates the levels
        results.append(estimate(total / periods))
    return results
