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
)


# -- attention -------------------------------------------------------------------------------
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

    def heading(self, layer: int, head: int, step: int) -> str:
        """The title of one head's map: ``title · layer L head H · step S`` (no step when
        not :attr:`trained`); plain text, escaped by each renderer."""
        named = f"{self.title} · layer {layer} head {head}"
        return f"{named} · step {step}" if self.trained else named

    @property
    def patterns(self) -> np.ndarray:
        """All of it stacked: [snapshot, layer, head, q_pos, k_pos] (a copy; for exports)."""
        return np.stack(self.layer_patterns, axis=1)

    def at(self, index: int) -> np.ndarray:
        """[layer, head, q_pos, k_pos] at frame ``index`` (no copy of other snapshots)."""
        return np.stack([layer[index] for layer in self.layer_patterns])


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
        trained=trace.meta.get("source") != "attentions",
    )
