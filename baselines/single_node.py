"""Single-node analytic baselines: the newsvendor, lead-time demand and the exact lost-sales optimum.

`lead_time_demand` and `lost_sales_optimum` live in their own modules and are re-exported here.
"""

from __future__ import annotations

from typing import Any

from baselines._demand import expected_on_hand, expected_shortage, newsvendor_level
from baselines._validation import positive_scalar
from baselines.lead_time_demand import DiscreteLeadTimeDemand, NormalLeadTimeDemand, lead_time_demand
from baselines.lost_sales import lost_sales_optimum

__all__ = [
    "DiscreteLeadTimeDemand",
    "NormalLeadTimeDemand",
    "lead_time_demand",
    "lost_sales_optimum",
    "newsvendor",
    "newsvendor_cost",
]


def newsvendor(demand: Any, holding_cost: float, stockout_cost: float) -> tuple[float, float]:
    """Optimal base-stock level and its expected cost for one period of backordered demand.

    S* = F^{-1}(p / (p + h)) (smallest integer with F(S) >= p / (p + h) for discrete demand) and the exact
    expected cost g(S*) = h E[(S* - D)^+] + p E[(D - S*)^+] (Snyder & Shen 2019, Sec. 4.3). `demand` is the
    demand over the protection interval: a frozen scipy distribution or a `lead_time_demand` result.
    Returns ``(level, expected_cost)``.
    """
    holding_cost = positive_scalar(holding_cost, "holding_cost")
    stockout_cost = positive_scalar(stockout_cost, "stockout_cost")
    level = newsvendor_level(demand, stockout_cost / (stockout_cost + holding_cost))
    return level, newsvendor_cost(demand, level, holding_cost, stockout_cost)


def newsvendor_cost(demand: Any, level: float, holding_cost: float, stockout_cost: float) -> float:
    """Expected one-period cost g(S) = h E[(S - D)^+] + p E[(D - S)^+] at a given level S."""
    on_hand = float(expected_on_hand(demand, level))
    shortage = float(expected_shortage(demand, level))
    return holding_cost * on_hand + stockout_cost * shortage

