"""The positional view's matplotlib figure: the panels, colours and titles of its plotly
figures (`explain._render.plotly.positional`): the encoding table, chosen dimensions as curves
over position, and the cosine similarity of positions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from explain.style import LIGHT, Theme
from explain.views import PositionalData

from ..plotly.positional import chosen, colours, column, titles, value_range
from .common import Drawn, colormap, legend_above, new_figure, text


def positional(
    view: PositionalData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    dims: Sequence[int] | None = None,
) -> Drawn:
    """Table, curves of ``dims`` (default: the first four) and similarity side by side, as the
    widget shows them (``marker``: no step marker here, nothing is drawn over steps)."""
    picked = chosen(view, dims)
    figure = new_figure(13.0, 4.4)
    left, middle, right = figure.subplots(1, 3, width_ratios=[1.0, 1.0, 1.0])
    limit, cmap = view.limit, colormap(view.colorscale)
    table = left.imshow(
        view.table[index],
        cmap=cmap,
        vmin=-limit,
        vmax=limit,
        aspect="auto",
        interpolation="nearest",
    )
    left.set(xlabel=column(view), ylabel="position")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(table, ax=left)
    positions = np.arange(view.table.shape[1])
    colour = colours(theme)
    lines = [
        middle.plot(positions, view.table[index][:, d], color=colour[i], label=f"dim {d}")[0]
        for i, d in enumerate(picked)
    ]
    middle.set(xlabel="position", ylabel="value")
    middle.set_ylim(*value_range(limit))
    similarity = right.imshow(
        view.similarity[index], cmap=cmap, vmin=-1, vmax=1, aspect="auto", interpolation="nearest"
    )
    right.set(xlabel="position", ylabel="position")
    for axis in (right.xaxis, right.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(similarity, ax=right)
    headings = [ax.set_title("") for ax in (left, middle, right)]
    legend_above(middle)  # between the title and the curves, as the widget has it

    def update(i: int) -> None:
        table.set_data(view.table[i])
        for line, d in zip(lines, picked, strict=True):
            line.set_ydata(view.table[i][:, d])
        similarity.set_data(view.similarity[i])
        for heading, words in zip(headings, titles(view, i), strict=True):
            heading.set_text(text(words))

    update(index)
    return Drawn(figure, update, np.asarray(view.steps), [table, *lines, similarity, *headings])
