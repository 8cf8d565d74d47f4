"""The positional view's plotly figures: the encoding table as a [position x dimension]
heatmap (row 0 on top), chosen dimensions as curves over position, and the position-by-position
cosine similarity. A formula without a trace (:func:`explain.views.positional_formula`) has
no step, so its titles name none."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explain import views
from explain.style import Theme, colorscale

from ..rules import label
from . import blocks as P

SIZE = 420  # each figure is SIZE x SIZE px
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}
MAX_CURVES = 8  # curve traces in the figure; a selection shows up to this many
DEFAULT_DIMS = 4  # curves shown when no dimensions are chosen: the first ones


def column(view: views.PositionalData) -> str:
    """What a column of the table is (rotary tables hold a cos and a sin column per pair)."""
    return "column (cos even, sin odd)" if view.kind == "rope" else "dimension"


def where(view: views.PositionalData, index: int) -> str:
    return "" if view.formula else f" · step {int(view.steps[index])}"


def titles(view: views.PositionalData, index: int) -> tuple[str, str, str]:
    """The titles of the table, the curves and the similarity (as text, not yet escaped)."""
    positions, width = view.table.shape[1:]
    at = where(view, index)
    return (
        f"{view.kind or 'positional'} [{positions} x {width}]{at}",
        f"selected dimensions{at}",
        f"cosine similarity of positions{at}",
    )


def chosen(view: views.PositionalData, dims: Sequence[int] | None) -> list[int]:
    """The dimensions drawn as curves: ``dims`` (checked), or the first few for None."""
    width = view.table.shape[2]
    if dims is None:
        return list(range(min(DEFAULT_DIMS, width)))
    picked = [int(d) for d in dims]
    bad = [d for d in picked if not 0 <= d < width]
    if bad or len(picked) > MAX_CURVES:
        raise ValueError(
            f"dims must be at most {MAX_CURVES} dimensions in 0..{width - 1}; got {list(dims)}"
        )
    return picked


def colours(theme: Theme) -> list[str]:
    """The colour of each curve slot (the matplotlib builder draws the same)."""
    return [theme.colorway[i % len(theme.colorway)] for i in range(MAX_CURVES)]


def figures(
    view: views.PositionalData, index: int, theme: Theme, dims: Sequence[int] | None = None
) -> list[dict]:
    """The table, the curves of ``dims`` (default: the first four) and the similarity, at
    frame ``index``."""
    picked = chosen(view, dims)
    table_title, curves_title, similarity_title = titles(view, index)
    table = np.asarray(view.table[index], np.float32)  # [pos, dim]
    hover = "dimension" if view.kind != "rope" else "column"
    return [
        heatmap(
            table,
            -view.limit,
            view.limit,
            view,
            theme,
            table_title,
            column(view),
            f"position %{{y}}<br>{hover} %{{x}}<br>value %{{z:.4f}}<extra></extra>",
        ),
        curves(table, picked, view.limit, theme, curves_title),
        heatmap(
            np.asarray(view.similarity[index], np.float32),  # [pos, pos]
            -1.0,
            1.0,
            view,
            theme,
            similarity_title,
            "position",
            "position %{y} · position %{x}<br>cosine %{z:.4f}<extra></extra>",
        ),
    ]


def _layout(text: str, **axes: dict) -> dict:
    """A figure's layout: titled ``text``, every figure's size and margin, then ``axes``."""
    return {
        "title": {"text": label(text)},
        "width": SIZE,
        "height": SIZE,
        "margin": MARGIN,
        "uirevision": "explain",
        **axes,
    }


def heatmap(
    z: np.ndarray,
    zmin: float,
    zmax: float,
    view: views.PositionalData,
    theme: Theme,
    text: str,
    x_title: str,
    hover: str,
) -> dict:
    """A heatmap with one row per position, row 0 at the top, centred on zero."""
    rows, cols = z.shape
    data = [
        {
            "type": "heatmap",
            "z": z,
            "x": np.arange(cols),
            "y": np.arange(rows),
            "zmin": zmin,
            "zmax": zmax,
            "zmid": 0.0,
            "colorscale": colorscale(view.colorscale),
            "colorbar": {"thickness": 12},
            "hovertemplate": hover,
        }
    ]
    layout = _layout(
        text,
        xaxis={"title": {"text": x_title}},
        yaxis={"title": {"text": "position"}, "autorange": "reversed"},
    )
    return P.themed({"data": data, "layout": layout}, theme)


def value_range(limit: float) -> list[float]:
    """The curves' value axis: the table's whole range at every step, so a learned encoding
    is seen growing from zero instead of each step filling the plot."""
    return [-1.05 * limit, 1.05 * limit]


def curves(table: np.ndarray, dims: list[int], limit: float, theme: Theme, text: str) -> dict:
    positions = np.arange(table.shape[0])
    empty = np.zeros(0, np.float32)
    colour = colours(theme)
    data = [
        {
            "type": "scatter",
            "x": positions if i < len(dims) else empty,
            "y": table[:, dims[i]] if i < len(dims) else empty,
            "mode": "lines",
            "name": f"dim {dims[i]}" if i < len(dims) else "",
            "visible": i < len(dims),
            "line": {"color": colour[i]},
        }
        for i in range(MAX_CURVES)
    ]
    layout = _layout(
        text,
        legend={"orientation": "h", "y": -0.2},
        xaxis={"title": {"text": "position"}},
        yaxis={"title": {"text": "value"}, "range": value_range(limit)},
    )
    return P.themed({"data": data, "layout": layout}, theme)
