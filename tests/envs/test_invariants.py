"""Properties of the transition on random small worlds, states, orders and noise (hypothesis)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from helpers import make_noise, make_state, state_total
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.dynamics import transition
from envs.params import compile_scenario
from envs.scenario import LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed

SETTINGS = settings(max_examples=120, deadline=None)


@st.composite
def lead_times(draw):
    periods = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True))
    weights = draw(st.lists(st.integers(1, 5), min_size=len(periods), max_size=len(periods)))
    return LeadTime(tuple(periods), tuple(w / sum(weights) for w in weights))


costs = st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.75, 3.0])


@st.composite
def scenarios(draw, finite_inbound: bool = True):
    """vendor -> dc -> 1..2 fcs, optionally one more fc straight from the vendor; 1-2 products,
    regions and speeds with random shares; random capacities, costs and unmet-demand rule."""
    def inbound():
        if not finite_inbound or draw(st.booleans()):
            return math.inf
        return float(draw(st.sampled_from([1, 3, 5.5, 8, 20])))

    nodes = [
        Node("vendor", "vendor"),
        Node("dc", "distribution_center", supplier="vendor", lead_time=draw(lead_times()),
             holding_cost_factor=draw(costs), transport_cost=draw(costs), inbound_capacity=inbound()),
    ]
    n_fc = draw(st.integers(1, 2))
    for i in range(n_fc):
        nodes.append(Node(f"fc{i}", "fulfillment_center", supplier="dc", lead_time=draw(lead_times()),
                          holding_cost_factor=draw(costs), transport_cost=draw(costs), inbound_capacity=inbound(),
                          storage_capacity=draw(st.sampled_from([math.inf, 2.0, 10.0])), overflow_cost=draw(costs)))
    if draw(st.booleans()):
        nodes.append(Node("direct", "fulfillment_center", supplier="vendor", lead_time=draw(lead_times()),
                          inbound_capacity=inbound()))
    stocking = [n.name for n in nodes[1:]]
    products = tuple(
        Product(f"p{i}", draw(st.sampled_from([0.0, 2.0, 7.0])), volume=draw(st.sampled_from([0.5, 1.0, 2.0])),
                unit_cost=draw(costs), holding_cost=draw(costs), penalty_scale=draw(st.sampled_from([0.5, 1.0])))
        for i in range(draw(st.integers(1, 2)))
    )
    regions = []
    for r in range(draw(st.integers(1, 2))):
        linked = draw(st.lists(st.sampled_from(stocking), min_size=1, max_size=3, unique=True))
        links = tuple(ServiceLink(name, draw(st.integers(0, 1)), draw(costs)) for name in linked)
        regions.append(Region(f"r{r}", draw(st.sampled_from([0.5, 1.0])), links))
    n_speeds = draw(st.integers(1, 2))
    speeds = tuple(
        Speed(f"s{s}", s, draw(st.sampled_from([1.0, 4.0])), cutoff_share=draw(st.sampled_from([0.0, 0.3, 1.0])),
              spill_share=0.0 if s == n_speeds - 1 else draw(st.sampled_from([0.0, 0.5, 1.0])))
        for s in range(n_speeds)
    )
    return Scenario(
        name="random",
        nodes=tuple(nodes),
        products=products,
        regions=tuple(regions),
        speeds=speeds,
        unmet_demand=draw(st.sampled_from(["lost_sales", "backorders"])),
        lead_time_mode=draw(st.sampled_from(["independent", "sequential"])),
    )


def whole(draw, shape, high):
    return np.array(draw(st.lists(st.integers(0, high), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
                    dtype=float).reshape(shape)


uniform32 = st.floats(0.0, 1.0, exclude_max=True, width=32)


def draw_state(draw, params):
    """A state the dynamics can reach: units in transit to node n only at ages below its longest lead
    time L_n, each due in 0 .. L_n - 1 - age periods."""
    n, a, p = params.num_nodes, params.num_ages, params.num_products
    max_lead = [max(params.lead_time_law(i)) for i in range(n)]
    pipeline = np.zeros((1, n, a, p))
    due = np.full((1, n, a, p), -1, dtype=np.int8)
    for i in range(n):
        for age in range(max_lead[i]):
            for k in range(p):
                pipeline[0, i, age, k] = draw(st.integers(0, 12))
                due[0, i, age, k] = draw(st.integers(0, max_lead[i] - 1 - age))
    last_due = np.array([[[draw(st.integers(0, max_lead[i] - 1)) for _ in range(p)] for i in range(n)]])
    backlog = whole(draw, (1, params.num_regions, params.num_speeds, p), 6) if params.backorders else None
    return make_state(
        params,
        on_hand=whole(draw, (1, n, p), 25),
        dock=whole(draw, (1, n, p), 8),
        pipeline=pipeline,
        due=due,
        last_due=last_due,
        backlog=backlog,
        period=[draw(st.integers(0, 20))],
    )


def draw_noise(draw, params):
    stream = (1, params.num_regions, params.num_speeds, params.num_products)
    size = int(np.prod(stream))
    leads = [tuple(params.lead_time_law(i)) for i in range(params.num_nodes)]
    return make_noise(
        params,
        demand=whole(draw, stream, 12),
        cutoff_uniform=draw(st.lists(uniform32, min_size=size, max_size=size)),
        spill_uniform=draw(st.lists(uniform32, min_size=size, max_size=size)),
        lead_time=[[draw(st.sampled_from(leads[i])) for _ in range(params.num_products)]
                   for i in range(params.num_nodes)],
    )


def check_step(state, order, noise, params, nxt, out):
    """Every property of one period that must hold whatever the inputs."""
    a = params.num_ages
    units = {"on_hand": nxt.on_hand, "dock": nxt.dock, "pipeline": nxt.pipeline, "backlog": nxt.backlog,
             "shipped": out.shipped, "received": out.received, "served_units": out.served_units}
    for name, value in units.items():
        assert np.all(value >= 0), f"{name} went negative: {value}"
        assert np.all(value == np.floor(value)), f"{name} is not whole: {value}"
    # Conservation of units per product.
    np.testing.assert_array_equal(state_total(nxt), state_total(state) + out.purchased - out.served_units)
    # Nothing falls off the end of the pipeline: every unit in transit is due in 0 .. A - 1 - age periods,
    # so the units at the oldest age are exactly those received at the start of the next period.
    ages = np.arange(a)[None, None, :, None]
    loaded = nxt.pipeline > 0
    assert np.all(nxt.due[loaded] >= 0), "a unit in transit is overdue"
    assert np.all((nxt.due <= a - 1 - ages)[loaded]), "a unit in transit is due after the pipeline ends"
    # Receiving: inbound caps respected, and fully used whenever goods stay at the dock.
    cap = np.floor(params.inbound_capacity)
    assert np.all(out.received <= cap + 0.0)
    docked = nxt.dock.sum(-1) > 0
    np.testing.assert_array_equal(out.received[docked], np.broadcast_to(cap, docked.shape)[docked])
    # Shipping: vendors ship in full; a stocking supplier ships min(stock after receipts, requests), no
    # child gets more than it asked for, and every child gets its proportional share to within a unit.
    arriving = np.where(state.due == 0, state.pipeline, 0).sum(2)
    available = state.on_hand + state.dock + arriving - nxt.dock
    for n in range(params.num_nodes):
        if params.supplier_index[n] < 0:
            np.testing.assert_array_equal(out.shipped[:, n], order[:, n])
    for u in range(params.num_nodes):
        children = np.flatnonzero(params.supplier_index == u)
        if len(children) == 0:
            continue
        asked = order[:, children].sum(1)
        sent = out.shipped[:, children].sum(1)
        np.testing.assert_array_equal(sent, np.minimum(available[:, u], asked))
        assert np.all(out.shipped[:, children] <= order[:, children])
        fraction = np.where(asked > 0, sent / np.maximum(asked, 1), 1.0)
        assert np.all(np.abs(out.shipped[:, children] - order[:, children] * fraction[:, None]) < 1.0)
    # Demand accounting.
    assert np.all(out.served >= 0) and np.all(out.served <= out.requested)
    assert np.all(out.lost >= 0)
    np.testing.assert_array_equal(out.new_orders, noise.demand.sum((1, 3)))
    np.testing.assert_array_equal(out.served.sum(-1), out.served_units.sum(-1))
    np.testing.assert_array_equal(
        noise.demand.sum((1, 2, 3)) + state.backlog.sum((1, 2, 3)),
        out.served.sum(-1) + out.lost.sum(-1) + nxt.backlog.sum((1, 2, 3)),
    )
    if params.backorders:
        np.testing.assert_array_equal(out.lost, 0)
        np.testing.assert_allclose(out.penalty_cost, (nxt.backlog.sum(1) * params.penalty).sum(-1), atol=1e-9)
    else:
        np.testing.assert_array_equal(nxt.backlog, 0)
        if params.num_products == 1:
            np.testing.assert_allclose(out.penalty_cost, out.lost * params.penalty[:, 0], atol=1e-9)
    np.testing.assert_array_equal(nxt.last_demand, noise.demand.sum(2))
    np.testing.assert_array_equal(nxt.period, state.period + 1)
    for name in ("holding_cost", "purchase_cost", "transport_cost", "shipping_cost", "penalty_cost", "overflow_cost"):
        assert np.all(getattr(out, name) >= 0), name
    np.testing.assert_allclose(out.purchase_cost, (out.shipped * params.purchase_cost).sum((1, 2)), atol=1e-9)


@SETTINGS
@given(data=st.data())
def test_step_invariants(data):
    params = compile_scenario(data.draw(scenarios()))
    state = draw_state(data.draw, params)
    for _ in range(data.draw(st.integers(1, 4))):
        order = whole(data.draw, (1, params.num_nodes, params.num_products), 30)
        noise = draw_noise(data.draw, params)
        nxt, out = transition(state, order, noise, params)
        check_step(state, order, noise, params, nxt, out)
        state = nxt


@SETTINGS
@given(data=st.data())
def test_pipeline_drains_without_orders(data):
    """With no orders and no inbound caps, everything in transit arrives within max_lead_time periods."""
    params = compile_scenario(data.draw(scenarios(finite_inbound=False)))
    state = draw_state(data.draw, params)
    in_network = state_total(state)
    sold = 0.0
    zero = np.zeros((1, params.num_nodes, params.num_products))
    for _ in range(params.num_ages):
        state, out = transition(state, zero, draw_noise(data.draw, params), params)
        sold = sold + out.served_units
    np.testing.assert_array_equal(state.pipeline, 0)
    np.testing.assert_array_equal(state.dock, 0)
    np.testing.assert_array_equal(state.on_hand.sum(1), in_network - sold)


def stack_rows(items):
    """Concatenate dataclasses of batch-one arrays (State or Noise) along the batch axis."""
    fields = dataclasses.fields(items[0])
    return type(items[0])(**{f.name: np.concatenate([getattr(item, f.name) for item in items]) for f in fields})


@SETTINGS
@given(data=st.data())
def test_batch_rows_are_independent(data):
    """A batch of two replicas gives each replica exactly what it gets alone."""
    params = compile_scenario(data.draw(scenarios()))
    states = [draw_state(data.draw, params) for _ in range(2)]
    orders = [whole(data.draw, (1, params.num_nodes, params.num_products), 30) for _ in range(2)]
    noises = [draw_noise(data.draw, params) for _ in range(2)]
    batch_state = stack_rows(states)
    batch_noise = stack_rows(noises)
    nxt, out = transition(batch_state, np.concatenate(orders), batch_noise, params)
    for i in range(2):
        alone, alone_out = transition(states[i], orders[i], noises[i], params)
        for f in alone.__dataclass_fields__:
            np.testing.assert_array_equal(getattr(nxt, f)[i], getattr(alone, f)[0], err_msg=f)
        np.testing.assert_allclose(out.total_cost[i], alone_out.total_cost[0], rtol=1e-12)
