"""One shard of the planner's decomposition: a contiguous slice of the catalog's products and its state across rounds.

Given the node prices, and the storage model's warm start and the stock-out feedback, which are per product, the
products' problems of :mod:`baselines.planner` are independent; only per-node totals couple them. A shard answers
for its products: at given prices, their echelon newsvendors' levels and their additive share of every total
(storage and inbound use, cost, the priced cost of the dual function), reported by chunk of products
(:mod:`baselines.product_sums`), so that the planner adds the shards' shares up in the catalog's fixed order.

Between calls a shard keeps what its products carry from one stage to the next: its slice of the model
(:func:`baselines.network_model.network_model` with a product slice), the round's echelon demand, the stock-out
probabilities the next allocation reads (each round averages the new ones in, see :mod:`baselines.planner`), the
levels of its last priced solution and the prices they are for, and the storage model's warm start. Catalog data is
therefore handed to a shard once; a call carries a few per-node arrays each way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.demand_allocation import allocate_demand
from baselines.echelon_demand import EchelonDemand, echelon_demand
from baselines.echelon_newsvendor import DemandTotals, PricedPartials, priced_newsvendors, stockout_probability
from baselines.local_stock import WarmStart, local_stock
from baselines.network_model import NetworkModel


@dataclass(frozen=True)
class CatalogPartials:
    """A shard's share of the catalog's static sums (for the price steps' scales), by chunk."""

    holding: np.ndarray  # (N, chunks) local holding cost
    volume: np.ndarray  # (chunks,) unit volume


@dataclass(frozen=True)
class StockPartials:
    """A shard's share of the storage model's volume on hand and its variance, by chunk."""

    volume: np.ndarray  # (N, chunks)
    volume_var: np.ndarray  # (N, chunks)


def policy_levels(levels: np.ndarray) -> np.ndarray:
    """The echelon levels the plan's policy applies: it rounds ``S - position`` to whole units, i.e. rint(S)."""
    return np.rint(np.maximum(levels, 0.0))


class ProductShard:
    """The planner's stages for one slice of the products (module doc). Methods are called by name by an executor
    (:mod:`baselines.shard_executor`), in the order the planner's rounds need them."""

    CALLS = ("catalog", "allocate", "solve", "model_storage", "feed_back_stockouts", "levels")
    """The methods an executor may call."""

    def __init__(self, model: NetworkModel) -> None:
        self.model = model
        self._stockout: np.ndarray | None = None  # (N, P) the allocation reads; None: nobody stocks out
        self._demand: EchelonDemand | None = None
        self._prices: tuple[np.ndarray, np.ndarray] | None = None
        self._levels: np.ndarray | None = None  # (N, P) of the last priced solution, at self._prices
        self._warm: WarmStart | None = None

    def catalog(self) -> CatalogPartials:
        sums = self.model.sums
        return CatalogPartials(sums.of(self.model.holding), sums.of(self.model.volume))

    def allocate(self) -> DemandTotals:
        """Stages 2 and 3: allocate demand given the stock-out feedback so far, and the echelon demand."""
        self._demand = echelon_demand(self.model, allocate_demand(self.model, self._stockout))
        self._prices = self._levels = None
        return DemandTotals.of(self.model, self._demand)

    def solve(self, storage_price: np.ndarray, inbound_price: np.ndarray) -> PricedPartials:
        """Stage 4a: the echelon newsvendors at these prices; their levels are kept."""
        self._levels, _, _, partials = priced_newsvendors(self.model, self._round_demand(), storage_price,
                                                          inbound_price)
        self._prices = (np.array(storage_price, dtype=float), np.array(inbound_price, dtype=float))
        return partials

    def model_storage(self, storage_price: np.ndarray, inbound_price: np.ndarray) -> StockPartials:
        """Stage 5: the storage model at the rounded levels of these prices, warm-started from the last one."""
        stock = local_stock(self.model, policy_levels(self._levels_at(storage_price, inbound_price)), start=self._warm)
        self._warm = stock.warm_start
        return StockPartials(stock.volume_partials, stock.volume_var_partials)

    def feed_back_stockouts(self) -> None:
        """Average the stock-out probabilities of the current levels into what the next allocation reads."""
        if self._levels is None:
            raise RuntimeError("no priced levels to feed back: call solve first")
        update = stockout_probability(self.model, self._round_demand(), self._levels)
        self._stockout = update if self._stockout is None else 0.5 * (self._stockout + update)

    def levels(self, storage_price: np.ndarray, inbound_price: np.ndarray) -> np.ndarray:
        """(N, P) the plan's echelon levels at these prices."""
        return np.maximum(self._levels_at(storage_price, inbound_price), 0.0)

    def _round_demand(self) -> EchelonDemand:
        if self._demand is None:
            raise RuntimeError("no echelon demand yet: call allocate first")
        return self._demand

    def _levels_at(self, storage_price: np.ndarray, inbound_price: np.ndarray) -> np.ndarray:
        """The levels at these prices: the last solution's when it is at the same prices, else solved anew."""
        same = self._prices is not None and all(
            np.array_equal(kept, asked) for kept, asked in zip(self._prices, (storage_price, inbound_price),
                                                                strict=True))
        if not same:
            self.solve(storage_price, inbound_price)
        return self._levels
