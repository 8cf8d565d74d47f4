"""The generate view's plotly figures: the next-token bars (the model's own probabilities in
grey, what is sampled from in blue, overlaid) and the attention of each generated token (one
row per token, row 0 on top), after ``index`` generated tokens."""

from __future__ import annotations

import numpy as np

from explain import views
from explain.style import Theme, colorscale

from ..rules import label, tick_label, tick_positions, token_ticks
from . import blocks as P

WIDTH, HEIGHT = 520, 340
MARGIN = {"l": 50, "r": 20, "t": 40, "b": 40}
# (name, colour): the model's distribution behind, what is drawn from in front, narrower
MODEL = ("model (T=1, all tokens)", "#BBBBBB")
SAMPLED = ("sampled from (temperature, top-k)", "#0072B2")
EMPTY_ATTENTION = "attention of each new token (press “next token”)"


def bars_title(view: views.GenerateData, index: int) -> str:
    bars = view.bar_ids.shape[1]
    if not bars:
        return "next token: (no valid prompt)"
    top_k = int(view.top_k[index])
    k = "all" if top_k == 0 else str(top_k)
    temperature = float(view.temperature[index])
    return f"next token (top {bars} by logit) · T = {temperature:g}, top-k = {k}"


def attention_title(view: views.GenerateData, index: int) -> str:
    if index == 0:
        return EMPTY_ATTENTION
    return f"{view.part} attention · layer {view.layer} head {view.head}"


def figures(view: views.GenerateData, index: int, theme: Theme) -> list[dict]:
    """The bars and the attention map after ``index`` generated tokens."""
    return [bars(view, index, theme), attention(view, index, theme)]


def bars(view: views.GenerateData, index: int, theme: Theme) -> dict:
    ids = view.bar_ids[index]
    x = np.arange(len(ids))
    labels = [label(view.vocab[i]) for i in ids]
    common = {"x": x, "hovertext": labels, "hovertemplate": "%{hovertext}: %{y:.3f}"}
    data = [
        {
            "type": "bar",
            "name": MODEL[0],
            "marker": {"color": MODEL[1]},
            "opacity": 0.9,
            "y": view.model_probs[index],
            **common,
        },
        {
            "type": "bar",
            "name": SAMPLED[0],
            "marker": {"color": SAMPLED[1]},
            "width": 0.5,
            "y": view.sampled_probs[index],
            **common,
        },
    ]
    layout = {
        "width": WIDTH,
        "height": HEIGHT,
        "margin": MARGIN,
        "uirevision": "explain",
        "barmode": "overlay",
        "title": {"text": bars_title(view, index)},
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": {
            "tickmode": "array",
            "tickvals": x.tolist(),
            "ticktext": [tick_label(view.vocab[i]) for i in ids],
        },
        "yaxis": {"range": [0, 1], "title": {"text": "probability"}},
        "shapes": [],
        "annotations": [],
    }
    return P.themed({"data": data, "layout": layout}, theme)


def attention(view: views.GenerateData, index: int, theme: Theme) -> dict:
    shown = index > 0
    columns = view.columns[: view.visible_columns(index)]
    z = view.attention[:index, : len(columns)]  # [rows, columns], float32
    x_ticks, x_text = token_ticks(columns)
    y_ticks = tick_positions(index)
    trace = {
        "type": "heatmap",
        "z": z if shown else None,
        "x": np.arange(len(columns)) if shown else None,
        "y": np.arange(index) if shown else None,
        "zmin": 0.0,
        "zmax": 1.0,
        "colorscale": colorscale("viridis"),  # attention weights in [0, 1]
        "colorbar": {"thickness": 10},
        "hovertemplate": "%{y}<br>looks at %{x}<br>weight %{z:.3f}<extra></extra>",
    }
    layout = {
        "width": WIDTH,
        "height": HEIGHT,
        "margin": MARGIN,
        "uirevision": "explain",
        "title": {"text": attention_title(view, index)},
        "xaxis": {
            "title": {"text": "position"},
            "tickangle": -60,
            "tickmode": "array",
            "tickvals": x_ticks if shown else [],
            "ticktext": x_text if shown else [],
        },
        "yaxis": {
            "title": {"text": "new token"},
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": y_ticks,
            "ticktext": [" → ".join(map(tick_label, view.row_tokens(r))) for r in y_ticks],
        },
        "shapes": [],
        "annotations": [],
    }
    return P.themed({"data": [trace], "layout": layout}, theme)
