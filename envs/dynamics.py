"""The transition: one pure function of (state, order quantities, noise, params), batched.

No random numbers, no gym, no ``self``: every front end (single env, vector env, torch rollout) calls
:func:`transition`. Array operations go through ``xp`` (``numpy`` by default; any namespace with the
same functions, such as ``torch``, works), and no array is modified in place.

Order of events in one period (documented once, tested in ``tests/envs/test_dynamics.py``):

1. **Receive.** Shipments due this period join the dock queue; each node receives up to its inbound
   capacity (units, all products), proportionally across products and rounded down; the rest waits
   at the dock for the next period.
2. **Order and ship.** Each node requests its order quantity from its supplier. Vendors always ship in
   full (purchase cost). A stocking supplier ships from its on-hand stock after its own receipts; when
   requests exceed it, every child gets the same fraction of its request, rounded down (leftover units
   stay at the supplier). Shipped units enter the pipeline and arrive ``L >= 1`` periods later, at
   the start of period ``t + L`` (step 1), so an order placed now covers demand over ``L + 1`` periods
   at the bottom stage. Under ``sequential`` lead times a shipment never arrives before an earlier one.
3. **Demand.** Orders per (product, region, speed) arrive; a share placed after the cut-off (rounded
   with a uniform) may be served with one more period of slack; backorders join this period's on-time
   orders. Speeds are served fastest first, on-time before late, region by region, each from its
   eligible nodes in the fulfillment policy's order, from on-hand stock. A share of a speed's unmet
   orders (rounded with a uniform) spills to the next slower speed in the same period; the rest is lost
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


def _receive(state: State, params: EnvParams, xp: Any):
    arriving_cells = state.due == 0
    arriving = xp.where(arriving_cells, state.pipeline, 0.0).sum(2)
    pipeline = xp.where(arriving_cells, 0.0, state.pipeline)
    candidates = state.dock + arriving
    total = candidates.sum(-1)
    fraction = xp.minimum(1.0, xp.asarray(params.inbound_capacity)[None, :] / xp.maximum(total, 1.0))
    received = xp.floor(candidates * fraction[..., None])
    return pipeline, candidates - received, state.on_hand + received, received.sum(-1)


def _ship(on_hand, order_quantity, params: EnvParams, xp: Any):
    child_of = xp.asarray(params.child_of)
    requested_from = xp.einsum("bnp,nu->bup", order_quantity, child_of)
    fill = xp.where(requested_from > on_hand, on_hand / xp.maximum(requested_from, 1.0), 1.0)
    supplier = np.maximum(params.supplier_index, 0)
    child_fill = xp.where(xp.asarray(params.from_vendor)[None, :, None], 1.0, fill[:, supplier, :])
    shipped = xp.floor(order_quantity * child_fill)
    return shipped, on_hand - xp.einsum("bnp,nu->bup", shipped, child_of)


def _fulfil(on_hand, state: State, noise: Noise, params: EnvParams, xp: Any):
    """Serve orders speed by speed.

    Returns the end-of-period on-hand (B, N, P), units served per fulfillment arc (list of (B, P)),
    units requested per speed (list of (B,)), and the unmet orders per speed that neither were served
    nor spilled to a slower speed (list of (B, P, R)).
    """
    stock = [on_hand[:, n, :] for n in range(params.num_nodes)]
    new = noise.demand
    late = xp.floor(new * xp.asarray(params.cutoff_share) + noise.cutoff_uniform)
    on_time = new - late + state.backlog
    served_arcs = [None] * len(params.arcs)
    carry = [None] * params.num_regions  # spilled orders joining the next speed
    requested, unmet_left = [], []
    for s in range(params.num_speeds):
        remaining = []
        speed_requested = 0.0
        for r in range(params.num_regions):
            unmet_region = 0.0
            for late_class in (0, 1):
                open_orders = late[:, :, r, s] if late_class else on_time[:, :, r, s]
                if not late_class and carry[r] is not None:
                    open_orders = open_orders + carry[r]
                speed_requested = speed_requested + open_orders.sum(-1)
                for arc, n in params.arc_groups[2 * s + late_class][r]:
                    take = xp.minimum(open_orders, stock[n])
                    stock[n] = stock[n] - take
                    open_orders = open_orders - take
                    served_arcs[arc] = take
                unmet_region = unmet_region + open_orders
            remaining.append(unmet_region)
        unmet = xp.stack(remaining, 2)  # (B, P, R)
        if s + 1 < params.num_speeds and params.spill_share[s] > 0:
            spilled = xp.floor(unmet * params.spill_share[s] + noise.spill_uniform[:, :, :, s])
            carry = [spilled[:, :, r] for r in range(params.num_regions)]
            unmet = unmet - spilled
        else:
            carry = [None] * params.num_regions
        requested.append(speed_requested)
        unmet_left.append(unmet)
    return xp.stack(stock, 1), served_arcs, requested, unmet_left


def transition(
    state: State, order_quantity: Any, noise: Noise, params: EnvParams, xp: Any = np
) -> tuple[State, StepOutcome]:
    """Advance every replica one period. ``order_quantity`` (B, N, P) whole units >= 0; ``noise`` (B, ...)."""
    pipeline, dock, on_hand, received = _receive(state, params, xp)
    shipped, on_hand = _ship(on_hand, order_quantity, params, xp)

    due_new = xp.asarray(noise.lead_time, dtype=pipeline.dtype) - 1.0
    last_due = xp.maximum(state.last_due - 1.0, 0.0)
    if params.sequential:
        due_new = xp.maximum(due_new, last_due)
    last_due = xp.where(shipped > 0, due_new, last_due)
    pipeline = xp.concatenate([shipped[:, :, None, :], pipeline[:, :, :-1, :]], 2)
    due = xp.concatenate([due_new[:, :, None, :], state.due[:, :, :-1, :] - 1.0], 2)

    on_hand, served_arcs, requested, unmet_left = _fulfil(on_hand, state, noise, params, xp)

    served = xp.stack(served_arcs, 1)  # (B, arcs, P)
    served_speed = xp.einsum("bap,as->bs", served, xp.asarray(params.arc_speed))
    unmet = xp.stack(unmet_left, 3)  # (B, P, R, S)
    penalty_cost = xp.einsum("bprs,ps->bs", unmet, xp.asarray(params.penalty))
    if params.backorders:
        new_backlog, lost_units = unmet, served_speed * 0.0
    else:
        new_backlog, lost_units = state.backlog, unmet.sum((1, 2))

    storage_used = xp.einsum("bnp,p->bn", on_hand, xp.asarray(params.volume))
    overflow = xp.maximum(storage_used - xp.asarray(params.storage_capacity)[None, :], 0.0)
    outcome = StepOutcome(
        holding_cost=(on_hand * xp.asarray(params.holding_cost)).sum((1, 2))
        + (dock * xp.asarray(params.holding_cost)).sum((1, 2))
        + (pipeline.sum(2) * xp.asarray(params.pipeline_holding_cost)).sum((1, 2)),
        purchase_cost=(shipped * xp.asarray(params.purchase_cost)).sum((1, 2)),
        transport_cost=(shipped * xp.asarray(params.transport_cost)).sum((1, 2)),
        shipping_cost=xp.einsum("bap,a->b", served, xp.asarray(params.arc_shipping_cost)),
        penalty_cost=penalty_cost,
        overflow_cost=(overflow * xp.asarray(params.overflow_cost)[None, :]).sum(-1),
        requested=xp.stack(requested, 1),
        new_orders=noise.demand.sum((1, 2)),
        served=served_speed,
        lost=lost_units,
        purchased=(shipped * xp.asarray(params.from_vendor, dtype=shipped.dtype)[None, :, None]).sum(1),
        served_units=served.sum(1),
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
        last_demand=noise.demand.sum(-1),
        received=received,
        period=state.period + 1,
    )
    return next_state, outcome
