"""Head pattern scores: how clearly each attention head does one simple thing. No torch.

A score is the mean attention weight a head puts on a pattern's target key, averaged over the
query rows where the pattern is defined; it lies in [0, 1] (1: the head does exactly that;
a head spreading evenly over k keys scores about 1/k). Scores read only the recorded probe
attention, so they work on any trace, also one made by :mod:`explain.adapters`.

    >>> import numpy as np
    >>> previous = np.eye(6, k=-1)  # [q_pos, k_pos]: each token looks at the one before it
    >>> previous[0, 0] = 1.0  # row 0 of a causal head can only look at itself
    >>> scores = pattern_scores(previous[None, None], tokens=list("abcdea"))  # [layer, head, ..]
    >>> {name: round(float(value[0, 0]), 2) for name, value in scores.items()}
    {'previous_token': 1.0, 'self': 0.0, 'first_token': 0.2, 'mirror': 0.33, 'induction': 0.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .names import attention_parts, default_part

if TYPE_CHECKING:
    from .trace import Trace

__all__ = ["PATTERNS", "emergence", "head_scores", "pattern_scores", "scored_part"]

PATTERNS = ("previous_token", "self", "first_token", "mirror", "induction")
_SELF_PARTS = ("self", "encoder", "decoder")  # queries and keys are the same tokens
_TOLERANCE = 1e-3  # float32 attention rows may overshoot 1 by rounding


def scored_part(parts: Sequence[str]) -> str:
    """The part scored by default: self-attention (a decoder's, or an encoder-decoder's
    decoder: the heads that write the output), else what :func:`~explain.names.default_part`
    picks."""
    return next((p for p in ("self", "decoder") if p in parts), default_part(parts))


def check_weights(name: str, array: object, dims: str, ndim: int | None = None) -> np.ndarray:
    """``array`` as float64 if it holds finite attention weights in [0, 1] and has the rank of
    ``dims`` (e.g. "[layer, head, q_pos, k_pos]"; "[..., q_pos, k_pos]" with ``ndim``: at least
    that rank); else a ValueError saying what was wrong and what was expected."""
    array = np.asarray(array, dtype=np.float64)
    ndim = dims.count(",") + 1 if ndim is None else ndim
    if array.ndim != ndim and not (dims.startswith("[...") and array.ndim >= ndim):
        raise ValueError(f"{name} must have shape {dims}; got {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} holds NaN or inf (first at index {where}); expected finite attention weights"
        )
    if array.size and (array.min() < 0 or array.max() > 1 + _TOLERANCE):
        raise ValueError(
            f"{name} holds values in [{array.min():.3g}, {array.max():.3g}]; expected attention "
            "weights in [0, 1]"
        )
    return array


def _targets(
    pattern: str, n_q: int, n_k: int, part: str, tokens: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(weights [q, k], rows [q])``: 1 on each query row's target keys, and the rows where
    the pattern is defined (see :func:`head_scores`)."""
    weights = np.zeros((n_q, n_k))
    query = np.arange(n_q)
    if pattern == "induction":
        if tokens is None or part not in _SELF_PARTS:
            return weights, np.zeros(n_q, bool)
        symbols = np.asarray(tokens, dtype=object)  # str arrays drop trailing NULs
        earlier = np.tril(symbols[:, None] == symbols[None, :], k=-1)  # [q, p]: p < q, same token
        weights[:, 1:] = earlier[:, :-1]  # the key right after each earlier occurrence
        return weights, earlier.any(axis=1)
    key = {
        "previous_token": query - 1,
        "self": query,
        "first_token": np.zeros(n_q, np.int64),
        "mirror": n_k - 1 - query,
    }[pattern]
    rows = (key >= 0) & (key < n_k)
    if pattern != "mirror":
        rows &= query > 0  # row 0 of a causal head has no choice: leave it out
    elif part in _SELF_PARTS:
        rows &= key < query  # self-attention: the mirrored EARLIER position only
    weights[query[rows], key[rows]] = 1.0
    return weights, rows


def pattern_scores(
    attention: np.ndarray, tokens: Sequence[str] | None = None, part: str = "self"
) -> dict[str, np.ndarray]:
    """Scores of ``attention`` [..., layer, head, q_pos, k_pos] -> pattern -> [..., layer, head].

    ``tokens`` are the query tokens (needed for induction only); ``part`` says whether keys are
    the query positions (``"self"``, ``"encoder"``, ``"decoder"``) or not (``"cross"``). See
    :func:`head_scores` for what each pattern means. No trace needed: the lab scores a live
    model's patterns with it.
    """
    attention = check_weights("attention", attention, "[..., layer, head, q_pos, k_pos]", 4)
    n_q, n_k = attention.shape[-2:]
    if part in _SELF_PARTS and n_q != n_k:
        raise ValueError(
            f"{part} attention must be square [..., q_pos, q_pos]; got {attention.shape}"
        )
    if tokens is not None and len(tokens) != n_q:
        raise ValueError(f"got {len(tokens)} tokens for {n_q} query positions; expected {n_q}")
    tokens = None if tokens is None else [str(t) for t in tokens]
    scores = {}
    for pattern in PATTERNS:
        weights, rows = _targets(pattern, n_q, n_k, part, tokens)
        if not rows.any():
            scores[pattern] = np.full(attention.shape[:-2], np.nan)
            continue
        on_target = np.einsum("...qk,qk->...", attention, weights)  # summed over the rows
        scores[pattern] = np.clip(on_target / rows.sum(), 0.0, 1.0)
    return scores


def trace_attention(trace: Trace, part: str | None = None) -> tuple[str, np.ndarray]:
    """``(part, patterns [snapshot, layer, head, q_pos, k_pos])`` of ``trace``, checked."""
    parts = attention_parts(trace.attention_names())
    if not parts:
        held = ", ".join(sorted(trace.tensors)) or "no tensors"
        raise ValueError(
            "this trace has no attention patterns (tensors named "
            f"'[encoder.|decoder.]blocks.N.attn.hook_pattern'); it holds: {held}"
        )
    part = scored_part(list(parts)) if part is None else part
    if part not in parts:
        raise ValueError(f"part {part!r} is not in this trace; available: {', '.join(parts)}")
    tensors = trace.tensors
    dims = "[snapshot, head, q_pos, k_pos]"
    layers = [check_weights(name, tensors[name], dims) for name in parts[part]]
    for name, layer in zip(parts[part], layers, strict=True):
        if layer.shape != layers[0].shape:
            raise ValueError(
                f"{name} has shape {layer.shape}; expected {layers[0].shape} like "
                f"{parts[part][0]} (every layer the same heads and positions)"
            )
    return part, np.stack(layers, axis=1)


def _query_tokens(trace: Trace, part: str) -> list[str] | None:
    probe = trace.meta.get("probe")
    key = "source_tokens" if part == "encoder" else "tokens"
    tokens = probe.get(key) if isinstance(probe, dict) else None
    return [str(t) for t in tokens] if isinstance(tokens, list | tuple) else None


def head_scores(trace: Trace, part: str | None = None) -> dict[str, np.ndarray]:
    """How clearly each head shows each pattern at each snapshot of the probe's attention.

    Returns pattern -> float [snapshot, layer, head] in [0, 1], for the patterns in
    ``PATTERNS``. Each score is the attention weight on the pattern's target key, averaged over
    the query rows q where the pattern is defined (T query positions, K key positions):

    - ``previous_token``: key q - 1, rows 1..T-1.
    - ``self`` (the diagonal): key q, rows 1..T-1.
    - ``first_token``: key 0, rows 1..T-1. (Row 0 is left out of these three: in a causal
      model it can only look at itself.)
    - ``mirror`` (the anti-diagonal): key K - 1 - q; in self-attention only rows where that key
      is earlier than q (the second half). It is what ``reverse`` needs: its probe
      ``3 1 4 1 5 9 > 9 5 1 4 1`` (T = 12) is the model's input, shifted one left of what it
      predicts, so row 6 (the ``>``) predicts the first answer digit, 9, which sits at key 5;
      row 7 (input 9) predicts 5, at key 4; ... row 11 predicts the final 3, at key 0. The
      answer rows 6..11 look at keys 5..0 = 11 - q. In cross-attention (decoder input
      ``<bos> y1 ..``, shifted the same way) row q predicts y(q+1), the source's
      (K - 1 - q)-th token, so every row with K - 1 - q >= 0 counts.
    - ``induction``: for a row q whose token occurred earlier (at p < q), the total weight on
      the keys p + 1 right after those earlier occurrences: the ``<bos> q u i c k m a p l e
      m a p l e ..`` probe of ``induction`` has row 12 (the second ``a``) look at key 8 (the
      ``p`` after the first ``a``), the letter to predict. Self-attention parts with probe
      tokens only.

    A pattern with no defined row in this probe (induction without tokens or repeats, or in
    cross-attention) scores NaN everywhere. ``part`` defaults to self-attention: a decoder's,
    or an encoder-decoder's decoder (see :func:`scored_part`); pass ``"cross"`` or
    ``"encoder"`` for the others.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> diagonal = np.eye(3)[None, None]  # [snapshot, head, q_pos, k_pos]
    >>> trace = Trace.from_arrays({}, [0], {}, [0], {"blocks.0.attn.hook_pattern": diagonal})
    >>> scores = head_scores(trace)
    >>> scores["self"].shape, float(scores["self"][0, 0, 0]), float(scores["induction"][0, 0, 0])
    ((1, 1, 1), 1.0, nan)
    """
    part, attention = trace_attention(trace, part)
    return pattern_scores(attention, _query_tokens(trace, part), part)


def emergence(
    trace: Trace, threshold: float = 0.5, part: str | None = None
) -> dict[str, np.ndarray]:
    """When each head's pattern appeared: pattern -> int64 [layer, head], the first snapshot step
    from which its :func:`head_scores` score stays at or above ``threshold`` to the last
    snapshot; -1 where it does not end there (or the score is NaN). A score that rises, dips and
    rises again emerges at the last crossing.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> weight = np.array([0.2, 0.9, 0.1, 0.7, 0.8])  # on the diagonal, one per snapshot
    >>> rows = weight[:, None, None] * np.eye(2) + (1 - weight)[:, None, None] * [[1, 0], [1, 0]]
    >>> trace = Trace.from_arrays({}, [0], {}, [0, 10, 20, 30, 40],
    ...                           {"blocks.0.attn.hook_pattern": rows[:, None]})
    >>> int(emergence(trace)["self"][0, 0]), int(emergence(trace)["first_token"][0, 0])
    (30, -1)
    """
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    steps = trace.snapshot_steps  # [snapshot]
    found = {}
    for pattern, scores in head_scores(trace, part).items():
        if not len(steps):
            found[pattern] = np.full(scores.shape[1:], -1, np.int64)
            continue
        above = scores >= threshold  # [snapshot, layer, head]; NaN compares False
        stays = np.logical_and.accumulate(above[::-1], axis=0)[::-1]  # above from here on
        first = stays.argmax(axis=0)  # [layer, head]
        found[pattern] = np.where(stays[-1], steps[first], -1).astype(np.int64)
    return found
