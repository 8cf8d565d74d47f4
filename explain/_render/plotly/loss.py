"""The plotly figure of the loss view: loss, accuracy, learning rate and gradient norm."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explain import views
from explain.style import Theme

from . import blocks as P


def loss(
    view: views.LossData, frames: Sequence[int], index: int, marked: int | None, theme: Theme
) -> dict:
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
