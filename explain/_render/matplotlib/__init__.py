"""The matplotlib builders: one figure per view model (see :data:`explain._render.REGISTRY`)."""

from __future__ import annotations

from explain.views import ViewData

from .. import builder
from .common import Drawn, style

__all__ = ["Drawn", "draw", "style"]


def draw(view: ViewData, index: int, marker: bool = False) -> Drawn:
    """The figure of ``view`` showing frame ``index``; ``marker`` marks the step on curves."""
    return builder(view, "matplotlib")(view, index, marker)
