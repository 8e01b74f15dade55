"""Building blocks of the planner: tree recursion, echelon demand, allocation, pricing, policies, evaluation."""


import numpy as np
import pytest
from scipy import stats

from baselines.capacity_prices import pricing_problem, search_prices
from baselines.demand_allocation import allocate_demand, protection_periods
from baselines.echelon_demand import echelon_demand
from baselines.echelon_position import read_stock
from baselines.evaluation import estimate, evaluate, paired_difference
from baselines.network_model import network_model
from baselines.planner import plan
from baselines.policies import ConstantOrderPolicy, EchelonBaseStockPolicy, LocalBaseStockPolicy
from baselines.product_sums import combine
from baselines.serial import clark_scarf
from baselines.shard_executor import LocalExecutor, shard_models
from baselines.tree_recursion import TreeNode, tree_recursion
from envs.params import compile_scenario
from envs.scenario import get_scenario
from envs.scenario.generate import network_scenario
from envs.vector import EchelonVectorEnv


def test_tree_recursion_on_a_chain_is_clark_scarf_minus_one_period_of_upstream_holding():
    """Same levels as the exact serial recursion; the cost differs by h_j mu for upstream stages because
    the env charges holding on the end-of-period state."""
    demands = [stats.poisson(10), stats.poisson(5), stats.poisson(10)]
    reference = clark_scarf([3, 2, 2], 37.12, demands)
    chain = [TreeNode(-1, 2.0, demands[2], 5.0), TreeNode(0, 4.0, demands[1], 5.0),
             TreeNode(1, 7.0, demands[0], 5.0, 37.12)]
    solution = tree_recursion(chain)
    assert solution.echelon_levels[::-1].tolist() == list(reference.echelon_levels)
    assert solution.cost == pytest.approx(reference.cost - (2 + 2) * 5.0, abs=1e-9)


def test_balance_allocation_is_a_lower_bound_that_grows_with_asymmetry():
    """Two children: with identical children the split is even; the relaxation's cost is below the cost of
    the same levels evaluated without the parent (children served at once)."""
    top = TreeNode(-1, 1.0, stats.poisson(16), 8.0)
    children = [TreeNode(0, 1.5, stats.poisson(8), 4.0, 19.0) for _ in range(2)]
    solution = tree_recursion([top, *children])
    assert solution.echelon_levels[1] == solution.echelon_levels[2]
    assert solution.echelon_levels[0] > solution.echelon_levels[1:].sum()


def test_echelon_demand_matches_eppen_schrage_for_identical_children():
    """sigma_e = sigma sqrt(L0 / N + L + 1) per child for N identical children of a stockless node."""
    params = compile_scenario(get_scenario("owmr"))
    model = network_model(params)
    demand = echelon_demand(model, allocate_demand(model))
    sigma, n, l0, lead = 2.0, 5, 2, 1  # Poisson(4) per retailer
    assert demand.std[1, 0] == pytest.approx(sigma * np.sqrt(lead + 1))
    assert demand.std[0, 0] == pytest.approx(n * sigma * np.sqrt(l0 / n + lead + 1))
    assert demand.mean[0, 0] == pytest.approx(20 * l0 + 5 * 4 * (lead + 1))


def test_allocation_conserves_demand_and_spills_as_the_simulator():
    params = compile_scenario(get_scenario("network"))
    model = network_model(params)
    nobody_out = allocate_demand(model)
    # what no node can serve (same-day orders of regions without a same-day site) spills or is lost
    assert nobody_out.mean.sum() + nobody_out.lost.sum() == pytest.approx(model.stream_mean.sum())
    assert np.all(nobody_out.fallback == 0)
    everybody_out = allocate_demand(model, np.ones((model.num_nodes, model.num_products)))
    # every node out of stock: spilled orders fail again at the slower speed, so all demand is lost
    assert everybody_out.lost.sum() == pytest.approx(model.stream_mean.sum())
    assert everybody_out.fallback.sum() > 0
    assert protection_periods(2, 0) == 3 and protection_periods(1, 3) == 0


def test_capacity_prices_fit_caps_and_bound_the_model_optimum():
    """The planner's price search on one allocation round (its products in one local shard)."""
    params = compile_scenario(network_scenario(num_products=40, storage_tightness=0.5, seed=3))
    shards = LocalExecutor(shard_models(params, 1))
    catalog, round_totals = shards.map("catalog"), shards.map("allocate")
    storage_capacity = np.asarray(params.storage_capacity, dtype=float)
    holding, volume = combine([part.holding for part in catalog]), float(combine([part.volume for part in catalog]))
    problem = pricing_problem(storage_capacity, np.asarray(params.inbound_capacity, dtype=float), holding, volume,
                              params.num_products, round_totals, lambda lam, pi: shards.map("solve", lam, pi))
    result = search_prices(problem)
    capped = np.isfinite(storage_capacity)
    assert capped.any() and np.any(result.storage_price > 0)  # the caps bind: the search has work to do
    assert np.all(result.totals.storage_use[capped] <= storage_capacity[capped] * (1 + 1e-6))
    unconstrained = problem.solve(np.zeros(params.num_nodes), np.zeros(params.num_nodes))
    assert np.any(unconstrained.storage_use[capped] > storage_capacity[capped])
    assert unconstrained.dual_value <= result.dual_bound <= result.totals.cost
    assert result.totals.cost >= unconstrained.cost
    finite = [step.dual_value for step in result.history if np.isfinite(step.dual_value)]
    assert max(finite) == pytest.approx(result.dual_bound)


def test_plan_handles_a_large_catalog():
    """Speed is measured by ``python -m experiments.plan_speed`` (BENCHMARKS.md), not asserted here."""
    scenario = network_scenario(num_products=3000, num_fulfillment_centers=8, num_same_day_sites=3,
                                num_regions=10, seed=1)
    result = plan(scenario)
    assert result.echelon_levels.shape == (12, 3000)
    assert np.all(np.isfinite(result.echelon_levels)) and np.all(result.echelon_levels >= 0)
    assert result.dual_bound <= result.cost + 1e-9


def test_echelon_policy_reads_stock_from_observations_only():
    params = compile_scenario(get_scenario("serial"))
    env = EchelonVectorEnv(4, "serial")
    observations, _ = env.reset(seed=1)
    stock = read_stock(observations, params)
    assert np.all(stock.on_hand >= 0) and np.all(stock.on_hand == np.rint(stock.on_hand))
    policy = EchelonBaseStockPolicy(np.array([[31.0], [20.0], [15.0]]), params)
    levels = policy.levels(observations)
    own = stock.installation_stock
    # stage1 (bottom): the echelon level is the local level; stage3: S minus everything downstream
    assert np.allclose(levels[:, 2, 0], 15.0 + stock.backlog[:, 0, 0] * 0)
    assert np.allclose(levels[:, 0, 0], 31.0 - own[:, 1, 0] - own[:, 2, 0] + stock.backlog[:, 0, 0])
    assert policy(observations).shape == (4, 3)


def test_evaluation_uses_common_random_numbers():
    params = compile_scenario(get_scenario("serial"))
    policy = LocalBaseStockPolicy(np.array([[11.0], [5.0], [15.0]]), params)
    first = evaluate(policy, "echelon/Serial-v1", num_envs=8, periods=30, seed=3, warmup=5)
    second = evaluate(policy, "serial", num_envs=8, periods=30, seed=3, warmup=5)
    assert np.array_equal(first.cost.replicas, second.cost.replicas)
    assert paired_difference(first, second).half_width == 0.0
    assert estimate(np.array([1.0, 3.0])).mean == 2.0


def test_constant_order_policy_orders_the_mean_on_average():
    params = compile_scenario(get_scenario("network"))
    policy = ConstantOrderPolicy(np.full((params.num_nodes, params.num_products), 0.25), params)
    env = EchelonVectorEnv(1, "network", action_mode="quantity")
    observations, _ = env.reset(seed=0)
    total = 0.0
    for _ in range(40):
        action = policy(observations)
        total += np.rint((action + 1) / 2 * params.max_order.reshape(-1)).sum()
    assert total == pytest.approx(0.25 * 40 * params.num_nodes * params.num_products)

