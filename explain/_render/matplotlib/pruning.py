"""The pruning view's matplotlib figure: the panels of its plotly figure
(`explain._render.plotly.pruning`), accuracy on the left axis and loss on the right in the same
colours, as heads are removed (HeadsView's middle panel) and as block weights are zeroed."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from explain.style import LIGHT, Theme
from explain.views import PruningData

from ..plotly.pruning import (
    HEADS_AXIS,
    HEADS_TITLE,
    MISSING,
    WEIGHTS_AXIS,
    WEIGHTS_TITLE,
    colours,
)
from .common import Drawn, new_figure, text


def draw_pruning(
    ax: Axes,
    shares: np.ndarray,
    accuracy: np.ndarray,
    loss: np.ndarray,
    theme: Theme,
    xlabel: str = HEADS_AXIS,
    title: str = HEADS_TITLE,
) -> Axes:
    """Accuracy on ``ax`` and loss on its twin (returned), as the plotly panel draws them; an
    empty panel titled how to measure it without a curve."""
    colour = colours(theme)
    ax.plot(shares, accuracy, "o-", color=colour["accuracy"], ms=4, label="accuracy")
    ax.set(xlabel=xlabel, ylim=(-0.02, 1.02), title=title if len(shares) else MISSING)
    ax.set_ylabel("accuracy", color=colour["accuracy"])
    twin = ax.twinx()
    twin.plot(shares, loss, "o--", color=colour["loss"], ms=4, label="loss")
    twin.set_ylabel("loss", color=colour["loss"])
    twin.spines["right"].set_visible(True)
    twin.grid(False)  # plotly's loss axis has no grid of its own
    finite = np.asarray(loss, float)[np.isfinite(loss)]
    if finite.size:  # from 0, a little over the highest loss, as plotly's "tozero" range
        twin.set_ylim(0.0, 1.05 * float(finite.max()) or 1.0)
    else:  # nothing measured: the empty panel's axes as HeadsView draws them
        ax.set_xlim(0.0, 1.0)
        twin.set_ylim(0.0, 1.0)
    return twin


def pruning(view: PruningData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """Heads removed (left) and, when the lab measured it, block weights zeroed (right)."""
    two = bool(len(view.levels))
    figure = new_figure(9.6 if two else 5.4, 3.8)
    axes = np.atleast_1d(figure.subplots(1, 2 if two else 1))
    draw_pruning(axes[0], view.fractions, view.accuracy, view.loss, theme)
    if two:
        draw_pruning(
            axes[1],
            view.levels,
            view.weight_accuracy,
            view.weight_loss,
            theme,
            WEIGHTS_AXIS,
            WEIGHTS_TITLE,
        )
    title = figure.suptitle(text(view.title), x=0.01, ha="left")
    return Drawn(figure, lambda i: None, view.steps, [title])
