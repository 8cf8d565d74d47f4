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

from ..style import visible
from ..trace import Trace
from ._attention import AttentionData, AttentionWindow, attention
from ._attribution import AttributionData, attribution
from ._by_hand import ByHandData, by_hand
from ._common import (
    describe_steps,
    forget,
    frame_indices,
    framed,
    jsonable,
    memo,
    require_finite,
    step_index,
    to_dict,
    trained,
)
from ._compare import CompareData, compare
from ._generate import GenerateData, generation
from ._heads import (
    ROLE_BADGES,
    ROLE_THRESHOLD,
    HeadsData,
    PruningData,
    ScoresData,
    badges_at,
    heads,
    pruning,
    roles_at,
    roles_of,
    scored_part,
    scores,
)
from ._lens import LensData, lens
from ._neurons import NeuronData, neurons
from ._patching import PatchingData, patching
from ._token_loss import TokenLossData, token_loss
from ._tokens import (
    EMBEDDING_TENSORS,
    EmbeddingData,
    PositionalData,
    embeddings,
    positional,
    positional_formula,
)
from ._training import (
    HISTOGRAM_BINS,
    LOSS_SCALARS,
    OPTIMIZER_TENSORS,
    Curve,
    LossData,
    OptimizerData,
    loss,
    optimizer,
    update_histogram,
)

__all__ = [
    "EMBEDDING_TENSORS",
    "HISTOGRAM_BINS",
    "LOSS_SCALARS",
    "OPTIMIZER_TENSORS",
    "ROLE_BADGES",
    "ROLE_THRESHOLD",
    "SELECTIONS",
    "WHATS",
    "AttentionData",
    "AttentionWindow",
    "AttributionData",
    "ByHandData",
    "CompareData",
    "Curve",
    "EmbeddingData",
    "GenerateData",
    "HeadsData",
    "LensData",
    "NeuronData",
    "PatchingData",
    "ScoresData",
    "LossData",
    "TokenLossData",
    "OptimizerData",
    "PositionalData",
    "PruningData",
    "ViewData",
    "attention",
    "attribution",
    "badges_at",
    "by_hand",
    "compare",
    "describe_steps",
    "embeddings",
    "frame_indices",
    "generation",
    "heads",
    "lens",
    "neurons",
    "patching",
    "scored_part",
    "scores",
    "jsonable",
    "framed",
    "memo",
    "forget",
    "loss",
    "optimizer",
    "positional",
    "positional_formula",
    "pruning",
    "require_finite",
    "roles_at",
    "roles_of",
    "step_index",
    "to_dict",
    "trained",
    "token_loss",
    "update_histogram",
    "view",
    "visible",
]
# -- any view --------------------------------------------------------------------------------
ViewData = (
    AttentionData
    | EmbeddingData
    | PositionalData
    | LossData
    | OptimizerData
    | HeadsData
    | ScoresData
    | PruningData
    | LensData
    | ByHandData
    | CompareData
    | GenerateData
    | TokenLossData
    | AttributionData
    | NeuronData
    | PatchingData
)
WHATS = (
    "attention",
    "embeddings",
    "positional",
    "loss",
    "optimizer",
    "heads",
    "scores",
    "pruning",
    "lens",
    "token_loss",
    "attribution",
    "neurons",
    "patching",
)
# The selection keywords each view takes (exports, the CLI, widgets); the one place they live.
SELECTIONS: dict[str, tuple[str, ...]] = {
    "attention": ("part", "layer", "head"),
    "embeddings": ("part",),
    "optimizer": ("parameter",),
    "heads": ("part",),
    "scores": ("part",),
    "lens": (),  # the widget picks the saliency position; exports show the default
    "attribution": (),  # the widget picks the position and the head; exports: the defaults
    "neurons": ("layer",),  # the layer shown; the widget picks the neuron (a click on the grid)
    "patching": (),  # the widget picks where, the receiver and its input; exports: defaults
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
    allowed = SELECTIONS.get(what, ())
    extra = [name for name, value in given.items() if value is not None and name not in allowed]
    if extra:
        takes = f"takes only {', '.join(allowed)}" if allowed else "takes none of them"
        raise ValueError(
            f"{', '.join(extra)} cannot be used with what={what!r} ({what} {takes}; "
            "layer, head and part select attention heads)"
        )
    if what == "attention":
        return attention(trace, part, layer, head)
    if what == "optimizer":
        return optimizer(trace, parameter)
    if what == "neurons":
        return neurons(trace, layer)
    if what in ("embeddings", "heads", "scores"):
        return {"embeddings": embeddings, "heads": heads, "scores": scores}[what](trace, part)
    return {
        "positional": positional,
        "loss": loss,
        "pruning": pruning,
        "lens": lens,
        "token_loss": token_loss,
        "attribution": attribution,
        "patching": patching,
    }[what](trace)
