"""AttentionView: one head's attention as a heatmap, a grid of every head, over training.

    >>> import explain, widgets
    >>> view = widgets.AttentionView(explain.load_trace("run.npz"))  # doctest: +SKIP
    >>> view.open_head(layer=1, head=2); view.step = 40                # doctest: +SKIP
    >>> display(view)                                                  # doctest: +SKIP

bertviz users switch with one line: ``AttentionView.from_attentions(attention, tokens)``.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain.adapters import from_attentions
from explain.style import visible
from explain.trace import Trace

from ._base import (
    HeadSelection,
    View,
    downsample,
    label_tokens,
    require_index,
)
from ._plot import ClickPoint, Frames, base_figure

__all__ = ["AttentionView"]

THUMBNAIL = 32  # max rows/columns of one head in the model-view grid (block-averaged)
_CACHE = 64  # grids kept per view (keyed by part and step)


class AttentionView(HeadSelection, View):
    """Heatmap of one head (row = query, column = key, row 0 on top), layer/head selectors, a
    clickable grid of every layer x head (thumbnails of at most 32 x 32, block-averaged), and the
    step control; encoder-decoder traces add a part selector (encoder, decoder, cross).

    ``data`` is the view model it draws (:func:`explain.views.attention` of the part shown), the
    same object ``explain.export.save(trace, ..., what="attention", part=...)`` writes.
    ``tokens`` overrides the probe tokens of the trace (same count as the pattern's positions).
    Controls: ``part_select``, ``layer_select``, ``head_select``; plots: ``heatmap`` and ``grid``
    (their ``.figure`` is the plotly figure shown). The play button plays in the page: both
    plots send every step's frame once when it starts (``_heatmap_frames``, ``_grid_frames``:
    what ``_update`` shows at each step), see :meth:`widgets._plot.Plot.set_frames`.
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
        **view: Any,
    ) -> None:
        super().__init__(trace, **view)
        self._tokens = None if tokens is None else [str(t) for t in tokens]
        self._grids: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self.data = views.attention(self.trace, part, tokens=self._tokens)
        self.parts = self.data.parts
        self._labelled: str | None = None  # the part whose labels the figures hold
        self._scored_part: str | None = None  # the part whose pattern scores are cached
        self._scores: views.ScoresData | None = None
        self._generation = 0  # bumped whenever self.data is replaced: names the frames
        self._hold = False
        self.part_select = ipywidgets.Dropdown(
            options=list(self.parts), value=self.data.part, description="attention"
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
        self._play_in_browser(self.heatmap, self.grid)
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
        self._ready()

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
    def open_head(self, layer: int, head: int, part: str | None = None) -> None:
        """Show ``head`` of ``layer`` (of ``part``) in the heatmap: what a grid click does."""
        part = self._valid_part(part or self.part)
        data = self.data if part == self.data.part else self._data_of(part)
        layer = require_index("layer", layer, len(data.layers))
        head = require_index("head", head, len(data.heads))
        self._hold = True
        try:
            self.part_select.value = part
            if data is not self.data:
                self.data, self._generation = data, self._generation + 1
            self._set_options(int(layer), int(head))
        finally:
            self._hold = False
        self._update(grid_data=False)  # the grid's data changes with the part (relabel) or step

    def pattern(self, step: int | None = None) -> np.ndarray:
        """The [q_pos, k_pos] pattern shown (current head) at ``step`` (default: current)."""
        step = self.step if step is None else self.step_control._checked(step)
        return self.data.layer_patterns[self.layer][self.data.index(step), self.head]

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The head shown, drawn from the view model as ``explain.export`` draws it."""
        data = self.data.head(self.layer, self.head)
        alt = f"{data.title} · layer {self.layer} head {self.head} · step {self.step}"
        return [(export.image(data, self.step, theme=self.theme), alt)]

    # -- internals -----------------------------------------------------------------------------
    def _data_of(self, part: str) -> views.AttentionData:
        return views.attention(self.trace, part, tokens=self._tokens)

    def _reload(self) -> None:
        self.data = self._data_of(self.part)
        self._generation += 1
        self._scored_part = None
        self._grids.clear()
        self._labelled = None

    def _valid_part(self, part: str) -> str:
        if part not in self.parts:
            raise ValueError(
                f"part {part!r} is not in this trace; expected one of {list(self.parts)}"
            )
        return part

    def _set_options(self, layer: int, head: int) -> None:
        layers = [(f"{i}", i) for i in self.data.layers]
        heads = [(f"{h}", h) for h in self.data.heads]
        self.layer_select.options, self.head_select.options = layers, heads
        self.layer_select.value = min(max(layer, 0), len(layers) - 1)
        self.head_select.value = min(max(head, 0), len(heads) - 1)

    def _on_part(self, change: dict) -> None:
        if self._hold:
            return
        self._hold = True
        try:
            self.data = self._data_of(change["new"])
            self._generation += 1
            self._set_options(self.layer, self.head)
        finally:
            self._hold = False
        self._update()

    def _on_select(self, change: dict) -> None:
        if not self._hold:
            self._update(grid_data=False)

    def _on_grid_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        rows, cols = self._cell_size()
        layer = int(float(point.y) // (rows + 1))
        head = int(float(point.x) // (cols + 1))
        self.open_head(layer, head)

    def _cell_size(self) -> tuple[int, int]:
        return (
            min(len(self.data.query_tokens), THUMBNAIL),
            min(len(self.data.key_tokens), THUMBNAIL),
        )

    def _mosaic(self, index: int) -> np.ndarray:
        """All heads of all layers at frame ``index``, downsampled, tiled with one NaN row/column
        between cells: [layers * (q'+1) - 1, heads * (k'+1) - 1]."""
        key = (self.data.part, index)
        if key in self._grids:
            self._grids.move_to_end(key)
            return self._grids[key]
        mosaic = self._build_mosaic(index)
        self._grids[key] = mosaic
        if len(self._grids) > _CACHE:
            self._grids.popitem(last=False)
        return mosaic

    def _build_mosaic(self, index: int) -> np.ndarray:
        data = self.data
        rows, cols = self._cell_size()
        n_layers, n_heads = len(data.layers), len(data.heads)
        mosaic = np.full((n_layers * (rows + 1) - 1, n_heads * (cols + 1) - 1), np.nan, np.float32)
        for layer, patterns in enumerate(data.layer_patterns):
            cells = downsample(patterns[index], THUMBNAIL)  # [head, q', k']
            top = layer * (rows + 1)
            for head in range(n_heads):
                left = head * (cols + 1)
                mosaic[top : top + rows, left : left + cols] = cells[head]
        return mosaic

    def _badges(self, index: int, rows: int, cols: int) -> list[dict]:
        """A "what this head does" label on each grid cell whose head shows a pattern (score
        >= 0.5 at this step, :func:`explain.views.scores`); none for parts without scores."""
        roles = self._roles()
        if roles is None:
            return []
        names, _ = views.roles_at(roles.scores, roles.patterns, index)
        return [
            {
                "x": head * (cols + 1) - 0.5,
                "y": layer * (rows + 1) - 0.5,
                "xanchor": "left",
                "yanchor": "top",
                "text": views.ROLE_BADGES.get(name, name),
                "showarrow": False,
                "font": {"size": 10, "color": "#ffffff"},
                "bgcolor": "rgba(0,0,0,0.55)",
            }
            for layer, row in enumerate(names)
            for head, name in enumerate(row)
            if name
        ]

    def _roles(self) -> views.ScoresData | None:
        """Pattern scores of the part shown (cached per part); None where they do not apply."""
        part = self.data.part
        if self._scored_part != part:
            self._scored_part = part
            try:
                self._scores = views.scores(self.trace, part) if part != "cross" else None
            except ValueError:
                self._scores = None
        return self._scores

    def _heatmap_figure(self) -> Any:
        figure = base_figure(width=480, height=480, title={"text": ""})
        figure.add_heatmap(
            zmin=self.data.zmin,
            zmax=self.data.zmax,
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
            zmin=self.data.zmin,
            zmax=self.data.zmax,
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

    def _title(self, layer: int, head: int, step: int) -> str:
        return f"{html.escape(self.data.title)} · layer {layer} head {head} · step {step}"

    def _indices(self) -> list[int]:
        """The data's snapshot index of each step of the step control (a frame each)."""
        return [self.data.index(step) for step in self._control().steps]

    def _heatmap_frames(self, layer: int, head: int) -> Frames:
        """The heatmap at every step: what ``_update`` shows there, for the page to play."""
        steps = self._control().steps
        z = self.data.layer_patterns[layer][self._indices(), head]  # [steps, q_pos, k_pos]
        return Frames({0: z}, titles=[self._title(layer, head, step) for step in steps])

    def _grid_frames(self) -> Frames:
        """The grid at every step (mosaic and badges), as ``_update`` shows it."""
        indices = self._indices()
        rows, cols = self._cell_size()
        z = np.stack([self._build_mosaic(index) for index in indices])
        return Frames({0: z}, annotations=[self._badges(index, rows, cols) for index in indices])

    def _update(self, grid_data: bool = True) -> None:
        data = self.data
        step, layer, head = self.step, self.layer, self.head
        index = data.index(step)
        pattern = data.layer_patterns[layer][index, head]  # [q_pos, k_pos]
        relabel = self._labelled != data.part  # axes and hover labels change only with the part
        self._labelled = data.part
        title = self._title(layer, head, step)
        frames = f"{self._generation}:{hash(tuple(self._control().steps))}"  # what frames fit
        self.heatmap.set_frames(
            f"heatmap:{frames}:{layer}:{head}", lambda: self._heatmap_frames(layer, head)
        )
        self.grid.set_frames(f"grid:{frames}", self._grid_frames)
        with self.heatmap.batch_update() as figure:
            trace = figure.data[0]
            trace.z = pattern
            figure.layout.title.text = title
            if relabel:
                n_q, n_k = pattern.shape
                q_ticks, q_text = label_tokens(data.query_tokens)
                k_ticks, k_text = label_tokens(data.key_tokens)
                trace.x, trace.y = np.arange(n_k), np.arange(n_q)
                trace.meta = {
                    "hover_rows": [html.escape(visible(t)) for t in data.query_tokens],
                    "hover_cols": [html.escape(visible(t)) for t in data.key_tokens],
                }
                figure.layout.xaxis.update(tickvals=k_ticks, ticktext=k_text)
                figure.layout.yaxis.update(tickvals=q_ticks, ticktext=q_text)
        rows, cols = self._cell_size()
        n_layers, n_heads = len(data.layers), len(data.heads)
        grid_data = grid_data or relabel
        with self.grid.batch_update(data=grid_data) as figure:
            trace = figure.data[0]
            if grid_data:
                mosaic = self._mosaic(index)
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
            figure.layout.annotations = self._badges(index, rows, cols)
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
