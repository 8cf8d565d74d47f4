"""AttentionView: one head's attention as a heatmap, a grid of every head, over training.

    >>> import explain, widgets
    >>> view = widgets.AttentionView(explain.load_trace("run.npz"))  # doctest: +SKIP
    >>> view.open_head(layer=1, head=2); view.step = 40                # doctest: +SKIP
    >>> display(view)                                                  # doctest: +SKIP

bertviz users switch with one line: ``AttentionView.from_attentions(attention, tokens)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import attention_grid
from explain._render import plotly as builders
from explain._render.plotly import attention as drawn
from explain.adapters import from_attentions
from explain.trace import Trace

from ._base import HeadSelection, View, require_index
from ._plot import ClickPoint, Frames

__all__ = ["AttentionView"]


class AttentionView(HeadSelection, View):
    """Heatmap of one head (row = query, column = key, row 0 on top), layer/head selectors, a
    clickable grid of every layer x head (thumbnails of at most 32 x 32, block-averaged), and the
    step control; encoder-decoder traces add a part selector (encoder, decoder, cross).

    ``data`` is the view model it draws (:func:`explain.views.attention` of the part shown);
    both plots are the attention view's plotly figures, the ones
    ``explain.export.interactive(trace, "attention", part=..., layer=..., head=..., step=...)``
    returns. ``tokens`` overrides the probe tokens of the trace (same count as the pattern's
    positions). Controls: ``part_select``, ``layer_select``, ``head_select``; plots: ``heatmap``
    and ``grid`` (their ``.figure`` is the plotly figure shown). The play button plays in the
    page: both plots send every step's frame once when it starts (``_heatmap_frames``,
    ``_grid_frames``: what ``_update`` shows at each step), see
    :meth:`widgets._plot.Plot.set_frames`.
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
        self.data = views.attention(self.trace, part, tokens=self._tokens)
        self.parts = self.data.parts
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
        heatmap, grid = self._figures()
        self.heatmap = self._plot(heatmap, "explain-attention-heatmap")
        self.grid = self._plot(grid, "explain-attention-grid")
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
        self._update()

    def state(self) -> dict[str, int]:
        """The selection its figures show (``export.interactive(..., **view.state())``)."""
        return {"layer": self.layer, "head": self.head}

    def pattern(self, step: int | None = None) -> np.ndarray:
        """The [q_pos, k_pos] pattern shown (current head) at ``step`` (default: current)."""
        step = self.step if step is None else self._control().checked(step)
        return self.data.layer_patterns[self.layer][self.data.index(step), self.head]

    def _static_images(self) -> list[tuple[bytes, str]]:
        """Both panels at the step shown, drawn from the view model as ``explain.export``
        draws it."""
        alt = self.data.heading(self.layer, self.head, self.step)
        image = export.image(self.data, self.step, theme=self.theme, **self.state())
        return [(image, alt)]

    # -- internals -----------------------------------------------------------------------------
    def _figures(self) -> list[dict]:
        index = self.data.index(self.step)
        return builders.figures(self.data, index, self.theme, **self.state())

    def _data_of(self, part: str) -> views.AttentionData:
        return views.attention(self.trace, part, tokens=self._tokens)

    def _reload(self) -> None:
        self.data = self._data_of(self.part)
        self._generation += 1

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
            self._update()

    def _on_grid_click(self, points: list[ClickPoint]) -> None:
        point = points[0]
        rows, cols = attention_grid.cell_size(self.data)
        layer = int(float(point.y) // (rows + 1))
        head = int(float(point.x) // (cols + 1))
        self.open_head(layer, head)

    def _indices(self) -> list[int]:
        """The data's snapshot index of each step of the step control (a frame each)."""
        return [self.data.index(step) for step in self._control().steps]

    def _heatmap_frames(self, layer: int, head: int) -> Frames:
        """The heatmap at every step: what ``_update`` shows there, for the page to play."""
        steps = self._control().steps
        z = self.data.layer_patterns[layer][self._indices(), head]  # [steps, q_pos, k_pos]
        return Frames({0: z}, titles=[drawn.title(self.data, layer, head, step) for step in steps])

    def _grid_frames(self) -> Frames:
        """The grid at every step (mosaic and badges), as ``_update`` shows it."""
        indices = self._indices()
        z = np.stack([attention_grid.mosaic(self.data, index) for index in indices])
        return Frames(
            {0: z}, annotations=[drawn.grid_annotations(self.data, index) for index in indices]
        )

    def _update(self) -> None:
        layer, head = self.layer, self.head
        frames = f"{self._generation}:{hash(tuple(self._control().steps))}"  # what frames fit
        self.heatmap.set_frames(
            f"heatmap:{frames}:{layer}:{head}", lambda: self._heatmap_frames(layer, head)
        )
        self.grid.set_frames(f"grid:{frames}", self._grid_frames)
        heatmap, grid = self._figures()
        self.heatmap.show(heatmap)
        self.grid.show(grid)
