"""Dashboard: every view in one layout with one shared step, replaying a trace or training live.

DOM hooks (CSS classes, stable for browser tests)
-------------------------------------------------
- ``.explain-dashboard``: the root box. ``.explain-theme-select``: theme dropdown.
- ``.explain-step-control``: the shared step: ``.explain-play`` (ipywidgets Play),
  ``.explain-step-prev`` / ``.explain-step-next`` (buttons), ``.explain-step-slider`` (a
  SelectionSlider over snapshot steps; its ``.widget-readout`` shows the step).
- ``.explain-attention``: ``.explain-part-select`` (encoder-decoder only),
  ``.explain-layer-select``, ``.explain-head-select`` (Dropdowns: each holds a ``<select>``
  whose option labels are the layer/head numbers), ``.explain-attention-heatmap`` and
  ``.explain-attention-grid`` (plots).
- ``.explain-loss-plot``, ``.explain-token-loss-plot``, ``.explain-embedding-scatter``,
  ``.explain-embedding-similarity``, ``.explain-positional-heatmap``,
  ``.explain-optimizer-history``, ``.explain-optimizer-histogram``, ``.explain-playground-plot``,
  ``.explain-attribution-plot`` (with the lab's attribution record only),
  ``.explain-neurons-plot`` (with the lab's neuron record only),
  ``.explain-patching-prompts``, ``.explain-patching-heads``, ``.explain-patching-positions``
  (with the lab's patching record only): plots.
- Every plot element also has ``.explain-plot``, and after each draw a ``data-revision``
  attribute (increases with every update sent). Its child ``div.js-plotly-plot`` is plotly's
  graph div: ``el.data[0].z`` holds the heatmap drawn, ``el.layout.title.text`` its title
  (e.g. ``"self attention · layer 1 head 2 · step 40"``).
- Live mode: ``.explain-live-controls`` with ``.explain-train-play`` (Play clock: play/pause),
  ``.explain-train-step`` (one burst), ``.explain-train-reset``, ``.explain-train-status``
  (text ``"step N · loss L"``).

Figures are synced as whole state after every change (see ``widgets._plot``), so they keep
updating when nested in boxes under Voila and are right in saved widget state.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets

from explain.trace import Trace

from ._base import View, require_trace
from .attention import AttentionView
from .attribution import AttributionView
from .embeddings import EmbeddingView
from .heads import HeadsView
from .live import LiveTraining
from .loss import LossView
from .neurons import NeuronView
from .optimizer import OptimizerView
from .patching import PatchingView
from .positional import PositionalView
from .theme import THEMES, Theme, restyle
from .token_loss import TokenLossView

log = logging.getLogger(__name__)

__all__ = ["Dashboard"]

VIEWS = {
    "attention": AttentionView,
    "loss": LossView,
    "token_loss": TokenLossView,
    "embeddings": EmbeddingView,
    "positional": PositionalView,
    "optimizer": OptimizerView,
    "heads": HeadsView,
    "attribution": AttributionView,
    "neurons": NeuronView,
    "patching": PatchingView,
}
# Views of the lab's record (explain.lab.record): shown where the trace holds it, else left out
# without a note (a trace is complete without them).
LAB_ONLY = ("attribution", "neurons", "patching")


class Dashboard(View):
    """All views of a trace, linked by one step; or a model training live.

    ``Dashboard(trace)`` replays a recorded or loaded trace. ``Dashboard(run)`` (what
    ``explain.train`` returns) or ``Dashboard(model, task="reverse", train_config=...)`` trains
    live: play/pause, +N steps and reset, training ``burst`` steps per tick while the views follow
    the newest step (at most ~10 updates a second).

    A :class:`View` itself: ``step``, ``set_theme``, ``refresh``, ``figures()`` (every view's
    figures, in layout order) and its saved-notebook pictures cover all its views. Views the
    trace lacks data for (e.g. no loss in a trace made by ``from_attentions``) are replaced by a
    note saying what is missing. ``views`` lists the view objects by name
    (``dashboard.attention``, ``dashboard.loss``, ...); ``widget`` is the root to display. DOM
    hooks for browser tests are listed in this module's docstring.
    """

    css_class = "explain-dashboard"

    def __init__(
        self,
        source: Any,
        *,
        task: Any = None,
        train_config: Any = None,
        theme: Theme | str | None = None,
        burst: int = 5,
        views: tuple[str, ...] = tuple(VIEWS),
        step: int | None = None,
    ) -> None:
        unknown = [name for name in views if name not in VIEWS]
        if unknown:
            raise ValueError(f"unknown views {unknown}; expected some of {list(VIEWS)}")
        self.live: LiveTraining | None = None
        if isinstance(source, Trace):
            trace = require_trace(source)
        elif hasattr(source, "trainer") and hasattr(source, "trace"):
            self.live = LiveTraining(source, burst=burst)
            trace = self.live.trace
        elif task is not None:
            self.live = LiveTraining(
                model=source, task=task, train_config=train_config, burst=burst
            )
            trace = self.live.trace
        else:
            raise ValueError(
                "Dashboard needs a Trace, a Run (explain.train), or a model with task=...; "
                f"got {type(source).__name__}"
            )
        super().__init__(trace, step=step, theme=theme)
        self.views: dict[str, View] = {}
        self.missing: dict[str, str] = {}
        for name in views:
            try:
                # the heads view reads the trace here: switching heads off is HeadsView(run)'s
                self.views[name] = VIEWS[name](
                    trace, step_control=self.step_control, theme=self.theme
                )
            except ValueError as error:
                if name not in LAB_ONLY:
                    self.missing[name] = str(error)
                log.info("dashboard: no %s view: %s", name, error)
        if not self.views:
            raise ValueError(f"the trace has nothing any view can show: {self.missing}")
        # by name: the named themes, and the one shown if it is another (JupyterLab's dark theme
        # in Presentation Mode gives "presentation-dark", widgets/_base.py follow_page)
        self._themes = {**THEMES, self.theme.name: self.theme}
        self._quiet = False
        self.theme_select = ipywidgets.Dropdown(
            options=list(self._themes),
            value=self.theme.name,
            description="theme",
        )
        self.theme_select.add_class("explain-theme-select")
        self.theme_select.observe(self._on_theme, names="value")
        if self.live is not None:
            self.live.on_change(self._on_live)
        self.widget = self._layout()
        self._ready()

    # -- public ------------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> View:
        views = self.__dict__.get("views", {})
        if name in views:
            return views[name]
        raise AttributeError(f"Dashboard has no attribute {name!r}")

    def set_theme(self, theme: Theme | str) -> None:
        """Apply ``theme`` (``"light"``, ``"dark"``, ``"presentation"`` or a Theme) to every
        view; the theme dropdown follows."""
        super().set_theme(theme)
        for view in self.views.values():
            view.set_theme(self.theme)
        self._quiet = True  # new options reset the value: not a choice of the user's
        try:
            if self.theme.name not in self._themes:
                self._themes[self.theme.name] = self.theme
                self.theme_select.options = list(self._themes)
            self._themes[self.theme.name] = self.theme
            self.theme_select.value = self.theme.name
        finally:
            self._quiet = False

    def _on_theme(self, change: dict) -> None:
        if self._quiet:
            return
        if change["new"] is not None and change["new"] != self.theme.name:
            self.set_theme(self._themes[change["new"]])

    def refresh(self, follow: bool = True, draw: bool = True) -> None:
        """Re-read the trace (it grew); ``follow`` moves the shared step to the newest one."""
        for view in self.views.values():
            view.refresh(draw=False)
        before = self.step_control.value
        self.step_control.set_steps(self.trace.snapshot_steps.tolist(), follow=follow)
        if draw and self.step_control.value == before:  # set_steps notifies only on a move
            self.redraw()

    def redraw(self) -> None:
        for view in self.views.values():
            view.redraw()

    def figures(self) -> list[dict]:
        """Every view's figures (:meth:`View.figures`), view by view in layout order."""
        return [figure for view in self.views.values() for figure in view.figures()]

    def _static_images(self) -> list[tuple[bytes, str]]:
        """The pictures of all its views (a view that cannot draw one is logged and left out)."""
        pictures: list[tuple[bytes, str]] = []
        for name, view in self.views.items():
            try:
                pictures.extend(view.pictures())
            except Exception:
                log.warning("no static picture of the dashboard's %s view", name, exc_info=True)
        return pictures

    def _update(self) -> None:
        """Its views follow the shared step themselves."""

    # -- internals ---------------------------------------------------------------------------------
    def _on_live(self, reset: bool) -> None:
        if reset:
            self.trace = self.live.trace
            for view in self.views.values():
                view.trace = self.trace
        self.refresh(follow=True)

    def _layout(self) -> ipywidgets.Box:
        task = (
            self.trace.meta.get("task", {}) if isinstance(self.trace.meta.get("task"), dict) else {}
        )
        title = html.escape(str(task.get("name", "trace")))
        status = html.escape(str(self.trace.meta.get("status", "live" if self.live else "")))
        header = ipywidgets.HBox(
            [
                ipywidgets.HTML(f"<h3 style='margin:4px 0'>{title}</h3> <i>{status}</i>"),
                self.theme_select,
            ]
        )
        rows: list[ipywidgets.Widget] = [header]
        if self.live is not None:
            rows.append(self.live.widget)
        rows.append(self.step_control.widget)
        views = self.views
        if "attention" in views:
            rows.append(views["attention"].widget)
        pair = [views[n].widget for n in ("loss", "embeddings") if n in views]
        if pair:
            rows.append(ipywidgets.HBox(pair, layout=ipywidgets.Layout(flex_flow="row wrap")))
        if "token_loss" in views:  # the loss per token of the probe, under the loss curves
            rows.append(views["token_loss"].widget)
        # the lab's views by the heads
        shown = ("heads", "attribution", "neurons", "patching", "positional", "optimizer")
        rows.extend(views[n].widget for n in shown if n in views)
        if self.missing:
            notes = "".join(
                f"<li><b>{html.escape(n)}</b>: {html.escape(m)}</li>"
                for n, m in self.missing.items()
            )
            note = ipywidgets.HTML(f"<ul class='explain-missing'>{notes}</ul>")
            note.add_class("explain-missing-views")
            rows.append(note)
        root = ipywidgets.VBox(rows)
        root.add_class("explain-dashboard")
        restyle(root, self.theme)
        return root
