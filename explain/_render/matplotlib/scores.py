"""The scores view's matplotlib figure: a panel per pattern (or the one ``pattern``), each the
plotly scores figure (`explain._render.plotly.scores`): every head's score over training in
the same colours and dashes, a dot where it appeared, the threshold dotted, the step marked."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.axes import Axes

from explain.style import LIGHT, Theme
from explain.views import ScoresData

from ..plotly.scores import (
    THRESHOLD_COLOUR,
    PatternScores,
    chosen,
    colour,
    pattern_scores,
    title,
)
from ..rules import NOTEBOOK_PX
from .common import STYLE, Drawn, legend_above, new_figure, step_markers, text

DASHES = {"solid": "-", "dash": "--"}
PANEL_INCHES = 4.2  # a panel's width at the light theme's text


def draw_scores(ax: Axes, shown: PatternScores, theme: Theme) -> None:
    """``shown.values`` [snapshot, layer, head] on ``ax`` (HeadsView's second figure)."""
    labels, heads, steps, values, appeared, threshold, pattern = shown
    for number, name in enumerate(labels):
        layer, head = divmod(number, heads)
        line_colour = colour(theme, number)
        ax.plot(
            steps,
            values[:, layer, head],
            "-" if layer % 2 == 0 else "--",
            color=line_colour,
            label=text(name),
        )
        first = int(appeared[layer, head])
        if first >= 0:
            row = min(int(np.searchsorted(steps, first)), len(steps) - 1)
            ax.plot([first], [values[row, layer, head]], "o", color=line_colour, ms=5)
    ax.axhline(threshold, color=THRESHOLD_COLOUR, lw=1, ls=":")
    ax.set(title=text(title(pattern)), xlabel="step", ylabel="score", ylim=(-0.02, 1.02))
    legend_above(ax)  # between the title and the curves, as the widget has it


def scores(
    view: ScoresData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    pattern: str | None = None,
) -> Drawn:
    """One panel per pattern (the plotly builder's figures, in rows as wide as a notebook),
    or the one ``pattern``; ``marker`` marks the step (the widget always does)."""
    shown = [chosen(view.scores, view.patterns, pattern)] if pattern is not None else view.patterns
    # as many panels a row as a notebook's width holds unshrunk (two, or one with large text):
    # five in one row made a picture 2160 px wide, shown in notebook 09 at 2/5 of its size
    grow = max(1.0, matplotlib.rcParams["font.size"] / STYLE["font.size"])  # as new_figure
    fits = int(NOTEBOOK_PX // (PANEL_INCHES * grow * matplotlib.rcParams["figure.dpi"]))
    columns = max(1, min(fits, len(shown)))
    rows = -(-len(shown) // columns)
    figure = new_figure(PANEL_INCHES * columns + 0.6, 3.6 * rows)
    grid = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for empty in grid[len(shown) :]:  # an odd panel out: no empty frame beside it
        figure.delaxes(empty)
    axes = grid[: len(shown)]
    for ax, name in zip(axes, shown, strict=True):
        draw_scores(ax, pattern_scores(view, name, view.threshold), theme)
    markers = step_markers(list(axes), int(view.steps[index]), marker)

    def update(i: int) -> None:
        for line in markers:
            line.set_xdata([int(view.steps[i])] * 2)

    update(index)
    return Drawn(figure, update, view.steps, markers)
