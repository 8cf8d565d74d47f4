"""Choose what an export shows: part, layers, heads, parameter and step of a trace. No torch.

Each ``*_view`` function reads a trace and returns a small frozen dataclass holding exactly the
arrays one figure or data file needs, with the step axis first. Every bad choice raises
ValueError naming the bad value and listing what the trace holds.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> pattern = np.full((2, 1, 3, 3), 1 / 3)  # [snapshot, head, q_pos, k_pos]
    >>> trace = Trace.from_arrays({}, [0, 5], {}, [0, 5], {"blocks.0.attn.hook_pattern": pattern})
    >>> view = attention_view(trace)
    >>> view.part, view.layers, view.heads, view.patterns.shape
    ('self', (0,), (0,), (2, 1, 1, 3, 3))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import cosine_similarity, stable_pca
from .trace import Trace

_PATTERN = re.compile(r"^(?:(encoder|decoder)\.)?blocks\.(\d+)\.(\w+)\.hook_pattern$")

PART_TITLES = {
    "self": "self-attention",
    "encoder": "encoder self-attention",
    "decoder": "decoder self-attention",
    "cross": "cross-attention (decoder looks at encoder)",
}
_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "": "∅"}


def visible(token: str) -> str:
    """A token as a label: whitespace made visible (not escaped; escaping is the writer's job)."""
    return _VISIBLE.get(token, token.replace("\n", "↵").replace("\t", "⇥"))


def describe_steps(steps: Sequence[int] | np.ndarray, limit: int = 6) -> str:
    """Steps as runs, e.g. ``"0-64 (every 1), 66-128 (every 2)"``; for error messages."""
    steps = np.asarray(steps, np.int64)
    if not len(steps):
        return "none"
    runs: list[str] = []
    start = 0
    for end in range(1, len(steps) + 1):
        if end == len(steps) or (
            end - start > 1 and steps[end] - steps[end - 1] != steps[start + 1] - steps[start]
        ):
            if end - start == 1:
                runs.append(str(steps[start]))
            elif end - start == 2:
                runs.append(f"{steps[start]}, {steps[start + 1]}")
            else:
                every = steps[start + 1] - steps[start]
                runs.append(f"{steps[start]}-{steps[end - 1]} (every {every})")
            start = end
    shown = ", ".join(runs[:limit])
    return shown + (f", ... ({len(steps)} steps)" if len(runs) > limit else "")


def step_index(steps: np.ndarray, step: int | None, what: str = "snapshot") -> int:
    """Index of ``step`` in ``steps`` (the last one for None); a step not recorded is an error."""
    if not len(steps):
        raise ValueError(f"the trace has no {what} steps to show")
    if step is None:
        return len(steps) - 1
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        raise ValueError(f"step must be an integer; got {step!r}")
    hits = np.flatnonzero(steps == step)
    if hits.size:
        return int(hits[0])
    right = int(np.searchsorted(steps, step))
    near = [int(steps[i]) for i in (right - 1, right) if 0 <= i < len(steps)]
    raise ValueError(
        f"step {step} has no {what} in this trace; nearest: {', '.join(map(str, near))}; "
        f"recorded {what} steps: {describe_steps(steps)}"
    )


def frame_indices(count: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` indices into ``count`` items, evenly spread, first and last kept."""
    if count <= 0:
        raise ValueError("there are no snapshots to animate")
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2; got {max_frames}")
    if count <= max_frames:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_frames)).astype(np.int64))


def _labels(values: object, length: int) -> list[str]:
    if isinstance(values, list | tuple) and len(values) == length:
        return [str(v) for v in values]
    return [str(i) for i in range(length)]


def _probe(trace: Trace, key: str) -> object:
    probe = trace.meta.get("probe")
    return probe.get(key) if isinstance(probe, dict) else None


def _choose(kind: str, value: object, available: Sequence[object], context: str = "") -> None:
    if value not in available:
        listed = ", ".join(map(str, available)) if available else "none"
        raise ValueError(f"{kind} {value!r} is not in this trace{context}; available: {listed}")


def _task_name(trace: Trace) -> str:
    task = trace.meta.get("task")
    return str(task.get("name", "")) if isinstance(task, dict) else ""


@dataclass(frozen=True)
class AttentionView:
    part: str  # "self", or for encoder-decoder "encoder" | "decoder" | "cross"
    layers: tuple[int, ...]  # block indices shown, one row each
    heads: tuple[int, ...]  # head indices shown, one column each
    patterns: np.ndarray  # [snapshot, layer, head, q_pos, k_pos]
    steps: np.ndarray  # snapshot steps
    query_tokens: list[str]
    key_tokens: list[str]
    task: str

    @property
    def title(self) -> str:
        return PART_TITLES.get(self.part, self.part)


def attention_parts(trace: Trace) -> dict[str, list[tuple[int, str]]]:
    """Part name -> [(block index, tensor name)] for every attention pattern in the trace."""
    parts: dict[str, list[tuple[int, str]]] = {}
    for name in trace.attention_names():
        match = _PATTERN.match(name)
        if match is None:
            continue
        stack, block, kind = match.groups()
        part = {None: "self", "encoder": "encoder"}.get(
            stack, "cross" if kind == "cross" else "decoder"
        )
        parts.setdefault(part, []).append((int(block), name))
    return parts


def default_part(parts: Sequence[str]) -> str:
    return next((p for p in ("self", "cross", "decoder", "encoder") if p in parts), parts[0])


def attention_view(
    trace: Trace, part: str | None = None, layer: int | None = None, head: int | None = None
) -> AttentionView:
    """The attention patterns of one part, one layer or all, one head or all."""
    parts = attention_parts(trace)
    if not parts:
        raise ValueError(
            "this trace has no attention patterns (tensors named "
            "'[encoder.|decoder.]blocks.N.attn.hook_pattern'); it holds: "
            f"{', '.join(sorted(trace.tensors)) or 'no tensors'}"
        )
    for name, value in (("layer", layer), ("head", head)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | np.integer)
        ):
            raise ValueError(f"{name} must be an integer; got {value!r}")
    part = default_part(list(parts)) if part is None else part
    _choose("part", part, list(parts))
    blocks = dict(parts[part])
    layers = sorted(blocks) if layer is None else [layer]
    if layer is not None:
        _choose("layer", layer, sorted(blocks), f" (part {part!r})")
    tensors = trace.tensors
    first = tensors[blocks[layers[0]]]
    n_heads = first.shape[1]
    heads = list(range(n_heads)) if head is None else [head]
    if head is not None:
        _choose("head", head, list(range(n_heads)), f" ({n_heads} heads per layer)")
    patterns = np.stack([tensors[blocks[i]][:, heads] for i in layers], axis=1)
    q, k = patterns.shape[-2:]
    query = _labels(_probe(trace, "tokens"), q)
    keys = query if part in ("self", "decoder") else _labels(_probe(trace, "source_tokens"), k)
    if part == "encoder":
        query = keys
    return AttentionView(
        part,
        tuple(layers),
        tuple(heads),
        patterns,
        trace.snapshot_steps,
        query,
        keys,
        _task_name(trace),
    )


@dataclass(frozen=True)
class EmbeddingView:
    part: str  # "self", or "encoder" | "decoder"
    tensor: str  # the tensor name shown
    steps: np.ndarray  # snapshot steps
    tokens: list[str]  # one per vocabulary row
    vectors: np.ndarray  # [snapshot, vocab, d_model]
    coords: np.ndarray  # [snapshot, vocab, 2] in one PCA basis fit on the last snapshot
    ratio: np.ndarray  # [2] share of the last snapshot's variance on each axis
    task: str


def embedding_view(trace: Trace, part: str | None = None) -> EmbeddingView:
    """Token embeddings at every snapshot, projected on the final snapshot's 2 main axes."""
    tensors = trace.tensors
    parts = {
        {"": "self", "encoder.": "encoder", "decoder.": "decoder"}[prefix]: f"{prefix}embed.W_E"
        for prefix in ("", "encoder.", "decoder.")
        if f"{prefix}embed.W_E" in tensors
    }
    if not parts:
        raise ValueError(
            "this trace has no token embeddings ('embed.W_E'); it holds: "
            f"{', '.join(sorted(tensors)) or 'no tensors'}"
        )
    part = (
        ("self" if "self" in parts else "decoder" if "decoder" in parts else next(iter(parts)))
        if part is None
        else part
    )
    _choose("part", part, list(parts), " for embeddings")
    vectors = np.asarray(tensors[parts[part]], np.float64)
    if vectors.ndim != 3 or vectors.shape[-1] < 2:
        raise ValueError(f"{parts[part]} must be [snapshot, vocab, d_model]; got {vectors.shape}")
    coords, ratio = stable_pca(vectors, k=2, fit_on="last")
    tokens = _labels(trace.meta.get("vocab"), vectors.shape[1])
    return EmbeddingView(
        part, parts[part], trace.snapshot_steps, tokens, vectors, coords, ratio, _task_name(trace)
    )


@dataclass(frozen=True)
class PositionalView:
    kind: str  # "sinusoidal" | "learned" | "rope" | "" when unknown
    steps: np.ndarray  # snapshot steps
    table: np.ndarray  # [snapshot, pos, dim]
    similarity: np.ndarray  # [snapshot, pos, pos] cosine similarity between positions
    task: str


def positional_view(trace: Trace) -> PositionalView:
    """The positional-encoding table at every snapshot and how alike the positions are."""
    tensors = trace.tensors
    config = trace.meta.get("model_config")
    kind = str(config.get("positional", "")) if isinstance(config, dict) else ""
    if "positional" not in tensors:
        reason = " (the model used positional='none')" if kind == "none" else ""
        raise ValueError(
            f"this trace has no 'positional' tensor{reason}; it holds: "
            f"{', '.join(sorted(tensors)) or 'no tensors'}"
        )
    table = np.asarray(tensors["positional"], np.float64)
    if table.ndim != 3:
        raise ValueError(f"'positional' must be [snapshot, pos, dim]; got {table.shape}")
    similarity = np.stack([cosine_similarity(t) for t in table])
    return PositionalView(kind, trace.snapshot_steps, table, similarity, _task_name(trace))


@dataclass(frozen=True)
class LossView:
    steps: np.ndarray  # every logged step: the frame axis
    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (steps, values), NaNs removed
    task: str


LOSS_SCALARS = ("loss", "val_loss", "val_accuracy", "lr", "grad_norm")


def loss_view(trace: Trace) -> LossView:
    """Training and validation loss, validation accuracy, learning rate and gradient norm."""
    scalars = trace.scalars
    curves = {name: trace.scalar(name) for name in LOSS_SCALARS if name in scalars}
    if "loss" not in curves and "val_loss" not in curves:
        raise ValueError(
            "this trace has no 'loss' or 'val_loss' scalars; it holds: "
            f"{', '.join(sorted(scalars)) or 'no scalars'}"
        )
    return LossView(trace.steps, curves, _task_name(trace))


@dataclass(frozen=True)
class OptimizerView:
    optimizer: str  # "adamw", ... or "" when unknown
    parameter: str  # the tracked parameter whose tensors are shown
    scalar_steps: np.ndarray  # every logged step
    grad_norm: np.ndarray  # [n_steps] global gradient norm before clipping (NaN if absent)
    update_ratio: dict[str, np.ndarray]  # parameter -> [n_steps] ||update|| / ||weight||
    steps: np.ndarray  # snapshot steps: the frame axis
    tensors: dict[str, np.ndarray]  # "grad" | "update" | moment -> [snapshot, *shape]
    row_labels: list[str] | None  # token per row for embedding matrices
    task: str


OPTIMIZER_TENSORS = ("grad", "update", "exp_avg", "exp_avg_sq", "momentum_buffer")


def optimizer_view(trace: Trace, parameter: str | None = None) -> OptimizerView:
    """Per-step update sizes of every parameter, and one tracked parameter's optimizer state."""
    tensors, scalars = trace.tensors, trace.scalars
    tracked = sorted({name.split("/", 1)[1] for name in tensors if name.startswith("grad/")})
    listed = trace.meta.get("tracked_parameters")
    if isinstance(listed, list) and set(listed) == set(tracked):
        tracked = list(listed)
    ratios = {n.split("/", 1)[1]: v for n, v in scalars.items() if n.startswith("update_ratio/")}
    if not tracked and not ratios:
        raise ValueError(
            "this trace has no optimizer data ('update_ratio/<param>' scalars or 'grad/<param>' "
            f"tensors); it holds tensors: {', '.join(sorted(tensors)) or 'none'}"
        )
    if parameter is not None:
        _choose("parameter", parameter, tracked, " (tracked parameters)")
    parameter = parameter if parameter is not None else (tracked[0] if tracked else "")
    shown = {
        kind: np.asarray(tensors[f"{kind}/{parameter}"])
        for kind in OPTIMIZER_TENSORS
        if f"{kind}/{parameter}" in tensors
    }
    vocab = trace.meta.get("vocab")
    rows = None
    if parameter.endswith("embed.W_E.weight") and shown:
        rows = _labels(vocab, next(iter(shown.values())).shape[1])
    config = trace.meta.get("train_config")
    optimizer = str(config.get("optimizer", "")) if isinstance(config, dict) else ""
    grad_norm = scalars.get("grad_norm", np.full(len(trace.steps), np.nan))
    frames = trace.snapshot_steps if shown else trace.steps
    return OptimizerView(
        optimizer,
        parameter,
        trace.steps,
        grad_norm,
        ratios,
        frames,
        shown,
        rows,
        _task_name(trace),
    )


View = AttentionView | EmbeddingView | PositionalView | LossView | OptimizerView
WHATS = ("attention", "embeddings", "positional", "loss", "optimizer")


def view(
    trace: Trace,
    what: str,
    *,
    part: str | None = None,
    layer: int | None = None,
    head: int | None = None,
    parameter: str | None = None,
) -> View:
    """The view of ``what`` with the options that apply to it; others must stay None."""
    if what not in WHATS:
        raise ValueError(f"unknown what={what!r}; expected one of {', '.join(WHATS)}")
    given = {"part": part, "layer": layer, "head": head, "parameter": parameter}
    allowed = {
        "attention": ("part", "layer", "head"),
        "embeddings": ("part",),
        "optimizer": ("parameter",),
    }.get(what, ())
    extra = [name for name, value in given.items() if value is not None and name not in allowed]
    if extra:
        takes = f"takes only {', '.join(allowed)}" if allowed else "takes none of them"
        raise ValueError(
            f"{', '.join(extra)} cannot be used with what={what!r} ({what} {takes}; "
            "layer, head and part select attention heads)"
        )
    if what == "attention":
        return attention_view(trace, part, layer, head)
    if what == "embeddings":
        return embedding_view(trace, part)
    if what == "positional":
        return positional_view(trace)
    if what == "loss":
        return loss_view(trace)
    return optimizer_view(trace, parameter)
