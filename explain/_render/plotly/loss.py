"""The loss view's plotly figure: loss with validation accuracy, learning rate and gradient
norm in three stacked panels over one step axis, the step shown marked."""

from __future__ import annotations

import numpy as np

from explain import views
from explain.style import Theme

from ..rules import label, step_marker
from . import blocks as P

# (scalar, panel's y axis, mode): loss and validation loss on top with accuracy on the right,
# learning rate in the middle, gradient norm at the bottom
CURVES = (
    ("loss", "y", "lines"),
    ("val_loss", "y", "lines+markers"),
    ("lr", "y3", "lines"),
    ("grad_norm", "y4", "lines"),
    ("val_accuracy", "y2", "lines+markers"),
)
WIDTH, HEIGHT = 560, 480
PANELS = {"y": [0.56, 1.0], "y3": [0.28, 0.5], "y4": [0.0, 0.22]}  # row heights 2 : 1 : 1


def colours(theme: Theme) -> dict[str, str]:
    """The colour of each curve (the matplotlib builder draws the same)."""
    return {name: theme.colorway[i % len(theme.colorway)] for i, (name, _, _) in enumerate(CURVES)}


def value_at(view: views.LossData, name: str, step: int) -> float | None:
    """The value of curve ``name`` at ``step``, if it was recorded there."""
    curve = view.curves.get(name)
    if curve is None:
        return None
    hit = np.flatnonzero(curve.steps == step)
    return float(curve.values[hit[0]]) if len(hit) else None


def title(view: views.LossData, step: int) -> str:
    loss = value_at(view, "loss", step)
    return f"{view.title} · step {step}" + (f" · loss {loss:.4g}" if loss is not None else "")


def figures(view: views.LossData, index: int, theme: Theme) -> list[dict]:
    """The three panels at frame ``index``. The curves and axes are built once per view model
    and theme (:func:`explain.views.memo`); a step sets the title and the step marker."""
    step = int(view.steps[index]) if len(view.steps) else 0
    fixed = views.memo(view, ("loss", theme), lambda: _fixed(view, theme))
    layout = fixed["layout"]
    marks, events = fixed["marks"], len(view.events)
    return [
        {
            "data": fixed["data"],
            "layout": {
                **layout,
                "title": {**layout["title"], "text": label(title(view, step))},
                "shapes": [*marks[:events], step_marker(step), *marks[events:]],
            },
        }
    ]


def _fixed(view: views.LossData, theme: Theme) -> dict:
    """The figure's curves and layout (themed, title and shapes still to set), and the event
    and phase marks the step marker goes between."""
    colour = colours(theme)
    data = []
    for name, yaxis, mode in CURVES:
        curve = view.curves.get(name)
        text = views.LOSS_SCALARS[name]
        if curve is not None:
            finite = np.isfinite(curve.values)
            x, y = curve.steps[finite], curve.values[finite]
        else:
            x, y = np.zeros(0, np.int64), np.zeros(0)
        data.append(
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "name": label(text),
                "mode": mode,
                "xaxis": "x",
                "yaxis": yaxis,
                "visible": curve is not None,
                "line": {
                    "color": colour[name],
                    **({"dash": "dash"} if name == "val_accuracy" else {}),
                },
                "marker": {"color": colour[name], "size": 5},
                "hovertemplate": f"step %{{x}}<br>{label(text)} %{{y:.4g}}<extra></extra>",
            }
        )
    span = float(view.steps[-1] - view.steps[0]) if len(view.steps) else 0.0
    height = HEIGHT  # LossView's too (its `height`), so the labels fit the panel it shows
    margin = {"l": 60, "r": 50, "t": 40, "b": 40}
    room = (height - margin["t"] - margin["b"]) * (PANELS["y"][1] - PANELS["y"][0])
    marks, notes = P.loss_marks(
        view.events,
        view.boundaries,
        ("paper",),
        span,
        max(10, theme.min_font_size),
        room,
        WIDTH - margin["l"] - margin["r"],
    )
    loss_like = [c.values for n, c in view.curves.items() if n in ("loss", "val_loss")]
    positive = bool(loss_like) and all(np.all(v[np.isfinite(v)] > 0) for v in loss_like)
    layout = {
        "title": {"text": "", "x": 0.99, "xanchor": "right", "y": 0.99},
        "width": WIDTH,
        "height": height,
        "margin": margin,
        "uirevision": "explain",
        "hovermode": "x",
        "legend": {"orientation": "h", "y": 1.08, "x": 0},
        "xaxis": {"anchor": "y4", "title": {"text": "step"}, "zeroline": False},
        "yaxis": {
            "domain": PANELS["y"],
            "anchor": "x",
            "type": "log" if positive else "linear",
            "title": {"text": "loss"},
        },
        "yaxis2": {
            "overlaying": "y",
            "side": "right",
            "anchor": "x",
            "range": [-0.02, 1.02],
            "tickmode": "array",
            "tickvals": [0, 0.25, 0.5, 0.75, 1],
            "showgrid": False,
            "title": {"text": "accuracy"},
        },
        "yaxis3": {
            "domain": PANELS["y3"],
            "anchor": "x",
            "exponentformat": "e",
            "title": {"text": "lr"},
        },
        "yaxis4": {"domain": PANELS["y4"], "anchor": "x", "title": {"text": "grad norm"}},
        "annotations": notes,
    }
    return {"marks": marks, **P.themed({"data": data, "layout": layout}, theme)}
