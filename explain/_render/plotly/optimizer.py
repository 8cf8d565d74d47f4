"""The optimizer view's plotly figure, for its one tracked parameter: on the left its history
(gradient and applied-update norms, the optimizer's moments, the update/weight ratio, in three
stacked panels over one step axis, the step shown marked), on the right the histogram of its
update at that step."""

from __future__ import annotations

import numpy as np

from explain import views
from explain.style import Theme

from ..rules import label, step_marker
from . import blocks as P

# the norms drawn as "first" and "second moment", by optimizer state kind
MOMENTS = (("exp_avg", "‖m‖ first moment"), ("exp_avg_sq", "‖√v‖ second moment"))
MOMENTUM = (("momentum_buffer", "‖v‖ momentum buffer"),)
# (curve, legend name, panel's y axis, mode), in trace order
CURVES = (
    ("grad", "‖gradient‖", "y", "lines"),
    ("update", "‖applied update‖", "y", "lines+markers"),
    ("first", "first moment", "y2", "lines+markers"),
    ("second", "second moment", "y2", "lines+markers"),
    ("ratio", "‖update‖ / ‖weight‖", "y3", "lines"),
)
# (y axis, domain, title): norms on top, moments in the middle, the ratio (log) at the bottom
PANELS = (("y", [0.7067, 1.0], "norm"), ("y2", [0.3533, 0.6467], "moments"))
RATIO_PANEL = ("y3", [0.0, 0.2933], "ratio")
WIDTH, HEIGHT = 960, 480  # the height less the legend below the history
HISTORY_COLUMN, HISTOGRAM_COLUMN = [0.0, 0.55], [0.64, 1.0]  # as wide as 560 and 400 px were
MARGIN = {"l": 60, "r": 20, "t": 40, "b": 40}


def colours(theme: Theme) -> dict[str, str]:
    """The colour of each curve; the histogram takes the applied update's (the matplotlib
    builder draws the same)."""
    return {name: theme.colorway[i % len(theme.colorway)] for i, (name, *_) in enumerate(CURVES)}


def moments(view: views.OptimizerData) -> list[tuple[str, str]]:
    """(state kind, legend name) of the moments the optimizer keeps, at most two."""
    return [m for m in (*MOMENTS, *MOMENTUM) if m[0] in view.norms][:2]


def optimizer_name(view: views.OptimizerData) -> str:
    """The optimizer as the moments panel names it ("adam: no moments" for one without any)."""
    name = view.optimizer or ("adam" if "exp_avg" in view.norms else "optimizer")
    return name if moments(view) else f"{name}: no moments"


_LAST: list = [None, None]  # the view model curves() was last asked for, and its answer


def curves(view: views.OptimizerData) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """Curve -> (steps, values, legend name), ratios that are not finite left out (step 0 has
    no update); an empty curve for a moment the optimizer does not keep.

    The same arrays again for the same view model: a step change then finds its curves
    unchanged by identity, not by comparing every value (`blocks.same`)."""
    if _LAST[0] is view:
        return _LAST[1]
    _LAST[:] = [view, _curves(view)]
    return _LAST[1]


def _curves(view: views.OptimizerData) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    legend = {name: text for name, text, _, _ in CURVES}
    ratio = view.update_ratio.get(view.parameter)
    if ratio is None:
        ratio_steps, ratio = np.zeros(0, np.int64), np.zeros(0)
    else:
        finite = np.isfinite(ratio)
        ratio_steps, ratio = np.asarray(view.scalar_steps)[finite], ratio[finite]
    out = {
        "grad": (view.parameter_grad_norm.steps, view.parameter_grad_norm.values, legend["grad"]),
        "update": (view.steps, view.norms.get("update", np.zeros(0)), legend["update"]),
        "ratio": (ratio_steps, ratio, legend["ratio"]),
    }
    kept = moments(view)
    for number, curve in enumerate(("first", "second")):
        if number < len(kept):
            kind, name = kept[number]
            out[curve] = (view.steps, view.norms[kind], name)
        else:
            out[curve] = (np.zeros(0, np.int64), np.zeros(0), legend[curve])
    return {name: out[name] for name in legend}  # in trace order


def log_ticks(values: np.ndarray) -> dict:
    """A log axis labelled at powers of ten only, where the values span one or more (plotly
    would label every digit in between)."""
    positive = values[values > 0]
    spans = positive.size and positive.max() >= 10 * positive.min()
    return {"dtick": 1} if spans else {}


def title(view: views.OptimizerData, step: int) -> str:
    parameter = f" · {view.parameter}" if view.parameter else ""
    return f"{view.title}{parameter} · step {step}"


# the histogram's axis title (the figure's title says the step): an axis title, not a panel
# title over the column, which a narrow output cut off or ran into the legend
HISTOGRAM_AXIS = "update of<br>each weight<br>at the step"


def figures(view: views.OptimizerData, index: int, theme: Theme) -> list[dict]:
    """One figure: the history on the left with the step at ``index`` marked, the histogram of
    the update at ``index`` on the right (one figure, so a page's one slider moves both)."""
    step = int(view.steps[index])
    drawn = curves(view)
    # room for the legend's rows as a narrow output wraps them (plot.js fits the figure to it)
    names = [legend for x, _, legend in drawn.values() if len(x)]
    below = P.legend_height(names, theme, WIDTH // 2)
    colour = colours(theme)
    has = len(view.histogram_counts) > 0
    data = [
        {  # first: what a click on the history must tell apart (widgets.OptimizerView)
            "type": "bar",
            "x": view.histogram_centres[index] if has else np.zeros(0),
            "y": view.histogram_counts[index] if has else np.zeros(0, np.int64),
            "xaxis": "x2",
            "yaxis": "y4",
            "showlegend": False,
            "marker": {"color": colour["update"]},
            "hovertemplate": "update ≈ %{x:.3g}<br>%{y} values<extra></extra>",
        }
    ]
    for name, _, yaxis, mode in CURVES:
        x, y, legend = drawn[name]
        data.append(
            {
                "type": "scatter",
                "x": x,
                "y": y,
                "name": label(legend),
                "mode": mode,
                "xaxis": "x",
                "yaxis": yaxis,
                "visible": bool(len(x)) or name not in ("first", "second"),
                "line": {"color": colour[name]},
                "marker": {"color": colour[name], "size": 5},
                "hovertemplate": "step %{x}<br>%{y:.4g}<extra>%{fullData.name}</extra>",
            }
        )
    axes = {
        "xaxis": {
            "domain": HISTORY_COLUMN,
            "anchor": RATIO_PANEL[0],
            "title": {"text": "step"},
            "zeroline": False,
        },
        "yaxis3": {
            "domain": RATIO_PANEL[1],
            "anchor": "x",
            "type": "log",
            "exponentformat": "e",
            "title": {"text": RATIO_PANEL[2]},
            **log_ticks(drawn["ratio"][1]),
        },
        "xaxis2": {
            "domain": HISTOGRAM_COLUMN,
            "anchor": "y4",
            "title": {"text": HISTOGRAM_AXIS},
            "exponentformat": "e",
        },
        "yaxis4": {"domain": [0.0, 1.0], "anchor": "x2", "title": {"text": "count"}},
    }
    for yaxis, domain, text in PANELS:
        key = "yaxis" if yaxis == "y" else f"yaxis{yaxis[1:]}"
        axes[key] = {"domain": domain, "anchor": "x", "title": {"text": text}}
    notes = [
        {
            "text": label(optimizer_name(view)),
            "xref": "paper",
            "yref": "paper",
            "x": 0.01,
            "y": PANELS[1][1][1],
            "xanchor": "left",
            "yanchor": "top",
            "showarrow": False,
        },
    ]
    layout = {
        "title": {"text": label(title(view, step)), "x": 0.01, "xanchor": "left"},
        "width": WIDTH,
        "height": HEIGHT + below,
        "margin": {**MARGIN, "b": MARGIN["b"] + below},
        "uirevision": "explain",
        "bargap": 0.05,
        "legend": P.legend_below(),
        **axes,
        "shapes": [step_marker(step)],
        "annotations": notes,
    }
    return [P.themed({"data": data, "layout": layout}, theme)]
