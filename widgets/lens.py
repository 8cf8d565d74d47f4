"""LensView: what each layer predicts at each position (the logit lens), how attention carries
the inputs up (rollout) and which inputs one prediction leans on (saliency).

The table has one row per layer (the embedding on top, the model's output at the bottom) and
one column per input token; each cell holds the layer's most likely next token, coloured by
its probability. Pick a position (the dropdown, or a click on a column) to see the saliency of
its prediction as bars; its column and its rollout row are outlined.

    >>> import explain, widgets
    >>> run = explain.train("reverse")                        # doctest: +SKIP
    >>> view = widgets.LensView(run)                           # doctest: +SKIP
    >>> view.position_select.value = 8                         # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ipywidgets

from explain import export, views
from explain._render.plotly import lens as builder
from explain.style import visible

from ._base import StepControl, View, require_index
from ._plot import ClickPoint
from ._source import measure_lab, run_and_trace
from .theme import Theme

__all__ = ["LensView"]


class LensView(View):
    """The logit lens table, the attention rollout and the saliency bars of one position, in
    one figure (the lens view's plotly builder's: ``explain.export.interactive(view.data,
    "lens", position=view.position)`` is the same, with a page's slider over positions).

    ``source`` is a Run from ``explain.train`` (the lens is measured from its model now, with
    ``explain.lab.record`` if its trace has no lab record yet) or a Trace whose lab record holds
    a lens (shown as recorded). ``data`` is the view model (:func:`explain.views.lens`), with
    ``data.position`` the position chosen (the dropdown's, or a click on a column). The
    lens has one step (the end of training), so the view's step control holds that one step
    unless a dashboard shares its own.
    """

    css_class = "explain-lens"

    def __init__(
        self,
        source: Any,
        *,
        position: int | None = None,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme | str | None = None,
    ) -> None:
        run, trace = run_and_trace(source, "LensView")
        self.run = run
        if run is not None:
            self._measure()
        data = views.lens(trace, position)
        own = step_control is None
        if own:  # one frame: a slider over every snapshot would move nothing
            step_control = StepControl(
                [int(data.steps[-1])], value=step, named=views.trained(trace)
            )
        super().__init__(trace, step=None if own else step, step_control=step_control, theme=theme)
        self._owns_lens_control = own
        self.data = data
        self.position_select = ipywidgets.Dropdown(
            options=self._position_options(),
            value=data.position,
            description="position",
        )
        self.position_select.add_class("explain-lens-position")
        self.figure_plot = self._plot(self._figure(), "explain-lens-plot")
        self.figure_plot.on_click(self._on_click)
        self.position_select.observe(self._on_position, names="value")
        self.note = ipywidgets.HTML(self._note_html())
        self.note.add_class("explain-lens-note")
        head = [self.step_control.widget] if own else []
        self.widget = self._root([*head, self.position_select, self.figure_plot.widget, self.note])
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    @property
    def figure(self) -> Any:
        return self.figure_plot.figure

    @property
    def position(self) -> int:
        """The position whose saliency the bars show."""
        return self.data.position

    @position.setter
    def position(self, value: int) -> None:
        self.position_select.value = require_index("position", value, len(self.data.tokens))

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The table, rollout and saliency bars, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · position {self.position}"
        return [(export.image(self.data, theme=self.theme, position=self.position), alt)]

    # -- the lens record -------------------------------------------------------------------------
    def _measure(self) -> None:
        """Measure the lens from the run's model when the trace's record is missing or older."""
        from explain.lab.study import probe_lens  # torch: a Run has loaded it

        measure_lab(self.run, "lens", probe_lens)

    def _reload(self) -> None:
        """The trace grew (live training): measure the lens again (a Run) and re-read it."""
        if self.run is not None:
            self._measure()
        position = self.position
        self.data = views.lens(self.trace, position)
        if self._owns_lens_control:
            self.step_control.set_steps([int(self.data.steps[-1])], follow=True)
        self.position_select.options = self._position_options()  # may pick the first one
        self.position_select.value = position
        self.note.value = self._note_html()

    # -- figures ---------------------------------------------------------------------------------
    def _figure(self) -> dict:
        """The lens builder's figure at its one step (a page adds a slider over positions)."""
        (figure,) = builder.figures(self.data, 0, self.theme, position=self.position)
        return figure

    def _position_options(self) -> list[tuple[str, int]]:
        data = self.data
        return [
            (f"{p}: {visible(token)} → {visible(data.top_token[-1][p])}", p)
            for p, token in enumerate(data.tokens)
        ]

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.curve == 0 and point.x is not None:  # a column of the table
            self.position = int(round(float(point.x)))

    def _on_position(self, change: dict) -> None:
        self.data = dataclasses.replace(self.data, position=int(change["new"]))
        self._update()

    def _update(self) -> None:
        """The position (or the trace) changed; the step says nothing new: one frame."""
        self.figure_plot.show(self._figure())

    def _note_html(self) -> str:
        data = self.data
        scored = [p for p, m in enumerate(data.mask) if m]
        right = sum(data.top_token[-1][p] == data.targets[p] for p in scored)
        source = "measured from the run's model" if self.run is not None else "from the trace"
        return (
            f"<b>output row:</b> {right} of {len(scored)} answer positions right · lens {source}"
            f"{f' at step {int(data.steps[-1])}' if data.trained else ''}. Pick a position with "
            "the dropdown or a click on a column of the table. Saliency is gradient × input of "
            "the chosen position's predicted token; each position has its own scale (a confident "
            "prediction has small gradients)."
        )
