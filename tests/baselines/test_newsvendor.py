"""Newsvendor against Snyder & Shen, Fundamentals of Supply Chain Theory (2nd ed., 2019), Chapter 4."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from baselines.single_node import newsvendor, newsvendor_cost


def test_snyder_shen_example_4_3_normal():
    """Example 4.3: h = 0.18, p = 0.70, D ~ N(50, 8^2) -> S* = 56.6040, g(S*) = 1.99761."""
    level, cost = newsvendor(stats.norm(50, 8), holding_cost=0.18, stockout_cost=0.70)
    assert level == pytest.approx(56.6040, abs=5e-5)
    assert cost == pytest.approx(1.99761, abs=5e-6)


def test_snyder_shen_example_4_7_poisson():
    """Example 4.7: h = 1, p = 4, D ~ Poisson(6) -> S* = 8, g(S*) = 3.57011."""
    level, cost = newsvendor(stats.poisson(6), holding_cost=1, stockout_cost=4)
    assert level == 8
    assert cost == pytest.approx(3.57011, abs=5e-6)


def test_normal_cost_matches_closed_form():
    """g(S*) = (h + p) sigma phi(z*) for normal demand (Snyder & Shen 2019, Sec. 4.3)."""
    h, p, sigma = 2.0, 7.0, 3.5
    _, cost = newsvendor(stats.norm(20, sigma), h, p)
    z = stats.norm.ppf(p / (p + h))
    assert cost == pytest.approx((h + p) * sigma * stats.norm.pdf(z), rel=1e-12)


def test_general_continuous_demand_uses_quadrature():
    demand, h, p = stats.gamma(2.5, scale=3.0), 1.5, 6.0
    level, cost = newsvendor(demand, h, p)
    assert level == pytest.approx(demand.ppf(p / (p + h)), rel=1e-12)
    direct = demand.expect(lambda x: h * np.maximum(level - x, 0) + p * np.maximum(x - level, 0))
    assert cost == pytest.approx(direct, rel=1e-7)


@settings(max_examples=40, deadline=None)
@given(mean=st.floats(0.5, 40), holding=st.floats(0.1, 5), low=st.floats(0.1, 20), extra=st.floats(0.01, 20))
def test_poisson_level_is_optimal_and_monotone_in_stockout_cost(mean, holding, low, extra):
    demand = stats.poisson(mean)
    level, cost = newsvendor(demand, holding, low)
    higher_level, _ = newsvendor(demand, holding, low + extra)
    assert higher_level >= level
    for neighbour in (level - 1, level + 1):
        if neighbour >= 0:
            assert newsvendor_cost(demand, neighbour, holding, low) >= cost - 1e-12


@settings(max_examples=40, deadline=None)
@given(sigma=st.floats(0.1, 30), holding=st.floats(0.1, 5), low=st.floats(0.1, 20), extra=st.floats(0.01, 20))
def test_normal_level_monotone_in_stockout_cost(sigma, holding, low, extra):
    demand = stats.norm(100, sigma)
    assert newsvendor(demand, holding, low + extra)[0] >= newsvendor(demand, holding, low)[0]


@pytest.mark.parametrize(("holding", "stockout", "name"),
                         [(-1, 4, "holding_cost"), (0, 4, "holding_cost"), (1, -4, "stockout_cost"),
                          (1, float("nan"), "stockout_cost")])
def test_bad_costs_are_rejected(holding, stockout, name):
    with pytest.raises(ValueError, match=name):
        newsvendor(stats.poisson(6), holding, stockout)
