"""The scores figure: every head's score for one pattern over training, a dot where it
appeared, the threshold dotted and the step marked. HeadsView shows it for the pattern its
dropdown picks (:mod:`.heads` builds it with :func:`score_figure`); the scores view
(:class:`explain.views.ScoresData`) is one such figure per pattern, or the one ``pattern``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from explain import views
from explain.style import Theme

from ..rules import label, step_marker
from . import blocks as P

THRESHOLD_COLOUR = "#999999"  # the score a pattern must reach to name a head


class PatternScores(NamedTuple):
    """Every head's score for one pattern over training: what one scores figure (or panel)
    draws, from the heads view or the scores view (:func:`pattern_scores`)."""

    labels: Sequence[str]  # [layer * heads + head] "L{layer}H{head}", layer-major
    heads: int  # heads per layer
    steps: np.ndarray  # [snapshot]
    values: np.ndarray  # [snapshot, layer, head] the pattern's score
    appeared: np.ndarray  # [layer, head] the step the pattern appeared, -1: never
    threshold: float  # the score it must reach
    pattern: str


def pattern_scores(
    view: views.HeadsData | views.ScoresData, pattern: str, threshold: float
) -> PatternScores:
    """The scores of ``pattern`` in ``view`` (a scored pattern: see :func:`chosen`)."""
    return PatternScores(
        view.labels, view.heads, view.steps, view.scores[pattern], view.emergence[pattern],
        threshold, pattern,
    )  # fmt: skip


def strongest(scores: Mapping[str, np.ndarray], patterns: Sequence[str]) -> str:
    """The pattern some head shows most clearly at the last snapshot (what HeadsView opens on)."""
    final = {p: float(np.nanmax(np.nan_to_num(scores[p][-1], nan=0.0))) for p in patterns}
    return max(final, key=final.get)


def chosen(scores: Mapping[str, np.ndarray], patterns: Sequence[str], pattern: str | None) -> str:
    """``pattern`` if it was scored (None: :func:`strongest`), else a ValueError naming them."""
    if pattern is None:
        return strongest(scores, patterns)
    if pattern not in patterns:
        raise ValueError(f"unknown pattern {pattern!r}; expected one of {list(patterns)}")
    return str(pattern)


def title(pattern: str) -> str:
    return f"{pattern.replace('_', ' ')} score of every head"


def colour(theme: Theme, number: int) -> str:
    """Head ``number`` (layer-major) in the theme's colours; odd layers dashed (`dash`)."""
    return theme.colorway[number % len(theme.colorway)]


def dash(layer: int) -> str:
    return "solid" if layer % 2 == 0 else "dash"


def _traces(shown: PatternScores, theme: Theme) -> list[dict]:
    """The scores figure's traces, themed: a line per head, the dots where a head's pattern
    appeared, the threshold (a trace: it never moves, unlike the step marker)."""
    labels, heads, steps, values, appeared, threshold, _ = shown
    data = []
    dots: dict[str, list] = {"x": [], "y": [], "text": [], "color": []}
    for number, name in enumerate(labels):
        layer, head = divmod(number, heads)
        y = np.ascontiguousarray(values[:, layer, head])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": steps,
                "y": y,
                "name": label(name),
                "line": {"color": colour(theme, number), "dash": dash(layer)},
                "hovertemplate": f"{label(name)}<br>step %{{x}}: %{{y:.3f}}<extra></extra>",
            }
        )
        first = int(appeared[layer, head])
        if first >= 0:
            row = min(int(np.searchsorted(steps, first)), len(steps) - 1)
            dots["x"].append(first)
            dots["y"].append(float(y[row]))
            dots["text"].append(label(name))
            dots["color"].append(colour(theme, number))
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "x": dots["x"],
            "y": dots["y"],
            "text": dots["text"],
            "name": "appeared",
            "showlegend": False,
            "marker": {"color": dots["color"], "size": 8},
            "hovertemplate": "%{text} appeared at step %{x}<extra></extra>",
        }
    )
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "x": steps[[0, -1]] if len(steps) else steps,
            "y": [threshold, threshold] if len(steps) else [],
            "name": f"threshold {threshold:g}",
            "showlegend": False,
            "line": {"color": THRESHOLD_COLOUR, "width": 1, "dash": "dot"},
            "hoverinfo": "skip",
        }
    )
    return P.themed({"data": data, "layout": {}}, theme)["data"]


def score_figure(shown: PatternScores, step: int, theme: Theme) -> dict:
    """``shown.values`` as one line per head, dotted where a head's pattern appeared, the
    threshold dotted; ``step`` marked."""
    data = views.memo(
        shown.values, ("traces", theme, shown.threshold), lambda: _traces(shown, theme)
    )
    layout = views.memo(
        shown.values, ("layout", theme, shown.pattern), lambda: _layout(shown.pattern, theme)
    )
    return {"data": data, "layout": {**layout, "shapes": [step_marker(step)]}}


def _layout(pattern: str, theme: Theme) -> dict:
    """The scores figure's layout less the step marker, themed."""
    size = theme.font_size
    layout = {
        "title": {"text": label(title(pattern)), "x": 0.01},
        "width": 520 + 10 * (size - 12),
        "height": 300 + 10 * (size - 12),
        "margin": {"l": 50, "r": 20, "t": 40 + 2 * (size - 12), "b": 40},
        "uirevision": "explain",
        "showlegend": True,
        "xaxis": {"title": {"text": "step"}},
        "yaxis": {"title": {"text": "score"}, "range": [-0.02, 1.02]},
        "shapes": [],
        "annotations": [],
    }
    return P.themed({"layout": layout}, theme)["layout"]


def figures(
    view: views.ScoresData, index: int, theme: Theme, pattern: str | None = None
) -> list[dict]:
    """One figure per pattern scored, or the one ``pattern``: each what HeadsView shows when
    its dropdown picks that pattern."""
    step = int(view.steps[index])
    shown = [chosen(view.scores, view.patterns, pattern)] if pattern is not None else view.patterns
    return [score_figure(pattern_scores(view, p, view.threshold), step, theme) for p in shown]
