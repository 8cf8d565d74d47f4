"""OptimizerPlayground: GD, momentum and Adam race on a small 2-D surface.

The numbers (surfaces, trajectories, the view model) live in :mod:`explain.playground`, and the
figure in its one plotly builder; this module adds the controls. The names of
:mod:`explain.playground` are re-exported here for code that imported them from the widget.

    >>> SURFACES["valley"].start
    (-9.0, 1.5)
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import numpy as np

from explain import export
from explain._render import plotly as builders
from explain.playground import (
    OPTIMIZERS,
    SURFACES,
    PlaygroundData,
    Surface,
    playground,
    surface_grid,
    trajectory,
)

from ._base import View
from ._plot import ClickPoint
from .theme import Theme

__all__ = [
    "OPTIMIZERS",
    "SURFACES",
    "OptimizerPlayground",
    "PlaygroundData",
    "Surface",
    "surface_grid",
    "trajectory",
]


class OptimizerPlayground(View):
    """GD, momentum and Adam side by side on a 2-D surface (valley, bowl, Rosenbrock, saddle).

    Click anywhere on the surface (or type x0/y0) to move the start; sliders set lr, beta1 (also
    the momentum coefficient), beta2 and the number of steps. ``paths`` holds each trajectory;
    ``data`` is the view model (:func:`explain.playground.playground`) the figure is drawn from,
    so ``explain.export.interactive(view.data)`` is the same figure with a slider over the
    updates, and ``explain.export.image(view.data)`` its picture.
    """

    css_class = "explain-playground"
    trace_optional = True

    def __init__(self, surface: str = "valley", *, theme: Theme | str | None = None) -> None:
        super().__init__(None, theme=theme)
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {list(SURFACES)}; got {surface!r}")
        spec = SURFACES[surface]
        self.surface_select = ipywidgets.Dropdown(
            options=list(SURFACES), value=surface, description="surface"
        )
        self.lr_slider = _slider(
            ipywidgets.FloatLogSlider, "lr", spec.lr, -5, 0.5, 0.05, ".2e", base=10
        )
        self.beta1_slider = _slider(ipywidgets.FloatSlider, "β1", 0.9, 0.0, 0.999, 0.001, ".3f")
        self.beta2_slider = _slider(ipywidgets.FloatSlider, "β2", 0.999, 0.9, 0.9999, 0.0001, ".4f")
        self.steps_slider = ipywidgets.IntSlider(
            value=100, min=1, max=1000, description="steps", continuous_update=False
        )
        self.x0 = ipywidgets.FloatText(value=spec.start[0], description="x0")
        self.y0 = ipywidgets.FloatText(value=spec.start[1], description="y0")
        self.hint = ipywidgets.HTML("<i>click the surface to move the start</i>")
        self.formulas = ipywidgets.HTMLMath(_FORMULAS)
        controls = (
            self.surface_select,
            self.lr_slider,
            self.beta1_slider,
            self.beta2_slider,
            self.steps_slider,
            self.x0,
            self.y0,
        )
        for control in controls:
            control.add_class("explain-playground-control")
        self.surface_select.add_class("explain-surface-select")
        self.data = self._data()
        self.plot = self._plot(self._figure(), "explain-playground-plot")
        self.plot.on_click(self._on_click)
        self.surface_select.observe(self._on_surface, names="value")
        for control in controls[1:]:
            control.observe(lambda _: self._update(), names="value")
        self._quiet = False
        column = ipywidgets.VBox([*controls, self.hint])
        self.widget = self._root([ipywidgets.HBox([column, self.plot.widget, self.formulas])])
        self._ready()

    @property
    def paths(self) -> dict[str, np.ndarray]:
        """Each optimizer's positions [n, 2] from the start (row 0), as drawn."""
        return self.data.paths

    def set_start(self, x: float, y: float) -> None:
        """Move the start to (x, y) and rerun the three optimizers (what a click does)."""
        for name, value in (("x", x), ("y", y)):
            if not np.isfinite(value):
                raise ValueError(f"start {name} must be a finite number; got {value!r}")
        with self.x0.hold_trait_notifications(), self.y0.hold_trait_notifications():
            self._quiet = True
            try:
                self.x0.value, self.y0.value = float(x), float(y)
            finally:
                self._quiet = False
        self._update()

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.x is not None and point.y is not None:
            self.set_start(float(point.x), float(point.y))

    def _on_surface(self, change: dict) -> None:
        spec = SURFACES[change["new"]]
        self._quiet = True
        try:
            self.lr_slider.value = spec.lr
            self.x0.value, self.y0.value = spec.start
        finally:
            self._quiet = False
        self._update()

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The surface and the paths, drawn from the view model as the exports draw them."""
        return [(export.image(self.data, theme=self.theme), self.data.title)]

    def _data(self) -> PlaygroundData:
        """The view model of the controls' settings."""
        return playground(
            self.surface_select.value,
            start=(float(self.x0.value), float(self.y0.value)),
            lr=self.lr_slider.value,
            steps=self.steps_slider.value,
            beta1=self.beta1_slider.value,
            beta2=self.beta2_slider.value,
        )

    def _figure(self) -> dict:
        """The builder's figure at the last update: every path whole."""
        (figure,) = builders.figures(self.data, len(self.data.steps) - 1, self.theme)
        return figure

    def _update(self) -> None:
        if self._quiet:
            return
        self.data = self._data()
        self.plot.show(self._figure())
        self.formulas.value = _FORMULAS.replace("SURFACE", self.data.formula)


def _slider(
    kind: type, description: str, value: float, low: float, high: float, step: float,
    readout: str, **options: Any
) -> ipywidgets.Widget:
    """A ``kind`` slider from ``low`` to ``high`` that reports a value only once released
    (each value reruns the three optimizers)."""
    return kind(
        value=value, min=low, max=high, step=step, description=description,
        readout_format=readout, continuous_update=False, **options
    )  # fmt: skip


_FORMULAS = r"""
<div class="explain-formulas" style="max-width: 300px">
<p>$$SURFACE$$</p>
<p><b>GD</b> $$\theta \leftarrow \theta - \eta\, g$$</p>
<p><b>momentum</b> $$v \leftarrow \beta_1 v + g,\quad \theta \leftarrow \theta - \eta\, v$$</p>
<p><b>Adam</b> $$m \leftarrow \beta_1 m + (1-\beta_1) g$$
$$v \leftarrow \beta_2 v + (1-\beta_2) g^2$$
$$\theta \leftarrow \theta - \eta\,
\frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon}$$</p>
</div>
"""
