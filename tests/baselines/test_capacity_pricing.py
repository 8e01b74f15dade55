"""Newsvendors sharing a storage capacity, priced by a Lagrange multiplier (Everett 1963; Fisher 1981)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from baselines._demand import expected_on_hand, expected_shortage
from baselines.lagrangian import capacitated_newsvendors
from baselines.single_node import newsvendor
from baselines.vectorized_newsvendor import NormalDemands, PoissonDemands, vectorized_newsvendor

NORMAL_ITEMS = [stats.norm(40, 10), stats.norm(15, 6), stats.norm(80, 12)]
POISSON_ITEMS = [stats.poisson(3), stats.poisson(6), stats.poisson(2.5)]
HOLDING, STOCKOUT, VOLUME = [1.0, 2.0, 0.5], [9.0, 12.0, 4.0], [1.0, 3.0, 2.0]


@pytest.mark.parametrize("items", [NORMAL_ITEMS, POISSON_ITEMS])
def test_non_binding_capacity_gives_plain_newsvendors(items):
    result = capacitated_newsvendors(items, HOLDING, STOCKOUT, VOLUME, capacity=1e6)
    plain = [newsvendor(d, h, p) for d, h, p in zip(items, HOLDING, STOCKOUT, strict=True)]
    assert result.multiplier == 0.0
    np.testing.assert_allclose(result.levels, [level for level, _ in plain], rtol=1e-12)
    assert result.cost == pytest.approx(sum(cost for _, cost in plain), rel=1e-12)
    assert result.dual_bound == pytest.approx(result.cost, rel=1e-12)


def test_binding_capacity_continuous_demand_hits_the_cap():
    free = capacitated_newsvendors(NORMAL_ITEMS, HOLDING, STOCKOUT, VOLUME, capacity=1e6)
    capacity = 0.4 * free.expected_volume
    result = capacitated_newsvendors(NORMAL_ITEMS, HOLDING, STOCKOUT, VOLUME, capacity)
    assert result.multiplier > 0
    assert result.expected_volume == pytest.approx(capacity, rel=1e-7)
    assert result.expected_volume <= capacity
    assert result.dual_bound <= result.cost
    assert result.cost - result.dual_bound < 1e-6 * result.cost  # strong duality for continuous demand
    # the levels are the newsvendor levels at the priced holding cost
    priced = [newsvendor(d, h + result.multiplier * v, p)[0]
              for d, h, p, v in zip(NORMAL_ITEMS, HOLDING, STOCKOUT, VOLUME, strict=True)]
    np.testing.assert_allclose(result.levels, priced, rtol=1e-10)


def test_binding_capacity_discrete_demand_is_the_smallest_feasible_price():
    capacity = 4.0
    result = capacitated_newsvendors(POISSON_ITEMS, HOLDING, STOCKOUT, VOLUME, capacity)
    assert result.expected_volume <= capacity
    demands = PoissonDemands([3, 6, 2.5])
    below = vectorized_newsvendor(demands, np.add(HOLDING, result.multiplier * (1 - 1e-6) * np.array(VOLUME)),
                                  STOCKOUT)
    assert np.dot(VOLUME, below.expected_on_hand) > capacity
    assert result.dual_bound <= result.cost


def _brute_force(demands, holding, stockout, volume, capacity, max_level=20):
    """Exact constrained optimum by enumerating every combination of integer levels."""
    levels = np.arange(max_level + 1)
    costs = [h * expected_on_hand(d, levels) + p * expected_shortage(d, levels)
             for d, h, p in zip(demands, holding, stockout, strict=True)]
    used = [v * expected_on_hand(d, levels) for d, v in zip(demands, volume, strict=True)]
    best = np.inf
    for combo in itertools.product(levels, repeat=len(demands)):
        if sum(u[s] for u, s in zip(used, combo, strict=True)) <= capacity * (1 + 1e-12):  # rounding slack
            best = min(best, sum(c[s] for c, s in zip(costs, combo, strict=True)))
    return best


@pytest.mark.parametrize("capacity", [0.5, 2.0, 4.0, 7.5])
def test_three_items_against_enumeration(capacity):
    result = capacitated_newsvendors(POISSON_ITEMS, HOLDING, STOCKOUT, VOLUME, capacity)
    optimum = _brute_force(POISSON_ITEMS, HOLDING, STOCKOUT, VOLUME, capacity)
    assert result.dual_bound <= optimum + 1e-9 <= result.cost + 2e-9
    assert result.cost - optimum <= result.gap + 1e-9


def test_general_discrete_items_against_enumeration():
    """Items that are neither normal nor Poisson go through the generic (per-item) path."""
    demands = [stats.binom(8, 0.5), stats.rv_discrete(values=([0, 2, 5], [0.3, 0.4, 0.3]))]
    result = capacitated_newsvendors(demands, [1.0, 1.0], [6.0, 8.0], [1.0, 1.5], 2.5)
    optimum = _brute_force(demands, [1.0, 1.0], [6.0, 8.0], [1.0, 1.5], 2.5, max_level=10)
    assert result.expected_volume <= 2.5
    assert result.dual_bound <= optimum + 1e-9 <= result.cost + 2e-9


@settings(max_examples=25, deadline=None)
@given(means=st.lists(st.floats(0.5, 6.0), min_size=2, max_size=2),
       volumes=st.lists(st.floats(0.2, 3.0), min_size=2, max_size=2),
       fraction=st.floats(0.05, 1.2))
def test_weak_duality_on_random_pairs(means, volumes, fraction):
    demands = [stats.poisson(m) for m in means]
    free = capacitated_newsvendors(demands, [1.0, 1.0], [5.0, 9.0], volumes, 1e9)
    capacity = max(fraction * free.expected_volume, 1e-3)
    result = capacitated_newsvendors(demands, [1.0, 1.0], [5.0, 9.0], volumes, capacity)
    optimum = _brute_force(demands, [1.0, 1.0], [5.0, 9.0], volumes, capacity, max_level=25)
    assert result.expected_volume <= capacity
    assert result.dual_bound <= optimum + 1e-9 <= result.cost + 2e-9


@settings(max_examples=30, deadline=None)
@given(mean=st.one_of(st.just(0.0), st.floats(0.01, 60.0)), sigma=st.floats(0.0, 20.0), holding=st.floats(0.05, 5.0),
       stockout=st.floats(0.05, 50.0))
def test_vectorized_newsvendor_matches_single_item(mean, sigma, holding, stockout):
    poisson = vectorized_newsvendor(PoissonDemands([mean]), holding, stockout)
    level = newsvendor(stats.poisson(mean), holding, stockout)[0] if mean > 0 else 0.0
    assert poisson.levels[0] == level
    assert poisson.expected_on_hand[0] == pytest.approx(float(expected_on_hand(stats.poisson(mean), level)),
                                                        abs=1e-9)
    normal = vectorized_newsvendor(NormalDemands([mean], [sigma]), holding, stockout)
    if sigma > 0:
        ref_level, ref_cost = newsvendor(stats.norm(mean, sigma), holding, stockout)
        assert normal.levels[0] == pytest.approx(ref_level, rel=1e-12)
        assert normal.expected_cost(holding, stockout)[0] == pytest.approx(ref_cost, rel=1e-9, abs=1e-12)
    else:
        assert normal.levels[0] == mean and normal.expected_on_hand[0] == normal.expected_shortage[0] == 0.0


@pytest.mark.parametrize("family", ["normal", "poisson"])
def test_ten_thousand_items_are_fast(family):
    rng = np.random.default_rng(3)
    n = 10_000
    mean = rng.uniform(1, 60, n)
    if family == "normal":
        demands = NormalDemands(mean, mean * rng.uniform(0.1, 0.5, n))
    else:
        demands = PoissonDemands(mean)
    holding, stockout, volume = rng.uniform(0.5, 2, n), rng.uniform(5, 30, n), rng.uniform(0.2, 4, n)
    free = capacitated_newsvendors(demands, holding, stockout, volume, 1e12)
    result = capacitated_newsvendors(demands, holding, stockout, volume, 0.5 * free.expected_volume)
    assert result.expected_volume <= 0.5 * free.expected_volume
    assert result.dual_bound <= result.cost


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"holding_costs": [1.0, 1.0]}, "holding_costs"),
    ({"holding_costs": [1.0, -1.0, 1.0]}, "holding_costs"),
    ({"stockout_costs": [9.0, 0.0, 4.0]}, "stockout_costs"),
    ({"volumes": [1.0, -3.0, 2.0]}, "volumes"),
    ({"volumes": [[1.0, 3.0, 2.0]]}, "volumes"),
    ({"capacity": 0.0}, "capacity"),
    ({"capacity": -5.0}, "capacity"),
    ({"demands": []}, "demands"),
])
def test_bad_input(kwargs, name):
    args = {"demands": POISSON_ITEMS, "holding_costs": HOLDING, "stockout_costs": STOCKOUT, "volumes": VOLUME,
            "capacity": 4.0} | kwargs
    with pytest.raises(ValueError, match=name):
        capacitated_newsvendors(**args)
