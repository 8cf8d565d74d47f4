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
import html
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain.style import OKABE_ITO, visible
from explain.trace import Trace

from ._base import StepControl, View, label_tokens, require_index
from ._plot import ClickPoint, base_figure
from .theme import LIGHT, Theme

__all__ = ["LensView"]

RIGHT, WRONG = OKABE_ITO[2], OKABE_ITO[5]  # as in the exports


def _is_run(source: Any) -> bool:
    return hasattr(source, "model") and hasattr(source, "trace") and hasattr(source, "task")


class LensView(View):
    """The logit lens table, the attention rollout and the saliency bars of one position.

    ``source`` is a Run from ``explain.train`` (the lens is measured from its model now, with
    ``explain.lab.record`` if its trace has no lab record yet) or a Trace whose lab record holds
    a lens (shown as recorded). ``data`` is the view model (:func:`explain.views.lens`), with
    ``data.position`` the position chosen. The lens has one step (the end of training), so the
    view's step control holds that one step unless a dashboard shares its own.
    """

    css_class = "explain-lens"

    def __init__(
        self,
        source: Any,
        *,
        position: int | None = None,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme | str = LIGHT,
    ) -> None:
        run = source if _is_run(source) else None
        trace = run.trace if run is not None else source
        if not isinstance(trace, Trace):
            raise ValueError(
                "LensView needs a Run from explain.train(...) or a Trace; "
                f"got {type(source).__name__}"
            )
        self.run = run
        if run is not None:
            self._measure()
        data = views.lens(trace, position)
        own = step_control is None
        if own:  # one frame: a slider over every snapshot would move nothing
            step_control = StepControl([int(data.steps[-1])], value=step)
        super().__init__(trace, step=None if own else step, step_control=step_control, theme=theme)
        self._owns_lens_control = own
        self.data = data
        self.table = self._plot(self._table_figure(), "explain-lens-table")
        self.rollout = self._plot(self._rollout_figure(), "explain-lens-rollout")
        self.bars = self._plot(self._bars_figure(), "explain-lens-saliency")
        self.table.on_click(self._on_click)
        self.position_select = ipywidgets.Dropdown(
            options=self._position_options(),
            value=data.position,
            description="position",
        )
        self.position_select.add_class("explain-lens-position")
        self.position_select.observe(self._on_position, names="value")
        self.note = ipywidgets.HTML(self._note_html())
        self.note.add_class("explain-lens-note")
        head = [self.step_control.widget] if own else []
        self.widget = self._root(
            [
                *head,
                self.position_select,
                self.table.widget,
                ipywidgets.HBox([self.rollout.widget, self.bars.widget]),
                self.note,
            ]
        )
        self._redraw()
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    @property
    def position(self) -> int:
        """The position whose saliency the bars show."""
        return self.data.position

    @position.setter
    def position(self, value: int) -> None:
        self.position_select.value = require_index("position", value, len(self.data.tokens))

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The table, rollout and saliency bars, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · position {self.data.position}"
        return [(export.image(self.data, theme=self.theme), alt)]

    # -- the lens record -------------------------------------------------------------------------
    def _measure(self) -> None:
        """Measure the lens from the run's model when the trace's record is missing or older."""
        from explain.lab import record  # needs torch, which a Run has already loaded
        from explain.lab.study import probe_lens

        run = self.run
        lab = run.trace.meta.get("lab")
        if not isinstance(lab, dict):
            record(run)
            return
        lens = lab.get("lens")
        step = getattr(getattr(run, "trainer", None), "step", None)
        if not isinstance(lens, dict) or lens.get("step") != step:
            lab["lens"] = probe_lens(run)

    def _reload(self) -> None:
        """The trace grew (live training): measure the lens again (a Run) and re-read it."""
        if self.run is not None:
            self._measure()
        self.data = views.lens(self.trace, self.data.position)
        if self._owns_lens_control:
            self.step_control.set_steps([int(self.data.steps[-1])], follow=True)
        self._redraw()

    # -- figures ---------------------------------------------------------------------------------
    def _ticks(self) -> dict:
        positions, labels = label_tokens(self.data.tokens)
        return {"tickmode": "array", "tickvals": positions, "ticktext": labels}

    def _table_figure(self) -> Any:
        n_pos = len(self.data.tokens)
        figure = base_figure(
            width=int(np.clip(56 * n_pos + 220, 520, 1400)),
            height=80 * len(self.data.layers) + 170,
            title={"text": ""},
            margin={"l": 110, "r": 20, "t": 90, "b": 60},
        )
        figure.add_heatmap(
            zmin=0.0,
            zmax=1.0,
            texttemplate="%{text}",
            textfont={"size": 11},
            colorbar={"title": {"text": "top prob"}, "thickness": 12},
            hovertemplate="%{customdata}<extra></extra>",
        )
        figure.add_scatter(  # carries the target row on the top axis
            mode="markers", marker={"opacity": 0}, hoverinfo="skip", xaxis="x2", showlegend=False
        )
        figure.update_layout(
            xaxis={**self._ticks(), "title": {"text": "input token (click a column: saliency)"}},
            xaxis2={"overlaying": "x", "side": "top", "matches": "x", "showgrid": False},
            yaxis={"autorange": "reversed"},
        )
        return figure

    def _rollout_figure(self) -> Any:
        figure = base_figure(width=380, height=380, title={"text": "attention rollout"})
        figure.add_heatmap(
            zmin=0.0,
            zmax=1.0,
            colorbar={"thickness": 12},
            hovertemplate="position %{y} takes %{z:.3f} from %{x}<extra></extra>",
        )
        figure.update_xaxes(**self._ticks())
        figure.update_yaxes(**self._ticks(), autorange="reversed", scaleanchor="x")
        return figure

    def _bars_figure(self) -> Any:
        figure = base_figure(
            width=380, height=380, title={"text": ""}, margin={"l": 60, "r": 20, "t": 70, "b": 50}
        )
        figure.add_bar(orientation="h", hovertemplate="%{y}: %{x:.3g}<extra></extra>")
        figure.update_xaxes(title_text="gradient × input", exponentformat="e", zeroline=True)
        figure.update_yaxes(**self._ticks(), autorange="reversed")
        return figure

    def _position_options(self) -> list[tuple[str, int]]:
        data = self.data
        return [
            (f"{p}: {visible(token)} → {visible(data.top_token[-1][p])}", p)
            for p, token in enumerate(data.tokens)
        ]

    # -- updates ---------------------------------------------------------------------------------
    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.x is not None:
            self.position = int(round(float(point.x)))

    def _on_position(self, change: dict) -> None:
        self.data = dataclasses.replace(self.data, position=int(change["new"]))
        self._show_position()

    def _redraw(self) -> None:
        """Everything from ``self.data`` (built, or the trace grew)."""
        data = self.data
        n_pos = len(data.tokens)
        positions = np.arange(n_pos)
        best = np.argsort(-data.probs, axis=-1, kind="stable")[..., :3]  # [layer + 1, pos, 3]
        hover = [
            [
                f"{name} · position {p} ({html.escape(visible(data.tokens[p]))})<br>"
                + "<br>".join(
                    f"{html.escape(visible(data.vocab[i]))}: {data.probs[layer, p, i]:.3f}"
                    for i in best[layer, p]
                )
                for p in range(n_pos)
            ]
            for layer, name in enumerate(data.layers)
        ]
        targets = [
            html.escape(visible(t)) if m else ""
            for t, m in zip(data.targets, data.mask, strict=True)
        ]
        with self.table.batch_update() as figure:
            heat = figure.data[0]
            heat.z = data.top_prob.astype(np.float32)
            heat.x, heat.y = positions, np.arange(len(data.layers))
            heat.text = [[html.escape(visible(t)) for t in row] for row in data.top_token]
            heat.customdata = hover
            figure.data[1].x, figure.data[1].y = positions, np.zeros(n_pos)
            figure.update_layout(
                yaxis={
                    "tickmode": "array",
                    "tickvals": list(range(len(data.layers))),
                    "ticktext": data.layers,
                },
                xaxis2={"tickmode": "array", "tickvals": positions, "ticktext": targets},
            )
        with self.rollout.batch_update() as figure:
            figure.data[0].z = data.rollout.astype(np.float32)
        self.position_select.options = self._position_options()
        self.note.value = self._note_html()
        self._show_position()

    def _show_position(self) -> None:
        data = self.data
        position, n_pos = data.position, len(data.tokens)
        values = data.bars()
        limit = float(np.abs(values).max()) or 1.0  # each position on its own scale
        line = {"color": WRONG, "width": 3}
        with self.bars.batch_update() as figure:
            bar = figure.data[0]
            bar.x = values.astype(np.float32)
            bar.y = np.arange(n_pos)
            bar.marker.color = [RIGHT if v >= 0 else WRONG for v in values]
            figure.layout.xaxis.range = [-1.1 * limit, 1.1 * limit]
            figure.layout.title.text = (
                f"saliency of position {position} ({html.escape(visible(data.tokens[position]))})"
                f"<br>predicting {html.escape(visible(data.top_token[-1][position]))}"
            )
        with self.table.batch_update() as figure:
            figure.layout.shapes = [
                {
                    "type": "rect",
                    **{"x0": position - 0.5, "x1": position + 0.5},
                    **{"y0": -0.5, "y1": len(data.layers) - 0.5},
                    "line": line,
                }
            ]
        with self.rollout.batch_update(data=False) as figure:
            figure.layout.shapes = [
                {
                    "type": "rect",
                    **{"x0": -0.5, "x1": n_pos - 0.5},
                    **{"y0": position - 0.5, "y1": position + 0.5},
                    "line": line,
                }
            ]

    def _update(self) -> None:
        """The step moved: the lens has one frame, so only the title says which step it is."""
        step = int(self.data.steps[-1])
        with self.table.batch_update(data=False) as figure:
            figure.layout.title.text = f"{html.escape(self.data.title)} · step {step}"

    def _note_html(self) -> str:
        data = self.data
        scored = [p for p, m in enumerate(data.mask) if m]
        right = sum(data.top_token[-1][p] == data.targets[p] for p in scored)
        source = "measured from the run's model" if self.run is not None else "from the trace"
        return (
            f"<b>output row:</b> {right} of {len(scored)} answer positions right · lens {source} "
            f"at step {int(data.steps[-1])}. Saliency is gradient × input of the chosen "
            "position's predicted token; each position has its own scale (a confident "
            "prediction has small gradients)."
        )
