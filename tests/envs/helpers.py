"""Builders shared by the environment tests: small scenarios, hand-made states and noise."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from envs.noise import Noise
from envs.params import EnvParams
from envs.scenario import Demand, LeadTime, Node, Product, Region, Scenario, ServiceLink, Speed
from envs.state import State


def hand_scenario(unmet_demand: str = "lost_sales", **overrides) -> Scenario:
    """vendor -> dc (lead 2, inbound cap 12) -> fc1, fc2 (lead 1); fc2 has a soft storage cap.

    One product (volume 0.5, unit cost 3, holding 0.4, penalty scale 1.5), regions north and south,
    speeds same_day (promise 0, cut-off 0.4, spill 0.5, penalty 5) and next_day (promise 1, cut-off 0.2,
    penalty 3). Per-unit rates that follow (used in the hand computations):

    * holding on hand / at the dock: dc 0.5 x 0.4 = 0.2, fc1 1.0 x 0.4 = 0.4, fc2 1.5 x 0.4 = 0.6;
      in transit: to dc 0 (vendor stock is free), to fc1 / fc2 at dc's rate 0.2.
    * transport per unit (cost x volume 0.5): dc 0.1, fc1 0.15, fc2 0.25; purchase (dc only) 3.0.
    * shipping: north <- fc1 (transit 0) 1.0, north <- fc2 (transit 1) 0.5;
      south <- fc2 (transit 0) 1.2, south <- fc1 (transit 1) 0.7.
    * greedy serving lists: same_day on time: north [fc1], south [fc2]; same_day late and next_day
      (slack >= 1): north [fc2 (0.5), fc1 (1.0)], south [fc1 (0.7), fc2 (1.2)].
    * penalty per unit: same_day 5 x 1.5 = 7.5, next_day 3 x 1.5 = 4.5.
    * storage: fc2 holds 0.25 volume (half a unit) before overflow costs 0.8 per unit of volume.
    """
    fields = dict(
        name="hand",
        nodes=(
            Node("vendor", "vendor"),
            Node(
                "dc",
                "distribution_center",
                supplier="vendor",
                lead_time=LeadTime.fixed(2),
                holding_cost_factor=0.5,
                transport_cost=0.2,
                inbound_capacity=12.0,
            ),
            Node("fc1", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(1), transport_cost=0.3),
            Node(
                "fc2",
                "fulfillment_center",
                supplier="dc",
                lead_time=LeadTime.fixed(1),
                holding_cost_factor=1.5,
                transport_cost=0.5,
                storage_capacity=0.25,
                overflow_cost=0.8,
            ),
        ),
        products=(Product("widget", 10.0, volume=0.5, unit_cost=3.0, holding_cost=0.4, penalty_scale=1.5),),
        regions=(
            Region("north", 1.0, (ServiceLink("fc1", 0, 1.0), ServiceLink("fc2", 1, 0.5))),
            Region("south", 1.0, (ServiceLink("fc2", 0, 1.2), ServiceLink("fc1", 1, 0.7))),
        ),
        speeds=(
            Speed("same_day", 0, 5.0, cutoff_share=0.4, spill_share=0.5),
            Speed("next_day", 1, 3.0, cutoff_share=0.2),
        ),
        demand=Demand("poisson"),
        unmet_demand=unmet_demand,
        warmup_periods=0,
    )
    fields.update(overrides)
    return Scenario(**fields)


def small_env_scenario(
    unmet_demand: str = "lost_sales",
    warmup_periods: int = 3,
    lead_time_mode: str = "independent",
    demand: Demand | None = None,
    name: str = "small",
) -> Scenario:
    """A cheap scenario for env-level tests: vendor -> dc (random lead) -> two fcs, two products."""
    return Scenario(
        name=name,
        nodes=(
            Node("vendor", "vendor"),
            Node(
                "dc",
                "distribution_center",
                supplier="vendor",
                lead_time=LeadTime((1, 2, 3), (0.3, 0.5, 0.2)),
                holding_cost_factor=0.5,
                transport_cost=0.1,
                inbound_capacity=30.0,
            ),
            Node(
                "fc1",
                "fulfillment_center",
                supplier="dc",
                lead_time=LeadTime((1, 2), (0.8, 0.2)),
                storage_capacity=8.0,
                overflow_cost=0.3,
            ),
            Node("fc2", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(1)),
        ),
        products=(
            Product("a", 6.0, volume=0.5, unit_cost=1.0, holding_cost=0.2, penalty_scale=1.0),
            Product("b", 3.0, volume=2.0, unit_cost=2.0, holding_cost=0.3, penalty_scale=2.0),
        ),
        regions=(
            Region("north", 0.6, (ServiceLink("fc1", 0, 0.4), ServiceLink("fc2", 1, 0.3))),
            Region("south", 0.4, (ServiceLink("fc2", 0, 0.5),)),
        ),
        speeds=(
            Speed("fast", 0, 4.0, demand_share=0.4, cutoff_share=0.3, spill_share=0.5),
            Speed("slow", 1, 2.0, demand_share=0.6),
        ),
        demand=demand
        or Demand("negative_binomial", dispersion=4.0, seasonality=(0.8, 1.2, 1.0), region_correlation=0.3),
        unmet_demand=unmet_demand,
        lead_time_mode=lead_time_mode,
        warmup_periods=warmup_periods,
    )


def single_fc_scenario(unmet_demand: str = "lost_sales", inbound_capacity: float = math.inf, **speed) -> Scenario:
    """vendor -> dc -> fc, one product, one region served by fc (transit 0), one speed."""
    return Scenario(
        name="single-fc",
        nodes=(
            Node("vendor", "vendor"),
            Node("dc", "distribution_center", supplier="vendor", lead_time=LeadTime.fixed(1),
                 inbound_capacity=inbound_capacity),
            Node("fc", "fulfillment_center", supplier="dc", lead_time=LeadTime.fixed(1)),
        ),
        products=(Product("a", 4.0),),
        regions=(Region("north", 1.0, (ServiceLink("fc", 0),)), Region("south", 1.0, (ServiceLink("fc", 0),))),
        speeds=(Speed("s", 0, 1.0, **speed),),
        unmet_demand=unmet_demand,
    )


def make_state(params: EnvParams, batch: int = 1, **arrays) -> State:
    """A State with the given arrays (any field left out is zero; ``due`` defaults to -1)."""
    n, p, a = params.num_nodes, params.num_products, params.num_ages
    r, s = params.num_regions, params.num_speeds
    shapes = {
        "on_hand": (batch, n, p),
        "dock": (batch, n, p),
        "pipeline": (batch, n, a, p),
        "due": (batch, n, a, p),
        "last_due": (batch, n, p),
        "backlog": (batch, r, s, p),
        "last_demand": (batch, r, p),
        "received": (batch, n),
    }
    fields = {}
    for name, shape in shapes.items():
        default = -1 if name == "due" else 0
        dtype = np.int8 if name in ("due", "last_due") else np.float64  # as State documents
        value = arrays.pop(name, None)
        fields[name] = np.full(shape, default, dtype) if value is None else np.asarray(value, dtype).reshape(shape)
    fields["period"] = np.asarray(arrays.pop("period", np.zeros(batch, dtype=np.int64))).reshape(batch)
    assert not arrays, f"unknown State fields {sorted(arrays)}"
    return State(**fields)


def make_noise(params: EnvParams, batch: int = 1, **arrays) -> Noise:
    """A Noise with the given arrays; demand and uniforms default to 0, lead times to 1."""
    r, s, p, n = params.num_regions, params.num_speeds, params.num_products, params.num_nodes
    stream = (batch, r, s, p)
    defaults = {  # dtypes as Noise documents them
        "demand": np.zeros(stream),
        "cutoff_uniform": np.zeros(stream, np.float32),
        "spill_uniform": np.zeros(stream, np.float32),
        "lead_time": np.ones((batch, n, p), np.int8),
    }
    fields = {}
    for name, default in defaults.items():
        value = arrays.pop(name, None)
        fields[name] = default if value is None else np.asarray(value, default.dtype).reshape(default.shape)
    assert not arrays, f"unknown Noise fields {sorted(arrays)}"
    return Noise(**fields)


def state_total(state: State) -> np.ndarray:
    """Units held anywhere in the network per (replica, product): on hand + dock + in transit."""
    return state.on_hand.sum(1) + state.dock.sum(1) + state.pipeline.sum((1, 2))


def assert_same_params(left, right) -> None:
    """Every field of two compiled scenarios is identical (arrays bit for bit)."""
    for field in dataclasses.fields(left):
        a, b = getattr(left, field.name), getattr(right, field.name)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), field.name
        else:
            assert a == b, field.name
