"""The token-loss view's matplotlib figure: the text of its plotly figure
(`explain._render.plotly.token_loss`), wrapped at the same number of tokens a line, each token
on a cell coloured by its loss (grey where the task does not score it), the colour bar under
the text and the step and mean loss in the title. The top five tokens, the plotly figure's
hover, are in the JSON and CSV exports.
"""

from __future__ import annotations

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_rgba

from explain.style import LIGHT, Theme
from explain.views import TokenLossData

from ..plotly.token_loss import BAR_TITLE, GREY_NOTE, sizes, title
from .common import Drawn, colormap, new_figure, text


def _ink(rgba: np.ndarray) -> list[str]:
    """Black on light cells, white on dark ones (relative luminance), per cell [n, 4]."""
    luminance = rgba[:, :3] @ np.array([0.2126, 0.7152, 0.0722])
    return ["black" if value > 0.45 else "white" for value in luminance]


def token_loss(
    view: TokenLossData, index: int, marker: bool = False, theme: Theme = LIGHT
) -> Drawn:
    """The coloured text at frame ``index`` (``marker``: no curve to mark; the title always
    says the step)."""
    layout = sizes(view, theme)
    columns, rows = layout["columns"], layout["rows"]
    n_pos = len(view.targets)
    # as wide as the plotly figure at 96 dpi (new_figure grows it with the theme's text), a
    # line of cells about as tall as plotly's (2 em + 10 px)
    figure = new_figure(layout["width"] / 96, 0.36 * rows + 1.5)
    # the colour bar under the text's left half, as in the plotly figure
    axes = figure.subplot_mosaic(
        [["text", "text"], ["bar", "."]], height_ratios=[0.36 * rows, 0.12]
    )
    ax = axes["text"]
    cmap = colormap(view.colorscale)
    norm = Normalize(0.0, view.ceiling)
    mask = np.asarray(view.mask, bool)
    grey = np.array(to_rgba(theme.grid))
    background = np.array(to_rgba(theme.background))

    def colours(i: int) -> np.ndarray:
        """[pos, 4] each token's cell colour at frame ``i`` (a loss that is not finite: the
        top of the scale)."""
        loss = np.nan_to_num(view.loss[i].astype(np.float64), nan=view.ceiling)
        shown = cmap(norm(loss))
        shown[~mask] = grey
        return shown

    def cells(shown: np.ndarray) -> np.ndarray:
        """[rows, columns, 4]: ``shown`` wrapped into lines, the last padded with background."""
        padded = np.tile(background, (rows * columns, 1))
        padded[:n_pos] = shown
        return padded.reshape(rows, columns, 4)

    image = ax.imshow(cells(colours(index)), aspect="auto", interpolation="nearest")
    labels = [
        ax.text(p % columns, p // columns, text(token), ha="center", va="center")
        for p, token in enumerate(view.targets)
    ]
    ax.set_xticks([])
    ax.set_yticks(range(rows), [str(r * columns) for r in range(rows)] if rows > 1 else [])
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    # gaps between the cells, as plotly's xgap/ygap draw them
    ax.set_xticks(np.arange(columns + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(True, which="minor", color=theme.background, linewidth=3)
    ax.tick_params(which="minor", length=0)
    bar = figure.colorbar(ScalarMappable(norm, cmap), cax=axes["bar"], orientation="horizontal")
    unscored = "" if all(view.mask) else f"\n{GREY_NOTE}"  # the plotly figure's note, no hover
    bar.set_label(BAR_TITLE + unscored)
    heading = figure.suptitle("")

    def update(i: int) -> None:
        shown = colours(i)
        image.set_data(cells(shown))
        for label, ink in zip(labels, _ink(shown), strict=True):
            label.set_color(ink)
        heading.set_text(title(view, i, text, "\n"))

    update(index)
    return Drawn(figure, update, view.steps, [image, *labels, heading])
