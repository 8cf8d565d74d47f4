"""HeadsView: which heads matter, what each one does, and what happens when you switch it off.

The layer x head grid is coloured by importance (``explain.lab.record``: the gradient score of
Michel, Levy and Neubig 2019) and badged with the pattern each head shows at the current step.
With a Run, a click on a head switches it off (a second click brings it back) and the loss,
accuracy and the probe's predictions change at once; beside the grid, the pruning curve and how
alike the heads are; underneath, the circuit text that names the heads.

    >>> import explain, widgets
    >>> run = explain.train("reverse")                        # doctest: +SKIP
    >>> view = widgets.HeadsView(run)                          # doctest: +SKIP
    >>> view.toggle(1, 2); view.result                         # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain.style import visible
from explain.trace import Trace

from ._base import View, require_index
from ._plot import ClickPoint, base_figure, step_cursor

__all__ = ["HeadsView"]


class HeadsView(View):
    """Importance grid with role badges (click: ablate / restore), pruning curve, head
    similarity, circuit text and, with a Run, the effect of the heads switched off.

    ``source`` is a Run from ``explain.train`` (measured with ``explain.lab.record`` if its
    trace has no lab record yet) or a Trace (shown, but heads cannot be switched off without a
    model). ``data`` is the view model (:func:`explain.views.heads`); ``off`` the heads off;
    ``result`` the last evaluation ``{"loss", "accuracy"}``.
    """

    css_class = "explain-heads"

    def __init__(
        self,
        source: Any,
        *,
        part: str | None = None,
        **view: Any,
    ) -> None:
        run = source if hasattr(source, "model") and hasattr(source, "trace") else None
        trace = run.trace if run is not None else source
        if not isinstance(trace, Trace):
            raise ValueError(
                "HeadsView needs a Run from explain.train(...) or a Trace; "
                f"got {type(source).__name__}"
            )
        super().__init__(trace, **view)
        self.run = run
        if run is not None and not isinstance(trace.meta.get("lab"), dict):
            from explain.lab import record  # needs torch, which a Run has already loaded

            record(run, part=part)
        self.data = views.heads(self.trace, part)
        self.off: set[tuple[int, int]] = set()
        self.result: dict[str, float] = {
            "loss": self.data.baseline_loss,
            "accuracy": self.data.baseline_accuracy,
        }
        self.predictions: np.ndarray | None = None
        self.grid = self._plot(self._grid_figure(), "explain-heads-grid")
        self.curve = self._plot(self._curve_figure(), "explain-heads-pruning")
        self.similarity = self._plot(self._similarity_figure(), "explain-heads-similarity")
        self.grid.on_click(self._on_click)
        self.pattern_select = ipywidgets.Dropdown(
            options=list(self.data.patterns), value=self._strongest(), description="pattern"
        )
        self.pattern_select.add_class("explain-pattern-select")
        self.scores = self._plot(self._scores_figure(), "explain-heads-scores")
        self.pattern_select.observe(lambda _: self._draw_scores(), names="value")
        self.effect = ipywidgets.HTML()
        self.effect.add_class("explain-heads-effect")
        self.text = ipywidgets.HTML(self._circuit_html())
        self.text.add_class("explain-heads-circuits")
        self.widget = self._root(
            [
                ipywidgets.HBox([self.grid.widget, self.curve.widget, self.similarity.widget]),
                self.effect,
                ipywidgets.HBox(
                    [ipywidgets.VBox([self.pattern_select, self.scores.widget]), self.text]
                ),
            ]
        )
        self._show_effect()
        self._draw_scores()
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    def toggle(self, layer: int, head: int) -> dict[str, float]:
        """Switch head (layer, head) off, or back on; returns the new loss and accuracy."""
        if self.run is None:
            raise ValueError(
                "switching heads off needs the model: build HeadsView from the Run "
                "(explain.train(...)), not from its trace"
            )
        key = (
            require_index("layer", layer, self.data.layers),
            require_index("head", head, self.data.heads),
        )
        from explain import lab

        wanted = self.off ^ {key}
        model, task = self.run.model, self.run.task
        result = lab.evaluate(model, task, sorted(wanted), part=self.data.part)
        predictions = lab.probe_predictions(model, task, sorted(wanted), part=self.data.part)
        self.off, self.result, self.predictions = wanted, result, predictions  # all or nothing
        self._show_effect()
        self._update()
        return dict(result)

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The grid, pruning curve and similarity, drawn from the view model as the exports do."""
        alt = f"{self.data.title} · step {self.step}"
        return [(export.image(self.data, self.step, theme=self.theme), alt)]

    def _reload(self) -> None:
        """The trace grew (live training): scores, roles and similarity follow it."""
        self.data = views.heads(self.trace, self.data.part)
        self.text.value = self._circuit_html()
        self._draw_scores()

    # -- figures ---------------------------------------------------------------------------------
    def _grid_figure(self) -> Any:
        data = self.data
        known = bool(np.isfinite(data.importance).all())
        values = data.importance if known else data.role_scores
        figure = base_figure(width=380, height=320, title={"text": ""})
        figure.add_heatmap(
            z=values.astype(np.float32),
            x=np.arange(data.heads),
            y=np.arange(data.layers),
            zmin=0.0,
            texttemplate="%{text}",
            colorbar={"title": {"text": "importance" if known else "score"}, "thickness": 12},
            hovertemplate="layer %{y} head %{x}<br>%{z:.3g}<br>%{text}<extra></extra>",
        )
        figure.update_yaxes(autorange="reversed", title_text="layer", dtick=1)
        figure.update_xaxes(title_text="head (click: switch off / on)", dtick=1)
        return figure

    def _curve_figure(self) -> Any:
        data = self.data
        figure = base_figure(
            width=360, height=320, title={"text": "pruning: least important first"}
        )
        figure.add_scatter(
            x=data.prune_fractions, y=data.prune_accuracy, mode="lines+markers", name="accuracy"
        )
        figure.add_scatter(
            x=data.prune_fractions, y=data.prune_loss, mode="lines+markers", name="loss", yaxis="y2"
        )
        figure.update_layout(
            yaxis={"title": {"text": "accuracy"}, "range": [-0.02, 1.02]},
            yaxis2={
                "title": {"text": "loss"},
                "overlaying": "y",
                "side": "right",
                "showgrid": False,
            },
            xaxis={"title": {"text": "share of heads removed"}},
            legend={"orientation": "h", "y": -0.3},
        )
        return figure

    def _similarity_figure(self) -> Any:
        data = self.data
        order = list(data.order)
        labels = [data.labels[i] for i in order]
        figure = base_figure(width=360, height=320, title={"text": "how different (JS distance)"})
        figure.add_heatmap(
            z=data.similarity[np.ix_(order, order)].astype(np.float32),
            x=labels,
            y=labels,
            zmin=0.0,
            zmax=1.0,
            colorbar={"thickness": 12},
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
        figure.update_yaxes(autorange="reversed")
        return figure

    # -- updates ---------------------------------------------------------------------------------
    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.x is None or point.y is None or self.run is None:
            return
        self.toggle(int(round(float(point.y))), int(round(float(point.x))))

    def _badges(self, index: int) -> list[list[str]]:
        """The grid's labels: what each head does at this step, "off" where switched off."""
        badges = views.badges_at(self.data.scores, self.data.patterns, index)
        for layer, head in self.off:
            badges[layer][head] = "off"
        return badges

    def _strongest(self) -> str:
        """The pattern some head shows most clearly at the end: what the scores plot opens on."""
        final = {
            p: np.nanmax(np.nan_to_num(self.data.scores[p][-1], nan=0.0))
            for p in self.data.patterns
        }
        return max(final, key=final.get)

    def _scores_figure(self) -> Any:
        figure = base_figure(width=520, height=300, title={"text": ""})
        for label in self.data.labels:
            figure.add_scatter(x=[], y=[], mode="lines", name=label)
        figure.update_yaxes(range=[-0.02, 1.02], title_text="score")
        figure.update_xaxes(title_text="step")
        return figure

    def _draw_scores(self) -> None:
        """Every head's score for the chosen pattern over training; a dot where it appeared."""
        data, pattern = self.data, str(self.pattern_select.value)
        values = data.scores[pattern]  # [snapshot, layer, head]
        with self.scores.batch_update() as figure:
            for number, curve in enumerate(figure.data):
                layer, head = divmod(number, data.heads)
                curve.x, curve.y = data.steps, values[:, layer, head]
            figure.layout.title.text = f"{pattern.replace('_', ' ')} score of every head"

    def _update(self) -> None:
        data, step = self.data, self.step
        index = data.index(step)
        with self.scores.batch_update(data=False) as figure:
            figure.layout.shapes = [step_cursor(step)]
        with self.grid.batch_update() as figure:
            figure.data[0].text = self._badges(index)
            figure.layout.title.text = f"{html.escape(data.title)} · step {step}"
            figure.layout.shapes = [
                {
                    "type": "line",
                    "x0": h - 0.45,
                    "x1": h + 0.45,
                    "y0": layer - 0.45,
                    "y1": layer + 0.45,
                    "line": {"color": "#D55E00", "width": 3},
                }
                for layer, h in sorted(self.off)
            ]

    def _show_effect(self) -> None:
        data = self.data
        off = ", ".join(data.head_label(layer, h) for layer, h in sorted(self.off)) or "none"
        loss, accuracy = self.result["loss"], self.result["accuracy"]
        lines = [
            f"<b>heads off:</b> {html.escape(off)} · <b>loss</b> {data.baseline_loss:.3f} → "
            f"{loss:.3f} · <b>accuracy</b> {data.baseline_accuracy:.2f} → {accuracy:.2f}"
        ]
        if self.predictions is not None and self.run is not None:
            vocab = self.run.task.vocab
            probe = self.run.task.probe()
            chips = []
            for position, guess in enumerate(self.predictions.tolist()):
                scored = bool(probe.mask[0, position])
                right = guess == int(probe.targets[0, position])
                style = (
                    ""
                    if not scored
                    else (" style='color:#009E73'" if right else " style='color:#D55E00'")
                )
                chips.append(f"<code{style}>{html.escape(visible(vocab[guess]))}</code>")
            lines.append("<b>probe predictions:</b> " + " ".join(chips))
        elif self.run is None:
            lines.append("<i>built from a trace: pass the Run to switch heads off</i>")
        self.effect.value = "<br>".join(lines)

    def _circuit_html(self) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.data.circuits)
        spearman = self.data.spearman
        agree = (
            f"<p>gradient and ablation importance agree with Spearman ρ = {spearman:.2f}</p>"
            if np.isfinite(spearman)
            else ""
        )
        items = items or "<li>no head shows a known pattern yet</li>"
        return f"<b>what the heads do</b><ul>{items}</ul>{agree}"
