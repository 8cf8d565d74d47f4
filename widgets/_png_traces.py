"""The traces of a static picture, and :func:`figure_png`, which draws a whole plotly figure.

:func:`figure_png` draws a plotly figure with matplotlib's Agg backend: no pyplot, no GUI, no
browser, no torch (kaleido takes 0.3-3 s a call; this ~30-100 ms). It covers what the views use:
heatmaps, scatter lines/markers/text, bars, contour lines, 3-D scatter (its x/y projection),
subplots placed by axis domain, shapes, annotations, titles, legends, log axes and the theme's
colours. Anything else is skipped, never an error. Each trace type has its drawer here; the page
they draw on, and the layout's parts drawn after them, are in :mod:`widgets._png_page`.

    >>> import plotly.graph_objects as go
    >>> figure_png(go.Figure(go.Heatmap(z=[[0, 1], [1, 0]])))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._png_page import (
    _DASHES,
    _draw_annotations,
    _draw_legend,
    _draw_shapes,
    _draw_title,
    _finish_axes,
    _Page,
)
from ._png_values import _array, _color, _colormap, _get, _mpl, _number, _numbers, _spec, plain_text

log = logging.getLogger(__name__)

MAX_CELL_TEXT = 400  # heatmap cells past this many are drawn without their numbers
# fmt: off
_SYMBOLS = {"circle": "o", "square": "s", "diamond": "D", "cross": "P", "x": "X", "star": "*",
            "triangle-up": "^", "triangle-down": "v", "hexagon": "h", "pentagon": "p"}
# fmt: on


# -- traces -----------------------------------------------------------------------------------
def _z_range(trace: dict, z: np.ndarray) -> tuple[float, float]:
    """plotly's colour domain: zmin/zmax when both are set, else the data's, centred on zmid."""
    zmin, zmax, zmid = trace.get("zmin"), trace.get("zmax"), trace.get("zmid")
    if trace.get("zauto") is not True and zmin is not None and zmax is not None:
        return float(zmin), float(zmax)
    finite = z[np.isfinite(z)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if zmid is not None:
        reach = max(high - float(zmid), float(zmid) - low)
        low, high = float(zmid) - reach, float(zmid) + reach
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _edges(centres: np.ndarray | None, count: int) -> np.ndarray:
    """Cell edges from ``count`` cell centres (or ``count + 1`` edges, plotly's "bricks")."""
    if centres is None or len(centres) not in (count, count + 1) or not np.isfinite(centres).all():
        centres = np.arange(count, dtype=np.float64)
    if len(centres) == count + 1:
        return centres
    if count == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def _grid(page: _Page, trace: dict) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray] | None:
    """(axes, z, x, y) of a heatmap or contour; x/y are cell centres or edges as given."""
    z = _array(trace.get("z"))
    if not _numbers(z) or z.ndim != 2 or not np.isfinite(z).any():
        return None
    ax, x_id, y_id = page.cartesian(trace)
    x = page.positions(x_id, _array(trace.get("x")))
    y = page.positions(y_id, _array(trace.get("y")))
    return ax, z.astype(np.float64), x, y


def _draw_heatmap(page: _Page, trace: dict) -> None:
    from matplotlib.colors import Normalize

    grid = _grid(page, trace)
    if grid is None:
        return
    ax, z, x, y = grid
    x_edges, y_edges = _edges(x, z.shape[1]), _edges(y, z.shape[0])
    cmap, norm = _colormap(trace.get("colorscale")), Normalize(*_z_range(trace, z))
    cmap = cmap.reversed() if trace.get("reversescale") else cmap
    masked = np.ma.masked_invalid(z)
    if np.allclose(np.diff(x_edges), x_edges[1] - x_edges[0]) and np.allclose(
        np.diff(y_edges), y_edges[1] - y_edges[0]
    ):  # evenly spaced: one image, faster to draw and to compress than a mesh of cells
        extent = (x_edges[0], x_edges[-1], y_edges[0], y_edges[-1])
        image = ax.imshow(
            masked, cmap=cmap, norm=norm, origin="lower", extent=extent, aspect="auto",
            interpolation="nearest", zorder=1,
        )  # fmt: skip
    else:
        image = ax.pcolormesh(x_edges, y_edges, masked, cmap=cmap, norm=norm, zorder=1)
    template = trace.get("texttemplate")
    if isinstance(template, str) and template and z.size <= MAX_CELL_TEXT:
        _cell_text(page, ax, trace, template, z, (x_edges, y_edges), cmap, norm)
    if trace is page.colorbar_trace:
        _colorbar(page, image, trace)


def _cell_text(page: _Page, ax: Any, trace: dict, template: str, z, edges, cmap, norm) -> None:
    """Each cell's ``texttemplate`` (``%{text}``, ``%{z}``, ``%{z:.2f}``) written in it."""
    text = _array(trace.get("text"))
    text = text if text is not None and text.shape == z.shape else None
    x_mid, y_mid = ((e[1:] + e[:-1]) / 2 for e in edges)
    size = _number(_get(trace, "textfont", "size"), page.font_size)
    for (row, col), value in np.ndenumerate(z):
        if not np.isfinite(value):
            continue

        def fill(match: re.Match, row: int = row, col: int = col, value: float = value) -> str:
            name, spec = match.group(1), (match.group(2) or ":")[1:]
            shown = text[row, col] if name == "text" and text is not None else value
            try:
                return format(shown, spec) if name in ("text", "z") else ""
            except (TypeError, ValueError):
                return str(shown)

        red, green, blue, _ = cmap(norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # a contrasting colour, as plotly
        label = re.sub(r"%\{(\w+)(:[^}]*)?\}", fill, template)
        ax.text(
            x_mid[col], y_mid[row], _mpl(label), ha="center", va="center", fontsize=size,
            color="white" if dark else "black", zorder=3, clip_on=True,
        )  # fmt: skip


def _colorbar(page: _Page, image: Any, trace: dict) -> None:
    left, bottom, width, height = page.area
    thickness = _number(_get(trace, "colorbar", "thickness"), 30.0)
    cax = page.figure.add_axes(
        (left + width + 10 / page.width, bottom, thickness / page.width, height)
    )
    bar = page.figure.colorbar(image, cax=cax)
    bar.outline.set_visible(False)
    style = page.text_style()
    cax.tick_params(labelsize=style["fontsize"], colors=style["color"], length=0)
    title = _get(trace, "colorbar", "title", "text")
    if title:
        cax.set_title(_mpl(title), loc="left", pad=6, **style)


def _draw_contour(page: _Page, trace: dict) -> None:
    from matplotlib.colors import Normalize

    grid = _grid(page, trace)
    if grid is None or min(grid[1].shape) < 2:
        return
    ax, z, x, y = grid
    x = x if x is not None and len(x) == z.shape[1] else np.arange(z.shape[1], dtype=float)
    y = y if y is not None and len(y) == z.shape[0] else np.arange(z.shape[0], dtype=float)
    style: dict[str, Any] = {
        "levels": int(_number(trace.get("ncontours"), 15)),
        "cmap": _colormap(trace.get("colorscale")),
        "norm": Normalize(*_z_range(trace, z)),
        "zorder": 1,
    }
    coloring = _get(trace, "contours", "coloring", default="fill")
    if coloring == "fill":
        image = ax.contourf(x, y, np.ma.masked_invalid(z), **style)
    else:
        if coloring == "none":
            style.pop("cmap")
            style["colors"] = [page.font_color]
        image = ax.contour(x, y, np.ma.masked_invalid(z), linewidths=1, **style)
    if trace is page.colorbar_trace:
        _colorbar(page, image, trace)


def _trace_color(page: _Page, trace: dict, index: int, *paths: tuple[str, ...]) -> Any:
    default = _color(page.colorway[index % len(page.colorway)], "#1f77b4")
    for path in paths:
        value = _get(trace, *path)
        if isinstance(value, str):
            return _color(value, default)
    return default


def _draw_scatter(page: _Page, trace: dict, index: int, ax: Any = None) -> None:
    """Lines, markers and text of a scatter (or, onto ``ax``, the x/y of a scatter3d)."""
    x, y = _array(trace.get("x")), _array(trace.get("y"))
    if ax is None:
        ax, x_id, y_id = page.cartesian(trace)
        x, y = page.positions(x_id, x), page.positions(y_id, y)
    else:
        x = x.astype(np.float64).ravel() if _numbers(x) else None
        y = y.astype(np.float64).ravel() if _numbers(y) else None
    if y is None:
        return
    x = np.arange(len(y), dtype=np.float64) if x is None else x
    count = min(len(x), len(y))
    if count == 0:
        return
    x, y = x[:count], y[:count]
    mode = trace.get("mode") or ("lines+markers" if count < 20 else "lines")
    opacity = _number(trace.get("opacity"), 1.0)
    handle = None
    if "lines" in mode:
        (handle,) = ax.plot(
            x, y, color=_trace_color(page, trace, index, ("line", "color"), ("marker", "color")),
            lw=_number(_get(trace, "line", "width"), 2.0), alpha=opacity, zorder=2,
            ls=_DASHES.get(str(_get(trace, "line", "dash", default="solid")), "-"),
        )  # fmt: skip
    if "markers" in mode:
        (points,) = ax.plot(
            x, y, ls="", ms=_number(_get(trace, "marker", "size"), 6.0), mec="none",
            marker=_SYMBOLS.get(str(_get(trace, "marker", "symbol", default="circle")), "o"),
            color=_trace_color(page, trace, index, ("marker", "color"), ("line", "color")),
            alpha=opacity, zorder=2.5,
        )  # fmt: skip
        handle = handle or points
    if "text" in mode:
        _point_text(page, ax, trace, x, y)
    if handle is not None and trace.get("showlegend") is not False:
        page.legend.append((index, handle, plain_text(trace.get("name")) or f"trace {index}"))


def _point_text(page: _Page, ax: Any, trace: dict, x: np.ndarray, y: np.ndarray) -> None:
    text = trace.get("text")
    array = None if isinstance(text, str) else _array(text)
    labels = [text] * len(x) if isinstance(text, str) else [] if array is None else array.ravel()
    vertical, _, horizontal = str(trace.get("textposition") or "middle center").partition(" ")
    gap = _number(_get(trace, "marker", "size"), 6.0) / 2 + 2
    offset = (
        {"left": -gap, "right": gap}.get(horizontal, 0),
        {"top": gap, "bottom": -gap}.get(vertical, 0),
    )
    ha = {"left": "right", "right": "left"}.get(horizontal, "center")
    va = {"top": "bottom", "bottom": "top"}.get(vertical, "center")
    style = page.text_style(trace.get("textfont"))
    for px, py, label in zip(x, y, labels, strict=False):
        if np.isfinite(px) and np.isfinite(py) and label is not None:
            ax.annotate(
                _mpl(label), (px, py), xytext=offset, textcoords="offset points", ha=ha, va=va,
                zorder=3, annotation_clip=True, **style,
            )  # fmt: skip


def _draw_bars(page: _Page, bars: list[tuple[int, dict]]) -> None:
    """Bar traces, side by side in each subplot (``barmode="group"``) or on top of each other."""
    groups: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for index, trace in bars:
        key = (str(trace.get("xaxis") or "x"), str(trace.get("yaxis") or "y"))
        groups.setdefault(key, []).append((index, trace))
    for group in groups.values():
        slots = len(group) if page.setting("barmode", default="group") == "group" else 1
        for slot, (index, trace) in enumerate(group):
            try:
                _draw_bar(page, trace, index, slot, slots)
            except Exception:  # one odd trace must not cost the whole picture
                log.debug("static picture: skipped a bar trace", exc_info=True)


def _draw_bar(page: _Page, trace: dict, index: int, slot: int, slots: int) -> None:
    ax, x_id, y_id = page.cartesian(trace)
    horizontal = trace.get("orientation") == "h"
    values = _array(trace.get("x" if horizontal else "y"))
    if not _numbers(values):
        return
    values = values.astype(np.float64).ravel()
    along = (y_id, trace.get("y")) if horizontal else (x_id, trace.get("x"))
    places = page.positions(along[0], _array(along[1]))
    places = np.arange(len(values), dtype=float) if places is None else places
    count = min(len(places), len(values))
    if count == 0:
        return
    places, values = places[:count], values[:count]
    distinct = np.unique(places)
    spacing = float(np.diff(distinct).min()) if len(distinct) > 1 else 1.0
    width = _number(
        trace.get("width"), spacing * (1 - _number(page.setting("bargap"), 0.2)) / slots
    )
    offset = (slot - (slots - 1) / 2) * width if slots > 1 else 0.0
    colors = _get(trace, "marker", "color")
    if isinstance(colors, list | tuple) and all(isinstance(c, str) for c in colors):
        colors = [_color(c, page.colorway[0]) for c in colors][:count]
    else:
        colors = _trace_color(page, trace, index, ("marker", "color"))
    handle = (ax.barh if horizontal else ax.bar)(
        places + offset, values, width, color=colors, zorder=2,
        alpha=_number(trace.get("opacity"), 1.0),
    )  # fmt: skip
    if trace.get("showlegend") is not False:
        page.legend.append((index, handle, plain_text(trace.get("name")) or f"trace {index}"))


def _draw_scene(page: _Page, trace: dict, index: int) -> None:
    """A 3-D scatter drawn as its x/y projection, in the scene's domain."""
    scene_id = str(trace.get("scene") or "scene")
    scene = _get(page.layout, scene_id, default={})
    domains = (
        _get(scene, "domain", "x", default=(0, 1)),
        _get(scene, "domain", "y", default=(0, 1)),
    )
    x_axis, y_axis = _get(scene, "xaxis", default={}), _get(scene, "yaxis", default={})
    ax = page.add_axes((f"{scene_id}.x", f"{scene_id}.y"), x_axis, y_axis, domains)
    _draw_scatter(page, trace, index, ax=ax)


# -- the picture ------------------------------------------------------------------------------
def figure_png(figure: Any, dpi: int = 72) -> bytes:
    """A PNG picture of a plotly figure (``go.Figure`` or its dict), drawn with matplotlib.

    At ``dpi=72`` a plotly pixel is a PNG pixel (a 480 x 480 figure gives about 480 x 480, more
    where labels stick out of the margins); ``dpi=144`` doubles the resolution. Traces and
    settings it does not know are skipped.
    """
    import matplotlib.style

    traces, layout = _spec(figure)
    traces = [_with_defaults(t, layout) for t in traces if isinstance(t, dict)]
    # matplotlib's defaults, whatever style the notebook set (plt.style.use, rcParams)
    with warnings.catch_warnings(), matplotlib.style.context("default"):
        warnings.simplefilter("ignore")  # e.g. a token's glyph missing from the font
        page = _Page(traces, layout, dpi)
        bars = []
        for index, trace in enumerate(traces):
            kind = trace.get("type") or "scatter"
            try:
                if trace.get("visible", True) is not True:
                    if kind in ("scatter", "scattergl", "bar", "heatmap"):
                        page.cartesian(trace)  # plotly still draws its (empty) axes
                elif kind == "heatmap":
                    _draw_heatmap(page, trace)
                elif kind == "contour":
                    _draw_contour(page, trace)
                elif kind in ("scatter", "scattergl"):
                    _draw_scatter(page, trace, index)
                elif kind == "bar":
                    bars.append((index, trace))
                elif kind == "scatter3d":
                    _draw_scene(page, trace, index)
                else:
                    log.debug("static picture: %s traces are not drawn", kind)
            except Exception:  # one odd trace must not cost the whole picture
                log.debug("static picture: skipped a %s trace", kind, exc_info=True)
        _draw_bars(page, bars)
        for x_id, y_id in _declared_subplots(layout):
            page.cartesian({"xaxis": x_id, "yaxis": y_id})
        if not page.axes:
            page.cartesian({})
        for part in (_finish_axes, _draw_shapes, _draw_annotations, _draw_title, _draw_legend):
            try:
                part(page)
            except Exception:
                log.debug("static picture: skipped %s", part.__name__, exc_info=True)
        return page.to_png()


def _with_defaults(trace: dict, layout: dict) -> dict:
    """``trace`` over its template's defaults for its type (e.g. plotly's colour scales)."""
    defaults = _get(layout, "template", "data", str(trace.get("type") or "scatter"))
    if isinstance(defaults, list | tuple) and defaults and isinstance(defaults[0], dict):
        return {**defaults[0], **trace}
    return trace


def _declared_subplots(layout: dict) -> Iterator[tuple[str, str]]:
    """(x, y) axis ids of the subplots the layout declares (``xaxis2`` anchored to ``y2``)."""
    for key, axis in layout.items():
        match = re.fullmatch(r"xaxis(\d*)", key)
        anchor = axis.get("anchor") if match and isinstance(axis, dict) else None
        if isinstance(anchor, str) and anchor.startswith("y"):
            yield f"x{match.group(1)}", anchor
