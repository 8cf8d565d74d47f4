"""OptimizerView: what the optimizer did to one parameter tensor over training, drawn by the
optimizer view's one plotly builder, with the 2-D :class:`OptimizerPlayground` below it.
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain.trace import Trace

from ._base import View
from ._plot import ClickPoint
from .playground import OptimizerPlayground
from .theme import Theme

__all__ = ["OptimizerPlayground", "OptimizerView"]

HISTOGRAM_TRACE = 0  # the builder's bars come first; the curves over steps follow


def first_update_step(data: views.OptimizerData) -> int:
    """The first snapshot step at which the parameter moved (its update is not all zero).

    The view opens there: at Adam's first update every weight moves by the same amount,
    lr * g / |g|, whatever the size of its gradient, which is what "Inside Adam" teaches; by the
    end of training the updates are a spike near 0. A trace with no update opens at its last step.
    """
    updates = data.tensors.get("update")
    if updates is None or not len(updates):
        return int(data.steps[-1])
    moved = np.flatnonzero(np.abs(updates.reshape(len(updates), -1)).max(axis=1) > 0)
    return int(data.steps[moved[0]]) if moved.size else int(data.steps[-1])


class OptimizerView(View):
    """For one tracked parameter: gradient norm and applied-update norm, the optimizer's moments
    and the update/weight ratio over steps (cursor at the current step; a click moves the step),
    a histogram of the update at the current step, and the 2-D :class:`OptimizerPlayground`.
    Without ``step`` it opens at the first update (:func:`first_update_step`).

    Controls: ``parameter_select``; plot: ``history`` (also named ``histogram``: one figure,
    the histogram's bars its trace 0, the curves traces 1-5); ``playground``; ``data``: the view
    model (:func:`explain.views.optimizer`) that the exports draw too
    (``explain.export.interactive(view.data, step=view.step)`` is the same figure).
    """

    css_class = "explain-optimizer"

    def __init__(
        self,
        trace: Trace,
        *,
        parameter: str | None = None,
        playground: bool = True,
        **view: Any,
    ) -> None:
        super().__init__(trace, **view)
        self.data = views.optimizer(self.trace, parameter)
        if not self.data.parameters or "update" not in self.data.tensors:
            raise ValueError(
                "the trace has no tracked parameters: expected tensors 'update/<parameter>' "
                "(explain.Recorder(parameters=...) records them)"
            )
        if self._owns_control and view.get("step") is None:
            self.step_control.value = first_update_step(self.data)
        self.parameter_select = ipywidgets.Dropdown(
            options=list(self.data.parameters),
            value=self.data.parameter,
            description="parameter",
            layout=ipywidgets.Layout(width="420px"),
        )
        self.parameter_select.add_class("explain-parameter-select")
        # one figure (the builder's): the history and the update's histogram side by side
        self.history = self.histogram = self._plot(
            self._figure(), "explain-optimizer-history", "explain-optimizer-histogram"
        )
        self.history.on_click(self._on_click)
        self.parameter_select.observe(lambda _: self.refresh(), names="value")
        self.playground = OptimizerPlayground(theme=self.theme) if playground else None
        children: list[Any] = [self.parameter_select, self.history.widget]
        if self.playground is not None:
            children.append(self.playground.widget)
        self.widget = self._root(children)
        self._ready()

    @property
    def parameter(self) -> str:
        return str(self.parameter_select.value)

    def set_theme(self, theme: Theme | str) -> None:
        super().set_theme(theme)
        if self.playground is not None:
            self.playground.set_theme(theme)

    def click_step(self, step: float) -> int:
        """Move the (shared) step to the snapshot nearest ``step``."""
        return self._control().go_to(step)

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.curve != HISTOGRAM_TRACE and point.x is not None:  # a bar's x is no step
            self.click_step(float(point.x))

    def _static_images(self) -> list[tuple[bytes, str]]:
        """Update sizes and this parameter's optimizer state at this step, drawn from the view
        model as the exports draw them."""
        alt = f"{self.data.title} · {self.data.parameter} · step {self.step}"
        return [(export.image(self.data, self.step, theme=self.theme, marker=True), alt)]

    # -- data ------------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.data = views.optimizer(self.trace, self.parameter)

    def _figure(self) -> dict:
        """The builder's figure at the current step."""
        (figure,) = builders.figures(self.data, self.data.index(self.step), self.theme)
        return figure

    def _update(self) -> None:
        self.history.show(self._figure())
