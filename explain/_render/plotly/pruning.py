"""The pruning figure: accuracy (left axis) and loss (right axis) as heads are removed, least
important first, the panel HeadsView shows in the middle (:mod:`.heads` draws it with
:func:`panel`); the pruning view (:class:`explain.views.PruningData`) adds, beside it, the same
curves as the blocks' smallest weights are zeroed, when the lab measured them."""

from __future__ import annotations

import numpy as np

from explain import views
from explain.style import Theme

from ..rules import label
from . import blocks as P

HEADS_AXIS = "share of heads removed"
WEIGHTS_AXIS = "share of block weights zeroed"
HEADS_TITLE = "pruning: least important first"
WEIGHTS_TITLE = "pruning weights: smallest first"
MISSING = "pruning curve: explain.lab.record(run) measures it"


def colours(theme: Theme) -> dict[str, str]:
    """The accuracy and loss curves' colours (their axes' titles take them too)."""
    return {"accuracy": theme.colorway[0], "loss": theme.colorway[1]}


def panel(
    shares: np.ndarray,
    accuracy: np.ndarray,
    loss: np.ndarray,
    theme: Theme,
    axes: tuple[str, str, str],
    domain: list[float],
    x_title: str,
) -> tuple[list[dict], dict]:
    """Traces and axes of one pruning panel on ``axes`` (x, accuracy's y, loss's y: plotly
    axis ids such as ``("x2", "y2", "y4")``) over the paper's ``domain`` of x."""
    x, y, y_loss = axes
    colour = colours(theme)
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": np.asarray(shares, np.float64),
            "y": np.asarray(values, np.float64),
            "name": name,
            "xaxis": x,
            "yaxis": yaxis,
            "showlegend": False,
            "line": {"color": colour[name], **({"dash": "dash"} if name == "loss" else {})},
            "marker": {"color": colour[name], "size": 6},
            "hovertemplate": f"%{{x:.2f}} removed: {name} %{{y:.3g}}<extra></extra>",
        }
        for name, values, yaxis in (("accuracy", accuracy, y), ("loss", loss, y_loss))
    ]

    def titled(name: str) -> dict:
        return {"text": name, "font": {"color": colour[name]}}

    def key(axis: str) -> str:
        return axis[0] + "axis" + axis[1:]

    layout = {
        key(x): {"domain": domain, "anchor": y, "title": {"text": x_title}, "zeroline": False},
        key(y): {"anchor": x, "range": [-0.02, 1.02], "title": titled("accuracy")},
        key(y_loss): {
            "anchor": x,
            "overlaying": y,
            "side": "right",
            "showgrid": False,
            "zeroline": False,
            "rangemode": "tozero",
            # its own ticks, as the picture's twin axis has: plotly.js 3 syncs an overlaying
            # axis's ticks to the accuracy gridlines (0.019, 0.212, ... on an empty 0-1 panel)
            "tickmode": "auto",
            "title": titled("loss"),
        },
    }
    if not len(shares):  # not measured: the empty panel's axes are those of its picture, 0..1
        layout[key(x)]["range"] = [0.0, 1.0]  # (plotly's default would be -1..6)
        layout[key(y_loss)]["range"] = [0.0, 1.0]
    return data, layout


def panel_title(domain: list[float], text: str) -> dict:
    """A panel's title, centred above it (what the matplotlib axes' titles say)."""
    return {**P.panel_title({"x": domain, "y": [0, 1]}, label(text)), "font": {}}


def figures(view: views.PruningData, index: int, theme: Theme) -> list[dict]:
    two = bool(len(view.levels))
    domains = ([0.0, 0.40], [0.60, 1.0]) if two else ([0.0, 1.0],)
    # (shares, accuracy, loss, axes, x title, title) of each panel: the heads', then the weights'
    shown = [
        (view.fractions, view.accuracy, view.loss, ("x", "y", "y3"), HEADS_AXIS,
         HEADS_TITLE if len(view.fractions) else MISSING),
        (view.levels, view.weight_accuracy, view.weight_loss, ("x2", "y2", "y4"), WEIGHTS_AXIS,
         WEIGHTS_TITLE),
    ][: len(domains)]  # fmt: skip
    data: list[dict] = []
    layout: dict = {}
    notes: list[dict] = []
    for (shares, accuracy, loss, axes, x_title, text), domain in zip(shown, domains, strict=True):
        traces, axis_layout = panel(shares, accuracy, loss, theme, axes, list(domain), x_title)
        data += traces
        layout |= axis_layout
        notes.append(panel_title(list(domain), text))
    size = theme.font_size
    layout |= {
        "title": {"text": label(view.title), "x": 0.01},
        "width": (820 if two else 460) + 20 * (size - 12),
        "height": 340 + 10 * (size - 12),
        "margin": {"l": 60, "r": 60, "t": 70 + 3 * (size - 12), "b": 50},
        "uirevision": "explain",
        "showlegend": False,
        "shapes": [],
        "annotations": notes,
    }
    return [P.themed({"data": data, "layout": layout}, theme)]
