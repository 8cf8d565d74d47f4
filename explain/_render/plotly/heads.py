"""The heads view's figures, as HeadsView shows them: first three panels, each its own figure so
a narrow output wraps them (each head's importance with the pattern it shows at the step, the
heads switched off crossed out and what that costs; the pruning curve; how different the heads'
final patterns are); then every head's score for one pattern over training (:mod:`.scores`).

State (what HeadsView holds; the export draws it too): ``off``, the (layer, head) pairs
switched off; ``result``, the loss and accuracy measured with them off (``{"loss": ...,
"accuracy": ...}``; None: not measured, as in a page made from a trace); ``pattern``, the
pattern of the scores figure (None: the one some head shows most clearly at the end).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from explain import views
from explain.style import OKABE_ITO, Theme, colorscale

from ..rules import label
from . import blocks as P
from . import pruning, scores

OFF_COLOUR = OKABE_ITO[5]  # vermillion: a head switched off is crossed out


def heads_off(view: views.HeadsData, off: Iterable) -> list[tuple[int, int]]:
    """``off`` as sorted (layer, head) pairs, each checked against the view's heads."""
    pairs = []
    for pair in off:
        try:
            layer, head = (int(v) for v in pair)
        except (TypeError, ValueError):
            raise ValueError(f"off must hold (layer, head) pairs; got {pair!r}") from None
        if not (0 <= layer < view.layers and 0 <= head < view.heads):
            raise ValueError(
                f"head ({layer}, {head}) is out of range; expected layers 0..{view.layers - 1}, "
                f"heads 0..{view.heads - 1}"
            )
        pairs.append((layer, head))
    return sorted(set(pairs))


def grid_top(view: views.HeadsData) -> float:
    """The top of the grid's colour range: 1 for role scores, the largest importance."""
    if not known(view):
        return 1.0
    top = float(np.max(view.importance)) if view.importance.size else 0.0
    return top if top > 0 else 1.0


def known(view: views.HeadsData) -> bool:
    """Whether the lab measured the importance (else the grid shows the role scores)."""
    return bool(np.isfinite(view.importance).all())


def badges(view: views.HeadsData, index: int, off: list[tuple[int, int]]) -> list[list[str]]:
    """[layer][head] the pattern a head shows at frame ``index`` over its score
    ("mirror<br>0.97", see :func:`explain.views.badges_at`), or "off" where it is switched
    off."""
    shown = views.memo(
        view, ("badges", index), lambda: views.badges_at(view.scores, view.patterns, index)
    )
    # the pattern over its score: on one line, neighbours' badges ran together at 20 px
    # ("mirror 0.85mirror 0.97", "offmirror 0.9")
    shown = [[badge.replace(" ", "<br>", 1) for badge in row] for row in shown]
    for layer, head in off:
        shown[layer][head] = "off"
    return shown


def effect(view: views.HeadsData, off: list[tuple[int, int]], result: Mapping | None) -> str:
    """The line above the panels: which heads are off and what the model scores then."""

    def number(value: object, digits: str) -> str:
        value = float(value) if value is not None else float("nan")
        return format(value, digits) if np.isfinite(value) else "?"

    loss, accuracy = view.baseline_loss, view.baseline_accuracy
    if off:
        names = ", ".join(view.head_label(layer, head) for layer, head in off)
        line = f"heads off: {names}"
        if result is not None:
            line += (
                f" · loss {number(loss, '.3f')} → {number(result.get('loss'), '.3f')}"
                f" · accuracy {number(accuracy, '.2f')} → {number(result.get('accuracy'), '.2f')}"
            )
        return line
    if np.isfinite(loss) and np.isfinite(accuracy):
        return f"all heads on · loss {loss:.3f} · accuracy {accuracy:.2f}"
    return "no lab record: explain.lab.record(run) measures importance and pruning"


def _crosses(off: list[tuple[int, int]]) -> list[dict]:
    return [
        {
            "type": "line",
            "xref": "x",
            "yref": "y",
            "x0": head - 0.45,
            "x1": head + 0.45,
            "y0": layer - 0.45,
            "y1": layer + 0.45,
            "line": {"color": OFF_COLOUR, "width": 3},
        }
        for layer, head in off
    ]


def _panel_layout(theme: Theme, title: str, width: int, **axes: dict) -> dict:
    """One of the three panels' layout: its own figure, so a narrow output wraps them."""
    size = theme.font_size
    return {
        "title": {"text": title, "x": 0.01},
        "width": width + 10 * (size - 12),
        "height": 360 + 14 * (size - 12),
        "margin": {"l": 60, "r": 30, "t": 84 + 4 * (size - 12), "b": 60},
        "uirevision": "explain",
        "showlegend": False,
        "shapes": [],
        "annotations": [],
        **axes,
    }


def badge_size(theme: Theme) -> int:
    """The grid badges' text size: a little under the theme's."""
    return max(9, theme.font_size - 3)


def grid_width(view: views.HeadsData, theme: Theme) -> int:
    """The grid panel's width before the theme grows it: a cell as wide as a six-letter badge
    ("mirror", "induct") at about 0.6 em a letter, the axis and the colour bar beside them."""
    cell = round(0.6 * badge_size(theme) * 6 + 8)
    return max(420, 150 + view.heads * cell)


def _fixed(view: views.HeadsData, theme: Theme) -> list[dict]:
    """The three panels less what moves (the badges, the title, the heads off and what they
    cost), themed: made once per view model and theme (see :func:`explain.views.memo`)."""
    order = list(view.order)
    names = [label(view.labels[i]) for i in order]
    scale = colorscale(view.colorscale)
    measured = known(view)
    grid = {
        "type": "heatmap",
        "z": (view.importance if measured else view.role_scores).astype(np.float32),
        "x": np.arange(view.heads),
        "y": np.arange(view.layers),
        "texttemplate": "%{text}",
        "textfont": {"size": badge_size(theme)},
        "colorscale": scale,
        "zmin": 0.0,
        "zmax": grid_top(view),
        "colorbar": {"thickness": 12, "title": {"text": "importance" if measured else "score"}},
        "hovertemplate": "layer %{y} head %{x}<br>%{z:.3g}<br>%{text}<extra></extra>",
    }
    grid_axes = {
        "xaxis": {"title": {"text": "head"}, "dtick": 1},
        "yaxis": {"title": {"text": "layer"}, "dtick": 1, "autorange": "reversed"},
    }
    curves, axes = pruning.panel(
        view.prune_fractions,
        view.prune_accuracy,
        view.prune_loss,
        theme,
        ("x", "y", "y2"),
        [0.0, 1.0],
        pruning.HEADS_AXIS,
    )
    similarity = {
        "type": "heatmap",
        "z": view.similarity[np.ix_(order, order)].astype(np.float32),
        "x": names,
        "y": names,
        "colorscale": scale,
        "zmin": 0.0,
        "zmax": 1.0,
        "colorbar": {"thickness": 12, "title": {"text": "JS distance"}},
        "hovertemplate": "%{y} vs %{x}: JS distance %{z:.3f}<extra></extra>",
    }
    similarity_axes = {
        "xaxis": {"tickangle": -90},
        "yaxis": {"autorange": "reversed"},
    }
    prune_title = pruning.HEADS_TITLE if len(view.prune_fractions) else pruning.MISSING
    return [
        P.themed(
            {
                "data": [grid],
                "layout": _panel_layout(theme, "", grid_width(view, theme), **grid_axes),
            },
            theme,
        ),
        P.themed(
            {"data": curves, "layout": _panel_layout(theme, label(prune_title), 420, **axes)},
            theme,
        ),
        P.themed(
            {
                "data": [similarity],
                "layout": _panel_layout(
                    theme, "how different (JS distance)", 420, **similarity_axes
                ),
            },
            theme,
        ),
    ]


def panels(
    view: views.HeadsData,
    index: int,
    theme: Theme,
    off: list[tuple[int, int]],
    result: Mapping | None,
) -> list[dict]:
    """The first three figures: the importance grid (with the step, the badges, the heads off
    and what they cost), the pruning curve, how different the heads are."""
    grid_figure, pruning_figure, similarity_figure = views.memo(
        view, ("panels", theme), lambda: _fixed(view, theme)
    )
    layout = grid_figure["layout"]
    (grid,) = grid_figure["data"]
    title = label(view.heading(int(view.steps[index])))
    cost = label(effect(view, off, result))  # what switching heads off costs: its own line
    shown = {
        "data": [{**grid, "text": badges(view, index, off)}],
        "layout": {
            **layout,
            "title": {**layout["title"], "text": f"{title}<br>{cost}"},
            "shapes": _crosses(off),
        },
    }
    return [shown, pruning_figure, similarity_figure]


def score_figure(view: views.HeadsData, index: int, theme: Theme, pattern: str | None) -> dict:
    """The second figure: every head's score for ``pattern`` (see :mod:`.scores`)."""
    pattern = scores.chosen(view.scores, view.patterns, pattern)
    shown = scores.pattern_scores(view, pattern, views.ROLE_THRESHOLD)
    return scores.score_figure(shown, int(view.steps[index]), theme)


def figures(
    view: views.HeadsData,
    index: int,
    theme: Theme,
    off: Iterable = (),
    result: Mapping | None = None,
    pattern: str | None = None,
) -> list[dict]:
    """The three panels, then every head's score over training: not for a model trained
    elsewhere (``view.trained`` False), whose one snapshot would be one point each."""
    off = heads_off(view, off)
    shown = panels(view, index, theme, off, result)
    return [*shown, score_figure(view, index, theme, pattern)] if view.trained else shown
