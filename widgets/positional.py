"""PositionalView: a positional encoding as a [position x dimension] heatmap, chosen dimensions
as curves over position, and the position-by-position cosine similarity.

Without a trace it shows the sinusoidal formula with sliders for d_model and length; with one,
the encoding the model actually used (sinusoidal, learned, or rotary as cos/sin columns) at
any step, and a toggle back to the formula. ``view.data`` is the view model drawn
(:func:`explain.views.positional`, or :func:`explain.views.positional_formula`) by the
positional view's one plotly builder: ``explain.export.interactive(view.data, **view.state())``
is the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain._render.plotly.positional import MAX_CURVES
from explain.trace import Trace

from ._base import View

__all__ = ["PositionalView"]

MAX_SIZE = 512  # slider limit for d_model and length


class PositionalView(View):
    """Positional encodings: heatmap, curves of selected dimensions, cosine similarity.

    Controls: ``source_toggle`` ("trace"/"formula", with a trace), ``d_model_slider``,
    ``length_slider`` (formula), ``dims_select``; plots: ``heatmap``, ``curves``, ``similarity``.
    """

    css_class = "explain-positional"
    trace_optional = True

    def __init__(
        self,
        trace: Trace | None = None,
        *,
        d_model: int = 64,
        length: int = 64,
        dims: Sequence[int] = (0, 1, 2, 3),
        **view: Any,
    ) -> None:
        super().__init__(trace, **view)
        for name, value in (("d_model", d_model), ("length", length)):
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= MAX_SIZE:
                raise ValueError(f"{name} must be an integer in [2, {MAX_SIZE}]; got {value!r}")
        self._recorded = views.positional(self.trace) if self.trace is not None else None
        self.data = self._recorded or views.positional_formula(length, d_model)
        self.kind = self.data.kind
        self.source_toggle = ipywidgets.ToggleButtons(
            options=["trace", "formula"] if self.trace is not None else ["formula"],
        )
        self.d_model_slider = ipywidgets.IntSlider(
            value=d_model,
            min=2,
            max=MAX_SIZE,
            step=2,
            description="d_model",
            continuous_update=False,
        )
        self.length_slider = ipywidgets.IntSlider(
            value=length, min=2, max=MAX_SIZE, description="length", continuous_update=False
        )
        self.dims_select = ipywidgets.SelectMultiple(description="dims", rows=5)
        for control, name in (
            (self.source_toggle, "explain-positional-source"),
            (self.d_model_slider, "explain-d-model-slider"),
            (self.length_slider, "explain-length-slider"),
            (self.dims_select, "explain-dims-select"),
        ):
            control.add_class(name)
        self._set_dims(dims)
        heatmap, curves, similarity = self._figures()
        self.heatmap = self._plot(heatmap, "explain-positional-heatmap")
        self.curves = self._plot(curves, "explain-positional-curves")
        self.similarity = self._plot(similarity, "explain-positional-similarity")
        for control in (self.d_model_slider, self.length_slider, self.source_toggle):
            control.observe(self._on_shape, names="value")
        self.dims_select.observe(lambda _: self._update(), names="value")
        self._formula_box = ipywidgets.HBox([self.d_model_slider, self.length_slider])
        self._formula_box.layout.display = None if self.source == "formula" else "none"
        # the controls in one row, the three plots in the next, wrapping two to a row in a
        # notebook beside the file browser (the dims list between two plots pushed the curves
        # under the table and left the three stacked in the left half)
        self.widget = self._root(
            [
                ipywidgets.HBox([self.source_toggle, self._formula_box, self.dims_select]),
                ipywidgets.HBox([self.heatmap.widget, self.curves.widget, self.similarity.widget]),
            ]
        )
        self._ready()

    # -- data ------------------------------------------------------------------------------------
    def _reload(self) -> None:
        if self.trace is not None:
            self._recorded = views.positional(self.trace)
        self._choose_data()

    def _choose_data(self) -> None:
        if self.source == "formula":
            length, d_model = self.length_slider.value, self.d_model_slider.value
            if self.data.table.shape[1:] != (length, d_model) or self.data is self._recorded:
                self.data = views.positional_formula(length, d_model)
        else:
            self.data = self._recorded

    @property
    def source(self) -> str:
        return str(self.source_toggle.value)

    def _index(self) -> int:
        return 0 if self.source == "formula" else self.data.index(self.step)

    def table(self) -> np.ndarray:
        """The encoding shown: [position, dimension]."""
        return self.data.table[self._index()]

    def _static_images(self) -> list[tuple[bytes, str]]:
        """Table and similarity at this step, drawn from the view model as the exports do."""
        step = int(self.data.steps[self._index()])
        alt = self.data.title + ("" if self.data.formula else f" · step {step}")
        return [(export.image(self.data, step, theme=self.theme, **self.state()), alt)]

    def _set_dims(self, dims: Sequence[int]) -> None:
        width = self.table().shape[1]
        wanted = [int(d) for d in dims if 0 <= int(d) < width][:MAX_CURVES] or [0]
        self.dims_select.options = list(range(width))
        self.dims_select.value = tuple(wanted)

    def _on_shape(self, _change: dict) -> None:
        self._formula_box.layout.display = None if self.source == "formula" else "none"
        self._choose_data()
        self._set_dims(self.dims_select.value)
        self._update()

    # -- figures ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The selection the builder takes: ``dims``, the dimensions drawn as curves (the
        first ``MAX_CURVES`` of those selected)."""
        return {"dims": tuple(int(d) for d in self.dims_select.value)[:MAX_CURVES]}

    def _figures(self) -> list[dict]:
        return builders.figures(self.data, self._index(), self.theme, **self.state())

    def _update(self) -> None:
        for plot, figure in zip(
            (self.heatmap, self.curves, self.similarity), self._figures(), strict=True
        ):
            plot.show(figure)
