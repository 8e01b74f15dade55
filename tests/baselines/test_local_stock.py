"""The planner's storage model (baselines.local_stock) and what it rests on: stream shares, pooled variances,
the soft-cap overflow term of the pricing."""

import numpy as np
import pytest

from baselines.capacity_prices import OverflowCost
from baselines.demand_allocation import allocate_demand, stream_variance
from baselines.local_stock import local_stock, pipeline_variance_factor
from baselines.network_model import network_model
from baselines.planner import plan
from baselines.product_shard import policy_levels
from envs.noise import sample_noise
from envs.params import compile_scenario
from envs.scenario import get_scenario


@pytest.fixture(scope="module")
def network():
    return network_model(compile_scenario(get_scenario("network")))


def test_shares_reproduce_the_allocated_means_and_the_fallback_depth(network):
    q_first = np.full((network.num_nodes, network.num_products), 0.3)
    q_backup = np.full_like(q_first, 0.6)
    full = allocate_demand(network, q_first, q_backup)
    assert np.allclose((full.share * network.stream_mean).sum((1, 2)), full.mean)
    assert np.allclose((full.fallback_share * network.stream_mean).sum((1, 2)), full.fallback)
    assert np.allclose(full.pair.sum(0), full.fallback)
    first_backup = allocate_demand(network, q_first, q_backup, fallback_depth=1)
    assert np.allclose((first_backup.share * network.stream_mean).sum((1, 2)), first_backup.mean)
    assert first_backup.fallback.sum() < full.fallback.sum()
    second = {(group[0][0], group[1][0]) for by_late in network.params.serving for lists in by_late
              for group in lists if len(group) > 1}
    pairs = {(int(k), int(m)) for k, m in zip(*np.nonzero(first_backup.pair.any(axis=2)), strict=True)}
    assert pairs <= second  # only a list's second node serves backup demand, right after its first
    # backups that never serve leave the whole first-choice failure unmet
    hopeless = allocate_demand(network, q_first, np.ones_like(q_first), fallback_depth=1)
    assert hopeless.lost.sum() > first_backup.lost.sum()


def test_pooled_stream_variance_matches_the_simulators_demand(network):
    """Total demand per product (every stream whole): the mixture copula's rank correlation taken as linear
    correlation reproduces the simulated per-period variance, erring high (by up to ~20% for slow movers,
    whose small integer counts tie, which lowers their linear correlation)."""
    params = compile_scenario(get_scenario("network"))
    demand = sample_noise(np.random.default_rng(0), params, 0, 20_000).demand.sum((1, 2))
    whole = np.ones_like(network.stream_mean)
    modelled, simulated = stream_variance(network, whole), demand.var(0)
    np.testing.assert_allclose(network.stream_mean.sum((0, 1)), demand.mean(0), rtol=0.03)
    assert np.all(modelled >= 0.97 * simulated) and np.all(modelled <= 1.25 * simulated)
    fast = network.stream_mean.sum((0, 1)) > 10
    # 8%: the model's own excess on fast movers (about 4-6%) plus the sampling error of a variance estimated
    # from 20,000 heavy-tailed periods (about 1-2%), which moves with the random stream.
    np.testing.assert_allclose(modelled[fast], simulated[fast], rtol=0.08)
    assert np.allclose(stream_variance(network, whole, whole), modelled)  # no thinning noise when whole


def test_pipeline_variance_of_independent_lead_times(network):
    """Orders cross under independent lead times: Var(#outstanding) = sum_k P(L > k)(1 - P(L > k))."""
    factor = pipeline_variance_factor(network)
    assert factor[0] == pytest.approx(0.8 * 0.2 + 0.35 * 0.65 + 0.1 * 0.9)  # dc: L in 3..6 w.p. .2 .45 .25 .1
    assert factor[1] == pytest.approx(0.15 * 0.85)  # fulfillment centers: L = 1 or 2
    assert factor[-1] == 0.0  # same-day sites: L = 1


def test_storage_model_on_the_serial_system_is_close_to_the_exact_on_hand():
    """Serial-v1 (backorders, Poisson): the storage model's on-hand per stage is within 10% of the exact
    Clark-Scarf value of the tree recursion (normal approximation of small Poisson counts)."""
    serial = plan("serial")
    model = network_model(serial.params)
    stock = local_stock(model, policy_levels(serial.echelon_levels))
    np.testing.assert_allclose(stock.storage_use, serial.storage_use, rtol=0.10)
    stage3, stage2, stage1 = serial.echelon_levels[:, 0]
    assert np.all(model.tree.local_levels(serial.echelon_levels)[:, 0] == [stage3 - stage2, stage2 - stage1, stage1])


def test_storage_model_flows_are_consistent(network):
    levels = policy_levels(plan("network").echelon_levels)
    stock = local_stock(network, levels)
    # what a node sells is at most what it is asked; its inflow is its subtree's sales
    allocation = stock.allocation
    assert np.all(stock.sales <= allocation.mean + allocation.fallback + 1e-9)
    inflow = stock.sales.copy()
    for n in network.tree.postorder():
        for c in network.tree.children[n]:
            inflow[n] += inflow[c]
    np.testing.assert_allclose(stock.flow, inflow)
    assert np.all((stock.on_hand >= 0) & (stock.first_stockout <= 1) & (stock.fallback_stockout <= 1))
    assert np.all(stock.on_hand[levels == 0] == 0)
    # a warm start from the fixed point stays there
    again = local_stock(network, levels, start=stock)
    np.testing.assert_allclose(again.storage_use, stock.storage_use, rtol=1e-3)


def test_overflow_conjugate_is_the_fenchel_minimum():
    """min_{w <= cap} [c E(V_w - cap)^+ + lambda (cap - w)], V_w ~ N(w, sd^2), by brute force."""
    overflow = OverflowCost(np.array([0.0, 0.5, 1.0]), np.array([1.0, 10.0, 3.0]))
    capacity = np.array([np.inf, 60.0, 20.0])
    grid = np.linspace(-150.0, 0.0, 30_001)
    for price in ([0.0, 0.1, 0.2], [0.0, 0.3, 0.6], [0.0, 0.0, 0.0]):
        price = np.array(price)
        brute = 0.0
        for n in (1, 2):
            use = np.zeros((grid.size, 3))
            use[:, n] = capacity[n] + grid
            values = np.array([overflow.expected(u, capacity)[n] for u in use]) - price[n] * grid
            brute += values.min()
        assert overflow.conjugate(price, capacity) == pytest.approx(brute, abs=1e-4)
    # the marginal cost is c P(V > cap); the target use has marginal cost equal to the price (below c / 2)
    target = overflow.target(np.array([0.0, 0.1, 0.6]), capacity)
    marginal = overflow.marginal(target, capacity)
    assert marginal[1] == pytest.approx(0.1) and target[2] == capacity[2] and np.isinf(target[0])
