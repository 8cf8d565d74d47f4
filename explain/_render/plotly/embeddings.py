"""The embeddings view's plotly figures: every token as a labelled point on the first two (or
three) principal components of one PCA fit on all snapshots pooled, with the path each token
took up to the step shown, and the token-by-token cosine similarity at that step."""

from __future__ import annotations

import numpy as np

from explain import views
from explain.style import Theme, colorscale

from ..rules import label, token_ticks
from . import blocks as P

POINTS_SIZE = (460, 440)  # width, height
SIMILARITY_SIZE = 440
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}
TRAIL_RGBA = (128, 128, 128, 0.5)  # grey, half transparent: the points stay in front
TRAIL_COLOUR = "rgba({},{},{},{})".format(*TRAIL_RGBA)
SIMILARITY_TITLE = "cosine similarity"


def title(view: views.EmbeddingData, step: int) -> str:
    return f"{view.title} · step {step}"


def axis_title(view: views.EmbeddingData, axis: int) -> str:
    """``PC1 (43% of the variance)``: the share of the pooled variance along ``axis``."""
    return f"PC{axis + 1} ({view.explained[axis]:.0%} of the variance)"


def point_colour(theme: Theme) -> str:
    return theme.colorway[0]


def trail(view: views.EmbeddingData, index: int) -> np.ndarray:
    """[token * (index + 2), 2] the path of every token over snapshots 0..index, one after the
    other, each ended by a NaN row (a gap in the line); empty at the first snapshot."""
    if index < 1:
        return np.zeros((0, 2))
    paths = view.coords[: index + 1, :, :2].transpose(1, 0, 2)  # [token, time, 2]
    gap = np.full((paths.shape[0], 1, 2), np.nan)
    return np.concatenate([paths, gap], axis=1).reshape(-1, 2)


def checked(dims: object) -> int:
    if dims not in (2, 3) or isinstance(dims, bool):
        raise ValueError(f"dims must be 2 or 3 (principal components shown); got {dims!r}")
    return int(dims)  # type: ignore[call-overload]


def figures(
    view: views.EmbeddingData, index: int, theme: Theme, dims: int = 2, trails: bool = True
) -> list[dict]:
    """The points (``dims`` = 2: a plane with each token's path so far when ``trails``; 3: a
    rotatable cloud) and the cosine similarity, at frame ``index``."""
    if checked(dims) == 2:
        points = scatter(view, index, theme, trails)
    else:
        points = cloud(view, index, theme)
    return [points, similarity(view, index, theme)]


def scatter(view: views.EmbeddingData, index: int, theme: Theme, trails: bool) -> dict:
    coords = view.coords[index]  # [token, 3]
    path = trail(view, index) if trails else np.zeros((0, 2))
    data = [
        {
            "type": "scatter",
            "x": path[:, 0],
            "y": path[:, 1],
            "mode": "lines",
            "name": "trail",
            "hoverinfo": "skip",
            "line": {"width": 1, "color": TRAIL_COLOUR},
        },
        {
            "type": "scatter",
            "x": coords[:, 0],
            "y": coords[:, 1],
            "text": [label(t) for t in view.tokens],
            "mode": "markers+text",
            "name": "tokens",
            "textposition": "top center",
            "marker": {"size": 9, "color": point_colour(theme)},
            "hovertemplate": "%{text}<br>(%{x:.3f}, %{y:.3f})<extra></extra>",
        },
    ]
    width, height = POINTS_SIZE
    layout = {
        "title": {"text": label(title(view, int(view.steps[index])))},
        "width": width,
        "height": height,
        "margin": MARGIN,
        "uirevision": "explain",
        "showlegend": False,
        "xaxis": {"range": list(view.ranges[0]), "title": {"text": axis_title(view, 0)}},
        "yaxis": {"range": list(view.ranges[1]), "title": {"text": axis_title(view, 1)}},
    }
    return P.themed({"data": data, "layout": layout}, theme)


def cloud(view: views.EmbeddingData, index: int, theme: Theme) -> dict:
    coords = view.coords[index]  # [token, 3]
    data = [
        {
            "type": "scatter3d",
            "x": coords[:, 0],
            "y": coords[:, 1],
            "z": coords[:, 2],
            "text": [label(t) for t in view.tokens],
            "mode": "markers+text",
            "marker": {"size": 4, "color": point_colour(theme)},
            "hovertemplate": "%{text}<extra></extra>",
        }
    ]
    width, height = POINTS_SIZE
    axes = {
        f"{name}axis": {"range": list(view.ranges[i]), "title": {"text": f"PC{i + 1}"}}
        for i, name in enumerate("xyz")
    }
    layout = {
        "title": {"text": label(title(view, int(view.steps[index])))},
        "width": width,
        "height": height,
        "margin": {**MARGIN, "l": 0, "r": 0, "b": 0},
        "uirevision": "explain",
        "showlegend": False,
        "scene": {**axes, "aspectmode": "cube"},
    }
    return P.themed({"data": data, "layout": layout}, theme)


def similarity(view: views.EmbeddingData, index: int, theme: Theme) -> dict:
    labels = [label(t) for t in view.tokens]
    n = len(labels)
    ticks, text = token_ticks(view.tokens)
    data = [
        {
            "type": "heatmap",
            "z": np.asarray(view.similarity[index], np.float32),  # [token, token]
            "x": np.arange(n),
            "y": np.arange(n),
            "zmin": -1.0,
            "zmax": 1.0,
            "zmid": 0.0,
            "colorscale": colorscale(view.colorscale),
            "colorbar": {"thickness": 12},
            "hovertemplate": (
                "%{customdata[0]} · %{customdata[1]}<br>cosine %{z:.4f}<extra></extra>"
            ),
            # plot.js fills customdata from these (one label per row and column, not per cell)
            "meta": {"hover_rows": labels, "hover_cols": labels},
        }
    ]
    axis = {"tickmode": "array", "tickvals": ticks, "ticktext": text}
    layout = {
        "title": {"text": f"{SIMILARITY_TITLE} · step {int(view.steps[index])}"},
        "width": SIMILARITY_SIZE,
        "height": SIMILARITY_SIZE,
        "margin": MARGIN,
        "uirevision": "explain",
        "xaxis": axis,
        "yaxis": {**axis, "autorange": "reversed"},
    }
    return P.themed({"data": data, "layout": layout}, theme)
