"""Stage 4a of the planner: the echelon newsvendors at given capacity prices, vectorized over (node, product).

For every (node n, product) the echelon base-stock level solves one newsvendor (the *upper* newsvendor
bound of Shang & Song 2003, which for a serial system brackets the optimal Clark & Scarf 1960 level):

    min_S  H E[(S - D~_n)^+] + B E[(D~_n - S)^+],

with the echelon protection demand D~_n (normal) and the rates H, B of :mod:`baselines.echelon_demand`.
Lost sales are treated as backorders with the lost-sales penalty per unit (the critical fractile
b / (b + h) is optimal for lost sales with L = 0 and base stock is asymptotically optimal as b / h grows,
Huh et al. 2009); normal demand is a further approximation for slow movers (levels are rounded by the env).

Capacity enters through prices (searched by :mod:`baselines.capacity_prices`): a storage price lambda_n per
unit of volume adds lambda_n v to node n's local holding rate, so lambda_n v to H at n and -lambda_n v to H at
its children (B keeps the unpriced h'_parent, so the priced objective is exactly the Lagrangian), and an
inbound price pi_n per unit received lowers B at n by pi_n mu_sub / M_n. The model's expected storage use at
n is sum_p v_p (E_n - sum_c E_c - mu_sub_c E[L_c]) with E = E[(S - D~)^+] (echelon stock minus what sits
downstream or in transit to it), and its expected inbound flow is sum_p mu_sub (1 - E[(D~_n - S)^+] / M_n).
Both are linear in the per-item partial expectations, which is what makes the priced problem separate into
independent newsvendors. The storage accounting is only a separable surrogate: it misstates a parent's own
stock and ignores lost sales, so the planner corrects it with the storage model of :mod:`baselines.local_stock`
(a per-node offset, see :mod:`baselines.planner`).

The newsvendors of any set of products (the catalog, or one shard of it) are solved by :func:`priced_newsvendors`,
which also returns the set's additive share of every total, by chunk of products (:class:`PricedPartials`,
:mod:`baselines.product_sums`); :func:`priced_totals` adds the shares of all sets up into the cost, the use and the
dual value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from baselines._demand import normal_on_hand, std_normal_pdf
from baselines.echelon_demand import EchelonDemand
from baselines.network_model import NetworkModel
from baselines.product_sums import combine

MIN_RATE = 1e-9
"""Priced echelon holding and stock-out costs are floored here for the levels (the dual is then -inf)."""


@dataclass(frozen=True)
class DemandTotals:
    """Sums over products of one allocation round's echelon demand, by chunk (:mod:`baselines.product_sums`)."""

    stockout_cost: np.ndarray  # (N, chunks) b_n summed over products (its mean scales the inbound prices' steps)
    pipeline_volume: np.ndarray  # (N, chunks) volume in transit to the node's children, sum_p v_p pipeline_out
    subtree_flow: np.ndarray  # (N, chunks) mean units per period through the node

    @classmethod
    def of(cls, model: NetworkModel, demand: EchelonDemand) -> DemandTotals:
        sums = model.sums
        return cls(sums.of(demand.stockout_cost), sums.of(demand.pipeline_out * model.volume[None, :]),
                   sums.of(demand.subtree_mean))


@dataclass(frozen=True)
class PricedPartials:
    """A set of products' additive share of the priced newsvendors' totals, by chunk of products."""

    valid: bool  # every priced rate is positive (else the dual is -inf)
    cost: np.ndarray  # (chunks,) the model's cost (unpriced)
    priced: np.ndarray  # (chunks,) the priced cost H E(S - D~)^+ + B E(D~ - S)^+
    storage: np.ndarray  # (N, chunks) model volume on hand
    served: np.ndarray  # (N, chunks) model units received per period
    demand: np.ndarray  # (N, chunks) echelon protection demand M_n (where it is zero nothing is received)


@dataclass(frozen=True)
class PricedTotals:
    """The priced newsvendors' totals over the whole catalog."""

    cost: float
    dual_value: float
    storage_use: np.ndarray  # (N,)
    inbound_use: np.ndarray  # (N,)


def priced_rates(model: NetworkModel, demand: EchelonDemand, storage_price: np.ndarray,
                 inbound_price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Priced echelon holding H and stock-out cost B per (node, product) (may be <= 0)."""
    priced_local = model.holding + storage_price[:, None] * model.volume[None, :]
    holding = priced_local - model.tree.supplier_values(priced_local)
    flow_discount = inbound_price[:, None] * demand.subtree_mean / np.maximum(demand.mean, 1e-300)
    stockout = demand.base_stockout - flow_discount  # storage prices enter through echelon holding only
    return holding, stockout


def priced_newsvendors(model: NetworkModel, demand: EchelonDemand, storage_price: np.ndarray,
                       inbound_price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, PricedPartials]:
    """The echelon newsvendors of these products at the given prices (one vectorized pass): levels, on hand and
    shortage (N, P), and their share of the totals."""
    holding, stockout = priced_rates(model, demand, storage_price, inbound_price)
    valid = bool(np.all(holding > 0) and np.all(stockout > 0))
    h = np.maximum(holding, MIN_RATE * np.maximum(model.holding, 1.0))
    b = np.maximum(stockout, MIN_RATE)
    fractile = np.clip(b / (b + h), 1e-12, 1.0 - 1e-12)
    z = special.ndtri(fractile)
    levels = demand.mean + demand.std * z
    on_hand = demand.std * (z * fractile + std_normal_pdf(z))  # normal loss, using Phi(z) = fractile
    shortage = on_hand + demand.mean - levels
    sums = model.sums
    downstream = np.zeros_like(on_hand)
    for n in range(model.num_nodes):
        for c in model.tree.children[n]:
            downstream[n] += on_hand[c]
    stock = on_hand - downstream - demand.pipeline_out
    served = demand.subtree_mean * (1.0 - shortage / np.maximum(demand.mean, 1e-300))
    partials = PricedPartials(valid, sums.total(demand.base_holding * on_hand + demand.base_stockout * shortage),
                              sums.total(holding * on_hand + stockout * shortage), sums.weighted(stock, model.volume),
                              sums.of(served), sums.of(demand.mean))
    return levels, on_hand, shortage, partials


def priced_totals(storage_capacity: np.ndarray, inbound_capacity: np.ndarray, round_totals: list[DemandTotals],
                  partials: list[PricedPartials], storage_price: np.ndarray, inbound_price: np.ndarray) -> PricedTotals:
    """Model cost, use and dual value at the given prices from every product's partials and the round's demand totals
    (both in catalog order)."""
    storage_use = combine([part.storage for part in partials])
    inbound_use = np.where(combine([part.demand for part in partials]) > 0,
                           combine([part.served for part in partials]), 0.0)
    cost = float(combine([part.cost for part in partials]))
    dual = -np.inf
    if all(part.valid for part in partials):
        priced = float(combine([part.priced for part in partials]))
        storage_constant = -combine([part.pipeline_volume for part in round_totals])
        storage_capacity = np.where(np.isfinite(storage_capacity), storage_capacity, 0.0)
        inbound_capacity = np.where(np.isfinite(inbound_capacity), inbound_capacity, 0.0)
        subtree_flow = combine([part.subtree_flow for part in round_totals])
        dual = (priced + float(storage_price @ (storage_constant - storage_capacity))
                + float(inbound_price @ (subtree_flow - inbound_capacity)))
    return PricedTotals(cost, dual, storage_use, inbound_use)


def stockout_probability(model: NetworkModel, demand: EchelonDemand, levels: np.ndarray) -> np.ndarray:
    """Probability (N, P) that a unit asked of a node finds no stock: the expected new shortage per period
    E[(D~ - S)^+] - E[(D~' - S)^+] (D~' one period of subtree demand shorter) over the mean demand."""
    short = normal_on_hand(demand.mean, demand.std, levels) + demand.mean - levels
    mean_before = demand.mean - demand.subtree_mean
    std_before = np.sqrt(np.maximum(demand.std**2 - demand.subtree_var, 0.0))
    short_before = normal_on_hand(mean_before, std_before, levels) + mean_before - levels
    rate = (short - short_before) / np.maximum(demand.subtree_mean, 1e-300)
    return np.clip(np.where(demand.subtree_mean > 0, rate, 0.0), 0.0, 1.0)
