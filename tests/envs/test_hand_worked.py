"""The transition against numbers worked out by hand (order of events in envs/dynamics.py).

Scenario: ``helpers.hand_scenario`` (its docstring lists every per-unit rate used below). Node order in
arrays: [dc, fc1, fc2]; pipeline ages [0, 1]; streams (region, speed) with regions [north, south] and
speeds [same_day, next_day]; one product.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import hand_scenario, make_noise, make_state, single_fc_scenario, small_env_scenario

from envs.actions import decode_action, encode_level, encode_quantity
from envs.dynamics import transition
from envs.observation import split_observation
from envs.params import compile_scenario
from envs.scenario import Demand, LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed
from envs.single import EchelonEnv


def col(*values):
    """Per-node (or per-speed) values as a (1, K, 1) / (1, K) array helper."""
    return np.array(values, dtype=float)


def assert_units(actual, expected, what):
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected, dtype=float), err_msg=what)


def assert_money(actual, expected, what):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected, dtype=float), rtol=0, atol=1e-9, err_msg=what)


def period_one_inputs(params):
    """Start of period 0 and the period's orders and noise."""
    state = make_state(
        params,
        on_hand=[4, 5, 10],
        dock=[3, 0, 0],
        # pipeline[n, age]: dc shipped 1 period ago (6, due in 1) and 2 periods ago (11, due now);
        # fc1 / fc2 shipped last period with lead time 1 (due now).
        pipeline=[[6, 11], [2, 0], [3, 0]],
        due=[[1, 0], [0, -1], [0, -1]],
        last_due=[1, 0, 0],
    )
    order = np.array([9.0, 10.0, 14.0]).reshape(1, 3, 1)
    noise = make_noise(
        params,
        # demand[r, s]: north same_day 16, north next_day 3, south same_day 6, south next_day 2
        demand=[[16, 3], [6, 2]],
        cutoff_uniform=[[0.3, 0.2], [0.7, 0.7]],
        spill_uniform=[[0.6, 0.5], [0.9, 0.5]],
        lead_time=[2, 1, 1],
    )
    return state, order, noise


def period_two_inputs(params):
    order = np.array([5.0, 4.0, 3.0]).reshape(1, 3, 1)
    noise = make_noise(
        params,
        demand=[[4, 5], [3, 3]],
        cutoff_uniform=[[0.1, 0.5], [0.9, 0.3]],
        spill_uniform=[[0.99, 0.0], [0.99, 0.0]],
        lead_time=[2, 1, 1],
    )
    return order, noise


def test_period_one_lost_sales():
    params = compile_scenario(hand_scenario())
    state, order, noise = period_one_inputs(params)
    nxt, out = transition(state, order, noise, params)

    # 1. Receive. dc: dock 3 + due 11 = 14 candidates > inbound cap 12 -> receives 12, 2 stay at the dock.
    #    fc1 receives 2, fc2 receives 3 (no cap). On hand: dc 4+12 = 16, fc1 5+2 = 7, fc2 10+3 = 13.
    assert_units(out.received, [[12, 2, 3]], "received")
    assert_units(nxt.received, [[12, 2, 3]], "state.received")
    assert_units(nxt.dock[0, :, 0], [2, 0, 0], "dock")
    # 2. Ship. dc buys 9 from the vendor (in full). fc1 asks 10, fc2 asks 14: 24 > 16 on hand at dc, so
    #    each child's share is 2/3 of its request: fc1 6.67, fc2 9.33 -> 6 and 9, and the one unit left
    #    by rounding goes to the largest remainder (fc1): fc1 7, fc2 9; dc is emptied.
    assert_units(out.shipped[0, :, 0], [9, 7, 9], "shipped")
    assert_units(out.purchased, [[9]], "purchased")
    # Pipeline ages shift: age 0 = this period's shipments (due in lead - 1 = [1, 0, 0]); age 1 = last
    # period's age 0 after receiving (dc 6, due 1 - 1 = 0; fc1 / fc2 received theirs: 0 units, due -1).
    assert_units(nxt.pipeline[0, :, :, 0], [[9, 6], [7, 0], [9, 0]], "pipeline")
    assert_units(nxt.due[0, :, :, 0], [[1, 0], [0, -1], [0, -1]], "due")
    assert_units(nxt.last_due[0, :, 0], [1, 0, 0], "last_due")
    # 3. Demand (stock before: dc 0, fc1 7, fc2 13).
    #    after cut-off: north same_day floor(16*0.4+0.3) = 6 (10 on time); south same_day floor(6*0.4+0.7) = 3
    #    (3 on time); north next_day floor(3*0.2+0.2) = 0 (3 on time); south next_day floor(2*0.2+0.7) = 1.
    #    same_day: north on time 10 from [fc1]: takes 7 (fc1 -> 0), 3 unmet;   shipping 7 x 1.0
    #              north late 6 from [fc2, fc1]: 6 from fc2 (13 -> 7);         shipping 6 x 0.5
    #              south on time 3 from [fc2]: fc2 7 -> 4;                     shipping 3 x 1.2
    #              south late 3 from [fc1 (empty), fc2]: fc2 4 -> 1;           shipping 3 x 1.2
    #              requested 22, served 19; spill north floor(3*0.5+0.6) = 2 to next_day, 1 lost.
    #    next_day: north on time 3 + 2 spilled = 5 from [fc2, fc1]: 1 from fc2, 4 unmet; shipping 1 x 0.5
    #              south on time 1 and late 1 from [fc1, fc2]: both empty, 2 unmet.
    #              requested 3 + 2 + 1 + 1 = 7, served 1, 6 lost.
    assert_units(out.new_orders, [[22, 5]], "new_orders")
    assert_units(out.requested, [[22, 7]], "requested")
    assert_units(out.served, [[19, 1]], "served")
    assert_units(out.lost, [[1, 6]], "lost")
    assert_units(out.served_units, [[20]], "served_units")
    assert_units(nxt.on_hand[0, :, 0], [0, 0, 0], "on_hand")
    assert_units(nxt.backlog, np.zeros((1, 2, 2, 1)), "backlog")
    assert_units(nxt.last_demand[0, :, 0], [19, 8], "last_demand (orders per region, all speeds)")
    assert_units(nxt.period, [1], "period")
    # 4. Costs.
    #    holding: dc (0 on hand + 2 dock) x 0.2 = 0.4; in transit to fc1 7 x 0.2 + to fc2 9 x 0.2 = 3.2;
    #             in transit to dc (from the vendor) is free -> 3.6
    assert_money(out.holding_cost, [3.6], "holding")
    assert_money(out.purchase_cost, [27.0], "purchase 9 x 3")
    assert_money(out.transport_cost, [9 * 0.1 + 7 * 0.15 + 9 * 0.25], "transport")  # 4.2
    assert_money(out.shipping_cost, [7 * 1.0 + 6 * 0.5 + 3 * 1.2 + 3 * 1.2 + 1 * 0.5], "shipping")  # 17.7
    assert_money(out.penalty_cost, [[1 * 7.5, 6 * 4.5]], "penalty")
    assert_units(out.storage_used, [[0.0, 0.0, 0.0]], "storage_used (volume on hand)")
    assert_money(out.overflow_cost, [0.0], "overflow (fc2 holds nothing)")
    assert_money(out.total_cost, [3.6 + 27.0 + 4.2 + 17.7 + 7.5 + 27.0], "total")


def test_period_two_lost_sales():
    params = compile_scenario(hand_scenario())
    state, order, noise = period_one_inputs(params)
    state, _ = transition(state, order, noise, params)
    order, noise = period_two_inputs(params)
    nxt, out = transition(state, order, noise, params)

    # 1. Receive: dc dock 2 + due 6 = 8 <= cap 12 -> all; fc1 7, fc2 9. On hand dc 8, fc1 7, fc2 9.
    assert_units(out.received, [[8, 7, 9]], "received")
    assert_units(nxt.dock[0, :, 0], [0, 0, 0], "dock")
    # 2. Ship: dc buys 5; fc1 4 + fc2 3 = 7 <= 8 -> in full; dc keeps 1.
    assert_units(out.shipped[0, :, 0], [5, 4, 3], "shipped")
    assert_units(nxt.pipeline[0, :, :, 0], [[5, 9], [4, 0], [3, 0]], "pipeline")
    assert_units(nxt.due[0, :, :, 0], [[1, 0], [0, -1], [0, -1]], "due")
    assert_units(nxt.last_due[0, :, 0], [1, 0, 0], "last_due")
    # 3. Demand (stock dc 1, fc1 7, fc2 9). late: north same_day floor(4*0.4+0.1) = 1, south same_day
    #    floor(3*0.4+0.9) = 2, north next_day floor(5*0.2+0.5) = 1, south next_day floor(3*0.2+0.3) = 0.
    #    same_day: north on time 3 [fc1] 7 -> 4 (x1.0); north late 1 [fc2 cheaper than fc1] 9 -> 8 (x0.5);
    #              south on time 1 [fc2] 8 -> 7 (x1.2); south late 2 [fc1 (0.7) before fc2] 4 -> 2 (x0.7).
    #              No unmet: spill floor(0*0.5+0.99) = 0.
    #    next_day: north on time 4 [fc2, fc1] fc2 7 -> 3 (x0.5); north late 1 fc2 3 -> 2 (x0.5);
    #              south on time 3 [fc1, fc2]: 2 from fc1 (x0.7), then 1 from fc2 2 -> 1 (x1.2).
    assert_units(out.new_orders, [[7, 8]], "new_orders")
    assert_units(out.requested, [[7, 8]], "requested")
    assert_units(out.served, [[7, 8]], "served")
    assert_units(out.lost, [[0, 0]], "lost")
    assert_units(out.served_units, [[15]], "served_units")
    assert_units(nxt.on_hand[0, :, 0], [1, 0, 1], "on_hand")
    assert_units(nxt.last_demand[0, :, 0], [9, 6], "last_demand")
    assert_units(nxt.period, [2], "period")
    # 4. Costs: holding dc 1 x 0.2 + fc2 1 x 0.6 + in transit (4 + 3) x 0.2 = 2.2; purchase 5 x 3 = 15;
    #    transport 5 x 0.1 + 4 x 0.15 + 3 x 0.25 = 1.85; shipping 3 + 0.5 + 1.2 + 1.4 + 2 + 0.5 + 1.4 + 1.2
    #    = 11.2; overflow: fc2 holds 0.5 volume, cap 0.25 -> 0.25 x 0.8 = 0.2.
    assert_money(out.holding_cost, [2.2], "holding")
    assert_money(out.purchase_cost, [15.0], "purchase")
    assert_money(out.transport_cost, [1.85], "transport")
    assert_money(out.shipping_cost, [11.2], "shipping")
    assert_money(out.penalty_cost, [[0.0, 0.0]], "penalty")
    assert_units(out.storage_used, [[0.5, 0.0, 0.5]], "storage_used")
    assert_money(out.overflow_cost, [0.2], "overflow")
    assert_money(out.total_cost, [2.2 + 15 + 1.85 + 11.2 + 0.2], "total")


def test_backorder_variant_two_periods():
    params = compile_scenario(hand_scenario("backorders"))
    state, order, noise = period_one_inputs(params)
    state, out = transition(state, order, noise, params)
    # Period one is served exactly as with lost sales, but unmet orders stay as backlog per stream:
    # north same_day 1 (3 unmet, 2 spilled), north next_day 4, south next_day 2 (1 on time + 1 late).
    assert_units(state.backlog[0, :, :, 0], [[1, 4], [0, 2]], "backlog")
    assert_units(out.lost, [[0, 0]], "lost")
    assert_units(out.served, [[19, 1]], "served")
    assert_money(out.penalty_cost, [[1 * 7.5, 6 * 4.5]], "penalty per unit backordered")
    assert_units(state.on_hand[0, :, 0], [0, 0, 0], "on_hand")
    assert_money(out.total_cost, [3.6 + 27.0 + 4.2 + 17.7 + 7.5 + 27.0], "total")

    order, noise = period_two_inputs(params)
    nxt, out = transition(state, order, noise, params)
    # Backlog joins this period's on-time orders: north same_day 3 + 1 = 4, north next_day 4 + 4 = 8,
    # south next_day 3 + 2 = 5 (late orders as before: 1, 2, 1, 0). Stock dc 1, fc1 7, fc2 9.
    # same_day: north on time 4 [fc1] 7 -> 3 (x1.0); north late 1 [fc2] 9 -> 8 (x0.5);
    #           south on time 1 [fc2] 8 -> 7 (x1.2); south late 2 [fc1] 3 -> 1 (x0.7). requested 8.
    # next_day: north on time 8 [fc2, fc1]: 7 from fc2 (x0.5), 1 from fc1 (x1.0); north late 1: unmet;
    #           south on time 5 [fc1, fc2]: both empty, 5 unmet. requested 8 + 1 + 5 = 14, served 8.
    assert_units(out.new_orders, [[7, 8]], "new_orders")
    assert_units(out.requested, [[8, 14]], "requested")
    assert_units(out.served, [[8, 8]], "served")
    assert_units(out.lost, [[0, 0]], "lost")
    assert_units(out.served_units, [[16]], "served_units")
    assert_units(nxt.backlog[0, :, :, 0], [[0, 1], [0, 5]], "backlog")
    assert_units(nxt.on_hand[0, :, 0], [1, 0, 0], "on_hand")
    assert_units(nxt.dock[0, :, 0], [0, 0, 0], "dock")
    assert_units(nxt.pipeline[0, :, :, 0], [[5, 9], [4, 0], [3, 0]], "pipeline")
    # Costs: holding 1 x 0.2 + (4 + 3) x 0.2 = 1.6; shipping 4 + 0.5 + 1.2 + 1.4 + 3.5 + 1.0 = 11.6;
    # penalty next_day 6 x 4.5 = 27; no overflow (fc2 empty).
    assert_money(out.holding_cost, [1.6], "holding")
    assert_money(out.purchase_cost, [15.0], "purchase")
    assert_money(out.transport_cost, [1.85], "transport")
    assert_money(out.shipping_cost, [11.6], "shipping")
    assert_money(out.penalty_cost, [[0.0, 27.0]], "penalty")
    assert_money(out.overflow_cost, [0.0], "overflow")
    assert_money(out.total_cost, [1.6 + 15 + 1.85 + 11.6 + 27.0], "total")


def two_product_params(inbound_capacity: float):
    return compile_scenario(
        Scenario(
            name="two-products",
            nodes=(
                Node("vendor", "vendor"),
                Node("dc", "distribution_center", supplier="vendor", lead_time=LeadTime.fixed(1),
                     inbound_capacity=inbound_capacity),
            ),
            products=(Product("a", 1.0), Product("b", 1.0)),
            regions=(Region("r", 1.0, (ServiceLink("dc", 0),)),),
            speeds=(Speed("s", 0, 1.0),),
        )
    )


def test_inbound_cap_splits_across_products_by_largest_remainder():
    """Cap 10, waiting 8 + 7 = 15 -> shares 5.33 and 4.67 -> 5 and 4, and the unit left by rounding goes
    to the larger remainder (b): 5 + 5 = 10 received, 3 + 2 stay docked."""
    params = two_product_params(10.0)
    state = make_state(params, on_hand=[1, 2], dock=[5, 2], pipeline=[3, 5], due=[0, 0])
    nxt, out = transition(state, np.zeros((1, 1, 2)), make_noise(params, demand=[1, 0]), params)
    assert_units(out.received, [[10]], "received")
    assert_units(nxt.dock, [[[3, 2]]], "dock")
    assert_units(nxt.on_hand, [[[1 + 5 - 1, 2 + 5]]], "on_hand after one unit of a is sold")
    assert_units(nxt.pipeline, np.zeros((1, 1, 1, 2)), "pipeline")


def test_inbound_cap_whole_units_and_ties_in_a_batch():
    """Cap 5.5 -> 5 whole units. Replica 0: 3 + 3 waiting -> 2.5 each -> the tie goes to the lower index
    (3 + 2). Replica 1: 1 + 2 waiting, under the cap -> all received."""
    params = two_product_params(5.5)
    state = make_state(params, batch=2, dock=[[3, 0], [1, 0]], pipeline=[[0, 3], [0, 2]], due=[[0, 0], [0, 0]])
    nxt, out = transition(state, np.zeros((2, 1, 2)), make_noise(params, batch=2), params)
    assert_units(out.received, [[5], [3]], "received")
    assert_units(nxt.on_hand, [[[3, 2]], [[1, 2]]], "on_hand")
    assert_units(nxt.dock, [[[0, 1]], [[0, 0]]], "dock")


def test_inbound_cap_receives_full_capacity_for_a_single_product():
    """22 waiting, cap 15: exactly 15 received (floor(22 x 15/22) in floating point is 14)."""
    params = compile_scenario(single_fc_scenario(inbound_capacity=15.0))
    state = make_state(params, dock=[[22], [0]])
    nxt, out = transition(state, np.zeros((1, 2, 1)), make_noise(params), params)
    assert_units(out.received, [[15, 0]], "received: cap 15 with 22 waiting")
    assert_units(nxt.dock[0, :, 0], [7, 0], "dock")
    assert_units(nxt.on_hand[0, :, 0], [15, 0], "on_hand")


def test_rationing_gives_a_single_short_child_all_the_stock():
    params = compile_scenario(single_fc_scenario())
    state = make_state(params, on_hand=[[15], [0]])
    nxt, out = transition(state, np.array([[[0.0], [22.0]]]), make_noise(params), params)
    assert_units(out.shipped[0, :, 0], [0, 15], "shipped")
    assert_units(nxt.on_hand[0, :, 0], [0, 0], "on_hand")
    assert_units(nxt.pipeline[0, :, 0, 0], [0, 15], "pipeline")


def test_on_time_orders_of_every_region_are_served_before_late_orders():
    """fc holds 4. north orders 4 (2 after the cut-off), south orders 2 (1 after the cut-off). On-time
    first: north 2 and south 1 on time, then 1 of north's 2 late orders: backlog north 1, south 1."""
    params = compile_scenario(single_fc_scenario("backorders", cutoff_share=0.5))
    state = make_state(params, on_hand=[[0], [4]])
    nxt, _ = transition(state, np.zeros((1, 2, 1)), make_noise(params, demand=[[4], [2]]), params)
    assert_units(nxt.backlog[0, :, 0, 0], [1, 1], "backlog per region")


def test_decode_order_up_to_and_quantity_against_a_hand_state():
    params = compile_scenario(hand_scenario("backorders"))
    # dc: on hand 4 + dock 3 + in transit 17 = 24.  Backlogs are charged to the node a stream draws on
    # first: north same_day -> fc1, north next_day -> fc2 (cheapest), south same_day -> fc2,
    # south next_day -> fc1. fc1: 5 + 2 - (1 + 3) = 3; fc2: 10 + 3 - (2 + 4) = 7.
    state = make_state(
        params,
        on_hand=[4, 5, 10],
        dock=[3, 0, 0],
        pipeline=[[6, 11], [2, 0], [3, 0]],
        due=[[1, 0], [0, -1], [0, -1]],
        backlog=[[1, 2], [4, 3]],
    )
    np.testing.assert_array_equal(state.inventory_position(params)[0, :, 0], [24, 3, 7])
    levels = np.array([[30.0], [10.0], [5.0]])
    order = decode_action(encode_level(levels, params)[None], state, params, "order_up_to")
    assert_units(order[0, :, 0], [6, 7, 0], "order = level - position, never negative")
    x = np.array([[-1.0, 1.0, 0.0]])
    order = decode_action(x, state, params, "quantity")
    expected = [0.0, params.max_order[1, 0], round(0.5 * params.max_order[2, 0])]
    assert_units(order[0, :, 0], expected, "quantity = round((x + 1) / 2 * max_order)")


def test_single_env_decodes_order_up_to_levels():
    """Without warm-up the episode starts from the initial state (nothing in transit): each node holds
    round(mean flow x (mean lead + 1)); the order is the level minus that, shipped this period."""
    scenario = small_env_scenario(warmup_periods=0, demand=Demand("poisson"))
    env = EchelonEnv(scenario)
    params = env.params
    obs, _ = env.reset(seed=1)
    start = split_observation(obs, params)["on_hand"][0] * params.max_level
    start = np.rint(start)
    # dc carries all demand (a 6, b 3 per period) over mean lead 0.3 + 1.0 + 0.6 = 1.9 plus one period.
    np.testing.assert_array_equal(start[0], [17.0, 9.0])  # rint(6 x 2.9), rint(3 x 2.9)
    levels = start + np.array([[7.0, 2.0], [3.0, 0.0], [-2.0, 1.0]])
    obs, _, _, _, info = env.step(encode_level(levels, params))
    pipeline = np.rint(split_observation(obs, params)["pipeline"][0, :, 0, :] * params.max_order)
    np.testing.assert_array_equal(pipeline, [[7.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    assert info["cost"]["purchase"] == pytest.approx(7 * 1.0 + 2 * 2.0)
    assert info["cost"]["transport"] == pytest.approx(0.1 * (7 * 0.5 + 2 * 2.0))


def test_single_env_decodes_quantities():
    scenario = small_env_scenario(warmup_periods=0, demand=Demand("poisson"))
    env = EchelonEnv(scenario, action_mode="quantity")
    params = env.params
    env.reset(seed=2)
    quantity = np.array([[5.0, 1.0], [2.0, 0.0], [0.0, 4.0]])
    obs, *_ = env.step(encode_quantity(quantity, params))
    pipeline = np.rint(split_observation(obs, params)["pipeline"][0, :, 0, :] * params.max_order)
    np.testing.assert_array_equal(pipeline, quantity)
    action = np.full(params.num_nodes * params.num_products, 1.0, dtype=np.float32)
    obs, *_ = env.step(action)
    shipped_dc = np.rint(split_observation(obs, params)["pipeline"][0, 0, 0, :] * params.max_order[0])
    np.testing.assert_array_equal(shipped_dc, params.max_order[0])


def test_env_reward_and_info_follow_the_documented_breakdown():
    """reward = -cost / cost_scale with cost_scale the penalty of losing one period's mean demand:
    (0.5 x 5 + 0.5 x 3) x 1.5 x 10 = 60; penalties are per unit lost at 7.5 (same_day) and 4.5
    (next_day); capacity use in info matches the observation (fc2: volume / 0.25, dc: received / 12)."""
    env = EchelonEnv(hand_scenario())
    params = env.params
    assert params.cost_scale == pytest.approx(60.0)
    env.reset(seed=4)  # a seed whose 25 periods see both a same-day loss and an overflow
    actions = np.random.default_rng(0).uniform(-1, 0.2, (25, 3)).astype(np.float32)
    seen_lost = seen_overflow = False
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated and not truncated
        cost = info["cost"]
        parts = ("holding", "purchase", "transport", "shipping", "overflow", "penalty_same_day", "penalty_next_day")
        assert set(cost) == {"total", *parts}
        assert cost["total"] == pytest.approx(sum(cost[k] for k in parts), abs=1e-9)
        assert reward == pytest.approx(-cost["total"] / 60.0, abs=1e-12)
        assert cost["penalty_same_day"] == pytest.approx(7.5 * info["lost"]["same_day"])
        assert cost["penalty_next_day"] == pytest.approx(4.5 * info["lost"]["next_day"])
        assert all(0.0 <= info["fill_rate"][s] <= 1.0 for s in ("same_day", "next_day"))
        blocks = {k: v[0] for k, v in split_observation(obs, params).items()}
        shipped = np.rint(blocks["pipeline"][:, 0, 0] * params.max_order[:, 0])
        assert cost["purchase"] == pytest.approx(3.0 * shipped[0])
        assert cost["transport"] == pytest.approx(0.1 * shipped[0] + 0.15 * shipped[1] + 0.25 * shipped[2])
        on_hand = np.rint(blocks["on_hand"][:, 0] * params.max_level[:, 0])
        assert info["storage_use"] == pytest.approx({"dc": 0.0, "fc1": 0.0, "fc2": on_hand[2] * 0.5 / 0.25})
        assert cost["overflow"] == pytest.approx(max(on_hand[2] * 0.5 - 0.25, 0.0) * 0.8)
        assert info["inbound_use"]["dc"] == pytest.approx(float(blocks["inbound_use"][0]), rel=1e-6)
        assert info["inbound_use"]["dc"] <= 1.0 and info["inbound_use"]["fc1"] == 0.0
        seen_lost |= info["lost"]["same_day"] > 0
        seen_overflow |= cost["overflow"] > 0
    assert seen_lost and seen_overflow
