"""The single-node newsvendor: optimal base-stock level and expected cost for one period of backordered demand.

Demand over a random lead time is :func:`baselines.lead_time_demand.lead_time_demand`; the exact lost-sales
optimum is :func:`baselines.lost_sales.lost_sales_optimum`.
"""

from __future__ import annotations

from typing import Any

from baselines._demand import expected_on_hand, expected_shortage, newsvendor_level
from baselines._validation import positive_scalar


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

