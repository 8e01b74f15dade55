"""Scenarios, simulations and LP points for the hindsight-bound tests.

:func:`simulate` runs a policy through the reference transition (observation -> action -> order quantities, as
the env does); :func:`trajectory_point` writes the resulting trajectory as a point of the episode's LP. The
per-arc amounts served are not reported by the env, so :func:`greedy_fulfilment` serves the orders again from
the stock the env had before serving, in the env's documented order, and checks the result against the env's
own end-of-period stock, shipping cost, penalties and backlog before it is used.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from baselines.episodes import period_noise
from baselines.hindsight_lp import EpisodeLP
from envs.actions import decode_action
from envs.dynamics import StepOutcome, transition
from envs.noise import Noise
from envs.observation import observe
from envs.params import EnvParams
from envs.scenario import Demand, LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed
from envs.state import State


def tree_scenario(unmet_demand: str = "lost_sales", lead_time_mode: str = "independent") -> Scenario:
    """vendor -> dc (random lead time, inbound cap) -> fc1 (random lead time, storage cap), fc2; fc1 -> ssd
    (storage cap). Two products, three regions (``south`` has no transit-0 node, so its same-day orders placed
    before the cut-off can never be served), three speeds with cut-offs and spill-over."""
    return Scenario(
        name="hindsight-tree",
        nodes=(
            Node("vendor", "vendor"),
            Node("dc", "distribution_center", supplier="vendor", lead_time=LeadTime((1, 2, 3), (0.3, 0.4, 0.3)),
                 holding_cost_factor=0.5, transport_cost=0.1, inbound_capacity=14.0),
            Node("fc1", "fulfillment_center", supplier="dc", lead_time=LeadTime((1, 2), (0.7, 0.3)),
                 transport_cost=0.2, storage_capacity=6.0, overflow_cost=0.4),
            Node("fc2", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(1), transport_cost=0.2),
            Node("ssd", "same_day_site", supplier="fc1", lead_time=LeadTime.fixed(1), holding_cost_factor=1.5,
                 storage_capacity=2.0, overflow_cost=1.0),
        ),
        products=(
            Product("a", 5.0, volume=0.5, unit_cost=1.0, holding_cost=0.2, penalty_scale=1.0),
            Product("b", 2.0, volume=2.0, unit_cost=2.0, holding_cost=0.3, penalty_scale=2.0),
        ),
        regions=(
            Region("north", 0.4, (ServiceLink("fc1", 0, 0.4), ServiceLink("fc2", 1, 0.3), ServiceLink("ssd", 0, 0.9))),
            Region("south", 0.3, (ServiceLink("fc2", 1, 0.5), ServiceLink("fc1", 2, 0.6))),
            Region("east", 0.3, (ServiceLink("ssd", 0, 1.0), ServiceLink("fc2", 1, 0.4))),
        ),
        speeds=(
            Speed("same_day", 0, 5.0, demand_share=0.3, cutoff_share=0.3, spill_share=0.6),
            Speed("one_day", 1, 3.0, demand_share=0.3, cutoff_share=0.25, spill_share=0.5),
            Speed("two_day", 2, 2.0, demand_share=0.4, cutoff_share=0.2),
        ),
        demand=Demand("negative_binomial", dispersion=3.0, seasonality=(0.8, 1.3, 1.0), region_correlation=0.3),
        unmet_demand=unmet_demand,
        lead_time_mode=lead_time_mode,
        warmup_periods=4,
    )


@dataclass(frozen=True)
class Step:
    """One simulated period: the state it started in, the order quantities, and what the transition returned."""

    state: State
    orders: np.ndarray  # (1, N, P)
    next_state: State
    outcome: StepOutcome


def simulate(params: EnvParams, start: State, noise: Noise, policy) -> list[Step]:
    """Run ``policy`` (observations -> actions in ``policy.action_mode``) through the transition."""
    steps, state = [], start
    for t in range(noise.demand.shape[0]):
        orders = decode_action(policy(observe(state, params)), state, params, policy.action_mode)
        next_state, outcome = transition(state, orders, period_noise(noise, t), params)
        steps.append(Step(state, orders, next_state, outcome))
        state = next_state
    return steps


class RandomActions:
    """Uniform random actions in ``action_mode`` (seeded)."""

    def __init__(self, params: EnvParams, action_mode: str, seed: int) -> None:
        self.action_mode = action_mode
        self.size = params.num_nodes * params.num_products
        self.rng = np.random.default_rng(seed)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (len(observations), self.size))


@dataclass(frozen=True)
class Fulfilment:
    """Per-period amounts of the greedy fulfillment: served per arc (A, P), spilled and penalized (R, S, P)."""

    serve: np.ndarray
    carry: np.ndarray
    rest: np.ndarray


def greedy_fulfilment(params: EnvParams, step: Step, noise: Noise) -> Fulfilment:
    """Serve the period's orders greedily from the stock the env had before serving (speeds fastest first;
    within a speed orders before the cut-off, region by region, then after it; each class along its arcs) and
    check the outcome against the env's."""
    before, _ = transition(replace(step.state, backlog=np.zeros_like(step.state.backlog)), step.orders,
                           replace(noise, demand=np.zeros_like(noise.demand)), params)
    stock = before.on_hand[0].copy()
    demand = noise.demand[0]
    late = np.floor(demand * params.cutoff_share[:, None] + noise.cutoff_uniform[0])
    on_time = demand - late + step.state.backlog[0]
    arcs = defaultdict(list)
    for a, arc in enumerate(params.arcs):
        arcs[(arc.speed, arc.late, arc.region)].append(a)
    serve = np.zeros((len(params.arcs), params.num_products))
    carry, rest = np.zeros(demand.shape), np.zeros(demand.shape)
    incoming = np.zeros((params.num_regions, params.num_products))
    for s in range(params.num_speeds):
        classes = [(False, on_time[:, s] + incoming)] + ([(True, late[:, s])] if params.cutoff_share[s] > 0 else [])
        unmet = np.zeros_like(incoming)
        for is_late, orders in classes:
            for r in range(params.num_regions):
                open_orders = orders[r].copy()
                for a in arcs[(s, is_late, r)]:
                    take = np.minimum(open_orders, stock[params.arcs[a].node])
                    stock[params.arcs[a].node] -= take
                    open_orders -= take
                    serve[a] += take
                unmet[r] += open_orders
        incoming = np.zeros_like(incoming)
        if s + 1 < params.num_speeds and params.spill_share[s] > 0:
            incoming = np.floor(unmet * params.spill_share[s] + noise.spill_uniform[0, :, s])
        carry[:, s], rest[:, s] = incoming, unmet - incoming
    shipping = sum(arc.shipping_cost * serve[a].sum() for a, arc in enumerate(params.arcs))
    np.testing.assert_array_equal(stock, step.next_state.on_hand[0])
    np.testing.assert_allclose(shipping, step.outcome.shipping_cost[0], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(np.einsum("rsp,sp->s", rest, params.penalty), step.outcome.penalty_cost[0], atol=1e-9)
    if params.backorders:
        np.testing.assert_array_equal(rest, step.next_state.backlog[0])
    return Fulfilment(serve, carry, rest)


def trajectory_point(lp: EpisodeLP, params: EnvParams, steps: list[Step], noise: Noise) -> np.ndarray:
    """The trajectory as a point of ``lp``. Fails if the env put a nonzero amount where the LP has no variable
    (a class the LP left out, a shipment arriving outside its window)."""
    x = np.zeros(len(lp.cost))
    periods = len(steps)
    option = {key: k for k, key in enumerate(zip(lp.ship_period, lp.ship_node, lp.ship_product, lp.ship_arrival))}
    capped = np.isfinite(params.inbound_units)
    for t, step in enumerate(steps):
        state, following = step.state, step.next_state
        fulfilment = greedy_fulfilment(params, step, period_noise(noise, t))
        arriving = np.where(state.due[0] == 0, state.pipeline[0], 0.0).sum(1)
        received = state.dock[0] + arriving - following.dock[0]
        overflow = np.maximum(step.outcome.storage_used[0] - params.storage_capacity, 0.0)
        for name, value in (("on_hand", following.on_hand[0]), ("dock", following.dock[0]), ("received", received),
                            ("serve", fulfilment.serve), ("carry", fulfilment.carry), ("rest", fulfilment.rest),
                            ("overflow", overflow)):
            _put(x, lp.columns[name][t], value, f"{name} in period {t}", ~capped[:, None] if name == "received"
                 else None)
        shipped = step.outcome.shipped[0]
        arrival = np.minimum(t + 1 + following.due[0][:, 0, :].astype(int), periods)
        for n, p in zip(*np.nonzero(shipped)):
            key = (t, n, p, arrival[n, p])
            assert key in option, f"shipment {key} (period, node, product, arrival) outside its window"
            x[lp.columns["ship"][option[key]]] = shipped[n, p]
    return x


def _put(x: np.ndarray, columns: np.ndarray, value: np.ndarray, what: str, free: np.ndarray | None) -> None:
    """x[columns] = value where a column exists; elsewhere the value must be 0 (or is not an LP variable: ``free``)."""
    value = np.broadcast_to(value, columns.shape)
    missing = columns < 0
    if free is not None:
        missing &= ~np.broadcast_to(free, columns.shape)
    assert np.all(value[missing] == 0), f"{what}: the env has {value[missing].max()} where the LP has no variable"
    x[columns[columns >= 0]] = value[columns >= 0]


def episode_cost(steps: list[Step]) -> float:
    return float(sum(step.outcome.total_cost[0] for step in steps))
