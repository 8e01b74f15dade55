"""Stage 2 of the planner: allocate customer demand streams to the nodes that serve them (spill-over, cut-off slack).

Each (region, speed) stream is split into orders placed before the cut-off (share 1 - c) and after it
(share c, which may use nodes one period farther away); each part visits its eligible nodes in the
fulfillment policy's order (``EnvParams.serving``, the very lists the simulator uses). Given the
probability q_n that a unit asked of node n finds it out of stock, the first node receives the part's mean
demand m, the second m q_1, the third m q_1 q_2, ... (stock-outs treated as independent across nodes);
what no node serves spills to the next slower speed of the region with the speed's spill share, as in the
simulator, and the rest is lost (or backordered).

Variances are thinned with the means (a fraction f of a stream gets f times its variance, i.e. spill-over
is treated as no burstier than the stream itself, an optimistic approximation) and pooled at a node with
the streams' common correlation rho: Var = (1 - rho) sum var_i + rho (sum sd_i)^2.

A unit asked of a node finds it out of stock with probability q_n when the node is the *first* choice of the
list and with a separate probability q'_n when it is a *backup* (``fallback_stockout``; by default the same
q_n). Backup service is much worse than first-choice service in the simulator: a backup is asked only in the
periods in which the nodes before it ran out, i.e. in periods of high demand or of a shortage at the common
supplier, which its own stock shares (see :mod:`baselines.local_stock`). ``fallback_depth`` optionally
stops the list after that many backups: demand that reaches a deeper node is counted as unmet.

For the storage model the allocation also records *which streams* each node serves: ``share[n, r, s, p]`` is
the expected fraction of stream (r, s, p) asked of node n as first choice (``fallback_share`` as a backup,
spill-over from a faster speed counted in the slower speed's stream of origin), and ``pair[k, m, p]`` the
mean backup demand that reaches m right after node k failed. Shares give exact pooled variances
(:func:`stream_variance`), which the fragment sums ``var_sum`` / ``sd_sum`` only approximate.

Each node also gets an effective stock-out cost per unit: the demand-weighted expected cost of a unit it
fails to serve, i.e. the probability that no later node in the list serves it times the speed's penalty
for the unspilled share plus, for the spilled share, the expected stock-out cost of the slower speed.

Demand lead time (Hariharan & Zipkin 1995): a stream with promise tau served from a node with outbound
transit T has slack s = tau - T, and its protection interval at the node shrinks to (L + 1 - s)^+ *when
the node may ship the order s periods later*. The simulator serves every order from on-hand stock in the
period it is placed (``envs.dynamics``, step 3): promises only decide eligibility, never when stock is
committed. The usable slack is therefore 0 here; :func:`protection_periods` implements the reduction for
a simulator that lets nodes commit stock later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.network_model import NetworkModel


@dataclass(frozen=True)
class DemandAllocation:
    """Demand each node serves directly (per period) and its effective stock-out cost."""

    mean: np.ndarray  # (N, P) mean demand per period asked of the node's own stock
    fill: np.ndarray  # (N, P) expected share of it the node serves (1 - stock-out probability)
    fallback: np.ndarray  # (N, P) mean demand per period other nodes' stock-outs send here
    var_sum: np.ndarray  # (N, P) sum of the allocated fragments' variances
    sd_sum: np.ndarray  # (N, P) sum of the allocated fragments' standard deviations
    stockout_cost: np.ndarray  # (N, P) demand-weighted cost of a unit the node fails to serve
    lost: np.ndarray  # (P,) expected demand per period no node serves (lost or backordered)
    share: np.ndarray  # (N, R, S, P) fraction of each stream asked of the node as first choice
    fallback_share: np.ndarray  # (N, R, S, P) fraction of each stream asked of the node as a backup
    pair: np.ndarray  # (N, N, P) [k, m]: mean backup demand reaching m right after k failed

    def variance(self, correlation: float) -> np.ndarray:
        """Per-period variance of the demand asked of the node, with pooling correlation rho."""
        return (1.0 - correlation) * self.var_sum + correlation * self.sd_sum**2

    def served(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance sum and sd sum of the part the node serves (what flows in from upstream)."""
        served = (self.mean + self.fallback) * self.fill
        ratio = served / np.maximum(self.mean, 1e-300)
        return served, self.var_sum * ratio, self.sd_sum * np.sqrt(ratio)


def protection_periods(lead_time: float, slack: float) -> float:
    """Protection interval (L + 1 - s)^+ of a stream with demand lead time slack s (Hariharan & Zipkin 1995)."""
    return max(lead_time + 1.0 - slack, 0.0)


def allocate_demand(model: NetworkModel, stockout_probability: np.ndarray | None = None,
                    fallback_stockout: np.ndarray | None = None,
                    fallback_depth: int | None = None) -> DemandAllocation:
    """Allocate every stream given per-(node, product) stock-out probabilities (default: none stock out).

    ``stockout_probability`` applies where the node is first in a list, ``fallback_stockout`` (default: the
    same) where it is a backup; with ``fallback_depth`` = d only the first d backups of a list are asked.
    """
    n_nodes, n_products = model.num_nodes, model.num_products
    q = np.zeros((n_nodes, n_products)) if stockout_probability is None else np.asarray(stockout_probability)
    q_backup = q if fallback_stockout is None else np.asarray(fallback_stockout)
    n_regions, n_speeds = model.num_regions, model.num_speeds
    mean = np.zeros((n_nodes, n_products))
    var_sum = np.zeros((n_nodes, n_products))
    sd_sum = np.zeros((n_nodes, n_products))
    weighted_cost = np.zeros((n_nodes, n_products))
    fallback = np.zeros((n_nodes, n_products))
    lost = np.zeros(n_products)
    share = np.zeros((n_nodes, n_regions, n_speeds, n_products))
    fallback_share = np.zeros_like(share)
    pair = np.zeros((n_nodes, n_nodes, n_products))
    unit_cost = _unit_stockout_costs(model, q, q_backup, fallback_depth)  # (R, S, 2, P) unit no list serves
    for r in range(n_regions):
        stream_mean = model.stream_mean[r]  # (S, P)
        carried = np.zeros((n_speeds, n_products))  # spilled in from faster speeds, by stream of origin
        for s in range(n_speeds):
            cut = float(model.cutoff_share[s])
            ratio = np.where(stream_mean[s] > 0, model.stream_var[r, s] / np.maximum(stream_mean[s], 1e-300), 1.0)
            on_time, late_part = carried.copy(), np.zeros((n_speeds, n_products))
            on_time[s] += 1.0 - cut
            late_part[s] = cut
            unmet = np.zeros((n_speeds, n_products))
            for late, composition in ((False, on_time), (True, late_part)):
                part_mean = (composition * stream_mean).sum(0)
                if not np.any(part_mean > 0):
                    continue
                nodes = _node_list(model.serving[s][int(late)][r], fallback_depth)
                reach = np.ones(n_products)
                for k, node in enumerate(nodes):
                    fragment = part_mean * reach
                    if k == 0:
                        mean[node] += fragment
                        var_sum[node] += fragment * ratio
                        sd_sum[node] += np.sqrt(fragment * ratio)
                        share[node, r] += composition * reach
                        after = np.prod([q_backup[m] for m in nodes[1:]], axis=0) if len(nodes) > 1 else 1.0
                        weighted_cost[node] += fragment * after * unit_cost[r, s, int(late)]
                        reach = reach * q[node]
                    else:
                        fallback[node] += fragment
                        fallback_share[node, r] += composition * reach
                        pair[nodes[k - 1], node] += fragment
                        reach = reach * q_backup[node]
                unmet += composition * reach
            spill = float(model.spill_share[s]) if s + 1 < n_speeds else 0.0
            carried = spill * unmet
            lost += (1.0 - spill) * (unmet * stream_mean).sum(0)
    stockout_cost = np.where(mean > 0, weighted_cost / np.maximum(mean, 1e-300), _mean_penalty(model))
    return DemandAllocation(mean, 1.0 - q, fallback, var_sum, sd_sum, stockout_cost, lost, share, fallback_share,
                            pair)


def stream_variance(model: NetworkModel, share: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Per-period (co)variance (..., P) of demand made of fractions ``share`` (..., R, S, P) of the streams.

    Streams of a product have rank correlation rho (the simulator's mixture copula), taken as the linear
    correlation of their demands: Cov = rho sd_i sd_j between distinct streams (slightly high for slow
    movers, whose tied small counts correlate less; ``tests/baselines/test_local_stock.py`` bounds the error).
    A fraction f of stream i contributes f^2 Var_i (the split of a stream into on-time and late orders is a
    deterministic share) plus the binomial thinning noise f (1 - f) mean_i (none when f >= 1: spilled orders
    may ask a node again).
    With ``other`` (another set of fractions, e.g. of a second node) the result is the covariance of the two
    sums, thinning noise left out.
    """
    rho = model.correlation
    var, mean, sd = model.stream_var, model.stream_mean, np.sqrt(model.stream_var)
    weighted = np.einsum("...rsp,rsp->...p", share, sd)
    if other is None:  # einsum avoids most (N, R, S, P) temporaries
        # a node may be asked for more than a whole stream (spilled orders come back to it): no thinning then
        whole = np.minimum(share, 1.0)
        squares = np.einsum("...rsp,...rsp,rsp->...p", share, share, var)
        thinning = np.einsum("...rsp,rsp->...p", whole, mean) - np.einsum("...rsp,...rsp,rsp->...p", whole, whole, mean)
        return (1.0 - rho) * squares + thinning + rho * weighted**2
    same = np.einsum("...rsp,...rsp,rsp->...p", share, other, var)
    return (1.0 - rho) * same + rho * weighted * np.einsum("...rsp,rsp->...p", other, sd)


def _node_list(group, depth: int | None) -> list[int]:
    nodes = [node for node, _ in group]
    return nodes if depth is None else nodes[: depth + 1]


def _unit_stockout_costs(model: NetworkModel, q: np.ndarray, q_backup: np.ndarray | None = None,
                         depth: int | None = None) -> np.ndarray:
    """Expected cost (R, S, 2, P) of a unit of stream (r, s, late) that its whole node list fails to serve:
    (1 - spill) x penalty + spill x (probability the slower speed's on-time list fails) x its unit cost."""
    q_backup = q if q_backup is None else q_backup
    n_regions, n_speeds = model.num_regions, model.num_speeds
    out = np.zeros((n_regions, n_speeds, 2, model.num_products))
    for r in range(n_regions):
        for s in reversed(range(n_speeds)):
            spill = float(model.spill_share[s]) if s + 1 < n_speeds else 0.0
            onward = 0.0
            if spill > 0:
                nodes = _node_list(model.serving[s + 1][0][r], depth)
                fail = q[nodes[0]] * np.prod([q_backup[m] for m in nodes[1:]], axis=0) if nodes else 1.0
                onward = fail * out[r, s + 1, 0]
            out[r, s, :] = (1.0 - spill) * model.penalty[s] + spill * onward
    return out


def _mean_penalty(model: NetworkModel) -> np.ndarray:
    """(1, P) stock-out cost of a unit at a node no stream asks first: the penalties mixed by the catalog's demand
    per speed."""
    share = model.speed_demand / max(model.speed_demand.sum(), 1e-300)
    if model.sums.whole:
        return (share @ model.penalty)[None, :]
    # term by term: a product's value must not depend on where it sits in the array (a shard's or the catalog's)
    return sum(share[s] * model.penalty[s] for s in range(len(share)))[None, :]
