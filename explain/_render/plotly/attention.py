"""The attention view's plotly figures: the chosen head's pattern (row = query, column = key,
row 0 on top), and the grid of every layer x head (block-averaged thumbnails, a badge on each
head that shows a pattern, the chosen head outlined)."""

from __future__ import annotations

import numpy as np

from explain import views
from explain.style import Theme, colorscale

from ..attention_grid import badges, cell_size, mosaic
from ..rules import STEP_MARKER_COLOUR, label, token_ticks
from . import blocks as P

HEATMAP_SIZE = 480
GRID_WIDTH = 420
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}
GRID_TITLE = "all heads (click one)"


def title(view: views.AttentionData, layer: int, head: int, step: int) -> str:
    return label(view.heading(layer, head, step))


def figures(
    view: views.AttentionData, index: int, theme: Theme, layer: int = 0, head: int = 0
) -> list[dict]:
    """The heatmap of ``head`` of ``layer`` and the grid, at frame ``index``.

    What moves with neither the step nor the head is built once per view model and theme
    (:func:`explain.views.memo`): a step sets the heatmap's z and title, the grid's mosaic and
    badges; a head sets the heatmap's z and title and the grid's outline. ``Plot.show`` finds
    the rest (hover labels, ticks) unchanged by identity."""
    row, column = view.layers.index(layer), view.heads.index(head)
    step = int(view.steps[index])
    first = view.layers[0], view.heads[0]
    fixed = views.memo(
        view,
        ("attention", theme),
        lambda: (heatmap(view, index, theme, *first), grid(view, index, theme, *first)),
    )
    shown_heatmap, shown_grid = fixed
    pattern = view.layer_patterns[row][index, column]  # [q_pos, k_pos]
    (heat,) = shown_heatmap["data"]
    (cells,) = shown_grid["data"]
    heat_layout, grid_layout = shown_heatmap["layout"], shown_grid["layout"]
    return [
        {
            "data": [{**heat, "z": np.asarray(pattern, np.float32)}],
            "layout": {
                **heat_layout,
                "title": {**heat_layout["title"], "text": title(view, layer, head, step)},
            },
        },
        {
            "data": [{**cells, "z": mosaic(view, index)}],
            "layout": {
                **grid_layout,
                "annotations": grid_annotations(view, index, badge_size(theme)),
                "shapes": [outline(view, layer, head)],
            },
        },
    ]


def heatmap(view: views.AttentionData, index: int, theme: Theme, layer: int, head: int) -> dict:
    row, column = view.layers.index(layer), view.heads.index(head)
    pattern = view.layer_patterns[row][index, column]  # [q_pos, k_pos]
    n_q, n_k = pattern.shape
    # the plot's side: the figure less its margins, the colour bar and the token labels (the
    # longest, up to eight characters of the theme's text); as many labels as fit it (a guess
    # of eight characters left a 12-digit probe every other label in the presentation theme)
    widest = min(8, max((len(str(t)) for t in (*view.query_tokens, *view.key_tokens)), default=1))
    side = HEATMAP_SIZE - MARGIN["l"] - MARGIN["r"] - (0.6 * widest + 2) * theme.font_size
    q_ticks, q_text = token_ticks(view.query_tokens, side, theme.font_size)
    k_ticks, k_text = token_ticks(view.key_tokens, side, theme.font_size)
    trace = {
        "type": "heatmap",
        "z": np.asarray(pattern, np.float32),
        "x": np.arange(n_k),
        "y": np.arange(n_q),
        "zmin": view.zmin,
        "zmax": view.zmax,
        "colorscale": colorscale(view.colorscale),
        "colorbar": {"title": {"text": "weight"}, "thickness": 12},
        "hovertemplate": (
            "query %{y} %{customdata[0]}<br>key %{x} %{customdata[1]}<br>weight %{z}<extra></extra>"
        ),
        # plot.js fills customdata from these (one label per row and column, not per cell)
        "meta": {
            "hover_rows": [label(t) for t in view.query_tokens],
            "hover_cols": [label(t) for t in view.key_tokens],
        },
    }
    layout = {
        "width": HEATMAP_SIZE,
        "height": HEATMAP_SIZE,
        "margin": MARGIN,
        "uirevision": "explain",
        "title": {"text": title(view, layer, head, int(view.steps[index]))},
        "xaxis": {
            "title": {"text": "key"},
            "tickangle": -60,
            "tickvals": k_ticks,
            "ticktext": k_text,
        },
        "yaxis": {
            "title": {"text": "query"},
            "autorange": "reversed",
            "tickvals": q_ticks,
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
