"""Exact serial-system recursion (Clark & Scarf 1960; Chen & Zheng 1994) against published instances."""


import numpy as np
import pytest
from scipy import stats

import baselines.serial as serial
from baselines.serial import clark_scarf
from baselines.single_node import newsvendor


def test_snyder_shen_example_6_1():
    """Snyder & Shen (2019), Example 6.1: echelon h = (3, 2, 2), p = 37.12, N(5, 1) demand per period,
    L = (1, 1, 2), so the stage lead-time demands are N(5, 1), N(5, 1), N(10, 2).
    Published: S* = (6.49, 12.02, 22.71), C* = 47.66."""
    result = clark_scarf([3, 2, 2], 37.12, [stats.norm(5, 1), stats.norm(5, 1), stats.norm(10, np.sqrt(2))])
    assert np.round(result.echelon_levels, 2).tolist() == [6.49, 12.02, 22.71]
    assert round(result.cost, 2) == 47.66
    assert result.local_levels == pytest.approx(np.diff(result.echelon_levels, prepend=0.0))


SHANG_SONG_DEMANDS = [stats.poisson(4)] * 4  # rate 16, L_j = 0.25: Poisson(4) over each stage's lead time


@pytest.mark.parametrize(("holding", "levels", "cost"), [
    ((0.25, 0.25, 0.25, 0.25), (8, 13, 18, 22), 12.688),  # Table 1, row 1
    ((0.25, 2.5, 2.5, 0.25), (9, 10, 13, 19), 53.008),  # Table 1, row 9
])
def test_shang_song_2003_table_1(holding, levels, cost):
    """Shang & Song (2003, Management Science 49(5)), Table 1: N = 4 stages, Poisson demand of rate 16,
    L_j = 0.25, p = 9; continuous review, so D_j ~ Poisson(4). Row 9's h is a palindrome, so the stage
    order does not matter there."""
    result = clark_scarf(holding, 9.0, SHANG_SONG_DEMANDS)
    assert result.echelon_levels == levels
    assert result.cost == pytest.approx(cost, abs=5e-4)


def test_four_stages_discrete_and_continuous_give_nondecreasing_echelon_levels():
    holding = [1, 0.5, 0.3, 0.2]
    for demands in ([stats.poisson(10), stats.poisson(20), stats.poisson(5), stats.poisson(40)],
                    [stats.norm(10, 3), stats.norm(20, 4), stats.norm(5, 2), stats.norm(40, 6)]):
        levels = clark_scarf(holding, 20.0, demands).echelon_levels
        assert all(a <= b for a, b in zip(levels, levels[1:]))


@pytest.mark.parametrize("demand", [stats.poisson(12), stats.norm(30, 5), stats.binom(40, 0.3)])
def test_single_stage_is_the_newsvendor(demand):
    result = clark_scarf([2.0], 11.0, [demand])
    level, cost = newsvendor(demand, 2.0, 11.0)
    assert result.echelon_levels[0] == pytest.approx(level, abs=1e-3)
    assert result.cost == pytest.approx(cost, rel=1e-5)  # continuous: lattice error about 1e-6


def test_continuous_lattice_is_converged(monkeypatch):
    """The default lattice (200 points per standard deviation) is within 1e-6 of a five times finer one."""
    demands = [stats.norm(5, 1), stats.norm(5, 1), stats.norm(10, np.sqrt(2))]
    default = clark_scarf([3, 2, 2], 37.12, demands)
    monkeypatch.setattr(serial, "LATTICE_STEPS_PER_STD", 1000)
    fine = clark_scarf([3, 2, 2], 37.12, demands)
    assert default.cost == pytest.approx(fine.cost, rel=1e-6)
    assert default.echelon_levels == pytest.approx(fine.echelon_levels, abs=1e-4)


def test_zero_lead_time_stage():
    """A point-mass lead-time demand (scipy's Poisson(0)) is accepted; with the top stage instantaneous,
    the effective bottom level is the newsvendor level with local holding cost h_1 + h_2."""
    result = clark_scarf([1.0, 0.5], 9.0, [stats.poisson(6), stats.poisson(0)])
    level, cost = newsvendor(stats.poisson(6), 1.5, 9.0)
    assert min(result.echelon_levels) == level
    assert result.cost == pytest.approx(cost + 0.5 * 6.0, rel=1e-9)  # plus echelon cost of stage-1 pipeline


@pytest.mark.parametrize(("args", "name"), [
    (([1, 1], 9.0, [stats.poisson(4)]), "echelon_holding_costs"),
    (([1, -1], 9.0, [stats.poisson(4)] * 2), "echelon_holding_costs"),
    (([0, 1], 9.0, [stats.poisson(4)] * 2), "echelon_holding_costs"),
    (([1, 1], -9.0, [stats.poisson(4)] * 2), "stockout_cost"),
    (([], 9.0, []), "lead_time_demands"),
    (([1, 1], 9.0, [stats.poisson(4), stats.norm(4, 1)]), "lead_time_demands"),
])
def test_bad_input(args, name):
    with pytest.raises(ValueError, match=name):
        clark_scarf(*args)
