"""LossView: train/validation loss, learning rate and gradient norm over steps, with a cursor.

Clicking a point moves the (shared) step to the nearest snapshot, so every linked view follows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain.trace import Trace

from ._base import View
from ._plot import ClickPoint

__all__ = ["LossView"]


class LossView(View):
    """Loss (train and validation) with validation accuracy, learning rate and global gradient
    norm against step, drawn from ``data`` (:func:`explain.views.loss`) by the loss view's one
    plotly builder (``explain.export.interactive(trace, "loss", step=...)`` is the same figure).

    The orange cursor marks the current step; clicking any point moves the step there (the
    nearest snapshot). Raises ValueError for a trace without a ``loss`` or ``val_loss`` scalar.
    Values that are not finite (a diverged run) are left out of the lines.
    """

    css_class = "explain-loss"

    def __init__(self, trace: Trace, *, height: int = 480, **view: Any) -> None:
        super().__init__(trace, **view)
        self.data = views.loss(self.trace)
        self.height = int(height)
        self.figure_plot = self._plot(self._figure(), "explain-loss-plot")
        self.figure_plot.on_click(self._on_click)
        self.widget = self._root([self.figure_plot.widget])
        self._ready()

    @property
    def figure(self) -> Any:
        return self.figure_plot.figure

    def click_step(self, step: float) -> int:
        """Move the shared step to the snapshot nearest ``step`` (what a click does)."""
        return self.step_control.go_to(step)

    def _on_click(self, points: list[ClickPoint]) -> None:
        x = points[0].x
        if x is None:
            return
        self.click_step(float(x))

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The curves with the step marked, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · step {self.step}"
        return [(export.image(self.data, self._shown(), theme=self.theme, marker=True), alt)]

    def _shown(self) -> int | None:
        """The step of ``data`` nearest the current step (the step marked)."""
        steps, step = self.data.steps, self.step
        return int(steps[np.argmin(np.abs(steps - step))]) if len(steps) else None

    def _figure(self) -> dict:
        shown = self._shown()
        index = self.data.index(shown) if shown is not None else 0
        (figure,) = builders.figures(self.data, index, self.theme)
        figure["layout"]["height"] = self.height
        return figure

    def _reload(self) -> None:
        self.data = views.loss(self.trace)

    def _update(self) -> None:
        self.figure_plot.show(self._figure())
