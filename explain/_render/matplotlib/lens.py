"""The lens view's matplotlib figure: the panels of its plotly figure
(`explain._render.plotly.lens`), as LensView shows them. On top the logit lens table: one row
per layer (the embedding on top, the model's output at the bottom), one column per input token,
each cell coloured by the probability of the layer's most likely next token and labelled with
that token, the targets above. Underneath, the attention rollout and the saliency of the chosen
position's prediction, one bar per input token. The chosen column is outlined in the table and
its row in the rollout.
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from explain.style import LIGHT, Theme
from explain.views import LensData

from ..plotly.lens import RIGHT, TABLE_AXIS, TARGET_AXIS, WRONG, bars_title, chosen, limit
from .common import Drawn, PlotlyTicks, colormap, new_figure, text, token_ticks


def _cell_labels(ax, view: LensData) -> list:
    """The top token in each cell; black on light cells, white on dark ones."""
    labels = []
    for layer, row in enumerate(view.top_token):
        for position, token in enumerate(row):
            prob = float(view.top_prob[layer, position])
            labels.append(
                ax.text(
                    position,
                    layer,
                    text(token),
                    ha="center",
                    va="center",
                    fontsize="small" if len(view.tokens) <= 16 else "x-small",
                    color="black" if prob > 0.6 else "white",
                )
            )
    return labels


def _outline(ax, x: float, y: float, width: float, height: float) -> Rectangle:
    box = Rectangle((x, y), width, height, fill=False, edgecolor=WRONG, lw=2.0, clip_on=False)
    ax.add_patch(box)
    return box


def lens(
    view: LensData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    position: int | None = None,
) -> Drawn:
    """The logit lens table on top, the attention rollout and the saliency bars of
    ``position`` (None: the view model's) underneath, as the widget shows them."""
    position = chosen(view, position)
    n_pos, n_rows = len(view.tokens), len(view.layers)
    longest = max(len(text(token)) for row in view.top_token for token in row)
    cell = max(0.42, 0.08 * longest + 0.16)  # inches: the longest top token fits its cell
    table_width = float(np.clip(cell * n_pos, 6.0, 14.0))
    side = float(np.clip(0.22 * n_pos, 3.0, 5.0))
    table_height = 0.5 * n_rows + 1.8
    figure = new_figure(max(table_width + 1.6, 2 * side + 2.0), table_height + side + 2.2)
    axes = figure.subplot_mosaic(
        [["table", "table"], ["rollout", "bars"]], height_ratios=[table_height, side]
    )
    table_ax, rollout_ax, bars_ax = axes["table"], axes["rollout"], axes["bars"]
    cmap = colormap(view.colorscale)
    table = table_ax.imshow(
        view.top_prob, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest"
    )
    if table_width / n_pos >= 0.07 * longest + 0.08:  # inches: room for the token's letters
        _cell_labels(table_ax, view)
    table_ax.set_yticks(range(n_rows), [text(name) for name in view.layers])
    token_ticks(table_ax, "x", view.tokens)
    table_ax.tick_params(axis="y", length=0)
    table_ax.set_xlabel(TABLE_AXIS.replace("<br>", "\n"))
    # the targets above the table, green where the output row gets them right
    targets = table_ax.secondary_xaxis("top")
    shown = [i for i in range(n_pos) if view.mask[i]]
    targets.set_xticks(shown, [text(view.targets[i]) for i in shown])
    wordy = max(len(text(view.targets[i])) for i in shown) > 2 if shown else False
    targets.tick_params(length=0, rotation=90 if wordy else 0)
    targets.set_xlabel(TARGET_AXIS)
    for label, i in zip(targets.get_xticklabels(), shown, strict=True):
        label.set_color(RIGHT if view.top_token[-1][i] == view.targets[i] else WRONG)
    figure.colorbar(table, ax=table_ax, label="top prob", pad=0.01)
    column = _outline(table_ax, position - 0.5, -0.5, 1.0, n_rows)

    rollout = rollout_ax.imshow(view.rollout, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    token_ticks(rollout_ax, "x", view.tokens)
    token_ticks(rollout_ax, "y", view.tokens)
    rollout_ax.set(xlabel="input token", ylabel="position", title="attention rollout")
    row = _outline(rollout_ax, -0.5, position - 0.5, n_pos, 1.0)

    bars = view.bars(position)
    colours = [RIGHT if value >= 0 else WRONG for value in bars]
    rects = bars_ax.barh(np.arange(n_pos), bars, color=colours, height=0.7)
    bars_ax.axvline(0, color="0.5", lw=0.8)
    bars_ax.set_ylim(n_pos - 0.5, -0.5)  # position 0 on top, as in the rollout
    token_ticks(bars_ax, "y", view.tokens)
    # Each position on its own scale: a confident prediction's log-probability is flat, so its
    # gradients are ~100x smaller than an unsure one's (1e-4 vs 1e-2 in a trained reverse run).
    half = limit(view, position)
    bars_ax.set_xlim(-half, half)
    bars_ax.xaxis.set_major_locator(MaxNLocator(nbins=4, symmetric=True, steps=[1, 2, 5, 10]))
    bars_ax.xaxis.set_major_formatter(PlotlyTicks("e"))
    bars_ax.xaxis.tick_top()  # the axis and its title on top, as the plotly figure has them
    bars_ax.xaxis.set_label_position("top")
    bars_ax.set_xlabel(bars_title(view, position, text, "\n"))
    title = figure.suptitle("")  # centred, as the widget centres plotly's

    def update(i: int) -> None:
        title.set_text(text(view.heading(int(view.steps[i]))))

    update(index)
    return Drawn(figure, update, view.steps, [table, rollout, column, row, *rects, title])
