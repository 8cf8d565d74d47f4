"""The optimizer playground's matplotlib figure: the panel, colours and title of its plotly
figure (`explain._render.plotly.playground`): contour lines of the surface, each optimizer's
path up to the update shown, the start marked with a cross."""

from __future__ import annotations

from explain.playground import OPTIMIZERS, PlaygroundData
from explain.style import LIGHT, WEIGHT, Theme

from ..plotly.playground import CONTOURS, HEIGHT, WIDTH, colours, path_name, title
from .common import Drawn, colormap, new_figure, text


def playground(
    view: PlaygroundData, index: int, marker: bool = False, theme: Theme = LIGHT
) -> Drawn:
    """The surface and the paths at frame ``index`` (``marker``: unused, no curve over steps)."""
    figure = new_figure(WIDTH / 80, HEIGHT / 80)
    ax = figure.subplots()
    ax.contour(view.x, view.y, view.z, levels=CONTOURS, cmap=colormap(WEIGHT), linewidths=0.8)
    colour = colours(theme)
    lines = {
        name: ax.plot([], [], "-o", ms=2, color=colour[name], label=text(path_name(view, name)))[0]
        for name in OPTIMIZERS
    }
    ax.plot(*view.start, "x", ms=9, mew=2, color=colour["start"], label="start", ls="none")
    ax.set(xlim=view.x_range, ylim=view.y_range, xlabel="x", ylabel="y")
    figure.legend(loc="outside lower center", ncols=len(OPTIMIZERS) + 1, frameon=False)
    heading = ax.set_title("", loc="left")

    def update(i: int) -> None:
        for name, line in lines.items():
            path = view.shown(name, i)
            line.set_data(path[:, 0], path[:, 1])
        heading.set_text(text(title(view, i)))

    update(index)
    return Drawn(figure, update, view.steps, [*lines.values(), heading])
