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

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._arrays import value_range
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


def weights_in_place(name: str, array: object, dims: str, ndim: int | None = None) -> np.ndarray:
    """``array`` as it is (floats read in place, no copy; other dtypes as float64) if it holds
    finite attention weights in [0, 1] and has the rank of ``dims`` (e.g. "[layer, head, q_pos,
    k_pos]"; "[..., q_pos, k_pos]" with ``ndim``: at least that rank); else a ValueError saying
    what was wrong and what was expected."""
    array = np.asarray(array)
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    ndim = dims.count(",") + 1 if ndim is None else ndim
    if array.ndim != ndim and not (dims.startswith("[...") and array.ndim >= ndim):
        raise ValueError(f"{name} must have shape {dims}; got {array.shape}")
    if not array.size:
        return array
    # min and max are NaN or inf when any value is: one read, no [same shape] bool array
    low, high = value_range(array)
    if not (math.isfinite(low) and math.isfinite(high)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(
            f"{name} holds NaN or inf (first at index {where}); expected finite attention weights"
        )
    if low < 0 or high > 1 + _TOLERANCE:
        raise ValueError(
            f"{name} holds values in [{low:.3g}, {high:.3g}]; expected attention weights in [0, 1]"
        )
    return array


def check_weights(name: str, array: object, dims: str, ndim: int | None = None) -> np.ndarray:
    """``array`` as float64 (a copy unless it is float64) once :func:`weights_in_place` has
    checked it."""
    return np.asarray(weights_in_place(name, array, dims, ndim), dtype=np.float64)


def _targets(
    pattern: str, n_q: int, n_k: int, part: str, tokens: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(query [cells], key [cells], rows [q])``: the cells on each query row's target keys,
    row by row, and the rows where the pattern is defined (see :func:`head_scores`)."""
    query = np.arange(n_q)
    if pattern == "induction":
        if tokens is None or part not in _SELF_PARTS:
            return query[:0], query[:0], np.zeros(n_q, bool)
        symbols = np.asarray(tokens, dtype=object)  # str arrays drop trailing NULs
        earlier = np.tril(symbols[:, None] == symbols[None, :], k=-1)  # [q, p]: p < q, same token
        query_cells, earlier_cells = np.nonzero(earlier)  # row by row
        return query_cells, earlier_cells + 1, earlier.any(axis=1)  # the key right after each
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
    return query[rows], key[rows], rows


def _target_cells(
    shape: tuple[int, ...], part: str, tokens: Sequence[str] | None
) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """pattern -> ``(query [cells], key [cells], defined rows)`` for attention of ``shape``
    [..., q_pos, k_pos] (see :func:`_targets`)."""
    n_q, n_k = shape[-2:]
    if part in _SELF_PARTS and n_q != n_k:
        raise ValueError(f"{part} attention must be square [..., q_pos, q_pos]; got {shape}")
    if tokens is not None and len(tokens) != n_q:
        raise ValueError(f"got {len(tokens)} tokens for {n_q} query positions; expected {n_q}")
    tokens = None if tokens is None else [str(t) for t in tokens]
    cells = {}
    for pattern in PATTERNS:
        query, key, rows = _targets(pattern, n_q, n_k, part, tokens)
        cells[pattern] = query, key, int(rows.sum())
    return cells


def _on_target(
    attention: np.ndarray, cells: dict[str, tuple[np.ndarray, np.ndarray, int]]
) -> dict[str, np.ndarray]:
    """pattern -> [...]: the scores of checked ``attention`` [..., q_pos, k_pos], read in place.

    Only the target cells are read (one per row; induction: one per earlier occurrence),
    summed in float64 like the dense ``einsum("...qk,qk->...", attention, weights)`` this
    replaced, which copied the attention to float64 and read it five times (2.3 s of a 3.3 s
    open of a 12 x 12 x 512-token view). The sums agree with it to 1e-16: the same bits for a
    trace's float32 weights unless they span more than ~2^29 (peaked softmax rows), where the
    order of the float64 additions shows in the last bit.
    """
    scores = {}
    for pattern, (query, key, rows) in cells.items():
        if not rows:
            scores[pattern] = np.full(attention.shape[:-2], np.nan)
            continue
        on_target = attention[..., query, key].sum(axis=-1, dtype=np.float64)  # (...)
        scores[pattern] = np.clip(on_target / rows, 0.0, 1.0)
    return scores


def pattern_scores(
    attention: np.ndarray, tokens: Sequence[str] | None = None, part: str = "self"
) -> dict[str, np.ndarray]:
    """Scores of ``attention`` [..., layer, head, q_pos, k_pos] -> pattern -> [..., layer, head].

    ``tokens`` are the query tokens (needed for induction only); ``part`` says whether keys are
    the query positions (``"self"``, ``"encoder"``, ``"decoder"``) or not (``"cross"``). See
    :func:`head_scores` for what each pattern means. No trace needed: the lab scores a live
    model's patterns with it. The attention is read, not copied.
    """
    attention = weights_in_place("attention", attention, "[..., layer, head, q_pos, k_pos]", 4)
    return _on_target(attention, _target_cells(attention.shape, part, tokens))


def _trace_layers(trace: Trace, part: str | None) -> tuple[str, list[np.ndarray]]:
    """``(part, layers)``: each layer's checked [snapshot, head, q_pos, k_pos] patterns, read in
    place (the trace's read-only views), every layer the same shape."""
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
    layers = [weights_in_place(name, tensors[name], dims) for name in parts[part]]
    for name, layer in zip(parts[part], layers, strict=True):
        if layer.shape != layers[0].shape:
            raise ValueError(
                f"{name} has shape {layer.shape}; expected {layers[0].shape} like "
                f"{parts[part][0]} (every layer the same heads and positions)"
            )
    return part, layers


def trace_attention(trace: Trace, part: str | None = None) -> tuple[str, np.ndarray]:
    """``(part, patterns [snapshot, layer, head, q_pos, k_pos])`` of ``trace``, checked: one
    float64 copy of every layer."""
    part, layers = _trace_layers(trace, part)
    return part, np.stack(layers, axis=1, dtype=np.float64)


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
    part, layers = _trace_layers(trace, part)  # per layer [snapshot, head, q_pos, k_pos]
    cells = _target_cells(layers[0].shape, part, _query_tokens(trace, part))
    per_layer = [_on_target(layer, cells) for layer in layers]  # pattern -> [snapshot, head]
    return {p: np.stack([found[p] for found in per_layer], axis=1) for p in PATTERNS}


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
    threshold = _check_threshold(threshold)
    return emergence_from(head_scores(trace, part), trace.snapshot_steps, threshold)


def _check_threshold(threshold: float) -> float:
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    return threshold


def emergence_from(
    scores: dict[str, np.ndarray], steps: np.ndarray, threshold: float = 0.5
) -> dict[str, np.ndarray]:
    """:func:`emergence` from scores already computed: ``scores`` pattern -> [snapshot, layer,
    head] (what :func:`head_scores` returns) at snapshot ``steps`` [snapshot]."""
    threshold = _check_threshold(threshold)
    steps = np.asarray(steps, np.int64)
    found = {}
    for pattern, values in scores.items():
        if not len(steps):
            found[pattern] = np.full(values.shape[1:], -1, np.int64)
            continue
        above = values >= threshold  # [snapshot, layer, head]; NaN compares False
        stays = np.logical_and.accumulate(above[::-1], axis=0)[::-1]  # above from here on
        first = stays.argmax(axis=0)  # [layer, head]
        found[pattern] = np.where(stays[-1], steps[first], -1).astype(np.int64)
    return found
