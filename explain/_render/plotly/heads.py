"""Interactive (plotly) figures of the lab's view models, for HTML exports and the report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explain.style import LIGHT, Theme, colorscale
from explain.views import HeadsData, PruningData, ScoresData, badges_at

from . import blocks as P


def _badges(view: HeadsData, index: int) -> list[list[str]]:
    """[layer][head] "mirror<br>0.97" where a head shows a pattern at frame ``index``, or ""."""
    return [
        [b.replace(" ", "<br>") for b in row]
        for row in badges_at(view.scores, view.patterns, index)
    ]


def heads(
    view: HeadsData, frames: Sequence[int], index: int, marked: int | None, theme: Theme = LIGHT
) -> dict:
    known = bool(np.isfinite(view.importance).all())
    values = view.importance if known else view.role_scores
    order = list(view.order)
    data = [
        {
            "type": "heatmap",
            "z": P.typed(values),
            "x": list(range(view.heads)),
            "y": list(range(view.layers)),
            "text": _badges(view, index),
            "texttemplate": "%{text}",
            "textfont": {"size": max(9, theme.font_size - 4)},
            "colorscale": colorscale(view.colorscale),
            "zmin": 0,
            "colorbar": {
                "x": 0.285,
                "len": 0.8,
                "thickness": 12,
                "title": {"text": "importance" if known else "score", "side": "top"},
            },
            "hovertemplate": "layer %{y} head %{x}<br>%{z:.3g}<br>%{text}<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "heatmap",
            "z": P.typed(view.similarity[np.ix_(order, order)]),
            "x": [view.labels[i] for i in order],
            "y": [view.labels[i] for i in order],
            "colorscale": colorscale(view.colorscale),
            "zmin": 0,
            "zmax": 1,
            "colorbar": {"x": 1.0, "len": 0.8},
            "hovertemplate": "%{y} vs %{x}: JS distance %{z:.3f}<extra></extra>",
            "xaxis": "x3",
            "yaxis": "y3",
        },
    ]
    if len(view.prune_fractions):
        data.append(
            P.line(
                view.prune_fractions,
                view.prune_accuracy,
                "accuracy",
                theme.colorway[0],
                mode="lines+markers",
                xaxis="x2",
                yaxis="y2",
            )
        )
        data.append(
            P.line(
                view.prune_fractions,
                view.prune_loss,
                "loss",
                theme.colorway[1],
                mode="lines+markers",
                xaxis="x2",
                yaxis="y4",
            )
        )
    cells = [
        {"x": [0.0, 0.26], "y": [0, 1]},
        {"x": [0.47, 0.66], "y": [0, 1]},
        {"x": [0.77, 0.95], "y": [0, 1]},
    ]
    frames, active = P.initial(frames, index)
    layout = P.layout(
        view.title,
        470 + 10 * (theme.font_size - 12),
        theme,
        xaxis={"domain": cells[0]["x"], "title": {"text": "head"}, "dtick": 1},
        yaxis={
            "domain": cells[0]["y"],
            "title": {"text": "layer"},
            "dtick": 1,
            "autorange": "reversed",
        },
        xaxis2={"domain": cells[1]["x"], "anchor": "y2", "title": {"text": "share removed"}},
        yaxis2={
            "domain": cells[1]["y"],
            "anchor": "x2",
            "range": [-0.02, 1.02],
            "title": {"text": "accuracy"},
        },
        yaxis4={"overlaying": "y2", "side": "right", "anchor": "x2", "showgrid": False},
        xaxis3={"domain": cells[2]["x"], "anchor": "y3", "tickangle": -90},
        yaxis3={"domain": cells[2]["y"], "anchor": "x3", "autorange": "reversed"},
        annotations=[
            P.panel_title(cells[0], "importance and role"),
            P.panel_title(cells[1], "pruning curve"),
            P.panel_title(cells[2], "how different the heads are"),
        ],
        showlegend=False,
        **P.slider(view.steps, frames, active),
    )
    figure: dict = {"data": data, "layout": layout}
    figure["frames"] = P.frame_list(view.steps, frames, [0], lambda i: [{"text": _badges(view, i)}])
    return figure


def scores(
    view: ScoresData, frames: Sequence[int], index: int, marked: int | None, theme: Theme = LIGHT
) -> dict:
    count = len(view.patterns)
    width = (1 - 0.04 * (count - 1)) / count
    data, axes, titles = [], {}, []
    for number, pattern in enumerate(view.patterns):
        x0 = number * (width + 0.04)
        n = number + 1
        suffix = "" if n == 1 else str(n)
        for layer in range(view.layers):
            for head in range(view.heads):
                label = view.labels[layer * view.heads + head]
                colour = theme.colorway[(layer * view.heads + head) % len(theme.colorway)]
                data.append(
                    P.line(
                        view.steps,
                        view.scores[pattern][:, layer, head],
                        label,
                        colour,
                        xaxis=f"x{suffix}",
                        yaxis=f"y{suffix}",
                        showlegend=number == 0,
                        legendgroup=label,
                        line={
                            "color": colour,
                            "width": 1.4,
                            "dash": "solid" if layer % 2 == 0 else "dash",
                        },
                    )
                )
        axes[f"xaxis{suffix}"] = {
            "domain": [x0, x0 + width],
            "anchor": f"y{suffix}",
            "title": {"text": "step"},
        }
        axes[f"yaxis{suffix}"] = {
            "anchor": f"x{suffix}",
            "range": [-0.02, 1.02],
            **({"title": {"text": "score"}} if n == 1 else {}),
        }
        titles.append(
            P.panel_title({"x": [x0, x0 + width], "y": [0, 1]}, pattern.replace("_", " "))
        )
    step = int(view.steps[index])
    shapes = [
        shape for n in range(count) for shape in P.vertical(step, f"y{'' if n == 0 else n + 1}")
    ]
    for shape, n in zip(shapes, range(count), strict=True):
        shape["xref"] = "x" if n == 0 else f"x{n + 1}"
    layout = P.layout(view.title, 430, theme, annotations=titles, shapes=shapes, **axes)
    return {"data": data, "layout": layout}


def pruning(
    view: PruningData, frames: Sequence[int], index: int, marked: int | None, theme: Theme = LIGHT
) -> dict:
    curves = [("x", "y", "y3", view.fractions, view.loss, view.accuracy)]
    if len(view.levels):
        curves.append(("x2", "y2", "y4", view.levels, view.weight_loss, view.weight_accuracy))
    data = []
    for x, y, y_loss, shares, loss, accuracy in curves:
        data.append(
            P.line(
                shares,
                accuracy,
                "accuracy",
                theme.colorway[0],
                mode="lines+markers",
                xaxis=x,
                yaxis=y,
                showlegend=x == "x",
                legendgroup="accuracy",
            )
        )
        data.append(
            P.line(
                shares,
                loss,
                "loss",
                theme.colorway[1],
                mode="lines+markers",
                xaxis=x,
                yaxis=y_loss,
                showlegend=x == "x",
                legendgroup="loss",
            )
        )
    two = len(curves) == 2
    left = [0.0, 0.42] if two else [0.0, 0.92]
    axes = {
        "xaxis": {"domain": left, "title": {"text": "share of heads removed"}},
        "yaxis": {"range": [-0.02, 1.02], "title": {"text": "accuracy"}},
        "yaxis3": {
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "title": {"text": "loss"},
        },
    }
    if two:
        axes |= {
            "xaxis2": {
                "domain": [0.55, 0.95],
                "anchor": "y2",
                "title": {"text": "share of block weights zeroed"},
            },
            "yaxis2": {"anchor": "x2", "range": [-0.02, 1.02]},
            "yaxis4": {"overlaying": "y2", "side": "right", "anchor": "x2", "showgrid": False},
        }
    layout = P.layout(view.title, 440, theme, legend={"orientation": "h", "y": -0.25}, **axes)
    return {"data": data, "layout": layout}
