"""AttentionView: one head's attention as a heatmap, a grid of every head, over training.

    >>> import explain, widgets
    >>> view = widgets.AttentionView(explain.load_trace("run.npz"))  # doctest: +SKIP
    >>> view.open_head(layer=1, head=2); view.step = 40                # doctest: +SKIP
    >>> display(view)                                                  # doctest: +SKIP

bertviz users switch with one line: ``AttentionView.from_attentions(attention, tokens)``.
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np

from explain.adapters import from_attentions
from explain.trace import Trace

from ._base import StepControl, View, downsample, label_tokens, require_finite
from ._plot import ClickPoint, base_figure
from .theme import LIGHT, Theme

__all__ = ["AttentionView"]

_PATTERN = re.compile(r"^(?:(encoder|decoder)\.)?blocks\.(\d+)\.(attn|cross)\.hook_pattern$")
THUMBNAIL = 32  # max rows/columns of one head in the model-view grid (block-averaged)
_CACHE = 64  # grids kept per view (keyed by part and step)


@dataclass(frozen=True)
class Part:
    """One kind of attention: its tensors (one per layer) and its query/key tokens."""

    name: str  # "self" (decoder-only), "encoder", "decoder" or "cross"
    tensors: tuple[str, ...]  # by layer
    queries: tuple[str, ...]
    keys: tuple[str, ...]


def _parts(trace: Trace, tokens: Sequence[str] | None) -> dict[str, Part]:
    """The parts a trace holds, with tokens from its probe (or ``tokens``), shapes checked."""
    found: dict[str, dict[int, str]] = {}
    for name in trace.attention_names():
        match = _PATTERN.match(name)
        if match is None:
            continue
        stack, block, kind = match.groups()
        part = "cross" if kind == "cross" else (stack or "self")
        found.setdefault(part, {})[int(block)] = name
    if not found:
        raise ValueError(
            "the trace has no attention patterns: expected tensors named "
            "'blocks.{i}.attn.hook_pattern' [snapshot, head, q_pos, k_pos]"
        )
    probe = trace.meta.get("probe", {}) if isinstance(trace.meta.get("probe"), dict) else {}
    target = list(tokens) if tokens is not None else probe.get("tokens")
    source = probe.get("source_tokens")
    parts: dict[str, Part] = {}
    for part in ("self", "encoder", "decoder", "cross"):
        if part not in found:
            continue
        blocks = found[part]
        if sorted(blocks) != list(range(len(blocks))):
            raise ValueError(f"{part} attention has blocks {sorted(blocks)}; expected 0..n-1")
        queries = source if part == "encoder" else target
        keys = source if part in ("encoder", "cross") else target
        what = "probe.source_tokens" if part in ("encoder", "cross") else "probe.tokens"
        if queries is None or keys is None:
            raise ValueError(f"the trace meta has no {what}: expected the tokens of the probe")
        parts[part] = Part(
            part,
            tuple(blocks[i] for i in range(len(blocks))),
            tuple(str(t) for t in queries),
            tuple(str(t) for t in keys),
        )
    return parts


def _check_part(trace: Trace, part: Part) -> int:
    """Shapes and values of every layer of ``part``; returns its number of heads."""
    tensors = trace.tensors
    heads = None
    for name in part.tensors:
        array = tensors[name]
        expected = (len(part.queries), len(part.keys))
        if array.ndim != 4 or array.shape[2:] != expected:
            raise ValueError(
                f"{name} has shape {array.shape} but there are {expected[0]} query and "
                f"{expected[1]} key tokens; expected [snapshot, head, {expected[0]}, {expected[1]}]"
            )
        if heads is not None and array.shape[1] != heads:
            raise ValueError(f"{name} has {array.shape[1]} heads; earlier layers have {heads}")
        heads = array.shape[1]
        require_finite(name, array)
    assert heads is not None
    return heads


class AttentionView(View):
    """Heatmap of one head (row = query, column = key, row 0 on top), layer/head selectors, a
    clickable grid of every layer x head (thumbnails of at most 32 x 32, block-averaged), and the
    step control; encoder-decoder traces add a part selector (encoder, decoder, cross).

    ``tokens`` overrides the probe tokens of the trace (same count as the pattern's positions).
    Controls: ``part_select``, ``layer_select``, ``head_select``; plots: ``heatmap`` and ``grid``
    (their ``.figure`` is the plotly figure shown).
    """

    css_class = "explain-attention"

    def __init__(
        self,
        trace: Trace,
        *,
        layer: int = 0,
        head: int = 0,
        part: str | None = None,
        tokens: Sequence[str] | None = None,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme = LIGHT,
    ) -> None:
        super().__init__(trace, step=step, step_control=step_control, theme=theme)
        self._tokens = None if tokens is None else [str(t) for t in tokens]
        self._grids: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._labelled: str | None = None  # the part whose labels the figures hold
        self._reload()
        part = part or next(iter(self.parts))
        self._hold = False
        self.part_select = ipywidgets.Dropdown(
            options=list(self.parts), value=self._valid_part(part), description="attention"
        )
        self.layer_select = ipywidgets.Dropdown(description="layer")
        self.head_select = ipywidgets.Dropdown(description="head")
        for control, name in (
            (self.part_select, "part"),
            (self.layer_select, "layer"),
            (self.head_select, "head"),
        ):
            control.add_class(f"explain-{name}-select")
            control.layout.width = "200px"
        self._set_options(layer, head)
        self.heatmap = self._plot(self._heatmap_figure(), "explain-attention-heatmap")
        self.grid = self._plot(self._grid_figure(), "explain-attention-grid")
        self.grid.on_click(self._on_grid_click)
        self.part_select.observe(self._on_part, names="value")
        self.layer_select.observe(self._on_select, names="value")
        self.head_select.observe(self._on_select, names="value")
        selectors = [self.layer_select, self.head_select]
        if len(self.parts) > 1:
            selectors.insert(0, self.part_select)
        self.widget = self._root(
            [
                ipywidgets.HBox(selectors),
                ipywidgets.HBox([self.heatmap.widget, self.grid.widget]),
            ]
        )
        self._update()

    # -- construction from other libraries -----------------------------------------------------
    @classmethod
    def from_attentions(
        cls, attention: Sequence[Any], tokens: Sequence[str], **kwargs: Any
    ) -> AttentionView:
        """A view of bertviz-style input: per-layer ``[1, heads, T, T]`` arrays or tensors.

        ``attention`` is what HuggingFace returns with ``output_attentions=True`` (torch tensors
        are read through ``.detach().cpu().numpy()``; torch is never imported here). The input
        is checked by :func:`explain.adapters.from_attentions`, the same as for exports.
        """
        return cls(from_attentions(attention, tokens), **kwargs)

    # -- public --------------------------------------------------------------------------------
    @property
    def part(self) -> str:
        return str(self.part_select.value)

    @property
    def layer(self) -> int:
        return int(self.layer_select.value)

    @property
    def head(self) -> int:
        return int(self.head_select.value)

    def open_head(self, layer: int, head: int, part: str | None = None) -> None:
        """Show ``head`` of ``layer`` (of ``part``) in the heatmap: what a grid click does."""
        part = self._valid_part(part or self.part)
        n_layers, n_heads = len(self.parts[part].tensors), self.heads[part]
        for what, value, count in (("layer", layer, n_layers), ("head", head, n_heads)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{what} must be an integer; got {value!r}")
            if not 0 <= value < count:
                raise ValueError(f"{what} {value} is out of range; expected 0..{count - 1}")
        self._hold = True
        try:
            self.part_select.value = part
            self._set_options(int(layer), int(head))
        finally:
            self._hold = False
        self._update(grid_data=False)  # the grid's data changes with the part (relabel) or step

    def pattern(self, step: int | None = None) -> np.ndarray:
        """The [q_pos, k_pos] pattern shown (current head) at ``step`` (default: current)."""
        step = self.step if step is None else self.step_control._checked(step)
        name = self.parts[self.part].tensors[self.layer]
        return self.trace.tensor(name, step)[self.head]

    # -- internals -----------------------------------------------------------------------------
    def _reload(self) -> None:
        self.parts = _parts(self.trace, self._tokens)
        self.heads = {name: _check_part(self.trace, part) for name, part in self.parts.items()}
        self._grids.clear()
        self._labelled = None

    def _valid_part(self, part: str) -> str:
        if part not in self.parts:
            raise ValueError(
                f"part {part!r} is not in this trace; expected one of {list(self.parts)}"
            )
        return part

    def _set_options(self, layer: int, head: int) -> None:
        part = self.parts[self.part_select.value]
        layers = [(f"{i}", i) for i in range(len(part.tensors))]
        heads = [(f"{h}", h) for h in range(self.heads[part.name])]
        self.layer_select.options, self.head_select.options = layers, heads
        self.layer_select.value = min(max(layer, 0), len(layers) - 1)
        self.head_select.value = min(max(head, 0), len(heads) - 1)

    def _on_part(self, change: dict) -> None:
        if self._hold:
            return
        self._hold = True
        try:
            self._set_options(self.layer, self.head)
        finally:
            self._hold = False
        self._update()

    def _on_select(self, change: dict) -> None:
        if not self._hold:
            self._update(grid_data=False)

    def _on_grid_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        part = self.parts[self.part]
        rows, cols = self._cell_size(part)
        layer = int(float(point.y) // (rows + 1))
        head = int(float(point.x) // (cols + 1))
        self.open_head(layer, head)

    def _cell_size(self, part: Part) -> tuple[int, int]:
        return min(len(part.queries), THUMBNAIL), min(len(part.keys), THUMBNAIL)

    def _mosaic(self, part: Part, step: int) -> np.ndarray:
        """All heads of all layers at ``step``, downsampled, tiled with one NaN row/column between
        cells: [layers * (q'+1) - 1, heads * (k'+1) - 1]."""
        key = (part.name, step)
        if key in self._grids:
            self._grids.move_to_end(key)
            return self._grids[key]
        snapshot = self.trace.at(step)
        rows, cols = self._cell_size(part)
        n_layers, n_heads = len(part.tensors), self.heads[part.name]
        mosaic = np.full((n_layers * (rows + 1) - 1, n_heads * (cols + 1) - 1), np.nan, np.float32)
        for layer, name in enumerate(part.tensors):
            cells = downsample(snapshot.tensors[name], THUMBNAIL)  # [head, q', k']
            top = layer * (rows + 1)
            for head in range(n_heads):
                left = head * (cols + 1)
                mosaic[top : top + rows, left : left + cols] = cells[head]
        self._grids[key] = mosaic
        if len(self._grids) > _CACHE:
            self._grids.popitem(last=False)
        return mosaic

    def _heatmap_figure(self) -> Any:
        figure = base_figure(width=480, height=480, title={"text": ""})
        figure.add_heatmap(
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": {"text": "weight"}, "thickness": 12},
            hovertemplate=(
                "query %{y} %{customdata[0]}<br>key %{x} %{customdata[1]}"
                "<br>weight %{z}<extra></extra>"
            ),
        )
        figure.update_yaxes(autorange="reversed", title_text="query")
        figure.update_xaxes(title_text="key", tickangle=-60)
        return figure

    def _grid_figure(self) -> Any:
        figure = base_figure(width=420, height=420, title={"text": "all heads (click one)"})
        figure.add_heatmap(
            zmin=0.0,
            zmax=1.0,
            showscale=False,
            hoverongaps=False,
            hovertemplate=(
                "layer %{customdata[0]} head %{customdata[1]}"
                "<br>mean weight %{z:.3f}<extra></extra>"
            ),
        )
        # square pixels: a cell keeps its q x k aspect whatever the number of layers and heads
        figure.update_yaxes(
            autorange="reversed",
            title_text="layer",
            showgrid=False,
            scaleanchor="x",
            constrain="domain",
        )
        figure.update_xaxes(title_text="head", showgrid=False, constrain="domain")
        return figure

    def _update(self, grid_data: bool = True) -> None:
        if not hasattr(self, "grid"):
            return  # still building
        part = self.parts[self.part]
        step, layer, head = self.step, self.layer, self.head
        pattern = self.trace.at(step).tensors[part.tensors[layer]][head]  # [q_pos, k_pos]
        relabel = self._labelled != part.name  # axes and hover labels change only with the part
        self._labelled = part.name
        title = f"{part.name} attention · layer {layer} head {head} · step {step}"
        with self.heatmap.batch_update() as figure:
            trace = figure.data[0]
            trace.z = pattern
            figure.layout.title.text = title
            if relabel:
                n_q, n_k = pattern.shape
                q_ticks, q_text = label_tokens(part.queries)
                k_ticks, k_text = label_tokens(part.keys)
                trace.x, trace.y = np.arange(n_k), np.arange(n_q)
                trace.meta = {
                    "hover_rows": [html.escape(t) for t in part.queries],
                    "hover_cols": [html.escape(t) for t in part.keys],
                }
                figure.layout.xaxis.update(tickvals=k_ticks, ticktext=k_text)
                figure.layout.yaxis.update(tickvals=q_ticks, ticktext=q_text)
        rows, cols = self._cell_size(part)
        n_layers, n_heads = len(part.tensors), self.heads[part.name]
        grid_data = grid_data or relabel
        with self.grid.batch_update(data=grid_data) as figure:
            trace = figure.data[0]
            if grid_data:
                mosaic = self._mosaic(part, step)
                trace.z = mosaic
            if relabel:  # grid_data is True too, so mosaic is set
                height, width = mosaic.shape
                margin = figure.layout.margin
                area = figure.layout.width - margin.l - margin.r
                figure.layout.height = int(
                    np.clip(margin.t + margin.b + area * height / width, 200, 700)
                )
                trace.x, trace.y = np.arange(width), np.arange(height)
                trace.meta = {
                    "hover_rows": [str(r // (rows + 1)) for r in range(height)],
                    "hover_cols": [str(c // (cols + 1)) for c in range(width)],
                }
                figure.layout.xaxis.update(
                    tickvals=[h * (cols + 1) + (cols - 1) / 2 for h in range(n_heads)],
                    ticktext=[str(h) for h in range(n_heads)],
                )
                figure.layout.yaxis.update(
                    tickvals=[i * (rows + 1) + (rows - 1) / 2 for i in range(n_layers)],
                    ticktext=[str(i) for i in range(n_layers)],
                )
            left, top = head * (cols + 1) - 0.5, layer * (rows + 1) - 0.5
            figure.layout.shapes = [
                {
                    "type": "rect",
                    "x0": left,
                    "x1": left + cols,
                    "y0": top,
                    "y1": top + rows,
                    "line": {"color": "#D55E00", "width": 3},
                }
            ]
