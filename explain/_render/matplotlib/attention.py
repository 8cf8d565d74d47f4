"""The attention view's matplotlib figure: the panels of its plotly figures
(`explain._render.plotly.attention`) side by side: the chosen head's pattern with its tokens,
and the grid of every layer x head with the same badges and the chosen head outlined."""

from __future__ import annotations

from matplotlib.patches import Rectangle

from explain.style import LIGHT, Theme
from explain.views import AttentionData, AttentionWindow

from ..attention_grid import badges, cell_size, mosaic
from ..plotly.attention import GRID_TITLE
from ..rules import STEP_MARKER_COLOUR, labelled_px
from .common import STYLE, Drawn, colormap, new_figure, text, token_ticks


def attention(
    view: AttentionData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    layer: int = 0,
    head: int = 0,
    window: int | None = None,
    start: int = 0,
    key_start: int | None = None,
) -> Drawn:
    """The heatmap of ``head`` of ``layer`` (row 0, query 0, on top) and the grid of heads.

    The heatmap is the whole map, or ``window`` tokens from query ``start`` and key
    ``key_start`` (:meth:`~explain.views.AttentionData.window`), as the plotly figure: then the
    figure grows (up to ``MAX_INCHES`` a side) so each of the window's tokens gets its label."""
    cut = view.window(window, start, key_start)
    row, column = view.layers.index(layer), view.heads.index(head)
    rows, cols = cell_size(view)
    tiled = mosaic(view, index)
    queries, keys = view.query_tokens[cut.queries], view.key_tokens[cut.keys]
    side = _side(cut, len(queries), len(keys))  # a window's heatmap side, inches; None: whole
    extra = 0.0 if side is None else max(0.0, side - WHOLE_SIDE)
    height = 4.6 if side is None else max(4.6, side + ROOM_TALL)
    figure = new_figure(9.6 + extra, height)
    grow = figure.get_figheight() / height  # new_figure's, with the theme's text
    # the heatmap's share: 1.15 of 2.15 at 9.6 in (the grid 4.47 in); a window's extra is its own
    left, right = figure.subplots(1, 2, width_ratios=[1.15 + extra / 4.47, 1.0])
    cmap = colormap(view.colorscale).with_extremes(bad=(0, 0, 0, 0))  # the grid's gaps: clear
    pattern = cut.crop(view.layer_patterns[row][index, column])
    # extent: the axes count the map's own positions, so a window's row 0 is query `start`
    extent = (
        cut.key_start - 0.5,
        cut.key_stop - 0.5,
        cut.query_stop - 0.5,
        cut.query_start - 0.5,
    )
    image = left.imshow(
        pattern,
        cmap=cmap,
        vmin=view.zmin,
        vmax=view.zmax,
        interpolation="nearest",
        extent=extent,
        aspect=None if side is None else "auto",  # a window fills the side made for its labels
    )
    if side is None:  # the whole map: as many labels as fit, at most MAX_TICK_LABELS
        token_ticks(left, "x", keys, angle=60)
        token_ticks(left, "y", queries)
    else:  # a window: every token, where the side could grow enough (at the theme's text)
        length = side * 72 * grow  # points
        token_ticks(left, "x", keys, 60, cut.key_start, limit=None, length=length)
        token_ticks(left, "y", queries, None, cut.query_start, limit=None, length=length)
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
        image.set_data(cut.crop(view.layer_patterns[row][i, column]))
        thumbnails.set_data(mosaic(view, i))
        shown = {(r, c): badge for r, c, badge in badges(view, i)}
        for cell, label in labels.items():
            label.set_text(text(shown.get(cell, "")))
            label.set_visible(cell in shown)
        step = int(view.steps[i])
        heading.set_text(text(view.heading(layer, head, step, cut)))

    update(index)
    return Drawn(figure, update, view.steps, [image, thumbnails, heading, *labels.values()])


# A window's heatmap side (inches, light theme: the presentation theme's figure grows with its
# text): as long as labelling each token needs (`labelled_px`), at most MAX_SIDE (~76 tokens),
# plus ROOM_TALL for the title and the key labels. WHOLE_SIDE: the side the whole map gets in
# the 9.6 x 4.6 in figure (measured after matplotlib's layout), which a window's widens.
MAX_SIDE = 12.0
ROOM_TALL = 1.9
WHOLE_SIDE = 3.75


def _side(cut: AttentionWindow, n_queries: int, n_keys: int) -> float | None:
    """The heatmap's side in inches for window ``cut``, or None for the whole map."""
    if cut.whole:
        return None
    need = labelled_px(max(n_queries, n_keys), STYLE["font.size"]) / 72
    return min(MAX_SIDE, max(WHOLE_SIDE, need))
