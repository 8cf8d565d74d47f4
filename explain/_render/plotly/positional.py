"""The plotly figure of the positional view: the encoding table and position similarity."""

from __future__ import annotations

from collections.abc import Sequence

from explain import views
from explain.style import Theme, colorscale

from . import blocks as P


def positional(
    view: views.PositionalData, frames: Sequence[int], index: int, marked: int | None, theme: Theme
) -> dict:
    limit, scale = view.limit, colorscale(view.colorscale)
    positions = view.table.shape[1]
    data = [
        {
            "type": "heatmap",
            "z": P.typed(view.table[index]),
            "zmin": -limit,
            "zmax": limit,
            "colorscale": scale,
            "xaxis": "x",
            "yaxis": "y",
            "colorbar": {"x": 0.56, "len": 0.8},
            "hovertemplate": "position %{y}, column %{x}: %{z:.3f}<extra></extra>",
        },
        {
            "type": "heatmap",
            "z": P.typed(view.similarity[index]),
            "zmin": -1,
            "zmax": 1,
            "colorscale": scale,
            "xaxis": "x2",
            "yaxis": "y2",
            "colorbar": {"x": 1.0, "len": 0.8},
            "hovertemplate": "positions %{y} and %{x}: %{z:.3f}<extra></extra>",
        },
    ]
    left, right = {"x": [0.0, 0.5], "y": [0, 1]}, {"x": [0.64, 0.96], "y": [0, 1]}
    column = "column (cos even, sin odd)" if view.kind == "rope" else "dimension"
    changes = view.changes
    frames, active = P.initial(frames if changes else [index], index)
    extra = P.slider(view.steps, frames, active) if changes else {}
    layout = P.layout(
        view.title,
        520,
        theme,
        xaxis={"domain": left["x"], "title": {"text": column}},
        yaxis={"domain": left["y"], "autorange": "reversed", "title": {"text": "position"}},
        xaxis2={"domain": right["x"], "anchor": "y2", "title": {"text": "position"}},
        yaxis2={
            "domain": right["y"],
            "anchor": "x2",
            "autorange": "reversed",
            "scaleanchor": "x2",
            "constrain": "domain",
        },
        annotations=[
            P.panel_title(left, "encoding table [position, column]"),
            P.panel_title(right, f"cosine similarity of {positions} positions"),
        ],
        **extra,
    )
    figure = {"data": data, "layout": layout}
    if changes:
        figure["frames"] = P.frame_list(
            view.steps,
            frames,
            [0, 1],
            lambda i: [{"z": P.typed(view.table[i])}, {"z": P.typed(view.similarity[i])}],
        )
    return figure
