"""The plotly figure of the attention view: a grid of every layer x head over training."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explain import views
from explain.style import Theme, colorscale

from . import blocks as P


def attention(
    view: views.AttentionData, frames: Sequence[int], index: int, marked: int | None, theme: Theme
) -> dict:
    rows, cols = len(view.layers), len(view.heads)
    q, k = len(view.query_tokens), len(view.key_tokens)
    shown = view.at(index)
    cells = P.grid(rows, cols, gap_y=0.14 if rows > 1 else 0.1)
    hover = [
        [f"{P.label(view.query_tokens[i])} → {P.label(view.key_tokens[j])}" for j in range(k)]
        for i in range(q)
    ]
    data, layout_axes, titles = [], {}, []
    for (r, c), cell in zip(np.ndindex(rows, cols), cells, strict=True):
        x, y = P.axis_ids(cell["n"])
        data.append(
            {
                "type": "heatmap",
                "z": P.typed(shown[r, c]),
                "xaxis": x,
                "yaxis": y,
                "zmin": view.zmin,
                "zmax": view.zmax,
                "colorscale": colorscale(view.colorscale),
                "showscale": cell["n"] == 1,
                "colorbar": {"title": {"text": "weight"}, "len": 0.8},
                "text": hover,
                "hovertemplate": "%{text}<br>weight %{z:.3f}<extra></extra>",
                "xgap": 0,
                "ygap": 0,
            }
        )
        name = "" if cell["n"] == 1 else str(cell["n"])
        layout_axes[f"xaxis{name}"] = {
            "domain": cell["x"],
            "anchor": y,
            **P.ticks(view.key_tokens),
            "tickangle": -90 if k > 6 else 0,
        }
        layout_axes[f"yaxis{name}"] = {
            "domain": cell["y"],
            "anchor": x,
            "autorange": "reversed",
            "scaleanchor": x,
            "constrain": "domain",
            **P.ticks(view.query_tokens),
        }
        titles.append(P.panel_title(cell, f"layer {view.layers[r]} · head {view.heads[c]}"))
    frames, active = P.initial(frames, index)
    panel = int(np.clip(20 * max(q, k), 190, 420))
    figure = {
        "data": data,
        "layout": P.layout(
            view.title,
            panel * rows + 200,
            theme,
            annotations=titles,
            **layout_axes,
            **P.slider(view.steps, frames, active),
        ),
        "frames": P.frame_list(
            view.steps,
            frames,
            list(range(rows * cols)),
            lambda i: [{"z": P.typed(z)} for z in view.at(i).reshape(rows * cols, q, k)],
        ),
    }
    return figure
