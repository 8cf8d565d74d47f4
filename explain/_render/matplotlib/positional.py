"""Matplotlib figure of the positional view: encoding table and similarity."""

from __future__ import annotations

from matplotlib.ticker import MaxNLocator

from explain.style import LIGHT, Theme
from explain.views import PositionalData

from .common import Drawn, colormap, heading, new_figure


def positional(
    view: PositionalData, index: int, marker: bool = False, theme: Theme = LIGHT
) -> Drawn:
    """The encoding table [position, dimension] and the cosine similarity of positions."""
    figure = new_figure(10.5, 4.4)
    left, right = figure.subplots(1, 2, width_ratios=[1.6, 1.0])
    limit, cmap = view.limit, colormap(view.colorscale)
    table = left.imshow(
        view.table[index],
        cmap=cmap,
        vmin=-limit,
        vmax=limit,
        aspect="auto",
        interpolation="nearest",
    )
    column = "column (cos even, sin odd)" if view.kind == "rope" else "dimension"
    left.set(xlabel=column, ylabel="position", title="table [position, column]")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(table, ax=left)
    similarity = right.imshow(view.similarity[index], cmap=cmap, vmin=-1, vmax=1)
    right.set(xlabel="position", ylabel="position", title="cosine similarity")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(similarity, ax=right)
    title = figure.suptitle("")

    def update(i: int) -> None:
        table.set_data(view.table[i])
        similarity.set_data(view.similarity[i])
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    spines = [spine for ax in (left, right) for spine in ax.spines.values()]
    return Drawn(figure, update, view.steps, [table, similarity, *spines, title])
