"""View models of what the model learns per token and per position: embeddings, encodings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..analysis import cosine_similarity, stable_pca
from ..style import SIGNED
from ..trace import Trace
from ._common import ViewModel, choose, consistent, holds, require_finite, task_name, titled

# -- embeddings ------------------------------------------------------------------------------
EMBEDDING_TENSORS = {
    "self": "embed.W_E",
    "encoder": "encoder.embed.W_E",
    "decoder": "decoder.embed.W_E",
}


@dataclass(frozen=True)
class EmbeddingData(ViewModel):
    """Token embeddings at every snapshot, in one PCA basis fit on all snapshots pooled (the
    axes never flip or rotate as the step moves), and their cosine similarity."""

    what: ClassVar[str] = "embeddings"
    FIELDS: ClassVar = tuple(
        "part parts tensor task title colorscale steps tokens explained ranges coords "
        "vectors similarity".split()
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


@consistent
def embeddings(trace: Trace, part: str | None = None) -> EmbeddingData:
    """Token embeddings of ``part`` (default: self, else decoder) at every snapshot."""
    tensors = trace.tensors
    parts = {p: name for p, name in EMBEDDING_TENSORS.items() if name in tensors}
    if not parts:
        raise ValueError(
            f"this trace has no token embeddings ('embed.W_E'); it holds: {holds(trace)}"
        )
    if part is None:
        part = "self" if "self" in parts else "decoder" if "decoder" in parts else next(iter(parts))
    choose("part", part, list(parts), " for embeddings")
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
    task = task_name(trace)
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
        title=titled(what, task),
    )


# -- positional ------------------------------------------------------------------------------
FORMULA_KIND = "sinusoidal (formula)"  # the kind of positional_formula's table


@dataclass(frozen=True)
class PositionalData(ViewModel):
    """The positional-encoding table at every snapshot and how alike the positions are."""

    what: ClassVar[str] = "positional"
    FIELDS: ClassVar = tuple("kind task title colorscale limit steps table similarity".split())
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

    @property
    def formula(self) -> bool:
        """Whether this is the formula without a trace (:func:`positional_formula`): it has
        no training steps, so nothing names one."""
        return self.kind == FORMULA_KIND


def _positional(kind: str, steps: np.ndarray, table: np.ndarray, task: str) -> PositionalData:
    return PositionalData(
        kind=kind,
        steps=steps,
        table=table,
        similarity=np.stack([cosine_similarity(t) for t in table]),
        limit=float(np.abs(table).max()) or 1.0,
        task=task,
        title=titled(f"{kind or 'positional'} encoding", task),
    )


@consistent
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
        raise ValueError(f"this trace has no 'positional' tensor{reason}; it holds: {holds(trace)}")
    table = np.asarray(tensors["positional"], np.float64)
    if table.ndim != 3:
        raise ValueError(f"'positional' must be [snapshot, pos, dim]; got {table.shape}")
    require_finite("positional", table)
    return _positional(kind, trace.snapshot_steps, table, task_name(trace))


def positional_formula(length: int, d_model: int) -> PositionalData:
    """The sinusoidal formula of Vaswani et al. for ``length`` positions, without a trace."""
    from ..positional import sinusoidal

    table = sinusoidal(length, d_model)[None]  # [1, pos, dim]
    return _positional(FORMULA_KIND, np.zeros(1, np.int64), table, "")
