"""The analytic view of a scenario: supply tree, lead-time moments, per-stream demand moments, costs.

Everything is read from the public :class:`~envs.params.EnvParams` and the scenario, so a planner sees
what a policy sees. Shapes: N stocking nodes (suppliers first), P products, R regions, S speeds. A model may
hold a contiguous slice of the products (a shard of the planner, :mod:`baselines.product_shard`): its product
arrays hold the slice; per-node data, ``speed_demand`` (the whole catalog's demand per speed) and ``sums`` (the
catalog's summation order, :mod:`baselines.product_sums`) are the catalog's.

Per-period demand of a stream (region, speed, product) is summarized by its mean and variance averaged
over the seasonal cycle: mean m = base mean x mean seasonal factor; variance = average within-phase
variance (Poisson m, negative binomial m + m^2 / k, normal (cv m)^2) plus the variance of the phase means
(the seasonal pattern treated as noise, since a stationary base-stock policy ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from baselines.product_sums import ProductSums, combine
from envs.params import EnvParams, ServingLists
from envs.scenario.tree import SupplyTree


@dataclass(frozen=True)
class NetworkModel:
    """Static analytic inputs of one scenario, or of a contiguous slice of its products (a shard: product arrays
    hold the slice, everything else is the scenario's)."""

    tree: SupplyTree
    lead_time_mean: np.ndarray  # (N,)
    lead_time_var: np.ndarray  # (N,)
    lead_time_laws: tuple[dict[int, float], ...]  # (N,) {periods: probability}
    sequential: bool  # orders arrive in the order placed
    holding: np.ndarray  # (N, P) local holding cost per unit and period
    volume: np.ndarray  # (P,)
    stream_mean: np.ndarray  # (R, S, P) per period
    stream_var: np.ndarray  # (R, S, P) per period
    correlation: float  # rank correlation between any two streams of a product
    penalty: np.ndarray  # (S, P) per unit lost (lost sales) or per unit-period (backorders)
    storage_capacity: np.ndarray  # (N,) volume, inf for none
    inbound_capacity: np.ndarray  # (N,) units per period, inf for none
    serving: ServingLists  # the fulfillment policy's node lists (EnvParams.serving)
    cutoff_share: np.ndarray  # (S,) share of a speed's orders placed after the cut-off
    spill_share: np.ndarray  # (S,) share of a speed's unmet orders that spill to the next slower speed
    speed_demand: np.ndarray  # (S,) mean demand per period of each speed over the whole catalog
    sums: ProductSums  # how the whole catalog's products are summed
    params: EnvParams | None = field(default=None, repr=False)  # the compiled scenario; None in a shard's model,
    # which carries only its own products (nothing in the planner's stages reads it)

    @property
    def num_nodes(self) -> int:
        return self.tree.num_nodes

    @property
    def num_products(self) -> int:
        return len(self.volume)

    @property
    def num_regions(self) -> int:
        return self.stream_mean.shape[0]

    @property
    def num_speeds(self) -> int:
        return self.stream_mean.shape[1]


def network_model(params: EnvParams, products: slice | None = None,
                  speed_demand: np.ndarray | None = None) -> NetworkModel:
    """Build the analytic model of a compiled scenario, or of its products ``products`` (a contiguous slice, without
    ``params``) with the catalog's ``speed_demand`` (:func:`catalog_speed_demand`, computed here when not given)."""
    whole_catalog = params if products is None else None
    products = slice(None) if products is None else products
    mean, var = stream_moments(params, products)
    sums = ProductSums.for_catalog(params.num_products)
    if speed_demand is None:
        whole = products.indices(params.num_products) == (0, params.num_products, 1)
        speed_demand = combine(sums.of(mean, axes=(0,))) if whole else catalog_speed_demand(params)
    return NetworkModel(
        tree=SupplyTree(params.supplier_index),
        lead_time_mean=params.mean_lead_time,
        lead_time_var=params.lead_time_var,
        lead_time_laws=tuple(params.lead_time_law(n) for n in range(params.num_nodes)),
        sequential=bool(params.sequential),
        holding=np.ascontiguousarray(params.holding_cost[:, products], dtype=float),
        volume=np.ascontiguousarray(params.volume[products], dtype=float),
        stream_mean=mean,
        stream_var=var,
        correlation=float(params.region_correlation),
        penalty=np.ascontiguousarray(params.penalty[:, products], dtype=float),
        storage_capacity=np.asarray(params.storage_capacity, dtype=float),
        inbound_capacity=np.asarray(params.inbound_capacity, dtype=float),
        serving=params.serving,
        cutoff_share=np.asarray(params.cutoff_share, dtype=float),
        spill_share=np.asarray(params.spill_share, dtype=float),
        speed_demand=speed_demand,
        sums=sums,
        params=whole_catalog,
    )


def catalog_speed_demand(params: EnvParams, block: int = 64 * 512) -> np.ndarray:
    """(S,) mean demand per period of each speed over all products, summed in the catalog's fixed order, ``block``
    products at a time (a multiple of the chunk size)."""
    sums = ProductSums.for_catalog(params.num_products)
    if sums.whole:
        return combine(sums.of(stream_moments(params)[0], axes=(0,)))
    partials = [sums.of(stream_moments(params, slice(a, a + block))[0], axes=(0,))
                for a in range(0, params.num_products, block)]
    return combine(partials)


def stream_moments(params: EnvParams, products: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-period mean and variance (R, S, P) of every stream (of the products ``products``), averaged over the
    seasonal cycle."""
    factors = np.asarray(params.seasonality, dtype=float)
    every = slice(None) if products is None else products
    phase_mean = params.base_mean[..., every][None] * factors[:, None, None, None]  # (C, R, S, P)
    distribution = params.distribution
    if distribution == "poisson":
        within = phase_mean
    elif distribution == "negative_binomial":
        within = phase_mean + phase_mean**2 / params.dispersion[every]
    else:
        within = (params.cv[every] * phase_mean) ** 2
    return phase_mean.mean(0), within.mean(0) + phase_mean.var(0)
