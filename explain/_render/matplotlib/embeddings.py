"""Matplotlib figure of the embeddings view."""

from __future__ import annotations

from explain.style import LIGHT, Theme
from explain.views import EmbeddingData

from .common import Drawn, heading, new_figure, text


def embeddings(
    view: EmbeddingData, index: int, marker: bool = False, theme: Theme = LIGHT
) -> Drawn:
    """Tokens as points on the two main axes of all snapshots, with the path each one took."""
    coords = view.coords[:, :, :2]  # [snapshot, vocab, 2]
    figure = new_figure(6.6, 5.6)
    ax = figure.subplots()
    ax.set(xlim=tuple(view.ranges[0]), ylim=tuple(view.ranges[1]))
    trails = [ax.plot([], [], color="0.6", lw=0.9, alpha=0.6, zorder=1)[0] for _ in view.tokens]
    points = ax.scatter(coords[index, :, 0], coords[index, :, 1], s=28, color="#0072B2", zorder=2)
    labels = [
        ax.annotate(
            text(token), (0, 0), xytext=(4, 3), textcoords="offset points", fontsize="small"
        )
        for token in view.tokens
    ]
    ax.set_xlabel(f"PC1 ({view.explained[0]:.0%} of the variance over training)")
    ax.set_ylabel(f"PC2 ({view.explained[1]:.0%})")
    ax.axhline(0, color="0.9", lw=0.6, zorder=0)
    ax.axvline(0, color="0.9", lw=0.6, zorder=0)
    title = figure.suptitle("")

    def update(i: int) -> None:
        points.set_offsets(coords[i])
        for t, (trail, label) in enumerate(zip(trails, labels, strict=True)):
            trail.set_data(coords[: i + 1, t, 0], coords[: i + 1, t, 1])
            label.xy = (coords[i, t, 0], coords[i, t, 1])
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    return Drawn(figure, update, view.steps, [*trails, points, *labels, title])
