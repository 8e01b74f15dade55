"""The training seeds of repeated runs (``echelon benchmark --seeds``, sweeps).

Run k of ``count`` gets seed ``first + k * SEED_STRIDE``, not ``first + k``: an SB3 run seeded s seeds its replica i
with s + i (common-random-number groups with s + group), so consecutive seeds would train on almost the same demand
draws and understate how much a result depends on the seed. With the stride, the replicas' seeds never overlap
(fewer than :data:`SEED_STRIDE` replicas) and stay below the evaluation seeds (1,000,000 on) for up to 999 runs.
"""

from __future__ import annotations

SEED_STRIDE = 1000


def training_seeds(first: int, count: int) -> list[int]:
    """The seeds of ``count`` independent training runs starting at ``first``."""
    if count < 1:
        raise ValueError(f"need at least one seed, got {count}")
    return [first + k * SEED_STRIDE for k in range(count)]
