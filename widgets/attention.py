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


# The window sizes offered (tokens a side), those shorter than the map; "whole map" is the first.
WINDOWS = (16, 32, 64, 128, 256)
WHOLE = 0  # the menu's value for the whole map (a Dropdown shows an option valued None blank)


class AttentionView(HeadSelection, View):
    """Heatmap of one head (row = query, column = key, row 0 on top), layer/head selectors, a
    clickable grid of every layer x head (thumbnails of at most 32 x 32, block-averaged), and the
    step control; encoder-decoder traces add a part selector (encoder, decoder, cross).

    A map longer than the smallest window also gets window controls: ``window_select`` (the
    whole map, or a window of 16, 32, 64, ... tokens a side) and, with a window, the sliders
    ``start_slider`` (its first query) and ``key_slider`` (its first key; it follows the
    queries while the two are equal): the heatmap then shows that crop of the map with each of
    its tokens labelled where they fit, and its title names the window ("tokens 128-191 of
    1024"). ``window``, ``start`` and ``key_start`` open it there; :meth:`show_window` moves
    it. The grid, a step or a head change keep the window.

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
        window: int | None = None,
        start: int = 0,
        key_start: int | None = None,
        **view: Any,
    ) -> None:
        super().__init__(trace, **view)
        self._tokens = None if tokens is None else [str(t) for t in tokens]
        self.data = views.attention(self.trace, part, tokens=self._tokens)
        shown = self.data.window(window, start, key_start)  # checked before anything is built
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
        self.window_select = ipywidgets.Dropdown(description="window")
        self.start_slider = ipywidgets.IntSlider(description="queries from")
        self.key_slider = ipywidgets.IntSlider(description="keys from")
        self.window_select.add_class("explain-window-select")
        self.window_select.layout.width = "200px"
        for slider, name in ((self.start_slider, "start"), (self.key_slider, "key-start")):
            slider.add_class(f"explain-window-{name}")
            slider.continuous_update = False  # one redraw where the slider is let go
        self._set_window(None if shown.whole else window, shown.query_start, shown.key_start)
        heatmap, grid = self._figures()
        self.heatmap = self._plot(heatmap, "explain-attention-heatmap")
        self.grid = self._plot(grid, "explain-attention-grid")
        self.grid.on_click(self._on_grid_click)
        self._play_in_browser(self.heatmap, self.grid)
        self.part_select.observe(self._on_part, names="value")
        self.layer_select.observe(self._on_select, names="value")
        self.head_select.observe(self._on_select, names="value")
        self.window_select.observe(self._on_window, names="value")
        self.start_slider.observe(self._on_start, names="value")
        self.key_slider.observe(self._on_select, names="value")
        selectors = [self.layer_select, self.head_select]
        if len(self.parts) > 1:
            selectors.insert(0, self.part_select)
        self.window_controls = ipywidgets.HBox(
            [self.window_select, self.start_slider, self.key_slider]
        )
        self._show_window_controls()
        # a window's heatmap may be wider than the notebook less the grid: the grid then
        # goes below it rather than off the right edge
        plots = ipywidgets.HBox([self.heatmap.widget, self.grid.widget])
        plots.layout.flex_flow = "row wrap"
        self.widget = self._root([ipywidgets.HBox(selectors), self.window_controls, plots])
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
                self._refit_window()
            self._set_options(int(layer), int(head))
        finally:
            self._hold = False
        self._update()

    def show_window(self, window: int | None, start: int = 0, key_start: int | None = None) -> None:
        """Show ``window`` tokens a side from query ``start`` and key ``key_start`` (None: the
        keys from ``start``, or as near as fit), or the whole map (``window=None``): what the
        window controls do. A bad value raises ValueError naming it and the range allowed
        (:meth:`explain.views.AttentionData.window`)."""
        shown = self.data.window(window, start, key_start)
        self._hold = True
        try:
            self._set_window(None if shown.whole else window, shown.query_start, shown.key_start)
        finally:
            self._hold = False
        self._show_window_controls()
        self._update()

    @property
    def window(self) -> views.AttentionWindow:
        """The part of the map the heatmap shows (:class:`explain.views.AttentionWindow`)."""
        return self.data.window(**self._window_state())

    def state(self) -> dict[str, Any]:
        """The selection its figures show (``export.interactive(..., **view.state())``):
        ``layer`` and ``head``, and with a window ``window``, ``start`` and ``key_start``."""
        return {"layer": self.layer, "head": self.head, **self._window_state()}

    def pattern(self, step: int | None = None) -> np.ndarray:
        """The whole [q_pos, k_pos] map of the current head at ``step`` (default: current);
        ``view.window.crop(view.pattern())`` is the part the heatmap shows."""
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
        self._refit_window()

    # -- the window ------------------------------------------------------------------------------
    def _window_state(self) -> dict[str, int]:
        """The builders' window keywords: none for the whole map."""
        if self.window_select.value == WHOLE:
            return {}
        return {
            "window": int(self.window_select.value),
            "start": int(self.start_slider.value),
            "key_start": int(self.key_slider.value),
        }

    def _set_window(self, window: int | None, start: int, key_start: int) -> None:
        """The window controls at a window checked by ``self.data.window`` (their options and
        ranges from the map shown), the whole map for ``window=None``."""
        longest = max(len(self.data.query_tokens), len(self.data.key_tokens))
        sizes = [size for size in WINDOWS if size < longest]
        if window is not None and window not in sizes:
            sizes = sorted({*sizes, int(window)})
        self.window_select.options = [("whole map", WHOLE)] + [(f"{n} tokens", n) for n in sizes]
        self.window_select.value = WHOLE if window is None else window
        shown = self.data.window(window, start, key_start if window is not None else None)
        rows = shown.query_stop - shown.query_start
        cols = shown.key_stop - shown.key_start
        for slider, last, value in (
            (self.start_slider, len(self.data.query_tokens) - rows, shown.query_start),
            (self.key_slider, len(self.data.key_tokens) - cols, shown.key_start),
        ):
            slider.max = max(last, slider.min)  # max before value: the value must fit the range
            slider.value = value
            slider.step = 1

    def _refit_window(self) -> None:
        """The window kept where it can be on new data (another part, a reloaded trace)."""
        held, self._hold = self._hold, True
        try:
            self._fit_window()
        finally:
            self._hold = held
        self._show_window_controls()

    def _fit_window(self) -> None:
        window = self.window_select.value or None
        longest = max(len(self.data.query_tokens), len(self.data.key_tokens))
        size = None if window is None or window > longest else int(window)
        rows = min(size or 0, len(self.data.query_tokens))
        cols = min(size or 0, len(self.data.key_tokens))
        start = min(int(self.start_slider.value), len(self.data.query_tokens) - rows)
        key_start = min(int(self.key_slider.value), len(self.data.key_tokens) - cols)
        self._set_window(size, start if size else 0, key_start if size else 0)

    def _show_window_controls(self) -> None:
        """The window menu where the map is longer than the smallest window; the sliders while
        a window is shown."""
        longest = max(len(self.data.query_tokens), len(self.data.key_tokens))
        self.window_controls.layout.display = None if longest > WINDOWS[0] else "none"
        windowed = self.window_select.value != WHOLE
        for slider in (self.start_slider, self.key_slider):
            slider.layout.display = None if windowed else "none"

    def _on_window(self, change: dict) -> None:
        """A window size from the menu: it keeps its first query (moved up if it must to fit),
        the keys following the queries if they did."""
        if self._hold:
            return
        size = change["new"] or None
        if size is None:
            self.show_window(None)
            return
        n_q, n_k = len(self.data.query_tokens), len(self.data.key_tokens)
        start = min(int(self.start_slider.value), n_q - min(size, n_q))
        following = change["old"] == WHOLE or self.key_slider.value == self.start_slider.value
        key_start = None if following else min(self.key_slider.value, n_k - min(size, n_k))
        self.show_window(size, start, key_start)

    def _on_start(self, change: dict) -> None:
        """The queries moved: the keys follow while they started at the same position."""
        if self._hold:
            return
        self._hold = True
        try:
            if self.key_slider.value == min(change["old"], self.key_slider.max):
                self.key_slider.value = min(change["new"], self.key_slider.max)
        finally:
            self._hold = False
        self._update()

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
            self._refit_window()
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

    def _heatmap_frames(self, layer: int, head: int, shown: views.AttentionWindow) -> Frames:
        """The heatmap at every step: what ``_update`` shows there, for the page to play."""
        steps = self._control().steps
        z = shown.crop(self.data.layer_patterns[layer][self._indices(), head])  # [steps, q, k]
        titles = [drawn.title(self.data, layer, head, step, shown) for step in steps]
        return Frames({0: np.ascontiguousarray(z)}, titles=titles)

    def _grid_frames(self) -> Frames:
        """The grid at every step (mosaic and badges), as ``_update`` shows it."""
        indices = self._indices()
        z = np.stack([attention_grid.mosaic(self.data, index) for index in indices])
        return Frames(
            {0: z}, annotations=[drawn.grid_annotations(self.data, index) for index in indices]
        )

    def _update(self) -> None:
        layer, head, shown = self.layer, self.head, self.window
        frames = f"{self._generation}:{hash(tuple(self._control().steps))}"  # what frames fit
        cut = f"{shown.query_start}:{shown.query_stop}:{shown.key_start}:{shown.key_stop}"
        self.heatmap.set_frames(
            f"heatmap:{frames}:{layer}:{head}:{cut}",
            lambda: self._heatmap_frames(layer, head, shown),
        )
        self.grid.set_frames(f"grid:{frames}", self._grid_frames)
        heatmap, grid = self._figures()
        self.heatmap.show(heatmap)
        self.grid.show(grid)
