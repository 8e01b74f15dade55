"""The transition: one pure function of (state, order quantities, noise, params), batched.

No random numbers, no gym, no ``self``: every front end (single env, vector env, torch rollout) calls
:func:`transition`. Array operations go through ``xp`` (``numpy`` by default; any namespace with the
same functions, such as ``torch``, works), and no array is modified in place.

Order of events in one period (documented once; hand-worked in ``tests/envs/test_hand_worked.py``):

1. **Receive.** Shipments due this period join the dock queue; each node receives up to its inbound
   capacity (units, all products), split across products in proportion to what is waiting (largest
   remainder, so exactly the capacity is used); the rest waits at the dock for the next period.
2. **Order and ship.** Each node requests its order quantity from its supplier. Vendors always ship in
   full (purchase cost). A stocking supplier ships from its on-hand stock after its own receipts; when
   requests exceed it, all of it is shipped, split among the children in proportion to their requests
   (largest remainder); the unshipped part of a request lapses (a base-stock policy simply asks
   again, which is equivalent to a backorder at the supplier). Shipped units enter the pipeline and
   arrive ``L >= 1`` periods later, at the start of period ``t + L`` (step 1), so an order placed now
   covers demand over ``L + 1`` periods at the bottom stage. Under ``sequential`` lead times a
   shipment never arrives before an earlier one.
3. **Demand.** Orders per (product, region, speed) arrive; a share placed after the cut-off (rounded
   with a uniform) may be served with one more period of slack; backorders join this period's on-time
   orders. Speeds are served fastest first; within a speed, the on-time orders of every region (region
   by region) before any order placed after the cut-off; each stream draws on its eligible nodes in the
   fulfillment policy's order, from on-hand stock. A share of a speed's unmet orders (rounded with a
   uniform) spills to the next slower speed in the same period; the rest is lost
   (lost sales) or backordered (backorders).
4. **Costs** on the end-of-period state: holding (on hand and dock at the node's rate, in transit at
   the supplier's rate, nothing for vendor stock), purchase, inbound transport, outbound shipping,
   unmet-demand penalty per speed (per unit lost, or per unit and period backordered), and storage
   overflow (volume on hand above the soft capacity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.noise import Noise
from envs.params import EnvParams
from envs.state import State


@dataclass(frozen=True)
class StepOutcome:
    """Per-replica results of one period (leading axis B)."""

    holding_cost: Any  # (B,)
    purchase_cost: Any  # (B,)
    transport_cost: Any  # (B,)
    shipping_cost: Any  # (B,)
    penalty_cost: Any  # (B, S)
    overflow_cost: Any  # (B,)
    requested: Any  # (B, S) orders a speed had to serve: new + spilled in + backlog
    new_orders: Any  # (B, S) new customer orders
    served: Any  # (B, S)
    lost: Any  # (B, S) units lost for good (lost sales)
    purchased: Any  # (B, P) units bought from vendors
    served_units: Any  # (B, P) units delivered to customers
    shipped: Any  # (B, N, P) units shipped to each node
    storage_used: Any  # (B, N) volume on hand at the end of the period
    received: Any  # (B, N) units received

    @property
    def total_cost(self) -> Any:
        return (
            self.holding_cost
            + self.purchase_cost
            + self.transport_cost
            + self.shipping_cost
            + self.penalty_cost.sum(-1)
            + self.overflow_cost
        )


def _apportion(share: Any, units: Any, axis: int, xp: Any) -> Any:
    """Whole-unit split of ``units`` in proportion to the real ``share`` along ``axis`` (largest remainder).

    Each entry gets ``floor(share)``; the units left over go one each to the largest remainders (ties to
    the lower index), so exactly ``units`` are handed out and nothing is left idle by rounding.
    """
    whole = xp.floor(share)
    remainder = share - whole
    leftover = units - xp.sum(whole, axis=axis, keepdims=True)
    order = xp.argsort(-remainder, axis=axis, stable=True)
    rank = xp.argsort(order, axis=axis, stable=True)
    return whole + xp.astype((rank < leftover) & (remainder > 0), whole.dtype)


def _receive(state: State, params: EnvParams, xp: Any):
    arriving_cells = state.due == 0
    arriving = xp.where(arriving_cells, state.pipeline, 0.0).sum(2)
    pipeline = xp.where(arriving_cells, 0.0, state.pipeline)
    candidates = state.dock + arriving
    if params.has_inbound_capacity:
        total = xp.sum(candidates, axis=-1, keepdims=True)
        units = xp.minimum(xp.asarray(params.inbound_units)[None, :, None], total)
        if bool(xp.any(units < total)):  # apportioning when nothing binds would return candidates unchanged
            received = _apportion(candidates * (units / xp.maximum(total, 1.0)), units, -1, xp)
        else:
            received = candidates
        dock = candidates - received
    else:
        received, dock = candidates, xp.zeros_like(candidates)
    return pipeline, dock, state.on_hand + received, received.sum(-1)


def _ship(on_hand, order_quantity, params: EnvParams, xp: Any):
    """Vendors ship in full; a stocking supplier ships min(on hand, requests), split among its children in
    proportion to their requests (largest remainder)."""
    if not params.has_internal_supply:
        return order_quantity, on_hand
    shipped = [order_quantity[:, n, :] for n in range(params.num_nodes)]
    outflow = [xp.zeros_like(on_hand[:, n, :]) for n in range(params.num_nodes)]
    for supplier, children in params.children:
        requests = order_quantity[:, children, :]
        requested = xp.sum(requests, axis=1, keepdims=True)
        units = xp.minimum(on_hand[:, supplier : supplier + 1, :], requested)
        if bool(xp.any(units < requested)):  # apportioning when nothing is short would return the requests
            sent = _apportion(requests * (units / xp.maximum(requested, 1.0)), units, 1, xp)
        else:
            sent = requests
        for k, child in enumerate(children):
            shipped[child] = sent[:, k, :]
        outflow[supplier] = xp.sum(sent, axis=1)
    return xp.stack(shipped, 1), on_hand - xp.stack(outflow, 1)


def _fulfil(on_hand, state: State, noise: Noise, params: EnvParams, xp: Any):
    """Serve orders speed by speed.

    Returns the end-of-period on-hand (B, N, P), the shipping cost (B,), units requested and served
    per speed (lists of (B,)), and the unmet orders per speed that were neither served nor spilled to
    a slower speed (list of (B, R, P)).
    """
    stock = [on_hand[:, n, :] * 1.0 for n in range(params.num_nodes)]
    new = noise.demand
    late = xp.floor(new * xp.asarray(params.cutoff_share)[:, None] + noise.cutoff_uniform)
    on_time = new - late + state.backlog
    taken_by_cost: list[list[Any]] = [[] for _ in params.shipping_costs]  # units shipped per arc, by cost
    carry = None  # orders spilled from the previous speed, (B, R, P)
    requested, served, unmet_left = [], [], []
    for s in range(params.num_speeds):
        classes = [on_time[:, :, s, :] if carry is None else on_time[:, :, s, :] + carry]
        if params.cutoff_share[s] > 0:
            classes.append(late[:, :, s, :])
        speed_requested = 0.0
        remaining = [0.0] * params.num_regions
        for late_class, orders in enumerate(classes):
            speed_requested = speed_requested + orders.sum((1, 2))
            for r in range(params.num_regions):
                open_orders = orders[:, r, :]
                for n, cost in params.serving[s][late_class][r]:
                    unserved = xp.maximum(open_orders - stock[n], 0.0)  # the orders beyond node n's stock
                    take = open_orders - unserved
                    stock[n] = stock[n] - take
                    open_orders = unserved
                    taken_by_cost[cost].append(take)
                remaining[r] = remaining[r] + open_orders
        unmet = xp.stack(remaining, 1)  # (B, R, P)
        served.append(speed_requested - unmet.sum((1, 2)))
        carry = None
        if s + 1 < params.num_speeds and params.spill_share[s] > 0:
            carry = xp.floor(unmet * params.spill_share[s] + noise.spill_uniform[:, :, s, :])
            unmet = unmet - carry
        requested.append(speed_requested)
        unmet_left.append(unmet)
    shipping_cost = 0.0
    for cost, taken in zip(params.shipping_costs, taken_by_cost):
        if taken:  # one sum per cost over its arcs' stacked shipments (not one addition per arc)
            shipping_cost = shipping_cost + cost * xp.sum(xp.stack(taken), axis=(0, 2))
    return xp.stack(stock, 1), shipping_cost, requested, served, unmet_left


def transition(
    state: State, order_quantity: Any, noise: Noise, params: EnvParams, xp: Any = np
) -> tuple[State, StepOutcome]:
    """Advance every replica one period. ``order_quantity`` (B, N, P) whole units >= 0; ``noise`` (B, ...)."""
    pipeline, dock, on_hand, received = _receive(state, params, xp)
    shipped, on_hand = _ship(on_hand, order_quantity, params, xp)

    due_new = noise.lead_time - 1  # periods left at the start of the next period
    last_due = xp.maximum(state.last_due - 1, 0)
    if params.sequential:
        due_new = xp.maximum(due_new, last_due)
    last_due = xp.where(shipped > 0, due_new, last_due)
    pipeline = xp.concatenate([shipped[:, :, None, :], pipeline[:, :, :-1, :]], 2)
    due = xp.concatenate([due_new[:, :, None, :], state.due[:, :, :-1, :] - 1], 2)

    before = on_hand
    on_hand, shipping_cost, requested, served, unmet_left = _fulfil(on_hand, state, noise, params, xp)
    unmet = xp.stack(unmet_left, 2)  # (B, R, S, P)
    penalty_cost = (unmet.sum(1) * xp.asarray(params.penalty)).sum(-1)  # (B, S)
    served_speed = xp.stack(served, 1)
    if params.backorders:
        new_backlog, lost_units = unmet, xp.zeros_like(served_speed)
    else:
        new_backlog, lost_units = state.backlog, unmet.sum((1, 3))

    holding = xp.asarray(params.holding_cost)
    storage_used = xp.matmul(on_hand, xp.asarray(params.volume))
    overflow = xp.maximum(storage_used - xp.asarray(params.storage_capacity)[None, :], 0.0)
    outcome = StepOutcome(
        holding_cost=((on_hand + dock) * holding).sum((1, 2))
        + (pipeline.sum(2) * xp.asarray(params.pipeline_holding_cost)).sum((1, 2)),
        purchase_cost=(shipped * xp.asarray(params.purchase_cost)).sum((1, 2)),
        transport_cost=(shipped * xp.asarray(params.transport_cost)).sum((1, 2)),
        shipping_cost=shipping_cost + xp.zeros_like(served_speed[:, 0]),  # an array even with no shipping
        penalty_cost=penalty_cost,
        overflow_cost=xp.matmul(overflow, xp.asarray(params.overflow_cost)),
        requested=xp.stack(requested, 1),
        new_orders=noise.demand.sum((1, 3)),
        served=served_speed,
        lost=lost_units,
        purchased=(shipped * xp.asarray(params.from_vendor, dtype=shipped.dtype)[None, :, None]).sum(1),
        served_units=(before - on_hand).sum(1),
        shipped=shipped,
        storage_used=storage_used,
        received=received,
    )
    next_state = State(
        on_hand=on_hand,
        dock=dock,
        pipeline=pipeline,
        due=due,
        last_due=last_due,
        backlog=new_backlog,
        last_demand=noise.demand.sum(2),
        received=received,
        period=state.period + 1,
    )
    return next_state, outcome
