"""Reductions over large arrays read once, in pieces that stay in the CPU cache.

Checking a GPT-2-small-sized attention (12 layers x 12 heads x 1,024 tokens, 604 MB of float32)
with ``array.min()`` then ``array.max()`` reads it from memory twice; reading each piece of a
few MB twice reads it from memory once (about half the time, measured by bench/widgets.py).
``np.isfinite(array).all()`` also wrote a bool array a quarter of its size.

    >>> value_range(np.arange(12.0).reshape(3, 4))
    (0.0, 11.0)
    >>> [piece.shape for piece in pieces(np.zeros((2, 3, 4)), max_bytes=100)]
    [(1, 3, 4), (1, 3, 4)]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

PIECE_BYTES = 4 * 2**20  # a piece fits the L2/L3 cache of the machines measured


def pieces(array: np.ndarray, max_bytes: int = PIECE_BYTES) -> Iterator[np.ndarray]:
    """Views of ``array`` that tile it, in order, split along its leading axes into pieces of
    at most ``max_bytes`` where a split can (a last axis larger than that stays whole)."""
    if array.nbytes <= max_bytes or array.ndim < 2:
        yield array
        return
    row = array[0].nbytes  # one index of the first axis
    if row > max_bytes:
        for index in range(array.shape[0]):
            yield from pieces(array[index], max_bytes)
        return
    step = max(1, max_bytes // max(row, 1))
    for start in range(0, array.shape[0], step):
        yield array[start : start + step]


def value_range(array: np.ndarray, max_bytes: int = PIECE_BYTES) -> tuple[float, float]:
    """``(min, max)`` of a non-empty numeric ``array`` in one read (in `pieces`): NaN if it
    holds a NaN, and an infinity shows as one (so both are finite exactly when every value is)."""
    low, high = np.inf, -np.inf
    for piece in pieces(np.asarray(array), max_bytes):
        piece_low, piece_high = float(piece.min()), float(piece.max())  # NaN if one is
        if piece_low != piece_low or piece_high != piece_high:
            return float("nan"), float("nan")
        low, high = min(low, piece_low), max(high, piece_high)
    return float(low), float(high)
