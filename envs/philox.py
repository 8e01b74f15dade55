"""Philox4x32-10, the counter-based random number generator of Salmon, Moraes, Dror & Shaw (2011).

A counter-based generator turns (counter, key) into random bits with a keyed bijection, so the bits of any
(replica, period, stream) are computed directly instead of being read off a sequential stream: noise can be
generated inside the compiled kernel, replica by replica and in parallel, and still be the same for every
batch size and every order of evaluation. Philox4x32-10 is the generator of cuRAND and Random123 and passes
TestU01's BigCrush; the known-answer vectors of Random123 are checked in the tests.

:func:`philox4x32` is written with operators and numpy casts only, so the same function runs vectorized over
numpy arrays (the reference noise) and compiles under numba for scalars (the kernel, where the 32-bit word
types let LLVM vectorize it). Constants are numpy integers so that numba never promotes the arithmetic to
floats.
"""

from __future__ import annotations

import numpy as np

SHIFT32 = np.uint64(32)
MASK32 = np.uint64(0xFFFFFFFF)
MULTIPLIER_0 = np.uint64(0xD2511F53)
MULTIPLIER_1 = np.uint64(0xCD9E8D57)
KEY_BUMP_0 = np.uint64(0x9E3779B9)  # golden ratio
KEY_BUMP_1 = np.uint64(0xBB67AE85)  # sqrt(3) - 1
ROUNDS = 10


def philox4x32(c0, c1, c2, c3, k0, k1):
    """The four output words for counter words ``c0..c3`` and key words ``k0, k1``.

    Every input is ``uint32``: numpy arrays (broadcastable) or scalars; outputs hold 32-bit words (numba widens
    their integer type, never their values).
    """
    for round_ in range(ROUNDS):
        if round_ > 0:
            k0 = np.uint32((np.uint64(k0) + KEY_BUMP_0) & MASK32)
            k1 = np.uint32((np.uint64(k1) + KEY_BUMP_1) & MASK32)
        product_0 = np.uint64(c0) * MULTIPLIER_0
        product_1 = np.uint64(c2) * MULTIPLIER_1
        c0, c1, c2, c3 = (
            np.uint32(product_1 >> SHIFT32) ^ c1 ^ k0,
            np.uint32(product_1 & MASK32),
            np.uint32(product_0 >> SHIFT32) ^ c3 ^ k1,
            np.uint32(product_0 & MASK32),
        )
    return c0, c1, c2, c3
