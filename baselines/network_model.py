"""The analytic view of a scenario: supply tree, lead-time moments, per-stream demand moments, costs.

Everything is read from the public :class:`~envs.params.EnvParams` and the scenario, so a planner sees
what a policy sees. Shapes: N stocking nodes (suppliers first), P products, R regions, S speeds.

Per-period demand of a stream (region, speed, product) is summarized by its mean and variance averaged
over the seasonal cycle: mean m = base mean x mean seasonal factor; variance = average within-phase
variance (Poisson m, negative binomial m + m^2 / k, normal (cv m)^2) plus the variance of the phase means
(the seasonal pattern treated as noise, since a stationary base-stock policy ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.params import EnvParams
from envs.scenario.tree import SupplyTree


@dataclass(frozen=True)
class NetworkModel:
    """Static analytic inputs of one scenario."""

    params: EnvParams
    tree: SupplyTree
    lead_time_mean: np.ndarray  # (N,)
    lead_time_var: np.ndarray  # (N,)
    holding: np.ndarray  # (N, P) local holding cost per unit and period
    volume: np.ndarray  # (P,)
    stream_mean: np.ndarray  # (R, S, P) per period
    stream_var: np.ndarray  # (R, S, P) per period
    correlation: float  # rank correlation between any two streams of a product
    penalty: np.ndarray  # (S, P) per unit lost (lost sales) or per unit-period (backorders)
    storage_capacity: np.ndarray  # (N,) volume, inf for none
    inbound_capacity: np.ndarray  # (N,) units per period, inf for none

    @property
    def num_nodes(self) -> int:
        return self.tree.num_nodes

    @property
    def num_products(self) -> int:
        return len(self.volume)


def network_model(params: EnvParams) -> NetworkModel:
    """Build the analytic model of a compiled scenario."""
    mean, var = stream_moments(params)
    return NetworkModel(
        params=params,
        tree=SupplyTree(params.supplier_index),
        lead_time_mean=params.mean_lead_time,
        lead_time_var=params.lead_time_var,
        holding=np.asarray(params.holding_cost, dtype=float),
        volume=np.asarray(params.volume, dtype=float),
        stream_mean=mean,
        stream_var=var,
        correlation=float(params.region_correlation),
        penalty=np.asarray(params.penalty, dtype=float),
        storage_capacity=np.asarray(params.storage_capacity, dtype=float),
        inbound_capacity=np.asarray(params.inbound_capacity, dtype=float),
    )


def stream_moments(params: EnvParams) -> tuple[np.ndarray, np.ndarray]:
    """Per-period mean and variance (R, S, P) of every stream, averaged over the seasonal cycle."""
    factors = np.asarray(params.seasonality, dtype=float)
    phase_mean = params.base_mean[None] * factors[:, None, None, None]  # (C, R, S, P)
    distribution = params.distribution
    if distribution == "poisson":
        within = phase_mean
    elif distribution == "negative_binomial":
        within = phase_mean + phase_mean**2 / params.dispersion
    else:
        within = (params.cv * phase_mean) ** 2
    return phase_mean.mean(0), within.mean(0) + phase_mean.var(0)
