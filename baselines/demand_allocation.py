"""Allocate customer demand streams to the nodes that serve them, with spill-over and cut-off slack.

Each (region, speed) stream is split into orders placed before the cut-off (share 1 - c) and after it
(share c, which may use nodes one period farther away); each part visits its eligible nodes in the
fulfillment policy's order (``EnvParams.arc_groups``, the very lists the simulator uses). Given the
probability q_n that a unit asked of node n finds it out of stock, the first node receives the part's mean
demand m, the second m q_1, the third m q_1 q_2, ... (stock-outs treated as independent across nodes);
what no node serves spills to the next slower speed of the region with the speed's spill share, as in the
simulator, and the rest is lost (or backordered).

Variances are thinned with the means (a fraction f of a stream gets f times its variance, i.e. spill-over
is treated as no burstier than the stream itself, an optimistic approximation) and pooled at a node with
the streams' common correlation rho: Var = (1 - rho) sum var_i + rho (sum sd_i)^2.

Each node also gets an effective stock-out cost per unit: the demand-weighted expected cost of a unit it
fails to serve, i.e. the probability that no later node in the list serves it times the speed's penalty
for the unspilled share plus, for the spilled share, the expected stock-out cost of the slower speed.

Demand lead time (Hariharan & Zipkin 1995): a stream with promise tau served from a node with outbound
transit T has slack s = tau - T, and its protection interval at the node shrinks to (L + 1 - s)^+ *when
the node may ship the order s periods later*. The simulator serves every order from on-hand stock in the
period it is placed (``envs.dynamics``, step 3): promises only decide eligibility, never when stock is
committed. The usable slack is therefore 0 here; :func:`protection_periods` implements the reduction for
a simulator that lets nodes commit stock later, and :func:`usable_slack` documents the env's value.
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

    def variance(self, correlation: float) -> np.ndarray:
        """Per-period variance of the demand asked of the node, with pooling correlation rho."""
        return (1.0 - correlation) * self.var_sum + correlation * self.sd_sum**2

    def served(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance sum and sd sum of the part the node serves (what flows in from upstream)."""
        served = (self.mean + self.fallback) * self.fill
        ratio = served / np.maximum(self.mean, 1e-300)
        return served, self.var_sum * ratio, self.sd_sum * np.sqrt(ratio)


def usable_slack(promise: int, transit: int) -> int:
    """Periods a node could delay committing stock to an order: 0 in this simulator (see module doc)."""
    return 0


def protection_periods(lead_time: float, slack: float) -> float:
    """Protection interval (L + 1 - s)^+ of a stream with demand lead time slack s (Hariharan & Zipkin 1995)."""
    return max(lead_time + 1.0 - slack, 0.0)


def allocate_demand(model: NetworkModel, stockout_probability: np.ndarray | None = None) -> DemandAllocation:
    """Allocate every stream given per-(node, product) stock-out probabilities (default: none stock out)."""
    params = model.params
    n_nodes, n_products = model.num_nodes, model.num_products
    q = np.zeros((n_nodes, n_products)) if stockout_probability is None else np.asarray(stockout_probability)
    n_regions, n_speeds = params.num_regions, params.num_speeds
    mean = np.zeros((n_nodes, n_products))
    var_sum = np.zeros((n_nodes, n_products))
    sd_sum = np.zeros((n_nodes, n_products))
    weighted_cost = np.zeros((n_nodes, n_products))
    fallback = np.zeros((n_nodes, n_products))
    lost = np.zeros(n_products)
    unit_cost = _unit_stockout_costs(model, q)  # (R, S, 2, P) cost of a unit no node of a list serves
    for r in range(n_regions):
        carried = np.zeros(n_products)  # spilled in from the faster speed (mean)
        for s in range(n_speeds):
            cut = float(params.cutoff_share[s])
            base_mean = model.stream_mean[r, s]
            ratio = np.where(base_mean > 0, model.stream_var[r, s] / np.maximum(base_mean, 1e-300), 1.0)
            unmet = np.zeros(n_products)
            parts = [(False, (1.0 - cut) * base_mean + carried, ratio), (True, cut * base_mean, ratio)]
            for late, part_mean, part_ratio in parts:
                if not np.any(part_mean > 0):
                    continue
                nodes = [node for node, _ in params.arc_groups[2 * s + int(late)][r]]
                reach = np.ones(n_products)
                for k, node in enumerate(nodes):
                    fragment = part_mean * reach
                    if k == 0:
                        mean[node] += fragment
                        var_sum[node] += fragment * part_ratio
                        sd_sum[node] += np.sqrt(fragment * part_ratio)
                    else:
                        fallback[node] += fragment
                    after = np.prod([q[m] for m in nodes[k + 1:]], axis=0) if k + 1 < len(nodes) else 1.0
                    if k == 0:
                        weighted_cost[node] += fragment * after * unit_cost[r, s, int(late)]
                    reach = reach * q[node]
                unmet += part_mean * reach
            spill = float(params.spill_share[s]) if s + 1 < n_speeds else 0.0
            carried = spill * unmet
            lost += (1.0 - spill) * unmet
    stockout_cost = np.where(mean > 0, weighted_cost / np.maximum(mean, 1e-300), _mean_penalty(model))
    return DemandAllocation(mean, 1.0 - q, fallback, var_sum, sd_sum, stockout_cost, lost)


def _unit_stockout_costs(model: NetworkModel, q: np.ndarray) -> np.ndarray:
    """Expected cost (R, S, 2, P) of a unit of stream (r, s, late) that its whole node list fails to serve:
    (1 - spill) x penalty + spill x (probability the slower speed's on-time list fails) x its unit cost."""
    params = model.params
    n_regions, n_speeds = params.num_regions, params.num_speeds
    out = np.zeros((n_regions, n_speeds, 2, model.num_products))
    for r in range(n_regions):
        for s in reversed(range(n_speeds)):
            spill = float(params.spill_share[s]) if s + 1 < n_speeds else 0.0
            onward = 0.0
            if spill > 0:
                nodes = [node for node, _ in params.arc_groups[2 * (s + 1)][r]]
                fail = np.prod([q[m] for m in nodes], axis=0) if nodes else 1.0
                onward = fail * out[r, s + 1, 0]
            out[r, s, :] = (1.0 - spill) * model.penalty[s] + spill * onward
    return out


def _mean_penalty(model: NetworkModel) -> np.ndarray:
    share = model.stream_mean.sum((0, 2))
    share = share / max(share.sum(), 1e-300)
    return (share @ model.penalty)[None, :]
