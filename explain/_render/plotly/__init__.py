"""The plotly builders: one figure dict per view model (see :data:`explain._render.REGISTRY`)."""

from __future__ import annotations

from collections.abc import Sequence

from explain.style import LIGHT, Theme
from explain.views import ViewData

from .. import builder


def figure(
    view: ViewData,
    frames: Sequence[int],
    index: int,
    marked: int | None = None,
    theme: Theme = LIGHT,
) -> dict:
    """The plotly figure dict of ``view``: frames at ``frames``, showing ``index`` first;
    ``marked`` is a step to mark on curves (None: none)."""
    return builder(view, "plotly")(view, frames, index, marked, theme)
