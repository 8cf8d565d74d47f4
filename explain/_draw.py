"""Which matplotlib builder draws which view model (`_figures`, `_figures_lab`,
`_figures_lens`)."""

from __future__ import annotations

from collections.abc import Callable

from . import _figures, _figures_lab, _figures_lens
from .views import (
    AttentionData,
    EmbeddingData,
    HeadsData,
    LensData,
    LossData,
    OptimizerData,
    PositionalData,
    PruningData,
    ScoresData,
    ViewData,
)

BUILDERS: dict[type, Callable[[ViewData, int, bool], _figures.Drawn]] = {
    AttentionData: _figures.attention,
    EmbeddingData: _figures.embeddings,
    PositionalData: _figures.positional,
    LossData: _figures.loss,
    OptimizerData: _figures.optimizer,
    HeadsData: _figures_lab.heads,
    ScoresData: _figures_lab.scores,
    PruningData: _figures_lab.pruning,
    LensData: _figures_lens.lens,
}


def draw(view: ViewData, index: int, marker: bool = False) -> _figures.Drawn:
    """The figure of ``view`` showing frame ``index``; ``marker`` marks the step on curves."""
    return BUILDERS[type(view)](view, index, marker)
