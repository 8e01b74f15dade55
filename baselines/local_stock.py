"""Stage 5 of the planner, the storage model: expected on-hand stock of every (node, product) at fixed echelon levels.

Storage caps bind on the volume a node holds *itself* at the end of a period (``envs.dynamics``, step 4).
The echelon newsvendors of :mod:`baselines.echelon_newsvendor` account for it as "echelon stock minus the
children's echelon stock, minus what is in transit to them", which is separable (it keeps the priced problem
a set of independent newsvendors) but wrong in two ways, which show where a node feeds a same-day site:

- the echelon protection demand over L_n + L_c + 1 periods already leaves out what is in transit to a child
  (with deterministic demand, E[(S_n - D~_n)^+] is n's own stock plus the child's), so subtracting the
  pipeline again, and subtracting positive parts instead of taking the positive part of the difference,
  misstates a parent's own stock;
- under lost sales the pipeline holds what was *sold*, not what was demanded, so on-hand stock exceeds the
  backorder formula E[(S - D)^+]: the inventory position of a lost-sales base-stock system is always S, so
  E[on hand] = S - (L + 1)(mean demand - mean lost per period) exactly (flow balance; see Zipkin 2008 and
  the review of Bijvank & Vis 2011 for lost-sales approximations that correct the backorder formula).

This module models a node's own stock directly, at fixed echelon levels S (the planner passes the levels
its policy applies, rounded to whole units). Node n with children C keeps the local level
s_n = S_n - sum_{c in C} S_c (Clark & Scarf 1960; Axsater, Inventory Control). At the end of a period its
on-hand stock, before backup orders, is

    (s_n - X_n)^+,   X_n = d_n + [subtree sales over the E[L_n] periods of n's pipeline] + a_n,

with d_n the units its supplier still owes it (requests it could not ship) and a_n the demand asked of n as
first choice this period. (Echelon inventory position after ordering = S_n - d_n; subtract the subtree's
sales since the order that just arrived was placed and the children's positions S_c, which the children
restore by ordering what they sold.) X_n is taken as normal with

- mean d_n + E[L_n] f_n + E[a_n], f_n the subtree's *sales* per period (the lost-sales correction);
- variance E[L_n] Var(subtree sales) + f_n^2 v_L + Var(a_n), v_L = sum_k P(L > k)(1 - P(L > k)) for
  independent lead times (orders cross, so the number of outstanding orders is a sum of independent
  indicators) and Var[L] for sequential ones; per-period variances from the streams each node serves
  (:func:`baselines.demand_allocation.stream_variance`), sales as demand thinned by the node's fill rates;
  d_n enters through its mean only;
- the shortfall d_c of child c is its share (by flow) of E[(X_n^- - s_n)^+], X_n^- = X_n - a_n, what n
  could not ship when its children asked (the simulator rations in proportion to requests).

First-choice demand lost at n per period is E[(X_n - s_n)^+] - E[(X_n^- - s_n)^+] (the new shortage the
period's demand causes). Backup (fallback) demand reaches a node only in periods in which the node before
it in the fulfillment list ran out, and is served from what is left. Backups are then often empty
themselves (high demand and supplier shortages hit every node of a product together), so backup demand goes
unserved far more often than first-choice demand. The model:

- only the first backup of a list counts (``FALLBACK_DEPTH`` = 1). A deeper backup is reached only when
  several fulfillment centers are out at once, i.e. in shortages shared through the distribution center, and
  is assumed empty. Conservative for storage: deeper backups never draw stock down in the model;
- the backup demand F_m of a node arrives in one lump per period of mean g = F_m / p_m, p_m the largest
  stock-out probability P(X_k > s_k) of the nodes k it backs up (primaries tend to run out in the same
  period, so their lumps are merged); lumps are taken as exponential, so the expected part served from the
  leftover Y = (s_m - X_m)^+ is E[min(G, Y)] = g (1 - E[exp(-Y / g)]), closed form for normal X_m;
- given that primary k ran out, X_m is shifted by its regression on X_k, Cov(X_k, X_m) / sd(X_k) times
  the inverse Mills ratio phi(z_k) / (1 - Phi(z_k)) (bivariate normal, variance not reduced; covariance
  from the streams the two nodes serve, over the overlap of their pipelines and the current period).

With backorders the same flows are used: what a node cannot serve in the period is served by a backup or
waits in the backlog, so it is not shipped from this period's stock (an overestimate of the volume, i.e.
conservative).

The fixed point of flows, shortfalls and stock-out probabilities is found by successive substitution
(``ITERATIONS`` from a cold start, ``WARM_ITERATIONS`` when the planner warm-starts it); each iteration
re-allocates demand (:func:`baselines.demand_allocation.allocate_demand`) with the model's own first-choice and
backup stock-out probabilities. Volumes of different products are independent in the simulator, so the
variance of a node's end-of-period volume is sum_p v_p^2 Var[(s - X)^+] (for the expected overflow cost of
the soft caps, :mod:`baselines.capacity_prices`). How close the model comes to simulated volumes is measured
in ``tests/baselines/test_plan_simulation.py`` and recorded in BENCHMARKS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from baselines._demand import normal_on_hand, std_normal_pdf
from baselines.demand_allocation import DemandAllocation, allocate_demand, stream_variance
from baselines.network_model import NetworkModel
from baselines.product_sums import combine

FALLBACK_DEPTH = 1
"""Backups of a fulfillment list counted by the storage model (see module doc)."""

ITERATIONS = 12
"""Successive-substitution iterations from a cold start."""
WARM_ITERATIONS = 3
"""Iterations from a warm start (the planner's rounds move the levels a little at a time)."""

_TINY = 1e-12


@dataclass(frozen=True)
class LocalStock:
    """Modelled steady state of every (node, product) at fixed echelon levels. Arrays (N, P) unless noted."""

    on_hand: np.ndarray  # expected end-of-period on-hand units
    on_hand_var: np.ndarray  # variance of the end-of-period on-hand units (before backup orders)
    sales: np.ndarray  # units per period sold to customers (first choice and as a backup)
    flow: np.ndarray  # units per period shipped into the node (its subtree's sales)
    deficit: np.ndarray  # expected units the node's supplier owes it (requests it could not ship)
    lost_first: np.ndarray  # first-choice demand per period the node fails to serve
    fallback_served: np.ndarray  # backup demand per period the node serves
    first_stockout: np.ndarray  # lost_first / first-choice demand
    fallback_stockout: np.ndarray  # 1 - fallback_served / backup demand
    allocation: DemandAllocation
    volume_partials: np.ndarray  # (N, chunks) expected volume on hand, by chunk of products (ProductSums)
    volume_var_partials: np.ndarray  # (N, chunks) variance of the end-of-period volume on hand, by chunk

    @property
    def storage_use(self) -> np.ndarray:
        """(N,) expected volume on hand."""
        return combine(self.volume_partials)

    @property
    def storage_sd(self) -> np.ndarray:
        """(N,) standard deviation of the end-of-period volume on hand."""
        return np.sqrt(combine(self.volume_var_partials))

    @property
    def warm_start(self) -> WarmStart:
        """What a later evaluation starts from (without the bulky per-stream arrays)."""
        return WarmStart(self.first_stockout, self.fallback_stockout, self.lost_first, self.fallback_served,
                         self.deficit)


@dataclass(frozen=True)
class WarmStart:
    """The fixed point's state (N, P), from which :func:`local_stock` continues (see module doc)."""

    first_stockout: np.ndarray
    fallback_stockout: np.ndarray
    lost_first: np.ndarray
    fallback_served: np.ndarray
    deficit: np.ndarray


def pipeline_variance_factor(model: NetworkModel) -> np.ndarray:
    """(N,) v_L: the variance of the number of outstanding per-period orders per unit of flow squared."""
    if model.sequential:
        return model.lead_time_var.copy()
    out = np.zeros(model.num_nodes)
    for n in range(model.num_nodes):
        pmf = model.lead_time_laws[n]
        for k in range(1, max(pmf) + 1):
            tail = sum(q for lead, q in pmf.items() if lead > k)
            out[n] += tail * (1.0 - tail)
    return out


def local_stock(model: NetworkModel, echelon_levels: np.ndarray, start: LocalStock | WarmStart | None = None,
                iterations: int | None = None) -> LocalStock:
    """The storage model at ``echelon_levels`` (N, P), e.g. the plan's levels rounded as its policy rounds them.

    ``start`` warm-starts the fixed point from a previous result (see module doc).
    """
    n_nodes, n_products = model.num_nodes, model.num_products
    levels = np.maximum(np.asarray(echelon_levels, dtype=float), 0.0)
    local = model.tree.local_levels(levels)
    stocked = local > 0
    lead = model.lead_time_mean[:, None]
    lead_factor = pipeline_variance_factor(model)[:, None]
    if start is None:
        zeros = np.zeros((n_nodes, n_products))
        first_q, backup_q, lost, served_backup, deficit = zeros, zeros, zeros, zeros, zeros
        iterations = ITERATIONS if iterations is None else iterations
    else:
        first_q, backup_q = start.first_stockout, start.fallback_stockout
        lost, served_backup, deficit = start.lost_first, start.fallback_served, start.deficit
        iterations = WARM_ITERATIONS if iterations is None else iterations
    for _ in range(max(iterations, 1)):
        allocation = allocate_demand(model, first_q, backup_q, FALLBACK_DEPTH)
        first, backup = allocation.mean, allocation.fallback
        served_first = np.clip(first - lost, 0.0, None)
        first_fill = _ratio(served_first, first)
        backup_fill = _ratio(served_backup, backup)
        sales = served_first + served_backup
        sales_share = (allocation.share * first_fill[:, None, None, :]
                       + allocation.fallback_share * backup_fill[:, None, None, :])
        flow, flow_share = sales.copy(), sales_share.copy()
        for n in model.tree.postorder():
            for c in model.tree.children[n]:
                flow[n] += flow[c]
                flow_share[n] += flow_share[c]
        pipe_mean = deficit + lead * flow
        pipe_var = lead * stream_variance(model, flow_share) + flow**2 * lead_factor
        own_var = stream_variance(model, allocation.share)
        x_mean, x_sd = pipe_mean + first, np.sqrt(pipe_var + own_var)
        pipe_sd = np.sqrt(pipe_var)
        leftover = np.where(stocked, normal_on_hand(x_mean, x_sd, local), 0.0)
        short = leftover + x_mean - local  # E[(X - s)^+]
        short_pipe = np.where(stocked, normal_on_hand(pipe_mean, pipe_sd, local), 0.0) + pipe_mean - local
        lost = np.clip(short - short_pipe, 0.0, first)
        served_backup = backup * _backup_fill(model, allocation, local, stocked, x_mean, x_sd, lead, flow_share)
        deficit = _supplier_deficit(model, np.maximum(short_pipe, 0.0), flow)
        first_q = np.clip(_ratio(lost, first), 0.0, 1.0)
        backup_q = np.where(backup > 0, 1.0 - _ratio(served_backup, backup), 1.0)
    on_hand = np.maximum(leftover - served_backup, 0.0)
    second = np.where(stocked, _positive_part_second_moment(local - x_mean, x_sd), 0.0)
    on_hand_var = np.maximum(second - leftover**2, 0.0)
    volume = model.volume
    return LocalStock(on_hand, on_hand_var, sales, flow, deficit, lost, served_backup, first_q, backup_q, allocation,
                      model.sums.weighted(on_hand, volume), model.sums.weighted(on_hand_var, volume**2))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), 0.0)


def _supplier_deficit(model: NetworkModel, shortfall: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Each child's share (by flow) of its supplier's shortfall E[(X^- - s)^+]."""
    deficit = np.zeros_like(flow)
    for n, kids in enumerate(model.tree.children):
        if kids:
            total = sum(flow[c] for c in kids)
            for c in kids:
                deficit[c] = shortfall[n] * _ratio(flow[c], total)
    return deficit


def _backup_fill(model: NetworkModel, allocation: DemandAllocation, local: np.ndarray, stocked: np.ndarray,
                 x_mean: np.ndarray, x_sd: np.ndarray, lead: np.ndarray, flow_share: np.ndarray) -> np.ndarray:
    """Share of each node's backup demand it serves (N, P): merged lumps, conditional leftover (module doc)."""
    sd = np.maximum(x_sd, _TINY)
    z = np.clip((local - x_mean) / sd, -50.0, 50.0)
    out_probability = special.ndtr(-z)
    mills = np.exp(-0.5 * z**2 - 0.5 * np.log(2.0 * np.pi) - special.log_ndtr(-z))  # phi(z) / (1 - Phi(z))
    event = np.zeros_like(x_mean)
    shift = np.zeros_like(x_mean)
    pairs = allocation.pair
    rho = model.correlation
    stream_sd = np.sqrt(model.stream_var)
    flow_weighted = (flow_share * stream_sd).sum((1, 2))  # (N, P): sum_i f_i sd_i
    share_weighted = (allocation.share * stream_sd).sum((1, 2))
    for k, m in zip(*np.nonzero(pairs.any(axis=2)), strict=True):
        flow = pairs[k, m]
        event[m] = np.maximum(event[m], np.where(flow > 0, out_probability[k], 0.0))
        overlap = min(lead[k, 0], lead[m, 0])
        # Cov(X_k, X_m): pipelines over their overlap plus the current period (stream_variance with two sets)
        same_stream = overlap * (flow_share[k] * flow_share[m] * model.stream_var).sum((0, 1)) + (
            allocation.share[k] * allocation.share[m] * model.stream_var).sum((0, 1))
        cov = (1.0 - rho) * same_stream + rho * (overlap * flow_weighted[k] * flow_weighted[m]
                                                 + share_weighted[k] * share_weighted[m])
        shift[m] += flow * cov / sd[k] * mills[k]
    backup = allocation.fallback
    shift = _ratio(shift, backup)
    lump = np.where(event > 0, backup / np.maximum(event, 1e-300), 1.0)
    fill = 1.0 - _exp_leftover(x_mean + shift, sd, local, np.maximum(lump, _TINY))
    return np.where(stocked & (backup > 0), np.clip(fill, 0.0, 1.0), 0.0)


def _exp_leftover(mean: np.ndarray, sd: np.ndarray, level: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """E[exp(-Y / g)] for Y = (s - X)^+, X ~ N(mean, sd^2):  P(X >= s) + E[exp(-(s - X) / g); X < s]."""
    z = (level - mean) / sd
    log_part = -(level - mean) / scale + sd**2 / (2.0 * scale**2) + special.log_ndtr(z - sd / scale)
    return special.ndtr(-z) + np.exp(np.minimum(log_part, 0.0))


def _positive_part_second_moment(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E[(W^+)^2] for W ~ N(mean, sd^2)."""
    sd = np.maximum(sd, _TINY)
    z = mean / sd
    return sd**2 * ((1.0 + z**2) * special.ndtr(z) + z * std_normal_pdf(z))
