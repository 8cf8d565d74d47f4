"""What every view shares: a trace, a step control, plots, a theme, and input checks.

A view reads a :class:`explain.trace.Trace` (recorded, loaded, or growing while a model
trains). Its step is one of the trace's snapshot steps, held by a :class:`StepControl`; a
dashboard hands one control to every view so they move together.
"""

from __future__ import annotations

import logging
import math
import pathlib
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import ipywidgets
import numpy as np
import traitlets

from explain import views
from explain.trace import Trace

from ._plot import PAGE_LISTENERS, Plot, box, plotly_library
from ._static import (
    caption,
    label,
    live_class,
    static_bundle,
    static_html,
    static_output,
    wants_html,
)
from .theme import DARK, LIGHT, Theme, restyle, theme_classes
from .theme import theme as as_theme

log = logging.getLogger(__name__)


def _shows_html() -> bool:
    """Whether the IPython running this shows ``text/html`` (a kernel does, a terminal not)."""
    from IPython import get_ipython

    shell = get_ipython()
    formatter = getattr(shell, "display_formatter", None)
    return formatter is None or "text/html" in formatter.active_types


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


def set_theme(value: Theme | str | None) -> NotebookStyle:
    """Use ``value`` (``"light"``, ``"dark"``, ``"presentation"`` or a Theme) for every view made
    after this without a ``theme=``, and restyle every view already made. As the last line of a
    cell, it also sets the size of the notebook's printed text and markdown (the presentation
    theme enlarges them). Until it is called, and again after ``set_theme(None)``, views made
    without a theme follow JupyterLab's own: its dark theme, and its Presentation Mode."""
    if value is None:
        _follow[0] = True
        chosen = _default[0] = page_theme(*_page[0])
        views = [view for view in list(_VIEWS) if view._follows_notebook]
    else:
        chosen = _default[0] = as_theme(value)
        _follow[0] = False  # the notebook chose: JupyterLab's theme no longer decides
        views = list(_VIEWS)
    for view in views:
        if view.theme != chosen:  # a dashboard restyles its own views first
            view.set_theme(chosen)
    return NotebookStyle(chosen)


def default_theme() -> Theme:
    """The theme of a view made without ``theme=`` (:func:`set_theme` changes it)."""
    return _default[0]


# Until the notebook calls set_theme, views made without a theme follow the page they are drawn
# in: JupyterLab's dark theme and its Presentation Mode (View → Appearance), as each plot's page
# reports them (widgets/plot.js sends {"event": "page", "dark", "presentation"} when it is drawn
# and when either changes).
_follow: list[bool] = [True]
_page: list[tuple[bool, bool]] = [(False, False)]  # (dark, presentation), as last reported


def page_theme(dark: bool, presentation: bool) -> Theme:
    """The theme that matches a JupyterLab page: dark or light, large in Presentation Mode."""
    if presentation:
        return Theme.presentation(dark=dark)
    return DARK if dark else LIGHT


def follow_page(dark: bool, presentation: bool) -> None:
    """The page looks ``dark`` and/or is in ``presentation`` mode: unless :func:`set_theme`
    chose a theme, make it the default and restyle every view made without one."""
    look = (bool(dark), bool(presentation))
    if look == _page[0]:
        return
    _page[0] = look
    if not _follow[0]:
        return
    chosen = page_theme(*look)
    _default[0] = chosen
    for view in list(_VIEWS):
        if view._follows_notebook and view.theme != chosen:
            view.set_theme(chosen)


PAGE_LISTENERS.append(follow_page)


# The play button's speeds (the speed menu), and "slow around emergence": the snapshots within
# SLOW_AROUND of a step where a head's pattern appeared play at SLOW_FACTOR of the speed. In the
# induction run of notebook 09 the phase change spans ~9 snapshots (steps 256-312), which at 1x
# passed in under 0.3 s; 4 either side of each head's emergence (280-312) covers it, at 1/4.
SPEEDS = (0.25, 0.5, 1.0, 2.0)
SLOW_AROUND = 4
SLOW_FACTOR = 0.25
_MIN_INTERVAL_MS = 8  # the shortest wait asked of the play button (2x of 20 ms is 10)


def emergence_steps(trace: Trace) -> list[int]:
    """The steps where a head's pattern appeared (:func:`explain.analysis.emergence`; a head
    that shows it from step 0 on appeared at no step), sorted; none without attention, and
    none with one snapshot: it plays nothing (and scoring a 1,024-token attention takes 0.3 s;
    a trace that grows gets them again, :meth:`View.refresh`)."""
    from explain import analysis

    if len(trace.snapshot_steps) < 2:
        return []
    try:
        found = analysis.emergence(trace)
    except (ValueError, KeyError):
        return []
    return sorted({int(step) for steps in found.values() for step in np.ravel(steps) if step > 0})


class PlayPace(anywidget.AnyWidget):
    """The page side of a :class:`StepControl` (widgets/step.js): while the play button plays,
    it moves the slider to each step the button reaches in the same instant (no kernel round
    trip: a page-played plot draws that step then too), and waits ``intervals[index]`` ms after
    showing snapshot ``index`` (the speed, slower around emergence)."""

    _esm = pathlib.Path(__file__).parent / "step.js"
    play = traitlets.Instance(ipywidgets.Play).tag(sync=True, **ipywidgets.widget_serialization)
    slider = traitlets.Instance(ipywidgets.SelectionSlider).tag(
        sync=True, **ipywidgets.widget_serialization
    )
    intervals = traitlets.List(traitlets.Int()).tag(sync=True)


class StepControl:
    """Play/pause, previous/next, a slider over the trace's snapshot steps, and the play's speed.

    ``value`` is the current step; ``observe(callback)`` calls ``callback(step)`` on changes.
    Setting a step that has no snapshot raises ValueError; ``go_to(step)`` moves to the nearest
    snapshot instead (what a click on a loss curve does). ``interval_ms`` is the play button's
    wait between steps at 1x: its next step comes that long after the page handled the last one
    (30 ms: ~25-30 steps a second; issue 11 asks >= 20 frames a second, bench/playback.py
    measures it in JupyterLab). ``speed`` (a menu of :data:`SPEEDS`) divides it; ``slow``
    ("slow around emergence", shown when ``moments`` names steps, e.g. :func:`emergence_steps`)
    plays the snapshots near those steps at :data:`SLOW_FACTOR` of the speed.
    ``playing`` is whether the play button plays; ``observe_stop(callback)`` calls ``callback()``
    when it stops.

    While it plays, the page moves the slider with the play button (:class:`PlayPace`), so the
    slider, its readout and a page-played plot's title show one step at every instant, and the
    kernel follows the slider; where a plot plays through the kernel (its frames over the
    budget), the kernel moves the slider right after that plot's update.
    """

    def __init__(
        self,
        steps: Sequence[int],
        value: int | None = None,
        interval_ms: int = 30,
        moments: Sequence[int] = (),
        named: bool = True,
    ):
        steps = [int(s) for s in steps]
        # False for a trace of a model trained elsewhere (explain.views.trained): its one
        # snapshot is no training step, so the control names none (it said "step 0")
        self._named = named
        if not steps:
            raise ValueError("a step control needs at least one snapshot step; the trace has none")
        self._steps = steps
        self._interval_ms = max(20, int(interval_ms))  # a floor: the kernel path keeps up
        self._moments = sorted({int(m) for m in moments})
        self._callbacks: list[Callable[[int], None]] = []
        self._stop_callbacks: list[Callable[[], None]] = []
        self._plots: list[Plot] = []  # the plots the page plays (link)
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
            interval=self._interval_ms,
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
        # the speed: a small menu ("1×" is 2 characters at the theme's size, auto width)
        self.speed = ipywidgets.Dropdown(
            options=[(f"{s:g}×", s) for s in SPEEDS],
            value=1.0,
            tooltip="playing speed",
            layout=ipywidgets.Layout(width="auto"),
        )
        self.speed.add_class("explain-speed")
        self.slow = ipywidgets.Checkbox(
            value=False,
            description="slow around emergence",
            tooltip=f"play the {SLOW_AROUND} snapshots either side of a step where a head's "
            f"pattern appeared at {SLOW_FACTOR:g} of the speed",
            indent=False,
            layout=ipywidgets.Layout(width="auto", margin="0 0 0 8px"),
        )
        self.slow.add_class("explain-slow")
        self.pace = PlayPace(play=self.play, slider=self.slider, intervals=self._intervals())
        self.pace.layout.display = "none"
        self.speed.observe(self._on_pace, names="value")
        self.slow.observe(self._on_pace, names="value")
        # The page moves the slider with the play button while it plays (PlayPace); the kernel
        # moves it otherwise (a stop, or where no page runs step.js). A link in the page both
        # ways fought the arrow keys (each echo undid a later key press).
        self.play.observe(self._on_play, names="value")
        self.play.observe(self._on_playing, names="playing")
        self.slider.observe(self._on_slider, names="value")
        # one snapshot: nothing to move to, and a slider would sit at its left end while its
        # readout names the last step; the control says only which step it is
        self.only = ipywidgets.HTML(layout=ipywidgets.Layout(margin="0 0 0 8px"))
        self.only.add_class("explain-step-only")
        self._show_moving()
        self.widget = ipywidgets.HBox(
            [self.play, self.previous, self.next, self.slider, self.speed, self.slow,
             self.only, self.pace]
        )  # fmt: skip
        self.widget.add_class("explain-step-control")

    @property
    def steps(self) -> list[int]:
        return list(self._steps)

    @property
    def interval_ms(self) -> int:
        """The play button's wait between steps at 1x (ms; at least 20)."""
        return self._interval_ms

    @interval_ms.setter
    def interval_ms(self, value: int) -> None:
        self._interval_ms = max(20, int(value))
        self._on_pace({})

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
        self.play.value = index  # playing, the play goes on from there (else _on_slider did)

    def observe(self, callback: Callable[[int], None]) -> None:
        self._callbacks.append(callback)

    def observe_stop(self, callback: Callable[[], None]) -> None:
        self._stop_callbacks.append(callback)

    def link(self, plot: Plot) -> tuple[Any, Any]:
        """Let the page play ``plot``'s frames (:meth:`Plot.set_frames`): the play button's
        position and state drive its ``frame`` and ``playing`` in the page, and the kernel holds
        its updates while the play button plays."""
        plot.playing = lambda: self.playing
        plot.widget.play = self.play
        self._plots.append(plot)
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
            self.pace.intervals = self._intervals()
            self._show_moving()
        finally:
            self._busy = False
        if target != old:
            self._notify(target)

    def set_moments(self, moments: Sequence[int]) -> None:
        """The steps to slow around (:func:`emergence_steps` of a trace that grew)."""
        self._moments = sorted({int(m) for m in moments})
        self.pace.intervals = self._intervals()
        self._show_moving()

    @property
    def slowed(self) -> list[int]:
        """The snapshot steps "slow around emergence" plays slowly (ticked or not)."""
        steps = np.asarray(self._steps)
        near: set[int] = set()
        for moment in self._moments:
            if steps[0] <= moment <= steps[-1]:
                index = int(np.argmin(np.abs(steps - moment)))
                near.update(range(max(0, index - SLOW_AROUND), index + SLOW_AROUND + 1))
        return [self._steps[i] for i in sorted(near) if i < len(self._steps)]

    def _intervals(self) -> list[int]:
        """Per snapshot index, the play's wait (ms) after showing it: the speed's, and
        1 / SLOW_FACTOR of it near emergence when "slow around emergence" is ticked."""
        wait = self._interval_ms / float(self.speed.value)
        slowed = set(self.slowed) if self.slow.value else set()
        return [
            max(_MIN_INTERVAL_MS, round(wait / SLOW_FACTOR if step in slowed else wait))
            for step in self._steps
        ]

    def _on_pace(self, _change: dict) -> None:
        """A speed or "slow around emergence" chosen: the page's waits (step.js) and the play
        button's own (what it waits where the page runs no step.js)."""
        self.pace.intervals = self._intervals()
        self.play.interval = max(_MIN_INTERVAL_MS, round(self._interval_ms / self.speed.value))

    def _show_moving(self) -> None:
        """The moving controls with two snapshots or more; with one, only "step N"."""
        single = len(self._steps) == 1
        for control in (self.play, self.previous, self.next, self.slider, self.speed):
            control.layout.display = "none" if single else None
        self.slow.layout.display = None if self.slowed and not single else "none"
        self.only.value = f"step {self._steps[0]}" if single and self._named else ""
        self.only.layout.display = None if single and self._named else "none"

    def _on_play(self, change: dict) -> None:
        # Playing, the page moves the slider (step.js) when its plots draw the step; from here
        # it would reach the page while they still wait for their frames, a step ahead of them.
        # The kernel moves it when stopped (the stop button: the first step), and while a plot
        # plays through the kernel (frames over the budget): then after that plot's update, so
        # that the readout reaches the page with the title.
        if self._busy or not 0 <= change["new"] < len(self._steps):
            return
        if self.playing and not any(plot.through_kernel for plot in self._plots):
            return
        with self.slider.hold_sync():
            self.slider.index = int(change["new"])

    def _on_playing(self, change: dict) -> None:
        if not change["new"]:
            for callback in self._stop_callbacks:
                callback()

    def _on_slider(self, change: dict) -> None:
        if self._busy or change["new"] is None:
            return
        if not self.playing:  # playing, the play button leads (an echo would take it back)
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
        self._follows_notebook = theme is None  # restyled by set_theme or the page (follow_page)
        _VIEWS.add(self)
        self.plots: list[Plot] = []
        self._owns_control = step_control is None and self.trace is not None
        if self.trace is not None and step_control is None:
            step_control = StepControl(
                self.trace.snapshot_steps.tolist(),
                value=step,
                moments=emergence_steps(self.trace),
                named=views.trained(self.trace),
            )
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
            self.step_control.set_moments(emergence_steps(self.trace))
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

    def page_figures(self) -> list[dict]:
        """The figures a page shows of the view (``explain handout``): what
        ``explain.export.interactive`` gives for its view model, step and selection, each with
        its step slider; :meth:`figures` less the slider. A dashboard gives its views'."""
        parts = getattr(self, "views", None)
        if isinstance(parts, dict):  # a Dashboard: the figures of each of its views
            return [figure for view in parts.values() for figure in view.page_figures()]
        data = getattr(self, "data", None)
        if data is None:  # a view not drawn from a view model: its figures as they are
            return self.figures()
        from explain import export

        state = getattr(self, "state", {})
        state = state() if callable(state) else state
        figures = export.interactive(data, step=self._page_step(data), theme=self.theme, **state)
        return figures if isinstance(figures, list) else [figures]

    def _page_step(self, data: Any) -> int | None:
        """The step of ``data`` nearest the one shown (None: the view has no step; its last)."""
        steps = np.asarray(getattr(data, "steps", ()))
        if self.step_control is None or not len(steps):
            return None
        return int(steps[np.argmin(np.abs(steps - self.step))])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, plus ``text/html`` pictures of the view as it is now, in one bundle: for
        a frontend that asks for the bundle itself. IPython's ``display`` and a cell's value use
        :meth:`_ipython_display_`, which publishes the pictures as an output of their own."""
        name = type(self).__name__
        wants = wants_html(kwargs.get("include"), kwargs.get("exclude"))
        pictures = self._pictures_or_none() if wants else []
        bundle = self.widget._repr_mimebundle_(**kwargs)
        return static_bundle(bundle, pictures, self.css_class, name, self._shown_step())

    def _ipython_display_(self) -> None:
        """Show the view as two outputs: the widget (``text/plain`` beside it), then its static
        pictures (``text/html``, widgets/_static.py), which a ``<style>`` hides wherever the
        live widget is drawn. With saved widget state ``jupyter nbconvert`` renders a widget
        output as a script that loads from a CDN and drops its ``text/html``: a separate output
        keeps the pictures in offline pages, GitHub and nbviewer. In a handout run
        (``explain.handout``) the widget's output carries the view's page figures instead."""
        from IPython.display import publish_display_data

        from explain import handout

        name, step = type(self).__name__, self._shown_step()
        token = self._live_token()
        bundle = self.widget._repr_mimebundle_() or {}
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = {**data, "text/plain": label(name, step)}
        if handout.running():
            data[handout.MIME] = self._handout_part(name, step)
            publish_display_data(data, metadata)
            return
        publish_display_data(data, metadata)
        pictures = self._pictures_or_none() if _shows_html() else []
        if pictures:
            publish_display_data(static_output(pictures, self.css_class, name, step, token))

    def _handout_part(self, name: str, step: Any) -> dict[str, Any]:
        """The page fragment of the view for a handout: its page figures, else its pictures."""
        from explain import handout

        try:
            return handout.fragment(self.page_figures())
        except Exception:
            log.warning(
                "no page figures of this %s; the handout shows its pictures", name, exc_info=True
            )
        pictures = self._pictures_or_none()
        return {"html": static_html(pictures, self.css_class, caption(name, step)), "traces": []}

    def _live_token(self) -> str:
        """This view's token; its root carries ``live_class(token)`` (see _static.py)."""
        token = getattr(self, "_token", None)
        if token is None:
            token = self._token = uuid.uuid4().hex[:16]
        self.widget.add_class(live_class(token))
        return token

    def _shown_step(self) -> int | None:
        return self.step_control.value if self.step_control is not None else None

    def _pictures_or_none(self) -> list[tuple[bytes, str]]:
        """:meth:`pictures`, or none when they cannot be drawn: a picture never stops the
        widget showing."""
        try:
            return self.pictures()
        except Exception:
            log.warning("no static picture of this %s", type(self).__name__, exc_info=True)
            return []

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
