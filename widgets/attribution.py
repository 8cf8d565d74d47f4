"""AttributionView: follow one prediction through the model. The logit of the right token at
an answer position of the probe, split into what each part of the residual stream adds to it
(direct logit attribution: the embeddings, every head, every MLP, the biases; they sum to the
logit), beside the attention of one head on the probe.

Pick a position with the dropdown; click a head's bar to see where that head reads from (its
attention at the trace's last snapshot, the position's row outlined).

    >>> import explain, widgets
    >>> run = explain.train("reverse")                        # doctest: +SKIP
    >>> view = widgets.AttributionView(run)                    # doctest: +SKIP
    >>> view.position = 8; view.open_head("L1H2")              # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ipywidgets

from explain import export, views
from explain._render.plotly import attribution as builder
from explain.style import visible

from ._base import StepControl, View
from ._plot import ClickPoint
from ._source import measure_lab, run_and_trace
from .theme import Theme

__all__ = ["AttributionView"]

BARS = 0  # the parts' bar trace of the builder's figure (1: the sum, 2: the attention)


class AttributionView(View):
    """The bars of one answer position (what each part adds to the right token's logit, and
    their sum) and one head's attention on the probe, in one figure (the attribution view's
    plotly builder's: ``explain.export.interactive(view.data, "attribution", **view.state)`` is
    the same, with a page's slider over positions).

    ``source`` is a Run from ``explain.train`` (measured from its model now when its trace has
    no attribution of the current step: with ``explain.lab.record`` if it has no lab record
    yet) or a Trace whose lab record holds one (shown as recorded; ValueError without). ``data``
    is the view model (:func:`explain.views.attribution`), ``data.position`` the position
    chosen (the dropdown's); ``opened`` the head drawn (a click on its bar, or
    :meth:`open_head`; until then the head that adds the most in size). The view has one step
    (the end of training), so its step control holds that one step unless a dashboard shares
    its own.
    """

    css_class = "explain-attribution"

    def __init__(
        self,
        source: Any,
        *,
        position: int | None = None,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme | str | None = None,
    ) -> None:
        run, trace = run_and_trace(source, "AttributionView")
        self.run = run
        if run is not None:
            self._measure()
        data = views.attribution(trace, position)
        own = step_control is None
        if own:  # one frame: a slider over every snapshot would move nothing
            step_control = StepControl(
                [int(data.steps[-1])], value=step, named=views.trained(trace)
            )
        super().__init__(trace, step=None if own else step, step_control=step_control, theme=theme)
        self._owns_attribution_control = own
        self.data = data
        self._opened: str | None = None  # the head clicked; None: the strongest at the position
        self.position_select = ipywidgets.Dropdown(
            options=self._position_options(), value=data.position, description="position"
        )
        self.position_select.add_class("explain-attribution-position")
        self.figure_plot = self._plot(self._figure(), "explain-attribution-plot")
        self.figure_plot.on_click(self._on_click)
        self.position_select.observe(self._on_position, names="value")
        self.note = ipywidgets.HTML(self._note_html())
        self.note.add_class("explain-attribution-note")
        head = [self.step_control.widget] if own else []
        self.widget = self._root([*head, self.position_select, self.figure_plot.widget, self.note])
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    @property
    def figure(self) -> Any:
        return self.figure_plot.figure

    @property
    def position(self) -> int:
        """The answer position whose logit the bars split."""
        return self.data.position

    @position.setter
    def position(self, value: int) -> None:
        self.data.row(value)  # ValueError naming the answer positions
        self.position_select.value = int(value)

    @property
    def opened(self) -> str | None:
        """The head whose attention the figure shows (None: the trace holds no attention)."""
        return builder.opened_head(self.data, self.position, self._opened)

    def open_head(self, name: str) -> None:
        """Show the attention of head ``name`` (e.g. ``"L1H0"``; ``"L0X1"`` a cross head), as
        a click on its bar does."""
        builder.opened_head(self.data, self.position, name)  # ValueError naming the heads
        self._opened = name
        self._update()

    @property
    def state(self) -> dict[str, Any]:
        """What the figure shows besides the step, as the builder and the exports take it."""
        return {"position": self.position, "opened": self._opened}

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The bars and the head's attention, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · position {self.position}"
        return [(export.image(self.data, theme=self.theme, **self.state), alt)]

    # -- the attribution record ------------------------------------------------------------------
    def _measure(self) -> None:
        """Measure the attribution from the run's model when the trace's is missing or older."""
        from explain.lab.attribution import probe_attribution  # torch: a Run has loaded it

        measure_lab(self.run, "attribution", probe_attribution)

    def _reload(self) -> None:
        """The trace grew (live training): measure again (a Run) and re-read it."""
        if self.run is not None:
            self._measure()
        position = self.position
        data = views.attribution(self.trace)
        if position in data.positions:
            data = dataclasses.replace(data, position=position)
        self.data = data
        if self._opened is not None and self._opened not in data.patterns:
            self._opened = None
        if self._owns_attribution_control:
            self.step_control.set_steps([int(data.steps[-1])], follow=True)
        self.position_select.options = self._position_options()  # may pick the first one
        self.position_select.value = data.position
        self.note.value = self._note_html()

    # -- figures ---------------------------------------------------------------------------------
    def _figure(self) -> dict:
        """The attribution builder's figure at its one step (a page adds a position slider)."""
        (figure,) = builder.figures(self.data, 0, self.theme, **self.state)
        return figure

    def _position_options(self) -> list[tuple[str, int]]:
        data = self.data
        return [
            (f"{p}: {visible(data.tokens[p])} → {visible(data.targets[i])}", p)
            for i, p in enumerate(data.positions.tolist())
        ]

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.curve != BARS or not isinstance(point.index, int):
            return  # only the parts' bars open something
        name = self.data.names[point.index]
        if name in self.data.patterns:  # a head with a recorded pattern
            self.open_head(name)

    def _on_position(self, change: dict) -> None:
        self.data = dataclasses.replace(self.data, position=int(change["new"]))
        self._update()

    def _update(self) -> None:
        """The position or head (or the trace) changed; the step says nothing new: one frame."""
        self.figure_plot.show(self._figure())

    def _note_html(self) -> str:
        data = self.data
        measured = f"step {data.measured}" if data.measured >= 0 else "the end of training"
        measured = measured if data.trained else "the model as it was given"
        source = "measured from the run's model" if self.run is not None else "from the trace"
        right = sum(t == p for t, p in zip(data.targets, data.predicted, strict=True))
        return (
            f"<b>{right} of {len(data.targets)}</b> answer positions predicted right · "
            f"attribution {source} at {measured}. Each bar is what one "
            "part of the residual stream adds to the logit of the right token (read through the "
            "final norm's scale); the parts sum to the logit (grey bar). Pick a position "
            "with the dropdown; click a head's bar to see its attention at the last snapshot, "
            "the position's row outlined."
        )
