"""Two naive reference policies, built from the scenario only (no capacity, no network reasoning).

- :func:`newsvendor_reference`: every (node, product) is an isolated single-echelon newsvendor: installation
  order-up-to level F^-1(p / (p + h)) of its expected throughput over its mean lead time plus one period
  (normal approximation, lead-time variance included), with the product's demand-weighted penalty p and the
  node's local holding cost h. It ignores capacity, upstream stock-outs, echelon effects and spill-over.
- :func:`constant_order_reference`: every node orders its expected throughput per period, whatever its
  stock (the policy the env's warm-up uses, with fractions carried so the long-run mean is exact).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import special

from baselines.network_model import network_model
from baselines.policies import ConstantOrderPolicy, LocalBaseStockPolicy
from envs.params import EnvParams, compile_scenario
from envs.scenario import Scenario, resolve_scenario


def _params(scenario: Scenario | str | Path | EnvParams) -> EnvParams:
    return scenario if isinstance(scenario, EnvParams) else compile_scenario(resolve_scenario(scenario))


def newsvendor_levels(params: EnvParams) -> np.ndarray:
    """Local newsvendor levels (N, P); see module doc."""
    model = network_model(params)
    flow = params.node_flow
    stream_mean = model.stream_mean.sum((0, 1))
    dispersion = np.where(stream_mean > 0, model.stream_var.sum((0, 1)) / np.maximum(stream_mean, 1e-300), 1.0)
    share = model.stream_mean.sum((0, 2)) / max(model.stream_mean.sum(), 1e-300)
    penalty = share @ model.penalty  # (P,)
    periods = model.lead_time_mean[:, None] + 1.0
    mean = flow * periods
    std = np.sqrt(flow * dispersion[None, :] * periods + flow**2 * model.lead_time_var[:, None])
    z = special.ndtri(penalty[None, :] / (penalty[None, :] + np.maximum(model.holding, 1e-12)))
    return np.maximum(mean + std * z, 0.0)


def newsvendor_reference(scenario: Scenario | str | Path | EnvParams) -> LocalBaseStockPolicy:
    """Isolated single-echelon newsvendors at every node (installation base stock)."""
    params = _params(scenario)
    return LocalBaseStockPolicy(newsvendor_levels(params), params)


def constant_order_reference(scenario: Scenario | str | Path | EnvParams) -> ConstantOrderPolicy:
    """Order each node's mean throughput every period."""
    params = _params(scenario)
    return ConstantOrderPolicy(params.node_flow, params)
