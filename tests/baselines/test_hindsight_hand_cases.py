"""With demand and lead times known (deterministic), the hindsight bound is the cost of the optimal policy.

Each case states the optimal plan worked out by hand, checks that the env charges exactly the hand cost for it
(so the cost is attainable) and that the LP's optimum equals it (so nothing is cheaper).
"""

from dataclasses import replace

import numpy as np
import pytest
from hindsight_cases import episode_cost, simulate

from baselines.hindsight import hindsight_bound
from envs.actions import encode_quantity
from envs.noise import Noise
from envs.params import EnvParams, compile_scenario
from envs.scenario import LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed
from envs.state import initial_state


def _scenario(products, speeds, lead_time=1, inbound_capacity=np.inf, transit=0, shipping_cost=0.0):
    return Scenario(
        name="hand",
        nodes=(Node("vendor", "vendor"),
               Node("fc", "fulfillment_center", supplier="vendor", lead_time=LeadTime.fixed(lead_time),
                    inbound_capacity=inbound_capacity)),
        products=products,
        regions=(Region("town", 1.0, (ServiceLink("fc", transit, shipping_cost),)),),
        speeds=speeds,
        unmet_demand="lost_sales",
    )


def _noise(params: EnvParams, demand, lead_time, spill_uniform=0.0) -> Noise:
    """Demand (T, S, P) in the one region; every order takes ``lead_time`` periods."""
    demand = np.asarray(demand, dtype=float)[:, None]
    return Noise(demand=demand, cutoff_uniform=np.zeros(demand.shape, np.float32),
                 spill_uniform=np.full(demand.shape, spill_uniform, np.float32),
                 lead_time=np.full((len(demand), params.num_nodes, params.num_products), lead_time, np.int8))


class _Orders:
    """Order the given quantities (T, P) at the fc, period by period (quantity mode)."""

    action_mode = "quantity"

    def __init__(self, params: EnvParams, quantities) -> None:
        self.actions = [encode_quantity(np.asarray(q, dtype=float)[None], params)[None] for q in quantities]

    def __call__(self, observations):
        return self.actions.pop(0)


def _check(params, on_hand, noise, orders, expected, unavoidable=0.0):
    start = replace(initial_state(params, 1), on_hand=np.asarray(on_hand, dtype=float).reshape(1, 1, -1))
    assert episode_cost(simulate(params, start, noise, _Orders(params, orders))) == pytest.approx(expected, abs=1e-9)
    bound = hindsight_bound(params, start, noise)
    assert bound.cost == pytest.approx(expected, abs=1e-7)
    assert bound.unavoidable == pytest.approx(unavoidable, abs=1e-12)


def test_lead_time_two_lost_sales():
    """Demand 3, 5, 2, 4, 6, 1; lead time 2; 4 on hand; unit cost 1, holding 0.5, lost sale 10. Periods 0 and 1
    can only use the 4 on hand (serve 3, hold 1 overnight: 0.5; lose 4: 40); demand of periods 2 to 5 is bought
    in periods 0 to 3 and arrives just in time (13 units: 13). Optimum 53.5."""
    params = compile_scenario(_scenario((Product("a", 4.0, unit_cost=1.0, holding_cost=0.5),),
                                        (Speed("now", 0, 10.0),), lead_time=2))
    noise = _noise(params, [[[3]], [[5]], [[2]], [[4]], [[6]], [[1]]], 2)
    _check(params, [4], noise, [[2], [4], [6], [1], [0], [0]], 53.5)


def test_shared_inbound_cap_forces_early_receipts_and_a_choice_of_what_to_lose():
    """Two products through an inbound cap of 4 units per period, lead time 1, nothing on hand; demand only in
    period 3: a 10 (lost sale 10), b 4 (lost sale 20). Three receipts of at most 4 (periods 1-3) bring at most
    12 units: lose 2 of a (20), buy 12 (12), and holding 1 per unit: receive 4 a, 4 a, 4 b, holding 4 + 8 = 12.
    Optimum 44."""
    products = (Product("a", 3.0, unit_cost=1.0, holding_cost=1.0),
                Product("b", 1.0, unit_cost=1.0, holding_cost=1.0, penalty_scale=2.0))
    params = compile_scenario(_scenario(products, (Speed("now", 0, 10.0),), inbound_capacity=4.0))
    noise = _noise(params, [[[0, 0]], [[0, 0]], [[0, 0]], [[10, 4]]], 1)
    _check(params, [0, 0], noise, [[4, 0], [4, 0], [0, 4], [0, 0]], 44.0)


def test_same_day_orders_without_a_transit_zero_node_are_unavoidable():
    """The region's only node is one period away: same-day orders (5 per period, penalty 6, spill share 0.6,
    spill uniform 0.5) are never served; floor(0.6 x 5 + 0.5) = 3 spill to next day and 2 are lost, 2 x 6 = 12
    per period over 4 periods = 48, the unavoidable cost. The 3 spilled units are served next day from the fc
    (shipping 0.5, unit cost 1): the 3 on hand in period 0, then 3 bought per period just in time (9 units).
    Optimum 48 + 12 x 0.5 + 9 = 63."""
    speeds = (Speed("same_day", 0, 6.0, spill_share=0.6), Speed("next_day", 1, 4.0))
    params = compile_scenario(_scenario((Product("a", 5.0, unit_cost=1.0, holding_cost=1.0),), speeds,
                                        transit=1, shipping_cost=0.5))
    noise = _noise(params, [[[5], [0]]] * 4, 1, spill_uniform=0.5)
    _check(params, [3], noise, [[3], [3], [3], [0]], 63.0, unavoidable=48.0)
