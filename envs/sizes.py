"""How large a world the simulator holds: a replica's state and the demand tables, checked before they are built.

A scenario of any size within its values' limits compiles into params (a planner needs nothing more); simulating it
needs, per replica, its pipeline (stocking nodes x longest lead time x products) and streams (regions x speeds x
products), and, for the whole env, a demand table per (seasonal phase, stream) over its support. These are refused
here, with the scenario's name, the limit (:mod:`envs.scenario.limits`) and the fix, before anything is allocated.
"""

from __future__ import annotations

from envs.demand_table import common_value
from envs.params import EnvParams
from envs.scenario import limits
from envs.scenario.errors import ScenarioError


def check_replica_size(params: EnvParams) -> None:
    """Refuse a scenario whose replica (pipeline and streams) holds more than ``MAX_REPLICA_SIZE`` numbers."""
    products = params.num_products
    size = params.num_nodes * params.num_ages * products + params.num_regions * params.num_speeds * products
    limits.check_range(size, f"scenario {params.scenario_name!r}: replica size", 0, limits.MAX_REPLICA_SIZE,
                       "numbers (stocking nodes x longest lead time x products + regions x speeds x products)",
                       "use fewer products, nodes or regions, or shorter lead times")


def check_demand_tables(params: EnvParams) -> None:
    """Refuse demand tables (every seasonal phase and stream over its support) above ``MAX_DEMAND_TABLE`` entries;
    a trace (checked where it is read) or a trend (quantiles drawn every period) builds none."""
    if params.trace is not None or params.trend != 0:
        return
    bound = limits.demand_table_bound(params.distribution, params.base_mean, params.seasonality,
                                      common_value(params.dispersion), common_value(params.cv))
    if bound > limits.MAX_DEMAND_TABLE:
        raise ScenarioError(
            f"scenario {params.scenario_name!r}.demand: the demand tables (every seasonal phase and stream over its "
            f"support) would hold up to {bound:.3g} entries, above the limit of {limits.MAX_DEMAND_TABLE:g}; lower the "
            "products' mean_demand or the demand's cv, raise its dispersion, or use fewer products, regions, speeds "
            "or seasonal phases"
        )


def check_simulable(params: EnvParams) -> None:
    """Refuse a scenario too large to simulate (its replica, then its demand tables)."""
    check_replica_size(params)
    check_demand_tables(params)
