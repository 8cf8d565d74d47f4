"""Self-attention worked by hand, in numpy: every number of softmax(q kᵀ / √d) v.

Dot products ``q_i · k_j``, scaling by ``√d``, the causal mask, softmax, and the weighted sum of
the values, kept step by step for :class:`widgets.ByHandView` to show with its formulas (its
view model is :func:`explain.views.by_hand`, drawn by the by-hand view's builders). The
default example is the classic one worked on the board: three tokens whose last query scores
4.5, 2.3 and 2.5 after scaling, which softmax turns into 0.80, 0.09 and 0.11::

    >>> steps = attention_by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V)
    >>> steps.scaled[2].round(2).tolist(), steps.weights[2].round(2).tolist()
    ([4.5, 2.3, 2.5], [0.8, 0.09, 0.11])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_K",
    "DEFAULT_Q",
    "DEFAULT_TOKENS",
    "DEFAULT_V",
    "AttentionByHand",
    "attention_by_hand",
    "matrix_text",
    "number_text",
    "parse_matrix",
]

# The classic example, d = 4 so that √d = 2. Row 3 ("pizza") has dot products 9, 4.6 and 5.
DEFAULT_TOKENS = ("I", "love", "pizza")
DEFAULT_Q = np.array([[1, 0, 0, 1], [1, 0, 1, 1], [1, 2, 1, 0]], dtype=np.float64)
DEFAULT_K = np.array([[2, 3, 1, 0], [0.6, 1, 2, 1], [1, 1, 2, 1]], dtype=np.float64)
DEFAULT_V = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], dtype=np.float64)
MAX_TOKENS, MAX_DIM = 64, 64  # "by hand" is for small examples (a model head fits)
EXPAND_DIM = 6  # write dot products out term by term up to this many dimensions


@dataclass(frozen=True)
class AttentionByHand:
    """Every intermediate of one head's attention (float64)."""

    q: np.ndarray  # [q_pos, d]
    k: np.ndarray  # [k_pos, d]
    v: np.ndarray  # [k_pos, d_v]
    causal: bool
    scores: np.ndarray  # [q_pos, k_pos]  q · k
    scaled: np.ndarray  # [q_pos, k_pos]  q · k / √d
    mask: np.ndarray  # bool [q_pos, k_pos], True = may attend
    weights: np.ndarray  # [q_pos, k_pos]  softmax of scaled over allowed keys; rows sum to 1
    output: np.ndarray  # [q_pos, d_v]   weights @ v

    @property
    def d(self) -> int:
        return int(self.q.shape[1])


def _matrix(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a 2-D array of numbers [tokens, dim]; got {value!r}"
        ) from None
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a 2-D array [tokens, dim]; got shape {array.shape}")
    if array.shape[0] > MAX_TOKENS or array.shape[1] > MAX_DIM:
        raise ValueError(
            f"{name} has shape {array.shape}; expected at most {MAX_TOKENS} tokens and "
            f"{MAX_DIM} dimensions (this view works small examples by hand)"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or inf; expected finite numbers")
    return array


def attention_by_hand(q: Any, k: Any, v: Any, causal: bool = True) -> AttentionByHand:
    """Scaled dot-product attention of one head, step by step.

    ``q`` [q_pos, d], ``k`` [k_pos, d], ``v`` [k_pos, d_v]. With ``causal`` the queries are the
    last ``q_pos`` positions and query ``i`` sees keys up to its own position.
    """
    q, k, v = _matrix("q", q), _matrix("k", k), _matrix("v", v)
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"q and k must have the same width d; got q {q.shape} and k {k.shape}")
    if k.shape[0] != v.shape[0]:
        raise ValueError(f"k and v must have one row per token; got k {k.shape} and v {v.shape}")
    if causal and q.shape[0] > k.shape[0]:
        raise ValueError(
            f"causal attention needs no more queries than keys; got {q.shape[0]} and {k.shape[0]}"
        )
    n_q, n_k = q.shape[0], k.shape[0]
    scores = q @ k.T  # [q_pos, k_pos]
    scaled = scores / math.sqrt(q.shape[1])
    offset = n_k - n_q  # queries are the last n_q positions
    mask = np.ones((n_q, n_k), bool)
    if causal:
        mask = np.arange(n_k)[None, :] <= np.arange(n_q)[:, None] + offset
    shifted = np.where(mask, scaled, -np.inf)
    shifted = shifted - shifted.max(axis=1, keepdims=True)  # stable: exp of at most 0
    exp = np.exp(shifted)
    weights = exp / exp.sum(axis=1, keepdims=True)
    return AttentionByHand(q, k, v, bool(causal), scores, scaled, mask, weights, weights @ v)


# -- text <-> numbers ------------------------------------------------------------------------
def number_text(x: float) -> str:
    """A number as a person writes it: 9, 4.6, 0.25, -1.3e-05."""
    if x == 0:
        return "0"
    if abs(x) >= 1e-3 and abs(x) < 1e5:
        return f"{x:.3f}".rstrip("0").rstrip(".")
    return f"{x:.2e}"


def matrix_text(array: np.ndarray) -> str:
    return "\n".join(" ".join(number_text(float(x)) for x in row) for row in array)


def parse_matrix(name: str, text: str) -> np.ndarray:
    """Rows on lines (or separated by ';'), numbers by spaces or commas -> [rows, cols]."""
    rows = [r.strip() for r in re.split(r"[;\n]", text) if r.strip()]
    if not rows:
        raise ValueError(f"{name} is empty; expected one line of numbers per token")
    values = []
    for i, row in enumerate(rows):
        try:
            values.append([float(x) for x in re.split(r"[,\s]+", row.strip("[] ")) if x])
        except ValueError:
            raise ValueError(f"{name} row {i + 1} ({row!r}) must hold numbers only") from None
    widths = {len(r) for r in values}
    if len(widths) != 1:
        raise ValueError(f"{name} rows must all have the same length; got lengths {sorted(widths)}")
    return _matrix(name, values)
