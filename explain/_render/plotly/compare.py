"""The compare view's plotly figures: every run's ``metric`` overlaid with the step marked, then
one attention heatmap per run (the same part, layer and head), each titled with the snapshot it
shows at the shared step."""

from __future__ import annotations

from explain.style import Theme, colorscale
from explain.views import CompareData

from ..rules import label, step_marker, token_ticks
from . import blocks as P

DASHES = ("solid", "dash", "dot", "dashdot", "longdash")  # tell apart runs whose curves coincide


def colours(view: CompareData, theme: Theme) -> list[str]:
    """[run] its curve's colour (the matplotlib builder draws the same)."""
    return [theme.colorway[i % len(theme.colorway)] for i in range(len(view.names))]


def step_title(view: CompareData) -> str:
    return "steps into the last phase" if view.align == "phase" else "step"


def curves_title(view: CompareData) -> str:
    return f"{view.metric} of each run"


def heatmap_title(view: CompareData, run: int, index: int) -> tuple[str, str]:
    """The two lines of run ``run``'s title at frame ``index`` (plain text: the renderer
    escapes them): its name, then the head and the step it shows."""
    step = int(view.steps[index])
    shown = view.shown_at(index)[run]
    note = "" if shown == step else f" (nearest to {step})"
    note += f" · run step {view.own_step(run, index)}" if view.offsets[run] else ""
    return view.names[run], f"{view.part} L{view.layer} H{view.head} · step {shown}{note}"


def _curves(view: CompareData, index: int, theme: Theme) -> dict:
    data = [
        {
            "type": "scatter",
            "x": curve.steps,
            "y": curve.values,
            "name": label(name),
            "mode": "lines+markers",
            "marker": {"size": 4, "color": colour},
            "line": {"dash": DASHES[i % len(DASHES)], "color": colour},
        }
        for i, (name, curve, colour) in enumerate(
            zip(view.names, view.curves, colours(view, theme), strict=True)
        )
    ]
    layout = {
        "title": {"text": label(curves_title(view))},
        "width": 760,
        "height": 300,
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "uirevision": "explain",
        "legend": {"orientation": "h", "y": -0.3},
        "xaxis": {"title": {"text": step_title(view)}},
        "yaxis": {"title": {"text": label(view.metric)}},
        "shapes": [step_marker(int(view.steps[index]))],
        "annotations": [],
    }
    return P.themed({"data": data, "layout": layout}, theme)


def _heatmap(view: CompareData, run: int, index: int, theme: Theme) -> dict:
    pattern = view.at(index)[run]
    n_q, n_k = pattern.shape
    queries, keys = view.tokens[view.part][run]
    q_ticks, q_text = token_ticks(queries)
    k_ticks, k_text = token_ticks(keys)
    name, shown = heatmap_title(view, run, index)
    data = [
        {
            "type": "heatmap",
            "z": pattern,
            "x": list(range(n_k)),
            "y": list(range(n_q)),
            "zmin": 0.0,
            "zmax": 1.0,
            "colorscale": colorscale(view.colorscale),  # attention weights in [0, 1]
            "showscale": run == len(view.names) - 1,
            "colorbar": {"thickness": 10},
            "hovertemplate": "query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>",
        }
    ]
    layout = {
        "title": {"text": f"{label(name)}<br>{label(shown)}"},
        "width": 340,
        "height": 380,
        "margin": {"l": 50, "r": 20, "t": 80, "b": 50},  # two-line titles
        "uirevision": "explain",
        "xaxis": {"tickmode": "array", "tickvals": k_ticks, "ticktext": k_text, "tickangle": -60},
        "yaxis": {
            "tickmode": "array",
            "tickvals": q_ticks,
            "ticktext": q_text,
            "autorange": "reversed",
        },
        "shapes": [],
        "annotations": [],
    }
    return P.themed({"data": data, "layout": layout}, theme)


def figures(view: CompareData, index: int, theme: Theme) -> list[dict]:
    """The curves, then one heatmap per run, at frame ``index`` of the shared steps."""
    return [
        _curves(view, index, theme),
        *(_heatmap(view, run, index, theme) for run in range(len(view.names))),
    ]
