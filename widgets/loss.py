"""LossView: train/validation loss, learning rate and gradient norm over steps, with a cursor.

Clicking a point moves the (shared) step to the nearest snapshot, so every linked view follows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from plotly.subplots import make_subplots

from explain import export, views
from explain._render.plotly.blocks import loss_marks
from explain.trace import Trace

from ._base import View
from ._plot import ClickPoint, step_cursor

__all__ = ["LossView"]

# (row, scalar name, mode, on the right-hand axis); row 1 loss (+ accuracy on the right),
# 2 learning rate, 3 gradient norm
CURVES = (
    (1, "loss", "lines", False),
    (1, "val_loss", "lines+markers", False),
    (2, "lr", "lines", False),
    (3, "grad_norm", "lines", False),
    (1, "val_accuracy", "lines+markers", True),
)


class LossView(View):
    """Loss (train and validation) with validation accuracy, learning rate and global gradient
    norm against step, drawn from ``data`` (:func:`explain.views.loss`).

    The orange cursor marks the current step; clicking any point moves the step there (the
    nearest snapshot). Raises ValueError for a trace without a ``loss`` or ``val_loss`` scalar.
    Values that are not finite (a diverged run) are left out of the lines.
    """

    css_class = "explain-loss"

    def __init__(
        self,
        trace: Trace,
        *,
        height: int = 480,
        **view: Any,
    ) -> None:
        super().__init__(trace, **view)
        self.data = views.loss(self.trace)
        figure = make_subplots(
            rows=3,
            cols=1,
            shared_xaxes=True,
            vertical_spacing=0.06,
            row_heights=[0.5, 0.25, 0.25],
            specs=[[{"secondary_y": True}], [{}], [{}]],
        )
        figure.update_layout(
            template="none",
            width=560,
            height=height,
            margin={"l": 60, "r": 50, "t": 40, "b": 40},
            uirevision="explain",
            legend={"orientation": "h", "y": 1.08, "x": 0},
            hovermode="x",
        )
        for row, name, mode, right in CURVES:
            label = views.LOSS_SCALARS[name]
            figure.add_scatter(
                x=[],
                y=[],
                name=label,
                mode=mode,
                row=row,
                col=1,
                secondary_y=right if row == 1 else None,
                hovertemplate=f"step %{{x}}<br>{label} %{{y:.4g}}<extra></extra>",
            )
        figure.update_yaxes(title_text="loss", row=1, col=1, secondary_y=False)
        figure.update_yaxes(
            title_text="accuracy",
            range=[-0.02, 1.02],
            tickmode="array",
            tickvals=[0, 0.25, 0.5, 0.75, 1],
            showgrid=False,
            row=1,
            col=1,
            secondary_y=True,
        )
        figure.update_yaxes(title_text="lr", exponentformat="e", row=2, col=1)
        figure.update_yaxes(title_text="grad norm", row=3, col=1)
        figure.update_xaxes(title_text="step", row=3, col=1)
        self.figure_plot = self._plot(figure, "explain-loss-plot")
        self.figure_plot.on_click(self._on_click)
        self._draw_curves()
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
        steps, step = self.data.steps, self.step
        shown = int(steps[np.argmin(np.abs(steps - step))]) if len(steps) else None
        alt = f"{self.data.title} · step {step}"
        return [(export.image(self.data, shown, theme=self.theme, marker=True), alt)]

    def _reload(self) -> None:
        self.data = views.loss(self.trace)
        self._draw_curves()

    def _draw_curves(self) -> None:
        curves = self.data.curves
        with self.figure_plot.batch_update() as figure:
            for trace, (_, name, _, _) in zip(figure.data, CURVES, strict=True):
                if name in curves:
                    curve = curves[name]
                    finite = np.isfinite(curve.values)
                    trace.x, trace.y = curve.steps[finite], curve.values[finite]
                else:
                    trace.x, trace.y = np.zeros(0, np.int64), np.zeros(0)
                trace.visible = name in curves

    def _update(self) -> None:
        step = self.step
        loss = self._value_at("loss", step)
        text = f"step {step}" + (f" · loss {loss:.4g}" if loss is not None else "")
        with self.figure_plot.batch_update(data=False) as figure:
            # the same marks as the HTML export: events dashed, phases solid across every panel
            marks, notes = loss_marks(self.data.events, self.data.boundaries, ("paper",))
            events = len(self.data.events)
            figure.layout.shapes = [*marks[:events], step_cursor(step), *marks[events:]]
            figure.layout.annotations = notes
            figure.layout.title = {"text": text, "x": 0.99, "xanchor": "right", "y": 0.99}

    def _value_at(self, name: str, step: int) -> float | None:
        curve = self.data.curves.get(name)
        if curve is None:
            return None
        hit = np.flatnonzero(curve.steps == step)
        return float(curve.values[hit[0]]) if len(hit) else None
