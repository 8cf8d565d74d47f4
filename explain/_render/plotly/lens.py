"""Interactive (plotly) figure of the lens view model, for HTML exports and the report.

The logit lens table (hover a cell for its top three tokens), the attention rollout and the
saliency bars, with a slider over positions instead of steps (the lens has one step): moving
it redraws the bars and moves the outline of the chosen column and rollout row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explain.style import LIGHT, OKABE_ITO, Theme, colorscale
from explain.views import LensData

from . import blocks as P

RIGHT, WRONG = OKABE_ITO[2], OKABE_ITO[5]  # as in the matplotlib figure
CELLS = (
    {"x": [0.0, 0.40], "y": [0.0, 1.0]},
    {"x": [0.54, 0.74], "y": [0.0, 1.0]},
    {"x": [0.85, 1.0], "y": [0.0, 1.0]},
)


def _hover(view: LensData) -> list[list[str]]:
    """[layer + 1][pos] the cell's three most likely tokens, for the table's hover."""
    best = np.argsort(-view.probs, axis=-1, kind="stable")[..., :3]  # [layer + 1, pos, 3]
    rows = []
    for layer, name in enumerate(view.layers):
        row = []
        for pos, token in enumerate(view.tokens):
            top = "<br>".join(
                f"{P.label(view.vocab[i])}: {view.probs[layer, pos, i]:.3f}"
                for i in best[layer, pos]
            )
            row.append(f"{name} · position {pos} ({P.label(token)})<br>{top}")
        rows.append(row)
    return rows


def _bars(view: LensData, position: int) -> dict:
    values = view.bars(position)
    return {
        "x": values.tolist(),
        "marker": {"color": [RIGHT if v >= 0 else WRONG for v in values]},
    }


def _shapes(view: LensData, position: int) -> list[dict]:
    """The chosen column of the table and row of the rollout, outlined."""
    n_pos, n_rows = len(view.tokens), len(view.layers)
    line = {"color": WRONG, "width": 3}
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "y",
            "x0": position - 0.5,
            "x1": position + 0.5,
            "y0": -0.5,
            "y1": n_rows - 0.5,
            "line": line,
        },
        {
            "type": "rect",
            "xref": "x2",
            "yref": "y2",
            "x0": -0.5,
            "x1": n_pos - 0.5,
            "y0": position - 0.5,
            "y1": position + 0.5,
            "line": line,
        },
    ]


def _bars_axis(view: LensData, position: int) -> dict:
    limit = float(np.abs(view.bars(position)).max()) or 1.0  # each position on its own scale
    return {"range": [-1.1 * limit, 1.1 * limit], "exponentformat": "e"}


def _bars_title(view: LensData, position: int) -> str:
    predicted = view.top_token[-1][position]
    return (
        f"saliency of position {position} ({P.label(view.tokens[position])})<br>"
        f"predicting {P.label(predicted)}"
    )


def _annotations(view: LensData, position: int) -> list[dict]:
    target = {  # names the row of targets above the table
        "text": "target",
        "x": CELLS[0]["x"][0],
        "y": 1.0,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "right",
        "yanchor": "bottom",
        "yshift": 4,
        "showarrow": False,
    }
    return [
        target,
        P.panel_title(CELLS[1], "attention rollout"),
        P.panel_title(CELLS[2], _bars_title(view, position)),
    ]


def _position_slider(view: LensData) -> dict:
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    return {
        "sliders": [
            {
                "active": view.position,
                "currentvalue": {"prefix": "saliency of position ", "font": {"size": 13}},
                "pad": {"t": 50},
                "len": 1.0,
                "x": 0.0,
                "steps": [
                    {
                        "label": f"{p} {P.label(token)}",
                        "method": "animate",
                        "args": [[str(p)], animate],
                    }
                    for p, token in enumerate(view.tokens)
                ],
            }
        ]
    }


def lens(
    view: LensData,
    frames: Sequence[int],
    index: int,
    marked: int | None,
    theme: Theme = LIGHT,
) -> dict:
    """One step (the lens is recorded once): its slider picks a position, not a step."""
    n_pos = len(view.tokens)
    positions = list(range(n_pos))
    target_row = [P.label(view.targets[i]) if view.mask[i] else "" for i in positions]
    data = [
        {
            "type": "heatmap",
            "z": P.typed(view.top_prob),
            "x": positions,
            "y": list(range(len(view.layers))),
            "zmin": 0,
            "zmax": 1,
            "colorscale": colorscale(view.colorscale),
            "colorbar": {"x": 0.41, "len": 0.9, "thickness": 12, "title": {"text": "top prob"}},
            "text": [[P.label(t) for t in row] for row in view.top_token],
            "texttemplate": "%{text}",
            "textfont": {"size": 11},
            "customdata": _hover(view),
            "hovertemplate": "%{customdata}<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "heatmap",
            "z": P.typed(view.rollout),
            "zmin": 0,
            "zmax": 1,
            "colorscale": colorscale(view.colorscale),
            "showscale": False,
            "hovertemplate": "position %{y} takes %{z:.3f} from %{x}<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {
            "type": "bar",
            "orientation": "h",
            "y": positions,
            **_bars(view, view.position),
            "hovertemplate": "%{y}: %{x:.3g}<extra></extra>",
            "xaxis": "x3",
            "yaxis": "y3",
        },
    ]
    tokens = P.ticks(view.tokens)
    layout = P.layout(
        view.title,
        max(440, 22 * n_pos + 260),
        theme,
        showlegend=False,
        xaxis={
            "domain": CELLS[0]["x"],
            "anchor": "y",
            **tokens,
            "title": {"text": "input token; each cell: the top next token after that layer"},
        },
        xaxis4={  # the targets above the table
            "overlaying": "x",
            "side": "top",
            "matches": "x",
            "tickmode": "array",
            "tickvals": positions,
            "ticktext": target_row,
            "showgrid": False,
        },
        yaxis={
            "domain": CELLS[0]["y"],
            "anchor": "x",
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": list(range(len(view.layers))),
            "ticktext": view.layers,
        },
        xaxis2={"domain": CELLS[1]["x"], "anchor": "y2", **tokens},
        yaxis2={
            "domain": CELLS[1]["y"],
            "anchor": "x2",
            "autorange": "reversed",
            "scaleanchor": "x2",
            "constrain": "domain",
            **tokens,
        },
        xaxis3={
            "domain": CELLS[2]["x"],
            "anchor": "y3",
            "title": {"text": "gradient × input"},
            **_bars_axis(view, view.position),
        },
        yaxis3={"domain": CELLS[2]["y"], "anchor": "x3", "autorange": "reversed", **tokens},
        shapes=_shapes(view, view.position),
        annotations=_annotations(view, view.position),
        **_position_slider(view),
    )
    size = theme.font_size  # layer names on the left, the target row on top
    layout["margin"] = {**layout["margin"], "l": 9 * size, "t": 8 * size}
    # the target axis needs a trace to show its ticks: an invisible one on x4
    data.append(
        {
            "type": "scatter",
            "x": positions,
            "y": [0] * n_pos,
            "xaxis": "x4",
            "yaxis": "y",
            "mode": "markers",
            "marker": {"opacity": 0},
            "hoverinfo": "skip",
        }
    )
    frames = [
        {
            "name": str(p),
            "data": [_bars(view, p)],
            "traces": [2],
            "layout": {
                "shapes": _shapes(view, p),
                "xaxis3": _bars_axis(view, p),
                "annotations": _annotations(view, p),
            },
        }
        for p in positions
    ]
    return {"data": data, "layout": layout, "frames": frames}
