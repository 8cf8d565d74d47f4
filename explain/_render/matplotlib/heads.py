"""The heads view's matplotlib figure: both plotly figures of `explain._render.plotly.heads`
in one picture. On top, the importance grid badged with each head's pattern (heads switched
off crossed out), the pruning curve and how different the heads are, with the line saying
what the heads off cost at the top right; underneath, every head's score for one pattern over
training."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from explain import views
from explain.style import LIGHT, Theme
from explain.views import HeadsData

from ..plotly.heads import OFF_COLOUR, badges, effect, grid_top, heads_off, known
from ..plotly.pruning import HEADS_TITLE, MISSING
from ..plotly.scores import chosen, pattern_scores
from .common import Drawn, colormap, new_figure, step_markers, text
from .pruning import draw_pruning
from .scores import draw_scores


def heads(
    view: HeadsData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    off: Iterable = (),
    result: Mapping | None = None,
    pattern: str | None = None,
) -> Drawn:
    """The two figures HeadsView shows, one above the other, with its state (``off``,
    ``result``, ``pattern``: see `explain._render.plotly.heads`); ``marker`` marks the step
    on the scores (the widget always does). A model trained elsewhere (``view.trained``
    False) gets the top row alone: no scores over training."""
    off = heads_off(view, off)
    pattern = chosen(view.scores, view.patterns, pattern)
    figure = new_figure(13.0, 7.6 if view.trained else 3.9)
    top, bottom = (
        figure.subfigures(2, 1, height_ratios=[1.05, 1.0]) if view.trained else (figure, None)
    )
    grid_ax, prune_ax, similar_ax = top.subplots(1, 3, width_ratios=[1.1, 1.1, 1.0])
    measured = known(view)
    values = view.importance if measured else view.role_scores
    image = grid_ax.imshow(
        values, cmap=colormap(view.colorscale), vmin=0, vmax=grid_top(view), aspect="auto"
    )
    top.colorbar(image, ax=grid_ax, label="importance" if measured else "score")
    grid_ax.set(xlabel="head", ylabel="layer", xticks=range(view.heads), yticks=range(view.layers))
    high = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    cells = [
        [
            grid_ax.text(
                h,
                layer,
                "",
                ha="center",
                va="center",
                fontsize="small",
                color="black" if values[layer, h] > 0.6 * high else "white",
            )
            for h in range(view.heads)
        ]
        for layer in range(view.layers)
    ]
    for layer, h in off:
        grid_ax.plot([h - 0.45, h + 0.45], [layer - 0.45, layer + 0.45], color=OFF_COLOUR, lw=3)
    draw_pruning(
        prune_ax,
        view.prune_fractions,
        view.prune_accuracy,
        view.prune_loss,
        theme,
        title=HEADS_TITLE if len(view.prune_fractions) else MISSING,
    )
    order = view.order
    similar = similar_ax.imshow(
        view.similarity[np.ix_(order, order)], cmap=colormap(view.colorscale), vmin=0, vmax=1
    )
    names = [text(view.labels[i]) for i in order]
    similar_ax.set_xticks(range(len(names)), names, rotation=90)
    similar_ax.set_yticks(range(len(names)), names)
    similar_ax.set_title("how different (JS distance)")
    top.colorbar(similar, ax=similar_ax, label="JS distance")
    title = top.suptitle("", x=0.01, ha="left")
    top.text(0.99, 0.99, text(effect(view, off, result)), ha="right", va="top")

    markers = []
    if bottom is not None:
        scores_ax = bottom.subplots(1, 2, width_ratios=[1.4, 1.0])[0]
        bottom.axes[1].set_axis_off()  # where HeadsView writes what the heads do
        draw_scores(scores_ax, pattern_scores(view, pattern, views.ROLE_THRESHOLD), theme)
        markers = step_markers([scores_ax], int(view.steps[index]), marker)

    def update(i: int) -> None:
        step = int(view.steps[i])
        for row, labels in zip(cells, badges(view, i, off), strict=True):
            for cell, badge in zip(row, labels, strict=True):
                # the pattern over its score, as in the widget (no pattern: blank)
                cell.set_text("\n".join(text(line) for line in badge.split("<br>")))
        for line in markers:
            line.set_xdata([step, step])
        title.set_text(text(view.heading(step)))

    update(index)
    return Drawn(figure, update, view.steps, [*(c for row in cells for c in row), *markers, title])
