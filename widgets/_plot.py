"""A plotly figure shown through a small anywidget whose whole state is always in sync.

Why not ``plotly.graph_objects.FigureWidget``: it sends later changes as one-off ``restyle``
messages and keeps the figure's synced state (``_widget_data``) at what it was when it was built.
Anything rendered from state rather than from messages (Voila, which runs the notebook before the
page connects; saved widget state; a view opened after the change) then shows the first frame.
Each FigureWidget also carries its own ~5 MB JavaScript bundle.

Here a :class:`Plot` pairs a plain ``go.Figure`` (the Python-side model that views update inside
``figure.batch_update()`` and that tests read) with a :class:`PlotWidget` whose synced traits
``data`` and ``layout`` are the full figure after every update, arrays travelling as binary
buffers. The browser redraws with ``Plotly.react`` on any change, except while only heatmap z,
the title's text and annotations change (a playing time-lapse): then it repaints the heatmap
images itself (the painter it shares with the report, explain/_render/js/heatmap.js) and lets
plotly draw the whole figure 200 ms after the updates stop (plot.js). The whole figure is re-sent
per step on purpose: besides z it is 2-3 kB of JSON per plot (measured by bench/playback.py), too
little to be worth a second, partial update path. plotly.js itself comes from the installed
plotly package (no CDN), loaded once per page by the :func:`plotly_library` widget.

Playing in the browser: a view may give a plot every frame of its time-lapse
(:meth:`Plot.set_frames`, a :class:`Frames` of heatmap z, titles and annotations per step). When
the play button starts, the page asks for them once (a custom message, never saved in the
notebook), then paints each step the play button reaches from them, with no kernel round trip;
the kernel keeps its figure current but holds its updates to the page until the play stops, then
sends its state once (issue 11: a round trip per step capped JupyterLab at ~16 fps).

A page busy drawing may load a widget's module after anywidget gave up on it (2 s), and
anywidget then drops every kernel message of that widget. So a :class:`PlotWidget` opens with its
whole first figure, and plot.js takes its model's messages from anywidget once it runs (a view
then reports the revision it holds and gets the figure again if it missed one).

DOM hooks (for browser tests): the widget's element has the classes given to :class:`Plot` plus
``explain-plot``; after each plotly draw it carries ``data-revision`` (the Python ``revision``)
and its child ``div.js-plotly-plot`` holds plotly's ``data``/``layout``; after a repaint it
carries ``data-painted`` (that revision; plotly's data still the last draw's). ``data-busy`` is
set until plotly itself has drawn the latest state.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import math
import pathlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anywidget
import ipywidgets
import numpy as np
import plotly.graph_objects as go
import traitlets

from .theme import VIEW_CSS

log = logging.getLogger(__name__)

# The browser side of PlotWidget (anywidget convention: an ES module shipped beside this file),
# which runs behind the heatmap painter it shares with the report (explain/_render/js).
_PLOT_ESM = pathlib.Path(__file__).parent / "plot.js"
_HEATMAP_JS = ("_render", "js", "heatmap.js")
# The most bytes of frames one plot sends the page; a longer time-lapse plays through the kernel.
FRAMES_MAX_BYTES = 32 * 2**20


def _library_esm() -> str:
    source = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    code = source.read_text(encoding="utf-8")
    # plotly.min.js is a UMD bundle that ends with `window.Plotly = Plotly`. Keep whatever Plotly
    # the page already had (another extension's) and publish ours under a private name.
    return (
        "const __previousPlotly = globalThis.Plotly;\n"
        + code
        + "\n;globalThis.__explainPlotly = globalThis.__explainPlotly || globalThis.Plotly;\n"
        "if (__previousPlotly !== undefined) globalThis.Plotly = __previousPlotly;\n"
        "export default { render({ el }) { el.style.display = 'none'; } };\n"
    )


def _plot_esm() -> str:
    """PlotWidget's module: the shared heatmap painter (it defines ``explainHeatmap`` and imports
    nothing), then plot.js, which uses it (no bundler: one string)."""
    painter = importlib.resources.files("explain").joinpath(*_HEATMAP_JS)
    return painter.read_text(encoding="utf-8") + "\n" + _PLOT_ESM.read_text(encoding="utf-8")


class PlotlyLibrary(anywidget.AnyWidget):
    """Invisible widget whose module is the installed plotly.min.js; loads it once per page."""

    _esm = traitlets.Unicode("").tag(sync=True)


_LIBRARY: PlotlyLibrary | None = None


def plotly_library() -> PlotlyLibrary:
    """The one library widget of this kernel (each view's root box holds it, hidden)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = PlotlyLibrary(_esm=_library_esm())
        _LIBRARY.layout.display = "none"
        _LIBRARY.send({"event": "opened"})  # as Plot does: a slow module is no page error
    return _LIBRARY


class PlotWidget(anywidget.AnyWidget):
    """Synced figure state: ``fig_data`` (traces), ``fig_layout``, ``fig_config``, ``revision``.

    The browser fits the figure to the width it gets (never wider than ``fig_layout.width``;
    again when that width changes), wraps the title to fit, and shows no text smaller than
    ``min_font`` px. The toolbar shows on hover only. ``_css`` (the views' stylesheet,
    :data:`widgets.theme.VIEW_CSS`) is loaded once per page.
    """

    _esm = _plot_esm()
    _css = traitlets.Unicode(VIEW_CSS).tag(sync=True)
    # Not "layout": that name is the ipywidgets Layout (size, display) of every DOMWidget.
    fig_data = traitlets.List().tag(sync=True)
    fig_layout = traitlets.Dict().tag(sync=True)
    fig_config = traitlets.Dict(
        {"displaylogo": False, "responsive": False, "displayModeBar": "hover"}
    ).tag(sync=True)
    revision = traitlets.Int(0).tag(sync=True)
    min_font = traitlets.Int(0).tag(sync=True)
    # the widget's model id, chosen before it opens, so that its page finds its model (plot.js)
    own_id = traitlets.Unicode("").tag(sync=True)
    # Playing in the browser (module docstring): which frames fit the figure ("" for none), the
    # frame to show and whether the play button plays (both linked to it in the page).
    frames_key = traitlets.Unicode("").tag(sync=True)
    frame = traitlets.Int(0).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    # the play button itself: plot.js waits with its other plots and the slider for the frames
    play = traitlets.Instance(ipywidgets.Play, allow_none=True).tag(
        sync=True, **ipywidgets.widget_serialization
    )


# Told how the page a plot is drawn in looks, (dark, presentation): JupyterLab's theme and its
# Presentation Mode (widgets/plot.js); the views' module listens (widgets/_base.py, follow_page).
PAGE_LISTENERS: list[Callable[[bool, bool], None]] = []


@dataclass(frozen=True)
class Frames:
    """Every frame of a plot's time-lapse, for the page to play (:meth:`Plot.set_frames`).

    ``z`` maps a heatmap trace's index to its z at every frame, ``[frames, rows, cols]``;
    ``titles`` and ``annotations`` give the title's text and ``layout.annotations`` of each
    frame (None: they stay as they are). Everything else about the figure stays as drawn.
    """

    z: dict[int, np.ndarray]
    titles: list[str] | None = None
    annotations: list[list[dict]] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.z.values())))


@dataclass(frozen=True)
class ClickPoint:
    """One clicked point as the browser reports it (heatmaps: x and y are column/row coords)."""

    curve: int  # trace index in the figure
    x: Any
    y: Any
    index: Any  # point index (int), or [row, col] for heatmaps


def encode(value: Any) -> Any:
    """Figure JSON for the widget: numeric arrays as binary buffers, NaN floats as null."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fiub" and value.ndim in (1, 2):
            array = value
            if array.dtype.kind == "b":
                array = array.astype(np.uint8)
            elif array.dtype in (np.int64, np.uint64):
                array = array.astype(np.int32 if array.dtype == np.int64 else np.uint32)
            elif array.dtype == np.float16:
                array = array.astype(np.float32)
            array = np.ascontiguousarray(array)
            return {
                "__ndarray__": True,
                "dtype": str(array.dtype),
                "shape": list(array.shape),
                "buffer": memoryview(array),
            }
        return encode(value.tolist())
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if all(type(item) is str for item in value):  # labels: the common long list
            return list(value)
        return [encode(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _props(obj: Any) -> dict:
    """The JSON-like properties of a plotly object, without ``to_plotly_json``'s deep copy.

    ``encode`` builds a new structure from it and plotly replaces (never mutates) the arrays it
    holds, so reading them directly is safe and saves a copy of every array per update.
    """
    props = getattr(obj, "_props", None)
    return props if isinstance(props, dict) else obj.to_plotly_json()


class Plot:
    """A ``go.Figure`` (``.figure``) shown by a :class:`PlotWidget` (``.widget``).

    Update it as ``with plot.batch_update(): plot.figure.data[0].z = ...``; on exit the full state
    is synced once. ``on_click(callback)`` registers ``callback(points: list[ClickPoint])``.
    """

    def __init__(
        self, figure: go.Figure | dict, classes: Sequence[str] = (), min_font: int = 0
    ) -> None:
        # a builder's dict (explain._render.plotly): the figure is that dict, kept to update
        # only what changes (:meth:`show`)
        self._shown: dict | None = figure if isinstance(figure, dict) else None
        self.figure = go.Figure(figure) if isinstance(figure, dict) else figure
        # The whole first state travels with the widget's opening message, none of it in a
        # later update: a page busy drawing when the widget opens may drop every update of
        # it (plot.js, takeMessages), and this figure is what it shows until it catches up.
        own = uuid.uuid4().hex
        self.widget = PlotWidget(
            **self._figure_state(),
            revision=1,
            min_font=min_font,
            own_id=own,
            model_id=own,
            _dom_classes=tuple(classes),
        )
        # One message right after: anywidget makes it wait for the module and, should that
        # take over 2 s, drops it; without one, that failure is an uncaught error in the page.
        self.widget.send({"event": "opened"})
        self._click_callbacks: list[Callable[[list[ClickPoint]], None]] = []
        self.widget.on_msg(self._handle_message)
        self._depth = 0
        # playing in the browser: the frames that fit the figure, the key of those sent to
        # the page, whether the play button plays (set by the view), an update held back
        self._frames: tuple[str, Callable[[], Frames]] | None = None
        self._sent = ""
        self._refused = ""  # the key of frames over the budget: this plot plays through the kernel
        self.playing: Callable[[], bool] = lambda: False
        self._held = False

    @contextlib.contextmanager
    def batch_update(self, data: bool = True) -> Iterator[go.Figure]:
        """Change the figure inside; the browser gets one consistent update at the end.

        ``data=False`` promises that only the layout changed, so traces are not re-sent.
        """
        self._depth += 1
        try:
            with self.figure.batch_update():
                yield self.figure
        finally:
            self._depth -= 1
        if self._depth == 0:
            self.push(data=data)

    def push(self, data: bool = True) -> None:
        """Sync the figure to the widget: the layout, and the traces unless ``data=False``.

        Traits only travel when they changed (traitlets compares), so this is cheap to repeat.
        While the page plays this plot's frames (:meth:`set_frames`) the update is held back
        until :meth:`release`.
        """
        key = self._frames[0] if self._frames is not None else ""
        if key and key == self._sent == self.widget.frames_key and self.playing():
            self._held = True
            return
        self._held = False
        with self.widget.hold_sync():
            for name, value in self._figure_state(data).items():
                setattr(self.widget, name, value)
            self.widget.frames_key = key
            self.widget.revision += 1

    def _figure_state(self, data: bool = True) -> dict[str, Any]:
        """The widget's figure traits: ``fig_layout``, and ``fig_data`` unless ``data=False``."""
        state: dict[str, Any] = {"fig_layout": encode(_props(self.figure.layout))}
        if data:
            state["fig_data"] = [encode(_props(trace)) for trace in self.figure.data]
        return state

    @property
    def built(self) -> bool:
        """Whether a builder draws this plot (:meth:`show`), rather than its view by hand."""
        return self._shown is not None

    def show(self, figure: dict) -> None:
        """Show ``figure``, a builder's dict (:mod:`explain._render.plotly`): only what differs
        from the last one shown is set on :attr:`figure` (a new z, title, annotations), so the
        figure ends equal to ``go.Figure(figure)`` at the cost of the change."""
        from explain._render.plotly.blocks import changes, same_traces

        last, self._shown = self._shown, figure
        if last is None or not same_traces(last, figure):
            with self.batch_update() as shown:
                shown.data = []
                shown.layout = figure.get("layout", {})
                shown.add_traces(figure["data"])
            return
        traces, layout = changes(last, figure)
        if not traces and not layout:
            if (self._frames[0] if self._frames else "") != self.widget.frames_key:
                self.push(data=False)  # the same figure, new frames (set_frames): say so
            return
        with self.batch_update(data=bool(traces)) as shown:
            # one property set per changed key: what update(..., overwrite=True) does, without
            # its walk through every key (LossView step 1.5 -> 1.1 ms, bench/widgets.py)
            for index, changed in traces.items():
                trace = shown.data[index]
                for key, value in changed.items():
                    trace[key] = value
            for key, value in layout.items():
                shown.layout[key] = value

    def set_frames(self, key: str, frames: Callable[[], Frames] | None) -> None:
        """The frames of this plot's time-lapse, made by ``frames()`` when the page asks.

        ``key`` names them: a new key (another head, another part) says the figure changed
        beyond z, title and annotations, so the page asks again. Call it in ``batch_update``;
        ``frames=None`` plays through the kernel.
        """
        self._frames = (key, frames) if frames is not None else None

    @property
    def through_kernel(self) -> bool:
        """Whether the page plays this plot's frames through the kernel (over the budget)."""
        return self._frames is not None and self._refused == self._frames[0]

    def release(self) -> None:
        """The play stopped: send the update held back while the page played (if any)."""
        if self._held:
            self.push()

    def _send_frames(self, key: Any) -> None:
        """The page asks for the frames named ``key``: send them, if they still fit the figure
        and their arrays fit ``FRAMES_MAX_BYTES`` (else ``n: 0``: the page plays through the
        kernel)."""
        if self._frames is None or key != self._frames[0] or key != self.widget.frames_key:
            return  # an old request: the figure changed since
        frames = self._frames[1]()
        arrays, traces = [], []
        for index, z in frames.z.items():
            shown = np.asarray(self.figure.data[index].z)
            dtype = np.dtype(encode(shown[:1])["dtype"])  # as the figure's z travels
            array = np.ascontiguousarray(z, dtype=dtype)
            if array.shape[1:] != shown.shape or len(array) != len(frames):
                raise ValueError(
                    f"frames of trace {index} have shape {array.shape}; expected "
                    f"[{len(frames)}, *{shown.shape}]"
                )
            arrays.append(array)
            traces.append({"index": index, "dtype": str(dtype), "shape": list(shown.shape)})
        for name, values in (("titles", frames.titles), ("annotations", frames.annotations)):
            if values is not None and len(values) != len(frames):
                raise ValueError(f"{len(values)} {name} for {len(frames)} frames")
        content: dict[str, Any] = {"event": "frames", "key": key, "n": len(frames)}
        if sum(a.nbytes for a in arrays) > FRAMES_MAX_BYTES:
            log.info("frames of %s: over %d bytes, played through the kernel", key,
                     FRAMES_MAX_BYTES)  # fmt: skip
            self._refused = key
            self.widget.send({**content, "n": 0})
            return
        content.update(traces=traces, titles=frames.titles, annotations=encode(frames.annotations))
        self.widget.send(content, buffers=[memoryview(a) for a in arrays])
        self._sent = key

    def _resend_if_behind(self, revision: Any) -> None:
        """A view in the page holds ``revision``: send the whole figure if that is not ours.

        Every view reports its revision when it is rendered. An update the page never applied
        (a model created from an older state, an update lost while the page was loading) would
        otherwise leave that view blank until the next change; this sends the state again.
        """
        if revision == self.widget.revision:
            return
        log.debug("a view holds revision %r of %d: sending the figure again", revision,
                  self.widget.revision)  # fmt: skip
        self.widget.send_state(
            ["fig_data", "fig_layout", "fig_config", "revision", "min_font", "frames_key"]
        )

    def on_click(self, callback: Callable[[list[ClickPoint]], None]) -> None:
        """Call ``callback(points)`` when the user clicks a point of this figure."""
        self._click_callbacks.append(callback)

    def _handle_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "view":
            self._resend_if_behind(content.get("revision"))
            return
        if isinstance(content, dict) and content.get("event") == "frames":
            self._send_frames(content.get("key"))
            return
        if isinstance(content, dict) and content.get("event") == "page":
            for listener in PAGE_LISTENERS:
                listener(bool(content.get("dark")), bool(content.get("presentation")))
            return
        if not isinstance(content, dict) or content.get("event") != "click":
            return
        points = [
            ClickPoint(int(p.get("curve", 0)), p.get("x"), p.get("y"), p.get("index"))
            for p in content.get("points") or []
            if isinstance(p, dict)
        ]
        if not points:
            return
        for callback in self._click_callbacks:
            try:
                callback(points)
            except ValueError as error:  # a click that cannot be shown: say so, keep the view
                log.warning("ignored click: %s", error)


def box(children: Sequence[ipywidgets.Widget], vertical: bool = True, **kwargs: Any) -> Any:
    """A VBox/HBox of ``children``."""
    cls = ipywidgets.VBox if vertical else ipywidgets.HBox
    return cls(list(children), **kwargs)
