"""The compare view's matplotlib figure: the panels of its plotly figures
(`explain._render.plotly.compare`) in one picture: every run's ``metric`` overlaid on top (the
same colours and dashes, the step marked), below it one attention heatmap per run titled with
the snapshot it shows."""

from __future__ import annotations

import numpy as np

from explain.style import LIGHT, Theme
from explain.views import CompareData

from ..plotly.compare import DASHES, colours, curves_title, heatmap_title, step_title
from .common import (
    Drawn,
    colormap,
    legend_above,
    new_figure,
    step_markers,
    text,
    token_ticks,
)

# plotly's dashes as matplotlib line styles
LINESTYLES = {
    "solid": "-",
    "dash": (0, (5, 3)),
    "dot": (0, (1, 2)),
    "dashdot": (0, (5, 2, 1, 2)),
    "longdash": (0, (9, 3)),
}


def compare(view: CompareData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """The curves over the heatmaps, as the widget shows them; ``marker`` marks the step on the
    curves (the widget always does)."""
    runs = len(view.names)
    width = max(8.0, 3.0 * runs)
    figure = new_figure(width, 3.2 + min(4.6, width / runs + 1.4))  # room for the tick labels
    grid = figure.add_gridspec(2, runs, height_ratios=[3.0, 3.8])
    top = figure.add_subplot(grid[0, :])
    for i, (name, curve, colour) in enumerate(
        zip(view.names, view.curves, colours(view, theme), strict=True)
    ):
        top.plot(
            curve.steps,
            curve.values,
            color=colour,
            ls=LINESTYLES[DASHES[i % len(DASHES)]],
            marker="o",
            ms=2.5,
            label=text(name),
        )
    top.set_title(text(curves_title(view)))
    top.set_xlabel(step_title(view))
    top.set_ylabel(text(view.metric))
    legend_above(top)  # between the title and the curves, as the widget has it
    markers = step_markers([top], int(view.steps[index]), marker)
    cmap = colormap(view.colorscale)
    images, titles = [], []
    for run in range(runs):
        ax = figure.add_subplot(grid[1, run])
        images.append(
            ax.imshow(view.at(index)[run], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        )
        queries, keys = view.tokens[view.part][run]
        token_ticks(ax, "x", keys, angle=60)
        token_ticks(ax, "y", queries)
        titles.append(ax.set_title(""))
        if run == runs - 1:
            figure.colorbar(images[-1], ax=ax)

    def update(i: int) -> None:
        step = int(view.steps[i])
        for line in markers:
            line.set_xdata([step, step])
        for run, (image, pattern) in enumerate(zip(images, view.at(i), strict=True)):
            image.set_data(np.asarray(pattern))
            titles[run].set_text("\n".join(text(line) for line in heatmap_title(view, run, i)))

    update(index)
    return Drawn(figure, update, view.steps, [*markers, *images, *titles])
