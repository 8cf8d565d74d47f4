"""Matplotlib figure of the attention view: a grid of every layer x head."""

from __future__ import annotations

import numpy as np

from explain.style import LIGHT, Theme
from explain.views import AttentionData

from .common import Drawn, colormap, heading, new_figure, token_ticks


def attention(view: AttentionData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """Grid of heatmaps, one row per layer and one column per head; row 0 (query 0) on top."""
    rows, cols = len(view.layers), len(view.heads)
    q, k = len(view.query_tokens), len(view.key_tokens)
    panel = float(np.clip(0.19 * max(q, k), 1.8, 4.0))
    figure = new_figure(panel * cols + 1.3, panel * rows + 1.0)
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    images = []
    shown = view.at(index)
    cmap = colormap(view.colorscale)
    for r, layer in enumerate(view.layers):
        for c, head in enumerate(view.heads):
            ax = axes[r, c]
            images.append(
                ax.imshow(
                    shown[r, c],
                    cmap=cmap,
                    vmin=view.zmin,
                    vmax=view.zmax,
                    interpolation="nearest",
                )
            )
            ax.set_title(f"layer {layer} · head {head}")
            token_ticks(ax, "x", view.key_tokens)
            token_ticks(ax, "y", view.query_tokens)
            if r == rows - 1:
                ax.set_xlabel("key: attended to")
            if c == 0:
                ax.set_ylabel("query: looking")
    figure.colorbar(images[0], ax=axes, shrink=min(1.0, 0.5 + 0.25 * rows), label="weight")
    title = figure.suptitle("")

    def update(i: int) -> None:
        for image, pattern in zip(images, view.at(i).reshape(rows * cols, q, k), strict=True):
            image.set_data(pattern)
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    spines = [spine for ax in axes.flat for spine in ax.spines.values()]
    return Drawn(figure, update, view.steps, [*images, *spines, title])
