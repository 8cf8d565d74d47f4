"""NeuronView: follow one prediction through the model's MLPs. Every neuron of one layer in a
grid, coloured by how much the held-out loss rises when that neuron is ablated; for the
selected neuron, the places it fires most (the tokens around each, coloured by its activation)
and the tokens its output promotes and suppresses.

Pick a layer with the dropdown; click a cell of the grid to see that neuron.

    >>> import explain, widgets
    >>> run = explain.train("sort")                            # doctest: +SKIP
    >>> view = widgets.NeuronView(run)                         # doctest: +SKIP
    >>> view.layer = 1; view.neuron = 37                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import html
from typing import Any

import ipywidgets

from explain import export, views
from explain._render.plotly import neurons as builder
from explain.style import visible

from ._base import StepControl, View
from ._plot import ClickPoint
from ._source import measure_lab, run_and_trace
from .theme import Theme

__all__ = ["NeuronView"]


class NeuronView(View):
    """The grid of one layer's MLP neurons (coloured by their loss rise when ablated), and for
    the selected neuron its top examples and the tokens it promotes and suppresses, in one
    figure (the neuron view's plotly builder's: ``explain.export.interactive(view.data,
    "neurons", **view.state)`` is the same, with a page's slider over the layers).

    ``source`` is a Run from ``explain.train`` (measured from its model now when its trace has
    no neuron record of the current step: with ``explain.lab.record`` if it has no lab record
    yet) or a Trace whose lab record holds one (shown as recorded; ValueError without).
    ``data`` is the view model (:func:`explain.views.neurons`): ``data.layer`` the layer shown
    (the dropdown's), ``data.neuron`` the neuron selected (a click on its cell; at first the
    one whose ablation raises the loss most). The view has one step (the end of training), so
    its step control holds that one step unless a dashboard shares its own.
    """

    css_class = "explain-neurons"

    def __init__(
        self,
        source: Any,
        *,
        layer: int | None = None,
        neuron: int | None = None,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme | str | None = None,
    ) -> None:
        run, trace = run_and_trace(source, "NeuronView")
        self.run = run
        if run is not None:
            self._measure()
        data = views.neurons(trace, layer, neuron)
        own = step_control is None
        if own:  # one frame: a slider over every snapshot would move nothing
            step_control = StepControl([int(data.steps[-1])], value=step)
        super().__init__(trace, step=None if own else step, step_control=step_control, theme=theme)
        self._owns_neuron_control = own
        self.data = data
        self.layer_select = ipywidgets.Dropdown(
            options=self._layer_options(), value=data.layer, description="layer"
        )
        self.layer_select.add_class("explain-neurons-layer")
        self.figure_plot = self._plot(self._figure(), "explain-neurons-plot")
        self.figure_plot.on_click(self._on_click)
        self.layer_select.observe(self._on_layer, names="value")
        self.note = ipywidgets.HTML(self._note_html())
        self.note.add_class("explain-neurons-note")
        head = [self.step_control.widget] if own else []
        self.widget = self._root([*head, self.layer_select, self.figure_plot.widget, self.note])
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    @property
    def figure(self) -> Any:
        return self.figure_plot.figure

    @property
    def layer(self) -> int:
        """The layer whose neurons the grid shows."""
        return self.data.layer

    @layer.setter
    def layer(self, value: int) -> None:
        self.data.row(value)  # ValueError naming the layers recorded
        self.layer_select.value = int(value)

    @property
    def neuron(self) -> int:
        """The neuron selected in the layer (outlined; its examples and effect shown)."""
        return self.data.neuron

    @neuron.setter
    def neuron(self, value: int) -> None:
        self.data = dataclasses.replace(self.data, neuron=self.data.check_neuron(value))
        self._update()

    @property
    def state(self) -> dict[str, Any]:
        """What the figure shows besides the step and the layer (the view model's), as the
        builder and the exports take it."""
        return {"neuron": self.neuron}

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The grid, the neuron's examples and effect, drawn from the view model as the exports
        do."""
        alt = f"{self.data.title} · layer {self.layer} · neuron {self.neuron}"
        return [(export.image(self.data, theme=self.theme, **self.state), alt)]

    # -- the neuron record -----------------------------------------------------------------------
    def _measure(self) -> None:
        """Measure the neurons from the run's model when the trace's are missing or older."""
        from explain.lab.neurons import probe_neurons  # torch: a Run has loaded it

        measure_lab(self.run, "neurons", probe_neurons)

    def _reload(self) -> None:
        """The trace grew (live training): measure again (a Run) and re-read it."""
        if self.run is not None:
            self._measure()
        layer, neuron = self.layer, self.neuron
        data = views.neurons(self.trace)
        if layer in data.layers:
            keep = neuron if neuron < data.width else data.strongest(layer)
            data = dataclasses.replace(data, layer=layer, neuron=keep)
        self.data = data
        if self._owns_neuron_control:
            self.step_control.set_steps([int(data.steps[-1])], follow=True)
        self.layer_select.options = self._layer_options()  # may pick the first one
        self.layer_select.value = data.layer
        self.note.value = self._note_html()

    # -- figures ---------------------------------------------------------------------------------
    def _figure(self) -> dict:
        """The neuron builder's figure at its one step (a page adds a layer slider)."""
        (figure,) = builder.figures(self.data, 0, self.theme, **self.state)
        return figure

    def _layer_options(self) -> list[tuple[str, int]]:
        data = self.data
        return [
            (f"{layer} (decoder)" if hook.startswith("decoder.") else str(layer), layer)
            for layer, hook in zip(data.layers.tolist(), data.hooks, strict=True)
        ]

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.curve != builder.GRID or point.x is None or point.y is None:
            return  # only the grid's cells pick a neuron
        columns = builder.grid_shape(self.data.width)[1]
        neuron = int(round(float(point.y))) * columns + int(round(float(point.x)))
        if 0 <= neuron < self.data.width:  # not an empty cell after the last neuron
            self.neuron = neuron

    def _on_layer(self, change: dict) -> None:
        layer = int(change["new"])
        self.data = dataclasses.replace(self.data, layer=layer, neuron=self.data.strongest(layer))
        self._update()

    def _update(self) -> None:
        """The layer or neuron (or the trace) changed; the step says nothing new: one frame."""
        self.figure_plot.show(self._figure())
        self.note.value = self._note_html()

    def _note_html(self) -> str:
        data = self.data
        measured = f"step {data.measured}" if data.measured >= 0 else "the end of training"
        source = "measured from the run's model" if self.run is not None else "from the trace"
        promoted = ", ".join(html.escape(visible(t)) for t, _ in data.promoted()[:3])
        return (
            f"<b>neuron {data.neuron}</b> of layer {data.layer}: loss rise "
            f"{data.rise():+.3g} when {builder.ablated(data)}; it promotes {promoted} · neurons "
            f"{source} at {measured} on held-out data (clean loss {data.loss_clean:.3g}). Each "
            "cell is one neuron of the layer, coloured by how much the loss rises without it. "
            "Pick a layer with the dropdown; click a cell to see where that neuron fires most "
            "(its activation colours each token; the firing token is outlined) and the tokens "
            "its output pushes up or down."
        )
