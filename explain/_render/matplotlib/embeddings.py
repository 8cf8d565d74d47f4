"""The embeddings view's matplotlib figure: the panels, colours and titles of its plotly
figures (`explain._render.plotly.embeddings`): the tokens on the first two principal
components with each one's path so far (or the first three, in 3-D), and their cosine
similarity."""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist

from explain.style import LIGHT, Theme
from explain.views import EmbeddingData

from ..plotly.embeddings import (
    SIMILARITY_TITLE,
    TRAIL_RGBA,
    axis_title,
    checked,
    point_colour,
    title,
    trail,
)
from .common import Drawn, colormap, new_figure, text, token_ticks

TRAIL = (*(c / 255 for c in TRAIL_RGBA[:3]), TRAIL_RGBA[3])


def embeddings(
    view: EmbeddingData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    dims: int = 2,
    trails: bool = True,
) -> Drawn:
    """The points (2-D with paths when ``trails``, or 3-D) beside the cosine similarity, as
    the widget shows them (``marker``: no step marker here, nothing is drawn over steps)."""
    figure = new_figure(10.4, 4.8)
    grid = figure.add_gridspec(1, 2, width_ratios=[1.05, 1.0])
    coords = view.coords  # [snapshot, token, 3]
    labels = [text(token) for token in view.tokens]
    colour = point_colour(theme)
    if checked(dims) == 2:
        ax = figure.add_subplot(grid[0])
        ax.set(xlim=tuple(view.ranges[0]), ylim=tuple(view.ranges[1]))
        ax.set_xlabel(axis_title(view, 0))
        ax.set_ylabel(axis_title(view, 1))
        ax.axhline(0, color=theme.grid, lw=0.8, zorder=0)
        ax.axvline(0, color=theme.grid, lw=0.8, zorder=0)
        (path,) = ax.plot([], [], color=TRAIL, lw=0.8, zorder=1)
        points = ax.scatter(coords[index, :, 0], coords[index, :, 1], s=40, color=colour, zorder=2)
        names = [
            ax.annotate(
                name, (0, 0), xytext=(0, 5), textcoords="offset points", ha="center", va="bottom"
            )
            for name in labels
        ]
        changing: list[Artist] = [path, points, *names, ax.title]

        def move(i: int) -> None:
            if trails:
                joined = trail(view, i)  # NaN rows: gaps between the tokens' paths
                path.set_data(joined[:, 0], joined[:, 1])
            points.set_offsets(coords[i, :, :2])
            for t, name in enumerate(names):
                name.xy = (coords[i, t, 0], coords[i, t, 1])

    else:
        ax = figure.add_subplot(grid[0], projection="3d")
        ax.set(xlim=tuple(view.ranges[0]), ylim=tuple(view.ranges[1]), zlim=tuple(view.ranges[2]))
        ax.set(xlabel="PC1", ylabel="PC2", zlabel="PC3")
        ax.set_box_aspect((1, 1, 1))
        points = ax.scatter(*coords[index].T, s=16, color=colour, depthshade=False)
        names = [ax.text(*coords[index, t], name) for t, name in enumerate(labels)]
        changing = [ax]  # the projection changes with the points: the axes redraw per frame

        def move(i: int) -> None:
            points._offsets3d = tuple(coords[i].T)
            for t, name in enumerate(names):
                name.set_position_3d(coords[i, t])

    ax.set_title("")
    right = figure.add_subplot(grid[1])
    image = right.imshow(
        view.similarity[index],
        cmap=colormap(view.colorscale),
        vmin=-1,
        vmax=1,
        interpolation="nearest",
    )
    token_ticks(right, "x", view.tokens)
    token_ticks(right, "y", view.tokens)
    figure.colorbar(image, ax=right, shrink=0.9)
    headings = (ax.title, right.set_title(""))

    def update(i: int) -> None:
        step = int(view.steps[i])
        move(i)
        image.set_data(view.similarity[i])
        headings[0].set_text(text(title(view, step)))
        headings[1].set_text(f"{SIMILARITY_TITLE} · step {step}")

    update(index)
    return Drawn(figure, update, np.asarray(view.steps), [*changing, image, headings[1]])
