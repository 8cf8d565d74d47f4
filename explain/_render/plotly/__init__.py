"""The plotly builders: the figures of a view model (see :data:`explain._render.REGISTRY`).

A builder is ``figures(view, index, theme, **state) -> list[dict]`` in ``plotly/<view>.py``:
the complete plotly figures (themed, strings escaped, numpy arrays as they are) that the view
shows at frame ``index`` with ``state`` (its selection: a head, a position, ...). The widget
shows exactly these figures and adds its controls; a page shows them with plotly frames and a
step slider made from the same builder at every frame (:func:`page_figures`). A view whose
widget has a control other than the step gives the page a slider in its place with
``page_controls(view, shown, index, theme, **state) -> list[dict]`` (the lens: positions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from explain.style import LIGHT, Theme
from explain.views import ViewData

from .. import builder
from . import blocks


def figures(view: ViewData, index: int, theme: Theme = LIGHT, **state: Any) -> list[dict]:
    """The figures ``view`` shows at frame ``index`` with ``state`` (see the module doc)."""
    build = builder(view, "plotly")
    try:
        return build(view, int(index), theme, **state)
    except TypeError as error:
        if "unexpected keyword" not in str(error):
            raise
        raise ValueError(f"{type(view).__name__} cannot take {sorted(state)}: {error}") from None


def page_figures(
    view: ViewData, frames: Sequence[int], index: int, theme: Theme = LIGHT, **state: Any
) -> list[dict]:
    """:func:`figures` at ``index``, with plotly frames at ``frames`` and a step slider (for a
    page: the export, the report). Figures that never change between frames get neither."""
    shown = figures(view, index, theme, **state)
    controls = builder(view, "plotly", "page_controls")
    if controls is not None:
        shown = controls(view, shown, int(index), theme, **state)
    steps = np.asarray(view.steps)
    if len(steps) < 2:
        return shown
    frames, active = blocks.initial(frames, index)
    at = {i: (shown if i == index else figures(view, i, theme, **state)) for i in frames}
    return blocks.with_frames(shown, at, steps, active)
