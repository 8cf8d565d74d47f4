"""OptimizerView: what the optimizer did to one parameter tensor over training, and a 2-D
playground where GD, momentum and Adam race on a small surface.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets
import numpy as np
from plotly.subplots import make_subplots

from explain import export, views
from explain.trace import Trace

from ._base import View
from ._plot import ClickPoint, base_figure, step_cursor
from .playground import OPTIMIZERS, SURFACES, surface_grid, trajectory
from .theme import LIGHT, Theme

__all__ = ["OptimizerPlayground", "OptimizerView"]

# the norms drawn as "first" and "second moment", by optimizer state kind
_MOMENTS = (("exp_avg", "‖m‖ first moment"), ("exp_avg_sq", "‖√v‖ second moment"))
_MOMENTUM = (("momentum_buffer", "‖v‖ momentum buffer"),)


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

    Controls: ``parameter_select``; plots: ``history``, ``histogram``; ``playground``;
    ``data``: the view model (:func:`explain.views.optimizer`) that the exports draw too.
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
        self.optimizer = self.data.optimizer or "adam"
        self.parameter_select = ipywidgets.Dropdown(
            options=list(self.data.parameters),
            value=self.data.parameter,
            description="parameter",
            layout=ipywidgets.Layout(width="420px"),
        )
        self.parameter_select.add_class("explain-parameter-select")
        self.history = self._plot(self._history_figure(), "explain-optimizer-history")
        self.histogram = self._plot(self._histogram_figure(), "explain-optimizer-histogram")
        self.history.on_click(self._on_click)
        self.parameter_select.observe(lambda _: self.refresh(), names="value")
        self.playground = OptimizerPlayground(theme=self.theme) if playground else None
        children: list[Any] = [
            self.parameter_select,
            ipywidgets.HBox([self.history.widget, self.histogram.widget]),
        ]
        if self.playground is not None:
            children.append(self.playground.widget)
        self._draw_history()
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
        if points[0].x is not None:
            self.click_step(float(points[0].x))

    def _static_images(self) -> list[tuple[bytes, str]]:
        """Update sizes and this parameter's optimizer state at this step, drawn from the view
        model as the exports draw them."""
        alt = f"{self.data.title} · {self.data.parameter} · step {self.step}"
        return [(export.image(self.data, self.step, theme=self.theme, marker=True), alt)]

    # -- data ------------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.data = views.optimizer(self.trace, self.parameter)
        self._draw_history()

    def _draw_history(self) -> None:
        data = self.data
        finite = np.isfinite(data.update_ratio.get(data.parameter, np.zeros(0)))
        with self.history.batch_update() as figure:
            grad, applied, first, second, ratio = figure.data
            grad.x, grad.y = data.parameter_grad_norm.steps, data.parameter_grad_norm.values
            applied.x, applied.y = data.steps, data.norms["update"]
            moments = [m for m in (*_MOMENTS, *_MOMENTUM) if m[0] in data.norms]
            for trace, index in ((first, 0), (second, 1)):
                if index < len(moments):
                    kind, label = moments[index]
                    trace.x, trace.y = data.steps, data.norms[kind]
                    trace.name, trace.visible = label, True
                else:
                    trace.x, trace.y, trace.visible = [], [], False
            if finite.size:
                ratio.x = data.scalar_steps[finite]
                ratio.y = data.update_ratio[data.parameter][finite]
            else:
                ratio.x, ratio.y = [], []
            figure.layout.annotations = [
                {
                    "text": f"{self.optimizer}: no moments" if not moments else self.optimizer,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.01,
                    "y": 0.6,
                    "showarrow": False,
                }
            ]

    # -- figures ---------------------------------------------------------------------------------
    def _history_figure(self) -> Any:
        figure = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06)
        figure.update_layout(
            template="none",
            width=560,
            height=480,
            uirevision="explain",
            margin={"l": 60, "r": 20, "t": 40, "b": 40},
            legend={"orientation": "h", "y": 1.1, "x": 0},
        )
        rows = (
            (1, "‖gradient‖", "lines"),
            (1, "‖applied update‖", "lines+markers"),
            (2, "first moment", "lines+markers"),
            (2, "second moment", "lines+markers"),
            (3, "‖update‖ / ‖weight‖", "lines"),
        )
        for row, name, mode in rows:
            figure.add_scatter(
                x=[],
                y=[],
                name=name,
                mode=mode,
                row=row,
                col=1,
                hovertemplate="step %{x}<br>%{y:.4g}<extra>%{fullData.name}</extra>",
            )
        figure.update_yaxes(title_text="norm", row=1, col=1)
        figure.update_yaxes(title_text="moments", row=2, col=1)
        figure.update_yaxes(title_text="ratio", type="log", exponentformat="e", row=3, col=1)
        figure.update_xaxes(title_text="step", row=3, col=1)
        return figure

    def _histogram_figure(self) -> Any:
        figure = base_figure(width=400, height=480, bargap=0.05)
        figure.add_bar(x=[], y=[], hovertemplate="update ≈ %{x:.3g}<br>%{y} values<extra></extra>")
        figure.update_xaxes(title_text="applied update", exponentformat="e")
        figure.update_yaxes(title_text="count")
        return figure

    def _update(self) -> None:
        data, step = self.data, self.step
        index = data.index(step)
        with self.histogram.batch_update() as figure:
            bars = figure.data[0]
            bars.x, bars.y = data.histogram_centres[index], data.histogram_counts[index]
            figure.layout.title.text = f"update of {html.escape(data.parameter)} · step {step}"
        with self.history.batch_update(data=False) as figure:
            figure.layout.shapes = [step_cursor(step)]


class OptimizerPlayground(View):
    """GD, momentum and Adam side by side on a 2-D surface (valley, bowl, Rosenbrock, saddle).

    Click anywhere on the surface (or type x0/y0) to move the start; sliders set lr, beta1 (also the
    momentum coefficient), beta2 and the number of steps. ``paths`` holds each trajectory.
    """

    css_class = "explain-playground"
    trace_optional = True

    def __init__(self, surface: str = "valley", *, theme: Theme | str = LIGHT) -> None:
        super().__init__(None, theme=theme)
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {list(SURFACES)}; got {surface!r}")
        spec = SURFACES[surface]
        self.surface_select = ipywidgets.Dropdown(
            options=list(SURFACES), value=surface, description="surface"
        )
        self.lr_slider = ipywidgets.FloatLogSlider(
            value=spec.lr,
            base=10,
            min=-5,
            max=0.5,
            step=0.05,
            description="lr",
            readout_format=".2e",
            continuous_update=False,
        )
        self.beta1_slider = ipywidgets.FloatSlider(
            value=0.9,
            min=0.0,
            max=0.999,
            step=0.001,
            description="β1",
            readout_format=".3f",
            continuous_update=False,
        )
        self.beta2_slider = ipywidgets.FloatSlider(
            value=0.999,
            min=0.9,
            max=0.9999,
            step=0.0001,
            description="β2",
            readout_format=".4f",
            continuous_update=False,
        )
        self.steps_slider = ipywidgets.IntSlider(
            value=100, min=1, max=1000, description="steps", continuous_update=False
        )
        self.x0 = ipywidgets.FloatText(value=spec.start[0], description="x0")
        self.y0 = ipywidgets.FloatText(value=spec.start[1], description="y0")
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
        self.plot = self._plot(self._figure(), "explain-playground-plot")
        self.plot.on_click(self._on_click)
        self.surface_select.observe(self._on_surface, names="value")
        for control in controls[1:]:
            control.observe(lambda _: self._update(), names="value")
        self.paths: dict[str, np.ndarray] = {}
        self._quiet = False
        self.widget = self._root(
            [ipywidgets.HBox([ipywidgets.VBox(list(controls)), self.plot.widget, self.formulas])]
        )
        self._surface_stale = True  # the first draw lays out the surface
        self._ready()

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
        self._update(surface=True)

    def _figure(self) -> Any:
        figure = base_figure(width=520, height=460, legend={"orientation": "h", "y": -0.15})
        figure.add_contour(
            ncontours=30,
            showscale=False,
            contours={"coloring": "lines"},
            # not hoverinfo="skip": plotly sends no click for a skipped trace, and a click
            # anywhere on the surface must move the start
            hovertemplate="x %{x:.2f}, y %{y:.2f}<br>click: start here<extra></extra>",
        )
        for name in OPTIMIZERS:
            figure.add_scatter(x=[], y=[], mode="lines+markers", name=name, marker={"size": 3})
        figure.add_scatter(
            x=[], y=[], mode="markers", name="start", marker={"size": 12, "symbol": "x"}
        )
        return figure

    def _update(self, surface: bool = False) -> None:
        if self._quiet:
            return
        surface, self._surface_stale = surface or self._surface_stale, False
        spec = SURFACES[self.surface_select.value]
        start = (float(self.x0.value), float(self.y0.value))
        self.paths = {
            name: trajectory(
                spec,
                name,
                start,
                lr=self.lr_slider.value,
                steps=self.steps_slider.value,
                beta1=self.beta1_slider.value,
                beta2=self.beta2_slider.value,
            )
            for name in OPTIMIZERS
        }
        with self.plot.batch_update() as figure:
            contour, *lines, marker = figure.data
            if surface:
                x, y, z = surface_grid(spec)
                contour.x, contour.y, contour.z = x, y, z
                figure.layout.xaxis.range = list(spec.x_range)
                figure.layout.yaxis.range = list(spec.y_range)
            for line, name in zip(lines, OPTIMIZERS, strict=True):
                path = self.paths[name]
                line.x, line.y = path[:, 0], path[:, 1]
                done = len(path) - 1
                line.name = (
                    name if done == self.steps_slider.value else f"{name} (diverged at {done + 1})"
                )
            marker.x, marker.y = [start[0]], [start[1]]
            figure.layout.title.text = f"{spec.name}: click to move the start"
        self.formulas.value = _FORMULAS.replace("SURFACE", spec.formula)


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
