"""The linear program of one whole episode with its noise known in advance (perfect information).

Variables (all >= 0; T periods, N stocking nodes, P products, A fulfillment arcs, R regions, S speeds):
end-of-period ``on_hand`` (T, N, P); ``received`` and ``dock`` (T, N, P) at nodes with an inbound cap;
``ship`` options (shipment into a node in period t arriving at the start of period tau, tau = T for "after
the horizon"); ``serve`` (T, A, P) units of a (speed, before/after cut-off, region) class served from an
arc's node; ``carry`` (T, R, S, P) unmet orders spilled to the next slower speed; ``rest`` (T, R, S, P) unmet
orders penalized (lost, or backordered into the next period); ``overflow`` (T, N) storage volume above a cap.
Rows: stock balance per (t, node, product) (receipts, shipments to children, customers); dock balance and
inbound cap; storage overflow; per (t, region, speed, product) orders = served + carry + rest, with orders =
new + spilled in + backlog; caps on what each class may be served; the spill rounding.

The objective is the env's cost exactly (:mod:`envs.dynamics`, step 4): holding on hand and at the dock at the
node's rate and in transit at the supplier's rate (a shipment pays it for each end of period it spends in the
pipeline, the start state's pipeline a constant), purchase and transport per unit shipped, shipping per arc,
the penalty per speed on ``rest`` and the overflow cost per unit of volume above a storage cap.

Why every trajectory the env can produce is a feasible point with its simulated cost (so the optimum is a
lower bound on the cost of every policy on this episode, including policies that see the future, and its
expectation bounds every non-anticipative policy; Brown, Smith & Sun 2010 call it the perfect-information
relaxation):

- the env's quantities are whole units; here they are real (integrality relaxed);
- an order is any shipment up to the supplier's stock after its own receipts: the env's proportional
  rationing of a short supplier and the action's range are relaxed to any feasible split;
- receipts are any split under the inbound cap of what is at the dock: the env receives
  min(cap, waiting), apportioned by largest remainder, which is one such split;
- customers may be served from any eligible node (the arcs of ``params.arcs``) in any amounts: the greedy
  order (speeds fastest first, the fulfillment policy's node order) is one choice;
- the spill of a speed's unmet orders, floor(sigma unmet + u), is relaxed to sigma unmet + u - 1 <= carry
  <= sigma unmet + u (the floor's bounds, the strict one closed), with the bounds of
  :mod:`baselines.hindsight_orders` on carry and rest (they hold on every trajectory); so are the upper
  bounds on serve (the class's orders) and on received (the cap);
- lead times: under ``independent`` a shipment arrives at t + L_t. Under ``sequential`` the env delivers a
  shipment at max(t + L_t, arrival of the latest positive shipment before it), which depends on which
  earlier orders were zero; it lies between max(t + L_t, d0) (d0: the start state's ``last_due``) and
  max(d0, max over t' <= t of t' + L_t'), and the LP may split a shipment over every period of that window
  (the choice of which orders are zero, and with it the order of arrivals, is relaxed);
- the episode ends after T periods: stock, backlog and pipeline left at the end have no value, as in the
  env's episode cost.

Variables of a class that can have no orders in the episode (upper bound 0) are left out, which makes the LP
small on catalogs of slow movers. The matrix is assembled from index arrays (scipy.sparse), never cell by cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from baselines.hindsight_orders import EpisodeOrders, episode_orders
from envs.noise import Noise
from envs.params import EnvParams
from envs.state import State


@dataclass(frozen=True, eq=False)
class EpisodeLP:
    """min cost @ x + constant  s.t.  row_lower <= matrix @ x <= row_upper,  lower <= x <= upper.

    ``columns[name]`` maps each variable block to its column indices (-1 where a variable is left out):
    ``on_hand``, ``received``, ``dock`` (T, N, P), ``serve`` (T, A, P), ``carry``, ``rest`` (T, R, S, P),
    ``overflow`` (T, N), ``ship`` (options,) with ``ship_period``, ``ship_node``, ``ship_product`` and
    ``ship_arrival`` (T: after the horizon) per option.
    """

    cost: np.ndarray
    constant: float
    matrix: sparse.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    columns: dict[str, np.ndarray]
    ship_period: np.ndarray
    ship_node: np.ndarray
    ship_product: np.ndarray
    ship_arrival: np.ndarray
    orders: EpisodeOrders

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def objective(self, x: np.ndarray) -> float:
        """Episode cost of the point ``x``."""
        return float(self.cost @ x + self.constant)

    def violation(self, x: np.ndarray) -> float:
        """Largest violation of a row or a bound by ``x`` (0 for a feasible point)."""
        activity = self.matrix @ x
        return float(max(np.max(self.row_lower - activity, initial=0.0), np.max(activity - self.row_upper, initial=0.0),
                         np.max(self.lower - x, initial=0.0), np.max(x - self.upper, initial=0.0)))


class _Assembly:
    """Columns and rows allocated block by block from masks; entries added as broadcast index arrays."""

    def __init__(self) -> None:
        self.num_columns = 0
        self.num_rows = 0
        self._columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._rows: list[tuple[np.ndarray, np.ndarray]] = []
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def columns(self, mask: np.ndarray, cost: object = 0.0, lower: object = 0.0, upper: object = np.inf) -> np.ndarray:
        """Index array shaped like ``mask`` (-1 where False); cost and bounds broadcast to it."""
        mask = np.asarray(mask, dtype=bool)
        index = self._allocate(mask, self.num_columns)
        self.num_columns += int(mask.sum())
        self._columns.append(tuple(np.broadcast_to(np.asarray(v, dtype=float), mask.shape)[mask]
                                   for v in (cost, lower, upper)))
        return index

    def rows(self, mask: np.ndarray, lower: object, upper: object) -> np.ndarray:
        mask = np.asarray(mask, dtype=bool)
        index = self._allocate(mask, self.num_rows)
        self.num_rows += int(mask.sum())
        self._rows.append(tuple(np.broadcast_to(np.asarray(v, dtype=float), mask.shape)[mask] for v in (lower, upper)))
        return index

    def add(self, rows: np.ndarray, columns: np.ndarray, values: object = 1.0) -> None:
        """Coefficients ``values`` at (rows, columns), broadcast together; entries with an index of -1 are skipped."""
        rows, columns, values = np.broadcast_arrays(rows, columns, np.asarray(values, dtype=float))
        keep = (rows >= 0) & (columns >= 0)
        self._entries.append((rows[keep], columns[keep], values[keep]))

    def build(self) -> tuple[np.ndarray, ...]:
        cost, lower, upper = (np.concatenate([c[i] for c in self._columns]) for i in range(3))
        row_lower, row_upper = (np.concatenate([r[i] for r in self._rows]) for i in range(2))
        rows, columns, values = (np.concatenate([e[i] for e in self._entries]) for i in range(3))
        matrix = sparse.csr_array((values, (rows, columns)), shape=(self.num_rows, self.num_columns))
        matrix.sum_duplicates()
        return cost, lower, upper, matrix, row_lower, row_upper

    @staticmethod
    def _allocate(mask: np.ndarray, start: int) -> np.ndarray:
        index = np.full(mask.shape, -1, dtype=np.int64)
        index[mask] = np.arange(start, start + int(mask.sum()))
        return index


def episode_lp(params: EnvParams, start: State, noise: Noise) -> EpisodeLP:
    """Build the hindsight LP of the episode that starts in ``start`` (batch of one) with time-leading ``noise``."""
    if start.batch_size != 1:
        raise ValueError(f"start must be one state (batch of one), got a batch of {start.batch_size}")
    orders = episode_orders(params, start, noise)
    periods = noise.demand.shape[0]
    n_nodes, n_products = params.num_nodes, params.num_products
    capped = np.isfinite(params.inbound_units)
    priced = np.isfinite(params.storage_capacity) & (np.asarray(params.overflow_cost) > 0)
    holding = np.asarray(params.holding_cost, dtype=float)
    grid = np.ones((periods, n_nodes, n_products), dtype=bool)
    lp = _Assembly()

    # Columns -------------------------------------------------------------------------------------------------
    on_hand = lp.columns(grid, holding[None])
    at_cap = grid & capped[None, :, None]
    received = lp.columns(at_cap, 0.0, 0.0, np.where(capped, params.inbound_units, np.inf)[None, :, None])
    dock = lp.columns(at_cap, holding[None])
    ship_period, ship_node, ship_product, ship_arrival = _ship_options(params, start, noise)
    supplier_rate = np.asarray(params.pipeline_holding_cost, dtype=float)[ship_node, ship_product]
    unit_cost = (np.asarray(params.purchase_cost) + np.asarray(params.transport_cost))[ship_node, ship_product]
    ship = lp.columns(np.ones(len(ship_period), dtype=bool), unit_cost + supplier_rate * (ship_arrival - ship_period))
    arc_speed, arc_late, arc_region, arc_node = (np.array([getattr(a, f) for a in params.arcs], dtype=int)
                                                 for f in ("speed", "late", "region", "node"))
    arc_cost = np.array([a.shipping_cost for a in params.arcs])
    class_orders = np.where(arc_late[None, :, None], orders.late[:, arc_region, arc_speed, :],
                            orders.orders_upper[:, arc_region, arc_speed, :])  # (T, A, P)
    serve = lp.columns(class_orders > 0, arc_cost[None, :, None], 0.0, class_orders)
    carry = lp.columns(orders.spills[None, None, :, None] & (orders.carry_upper > 0), 0.0, orders.carry_lower,
                       orders.carry_upper)
    rest = lp.columns(orders.rest_upper > 0, np.asarray(params.penalty)[None, None], orders.rest_lower,
                      orders.rest_upper)
    overflow = lp.columns(np.broadcast_to(priced, (periods, n_nodes)), np.asarray(params.overflow_cost)[None])

    # Stock at each node: on hand(t) = on hand(t - 1) + receipts - shipments to children - served ------------
    arrivals, pipeline_cost = _start_pipeline(params, start, periods)
    start_dock = np.asarray(start.dock[0], dtype=float)
    direct = ~capped[None, :, None]
    opening = np.zeros(grid.shape)
    opening[0] = start.on_hand[0] + np.where(direct[0], start_dock, 0.0)
    supply = opening + np.where(direct, arrivals, 0.0)
    stock = lp.rows(grid, supply, supply)
    lp.add(stock, on_hand)
    lp.add(stock[1:], on_hand[:-1], -1.0)
    lp.add(stock, received, -1.0)
    inside = ship_arrival < periods
    arriving = np.where(inside, ship_arrival, 0)
    lp.add(np.where(inside & ~capped[ship_node], stock[arriving, ship_node, ship_product], -1), ship, -1.0)
    supplier = np.asarray(params.supplier_index)[ship_node]
    lp.add(np.where(supplier >= 0, stock[ship_period, np.maximum(supplier, 0), ship_product], -1), ship)
    lp.add(stock[:, arc_node, :], serve)

    # Dock and inbound cap ---------------------------------------------------------------------------------------
    waiting = np.where(at_cap, arrivals, 0.0)
    waiting[0] += np.where(capped[:, None], start_dock, 0.0)
    dock_rows = lp.rows(at_cap, waiting, waiting)
    lp.add(dock_rows, dock)
    lp.add(dock_rows[1:], dock[:-1], -1.0)
    lp.add(dock_rows, received)
    lp.add(np.where(inside & capped[ship_node], dock_rows[arriving, ship_node, ship_product], -1), ship, -1.0)
    inbound = lp.rows(np.broadcast_to(capped, (periods, n_nodes)), -np.inf, np.asarray(params.inbound_units)[None])
    lp.add(inbound[:, :, None], received)

    # Storage overflow --------------------------------------------------------------------------------------------
    storage = lp.rows(np.broadcast_to(priced, (periods, n_nodes)), -np.inf, np.asarray(params.storage_capacity)[None])
    lp.add(storage[:, :, None], on_hand, np.asarray(params.volume)[None, None])
    lp.add(storage, overflow, -1.0)

    # Customer orders ---------------------------------------------------------------------------------------------
    owed = np.zeros(orders.late.shape)
    if params.backorders:
        owed[0] = orders.start_backlog
    before_cutoff = orders.on_time + owed
    balance = lp.rows(orders.unmet_upper > 0, before_cutoff + orders.late, before_cutoff + orders.late)
    lp.add(balance, rest)
    lp.add(balance, carry)
    _add_inflow(lp, balance, rest, carry, params.backorders)
    lp.add(balance[:, arc_region, arc_speed, :], serve)

    late_arcs = arc_late.astype(bool)
    on_time_cap = lp.rows((orders.late > 0) & orders.on_time_arcs[None, :, :, None] & (orders.orders_upper > 0),
                          -np.inf, before_cutoff)
    _add_inflow(lp, on_time_cap, rest, carry, params.backorders)
    lp.add(on_time_cap[:, arc_region[~late_arcs], arc_speed[~late_arcs], :], serve[:, ~late_arcs])
    late_count = np.zeros((params.num_regions, params.num_speeds), dtype=int)
    np.add.at(late_count, (arc_region[late_arcs], arc_speed[late_arcs]), 1)
    late_cap = lp.rows((orders.late > 0) & (late_count >= 2)[None, :, :, None], -np.inf, orders.late)
    lp.add(late_cap[:, arc_region[late_arcs], arc_speed[late_arcs], :], serve[:, late_arcs])

    share = np.asarray(params.spill_share, dtype=float)[None, None, :, None]
    uniform = np.asarray(orders.spill_uniform, dtype=float)
    spill_rows = lp.rows(carry >= 0, uniform - 1.0, uniform)  # (1 - sigma) carry - sigma rest in [u - 1, u]
    lp.add(spill_rows, carry, 1.0 - share)
    lp.add(spill_rows, rest, -share)

    cost, lower, upper, matrix, row_lower, row_upper = lp.build()
    columns = {"on_hand": on_hand, "received": received, "dock": dock, "ship": ship, "serve": serve,
               "carry": carry, "rest": rest, "overflow": overflow}
    return EpisodeLP(cost, pipeline_cost, matrix, row_lower, row_upper, lower, upper, columns,
                     ship_period, ship_node, ship_product, ship_arrival, orders)


def _add_inflow(lp: _Assembly, rows: np.ndarray, rest: np.ndarray, carry: np.ndarray, backorders: bool) -> None:
    """Orders that reach a (t, region, speed, product) row from the previous period's backlog and from the faster
    speed's spill, with coefficient -1."""
    if backorders:
        lp.add(rows[1:], rest[:-1], -1.0)
    lp.add(rows[:, :, 1:], carry[:, :, :-1], -1.0)


def _ship_options(params: EnvParams, start: State, noise: Noise) -> tuple[np.ndarray, ...]:
    """(period, node, product, arrival) of every shipment option; arrival T stands for after the horizon.

    ``independent``: one option, t + L_t. ``sequential``: every period from max(t + L_t, d0) to
    max(d0, max_{t' <= t} t' + L_t'), see the module docstring.
    """
    periods = noise.lead_time.shape[0]
    earliest = np.arange(periods)[:, None, None] + np.asarray(noise.lead_time, dtype=np.int64)
    latest = earliest
    if params.sequential:
        last = np.asarray(start.last_due[0], dtype=np.int64)[None]
        earliest = np.maximum(earliest, last)
        latest = np.maximum(np.maximum.accumulate(latest, axis=0), last)
    earliest, latest = np.minimum(earliest, periods), np.minimum(latest, periods)
    width = (latest - earliest + 1).reshape(-1)
    period, node, product = (np.repeat(axis.reshape(-1), width) for axis in np.indices(earliest.shape))
    offset = np.arange(width.sum()) - np.repeat(np.cumsum(width) - width, width)
    return period, node, product, np.repeat(earliest.reshape(-1), width) + offset


def _start_pipeline(params: EnvParams, start: State, periods: int) -> tuple[np.ndarray, float]:
    """Arrivals (T, N, P) of the start state's pipeline (a cell arrives at the start of period ``due``) and its
    holding cost over the episode."""
    pipeline = np.asarray(start.pipeline[0], dtype=float)  # (N, A, P)
    due = np.asarray(start.due[0], dtype=np.int64)
    filled = pipeline > 0
    if np.any(due[filled] < 0):
        raise ValueError("start state: a pipeline cell holds units but has no due period")
    arrivals = np.zeros((periods, params.num_nodes, params.num_products))
    node, _, product = np.nonzero(filled)
    when = due[filled]
    inside = when < periods
    np.add.at(arrivals, (when[inside], node[inside], product[inside]), pipeline[filled][inside])
    rate = np.asarray(params.pipeline_holding_cost, dtype=float)[node, product]
    return arrivals, float(np.sum(pipeline[filled] * rate * np.minimum(when, periods)))
