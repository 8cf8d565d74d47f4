"""What every matplotlib builder shares: built once, updated per frame.

No pyplot (no global state, no GUI backend): each builder makes a ``Figure`` with an Agg
canvas and returns it with an ``update(index)`` that redraws it for one step, so an animation
mutates the same artists instead of rebuilding the figure. Text from a trace goes through
`text` so a token like ``$x$`` is never parsed as math, and SVG keeps text as (escaped) text so
a paper's figure stays searchable and editable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, LinearSegmentedColormap, to_rgb
from matplotlib.figure import Figure, FigureBase

from explain.style import COLORSCALES, LIGHT, Theme
from explain.views import ViewData

from ..rules import STEP_MARKER_COLOUR, mpl_text, tick_positions

STYLE = {
    "svg.fonttype": "none",  # SVG text stays text (escaped by matplotlib), not glyph paths
    "svg.hashsalt": "explain",  # the same trace gives the same SVG bytes
    "pdf.fonttype": 42,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextlib.contextmanager
def style(theme: Theme = LIGHT) -> Iterator[None]:
    """The rcParams every export figure is built and saved under, in ``theme``'s colours.

    Plotly sizes fonts in CSS pixels, matplotlib in points (3/4 of a pixel at 96 dpi), so a
    12 px theme gives 9 pt text.
    """
    size = round(theme.font_size * 0.75)
    texts = ("text.color", "axes.labelcolor", "xtick.color", "ytick.color", "axes.edgecolor")
    colours = dict.fromkeys(texts, theme.foreground)
    backgrounds = ("figure.facecolor", "axes.facecolor", "savefig.facecolor")
    background = dict.fromkeys(backgrounds, theme.background)
    legend = {"legend.facecolor": theme.background, "legend.edgecolor": theme.grid}
    sizes = {"font.size": size, "axes.titlesize": size, "lines.linewidth": theme.line_width / 2}
    with matplotlib.rc_context({**STYLE, **colours, **background, **legend, **sizes}):
        yield


def _rgb(color: str) -> tuple[float, float, float]:
    if color.startswith("rgb("):
        red, green, blue = (int(v) / 255 for v in color[4:-1].split(","))
        return (red, green, blue)
    return to_rgb(color)


def colormap(name: str) -> Colormap:
    """The matplotlib colormap of scale ``name`` from `explain.style` (the widgets' stops)."""
    stops = [(position, _rgb(color)) for position, color in COLORSCALES[name]]
    return LinearSegmentedColormap.from_list(f"explain-{name}", stops)


@dataclass
class Drawn:
    figure: Figure
    update: Callable[[int], None]  # show the frame at this index of `steps`
    steps: np.ndarray  # the step of each frame index
    artists: list[Artist]  # what `update` changes (drawn per frame; the rest is a background)


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches at the light theme's text size, grown with the
    theme's text (inside :func:`style`): presentation text needs the room, or titles and tick
    labels are cut or squeeze the panels."""
    grow = max(1.0, matplotlib.rcParams["font.size"] / STYLE["font.size"])
    figure = Figure(figsize=(width * grow, height * grow), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


text = mpl_text  # a token or name from a trace as matplotlib text (rules.mpl_text)


def token_ticks(ax: Axes, axis: str, tokens: Sequence[str]) -> None:
    positions = tick_positions(len(tokens))
    labels = [text(tokens[i]) for i in positions]
    if axis == "x":
        ax.set_xticks(positions, labels, rotation=90)
    else:
        ax.set_yticks(positions, labels)
    ax.tick_params(length=0, labelsize="small")


def heading(view: ViewData, step: int) -> str:
    return f"{text(view.title)} · step {step}"


def step_markers(axes: Sequence[Axes], step: int, shown: bool) -> list:
    """The step marker (the same colour as plotly's, `rules.step_marker`) on each of ``axes``."""
    return [
        ax.axvline(step, color=STEP_MARKER_COLOUR, lw=1.2, ls=":", visible=shown) for ax in axes
    ]


def curve_legend(figure: FigureBase, lines: Sequence[Artist], loc: str) -> None:
    """One legend for the curves of every panel of ``figure`` (or a subfigure), three entries a
    row, outside the panels at ``loc`` ("outside upper left", ...)."""
    labels = [line.get_label() for line in lines]
    figure.legend(lines, labels, loc=loc, ncols=3, fontsize="small", frameon=False)


def positive_log(ax: Axes, values: Sequence[np.ndarray]) -> None:
    joined = np.concatenate([np.asarray(v, float) for v in values]) if values else np.zeros(0)
    if joined.size and np.all(joined[np.isfinite(joined)] > 0):
        ax.set_yscale("log")
