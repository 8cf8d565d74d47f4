"""The attention view's plotly figures: the chosen head's pattern (row = query, column = key,
row 0 on top), and the grid of every layer x head (block-averaged thumbnails, a badge on each
head that shows a pattern, the chosen head outlined).

The pattern is the whole map or a window of it (``window`` tokens from ``start``, see
:meth:`explain.views.AttentionData.window`): 1,024 tokens cannot all be labelled, a window's
can. A window's map grows to label every token: up to ``NOTEBOOK_PX`` wide (what a notebook
shows unscaled) and ``HEATMAP_MAX_HEIGHT`` tall, so at the light theme's 12 px every query
of a 64-token window is labelled and every key of one up to ~44 tokens (beyond: every other).
"""

from __future__ import annotations

import math

import numpy as np

from explain import views
from explain.style import Theme, colorscale

from ..attention_grid import badges, cell_size, mosaic
from ..rules import (
    MAX_TICK_LABELS,
    NOTEBOOK_PX,
    STEP_MARKER_COLOUR,
    label,
    labelled_px,
    token_ticks,
)
from . import blocks as P

HEATMAP_SIZE = 480
HEATMAP_MAX_HEIGHT = 1200  # a window's map grows to label each query up to this tall
GRID_WIDTH = 420
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}
GRID_TITLE = "all heads (click one)"


def title(
    view: views.AttentionData,
    layer: int,
    head: int,
    step: int,
    window: views.AttentionWindow | None = None,
) -> str:
    return label(view.heading(layer, head, step, window))


def figures(
    view: views.AttentionData,
    index: int,
    theme: Theme,
    layer: int = 0,
    head: int = 0,
    window: int | None = None,
    start: int = 0,
    key_start: int | None = None,
) -> list[dict]:
    """The heatmap of ``head`` of ``layer`` and the grid, at frame ``index``; the heatmap shows
    the whole map, or ``window`` tokens from query ``start`` and key ``key_start``
    (:meth:`~explain.views.AttentionData.window`).

    What moves with neither the step nor the head is built once per view model and theme
    (:func:`explain.views.memo`): a step sets the heatmap's z and title, the grid's mosaic and
    badges; a head sets the heatmap's z and title and the grid's outline. ``Plot.show`` finds
    the rest (hover labels, ticks) unchanged by identity. A window's heatmap is built anew
    (64 labels, not 1,024: cheap)."""
    shown = view.window(window, start, key_start)
    step = int(view.steps[index])
    first = view.layers[0], view.heads[0]
    shown_grid = views.memo(
        view, ("attention grid", theme), lambda: grid(view, index, theme, *first)
    )
    if shown.whole:
        shown_heatmap = views.memo(
            view, ("attention heatmap", theme), lambda: heatmap(view, index, theme, *first)
        )
        row, column = view.layers.index(layer), view.heads.index(head)
        pattern = view.layer_patterns[row][index, column]  # [q_pos, k_pos]
        (heat,) = shown_heatmap["data"]
        heat_layout = shown_heatmap["layout"]
        shown_heatmap = {
            "data": [{**heat, "z": np.asarray(pattern, np.float32)}],
            "layout": {
                **heat_layout,
                "title": {**heat_layout["title"], "text": title(view, layer, head, step)},
            },
        }
    else:
        shown_heatmap = heatmap(view, index, theme, layer, head, shown)
    (cells,) = shown_grid["data"]
    grid_layout = shown_grid["layout"]
    return [
        shown_heatmap,
        {
            "data": [{**cells, "z": mosaic(view, index)}],
            "layout": {
                **grid_layout,
                "annotations": grid_annotations(view, index, badge_size(theme)),
                "shapes": [outline(view, layer, head)],
            },
        },
    ]


def heatmap(
    view: views.AttentionData,
    index: int,
    theme: Theme,
    layer: int,
    head: int,
    window: views.AttentionWindow | None = None,
) -> dict:
    """The map of ``head`` of ``layer`` at frame ``index``: the whole of it, or ``window``."""
    shown = view.window() if window is None else window
    row, column = view.layers.index(layer), view.heads.index(head)
    pattern = shown.crop(view.layer_patterns[row][index, column])  # [q_pos, k_pos]
    queries, keys = view.query_tokens[shown.queries], view.key_tokens[shown.keys]
    font = theme.font_size
    # the plot's side: the figure less its margins, the colour bar and the token labels (the
    # longest, up to eight characters of the theme's text); as many labels as fit it (a guess
    # of eight characters left a 12-digit probe every other label in the presentation theme)
    widest = min(8, max((len(str(t)) for t in (*queries, *keys)), default=1))
    room = MARGIN["l"] + MARGIN["r"] + (0.6 * widest + 2) * font
    width = height = HEATMAP_SIZE
    if not shown.whole:  # a window: as large as labelling each token needs, up to the limits
        wide, tall = (math.ceil(labelled_px(len(t), font) + room) for t in (keys, queries))
        width = min(max(wide, HEATMAP_SIZE), NOTEBOOK_PX)
        height = min(max(tall, HEATMAP_SIZE), HEATMAP_MAX_HEIGHT)
    every = None if not shown.whole else MAX_TICK_LABELS  # a window: as many as fit it
    q_ticks, q_text = token_ticks(queries, height - room, font, every)
    k_ticks, k_text = token_ticks(keys, width - room, font, every)
    trace = {
        "type": "heatmap",
        "z": np.asarray(pattern, np.float32),
        "x": np.arange(shown.key_start, shown.key_stop),
        "y": np.arange(shown.query_start, shown.query_stop),
        "zmin": view.zmin,
        "zmax": view.zmax,
        "colorscale": colorscale(view.colorscale),
        "colorbar": {"title": {"text": "weight"}, "thickness": 12},
        "hovertemplate": (
            "query %{y} %{customdata[0]}<br>key %{x} %{customdata[1]}<br>weight %{z}<extra></extra>"
        ),
        # plot.js fills customdata from these (one label per row and column, not per cell)
        "meta": {
            "hover_rows": [label(t) for t in queries],
            "hover_cols": [label(t) for t in keys],
        },
    }
    layout = {
        "width": width,
        "height": height,
        "margin": MARGIN,
        "uirevision": "explain",
        "title": {"text": title(view, layer, head, int(view.steps[index]), shown)},
        "xaxis": {
            "title": {"text": "key"},
            "tickangle": -60,
            "tickvals": [shown.key_start + tick for tick in k_ticks],
            "ticktext": k_text,
        },
        "yaxis": {
            "title": {"text": "query"},
            "autorange": "reversed",
            "tickvals": [shown.query_start + tick for tick in q_ticks],
            "ticktext": q_text,
        },
    }
    return P.themed({"data": [trace], "layout": layout}, theme)


def grid(view: views.AttentionData, index: int, theme: Theme, layer: int, head: int) -> dict:
    rows, cols = cell_size(view)
    tiled = mosaic(view, index)
    height, width = tiled.shape
    n_layers, n_heads = len(view.layers), len(view.heads)
    area = GRID_WIDTH - MARGIN["l"] - MARGIN["r"]
    trace = {
        "type": "heatmap",
        "z": tiled,
        "x": np.arange(width),
        "y": np.arange(height),
        "zmin": view.zmin,
        "zmax": view.zmax,
        "colorscale": colorscale(view.colorscale),
        "showscale": False,
        "hoverongaps": False,
        "hovertemplate": (
            "layer %{customdata[0]} head %{customdata[1]}<br>mean weight %{z:.3f}<extra></extra>"
        ),
        "meta": {
            "hover_rows": [str(view.layers[r // (rows + 1)]) for r in range(height)],
            "hover_cols": [str(view.heads[c // (cols + 1)]) for c in range(width)],
        },
    }
    layout = {
        "width": GRID_WIDTH,
        "height": int(np.clip(MARGIN["t"] + MARGIN["b"] + area * height / width, 200, 700)),
        "margin": MARGIN,
        "uirevision": "explain",
        "title": {"text": GRID_TITLE},
        "xaxis": {
            "title": {"text": "head"},
            "showgrid": False,
            "constrain": "domain",
            "tickvals": [h * (cols + 1) + (cols - 1) / 2 for h in range(n_heads)],
            "ticktext": [str(h) for h in view.heads],
        },
        # square pixels: a cell keeps its q x k aspect whatever the number of layers and heads
        "yaxis": {
            "title": {"text": "layer"},
            "autorange": "reversed",
            "showgrid": False,
            "scaleanchor": "x",
            "constrain": "domain",
            "tickvals": [i * (rows + 1) + (rows - 1) / 2 for i in range(n_layers)],
            "ticktext": [str(i) for i in view.layers],
        },
        "annotations": grid_annotations(view, index, badge_size(theme)),
        "shapes": [outline(view, layer, head)],
    }
    return P.themed({"data": [trace], "layout": layout}, theme)


def badge_size(theme: Theme) -> int:
    """The grid badges' text size in ``theme``: 10 px, or the theme's least if larger."""
    return max(10, theme.min_font_size)


def outline(view: views.AttentionData, layer: int, head: int) -> dict:
    """The rectangle around ``head`` of ``layer`` in the grid."""
    rows, cols = cell_size(view)
    row, column = view.layers.index(layer), view.heads.index(head)
    left, top = column * (cols + 1) - 0.5, row * (rows + 1) - 0.5
    return {
        "type": "rect",
        "x0": left,
        "x1": left + cols,
        "y0": top,
        "y1": top + rows,
        "line": {"color": STEP_MARKER_COLOUR, "width": 3},
    }


def grid_annotations(view: views.AttentionData, index: int, size: int = 10) -> list[dict]:
    """The grid's badges at frame ``index`` (`attention_grid.badges`) as plotly annotations,
    their text ``size`` px (the theme's least: 16 on a projector)."""
    rows, cols = cell_size(view)
    return [
        {
            "x": c * (cols + 1) - 0.5,
            "y": r * (rows + 1) - 0.5,
            "xanchor": "left",
            "yanchor": "top",
            "text": badge,
            "showarrow": False,
            "font": {"size": size, "color": "#ffffff"},
            "bgcolor": "rgba(0,0,0,0.55)",
        }
        for r, c, badge in badges(view, index)
    ]
