"""Sums over products in a fixed order, so that a catalog planned in shards adds up exactly as in one piece.

The planner's per-node aggregates (expected storage use, inbound flow, the dual function, the storage model's
volume and its variance, ...) are sums over products. Floating-point addition is not associative, so the order
is fixed here: the catalog's products are cut into chunks of ``CHUNK`` consecutive products (the last one may be
shorter); each chunk is summed on its own by numpy's pairwise summation over a contiguous run of its values (a
function of those values alone, wherever they sit in memory), and the chunks' partial sums are then added in
catalog order by :func:`combine`. A shard holds whole chunks (only the catalog's last shard may end in a short
one) and reports one partial per chunk; the planner concatenates the shards' partials in catalog order before
combining them. One shard or many, the same numbers are added in the same order, so the results are identical
bit for bit.

A catalog of at most ``CHUNK`` products is one chunk, summed as the planner always summed it (numpy's sums and
matrix products over the whole product axis): plans of such catalogs are unchanged by the chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CHUNK = 512
"""Products per chunk: the unit of the fixed summation order, and the granularity of shards."""


@dataclass(frozen=True)
class ProductSums:
    """How the products of one catalog are summed (the same for every shard of it)."""

    whole: bool  # the catalog is a single chunk: numpy's sums over the whole product axis
    chunk: int = CHUNK

    @classmethod
    def for_catalog(cls, num_products: int) -> ProductSums:
        return cls(whole=num_products <= CHUNK)

    def of(self, values: np.ndarray, axes: tuple[int, ...] = ()) -> np.ndarray:
        """Partial sums (..., chunks) of ``values`` (..., P) over the product axis (last) and the leading ``axes``."""
        if self.whole:
            return np.asarray(values.sum((*axes, -1)))[..., None]
        return self._chunks(values.sum(axes) if axes else values)

    def weighted(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Partial sums (..., chunks) of ``values`` (..., P) times ``weights`` (P,) over the products."""
        if self.whole:
            return np.asarray(values @ weights)[..., None]
        return self._chunks(values * weights)

    def total(self, values: np.ndarray) -> np.ndarray:
        """Partial sums (chunks,) of all of ``values`` (..., P)."""
        if self.whole:
            return np.array([np.sum(values)])
        rows = self._chunks(values).reshape(-1, self._count(values.shape[-1]))
        total = rows[0].copy()
        for row in rows[1:]:  # one row at a time: numpy's own order over this axis depends on the shard's chunk count
            total += row
        return total

    def _count(self, size: int) -> int:
        return -(-size // self.chunk)

    def _chunks(self, values: np.ndarray) -> np.ndarray:
        size = values.shape[-1]
        full = size - size % self.chunk
        lead = values.shape[:-1]
        parts = [values[..., :full].reshape(*lead, full // self.chunk, self.chunk).sum(-1)]
        if full < size:
            parts.append(values[..., full:].sum(-1)[..., None])
        return np.concatenate(parts, axis=-1)


def combine(partials: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """The sum of partial sums (..., chunks), in chunk order; a sequence (the shards' partials, in catalog order) is
    joined along the chunk axis first."""
    joined = np.concatenate(list(partials), axis=-1) if not isinstance(partials, np.ndarray) else partials
    return joined[..., 0] if joined.shape[-1] == 1 else joined.sum(-1)


def chunk_bounds(num_products: int, shards: int) -> list[slice]:
    """``shards`` contiguous slices of whole chunks covering ``num_products`` products, as even as possible; a short
    last chunk goes with the full one before it (a shard of a single product would change numpy's summation order
    over other axes, which it takes along the product axis when that one has length 1)."""
    chunks = max(num_products // CHUNK, 1)
    if not 1 <= shards <= chunks:
        raise ValueError(f"a catalog of {num_products:,} products splits into 1 to {chunks:,} shards (of whole "
                         f"{CHUNK}-product chunks), not {shards:,}")
    edges = [k * chunks // shards * CHUNK for k in range(shards)] + [num_products]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
