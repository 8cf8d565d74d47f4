"""The optimizer playground's matplotlib figure: the panel, colours and title of its plotly
figure (`explain._render.plotly.playground`): the same contour lines of the surface (heights,
colours, width), each optimizer's path up to the update shown, the start marked with a
cross."""

from __future__ import annotations

from explain.playground import OPTIMIZERS, PlaygroundData
from explain.style import LIGHT, WEIGHT, Theme

from ..plotly.playground import (
    CONTOUR_WIDTH,
    HEIGHT,
    WIDTH,
    colours,
    levels,
    path_name,
    title,
)
from .common import PT_PER_PX, Drawn, colormap, legend_above, new_figure, text


def playground(
    view: PlaygroundData, index: int, marker: bool = False, theme: Theme = LIGHT
) -> Drawn:
    """The surface and the paths at frame ``index`` (``marker``: unused, no curve over steps)."""
    figure = new_figure(WIDTH / 80, HEIGHT / 80)
    ax = figure.subplots()
    # plotly colours its lines from the lowest height's end of the scale to the highest's, as
    # matplotlib does for explicit levels
    heights = levels(view)
    ax.contour(view.x, view.y, view.z, levels=heights, cmap=colormap(WEIGHT),
               linewidths=CONTOUR_WIDTH * PT_PER_PX)  # fmt: skip
    colour = colours(theme)
    lines = {
        name: ax.plot([], [], "-o", ms=2, color=colour[name], label=text(path_name(view, name)))[0]
        for name in OPTIMIZERS
    }
    # plotly's "x" marker is a filled cross: matplotlib's "X"
    ax.plot(*view.start, "X", ms=9, mew=0, color=colour["start"], label="start", ls="none")
    ax.set(xlim=view.x_range, ylim=view.y_range, xlabel="x", ylabel="y")
    heading = ax.set_title("", loc="left")
    legend_above(ax, owner=figure)  # between the title and the surface, as the widget has it

    def update(i: int) -> None:
        for name, line in lines.items():
            path = view.shown(name, i)
            line.set_data(path[:, 0], path[:, 1])
        heading.set_text(text(title(view, i)))

    update(index)
    return Drawn(figure, update, view.steps, [*lines.values(), heading])
