"""The optimizer playground's plotly figure: the surface's contour lines, each optimizer's path
from the start up to the update shown, and the start marked with a cross."""

from __future__ import annotations

import math

import numpy as np

from explain.playground import OPTIMIZERS, PlaygroundData
from explain.style import WEIGHT, Theme, colorscale

from ..rules import label
from . import blocks as P

WIDTH, HEIGHT = 520, 460
CONTOURS = 30  # at most this many contour lines
CONTOUR_WIDTH = 0.5  # px, plotly's own for contour lines


def colours(theme: Theme) -> dict[str, str]:
    """The colour of each optimizer's path and of the start (the matplotlib builder draws the
    same)."""
    names = (*OPTIMIZERS, "start")
    return {name: theme.colorway[i % len(theme.colorway)] for i, name in enumerate(names)}


def path_name(view: PlaygroundData, name: str) -> str:
    """The legend entry of optimizer ``name``: its name, and where it diverged if it did."""
    diverged = view.diverged(name)
    return name if diverged is None else f"{name} (diverged at {diverged})"


def levels(view: PlaygroundData) -> np.ndarray:
    """The heights of the contour lines both renderers draw: every multiple of a round step
    (1, 2 or 5 x 10^k, the smallest giving at most `CONTOURS` lines) strictly between the
    surface's lowest and highest values, as plotly chooses them itself."""
    z = np.asarray(view.z, np.float64)
    finite = z[np.isfinite(z)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if not high > low:
        return np.array([low])
    rough = (high - low) / CONTOURS
    base = 10.0 ** math.floor(math.log10(rough))
    step = base * next(m for m in (1, 2, 5, 10) if m * base >= rough * (1 - 1e-9))
    first = math.ceil(low / step - 1e-9) * step
    last = math.floor(high / step + 1e-9) * step
    first += step if math.isclose(first, low) else 0.0
    last -= step if math.isclose(last, high) else 0.0
    return np.arange(round((last - first) / step) + 1) * step + first


def title(view: PlaygroundData, index: int) -> str:
    return f"{view.surface} · step {int(view.steps[index])} of {int(view.steps[-1])}"


def figures(view: PlaygroundData, index: int, theme: Theme) -> list[dict]:
    colour = colours(theme)
    height = "log(1 + f)" if view.log_scale else "f"
    heights = levels(view)
    contour = {
        "type": "contour",
        "x": view.x,
        "y": view.y,
        "z": np.asarray(view.z, np.float32),
        "autocontour": False,
        "showscale": False,
        "contours": {
            "coloring": "lines",
            "start": float(heights[0]),
            "end": float(heights[-1]),
            "size": float(heights[1] - heights[0]) if len(heights) > 1 else 1.0,
        },
        "line": {"width": CONTOUR_WIDTH},
        "colorscale": colorscale(WEIGHT),
        # not hoverinfo="skip": plotly sends no click for a skipped trace, and a click anywhere
        # on the surface must move the start (the widget's)
        "hovertemplate": f"x %{{x:.2f}}, y %{{y:.2f}}<br>{height} %{{z:.3g}}<extra></extra>",
    }
    data = [contour]
    for name in OPTIMIZERS:
        path = view.shown(name, index)
        data.append(
            {
                "type": "scatter",
                "x": path[:, 0],
                "y": path[:, 1],
                "mode": "lines+markers",
                "name": label(path_name(view, name)),
                "line": {"color": colour[name]},
                "marker": {"size": 3, "color": colour[name]},
                "hovertemplate": f"{label(name)}<br>x %{{x:.3g}}, y %{{y:.3g}}<extra></extra>",
            }
        )
    data.append(
        {
            "type": "scatter",
            "x": [view.start[0]],
            "y": [view.start[1]],
            "mode": "markers",
            "name": "start",
            "marker": {"size": 12, "symbol": "x", "color": colour["start"]},
            "hovertemplate": "start<br>x %{x:.3g}, y %{y:.3g}<extra></extra>",
        }
    )
    names = [path_name(view, name) for name in OPTIMIZERS]
    below = P.legend_height([*names, "start"], theme, WIDTH)
    layout = {
        "title": {"text": label(title(view, index)), "x": 0.01, "xanchor": "left"},
        "width": WIDTH,
        "height": HEIGHT + below,
        "margin": {"l": 50, "r": 20, "t": 40, "b": 40 + below},
        "uirevision": "explain",
        "legend": P.legend_below(),
        "xaxis": {"range": list(view.x_range), "title": {"text": "x"}},
        "yaxis": {"range": list(view.y_range), "title": {"text": "y"}},
        "annotations": [],
        "shapes": [],
    }
    return [P.themed({"data": data, "layout": layout}, theme)]
