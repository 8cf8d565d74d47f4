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
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np

from explain.names import attention_name, attention_parts, default_part
from explain.style import colorscale, visible
from explain.trace import Trace
from explain.views import require_finite

from ._base import HeadSelection, StepControl, View, label_tokens, require_index
from ._plot import base_figure, step_cursor
from .theme import LIGHT, Theme

__all__ = ["CompareView"]

_PREFERRED = ("loss", "val_loss", "val_accuracy", "lr", "grad_norm")
_NAME_FIELDS = ("positional", "optimizer", "lr", "d_model", "n_layers", "n_heads", "steps", "seed")


def _as_trace(value: Any, index: int) -> Trace:
    trace = getattr(value, "trace", value)  # a Run brings its trace
    if not isinstance(trace, Trace):
        raise ValueError(f"run {index} must be an explain Trace or Run; got {type(value).__name__}")
    if len(trace) == 0:
        raise ValueError(f"run {index} has no snapshots: expected at least one (step 0)")
    return trace


def _tokens(trace: Trace, part: str) -> tuple[list[str], list[str]]:
    """(query tokens, key tokens) of ``part`` from the trace's probe."""
    probe = trace.meta.get("probe") if isinstance(trace.meta.get("probe"), dict) else {}
    target = probe.get("tokens")
    source = probe.get("source_tokens")
    queries = source if part == "encoder" else target
    keys = source if part in ("encoder", "cross") else target
    return [str(t) for t in queries or []], [str(t) for t in keys or []]


def _auto_names(traces: Sequence[Trace]) -> list[str]:
    """Names from the config fields that differ between runs, else "run 0", "run 1", ..."""
    configs = []
    for trace in traces:
        merged: dict[str, Any] = {}
        for key in ("train_config", "model_config"):
            value = trace.meta.get(key)
            if isinstance(value, dict):
                merged.update(value)
        configs.append(merged)
    differing = [
        f
        for f in _NAME_FIELDS
        if all(f in c for c in configs) and len({repr(c[f]) for c in configs}) > 1
    ]
    names = [
        ", ".join(f"{f}={c.get(f)}" for f in differing) if differing else f"run {i}"
        for i, c in enumerate(configs)
    ]
    return names if len(set(names)) == len(names) else [f"run {i}" for i in range(len(traces))]


def _last_phase_start(trace: Trace) -> int:
    """The first step of the trace's last phase (``trace.meta["phases"]``); 0 without phases."""
    phases = trace.meta.get("phases")
    starts = [int(p.get("first_step", 0)) for p in phases or [] if isinstance(p, dict)]
    return max(starts, default=0)


class CompareView(HeadSelection, View):
    """Runs side by side: overlaid curves of ``metric`` and one attention heatmap per run.

    ``step_control`` (this view's own slider over the union of every run's snapshot steps),
    ``metric_select``, ``part_select``, ``layer_select``, ``head_select``; plots ``curves`` and
    ``heatmaps`` (one per run). ``step`` is the shared step (ValueError on a step no run has a
    snapshot at); ``shown_steps()`` lists the snapshot step each panel shows for it. The view has
    several traces (``traces``), so its one-trace ``trace`` is None.

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
        theme: Theme | str = LIGHT,
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
        self.offsets = [_last_phase_start(t) if align == "phase" else 0 for t in self.traces]
        # One control over every run's snapshot steps, owned (and shown) by this view.
        super().__init__(None, step=step, step_control=StepControl(self._steps()), theme=theme)
        self._owns_control = True
        if names is None:
            names = _auto_names(self.traces)
        names = [str(n) for n in names]
        if len(names) != len(self.traces):
            raise ValueError(
                f"got {len(names)} names for {len(self.traces)} runs; expected one each"
            )
        self.names = names
        self._check_attention()
        self.metrics = self._common_metrics()
        if metric not in self.metrics:
            raise ValueError(
                f"metric {metric!r} is not logged by every run; expected one of {self.metrics}"
            )
        parts = list(self.parts)
        part = default_part(parts) if part is None else part
        if part not in self.parts:
            raise ValueError(f"part {part!r} is not in every run; expected one of {parts}")
        self._hold = False
        self.metric_select = ipywidgets.Dropdown(
            options=self.metrics, value=metric, description="curve"
        )
        self.part_select = ipywidgets.Dropdown(options=parts, value=part, description="attention")
        self.layer_select = ipywidgets.Dropdown(description="layer")
        self.head_select = ipywidgets.Dropdown(description="head")
        for control in (self.metric_select, self.part_select, self.layer_select, self.head_select):
            control.layout.width = "200px"
        self._set_options(layer, head)
        self.curves = self._plot(self._curves_figure(), "explain-compare-curves")
        self.heatmaps = [
            self._plot(self._heatmap_figure(i), "explain-compare-heatmap")
            for i in range(len(self.traces))
        ]
        self.metric_select.observe(lambda _: self._update_curves(data=True), names="value")
        self.part_select.observe(self._on_part, names="value")
        self.layer_select.observe(lambda _: self._update_heatmaps(), names="value")
        self.head_select.observe(lambda _: self._update_heatmaps(), names="value")
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
    def metric(self) -> str:
        return str(self.metric_select.value)

    @metric.setter
    def metric(self, name: str) -> None:
        if name not in self.metrics:
            raise ValueError(
                f"metric {name!r} is not logged by every run; expected one of {self.metrics}"
            )
        self.metric_select.value = name

    def select(self, layer: int, head: int, part: str | None = None) -> None:
        """Show ``head`` of ``layer`` (of ``part``) in every panel."""
        part = self.part if part is None else part
        if part not in self.parts:
            raise ValueError(
                f"part {part!r} is not in every run; expected one of {list(self.parts)}"
            )
        n_layers, n_heads = self.parts[part]
        layer = require_index("layer", layer, n_layers)
        head = require_index("head", head, n_heads)
        self._hold = True
        try:
            self.part_select.value = part
            self._set_options(int(layer), int(head))
        finally:
            self._hold = False
        self._update_heatmaps()

    def shown_steps(self) -> list[int]:
        """The snapshot step each run's panel shows: its nearest to the shared step."""
        return [self._nearest(i) - self.offsets[i] for i in range(len(self.traces))]

    def pattern(self, run: int) -> np.ndarray:
        """The [q_pos, k_pos] attention shown for run ``run``."""
        trace = self.traces[run]
        name = self._attention[run][self.part][self.layer]
        return trace.at(self._nearest(run)).tensors[name][self.head]

    def refresh(self, follow: bool = False) -> None:
        """Re-read every run (they grew while training); ``follow`` moves to the newest step."""
        self._control().set_steps(self._steps(), follow=follow)
        super().refresh(follow)

    # -- checks --------------------------------------------------------------------------------
    def _check_attention(self) -> None:
        """Every run has attention; parts, layers and heads common to all; shapes and values."""
        common: dict[str, tuple[int, int]] | None = None
        self._attention: list[dict[str, list[str]]] = []  # per run: part -> names by layer
        for i, trace in enumerate(self.traces):
            try:
                parts = attention_parts(trace.attention_names())
            except ValueError as error:
                raise ValueError(f"run {i} ({self.names[i]}): {error}") from None
            if not parts:
                raise ValueError(
                    f"run {i} ({self.names[i]}) has no attention patterns: expected tensors "
                    f"such as {attention_name(0)!r} [snapshot, head, q_pos, k_pos]"
                )
            self._attention.append(parts)
            sizes = {}
            for part, tensor_names in parts.items():
                queries, keys = _tokens(trace, part)
                heads = set()
                for name in tensor_names:
                    array = trace.tensors[name]
                    expected = (len(queries), len(keys))
                    if array.ndim != 4 or array.shape[2:] != expected:
                        raise ValueError(
                            f"run {i} ({self.names[i]}): {name} has shape {array.shape}; expected "
                            f"[snapshot, head, {expected[0]}, {expected[1]}] for its probe tokens"
                        )
                    require_finite(f"run {i} ({self.names[i]}) {name}", array)
                    heads.add(array.shape[1])
                sizes[part] = (len(tensor_names), min(heads))
            if common is None:
                common = sizes
            else:
                common = {
                    p: (min(common[p][0], sizes[p][0]), min(common[p][1], sizes[p][1]))
                    for p in common
                    if p in sizes
                }
        if not common:
            raise ValueError("the runs share no kind of attention (self, encoder, decoder, cross)")
        self.parts: dict[str, tuple[int, int]] = common  # part -> (layers, heads) in every run

    def _common_metrics(self) -> list[str]:
        shared = set.intersection(*(set(t.scalars) for t in self.traces))
        if not shared:
            raise ValueError("the runs share no logged scalar (e.g. 'loss') to plot")
        return [m for m in _PREFERRED if m in shared] + sorted(shared - set(_PREFERRED))

    # -- internals -----------------------------------------------------------------------------
    def _steps(self) -> list[int]:
        """The union of every run's snapshot steps (aligned, in the phase shown), sorted."""
        return sorted(
            {
                int(s) - offset
                for t, offset in zip(self.traces, self.offsets, strict=True)
                for s in t.snapshot_steps
                if s >= offset
            }
        )

    def _nearest(self, run: int) -> int:
        """Run ``run``'s own snapshot step nearest to the shared step (in the phase shown)."""
        trace, offset = self.traces[run], self.offsets[run]
        snaps = trace.snapshot_steps[trace.snapshot_steps >= offset]
        step = int(np.clip(self.step + offset, snaps[0], snaps[-1]))
        return trace.at(step).step

    def _set_options(self, layer: int, head: int) -> None:
        n_layers, n_heads = self.parts[self.part_select.value]
        self.layer_select.options = list(range(n_layers))
        self.head_select.options = list(range(n_heads))
        self.layer_select.value = min(max(int(layer), 0), n_layers - 1)
        self.head_select.value = min(max(int(head), 0), n_heads - 1)

    def _on_part(self, change: dict) -> None:
        if self._hold:
            return
        self._hold = True
        try:
            self._set_options(self.layer, self.head)
        finally:
            self._hold = False
        self._update_heatmaps()

    def _curves_figure(self) -> Any:
        figure = base_figure(width=760, height=300, legend={"orientation": "h", "y": -0.3})
        dashes = ("solid", "dash", "dot", "dashdot", "longdash")
        for i, name in enumerate(self.names):  # dashes tell apart runs whose curves coincide
            figure.add_scatter(
                name=name, mode="lines+markers", marker={"size": 4}, line={"dash": dashes[i % 5]}
            )
        step_title = "steps into the last phase" if self.align == "phase" else "step"
        figure.update_xaxes(title_text=step_title)
        self._fill_curves(figure)
        return figure

    def _fill_curves(self, figure: Any) -> None:
        """Each run's ``metric`` on its line, and the titles that name it."""
        for trace, offset, line in zip(self.traces, self.offsets, figure.data, strict=True):
            steps, values = trace.scalar(self.metric)
            kept = steps >= offset
            line.x, line.y = steps[kept] - offset, values[kept]
        figure.layout.yaxis.title.text = self.metric
        figure.layout.title.text = f"{self.metric} of each run"

    def _heatmap_figure(self, index: int) -> Any:
        figure = base_figure(
            width=340,
            height=380,
            title={"text": self.names[index]},
            margin={"l": 50, "r": 20, "t": 80, "b": 50},  # two-line titles
        )
        figure.add_heatmap(
            zmin=0.0,
            zmax=1.0,
            colorscale=colorscale("viridis"),  # attention weights in [0, 1]
            showscale=index == len(self.traces) - 1,
            colorbar={"thickness": 10},
            hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>",
        )
        figure.update_yaxes(autorange="reversed")
        figure.update_xaxes(tickangle=-60)
        return figure

    def _reload(self) -> None:
        self._update_curves(data=True)  # the runs grew: new points on every curve

    def _update(self) -> None:
        self._update_curves(data=False)
        self._update_heatmaps()

    def _update_curves(self, data: bool) -> None:
        with self.curves.batch_update(data=data) as figure:
            if data:
                self._fill_curves(figure)
            figure.layout.shapes = [step_cursor(self.step)]

    def _update_heatmaps(self) -> None:
        if self._hold:
            return
        part, layer, head = self.part, self.layer, self.head
        for i, (trace, plot) in enumerate(zip(self.traces, self.heatmaps, strict=True)):
            own = self._nearest(i)
            shown = own - self.offsets[i]
            pattern = self.pattern(i)
            queries, keys = _tokens(trace, part)
            q_ticks, q_text = label_tokens([visible(t) for t in queries])
            k_ticks, k_text = label_tokens([visible(t) for t in keys])
            note = "" if shown == self.step else f" (nearest to {self.step})"
            note += f" · run step {own}" if self.offsets[i] else ""
            title = f"{html.escape(self.names[i])}<br>{part} L{layer} H{head} · step {shown}{note}"
            with plot.batch_update() as figure:
                figure.data[0].z = pattern
                figure.data[0].x = np.arange(pattern.shape[1])
                figure.data[0].y = np.arange(pattern.shape[0])
                figure.layout.title.text = title
                figure.layout.xaxis.update(tickvals=k_ticks, ticktext=k_text)
                figure.layout.yaxis.update(tickvals=q_ticks, ticktext=q_text)
