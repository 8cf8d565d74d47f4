"""The attention view model: the patterns of one part, layers x heads, at every snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..names import PART_TITLES, attention_parts, default_part
from ..style import WEIGHT
from ..trace import Trace
from ._common import (
    ViewModel,
    check_integer,
    choose,
    consistent,
    holds,
    probe_tokens,
    require_finite,
    task_name,
    titled,
    trained,
)


# -- attention -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionWindow:
    """The part of an attention map a figure draws: query rows ``[query_start, query_stop)``
    and key columns ``[key_start, key_stop)`` of ``n_queries`` x ``n_keys``
    (:meth:`AttentionData.window`). Positions are the map's own, so a window's row 0 is
    query ``query_start``."""

    query_start: int
    query_stop: int
    key_start: int
    key_stop: int
    n_queries: int
    n_keys: int

    @property
    def queries(self) -> slice:
        return slice(self.query_start, self.query_stop)

    @property
    def keys(self) -> slice:
        return slice(self.key_start, self.key_stop)

    @property
    def whole(self) -> bool:
        """Whether it is the whole map."""
        return (self.query_stop - self.query_start, self.key_stop - self.key_start) == (
            self.n_queries,
            self.n_keys,
        )

    def crop(self, pattern: np.ndarray) -> np.ndarray:
        """``pattern [..., q_pos, k_pos]`` of the whole map cut to the window (a view)."""
        return pattern[..., self.queries, self.keys]

    def describe(self) -> str:
        """E.g. "tokens 128-191 of 1024", "queries 0-63, keys 64-127 of 1024"; "" if whole."""
        if self.whole:
            return ""
        queries = f"{self.query_start}-{self.query_stop - 1}"
        keys = f"{self.key_start}-{self.key_stop - 1}"
        if queries == keys and self.n_queries == self.n_keys:
            return f"tokens {queries} of {self.n_queries}"
        of = f" of {self.n_queries}" if self.n_queries == self.n_keys else ""
        return f"queries {queries}, keys {keys}{of}"


@dataclass(frozen=True)
class AttentionData(ViewModel):
    """Attention of one part: every layer and head chosen, at every snapshot."""

    what: ClassVar[str] = "attention"
    FIELDS: ClassVar = tuple(
        "part parts task title colorscale zmin zmax dims steps layers heads query_tokens "
        "key_tokens patterns".split()
    )
    FRAMED: ClassVar = ("steps", "patterns")

    part: str  # "self", or for encoder-decoder "encoder" | "decoder" | "cross"
    parts: tuple[str, ...]  # every part the trace holds
    layers: tuple[int, ...]  # block indices shown, one row each
    heads: tuple[int, ...]  # head indices shown, one column each
    steps: np.ndarray  # [snapshot]
    layer_patterns: tuple[np.ndarray, ...]  # per layer shown: [snapshot, head, q_pos, k_pos]
    query_tokens: list[str]  # one per row (query position)
    key_tokens: list[str]  # one per column (key position)
    task: str
    title: str  # e.g. "self-attention · task reverse"
    colorscale: str = WEIGHT
    zmin: float = 0.0
    zmax: float = 1.0
    dims: tuple[str, ...] = ("step", "layer", "head", "query_pos", "key_pos")
    # the trace it was read from, for the pattern scores (`explain.views.roles_of`)
    source: Trace | None = dataclasses.field(default=None, repr=False, compare=False)
    # False for attention given as it is (from_attentions, from_hf): its one snapshot is no
    # training step, so titles name none (a trained model's attention was titled "step 0")
    trained: bool = True

    def heading(
        self, layer: int, head: int, step: int, window: AttentionWindow | None = None
    ) -> str:
        """The title of one head's map: ``title · layer L head H · step S`` (no step when
        not :attr:`trained`), then the ``window`` shown unless it is the whole map
        (``· tokens 128-191 of 1024``); plain text, escaped by each renderer."""
        named = f"{self.title} · layer {layer} head {head}"
        named = f"{named} · step {step}" if self.trained else named
        shown = window.describe() if window is not None else ""
        return f"{named} · {shown}" if shown else named

    def window(
        self, window: int | None = None, start: int = 0, key_start: int | None = None
    ) -> AttentionWindow:
        """The part of each map a figure draws: the whole map (``window`` None), or ``window``
        query rows from ``start`` and ``window`` keys from ``key_start`` (None: from ``start``,
        or as near it as a window fits), each cut to the positions there are. The one check of
        a window: a bad value raises ValueError naming it and the range allowed.

        >>> import numpy as np
        >>> from explain.trace import Trace
        >>> pattern = np.full((1, 1, 100, 100), 0.01)  # [snapshot, head, q_pos, k_pos]
        >>> data = attention(Trace.from_arrays({}, [0], {}, [0], {
        ...     "blocks.0.attn.hook_pattern": pattern}))
        >>> data.window(16, start=40).describe(), data.window().whole
        ('tokens 40-55 of 100', True)
        """
        n_q, n_k = len(self.query_tokens), len(self.key_tokens)
        if window is None:
            if start != 0 or key_start is not None:
                raise ValueError(
                    f"start={start!r}, key_start={key_start!r} need a window size; the whole "
                    "map (window None) starts at 0"
                )
            return AttentionWindow(0, n_q, 0, n_k, n_q, n_k)
        longest = max(n_q, n_k)
        if isinstance(window, bool) or not isinstance(window, int | np.integer):
            raise ValueError(
                f"window must be a number of tokens in [1, {longest}] or None (the whole map); "
                f"got {window!r}"
            )
        if not 1 <= window <= longest:
            raise ValueError(
                f"window must be a number of tokens in [1, {longest}] or None (the whole map); "
                f"got {window}"
            )
        rows, cols = min(int(window), n_q), min(int(window), n_k)
        first = _position("start", start, "query", n_q, rows)
        if key_start is None:
            key_first = min(first, n_k - cols)
        else:
            key_first = _position("key_start", key_start, "key", n_k, cols)
        return AttentionWindow(first, first + rows, key_first, key_first + cols, n_q, n_k)

    @property
    def patterns(self) -> np.ndarray:
        """All of it stacked: [snapshot, layer, head, q_pos, k_pos] (a copy; for exports)."""
        return np.stack(self.layer_patterns, axis=1)

    def at(self, index: int) -> np.ndarray:
        """[layer, head, q_pos, k_pos] at frame ``index`` (no copy of other snapshots)."""
        return np.stack([layer[index] for layer in self.layer_patterns])


def _position(name: str, value: object, axis: str, count: int, size: int) -> int:
    """``value`` as the first position of a window ``size`` long over ``count`` positions."""
    last = count - size
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not (0 <= value <= last)
    ):
        raise ValueError(
            f"{name} must be a {axis} position in [0, {last}] (a {size}-token window over "
            f"{count} {axis} positions); got {value!r}"
        )
    return int(value)


@consistent
def attention(
    trace: Trace,
    part: str | None = None,
    layer: int | None = None,
    head: int | None = None,
    *,
    tokens: Sequence[str] | None = None,
) -> AttentionData:
    """The attention patterns of ``part`` (default: self, else cross), one layer or all, one
    head or all. ``tokens`` replaces the probe's query tokens (and keys, for self-attention)."""
    parts = attention_parts(trace.attention_names())
    if not parts:
        raise ValueError(
            "this trace has no attention patterns (tensors named "
            f"'[encoder.|decoder.]blocks.N.attn.hook_pattern'); it holds: {holds(trace)}"
        )
    check_integer("layer", layer)
    check_integer("head", head)
    part = default_part(parts) if part is None else part
    choose("part", part, list(parts))
    names = parts[part]
    tensors = trace.tensors
    arrays = [tensors[name] for name in names]
    n_heads = arrays[0].shape[1] if arrays[0].ndim == 4 else 0
    for name, array in zip(names, arrays, strict=True):
        if array.ndim != 4:
            raise ValueError(f"{name} must be [snapshot, head, q_pos, k_pos]; got {array.shape}")
        if array.shape[1] != n_heads:
            raise ValueError(f"{name} has {array.shape[1]} heads; earlier layers have {n_heads}")
    if layer is not None:
        choose("layer", layer, list(range(len(names))), f" (part {part!r})")
    if head is not None:
        choose("head", head, list(range(n_heads)), f" ({n_heads} heads per layer)")
    layers = list(range(len(names))) if layer is None else [int(layer)]
    heads = slice(None) if head is None else slice(int(head), int(head) + 1)  # a view, no copy
    q, k = arrays[0].shape[2:]
    target = [str(t) for t in tokens] if tokens is not None else probe_tokens(trace, "tokens")
    source = probe_tokens(trace, "source_tokens")
    queries = source if part == "encoder" else target
    keys = source if part in ("encoder", "cross") else target
    queries = queries if queries is not None else [str(i) for i in range(q)]
    keys = keys if keys is not None else [str(i) for i in range(k)]
    for name in names:
        shape = tensors[name].shape
        if shape[2:] != (len(queries), len(keys)):
            raise ValueError(
                f"{name} has shape {shape} but there are {len(queries)} query and {len(keys)} "
                f"key tokens; expected [snapshot, head, {len(queries)}, {len(keys)}]"
            )
        require_finite(name, tensors[name])
    task = task_name(trace)
    return AttentionData(
        part=part,
        parts=tuple(parts),
        layers=tuple(layers),
        heads=tuple(range(n_heads))[heads],
        steps=trace.snapshot_steps,
        layer_patterns=tuple(arrays[i][:, heads] for i in layers),
        query_tokens=list(queries),
        key_tokens=list(keys),
        task=task,
        title=titled(PART_TITLES.get(part, part), task),
        source=trace,
        trained=trained(trace),
    )
