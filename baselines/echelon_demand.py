"""Stage 3 of the planner: the echelon protection demand of every (node, product), from the demand allocation.

Node n's echelon newsvendor (:mod:`baselines.echelon_newsvendor`) protects against D~_n, taken as normal with

    mean  M_n = mu_sub E[L_n] + mu_local + sum_c M_c,
    var   V_n = E[L_n] var_sub + mu_sub^2 Var[L_n] + (sd_local + sum_c sqrt(V_c))^2.

The first two terms are the subtree's demand over n's random lead time (the mixture moments of
``lead_time_demand``; pooled, since n holds one stock for its whole subtree). The last is the *balance*
approximation (Eppen & Schrage 1981; Federgruen & Zipkin 1984): after allocation at equal fractiles the
children's (and n's own customers', over the one review period) protection-interval standard deviations
add up instead of pooling; for identical children and a stockless n this is the Eppen-Schrage sigma
sqrt(L0 / N + L + 1) per child, and on a serial path it is the exact convolution.

Each node also gets its subtree's demand-weighted stock-out cost b_n (from the allocation's per-node costs)
and the unpriced echelon rates H = h'_n - h'_parent and B = b_n + h'_parent of its newsvendor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.demand_allocation import DemandAllocation
from baselines.network_model import NetworkModel


@dataclass(frozen=True)
class EchelonDemand:
    """Echelon protection demand and the per-period flow of every (node, product)."""

    mean: np.ndarray  # (N, P) M_n
    std: np.ndarray  # (N, P) sqrt(V_n)
    subtree_mean: np.ndarray  # (N, P) mean demand per period through the node
    subtree_var: np.ndarray  # (N, P) its per-period variance
    stockout_cost: np.ndarray  # (N, P) b_n, demand-weighted over the subtree
    pipeline_out: np.ndarray  # (N, P) mean units in transit from n to its children
    base_holding: np.ndarray  # (N, P) unpriced echelon holding cost H
    base_stockout: np.ndarray  # (N, P) unpriced stock-out cost B


def echelon_demand(model: NetworkModel, allocation: DemandAllocation) -> EchelonDemand:
    """Echelon protection-demand moments per (node, product), children before parents."""
    n_nodes, n_products = model.num_nodes, model.num_products
    rho = model.correlation
    local_var = allocation.variance(rho)
    mean = np.zeros((n_nodes, n_products))
    std = np.zeros((n_nodes, n_products))
    served_mean, served_var_sum, served_sd_sum = allocation.served()
    sub_mean, sub_var_sum, sub_sd_sum = served_mean.copy(), served_var_sum.copy(), served_sd_sum.copy()
    weighted_cost = served_mean * allocation.stockout_cost
    pipeline_out = np.zeros((n_nodes, n_products))
    for n in model.tree.postorder():
        kids = model.tree.children[n]
        down_sd = np.sqrt(local_var[n]) + sum(std[c] for c in kids)
        down_mean = allocation.mean[n] + sum(mean[c] for c in kids)
        for c in kids:
            sub_mean[n] += sub_mean[c]
            sub_var_sum[n] += sub_var_sum[c]
            sub_sd_sum[n] += sub_sd_sum[c]
            weighted_cost[n] += weighted_cost[c]
            pipeline_out[n] += sub_mean[c] * model.lead_time_mean[c]
        # over n's own lead time, n's customers ask for the full local demand; the children draw what they serve
        lead_mean = sub_mean[n] + allocation.mean[n] - served_mean[n]
        var_sub = (1.0 - rho) * (sub_var_sum[n] - served_var_sum[n] + allocation.var_sum[n]) + rho * (
            sub_sd_sum[n] - served_sd_sum[n] + allocation.sd_sum[n]) ** 2
        lead_var = model.lead_time_mean[n] * var_sub + lead_mean**2 * model.lead_time_var[n]
        mean[n] = lead_mean * model.lead_time_mean[n] + down_mean
        std[n] = np.sqrt(lead_var + down_sd**2)
    subtree_var = np.array([(1.0 - rho) * sub_var_sum[n] + rho * sub_sd_sum[n] ** 2 for n in range(n_nodes)])
    fallback = allocation.stockout_cost.max(axis=0, keepdims=True) * np.ones((n_nodes, 1))
    cost = np.where(sub_mean > 0, weighted_cost / np.maximum(sub_mean, 1e-300), fallback)
    parent_holding = model.tree.supplier_values(model.holding)
    return EchelonDemand(mean, std, sub_mean, subtree_var, cost, pipeline_out, model.holding - parent_holding,
                         cost + parent_holding)
