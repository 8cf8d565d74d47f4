"""View models: everything a view shows, computed once from a trace. No torch, no plotting.

One function per view reads a trace and returns a frozen dataclass of numpy arrays, labels,
titles and the colour scale to draw with, for every snapshot step. The widget (``view.data``)
and every export (PNG/SVG/PDF, GIF/MP4, interactive HTML, the report, JSON/CSV) draw that same
object, so the notebook, the slide and the data file never disagree. :func:`to_dict` is the
JSON export: exactly the fields named in the model's ``FIELDS``. A bad choice raises ValueError
naming the bad value and listing what the trace holds.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> pattern = np.full((2, 1, 3, 3), 1 / 3)  # [snapshot, head, q_pos, k_pos]
    >>> trace = Trace.from_arrays({}, [0, 5], {}, [0, 5], {"blocks.0.attn.hook_pattern": pattern})
    >>> data = attention(trace)
    >>> data.part, data.layers, data.heads, data.patterns.shape, data.colorscale
    ('self', (0,), (0,), (2, 1, 1, 3, 3), 'viridis')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .analysis import cosine_similarity, stable_pca
from .names import PART_TITLES, attention_parts, default_part
from .style import SIGNED, WEIGHT, visible
from .trace import Trace

__all__ = [
    "WHATS",
    "AttentionData",
    "Curve",
    "EmbeddingData",
    "LossData",
    "OptimizerData",
    "PositionalData",
    "ViewData",
    "attention",
    "embeddings",
    "loss",
    "optimizer",
    "positional",
    "positional_formula",
    "to_dict",
    "view",
    "visible",
]


# -- steps -----------------------------------------------------------------------------------
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


# -- helpers ---------------------------------------------------------------------------------
def _choose(kind: str, value: object, available: Sequence[object], context: str = "") -> None:
    if value not in available:
        listed = ", ".join(map(str, available)) if available else "none"
        raise ValueError(f"{kind} {value!r} is not in this trace{context}; available: {listed}")


def _integer(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")


def _task(trace: Trace) -> str:
    task = trace.meta.get("task")
    return str(task.get("name", "")) if isinstance(task, dict) else ""


def _titled(what: str, task: str) -> str:
    return f"{what} · task {task}" if task else what


def _probe(trace: Trace, key: str) -> list[str] | None:
    probe = trace.meta.get("probe")
    tokens = probe.get(key) if isinstance(probe, dict) else None
    return [str(t) for t in tokens] if isinstance(tokens, list | tuple) else None


def require_finite(name: str, array: np.ndarray) -> None:
    """ValueError naming ``name`` and the first bad index if ``array`` holds NaN or inf."""
    finite = np.isfinite(array)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} holds NaN or inf (first at index {where}); expected finite numbers"
        )


def _holds(trace: Trace) -> str:
    return ", ".join(sorted(trace.tensors)) or "no tensors"


class _Data:
    """What every view model has: ``steps`` (the frame axis) and the JSON field list."""

    what: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]  # what the JSON export writes, in order
    FRAMED: ClassVar[tuple[str, ...]]  # fields whose first axis is `steps`
    steps: np.ndarray

    def index(self, step: int | None) -> int:
        """Index of ``step`` on the frame axis (the last one for None)."""
        return step_index(self.steps, step)


# -- attention -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttentionData(_Data):
    """Attention of one part: every layer and head chosen, at every snapshot."""

    what: ClassVar[str] = "attention"
    FIELDS: ClassVar = (
        "part",
        "parts",
        "task",
        "title",
        "colorscale",
        "zmin",
        "zmax",
        "dims",
        "steps",
        "layers",
        "heads",
        "query_tokens",
        "key_tokens",
        "patterns",
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

    @property
    def patterns(self) -> np.ndarray:
        """All of it stacked: [snapshot, layer, head, q_pos, k_pos] (a copy; for exports)."""
        return np.stack(self.layer_patterns, axis=1)

    def at(self, index: int) -> np.ndarray:
        """[layer, head, q_pos, k_pos] at frame ``index`` (no copy of other snapshots)."""
        return np.stack([layer[index] for layer in self.layer_patterns])

    def head(self, layer: int, head: int) -> AttentionData:
        """The same model cut to one layer and head (views of the arrays, no copy)."""
        row, column = self.layers.index(layer), self.heads.index(head)
        return dataclasses.replace(
            self,
            layers=(layer,),
            heads=(head,),
            layer_patterns=(self.layer_patterns[row][:, column : column + 1],),
        )


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
            f"'[encoder.|decoder.]blocks.N.attn.hook_pattern'); it holds: {_holds(trace)}"
        )
    _integer("layer", layer)
    _integer("head", head)
    part = default_part(parts) if part is None else part
    _choose("part", part, list(parts))
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
        _choose("layer", layer, list(range(len(names))), f" (part {part!r})")
    if head is not None:
        _choose("head", head, list(range(n_heads)), f" ({n_heads} heads per layer)")
    layers = list(range(len(names))) if layer is None else [int(layer)]
    heads = slice(None) if head is None else slice(int(head), int(head) + 1)  # a view, no copy
    q, k = arrays[0].shape[2:]
    target = [str(t) for t in tokens] if tokens is not None else _probe(trace, "tokens")
    source = _probe(trace, "source_tokens")
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
    task = _task(trace)
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
        title=_titled(PART_TITLES.get(part, part), task),
    )


# -- embeddings ------------------------------------------------------------------------------
EMBEDDING_TENSORS = {
    "self": "embed.W_E",
    "encoder": "encoder.embed.W_E",
    "decoder": "decoder.embed.W_E",
}


@dataclass(frozen=True)
class EmbeddingData(_Data):
    """Token embeddings at every snapshot, in one PCA basis fit on all snapshots pooled (the
    axes never flip or rotate as the step moves), and their cosine similarity."""

    what: ClassVar[str] = "embeddings"
    FIELDS: ClassVar = (
        "part",
        "parts",
        "tensor",
        "task",
        "title",
        "colorscale",
        "steps",
        "tokens",
        "explained",
        "ranges",
        "coords",
        "vectors",
        "similarity",
    )
    FRAMED: ClassVar = ("steps", "coords", "vectors", "similarity")

    part: str  # "self", or "encoder" | "decoder"
    parts: tuple[str, ...]
    tensor: str  # the tensor shown, e.g. "embed.W_E"
    steps: np.ndarray  # [snapshot]
    tokens: list[str]  # one per row: the task's vocabulary
    vectors: np.ndarray  # [snapshot, token, d_model]
    coords: np.ndarray  # [snapshot, token, 3] principal components (zeros past d_model)
    explained: np.ndarray  # [3] share of the pooled variance on each axis
    ranges: np.ndarray  # [3, 2] axis limits that hold every snapshot
    similarity: np.ndarray  # [snapshot, token, token] cosine similarity
    task: str
    title: str
    colorscale: str = SIGNED  # of the similarity matrix, in [-1, 1]


def embeddings(trace: Trace, part: str | None = None) -> EmbeddingData:
    """Token embeddings of ``part`` (default: self, else decoder) at every snapshot."""
    tensors = trace.tensors
    parts = {p: name for p, name in EMBEDDING_TENSORS.items() if name in tensors}
    if not parts:
        raise ValueError(
            f"this trace has no token embeddings ('embed.W_E'); it holds: {_holds(trace)}"
        )
    if part is None:
        part = "self" if "self" in parts else "decoder" if "decoder" in parts else next(iter(parts))
    _choose("part", part, list(parts), " for embeddings")
    name = parts[part]
    matrix = tensors[name]
    if matrix.ndim != 3:
        raise ValueError(f"{name} must be [snapshot, vocab, d_model]; got {matrix.shape}")
    require_finite(name, matrix)
    vocab = trace.meta.get("vocab")
    rows = matrix.shape[1]
    if isinstance(vocab, list) and vocab:
        rows = min(rows, len(vocab))  # rows past the task's vocabulary are never trained
        tokens = [str(v) for v in vocab[:rows]]
    else:
        tokens = [str(i) for i in range(rows)]
    vectors = np.asarray(matrix[:, :rows], np.float64)
    k = min(3, vectors.shape[2])
    coords, explained = stable_pca(vectors, k=k, fit_on="all")
    if k < 3:  # a 1- or 2-dimensional embedding: the missing axes are zero
        coords = np.concatenate([coords, np.zeros((*coords.shape[:2], 3 - k))], axis=2)
        explained = np.concatenate([explained, np.zeros(3 - k)])
    low, high = coords.min(axis=(0, 1)), coords.max(axis=(0, 1))
    margin = 0.08 * np.maximum(high - low, 1e-9)
    task = _task(trace)
    what = "token embeddings" + (f" ({part})" if part != "self" else "")
    return EmbeddingData(
        part=part,
        parts=tuple(parts),
        tensor=name,
        steps=trace.snapshot_steps,
        tokens=tokens,
        vectors=vectors,
        coords=coords,
        explained=explained,
        ranges=np.stack([low - margin, high + margin], axis=1),
        similarity=np.stack([cosine_similarity(v) for v in vectors]),
        task=task,
        title=_titled(what, task),
    )


# -- positional ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PositionalData(_Data):
    """The positional-encoding table at every snapshot and how alike the positions are."""

    what: ClassVar[str] = "positional"
    FIELDS: ClassVar = (
        "kind",
        "task",
        "title",
        "colorscale",
        "limit",
        "steps",
        "table",
        "similarity",
    )
    FRAMED: ClassVar = ("steps", "table", "similarity")

    kind: str  # "sinusoidal" | "learned" | "rope" | "" when unknown
    steps: np.ndarray  # [snapshot]
    table: np.ndarray  # [snapshot, pos, dim] (rope: cos and sin columns)
    similarity: np.ndarray  # [snapshot, pos, pos] cosine similarity between positions
    limit: float  # the table's colour range is [-limit, limit] at every step
    task: str
    title: str
    colorscale: str = SIGNED

    @property
    def changes(self) -> bool:
        """Whether the table differs between snapshots (learned encodings do)."""
        return len(self.table) > 1 and bool(np.ptp(self.table, axis=0).max() > 0)


def _positional(kind: str, steps: np.ndarray, table: np.ndarray, task: str) -> PositionalData:
    return PositionalData(
        kind=kind,
        steps=steps,
        table=table,
        similarity=np.stack([cosine_similarity(t) for t in table]),
        limit=float(np.abs(table).max()) or 1.0,
        task=task,
        title=_titled(f"{kind or 'positional'} encoding", task),
    )


def positional(trace: Trace) -> PositionalData:
    """The positional encoding the model used, at every snapshot."""
    tensors = trace.tensors
    config = trace.meta.get("model_config")
    kind = str(config.get("positional", "")) if isinstance(config, dict) else ""
    if "positional" not in tensors:
        reason = (
            " (the model used positional='none': attention alone is permutation invariant)"
            if kind == "none"
            else ""
        )
        raise ValueError(
            f"this trace has no 'positional' tensor{reason}; it holds: {_holds(trace)}"
        )
    table = np.asarray(tensors["positional"], np.float64)
    if table.ndim != 3:
        raise ValueError(f"'positional' must be [snapshot, pos, dim]; got {table.shape}")
    require_finite("positional", table)
    return _positional(kind, trace.snapshot_steps, table, _task(trace))


def positional_formula(length: int, d_model: int) -> PositionalData:
    """The sinusoidal formula of Vaswani et al. for ``length`` positions, without a trace."""
    from .positional import sinusoidal

    table = sinusoidal(length, d_model)[None]  # [1, pos, dim]
    return _positional("sinusoidal (formula)", np.zeros(1, np.int64), table, "")


# -- loss ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    steps: np.ndarray  # steps at which the value was logged
    values: np.ndarray


LOSS_SCALARS = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
    "lr": "learning rate",
    "grad_norm": "gradient norm",
}


@dataclass(frozen=True)
class LossData(_Data):
    """Training and validation loss, validation accuracy, learning rate and gradient norm."""

    what: ClassVar[str] = "loss"
    FIELDS: ClassVar = ("task", "title", "colorscale", "labels", "snapshot_steps", "curves")
    FRAMED: ClassVar = ()

    steps: np.ndarray  # every logged step
    snapshot_steps: np.ndarray  # where the other views can go (a cursor moves over these)
    curves: dict[str, Curve]  # scalar name -> its logged values (not-logged steps left out)
    labels: dict[str, str]  # scalar name -> legend label
    task: str
    title: str
    colorscale: str | None = None


def loss(trace: Trace) -> LossData:
    """The training curves of ``trace``; non-finite values (a diverged run) are kept."""
    scalars = trace.scalars
    if "loss" not in scalars and "val_loss" not in scalars:
        raise ValueError(
            "this trace has no 'loss' or 'val_loss' scalars; it holds: "
            f"{', '.join(sorted(scalars)) or 'no scalars'}"
        )
    curves = {name: Curve(*trace.scalar(name)) for name in LOSS_SCALARS if name in scalars}
    task = _task(trace)
    return LossData(
        steps=trace.steps,
        snapshot_steps=trace.snapshot_steps,
        curves=curves,
        labels={name: LOSS_SCALARS[name] for name in curves},
        task=task,
        title=_titled("training curves", task),
    )


# -- optimizer -------------------------------------------------------------------------------
OPTIMIZER_TENSORS = {
    "grad": "gradient",
    "update": "update Δw applied",
    "exp_avg": "Adam m (mean gradient)",
    "exp_avg_sq": "Adam √v (gradient scale)",
    "momentum_buffer": "momentum buffer",
}
HISTOGRAM_BINS = 41


@dataclass(frozen=True)
class OptimizerData(_Data):
    """Per-step update sizes of every parameter, and one tracked parameter's gradient, update
    and optimizer moments at every snapshot (``exp_avg_sq`` shown as its square root)."""

    what: ClassVar[str] = "optimizer"
    FIELDS: ClassVar = (
        "optimizer",
        "parameter",
        "parameters",
        "task",
        "title",
        "colorscale",
        "tensor_titles",
        "scalar_steps",
        "grad_norm",
        "update_ratio",
        "parameter_grad_norm",
        "steps",
        "norms",
        "histogram_centres",
        "histogram_counts",
        "tensors",
        "row_labels",
    )
    FRAMED: ClassVar = ("steps", "norms", "histogram_centres", "histogram_counts", "tensors")

    optimizer: str  # "adamw", ... or "" when unknown
    parameter: str  # the tracked parameter whose tensors are shown ("" when none is)
    parameters: tuple[str, ...]  # every tracked parameter
    scalar_steps: np.ndarray  # every logged step
    grad_norm: np.ndarray  # [n_steps] global gradient norm before clipping (NaN if absent)
    update_ratio: dict[str, np.ndarray]  # parameter -> [n_steps] ||update|| / ||weight||
    parameter_grad_norm: Curve  # this parameter's gradient norm per logged step
    steps: np.ndarray  # snapshot steps: the frame axis
    tensors: dict[str, np.ndarray]  # kind -> [snapshot, rows, cols]; exp_avg_sq as √v
    norms: dict[str, np.ndarray]  # kind -> [snapshot] Frobenius norm of tensors[kind]
    histogram_centres: np.ndarray  # [snapshot, bins] of the applied update, symmetric about 0
    histogram_counts: np.ndarray  # [snapshot, bins]
    tensor_titles: dict[str, str]  # kind -> panel title
    row_labels: list[str] | None  # token per row for embedding matrices
    task: str
    title: str
    colorscale: str = SIGNED  # of signed tensors; √v (never negative) uses WEIGHT


def update_histogram(
    update: np.ndarray, bins: int = HISTOGRAM_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, counts) of ``update``'s values, bins symmetric about 0."""
    values = np.asarray(update, np.float64).ravel()
    reach = float(np.abs(values).max()) if values.size else 0.0
    reach = reach if reach > 0 else 1e-12
    counts, edges = np.histogram(values, bins=bins, range=(-reach, reach))
    return (edges[:-1] + edges[1:]) / 2, counts


def optimizer(trace: Trace, parameter: str | None = None) -> OptimizerData:
    """What the optimizer did: update sizes of every parameter, and the state of ``parameter``
    (default: the first tracked one)."""
    tensors, scalars = trace.tensors, trace.scalars
    tracked = [name.split("/", 1)[1] for name in tensors if name.startswith("update/")]
    listed = trace.meta.get("tracked_parameters")
    if isinstance(listed, list) and set(listed) == set(tracked):
        tracked = [str(name) for name in listed]
    ratios = {n.split("/", 1)[1]: v for n, v in scalars.items() if n.startswith("update_ratio/")}
    if not tracked and not ratios:
        raise ValueError(
            "this trace has no optimizer data ('update_ratio/<param>' scalars or "
            f"'update/<param>' tensors, which explain.Recorder records); it holds: {_holds(trace)}"
        )
    if parameter is not None:
        _choose("parameter", parameter, tracked, " (tracked parameters)")
    parameter = parameter if parameter is not None else (tracked[0] if tracked else "")
    shown: dict[str, np.ndarray] = {}
    for kind in OPTIMIZER_TENSORS:
        name = f"{kind}/{parameter}"
        if name in tensors:
            values = np.asarray(tensors[name], np.float64)
            require_finite(name, values)
            values = (
                values.reshape(len(values), values.shape[1], -1)
                if values.ndim > 2
                else (values.reshape(len(values), 1, -1))
            )
            shown[kind] = np.sqrt(np.clip(values, 0, None)) if kind == "exp_avg_sq" else values
    snapshots = len(trace.snapshot_steps)
    histogram = [update_histogram(u) for u in shown["update"]] if "update" in shown else []
    vocab = trace.meta.get("vocab")
    rows = None
    if parameter.endswith("embed.W_E.weight") and shown and isinstance(vocab, list):
        height = next(iter(shown.values())).shape[1]
        rows = [str(v) for v in vocab[:height]] + [str(i) for i in range(len(vocab), height)]
    config = trace.meta.get("train_config")
    name = str(config.get("optimizer", "")) if isinstance(config, dict) else ""
    own_norm = f"grad_norm/{parameter}"
    task = _task(trace)
    return OptimizerData(
        optimizer=name,
        parameter=parameter,
        parameters=tuple(tracked),
        scalar_steps=trace.steps,
        grad_norm=scalars.get("grad_norm", np.full(len(trace.steps), np.nan)),
        update_ratio=ratios,
        parameter_grad_norm=Curve(*trace.scalar(own_norm))
        if own_norm in scalars
        else Curve(np.zeros(0, np.int64), np.zeros(0)),
        steps=trace.snapshot_steps if shown else trace.steps,
        tensors=shown,
        norms={kind: np.linalg.norm(v.reshape(len(v), -1), axis=1) for kind, v in shown.items()},
        histogram_centres=np.array([c for c, _ in histogram]).reshape(
            snapshots if histogram else 0, -1
        ),
        histogram_counts=np.array([n for _, n in histogram]).reshape(
            snapshots if histogram else 0, -1
        ),
        tensor_titles={kind: OPTIMIZER_TENSORS[kind] for kind in shown},
        row_labels=rows,
        task=task,
        title=_titled("optimizer", task),
    )


# -- any view --------------------------------------------------------------------------------
ViewData = AttentionData | EmbeddingData | PositionalData | LossData | OptimizerData
WHATS = ("attention", "embeddings", "positional", "loss", "optimizer")
_OPTIONS = {
    "attention": ("part", "layer", "head"),
    "embeddings": ("part",),
    "optimizer": ("parameter",),
}


def view(
    trace: Trace,
    what: str,
    *,
    part: str | None = None,
    layer: int | None = None,
    head: int | None = None,
    parameter: str | None = None,
) -> ViewData:
    """The view model of ``what`` with the options that apply to it; others must stay None."""
    if what not in WHATS:
        raise ValueError(f"unknown what={what!r}; expected one of {', '.join(WHATS)}")
    given = {"part": part, "layer": layer, "head": head, "parameter": parameter}
    allowed = _OPTIONS.get(what, ())
    extra = [name for name, value in given.items() if value is not None and name not in allowed]
    if extra:
        takes = f"takes only {', '.join(allowed)}" if allowed else "takes none of them"
        raise ValueError(
            f"{', '.join(extra)} cannot be used with what={what!r} ({what} {takes}; "
            "layer, head and part select attention heads)"
        )
    if what == "attention":
        return attention(trace, part, layer, head)
    if what == "embeddings":
        return embeddings(trace, part)
    if what == "positional":
        return positional(trace)
    if what == "loss":
        return loss(trace)
    return optimizer(trace, parameter)


def _number(value: float) -> float | None:
    return float(f"{value:.9g}") if math.isfinite(value) else None


def _jsonable(value: Any) -> Any:
    """Plain JSON: floats to 9 significant digits (float32-exact), NaN and inf as null."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return value.tolist()
        flat = [_number(v) for v in np.asarray(value, np.float64).ravel().tolist()]
        if value.ndim == 0:
            return flat[0]
        for size in reversed(value.shape[1:]):
            flat = [flat[i : i + size] for i in range(0, len(flat), size)]
        return flat
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float | np.floating):
        return _number(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def framed(data: ViewData, name: str, indices: Sequence[int] | None = None) -> Any:
    """Field ``name`` of ``data``, cut to frames ``indices`` when its first axis is ``steps``."""
    value = getattr(data, name)
    if indices is None or name not in data.FRAMED:
        return value
    rows = [int(i) for i in indices]
    if isinstance(value, dict):
        return {key: np.asarray(item)[rows] for key, item in value.items()}
    return np.asarray(value)[rows]


def to_dict(data: ViewData, indices: Sequence[int] | None = None) -> dict:
    """The JSON export: ``{"what": ..., field: value for field in data.FIELDS}``, at frames
    ``indices`` (default all); curves always cover every step."""
    out: dict[str, Any] = {"what": data.what}
    for name in data.FIELDS:
        out[name] = _jsonable(framed(data, name, indices))
    return out
