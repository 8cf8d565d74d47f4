"""What every view shares: a trace, a step control, plots, a theme, and input checks.

A view reads a :class:`explain.trace.Trace` (recorded, loaded, or growing while a model
trains). Its step is one of the trace's snapshot steps, held by a :class:`StepControl`; a
dashboard hands one control to every view so they move together.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets
import numpy as np

from explain.trace import Trace

from ._plot import Plot, box, plotly_library
from ._static import static_bundle, wants_html
from .theme import LIGHT, Theme, restyle, theme_classes
from .theme import theme as as_theme

log = logging.getLogger(__name__)


# -- input checks ---------------------------------------------------------------------------
def require_trace(trace: object) -> Trace:
    """``trace`` if it is a Trace with at least one snapshot, else a ValueError saying why."""
    if not isinstance(trace, Trace):
        raise ValueError(
            f"expected an explain Trace (explain.load_trace, explain.train(...).trace); "
            f"got {type(trace).__name__}"
        )
    if len(trace) == 0:
        raise ValueError("the trace is empty: expected at least one snapshot (step 0)")
    return trace


def require_index(what: str, value: object, count: int) -> int:
    """``value`` as an int in ``[0, count)``, else a ValueError naming ``what`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{what} must be an integer; got {value!r}")
    if not 0 <= value < count:
        raise ValueError(f"{what} {value} is out of range; expected 0..{count - 1}")
    return int(value)


# -- the shared step -------------------------------------------------------------------------
_default: list[Theme] = [LIGHT]  # the theme of views created without one (set_theme)
_VIEWS: weakref.WeakSet[View] = weakref.WeakSet()  # every view alive, to restyle


class NotebookStyle:
    """What :func:`set_theme` returns: shown as a cell's value, it styles the notebook's own
    text (printed output and markdown) in the theme: larger in the presentation theme."""

    def __init__(self, value: Theme) -> None:
        self.theme = value

    def _repr_html_(self) -> str:
        size = self.theme.min_font_size + 2 if self.theme.min_font_size >= 16 else None
        printed = f"{size}px" if size else "var(--jp-code-font-size)"
        written = f"{size}px" if size else "var(--jp-content-font-size1)"
        # scoped to the notebook, more specific than JupyterLab's own rules for these
        return (
            "<style>"
            f".jp-Notebook .jp-OutputArea-output.jp-RenderedText pre {{ font-size: {printed}; }}"
            ".jp-Notebook .jp-RenderedMarkdown.jp-RenderedHTMLCommon, "
            ".jp-Notebook .jp-RenderedMarkdown.jp-RenderedHTMLCommon p, "
            ".jp-Notebook .jp-RenderedMarkdown.jp-RenderedHTMLCommon li "
            f"{{ font-size: {written}; }}"
            "</style>"
        )

    def __repr__(self) -> str:
        return f"NotebookStyle({self.theme.name!r})"


def set_theme(value: Theme | str) -> NotebookStyle:
    """Use ``value`` (``"light"``, ``"dark"``, ``"presentation"`` or a Theme) for every view made
    after this without a ``theme=``, and restyle every view already made. As the last line of a
    cell, it also sets the size of the notebook's printed text and markdown (the presentation
    theme enlarges them)."""
    chosen = as_theme(value)
    _default[0] = chosen
    for view in list(_VIEWS):
        if view.theme != chosen:  # a dashboard restyles its own views first
            view.set_theme(chosen)
    return NotebookStyle(chosen)


def default_theme() -> Theme:
    """The theme of a view made without ``theme=`` (:func:`set_theme` changes it)."""
    return _default[0]


class StepControl:
    """Play/pause, previous/next and a slider over the trace's snapshot steps.

    ``value`` is the current step; ``observe(callback)`` calls ``callback(step)`` on changes.
    Setting a step that has no snapshot raises ValueError; ``go_to(step)`` moves to the nearest
    snapshot instead (what a click on a loss curve does). ``interval_ms`` is the play button's
    wait between steps: its next step comes that long after the page handled the last one (30 ms:
    ~25-30 steps a second; issue 11 asks >= 20 frames a second, bench/playback.py measures it in
    JupyterLab). ``playing`` is whether the play button plays; ``observe_stop(callback)`` calls
    ``callback()`` when it stops.
    """

    def __init__(self, steps: Sequence[int], value: int | None = None, interval_ms: int = 30):
        steps = [int(s) for s in steps]
        if not steps:
            raise ValueError("a step control needs at least one snapshot step; the trace has none")
        self._steps = steps
        self._callbacks: list[Callable[[int], None]] = []
        self._stop_callbacks: list[Callable[[], None]] = []
        self._busy = False
        self.slider = ipywidgets.SelectionSlider(
            options=[(str(s), s) for s in steps],
            value=steps[-1] if value is None else self._checked(value),
            description="step",
            continuous_update=False,
            layout=ipywidgets.Layout(width="420px"),
        )
        self.slider.add_class("explain-step-slider")
        self.play = ipywidgets.Play(
            value=self.slider.index,
            min=0,
            max=max(0, len(steps) - 1),
            interval=max(20, int(interval_ms)),  # a floor: the kernel path keeps up
            show_repeat=False,
        )
        self.play.add_class("explain-play")
        self.previous = ipywidgets.Button(icon="step-backward", tooltip="previous snapshot")
        self.next = ipywidgets.Button(icon="step-forward", tooltip="next snapshot")
        for button, name in ((self.previous, "prev"), (self.next, "next")):
            button.layout.width = "40px"
            button.add_class(f"explain-step-{name}")
        self.previous.on_click(lambda _: self.move(-1))
        self.next.on_click(lambda _: self.move(1))
        # The slider follows the play button through the kernel (a step or two behind while it
        # plays): a link in the page fought the arrow keys (each echo undid a later key press).
        self.play.observe(self._on_play, names="value")
        self.play.observe(self._on_playing, names="playing")
        self.slider.observe(self._on_slider, names="value")
        # one snapshot: nothing to move to, and a slider would sit at its left end while its
        # readout names the last step; the control says only which step it is
        self.only = ipywidgets.HTML(layout=ipywidgets.Layout(margin="0 0 0 8px"))
        self.only.add_class("explain-step-only")
        self._show_moving()
        self.widget = ipywidgets.HBox([self.play, self.previous, self.next, self.slider, self.only])
        self.widget.add_class("explain-step-control")

    @property
    def steps(self) -> list[int]:
        return list(self._steps)

    @property
    def value(self) -> int:
        return int(self.slider.value)

    @property
    def playing(self) -> bool:
        return bool(self.play.playing)

    @value.setter
    def value(self, step: int) -> None:
        self.slider.value = self._checked(step)

    def checked(self, step: object) -> int:
        """``step`` as an int if it has a snapshot, else a ValueError naming the snapshots."""
        return self._checked(step)

    def _checked(self, step: object) -> int:
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise ValueError(f"step must be an integer snapshot step; got {step!r}")
        step = int(step)
        if step not in self._steps:
            shown = (
                self._steps
                if len(self._steps) <= 8
                else [*self._steps[:4], "...", *self._steps[-3:]]
            )
            raise ValueError(
                f"step {step} has no snapshot; expected one of the snapshot steps {shown}"
            )
        return step

    def nearest(self, step: float) -> int:
        """The snapshot step nearest ``step`` (ValueError outside the recorded range)."""
        if not np.isfinite(step) or not self._steps[0] - 0.5 <= step <= self._steps[-1] + 0.5:
            raise ValueError(
                f"step {step} is outside the recorded snapshots [{self._steps[0]}, "
                f"{self._steps[-1]}]"
            )
        steps = np.asarray(self._steps)
        return int(steps[int(np.argmin(np.abs(steps - step)))])

    def go_to(self, step: float) -> int:
        """Move to the snapshot nearest ``step``; returns the step moved to."""
        self.value = self.nearest(step)
        return self.value

    def move(self, by: int) -> None:
        """Step ``by`` snapshots forward (negative: back), stopping at the ends."""
        index = int(np.clip(self.slider.index + by, 0, len(self._steps) - 1))
        self.slider.index = index

    def observe(self, callback: Callable[[int], None]) -> None:
        self._callbacks.append(callback)

    def observe_stop(self, callback: Callable[[], None]) -> None:
        self._stop_callbacks.append(callback)

    def link(self, plot: Plot) -> tuple[Any, Any]:
        """Let the page play ``plot``'s frames (:meth:`Plot.set_frames`): the play button's
        position and state drive its ``frame`` and ``playing`` in the page, and the kernel holds
        its updates while the play button plays."""
        plot.playing = lambda: self.playing
        return (
            ipywidgets.jsdlink((self.play, "value"), (plot.widget, "frame")),
            ipywidgets.jsdlink((self.play, "playing"), (plot.widget, "playing")),
        )

    def set_steps(self, steps: Sequence[int], follow: bool = False) -> None:
        """New snapshot steps (a live trace grew); keeps the step, or moves to the last one."""
        steps = [int(s) for s in steps]
        if not steps:
            raise ValueError("a step control needs at least one snapshot step")
        if steps == self._steps:
            if follow and self.value != steps[-1]:
                self.value = steps[-1]
            return
        old = self.value
        target = steps[-1] if follow or old not in steps else old
        self._busy = True  # replacing options fires intermediate changes: report one at the end
        try:
            self._steps = steps
            self.slider.options = [(str(s), s) for s in steps]
            self.slider.value = target
            self.play.max = max(0, len(steps) - 1)
            self.play.value = self.slider.index
            self._show_moving()
        finally:
            self._busy = False
        if target != old:
            self._notify(target)

    def _show_moving(self) -> None:
        """The moving controls with two snapshots or more; with one, only "step N"."""
        single = len(self._steps) == 1
        for control in (self.play, self.previous, self.next, self.slider):
            control.layout.display = "none" if single else None
        self.only.value = f"step {self._steps[0]}" if single else ""
        self.only.layout.display = None if single else "none"

    def _on_play(self, change: dict) -> None:
        if not self._busy and 0 <= change["new"] < len(self._steps):
            self.slider.index = int(change["new"])

    def _on_playing(self, change: dict) -> None:
        if not change["new"]:
            for callback in self._stop_callbacks:
                callback()

    def _on_slider(self, change: dict) -> None:
        if self._busy or change["new"] is None:
            return
        self._busy = True
        try:
            self.play.value = self.slider.index
        finally:
            self._busy = False
        self._notify(int(change["new"]))

    def _notify(self, step: int) -> None:
        for callback in self._callbacks:
            callback(step)


# -- a head chosen by three dropdowns ------------------------------------------------------------
class HeadSelection:
    """``part``, ``layer`` and ``head`` read from a view's ``part_select``, ``layer_select`` and
    ``head_select`` dropdowns."""

    part_select: ipywidgets.Dropdown
    layer_select: ipywidgets.Dropdown
    head_select: ipywidgets.Dropdown

    @property
    def part(self) -> str:
        return str(self.part_select.value)

    @property
    def layer(self) -> int:
        return int(self.layer_select.value)

    @property
    def head(self) -> int:
        return int(self.head_select.value)


# -- the view base ---------------------------------------------------------------------------
# How often a view drawn through the kernel follows the play button while it plays (seconds).
PLAYING_EVERY_S = 1.0


class View:
    """Base of every view: ``trace``, ``step``, ``widget`` (the ipywidgets root to display).

    ``display(view)`` shows ``view.widget``. Subclasses build their plots once in ``__init__``,
    end it with ``self._ready()``, then update them in place from ``_update()`` when the step
    (or a selector) changes. Every view takes the keywords of this base, which a subclass passes
    on as ``**view``: ``step`` (the snapshot step shown first), ``step_control`` (a shared
    :class:`StepControl`, as the Dashboard gives every view) and ``theme`` (a Theme or
    ``"light"``, ``"dark"``, ``"presentation"``).
    """

    css_class = "explain-view"
    trace_optional = False

    def __init__(
        self,
        trace: Trace | None,
        *,
        step: int | None = None,
        step_control: StepControl | None = None,
        theme: Theme | str | None = None,
    ) -> None:
        # Only views that can show a formula without data (PositionalView) accept trace=None.
        self.trace = require_trace(trace) if trace is not None or not self.trace_optional else None
        # no theme given: the notebook's (:func:`set_theme`); the view follows a later one
        self.theme = as_theme(theme) if theme is not None else _default[0]
        _VIEWS.add(self)
        self.plots: list[Plot] = []
        self._owns_control = step_control is None and self.trace is not None
        if self.trace is not None and step_control is None:
            step_control = StepControl(self.trace.snapshot_steps.tolist(), value=step)
        elif step_control is not None and step is not None:
            step_control.value = step
        self.step_control = step_control
        self._links: list[Any] = []  # the page's links from the play button to played plots
        # following a play through the kernel: when it last drew (never yet), whether it is behind
        self._updated_at, self._behind = -math.inf, False
        self._connected = False
        self.widget: ipywidgets.Box = ipywidgets.VBox()

    def _ready(self) -> None:
        """End of a subclass's ``__init__``: its plots exist, so follow the step and draw.

        The base subscribes here, not in ``__init__``, so no callback ever meets a view whose
        plots are not built yet.
        """
        if not self._connected:
            self._connected = True
            if self.step_control is not None:
                self.step_control.observe(self._on_step)
                self.step_control.observe_stop(self._on_stop)
        self._update()

    # -- public ------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """The snapshot step shown; setting one that has no snapshot raises ValueError."""
        return self._control().value

    @step.setter
    def step(self, value: int) -> None:
        self._control().value = value

    def _control(self) -> StepControl:
        if self.step_control is None:
            raise ValueError(f"this {type(self).__name__} shows no trace, so it has no step")
        return self.step_control

    def refresh(self, follow: bool = False, draw: bool = True) -> None:
        """Re-read the trace (it grew while training); ``follow`` moves to the newest step.

        ``draw=False`` only re-reads: a view sharing its step control (a dashboard's) draws
        when the shared step moves, or on :meth:`redraw`.
        """
        if self._owns_control and self.step_control is not None and self.trace is not None:
            self.step_control.set_steps(self.trace.snapshot_steps.tolist(), follow=follow)
        self._reload()
        if draw:
            self._update()

    def redraw(self) -> None:
        """Draw the current step and selection again (after :meth:`refresh` with no draw)."""
        self._update()

    def pictures(self) -> list[tuple[bytes, str]]:
        """(PNG, alt text) pictures of the view as it is now: what a saved notebook shows where
        no widget runs (:meth:`_repr_mimebundle_`)."""
        return self._static_images()

    def set_theme(self, theme: Theme | str) -> None:
        """Apply ``theme`` (a Theme or its name) to every figure of the view."""
        theme = self.theme = as_theme(theme)
        restyle(self.widget, theme)
        for plot in self.plots:
            plot.widget.min_font = theme.min_font_size
            if not plot.built:  # a figure the view builds itself, not from a builder
                with plot.batch_update():
                    theme.apply(plot.figure)
        if any(plot.built for plot in self.plots):
            self._update()  # the builders draw in the theme

    def figures(self) -> list[dict]:
        """The plotly figures the view shows now, as dicts (``plotly.io`` JSON of each plot not
        hidden): for views drawn by :mod:`explain._render.plotly`, exactly what
        ``explain.export.interactive`` gives for the same step and selection, less its slider."""
        return [
            plot.figure.to_plotly_json()
            for plot in self.plots
            if plot.widget.layout.display != "none"
        ]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, plus ``text/html`` pictures of the view as it is now: what GitHub,
        nbviewer and ``jupyter nbconvert --to html`` show of a saved notebook (JupyterLab,
        Voila, VS Code and Colab show the widget). A picture never stops the widget showing."""
        name = type(self).__name__
        pictures: list[tuple[bytes, str]] = []
        if wants_html(kwargs.get("include"), kwargs.get("exclude")):
            try:
                pictures = self.pictures()
            except Exception:
                log.warning("no static picture of this %s", name, exc_info=True)
        step = self.step_control.value if self.step_control is not None else None
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return static_bundle(bundle, pictures, self.css_class, name, step)

    def _static_images(self) -> list[tuple[bytes, str]]:
        """(PNG, alt text) pictures of the view as it is now, for :meth:`_repr_mimebundle_`.

        A view draws its view model with ``explain.export.image`` (its matplotlib builder:
        the picture "export this view" gives); the base has none to draw.
        """
        return []

    # -- for subclasses ------------------------------------------------------------------------
    def _plot(self, figure: Any, *classes: str) -> Plot:
        """A plot of ``figure``: a builder's dict (:mod:`explain._render.plotly`, themed
        already, updated with :meth:`Plot.show`), or a ``go.Figure`` the view themes here."""
        if not isinstance(figure, dict):
            self.theme.apply(figure)
        plot = Plot(figure, classes, min_font=self.theme.min_font_size)
        self.plots.append(plot)
        return plot

    def _root(self, children: Sequence[ipywidgets.Widget], *classes: str) -> ipywidgets.Box:
        """The view's root box: its own step control (if it owns one), children, plotly.js."""
        head = [self.step_control.widget] if self._owns_control else []
        root = box([*head, *children, plotly_library()])
        for name in dict.fromkeys(
            ("explain-view", self.css_class, *classes, *theme_classes(self.theme))
        ):
            root.add_class(name)
        return root

    def _play_in_browser(self, *plots: Plot) -> None:
        """``plots`` give their frames (:meth:`Plot.set_frames` in ``_update``): while the play
        button plays, the page paints them with no round trip to the kernel."""
        if self.step_control is not None:
            for plot in plots:
                self._links.extend(self.step_control.link(plot))

    def _on_step(self, step: int) -> None:
        # While the play button plays, a view drawn through the kernel follows at most every
        # PLAYING_EVERY_S: plotly redrawing every view at every step kept the page so busy that
        # a dashboard's attention played at ~5 frames a second (busy machine; quiet: 12 at 0.5 s,
        # 16 at 1 s).
        if not self._links and self.step_control is not None and self.step_control.playing:
            now = time.monotonic()
            if now - self._updated_at < PLAYING_EVERY_S:
                self._behind = True
                return
            self._updated_at = now
        self._behind = False
        self._update()

    def _on_stop(self) -> None:
        if self._behind:
            self._behind = False
            self._update()
        for plot in self.plots:
            plot.release()

    def _reload(self) -> None:
        """Re-read arrays from the trace (after it grew)."""

    def _update(self) -> None:
        """Show the current step and selection (in place, inside batch_update)."""
        raise NotImplementedError
