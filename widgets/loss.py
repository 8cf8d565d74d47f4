"""LossView: train/validation loss, learning rate and gradient norm over steps, with a cursor.

Clicking a point moves the (shared) step to the nearest snapshot, so every linked view follows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from plotly.subplots import make_subplots

from explain.trace import Trace

from ._base import StepControl, View, require_finite
from ._plot import ClickPoint, step_cursor
from .theme import LIGHT, Theme

__all__ = ["LossView"]

# (row, scalar name, legend label, mode); row 1 loss, 2 learning rate, 3 gradient norm
CURVES = (
    (1, "loss", "train loss", "lines"),
    (1, "val_loss", "validation loss", "lines+markers"),
    (2, "lr", "learning rate", "lines"),
    (3, "grad_norm", "gradient norm", "lines"),
)


class LossView(View):
    """Loss (train and validation), learning rate and global gradient norm against step.

    The orange cursor marks the current step; clicking any point moves the step there (the
    nearest snapshot). Raises ValueError for a trace without a ``loss`` or ``val_loss`` scalar.
    """

    css_class = "explain-loss"

    def __init__(
        self,
        trace: Trace,
        *,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme = LIGHT,
        height: int = 480,
    ) -> None:
        super().__init__(trace, step=step, step_control=step_control, theme=theme)
        figure = make_subplots(
            rows=3,
            cols=1,
            shared_xaxes=True,
            vertical_spacing=0.06,
            row_heights=[0.5, 0.25, 0.25],
        )
        figure.update_layout(
            template="none",
            width=560,
            height=height,
            margin={"l": 60, "r": 20, "t": 40, "b": 40},
            uirevision="explain",
            legend={"orientation": "h", "y": 1.08, "x": 0},
            hovermode="x",
        )
        for row, _, label, mode in CURVES:
            figure.add_scatter(
                x=[],
                y=[],
                name=label,
                mode=mode,
                row=row,
                col=1,
                hovertemplate=f"step %{{x}}<br>{label} %{{y:.4g}}<extra></extra>",
            )
        figure.update_yaxes(title_text="loss", row=1, col=1)
        figure.update_yaxes(title_text="lr", exponentformat="e", row=2, col=1)
        figure.update_yaxes(title_text="grad norm", row=3, col=1)
        figure.update_xaxes(title_text="step", row=3, col=1)
        self.figure_plot = self._plot(figure, "explain-loss-plot")
        self.figure_plot.on_click(self._on_click)
        self._reload()
        self.widget = self._root([self.figure_plot.widget])
        self._update()

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

    def _reload(self) -> None:
        scalars = self.trace.scalars
        if "loss" not in scalars and "val_loss" not in scalars:
            raise ValueError(
                f"the trace has no 'loss' or 'val_loss' scalar to plot; it has {sorted(scalars)}"
            )
        with self.figure_plot.batch_update() as figure:
            for trace, (_, name, _, _) in zip(figure.data, CURVES, strict=True):
                if name in scalars:
                    steps, values = self.trace.scalar(name)
                    require_finite(f"scalar {name!r}", values)
                else:
                    steps, values = np.zeros(0, np.int64), np.zeros(0)
                trace.x, trace.y = steps, values

    def _update(self) -> None:
        if not hasattr(self, "figure_plot"):
            return
        step = self.step
        loss = self._value_at("loss", step)
        text = f"step {step}" + (f" · loss {loss:.4g}" if loss is not None else "")
        with self.figure_plot.batch_update(data=False) as figure:
            figure.layout.shapes = [step_cursor(step)]
            figure.layout.title = {"text": text, "x": 0.99, "xanchor": "right", "y": 0.99}

    def _value_at(self, name: str, step: int) -> float | None:
        if name not in self.trace.scalars:
            return None
        steps, values = self.trace.scalar(name)
        hit = np.flatnonzero(steps == step)
        return float(values[hit[0]]) if len(hit) else None
