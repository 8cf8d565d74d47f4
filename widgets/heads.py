"""HeadsView: which heads matter, what each one does, and what happens when you switch it off.

The layer x head grid is coloured by importance (``explain.lab.record``: the gradient score of
Michel, Levy and Neubig 2019) and badged with the pattern each head shows at the current step.
With a Run, a click on a head switches it off (a second click brings it back) and the loss and
accuracy (top right of the figure) and the probe's predictions (under it) change at once; beside
the grid, the pruning curve and how alike the heads are; underneath, every head's score for one
pattern over training and the circuit text that names the heads. Both figures are drawn by the
heads view's one plotly builder (``explain._render.plotly.heads``), as every export draws them.

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
from explain._render import plotly as builders
from explain._render import rules
from explain._render.plotly.scores import strongest
from explain.trace import Trace

from ._base import View, require_index
from ._plot import ClickPoint

__all__ = ["HeadsView"]

RIGHT, WRONG = "#009E73", "#D55E00"  # a probe prediction right or wrong (Okabe-Ito)


class HeadsView(View):
    """Importance grid with role badges (click: ablate / restore), pruning curve and head
    similarity in one figure, every head's score for one pattern over training in a second
    (not for a model trained elsewhere, whose trace has one snapshot: ``views.trained``),
    circuit text and, with a Run, the probe's predictions with the heads switched off.

    ``source`` is a Run from ``explain.train`` (measured with ``explain.lab.record`` if its
    trace has no lab record yet) or a Trace (shown, but heads cannot be switched off without a
    model). ``data`` is the view model (:func:`explain.views.heads`); ``off`` the heads off;
    ``result`` the last evaluation ``{"loss", "accuracy"}``; ``pattern`` the scores figure's
    pattern. Both figures are the heads view's plotly builder's:
    ``explain.export.interactive(view.data, "heads", step=view.step, **view.state)`` is the
    same (``figures()``), less its step slider.
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
        self.pattern_select = ipywidgets.Dropdown(
            options=list(self.data.patterns),
            value=strongest(self.data.scores, self.data.patterns),
            description="pattern",
        )
        self.pattern_select.add_class("explain-pattern-select")
        # a model trained elsewhere (data.trained False) has no scores over training to show
        grid, pruned, similar, *scores = self._figures()
        self.grid = self._plot(grid, "explain-heads-grid")
        self.pruning = self._plot(pruned, "explain-heads-pruning")
        self.similarity = self._plot(similar, "explain-heads-similarity")
        self.scores = self._plot(scores[0], "explain-heads-scores") if scores else None
        self.grid.on_click(self._on_click)
        self.pattern_select.observe(lambda _: self._update(), names="value")
        self.effect = ipywidgets.HTML()
        self.effect.add_class("explain-heads-effect")
        self.text = ipywidgets.HTML(self._circuit_html())
        self.text.add_class("explain-heads-circuits")
        over_training = [self.pattern_select, self.scores.widget] if self.scores else []
        self.widget = self._root(
            [
                ipywidgets.HBox([self.grid.widget, self.pruning.widget, self.similarity.widget]),
                self.effect,
                ipywidgets.HBox([ipywidgets.VBox(over_training), self.text]),
            ]
        )
        self._show_effect()
        self._ready()

    # -- public ----------------------------------------------------------------------------------
    @property
    def pattern(self) -> str:
        """The pattern whose scores the second figure shows (the dropdown's)."""
        return str(self.pattern_select.value)

    @property
    def state(self) -> dict[str, Any]:
        """What the figures show besides the step, as the builder and the exports take it:
        ``off`` (sorted (layer, head) pairs), ``result`` (None while every head is on: the
        lab's baseline is drawn) and ``pattern``."""
        result = dict(self.result) if self.off else None
        return {"off": sorted(self.off), "result": result, "pattern": self.pattern}

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
        """Both figures as one picture, drawn from the view model as the exports do."""
        alt = self.data.heading(self.step)
        image = export.image(self.data, self.step, theme=self.theme, marker=True, **self.state)
        return [(image, alt)]

    def _reload(self) -> None:
        """The trace grew (live training): scores, roles and similarity follow it."""
        self.data = views.heads(self.trace, self.data.part)
        self.text.value = self._circuit_html()

    # -- figures ---------------------------------------------------------------------------------
    def _figures(self) -> list[dict]:
        return builders.figures(self.data, self.data.index(self.step), self.theme, **self.state)

    def _on_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        if point.curve != 0 or point.x is None or point.y is None or self.run is None:
            return  # only the importance grid switches heads
        self.toggle(int(round(float(point.y))), int(round(float(point.x))))

    def _update(self) -> None:
        plots = (self.grid, self.pruning, self.similarity, self.scores)
        for plot, figure in zip(
            (plot for plot in plots if plot is not None), self._figures(), strict=True
        ):
            plot.show(figure)

    def _show_effect(self) -> None:
        """Under the figure (which says what switching heads off costs): how to switch them
        and, with heads off, what the model now predicts for the probe."""
        if self.run is None:
            self.effect.value = (
                "<i>built from a trace: pass the Run to switch heads off</i>"
                if self.data.trained
                else "<i>recorded from a model trained elsewhere: switch its heads off with "
                "lab.ablate(model, [(layer, head)])</i>"
            )
            return
        lines = ["<i>click a head in the grid to switch it off, again to bring it back</i>"]
        if self.predictions is not None:
            vocab = self.run.task.vocab
            probe = self.run.task.probe()
            chips = []
            for position, guess in enumerate(self.predictions.tolist()):
                scored = bool(probe.mask[0, position])
                right = guess == int(probe.targets[0, position])
                colour = "" if not scored else f" style='color:{RIGHT if right else WRONG}'"
                chips.append(f"<code{colour}>{rules.label(vocab[guess])}</code>")
            lines.append("<b>probe predictions:</b> " + " ".join(chips))
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
