"""The matplotlib builders: one figure per view model (see :data:`explain._render.REGISTRY`)."""

from __future__ import annotations

from typing import Any

from explain.style import LIGHT, Theme
from explain.views import ViewData

from .. import builder
from .common import Drawn, plotly_ticks, style

__all__ = ["Drawn", "draw", "style"]


def draw(
    view: ViewData, index: int, marker: bool = False, theme: Theme = LIGHT, **state: Any
) -> Drawn:
    """The figure of ``view`` showing frame ``index`` with ``state`` (the widget's selection)
    in ``theme`` (draw it inside :func:`style` of the same theme); ``marker`` marks the step
    on curves. Axes left with matplotlib's default ticks get plotly's (`common.plotly_ticks`)."""
    drawn = builder(view, "matplotlib")(view, index, marker, theme, **state)
    plotly_ticks(drawn.figure)
    return drawn
