"""Positional encodings as plain numpy formulas (no torch), shared by the model and the views.

Kinds: ``sinusoidal`` (default, "Attention is All You Need" section 3.5), ``learned`` (a
trained table, lives in the model), ``rope`` (rotary: rotates q and k instead of adding to the
residual stream) and ``none`` (attention is then permutation invariant).

    >>> pe = sinusoidal(context_length=4, d_model=6)
    >>> pe.shape
    (4, 6)
    >>> float(pe[0, 1])  # cos(0)
    1.0
"""

from __future__ import annotations

import numpy as np

BASE = 10000.0


def sinusoidal(context_length: int, d_model: int, base: float = BASE) -> np.ndarray:
    """PE[pos, 2i] = sin(pos / base^(2i/d)), PE[pos, 2i+1] = cos(pos / base^(2i/d)).

    Returns float64 ``[pos, d_model]``. An odd ``d_model`` drops the last cosine column.
    """
    if context_length <= 0 or d_model <= 0:
        raise ValueError(
            f"context_length and d_model must be positive; got {context_length}, {d_model}"
        )
    pos = np.arange(context_length, dtype=np.float64)[:, None]  # [pos, 1]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]  # [1, ceil(d/2)]
    angle = pos / base ** (two_i / d_model)  # [pos, ceil(d/2)]
    pe = np.zeros((context_length, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)[:, : d_model // 2]
    return pe


def rope_angles(context_length: int, d_head: int, base: float = BASE) -> np.ndarray:
    """Rotation angle of each (even, odd) dimension pair at each position: ``[pos, d_head/2]``.

    Pair i at position p is rotated by ``p * base^(-2i/d_head)``, so the dot product of a rotated
    query at p and a rotated key at p' depends on p - p' only.
    """
    if d_head % 2:
        raise ValueError(f"rotary encoding needs an even d_head; got {d_head}")
    inv_freq = base ** (-np.arange(0, d_head, 2, dtype=np.float64) / d_head)  # [d_head/2]
    return np.arange(context_length, dtype=np.float64)[:, None] * inv_freq[None, :]


def rope_table(context_length: int, d_head: int, base: float = BASE) -> np.ndarray:
    """Rotary encoding shown like an additive one: cos in even and sin in odd columns.

    ``[pos, d_head]``; the view of what rotary "adds" to each position.
    """
    angle = rope_angles(context_length, d_head, base)
    table = np.empty((context_length, d_head))
    table[:, 0::2] = np.cos(angle)
    table[:, 1::2] = np.sin(angle)
    return table
