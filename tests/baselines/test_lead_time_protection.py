"""Random lead times: the exact protection-interval demand of both lead-time modes, and the planner that uses it,
against the simulator (Poisson demand, backorders)."""

import numpy as np
import pytest
from lead_time_cases import chain_scenario, paired_costs
from scipy import stats

from baselines.episodes import batch_noise, sample_episodes
from baselines.evaluation import paired_difference
from baselines.lead_time_demand import lead_time_demand, protection_demand
from baselines.planner import exact_recursion_applies, plan
from baselines.policies import EchelonBaseStockPolicy
from envs.actions import decode_action
from envs.dynamics import transition
from envs.observation import observe
from envs.params import compile_scenario
from envs.scenario import LeadTime

CROSSING = LeadTime((1, 3, 4), (0.5, 0.3, 0.2))
UPSTREAM = LeadTime((1, 2, 4), (0.4, 0.3, 0.3))
MODES = ("independent", "sequential")


def _pmf(demand, size):
    return np.asarray(demand.pmf(np.arange(size)), dtype=float)


def _total_variation(first, second):
    return 0.5 * float(np.abs(first - second).sum())


@pytest.mark.parametrize("mode", MODES)
def test_deterministic_lead_time_gives_l_plus_one_periods(mode):
    x = np.arange(60)
    for lead_time in (1, 3):
        covered = protection_demand(stats.poisson(2.5), {lead_time: 1.0}, mode)
        upstream = protection_demand(stats.poisson(2.5), {lead_time: 1.0}, mode, review_period=False)
        np.testing.assert_allclose(covered.pmf(x), stats.poisson.pmf(x, 2.5 * (lead_time + 1)), atol=1e-12)
        np.testing.assert_allclose(upstream.pmf(x), stats.poisson.pmf(x, 2.5 * lead_time), atol=1e-12)


def test_independent_lead_times_count_outstanding_orders_not_lead_time_periods():
    """V sums demand over 1 + K periods, K = sum_k Bernoulli(P(L > k)): mean E[L] mu, variance
    E[L] sigma^2 + mu^2 sum_k P(L > k)(1 - P(L > k)) (not mu^2 Var[L], the mixture's)."""
    per_period = stats.nbinom(3, 0.4)
    demand = protection_demand(per_period, CROSSING.pmf, "independent", review_period=False)
    tails = np.array([0.5, 0.5, 0.2])  # P(L > 1), P(L > 2), P(L > 3)
    mu, var = per_period.mean(), per_period.var()
    assert demand.mean() == pytest.approx(CROSSING.mean * mu, rel=1e-9)
    assert demand.var() == pytest.approx(CROSSING.mean * var + mu**2 * np.sum(tails * (1 - tails)), rel=1e-8)


def _stationary_sequential_without_zero_orders(pmf):
    """The theory notes' law for sequential lead times, which lets a zero order delay later ones: outstanding
    orders K with P(K <= k) = P(E <= k), P(E <= k) = prod_j P(L <= k + j)."""
    longest = max(pmf)

    def below(k):
        return np.prod([sum(q for lead, q in pmf.items() if lead <= k + j) for j in range(longest)])

    return {k + 1: below(k) - below(k - 1) for k in range(1, longest + 1) if below(k) > below(k - 1)}


def test_sequential_without_zero_orders_is_the_stationary_law_of_the_effective_lead_time():
    """Demand that is never 0 (1 + Poisson): every order moves ``last_due``, and the recursion gives the closed form."""
    per_period = stats.poisson(0.5, loc=1)
    exact = protection_demand(per_period, CROSSING.pmf, "sequential")
    closed = lead_time_demand(per_period, _stationary_sequential_without_zero_orders(CROSSING.pmf))
    np.testing.assert_allclose(exact.pmf(np.arange(40)), closed.pmf(np.arange(40)), atol=1e-12)


@pytest.mark.parametrize("rate", [2.0, 0.5])
@pytest.mark.parametrize("mode", MODES)
def test_protection_demand_is_the_simulated_end_of_period_shortfall(mode, rate):
    """Under base stock S at a node supplied by a vendor, S minus the end-of-period net inventory has the law of
    protection_demand (small empirical total variation distance); the mixture over the declared pmf does not,
    and with many zero orders (rate 0.5) neither does the sequential law that ignores that zero orders leave the
    env's ``last_due`` alone."""
    params = compile_scenario(chain_scenario(mode, [CROSSING], [1.0], rate, 9.0))
    level = float(params.max_level[0, 0])
    policy = EchelonBaseStockPolicy(np.array([[level]]), params)
    starts, noises = sample_episodes(params, range(64), 430)
    state, shortfall = starts, []
    for t in range(430):
        state, _ = transition(state, decode_action(policy(observe(state, params)), state, params, "order_up_to"),
                              batch_noise(noises, t), params)
        if t >= 30:
            shortfall.append(level - state.on_hand[:, 0, 0] + state.backlog[:, 0, 0, 0])
    assert policy.clip_rate == 0.0
    size = int(level) + 30  # shortfalls beyond the level are backorders
    empirical = np.bincount(np.concatenate(shortfall).astype(int), minlength=size)[:size] / (64 * 400)
    exact = _pmf(protection_demand(stats.poisson(rate), CROSSING.pmf, mode), size)
    mixture = _pmf(lead_time_demand(stats.poisson(rate), {lead + 1: q for lead, q in CROSSING.pmf.items()}), size)
    print(f"\n{mode}, Poisson({rate}): TV to exact {_total_variation(empirical, exact):.4f}, "
          f"to the mixture {_total_variation(empirical, mixture):.4f}")
    assert exact.sum() > 1 - 1e-9
    assert _total_variation(empirical, exact) < 0.02
    assert _total_variation(exact, mixture) > 0.025
    if mode == "sequential" and rate < 1:
        without = _stationary_sequential_without_zero_orders(CROSSING.pmf)
        other = _pmf(lead_time_demand(stats.poisson(rate), {k + 1: q for k, q in without.items()}), size)
        assert _total_variation(exact, other) > 0.025


CHAINS = {"single node": ([CROSSING], [1.0], 2.0, 9.0),
          "two stages": ([UPSTREAM, LeadTime.fixed(1)], [1.0, 2.0], 3.0, 19.0)}


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("mode", MODES)
def test_planner_cost_and_levels_against_paired_simulation(mode, chain):
    """The plan (exact tree recursion: Clark-Scarf with the exact protection demands) predicts its simulated
    cost within the 95% CI, and moving any node's level by one unit is not cheaper (paired, same episodes)."""
    scenario = chain_scenario(mode, *CHAINS[chain])
    planned = plan(scenario)
    assert planned.method == "tree recursion"
    levels = planned.echelon_levels
    neighbours = []
    for n in range(levels.shape[0]):
        for step in (-1, 1):
            moved = levels.copy()
            moved[n] += step
            neighbours.append(moved)
    base, *others = paired_costs(planned.params, [levels, *neighbours], episodes=128, periods=400, burn_in=30)
    print(f"\n{mode}, {chain}: levels {levels.ravel()}, analytic {planned.cost:.4f}, simulated {base}")
    assert base.low <= planned.cost <= base.high
    for moved, cost in zip(neighbours, others):
        difference = paired_difference(cost, base)
        print(f"  levels {moved.ravel()}: paired difference {difference}")
        assert difference.high > 0


def test_random_lead_time_behind_a_stocking_supplier_is_not_called_exact():
    """A random lead time into a node supplied by a stocking node has no exact decomposition: the planner uses
    its approximate engine there, and its exact one when the random lead time is the vendor's."""
    behind_scenario = chain_scenario("sequential", [LeadTime.fixed(2), CROSSING], [1.0, 2.0], 3.0, 19.0)
    vendor_scenario = chain_scenario("sequential", [CROSSING, LeadTime.fixed(2)], [1.0, 2.0], 3.0, 19.0)
    behind, vendor = compile_scenario(behind_scenario), compile_scenario(vendor_scenario)
    assert not exact_recursion_applies(behind)
    assert plan(behind_scenario).method == "echelon newsvendor"
    assert exact_recursion_applies(vendor)
