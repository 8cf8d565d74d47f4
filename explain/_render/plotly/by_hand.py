"""The by-hand view's plotly figures: the scaled scores (signed, centred on 0; masked cells
blank and written −∞) and the softmax weights (in [0, 1]), each cell's number written in it and
the explained query row outlined."""

from __future__ import annotations

import numpy as np

from explain.style import Theme, colorscale
from explain.views import ByHandData

from ..rules import STEP_MARKER_COLOUR, token_ticks
from . import blocks as P


def titles(view: ByHandData) -> tuple[str, str]:
    """The two panels' titles; the scores' names the mask only when it hides a cell."""
    masked = "" if view.mask.all() else " (masked: −∞)"
    return f"scaled scores q·k/√d{masked}", "weights = softmax(row)"


MASKED = "−∞"
OUTLINE = STEP_MARKER_COLOUR  # the explained row (a selection, like the step on a curve)


def cell_text(values: np.ndarray, mask: np.ndarray | None = None) -> list[list[str]]:
    """Each cell's number as written in it (two decimals); −∞ where ``mask`` hides it."""
    text = [[f"{x:.2f}" for x in row] for row in values.tolist()]
    if mask is not None:
        for i, j in zip(*np.nonzero(~mask), strict=True):
            text[i][j] = MASKED
    return text


def matrices(view: ByHandData) -> list[tuple[np.ndarray, list[list[str]]]]:
    """(z, text) of each panel: scores with masked cells NaN (blank), then weights."""
    return [
        (np.where(view.mask, view.scaled, np.nan), cell_text(view.scaled, view.mask)),
        (view.weights, cell_text(view.weights)),
    ]


def gaps(z: np.ndarray) -> np.ndarray | list[list[float | None]]:
    """``z`` for plotly: a masked score (NaN) as None, a gap in plotly's JSON (NaN is no JSON
    number and never equals itself, so the widget's figure could not equal the page's)."""
    if np.isfinite(z).all():
        return z
    return [[x if np.isfinite(x) else None for x in row] for row in z.tolist()]


PLOT_PX = 220  # the heatmap's width inside the figure's 360 px (margins and colour bar off)


def _numbers_fit(columns: int, text: list[list[str]], theme: Theme) -> bool:
    """Whether every cell's number fits its cell at ``theme``'s smallest text size."""
    widest = max((len(cell) for row in text for cell in row), default=0)
    return PLOT_PX / max(columns, 1) >= 0.6 * theme.min_font_size * widest + 4


def _matrix_figure(
    view: ByHandData, title: str, z: np.ndarray, text: list[list[str]], signed: bool, theme: Theme
) -> dict:
    # Scores are signed: the diverging scale centred on 0. Weights lie in [0, 1].
    if signed:
        scale = {"colorscale": colorscale(view.score_colorscale), "zmid": 0.0}
    else:
        scale = {"colorscale": colorscale(view.colorscale), "zmin": 0.0, "zmax": 1.0}
    n_q, n_k = z.shape
    positions, labels = token_ticks(view.tokens)
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": labels}
    row = view.query
    outline = {
        "type": "rect",
        "xref": "x",
        "yref": "y",
        "x0": -0.5,
        "x1": n_k - 0.5,
        "y0": row - 0.5,
        "y1": row + 0.5,
        "line": {"color": OUTLINE, "width": 3},
    }
    figure = {
        "data": [
            {
                "type": "heatmap",
                "z": gaps(z),
                "text": text,
                # a cell's number only where it fits at the theme's smallest text (12 tokens
                # left 19 px cells, and plotly shrank "-11.30" to 4 px); hover still shows it
                "texttemplate": "%{text}" if _numbers_fit(n_k, text, theme) else "",
                "colorbar": {"thickness": 10},
                "hovertemplate": "query %{y}<br>key %{x}<br>%{text}<extra></extra>",
                **scale,
            }
        ],
        "layout": {
            "title": {"text": title},
            "width": 360,
            "height": 370,
            "margin": {"l": 70, "r": 20, "t": 50, "b": 80},
            "uirevision": "explain",
            "xaxis": {"title": {"text": "key"}, "tickangle": -45, **ticks},
            "yaxis": {"title": {"text": "query"}, "autorange": "reversed", **ticks},
            "shapes": [outline],
            "annotations": [],
        },
    }
    return P.themed(figure, theme)


def figures(view: ByHandData, index: int, theme: Theme) -> list[dict]:
    """The scores and the weights, as the widget shows them (one frame: ``index`` is 0)."""
    return [
        _matrix_figure(view, title, z, text, signed, theme)
        for title, (z, text), signed in zip(
            titles(view), matrices(view), (True, False), strict=True
        )
    ]
