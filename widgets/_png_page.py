"""The page of a static picture: a matplotlib figure laid out as a plotly figure's layout.

:class:`_Page` is a matplotlib figure (Agg canvas, no pyplot) the size of the plotly figure, with
plotly's paper coordinates, margins, theme colours and one matplotlib axes per subplot; its
:meth:`_Page.to_png` grows the picture where labels stick out and encodes it. Once the traces
are drawn (:mod:`widgets._png_traces`), the layout's parts go on top: each subplot's scales,
ranges, ticks and titles (:func:`_finish_axes`), shapes, annotations, the title and the legend.

    >>> page = _Page([], {"width": 200, "height": 100, "title": {"text": "t"}}, dpi=72)
    >>> _draw_title(page)
    >>> page.to_png()[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from ._png_values import _array, _color, _get, _mpl, _number, _numbers, plain_text

# plotly.js's defaults where a figure (and its template) sets nothing
DEFAULT_SIZE, DEFAULT_MARGIN = (700, 450), {"l": 80, "r": 80, "t": 100, "b": 80}
DEFAULT_COLORWAY = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
# fmt: off
_DASHES = {"dot": ":", "dash": "--", "dashdot": "-.", "longdash": (0, (8, 4)),
           "longdashdot": (0, (8, 3, 2, 3))}
# fmt: on


# -- the page ---------------------------------------------------------------------------------
class _Page:
    """A matplotlib figure the size of the plotly figure, with plotly's paper coordinates."""

    def __init__(self, traces: list[dict], layout: dict, dpi: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.transforms import Affine2D

        self.layout, self.template = layout, _get(layout, "template", "layout", default={})
        self.width = max(10.0, _number(self.setting("width"), DEFAULT_SIZE[0]))
        self.height = max(10.0, _number(self.setting("height"), DEFAULT_SIZE[1]))
        self.font_size = _number(self.setting("font", "size"), 12.0)
        self.font_color = _color(self.setting("font", "color"), "#444444")
        self.paper = _color(self.setting("paper_bgcolor"), "#ffffff")
        self.plot_bg = _color(self.setting("plot_bgcolor"), "#ffffff")
        self.colorway = list(self.setting("colorway", default=DEFAULT_COLORWAY)) or ["#1f77b4"]
        margin = {k: _number(self.setting("margin", k), v) for k, v in DEFAULT_MARGIN.items()}
        self.colorbar_trace = next((t for t in traces if _has_colorbar(t)), None)
        if self.colorbar_trace is not None:  # plotly widens the right margin for the bar
            thickness = _number(_get(self.colorbar_trace, "colorbar", "thickness"), 30.0)
            margin["r"] = max(margin["r"], thickness + 55)
        self.margin = margin
        # plotly's sizes are CSS pixels: 1 px = 1 pt at 72 dpi, so fonts keep their size
        self.figure = Figure(figsize=(self.width / 72, self.height / 72), dpi=dpi)
        self.figure.patch.set_facecolor(self.paper)
        self.canvas = FigureCanvasAgg(self.figure)
        left, bottom = margin["l"] / self.width, margin["b"] / self.height
        width = max(0.05, 1 - margin["r"] / self.width - left)
        height = max(0.05, 1 - margin["t"] / self.height - bottom)
        self.area = (left, bottom, width, height)  # the plot area (paper 0..1) in the figure
        self.paper_transform = (
            Affine2D().scale(width, height).translate(left, bottom) + self.figure.transFigure
        )
        # (x axis id, y axis id) -> (matplotlib axes, x axis settings, y axis settings)
        self.axes: dict[tuple[str, str], tuple[Any, dict, dict]] = {}
        self.categories: dict[str, dict[str, int]] = {}
        self.legend: list[tuple[int, Any, str]] = []  # (trace index, handle, label)

    def setting(self, *keys: str, default: Any = None) -> Any:
        """``layout[keys...]``, else the template's, else ``default``."""
        value = _get(self.layout, *keys)
        return _get(self.template, *keys, default=default) if value is None else value

    def text_style(self, font: Any = None, scale: float = 1.0) -> dict[str, Any]:
        size = _number(_get(font, "size"), self.font_size * scale)
        return {"fontsize": size, "color": _color(_get(font, "color"), self.font_color)}

    def to_figure(self, x: float, y: float) -> tuple[float, float]:
        """Paper coordinates (0..1 across the plot area) as figure fractions."""
        left, bottom, width, height = self.area
        return left + x * width, bottom + y * height

    def add_axes(self, key: tuple[str, str], x_axis: dict, y_axis: dict, domains: Any) -> Any:
        if key not in self.axes:
            (x0, x1), (y0, y1) = domains
            left, bottom = self.to_figure(x0, y0)
            ax = self.figure.add_axes(
                (left, bottom, (x1 - x0) * self.area[2], (y1 - y0) * self.area[3])
            )
            ax.set_facecolor(self.plot_bg)
            ax.set_axisbelow(True)
            self.axes[key] = (ax, x_axis, y_axis)
        return self.axes[key][0]

    def cartesian(self, trace: dict) -> tuple[Any, str, str]:
        """The axes of the trace's subplot (``xaxis``/``yaxis`` "x", "y2", ...) and their ids."""
        x_id, y_id = str(trace.get("xaxis") or "x"), str(trace.get("yaxis") or "y")
        x_axis, y_axis = self.axis(x_id), self.axis(y_id)
        under = y_axis.get("overlaying")
        if isinstance(under, str) and under != y_id and (x_id, y_id) not in self.axes:
            # a secondary y axis (make_subplots(specs=[[{"secondary_y": True}]])): a twin
            base = self.cartesian({"xaxis": x_id, "yaxis": under})[0]
            twin = base.twinx()
            twin.set_zorder(base.get_zorder() + 1)
            self.axes[(x_id, y_id)] = (twin, x_axis, y_axis)
        domains = (_get(x_axis, "domain", default=(0, 1)), _get(y_axis, "domain", default=(0, 1)))
        return self.add_axes((x_id, y_id), x_axis, y_axis, domains), x_id, y_id

    def axis(self, axis_id: str) -> dict:
        """``layout.xaxis2`` for "x2" over the template's axis settings."""
        name = f"{axis_id[0]}axis{axis_id[1:]}"
        return {
            **_get(self.template, f"{axis_id[0]}axis", default={}),
            **_get(self.layout, name, default={}),
        }

    def positions(self, axis_id: str, values: np.ndarray | None) -> np.ndarray | None:
        """Numbers to draw at: numbers as they are, text as category indices (first seen first)."""
        if values is None or _numbers(values):
            return None if values is None else values.astype(np.float64).ravel()
        index = self.categories.setdefault(axis_id, {})
        return np.array([float(index.setdefault(str(v), len(index))) for v in values.ravel()])

    def to_png(self) -> bytes:
        """The picture; grown where labels or a legend stick out (plotly grows its margins)."""
        from matplotlib.transforms import Bbox

        inside = self.figure.bbox_inches  # inches, like the tight box
        tight = self.figure.get_tightbbox(self.canvas.get_renderer())
        if tight is None:
            tight = inside
        # what sticks out on each side (left, bottom, right, top), if a pixel or more, + 3 px
        out = np.array([inside.x0 - tight.x0, inside.y0 - tight.y0, tight.x1 - inside.x1,
                        tight.y1 - inside.y1]) * 72  # fmt: skip
        grow = np.where(out >= 1, out + 3, 0) / 72
        if not grow.any():
            self.canvas.draw()
            rgba = np.asarray(self.canvas.buffer_rgba())
        else:
            from PIL import Image

            whole = Bbox.from_extents(
                inside.x0 - grow[0], inside.y0 - grow[1], inside.x1 + grow[2], inside.y1 + grow[3]
            )
            buffer = io.BytesIO()
            self.figure.savefig(
                buffer, format="png", bbox_inches=whole, facecolor=self.paper, dpi=self.figure.dpi
            )
            rgba = np.asarray(Image.open(buffer).convert("RGBA"))
        return _encode_png(rgba)


def _encode_png(rgba: np.ndarray) -> bytes:
    """PNG of an image in 256 adaptive colours: ~3x smaller than RGB and, at this size, the same
    to the eye (median cut: mean error < 1/255; the faster octree shifts colours by ~8/255).
    Measured on 480 px pictures: ~15 ms; zlib level 9 would add ~15 ms for 5% less."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]), "RGB")
    image = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _has_colorbar(trace: dict) -> bool:
    return (
        trace.get("type") in ("heatmap", "contour")
        and trace.get("showscale") is not False
        and trace.get("visible", True) is True
        and _numbers(_array(trace.get("z")))
    )


# -- axes, shapes, annotations, title, legend -------------------------------------------------
def _finish_axes(page: _Page) -> None:
    """Scales, ranges, ticks, grids and titles of each subplot, once its data is drawn."""
    groups: dict[str, list[Any]] = {}
    for (x_id, y_id), (ax, x_axis, y_axis) in page.axes.items():
        for spine in ax.spines.values():
            spine.set_visible(False)
        for name, axis_id, axis in (("x", x_id, x_axis), ("y", y_id, y_axis)):
            _axis(page, ax, name, axis_id, axis)
        if y_axis.get("scaleanchor") == x_id or x_axis.get("scaleanchor") == y_id:
            ax.set_aspect("equal", adjustable="box")
        if ax.has_data() and x_axis.get("range") is None and not ax.xaxis_inverted():
            groups.setdefault(str(x_axis.get("matches") or x_id), []).append(ax)
    # shared x axes (make_subplots(shared_xaxes=True) sets "matches") show one range
    for group in (g for g in groups.values() if len(g) > 1):
        low, high = min(a.get_xlim()[0] for a in group), max(a.get_xlim()[1] for a in group)
        for ax in group:
            ax.set_xlim(low, high)


def _axis(page: _Page, ax: Any, name: str, axis_id: str, axis: dict) -> None:
    from matplotlib.ticker import (
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
        ScalarFormatter,
    )

    which = ax.xaxis if name == "x" else ax.yaxis
    style = page.text_style(axis.get("tickfont"))
    side = axis.get("side") if axis.get("side") in ("top", "right") else None
    if side:
        which.set_ticks_position(side)
        which.set_label_position(side)
    if axis.get("showline"):
        spine = ax.spines[side or ("bottom" if name == "x" else "left")]
        spine.set_visible(True)
        spine.set_color(_color(axis.get("linecolor"), style["color"]))
    ax.tick_params(
        axis=name, which="both", length=0, pad=4, labelsize=style["fontsize"],
        colors=style["color"],
    )  # fmt: skip
    if axis.get("showgrid") is False:
        ax.grid(False, axis=name)
    else:
        ax.grid(True, axis=name, lw=1, color=_color(axis.get("gridcolor"), "#eeeeee"))
    span = (
        ax.get_position().width * page.width
        if name == "x"
        else ax.get_position().height * page.height
    )
    if axis.get("type") == "log":
        (ax.set_xscale if name == "x" else ax.set_yscale)("log")
        ax.autoscale_view()
        low, high = sorted(which.get_view_interval())
        decades = math.log10(high / low) if low > 0 and high > 0 else 99.0
        which.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
        which.set_major_formatter(FuncFormatter(_power_of_ten))
        which.set_minor_formatter(NullFormatter())
    else:  # plotly's tick density (3..10 ticks, one per 80 px on x, 40 px on y); 1e-4 not 0.0001
        ticks = min(10, max(3, int(span // (80 if name == "x" else 40))))
        which.set_major_locator(MaxNLocator(nbins=ticks))
        formatter = ScalarFormatter()
        formatter.set_powerlimits((-3, 4))
        which.set_major_formatter(formatter)
        which.get_offset_text().set(fontsize=style["fontsize"], color=style["color"])
    values, labels = _array(axis.get("tickvals")), _array(axis.get("ticktext"))
    if values is None and page.categories.get(axis_id):
        values, labels = np.arange(len(page.categories[axis_id])), list(page.categories[axis_id])
    if _numbers(values):
        which.set_ticks(values.astype(np.float64).ravel())
        if labels is not None and len(labels) == len(values):
            which.set_ticklabels([_mpl(label) for label in labels])
    if axis.get("showticklabels") is False:
        hide = ("labelbottom", "labeltop") if name == "x" else ("labelleft", "labelright")
        ax.tick_params(axis=name, **dict.fromkeys(hide, False))
    angle = _number(axis.get("tickangle"), 0.0)
    if angle:
        for label in which.get_ticklabels():
            label.set(rotation=-angle, rotation_mode="anchor")
            if name == "x":
                label.set_ha("right" if angle < 0 else "left")
    title = _get(axis, "title", "text")
    if title:
        which.set_label_text(_mpl(title), **page.text_style(_get(axis, "title", "font")))
    bounds = axis.get("range")
    if isinstance(bounds, list | tuple) and len(bounds) == 2 and None not in bounds:
        low, high = (float(v) for v in bounds)
        if axis.get("type") == "log":  # plotly gives a log axis's range as exponents
            low, high = 10**low, 10**high
        (ax.set_xlim if name == "x" else ax.set_ylim)(low, high)
    elif axis.get("autorange") == "reversed":
        which.set_inverted(True)


def _power_of_ten(value: float, _position: Any = None) -> str:
    """A log axis's tick as plain text ("10⁻³", "2×10⁻⁴"): mathtext would cost ~20 ms a label."""
    if not value > 0:
        return ""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10**exponent, 6)
    power = "10" + str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return power if mantissa == 1 else f"{mantissa:g}×{power}"


def _transform(page: _Page, x_ref: Any, y_ref: Any) -> Any:
    """The transform of a shape's or annotation's x/y: "paper", an axis ("x2"), "x domain"."""
    from matplotlib.transforms import blended_transform_factory

    parts = []
    for ref, letter in ((x_ref, "x"), (y_ref, "y")):
        ref = str(ref or letter)
        if ref == "paper":
            parts.append(page.paper_transform)
            continue
        axis_id, _, domain = ref.partition(" ")
        ax = next(
            (a for key, (a, *_) in page.axes.items() if key["xy".index(letter)] == axis_id), None
        )
        if ax is None:
            return None
        parts.append(ax.transAxes if domain == "domain" else ax.transData)
    return blended_transform_factory(*parts)


def _draw_shapes(page: _Page) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    for shape in page.layout.get("shapes") or ():
        kind = shape.get("type") or "rect"
        coords = [shape.get(k) for k in ("x0", "x1", "y0", "y1")]
        transform = _transform(page, shape.get("xref"), shape.get("yref"))
        if kind not in ("line", "rect") or shape.get("visible") is False or transform is None:
            continue
        if not all(isinstance(c, int | float) for c in coords):
            continue
        x0, x1, y0, y1 = (float(c) for c in coords)
        line = shape.get("line") or {}
        width = _number(line.get("width"), 2.0)
        style = {
            "transform": transform,
            "lw": width,
            "ls": _DASHES.get(str(line.get("dash", "solid")), "-"),
            "zorder": 4 if shape.get("layer", "above") == "above" else 0.8,
        }
        color = _color(line.get("color"), "#444444") if width > 0 else "none"
        if kind == "line":
            page.figure.add_artist(Line2D([x0, x1], [y0, y1], color=color, **style))
        else:
            fill = _color(shape.get("fillcolor"), (0, 0, 0, 0))
            page.figure.add_artist(
                Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=fill, edgecolor=color, **style)
            )


def _anchor(value: Any, position: float, sides: tuple[str, str, str]) -> str:
    """plotly's "auto" anchor of paper-placed text with no arrow: the nearest side."""
    if value in sides:
        return str(value)
    return sides[0] if position < 1 / 3 else sides[2] if position > 2 / 3 else sides[1]


def _draw_annotations(page: _Page) -> None:
    from matplotlib.text import Annotation

    for note in page.layout.get("annotations") or ():
        text, x, y = note.get("text"), note.get("x"), note.get("y")
        transform = _transform(page, note.get("xref"), note.get("yref"))
        if not text or transform is None or not all(isinstance(v, int | float) for v in (x, y)):
            continue
        arrow = note.get("showarrow", True) is not False
        nearest = not arrow and note.get("xref") == "paper"
        ha = _anchor(note.get("xanchor"), x if nearest else 0.5, ("left", "center", "right"))
        nearest = not arrow and note.get("yref") == "paper"
        va = _anchor(note.get("yanchor"), y if nearest else 0.5, ("bottom", "middle", "top"))
        offset = (_number(note.get("ax"), -10), -_number(note.get("ay"), -30)) if arrow else (0, 0)
        page.figure.add_artist(
            Annotation(
                _mpl(text),
                (float(x), float(y)),
                xycoords=transform,
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va="center" if va == "middle" else va,
                arrowprops={"arrowstyle": "-", "color": page.font_color} if arrow else None,
                zorder=5,
                **page.text_style(note.get("font")),
            )  # fmt: skip
        )


def _draw_title(page: _Page) -> None:
    title = page.layout.get("title")
    title = title if isinstance(title, dict) else {"text": title}
    text = plain_text(title.get("text"))
    if not text:
        return
    x = _number(page.setting("title", "x"), 0.5)  # of the whole figure ("container")
    ha = _anchor(title.get("xanchor"), x, ("left", "center", "right"))
    if isinstance(title.get("y"), int | float):
        y, va = (
            float(title["y"]),
            {"bottom": "bottom", "middle": "center"}.get(title.get("yanchor"), "top"),
        )
    else:  # plotly centres an automatic title in the top margin
        y, va = 1 - page.margin["t"] / 2 / page.height, "center"
    style = page.text_style(title.get("font"), scale=1.4)  # plotly's title is 1.4 x the font
    page.figure.text(x, y, _mpl(text), ha=ha, va=va, **style)


def _draw_legend(page: _Page) -> None:
    shown = page.setting("showlegend")
    if not page.legend or shown is False or (shown is None and len(page.legend) < 2):
        return
    legend = page.layout.get("legend") or {}
    horizontal = legend.get("orientation") == "h"
    x = _number(legend.get("x"), 0.0 if horizontal else 1.02)
    y = _number(legend.get("y"), -0.1 if horizontal else 1.0)
    if x > 1 and not horizontal:  # plotly widens the right margin; here: inside, top right
        x, ha, va = 1.0, "right", "top"
    else:
        ha = _anchor(legend.get("xanchor"), x, ("left", "center", "right"))
        va = _anchor(legend.get("yanchor"), y, ("bottom", "middle", "top"))
    loc = {"top": "upper", "bottom": "lower", "middle": "center"}[va]
    loc = "center" if loc == ha == "center" else f"{loc} {ha}"
    _, handles, labels = zip(*sorted(page.legend, key=lambda entry: entry[0]), strict=True)
    style = page.text_style(legend.get("font"))
    renderer = page.canvas.get_renderer()
    for columns in range(len(handles) if horizontal else 1, 0, -1):  # wrap, as plotly does
        drawn = page.figure.legend(
            handles, [_mpl(label) for label in labels], loc=loc, ncol=columns,
            bbox_to_anchor=page.to_figure(x, y), frameon=False, fontsize=style["fontsize"],
            labelcolor=style["color"], handlelength=1.6, borderaxespad=0.2, columnspacing=1.0,
        )  # fmt: skip
        if columns == 1 or drawn.get_window_extent(renderer).width <= page.figure.bbox.width:
            return
        drawn.remove()
