"""CompareView: two or more runs side by side with one shared step slider.

Loss curves (or any scalar the runs share) are overlaid, with a cursor at the step; below, the
same layer and head of each run's attention, next to each other. Runs recorded at different
steps show their nearest snapshot, and each panel says which step it shows::

    >>> import explain, widgets                                                 # doctest: +SKIP
    >>> runs = [explain.train("reverse", model_config=..., ...) for ...]         # doctest: +SKIP
    >>> CompareView(*runs, metric="val_accuracy")                               # doctest: +SKIP

A fine-tuned run continues its pre-training's step axis (``trace.meta["phases"]``);
``align="phase"`` puts the start of each run's last phase at step 0, so a fine-tuned run and
one trained from scratch start together (a run with one phase starts at its step 0).

The view shows its view model ``view.data`` (:class:`explain.views.CompareData`), drawn by the
compare view's one plotly builder (``explain.export.interactive(view.data, step=view.step)`` is
the same figures) and its one matplotlib builder (the static picture, ``explain.export.image``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain.trace import Trace

from ._base import HeadSelection, StepControl, View
from .theme import Theme

__all__ = ["CompareView"]


def _as_trace(value: Any, index: int) -> Trace:
    trace = getattr(value, "trace", value)  # a Run brings its trace
    if not isinstance(trace, Trace):
        raise ValueError(f"run {index} must be an explain Trace or Run; got {type(value).__name__}")
    if len(trace) == 0:
        raise ValueError(f"run {index} has no snapshots: expected at least one (step 0)")
    return trace


class CompareView(HeadSelection, View):
    """Runs side by side: overlaid curves of ``metric`` and one attention heatmap per run.

    ``step_control`` (this view's own slider over the union of every run's snapshot steps),
    ``metric_select``, ``part_select``, ``layer_select``, ``head_select``; plots ``curves`` and
    ``heatmaps`` (one per run). ``step`` is the shared step (ValueError on a step no run has a
    snapshot at); ``shown_steps()`` lists the snapshot step each panel shows for it. The view has
    several traces (``traces``), so its one-trace ``trace`` is None; ``data`` is the view model
    shown (:class:`explain.views.CompareData`, its selection included).

    ``align="step"`` (default) shows every run on its own step axis; ``align="phase"`` counts
    steps from the start of each run's last phase (``offsets`` holds where that is in each run)
    and shows only that phase.
    """

    css_class = "explain-compare"
    trace_optional = True  # the runs are in ``traces``; the base's single trace stays None

    def __init__(
        self,
        *runs: Any,
        names: Sequence[str] | None = None,
        metric: str = "loss",
        part: str | None = None,
        layer: int = 0,
        head: int = 0,
        step: int | None = None,
        theme: Theme | str | None = None,
        align: str = "step",
    ) -> None:
        if align not in ("step", "phase"):
            raise ValueError(f"align must be 'step' or 'phase'; got {align!r}")
        if len(runs) == 1 and isinstance(runs[0], list | tuple):
            runs = tuple(runs[0])
        if len(runs) < 2:
            raise ValueError(f"CompareView needs two or more traces or runs; got {len(runs)}")
        self.traces = [_as_trace(run, i) for i, run in enumerate(runs)]
        self.align = align
        data = views.compare(self.traces, names=names, metric=metric, part=part, align=align)
        n_layers, n_heads = data.parts[data.part]  # a layer or head past the runs': their last
        self.data = data.select(
            layer=min(max(int(layer), 0), n_layers - 1), head=min(max(int(head), 0), n_heads - 1)
        )
        # One control over every run's snapshot steps, owned (and shown) by this view.
        control = StepControl(self.data.steps.tolist())
        super().__init__(None, step=step, step_control=control, theme=theme)
        self._owns_control = True
        self._hold = False
        self.metric_select = ipywidgets.Dropdown(
            options=self.metrics, value=self.data.metric, description="curve"
        )
        parts = list(self.parts)
        self.part_select = ipywidgets.Dropdown(
            options=parts, value=self.data.part, description="attention"
        )
        self.layer_select = ipywidgets.Dropdown(description="layer")
        self.head_select = ipywidgets.Dropdown(description="head")
        for control in (self.metric_select, self.part_select, self.layer_select, self.head_select):
            control.layout.width = "200px"
        self._set_options(self.data.layer, self.data.head)
        curves, *heatmaps = self._figures()
        self.curves = self._plot(curves, "explain-compare-curves")
        self.heatmaps = [self._plot(f, "explain-compare-heatmap") for f in heatmaps]
        for control in (self.metric_select, self.part_select, self.layer_select, self.head_select):
            control.observe(self._on_select, names="value")
        selectors = [self.metric_select, self.layer_select, self.head_select]
        if len(parts) > 1:
            selectors.insert(1, self.part_select)
        panels = ipywidgets.Box(
            [plot.widget for plot in self.heatmaps],
            layout=ipywidgets.Layout(display="flex", flex_flow="row wrap"),
        )
        self.widget = self._root(
            [ipywidgets.HBox(selectors), self.curves.widget, panels], "explain-view"
        )
        self._ready()

    # -- public --------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return self.data.names

    @property
    def offsets(self) -> list[int]:
        return self.data.offsets

    @property
    def metrics(self) -> list[str]:
        return self.data.metrics

    @property
    def parts(self) -> dict[str, tuple[int, int]]:
        """part -> (layers, heads) every run has."""
        return self.data.parts

    @property
    def metric(self) -> str:
        return str(self.metric_select.value)

    @metric.setter
    def metric(self, name: str) -> None:
        self.data.select(metric=name)  # ValueError naming the metrics every run logged
        self.metric_select.value = name

    def select(self, layer: int, head: int, part: str | None = None) -> None:
        """Show ``head`` of ``layer`` (of ``part``) in every panel."""
        self.data.select(part=part, layer=layer, head=head)  # ValueError naming the bad one
        self._hold = True
        try:
            self.part_select.value = self.part if part is None else part
            self._set_options(int(layer), int(head))
        finally:
            self._hold = False
        self._update()

    def shown_steps(self) -> list[int]:
        """The snapshot step each run's panel shows: its nearest to the shared step."""
        return self.data.shown_at(self._index())

    def pattern(self, run: int) -> np.ndarray:
        """The [q_pos, k_pos] attention shown for run ``run``."""
        return self.data.at(self._index())[run]

    def refresh(self, follow: bool = False) -> None:
        """Re-read every run (they grew while training); ``follow`` moves to the newest step."""
        self._reload()
        self._control().set_steps(self.data.steps.tolist(), follow=follow)
        self._update()

    # -- internals -----------------------------------------------------------------------------
    def _index(self) -> int:
        return self.data.index(self.step)

    def _figures(self) -> list[dict]:
        index = self.data.index(self.step) if self.step_control is not None else 0
        return builders.figures(self.data, index, self.theme)

    def _set_options(self, layer: int, head: int) -> None:
        n_layers, n_heads = self.parts[self.part_select.value]
        self.layer_select.options = list(range(n_layers))
        self.head_select.options = list(range(n_heads))
        self.layer_select.value = min(max(int(layer), 0), n_layers - 1)
        self.head_select.value = min(max(int(head), 0), n_heads - 1)

    def _on_select(self, change: dict) -> None:
        if self._hold:
            return
        if change["owner"] is self.part_select:  # the new part's layers and heads
            self._hold = True
            try:
                self._set_options(self.layer, self.head)
            finally:
                self._hold = False
        self._update()

    def _reload(self) -> None:
        """The runs grew: the same selection over their new steps."""
        data = self.data
        self.data = views.compare(
            self.traces, names=data.names, metric=data.metric, part=data.part, align=data.align
        ).select(layer=data.layer, head=data.head)

    def _update(self) -> None:
        if self._hold:
            return
        self.data = self.data.select(
            metric=self.metric, part=self.part, layer=self.layer, head=self.head
        )
        for plot, figure in zip(self.plots, self._figures(), strict=True):
            plot.show(figure)

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The curves and every run's heatmap, drawn from the view model as the exports do."""
        data, step = self.data, self.step
        alt = f"{data.metric} of {', '.join(data.names)} at step {step}; " + (
            f"{data.part} L{data.layer} H{data.head} of each run"
        )
        return [(export.image(data, step, theme=self.theme, marker=True), alt)]
