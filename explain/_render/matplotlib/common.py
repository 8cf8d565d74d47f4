"""What every matplotlib builder shares: built once, updated per frame.

No pyplot (no global state, no GUI backend): each builder makes a ``Figure`` with an Agg
canvas and returns it with an ``update(index)`` that redraws it for one step, so an animation
mutates the same artists instead of rebuilding the figure. Text from a trace goes through
`text` so a token like ``$x$`` is never parsed as math, and SVG keeps text as (escaped) text so
a paper's figure stays searchable and editable.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, LinearSegmentedColormap, to_rgb
from matplotlib.figure import Figure, FigureBase
from matplotlib.legend import Legend
from matplotlib.ticker import (
    Formatter,
    Locator,
    LogFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
    ScalarFormatter,
)

from explain.style import COLORSCALES, LIGHT, Theme
from explain.views import ViewData

from ..rules import (
    MAX_TICK_LABELS,
    STEP_MARKER_COLOUR,
    STEP_MARKER_WIDTH,
    labels_fitting,
    mpl_text,
    tick_positions,
)

STYLE = {
    "svg.fonttype": "none",  # SVG text stays text (escaped by matplotlib), not glyph paths
    "svg.hashsalt": "explain",  # the same trace gives the same SVG bytes
    "pdf.fonttype": 42,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


PT_PER_PX = 0.75  # plotly sizes fonts and lines in CSS pixels, matplotlib in points


@contextlib.contextmanager
def style(theme: Theme = LIGHT) -> Iterator[None]:
    """The rcParams every export figure is built and saved under, in ``theme``'s colours.

    Plotly sizes fonts and lines in CSS pixels, matplotlib in points (3/4 of a pixel at 96
    dpi), so a 12 px theme gives 9 pt text and a 2 px line 1.5 pt. As in the widget's figures,
    titles are 1.2 times the text and curves lie on the theme's grid lines (`plotly_ticks`
    takes them off heatmaps, which plotly draws over them).
    """
    size = round(theme.font_size * PT_PER_PX)
    texts = ("text.color", "axes.labelcolor", "xtick.color", "ytick.color", "axes.edgecolor")
    colours = dict.fromkeys(texts, theme.foreground)
    backgrounds = ("figure.facecolor", "axes.facecolor", "savefig.facecolor")
    background = dict.fromkeys(backgrounds, theme.background)
    legend = {"legend.facecolor": theme.background, "legend.edgecolor": theme.grid}
    grid = {"axes.grid": True, "axes.axisbelow": True, "grid.color": theme.grid}
    sizes = {
        "font.size": size,
        "axes.titlesize": "large",
        "lines.linewidth": theme.line_width * PT_PER_PX,
        "grid.linewidth": PT_PER_PX,
    }
    with matplotlib.rc_context({**STYLE, **colours, **background, **legend, **grid, **sizes}):
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


class NotebookFigure(Figure):
    """A Figure that a notebook shows as a cell's value or through ``display()``. A figure made
    off pyplot has no picture there unless pyplot was imported, and ``plt.show()`` shows only
    pyplot's own (notebook 09's scores were a blank cell)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches at the light theme's text size, grown with the
    theme's text (inside :func:`style`): presentation text needs the room, or titles and tick
    labels are cut or squeeze the panels."""
    grow = max(1.0, matplotlib.rcParams["font.size"] / STYLE["font.size"])
    figure = NotebookFigure(figsize=(width * grow, height * grow), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


text = mpl_text  # a token or name from a trace as matplotlib text (rules.mpl_text)


def token_ticks(
    ax: Axes,
    axis: str,
    tokens: Sequence[str],
    angle: float | None = None,
    first: int = 0,
    limit: int | None = MAX_TICK_LABELS,
    length: float | None = None,
) -> None:
    """Token labels on ``axis`` ("x" or "y") of a heatmap, at the text's size as plotly's. On
    x, turned by ``angle`` degrees (the plotly axis's ``-tickangle``), or, without one, upright
    unless a label is longer than two characters, then turned a quarter. ``first``: the
    position of ``tokens[0]`` on the axis (a window of a longer map). ``limit``: the most
    labels (None: as many as fit the axis); ``length``: the axis's length in points, where
    the caller sized it (else read from the axes before the layout, which underestimates)."""
    # as many labels as fit the axis at the text's size (its length before the layout squeezes
    # it: about right), as the plotly builders do (`rules.labels_fitting`)
    if length is None:
        box = ax.get_position()
        figure = ax.get_figure(root=True)
        inches = box.width * figure.get_figwidth() if axis == "x" else box.height
        length = 72 * (inches if axis == "x" else inches * figure.get_figheight())
    fitting = labels_fitting(length, matplotlib.rcParams["font.size"])
    shown = tick_positions(len(tokens), fitting if limit is None else min(limit, fitting))
    labels = [text(tokens[i]) for i in shown]
    positions = [first + i for i in shown]
    if axis == "x":
        if angle is None:
            angle = 90 if max(map(len, labels), default=0) > 2 else 0
        slanted = 0 < angle < 90  # anchored at its end under the tick, as plotly's
        ax.set_xticks(positions, labels, rotation=angle, ha="right" if slanted else "center",
                      rotation_mode="anchor" if slanted else "default")  # fmt: skip
    else:
        ax.set_yticks(positions, labels)
    ax.tick_params(axis=axis, length=0)
    ax.grid(False, axis=axis)  # plotly draws none along a token axis


def heading(view: ViewData, step: int) -> str:
    return f"{text(view.title)} · step {step}"


def step_markers(axes: Sequence[Axes], step: int, shown: bool) -> list:
    """The step marker (the same colour and width as plotly's, `rules.step_marker`) on each of
    ``axes``."""
    width = STEP_MARKER_WIDTH * PT_PER_PX
    return [
        ax.axvline(step, color=STEP_MARKER_COLOUR, lw=width, ls=":", visible=shown) for ax in axes
    ]


def legend_columns(labels: Sequence[str], width: float) -> int:
    """How many legend entries fit a row ``width`` points wide at the text's size (about 0.6
    em a character, plus the line sample and the gaps): the widget lays plotly's legend out in
    rows that fill its width (widgets/plot.js)."""
    em = matplotlib.rcParams["font.size"]
    entry = max((0.6 * len(label) + 4.8) * em for label in labels) if labels else em
    return max(1, min(len(labels), int(width // entry)))


def curve_legend(
    figure: FigureBase, lines: Sequence[Artist], loc: str = "outside upper left"
) -> Legend:
    """One legend for the curves of every panel of ``figure`` (a subfigure under the figure's
    title): in rows at the top left, above the panels, where the widget puts plotly's."""
    labels = [str(line.get_label()) for line in lines]
    width = figure.bbox.width * 72 / figure.figure.dpi
    columns = legend_columns(labels, width)
    return figure.legend(lines, labels, loc=loc, ncols=columns, frameon=False)


def legend_above(
    ax: Axes, owner: Axes | FigureBase | None = None, handles: Sequence[Artist] | None = None
) -> Legend:
    """The legend of ``ax``'s labelled curves (or ``handles``) in rows between its title and
    the panel, as the widget lays plotly's legend out; ``owner`` (default ``ax``) holds it. The
    title rises by the legend's height, so the layout makes room for both (call it after the
    title is made: `Axes.set_title` without a pad puts the title back down)."""
    if handles is None:
        handles = [line for line in ax.get_lines() if not str(line.get_label()).startswith("_")]
    labels = [str(line.get_label()) for line in handles]
    figure = ax.get_figure(root=True)
    width = ax.get_position().width * figure.get_figwidth() * 72
    columns = legend_columns(labels, width)
    legend = (owner or ax).legend(
        handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), bbox_transform=ax.transAxes,
        ncols=columns, frameon=False, borderaxespad=0.2,
    )  # fmt: skip
    rows = math.ceil(len(labels) / columns)
    em = matplotlib.rcParams["font.size"]
    # one pad moves all three titles (set through the one that has text, if any)
    loc = next((loc for loc in ("center", "left", "right") if ax.get_title(loc)), "center")
    ax.set_title(ax.get_title(loc), loc=loc, pad=(1.4 * rows + 1.0) * em)
    return legend


def positive_log(ax: Axes, values: Sequence[np.ndarray]) -> None:
    joined = np.concatenate([np.asarray(v, float) for v in values]) if values else np.zeros(0)
    if joined.size and np.all(joined[np.isfinite(joined)] > 0):
        ax.set_yscale("log")


# -- tick labels as plotly writes them ---------------------------------------------------------
# plotly's "B" exponent format: SI prefixes, but "B" (billion) for 10^9
SI_PREFIXES = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: ""}
SI_PREFIXES |= {3: "k", 6: "M", 9: "B", 12: "T"}
MINUS = "\N{MINUS SIGN}"


def plotly_number(value: float, step: float, exponent: int, exponents: str = "B") -> str:
    """``value`` as plotly labels a tick ``step`` apart on an axis whose values carry
    ``exponent`` (`tick_exponent`): two digits past the step's largest, trailing zeros cut, a
    minus sign, then the SI prefix (``exponents="B"``: "300µ", "20k") or "e−4" (``"e"``)."""
    scale = 10.0**exponent
    number, step = value / scale, abs(step) / scale
    decimals = max(0, 2 - math.floor(math.log10(step) + 0.01)) if step > 0 else 3
    shown = f"{number:.{min(decimals, 12)}f}"
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    if shown.lstrip("-") in ("0", ""):
        return "0"
    if exponent:
        suffix = SI_PREFIXES.get(exponent) if exponents == "B" else None
        shown += suffix if suffix is not None else f"e{exponent}"
    return shown.replace("-", MINUS)


def tick_exponent(largest: float, exponents: str = "B") -> int:
    """The power of ten plotly factors out of an axis's labels when its largest |value| is
    ``largest``: none within 10^±3, else a multiple of 3 (SI, ``"B"``) or the value's own."""
    if not largest > 0 or not math.isfinite(largest):
        return 0
    power = math.floor(math.log10(largest) + 0.01)
    if abs(power) <= 3:
        return 0
    si = 3 * math.floor((power - 1) / 3 + 0.5)
    return si if exponents == "B" and si in SI_PREFIXES else power


class PlotlyTicks(Formatter):
    """Linear tick labels as plotly's (`plotly_number`): "0", "0.2", "1" rather than "0.0",
    "0.2", "1.0", and "300µ" rather than "0.00030"."""

    def __init__(self, exponents: str = "B") -> None:
        self.exponents = exponents
        self.ticks: Sequence[float] = []

    def set_locs(self, locs: Sequence[float]) -> None:
        self.ticks = locs  # every tick's value, before any is labelled: their spacing

    def __call__(self, value: float, pos: int | None = None) -> str:
        low, high = self.axis.get_view_interval()
        exponent = tick_exponent(max(abs(low), abs(high)), self.exponents)
        locs = np.sort(np.asarray(self.ticks, float))
        step = float(np.min(np.diff(locs))) if len(locs) > 1 else abs(high - low) or 1.0
        return plotly_number(value, step, exponent, self.exponents)


class PlotlyLogTicks(Formatter):
    """Labels of a log axis's decades as plotly's: "0.01", "100", "300µ"-style past 10^±3, or
    "1e−3" (``exponents="e"``)."""

    def __init__(self, exponents: str = "B") -> None:
        self.exponents = exponents

    def __call__(self, value: float, pos: int | None = None) -> str:
        if not value > 0:
            return ""
        power = math.floor(math.log10(value) + 1e-9)
        if self.exponents == "e":
            return plotly_number(value, 10.0**power, power, "e")
        return plotly_number(value, 10.0**power, tick_exponent(value))


# A panel of the picture is about 1.5 times the size the widget draws it at in a notebook at
# 1280 px (the light embeddings' scatter: 470 px square in the PNG, 300 px in JupyterLab), so
# it takes a tick per 1.5 times plotly's pixels to show as many ticks as the widget.
WIDGET_SCALE = 1.5


class PlotlyLocator(Locator):
    """Ticks where plotly puts them by itself: a step of 2, 5 or 10 x 10^k, rounded up from
    the range over 5 to 10 steps, one for each 80 px of an x axis or 40 px of a y axis (or a
    colour bar) as the widget draws it (``grow``: how much `new_figure` enlarged the figure for
    its theme's text; `WIDGET_SCALE`)."""

    def __init__(self, grow: float = 1.0) -> None:
        self.grow = grow

    def __call__(self) -> Sequence[float]:
        low, high = self.axis.get_view_interval()
        return self.tick_values(low, high)

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        low, high = sorted((float(vmin), float(vmax)))
        box, figure = self.axis.axes.bbox, self.axis.axes.get_figure(root=True)
        across = self.axis.axis_name == "x"
        pixels = (box.width if across else box.height) / (figure.dpi / 96 * self.grow)
        pixels /= WIDGET_SCALE
        steps = float(np.clip(pixels / (80 if across else 40), 4, 9)) + 1
        rough = (high - low) / steps
        if not (rough > 0 and math.isfinite(rough)):
            return [low]
        base = 10.0 ** math.floor(math.log10(rough))
        step = base * next(m for m in (2, 5, 10) if m >= rough / base * (1 - 1e-9))
        first = math.ceil(low / step - 1e-9)
        count = math.floor(high / step + 1e-9) - first + 1
        return self.raise_if_exceeds(np.round((first + np.arange(count)) * step, 12))


def plotly_ticks(figure: FigureBase) -> None:
    """Give every axis of ``figure`` that keeps matplotlib's default ticks plotly's: as many
    and as round (`PlotlyLocator`: never steps of 2.5), labels written as plotly writes them
    (`PlotlyTicks`), a log axis spanning less than a decade ticked like a linear one ("2.34",
    not "2.34×10⁰"); and no grid lines over heatmaps or colour bars. Call it inside `style`."""
    grow = max(1.0, matplotlib.rcParams["font.size"] / STYLE["font.size"])  # as new_figure
    for ax in figure.get_axes():
        colorbar = ax.get_label() == "<colorbar>"
        if ax.images or colorbar:
            ax.grid(False)
        if ax.name != "rectilinear":
            continue
        for axis in (ax.xaxis, ax.yaxis):
            locator, formatter = axis.get_major_locator(), axis.get_major_formatter()
            if axis.get_scale() == "log" and isinstance(formatter, LogFormatter):
                low, high = sorted(axis.get_view_interval())
                if low > 0 and high / low < 10:
                    axis.set_major_locator(PlotlyLocator(grow))
                    axis.set_major_formatter(PlotlyTicks())
                else:
                    axis.set_major_locator(LogLocator(subs=(1.0,)))
                    axis.set_major_formatter(PlotlyLogTicks())
                axis.set_minor_locator(NullLocator())
                axis.set_minor_formatter(NullFormatter())
            elif type(formatter) in (ScalarFormatter, PlotlyTicks):
                if type(locator).__name__ == "AutoLocator":
                    axis.set_major_locator(PlotlyLocator(grow))
                if type(formatter) is ScalarFormatter:
                    axis.set_major_formatter(PlotlyTicks())
