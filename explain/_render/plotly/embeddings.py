"""The plotly figure of the embeddings view: tokens in their first two principal components."""

from __future__ import annotations

from collections.abc import Sequence

from explain import views
from explain.style import Theme

from . import blocks as P


def embeddings(
    view: views.EmbeddingData, frames: Sequence[int], index: int, marked: int | None, theme: Theme
) -> dict:
    coords = view.coords[:, :, :2]  # [snapshot, token, 2]
    paths_x, paths_y = [], []
    for t in range(coords.shape[1]):
        paths_x += [*coords[:, t, 0].tolist(), None]
        paths_y += [*coords[:, t, 1].tolist(), None]
    tokens = [P.label(t) for t in view.tokens]
    data = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": paths_x,
            "y": paths_y,
            "hoverinfo": "skip",
            "line": {"color": "rgba(128,128,128,0.35)", "width": 1},
            "name": "path over training",
        },
        {
            "type": "scatter",
            "mode": "markers+text",
            "x": P.typed(coords[index, :, 0]),
            "y": P.typed(coords[index, :, 1]),
            "text": tokens,
            "textposition": "top right",
            "marker": {"size": 9, "color": theme.colorway[0]},
            "name": "token",
            "hovertemplate": "%{text}<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
        },
    ]
    frames, active = P.initial(frames, index)
    layout = P.layout(
        view.title,
        640,
        theme,
        showlegend=False,
        xaxis={
            "range": list(view.ranges[0]),
            "zeroline": True,
            "title": {"text": f"PC1 ({view.explained[0]:.0%} of the variance over training)"},
        },
        yaxis={
            "range": list(view.ranges[1]),
            "zeroline": True,
            "title": {"text": f"PC2 ({view.explained[1]:.0%})"},
        },
        **P.slider(view.steps, frames, active),
    )
    return {
        "data": data,
        "layout": layout,
        "frames": P.frame_list(
            view.steps,
            frames,
            [1],
            lambda i: [{"x": P.typed(coords[i, :, 0]), "y": P.typed(coords[i, :, 1])}],
        ),
    }
