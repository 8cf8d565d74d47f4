"""The attention view's matplotlib figure: the panels of its plotly figures
(`explain._render.plotly.attention`) side by side: the chosen head's pattern with its tokens,
and the grid of every layer x head with the same badges and the chosen head outlined."""

from __future__ import annotations

from matplotlib.patches import Rectangle

from explain.style import LIGHT, Theme
from explain.views import AttentionData

from ..attention_grid import badges, cell_size, mosaic
from ..plotly.attention import GRID_TITLE
from ..rules import STEP_MARKER_COLOUR
from .common import Drawn, colormap, new_figure, text, token_ticks


def attention(
    view: AttentionData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    layer: int = 0,
    head: int = 0,
) -> Drawn:
    """The heatmap of ``head`` of ``layer`` (row 0, query 0, on top) and the grid of heads."""
    row, column = view.layers.index(layer), view.heads.index(head)
    rows, cols = cell_size(view)
    tiled = mosaic(view, index)
    figure = new_figure(9.6, 4.6)
    left, right = figure.subplots(1, 2, width_ratios=[1.15, 1.0])
    cmap = colormap(view.colorscale).with_extremes(bad=(0, 0, 0, 0))  # the grid's gaps: clear
    pattern = view.layer_patterns[row][index, column]
    image = left.imshow(pattern, cmap=cmap, vmin=view.zmin, vmax=view.zmax, interpolation="nearest")
    token_ticks(left, "x", view.key_tokens, angle=60)
    token_ticks(left, "y", view.query_tokens)
    left.set(xlabel="key", ylabel="query")
    figure.colorbar(image, ax=left, shrink=0.8, label="weight")
    thumbnails = right.imshow(
        tiled, cmap=cmap, vmin=view.zmin, vmax=view.zmax, interpolation="nearest"
    )
    n_layers, n_heads = len(view.layers), len(view.heads)
    right.set_xticks([h * (cols + 1) + (cols - 1) / 2 for h in range(n_heads)], view.heads)
    right.set_yticks([i * (rows + 1) + (rows - 1) / 2 for i in range(n_layers)], view.layers)
    right.set(xlabel="head", ylabel="layer", title=text(GRID_TITLE))
    right.tick_params(length=0)
    for spine in right.spines.values():
        spine.set_visible(False)
    right.add_patch(
        Rectangle(
            (column * (cols + 1) - 0.5, row * (rows + 1) - 0.5),
            cols,
            rows,
            fill=False,
            edgecolor=STEP_MARKER_COLOUR,
            linewidth=2.5,
        )
    )
    # one label per cell, shown where the head has a badge at the frame: fixed artists, so
    # an animation redraws them per frame like the images
    labels = {
        (r, c): right.text(
            c * (cols + 1) - 0.5,
            r * (rows + 1) - 0.5,
            "",
            ha="left",
            va="top",
            fontsize="x-small",
            color="#ffffff",
            bbox={"facecolor": (0, 0, 0, 0.55), "edgecolor": "none", "pad": 1},
            visible=False,
        )
        for r in range(n_layers)
        for c in range(n_heads)
    }
    heading = figure.suptitle("")

    def update(i: int) -> None:
        image.set_data(view.layer_patterns[row][i, column])
        thumbnails.set_data(mosaic(view, i))
        shown = {(r, c): badge for r, c, badge in badges(view, i)}
        for cell, label in labels.items():
            label.set_text(text(shown.get(cell, "")))
            label.set_visible(cell in shown)
        step = int(view.steps[i])
        heading.set_text(text(view.heading(layer, head, step)))

    update(index)
    return Drawn(figure, update, view.steps, [image, thumbnails, heading, *labels.values()])
