"""The interactive (plotly) figure of each view model in `explain.views`, with a step slider.

Built from the blocks in `_plotly`; `figure` is the one entry point (exports and the report).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _plotly as P
from . import _plotly_lab, _plotly_lens, views
from ._figures import _matrix_names
from .style import LIGHT, WEIGHT, Theme, colorscale


def attention(view: views.AttentionData, frames: Sequence[int], index: int, theme: Theme) -> dict:
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


def embeddings(view: views.EmbeddingData, frames: Sequence[int], index: int, theme: Theme) -> dict:
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


def positional(view: views.PositionalData, frames: Sequence[int], index: int, theme: Theme) -> dict:
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


def loss(view: views.LossData, marked: int | None, theme: Theme) -> dict:
    curves = {name: (c.steps, c.values) for name, c in view.curves.items()}
    data = []
    if "loss" in curves:
        data.append(P.line(*curves["loss"], "training loss", "#1f77b4"))
    if "val_loss" in curves:
        data.append(P.line(*curves["val_loss"], "validation loss", "#ff7f0e", mode="lines+markers"))
    if "val_accuracy" in curves:
        data.append(
            P.line(
                *curves["val_accuracy"],
                "validation accuracy",
                "#2ca02c",
                mode="lines+markers",
                yaxis="y2",
                line={"dash": "dash", "width": 1.4},
            )
        )
    if "lr" in curves:
        data.append(P.line(*curves["lr"], "learning rate", "#d62728", xaxis="x", yaxis="y3"))
    if "grad_norm" in curves:
        data.append(
            P.line(
                *curves["grad_norm"],
                "gradient norm",
                "#9467bd",
                yaxis="y4",
                line={"width": 0.8, "color": "#9467bd"},
            )
        )
    positive = all(np.all(curves[n][1] > 0) for n in ("loss", "val_loss") if n in curves)
    marks, notes = P.loss_marks(view.events, view.boundaries, ("y domain", "y3 domain"))
    layout = P.layout(
        view.title,
        620,
        theme,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.12},
        xaxis={"title": {"text": "step"}, "anchor": "y3", "zeroline": False},
        yaxis={
            "domain": [0.42, 1.0],
            "type": "log" if positive else "linear",
            "title": {"text": "cross-entropy"},
        },
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "range": [-0.02, 1.02],
            "tickmode": "array",
            "tickvals": [0, 0.25, 0.5, 0.75, 1],
            "title": {"text": "accuracy"},
            "showgrid": False,
            "zeroline": False,
        },
        yaxis3={"domain": [0.0, 0.32], "anchor": "x", "title": {"text": "learning rate"}},
        yaxis4={
            "overlaying": "y3",
            "side": "right",
            "type": "log",
            "tickmode": "auto",
            "title": {"text": "gradient norm"},
            "showgrid": False,
        },
        shapes=P.vertical(marked, "y") + P.vertical(marked, "y3") + marks,
        annotations=notes,
    )
    return {"data": data, "layout": layout}


def optimizer(view: views.OptimizerData, frames: Sequence[int], index: int, theme: Theme) -> dict:
    names = _matrix_names(sorted(view.update_ratio))
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    data = [
        P.line(
            view.scalar_steps,
            view.update_ratio[n],
            n.removesuffix(".weight"),
            palette[i % len(palette)],
        )
        for i, n in enumerate(names)
    ]
    data.append(
        P.line(
            view.scalar_steps,
            view.grad_norm,
            "gradient norm (global)",
            "#444",
            xaxis="x2",
            yaxis="y2",
            showlegend=False,
        )
    )
    kinds = list(view.tensors)
    top = {"domain": [0.6, 1.0]} if kinds else {"domain": [0.0, 1.0]}
    axes = {
        "xaxis": {
            "domain": [0.0, 0.46],
            "anchor": "y",
            "title": {"text": "step"},
            "zeroline": False,
        },
        "yaxis": {**top, "type": "log", "title": {"text": "‖Δw‖ / ‖w‖"}},
        "xaxis2": {
            "domain": [0.56, 1.0],
            "anchor": "y2",
            "title": {"text": "step"},
            "zeroline": False,
        },
        "yaxis2": {**top, "anchor": "x2", "type": "log", "title": {"text": "‖g‖ before clip"}},
    }
    titles = [
        P.panel_title({"x": [0, 0.46], "y": top["domain"]}, "update size per weight matrix"),
        P.panel_title({"x": [0.56, 1], "y": top["domain"]}, "global gradient norm"),
    ]
    first = len(data)
    width = (1 - 0.05 * (len(kinds) - 1)) / max(1, len(kinds))
    for number, kind in enumerate(kinds):
        x0 = number * (width + 0.05)
        n = number + 3
        data.append(
            {
                "type": "heatmap",
                "z": P.typed(view.tensors[kind][index]),
                "xaxis": f"x{n}",
                "yaxis": f"y{n}",
                "colorscale": colorscale(WEIGHT if kind == "exp_avg_sq" else view.colorscale),
                "showscale": False,
                **({} if kind == "exp_avg_sq" else {"zmid": 0}),
                "hovertemplate": f"{view.tensor_titles[kind]}"
                "<br>row %{y}, column %{x}: %{z:.3g}<extra></extra>",
            }
        )
        rows = P.ticks(view.row_labels) if view.row_labels is not None and number == 0 else {}
        axes[f"xaxis{n}"] = {"domain": [x0, x0 + width], "anchor": f"y{n}", "showgrid": False}
        axes[f"yaxis{n}"] = {
            "domain": [0.0, 0.42],
            "anchor": f"x{n}",
            "autorange": "reversed",
            "showgrid": False,
            **rows,
        }
        titles.append(
            P.panel_title({"x": [x0, x0 + width], "y": [0, 0.42]}, view.tensor_titles[kind])
        )
    tracked = f" · {view.parameter}" if kinds else ""
    extra: dict = {}
    figure: dict = {"data": data}
    if kinds:
        frames, active = P.initial(frames, index)
        extra = P.slider(view.steps, frames, active)
        figure["frames"] = P.frame_list(
            view.steps,
            frames,
            list(range(first, first + len(kinds))),
            lambda i: [{"z": P.typed(view.tensors[k][i])} for k in kinds],
        )
    figure["layout"] = P.layout(
        f"{view.title}{tracked}",
        760 if kinds else 420,
        theme,
        annotations=titles,
        legend={"font": {"size": 9}},
        **axes,
        **extra,
    )
    return figure


def figure(
    view: views.ViewData,
    frames: Sequence[int],
    index: int,
    marked: int | None = None,
    theme: Theme = LIGHT,
) -> dict:
    """The plotly figure dict of ``view``: frames at ``frames``, showing ``index`` first."""
    if isinstance(view, views.AttentionData):
        return attention(view, frames, index, theme)
    if isinstance(view, views.EmbeddingData):
        return embeddings(view, frames, index, theme)
    if isinstance(view, views.PositionalData):
        return positional(view, frames, index, theme)
    if isinstance(view, views.LossData):
        return loss(view, marked, theme)
    if isinstance(view, views.HeadsData):
        return _plotly_lab.heads(view, frames, index, theme)
    if isinstance(view, views.ScoresData):
        return _plotly_lab.scores(view, frames, index, theme)
    if isinstance(view, views.LensData):  # one step: its slider picks a position
        return _plotly_lens.lens(view, theme)
    if isinstance(view, views.PruningData):
        return _plotly_lab.pruning(view, theme)
    return optimizer(view, frames, index, theme)
