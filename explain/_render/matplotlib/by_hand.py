"""The by-hand view's matplotlib figure: the panels of its plotly figures
(`explain._render.plotly.by_hand`) side by side: the scaled scores on the diverging scale
centred on 0 (masked cells blank, written −∞) and the weights in [0, 1], each cell's number
written in it and the explained query row outlined."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from explain.style import LIGHT, Theme
from explain.views import ByHandData

from ..plotly.by_hand import OUTLINE, matrices, titles
from .common import Drawn, colormap, new_figure, token_ticks


def _ink(rgba: tuple[float, ...]) -> str:
    """Black or white text, whichever reads on a cell of colour ``rgba``."""
    red, green, blue = rgba[:3]
    return "#000000" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "#ffffff"


def by_hand(view: ByHandData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """The scores and the weights as the widget shows them (one frame; no step to mark)."""
    n = len(view.tokens)
    panel = float(np.clip(0.45 * n + 1.6, 3.2, 7.0))
    figure = new_figure(2 * panel + 1.0, panel + 0.4)
    axes = figure.subplots(1, 2)
    scales = (view.score_colorscale, view.colorscale)
    artists = []
    for ax, title, (z, text), scale, signed in zip(
        axes, titles(view), matrices(view), scales, (True, False), strict=True
    ):
        if signed:  # centred on 0, as plotly's zmid: the colour range is symmetric
            limit = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
            norm = Normalize(-(limit or 1.0), limit or 1.0)
        else:
            norm = Normalize(0.0, 1.0)
        cmap = colormap(scale)
        image = ax.imshow(
            np.ma.masked_invalid(z), cmap=cmap, norm=norm, interpolation="nearest", aspect="auto"
        )
        for (i, j), value in np.ndenumerate(z):
            ink = theme.foreground if not np.isfinite(value) else _ink(cmap(norm(value)))
            # at the figure's text size, as plotly writes a heatmap's numbers
            ax.text(j, i, text[i][j], ha="center", va="center", color=ink)
        ax.add_patch(
            Rectangle(
                (-0.5, view.query - 0.5), z.shape[1], 1, fill=False, edgecolor=OUTLINE, lw=2.5
            )
        )
        ax.set_title(title)
        token_ticks(ax, "x", view.tokens, angle=45)
        token_ticks(ax, "y", view.tokens)
        ax.set_xlabel("key")
        ax.set_ylabel("query")
        figure.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
        artists.append(image)
    return Drawn(figure, lambda i: None, view.steps, artists)
