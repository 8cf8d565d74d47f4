"""The generate view's matplotlib figure: the panels of its plotly figures
(`explain._render.plotly.generate`) side by side: the next-token bars (the model's own
probabilities in grey behind what is sampled from in blue) and the attention of each generated
token (row 0 on top), with the same titles, colours and axis titles.

Its axes grow with the frame (one more row and column per generated token), so ``update``
lays out the ticks and limits again: each frame is a still, not a blitted animation.
"""

from __future__ import annotations

import numpy as np

from explain.style import LIGHT, Theme
from explain.views import GenerateData

from ..plotly.generate import MODEL, SAMPLED, attention_title, bars_title
from ..rules import tick_positions
from .common import Drawn, colormap, legend_above, new_figure, text, token_ticks


def generate(view: GenerateData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """The bars and the attention map after ``index`` generated tokens (``marker``: no step
    to mark here)."""
    figure = new_figure(10.4, 3.9)
    left, right = figure.subplots(1, 2, width_ratios=[1.0, 1.0])
    n_bars = view.bar_ids.shape[1]
    x = np.arange(n_bars)
    model = left.bar(x, np.zeros(n_bars), color=MODEL[1], alpha=0.9, width=0.8, label=MODEL[0])
    sampled = left.bar(x, np.zeros(n_bars), color=SAMPLED[1], width=0.5, label=SAMPLED[0])
    left.set(ylim=(0, 1), xlim=(-0.6, max(n_bars, 1) - 0.4), ylabel="probability")
    # attention weights in [0, 1]; where a token did not look: the background
    cmap = colormap("viridis").with_extremes(bad=(0, 0, 0, 0))
    image = right.imshow(
        np.full((1, 1), np.nan), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest",
        aspect="auto",  # the map fills its panel, as plotly's does
    )  # fmt: skip
    # no scale beside an empty map: plotly draws none for a heatmap without data
    scale = figure.colorbar(image, ax=right, shrink=0.9)
    right.set(xlabel="position", ylabel="new token")
    # titles as wide as their panels or wider: the layout widens the gap between the panels
    # (a wrapped title, Text(wrap=True), misleads it into cutting off the colour bar's labels)
    heading_bars, heading_attention = left.set_title(""), right.set_title("")
    legend_above(left, handles=[model, sampled])  # between the title and the bars

    def update(i: int) -> None:
        ids = view.bar_ids[i]
        for bar, height in zip(model.patches, view.model_probs[i], strict=True):
            bar.set_height(height)
        for bar, height in zip(sampled.patches, view.sampled_probs[i], strict=True):
            bar.set_height(height)
        labels = [text(view.vocab[t]) for t in ids]
        left.set_xticks(x, labels, rotation=90 if max(map(len, labels), default=0) > 2 else 0)
        left.tick_params(axis="x", length=0)
        heading_bars.set_text(text(bars_title(view, i)))
        columns = view.columns[: view.visible_columns(i)] if i > 0 else []  # as plotly's axis
        z = view.attention[:i, : len(columns)]
        image.set_visible(i > 0 and len(columns) > 0)
        scale.ax.set_visible(image.get_visible())
        if image.get_visible():
            image.set_data(np.ma.masked_invalid(z))
            image.set_extent((-0.5, len(columns) - 0.5, i - 0.5, -0.5))
            right.set(xlim=(-0.5, len(columns) - 0.5), ylim=(i - 0.5, -0.5))
        token_ticks(right, "x", columns, angle=60)
        rows = tick_positions(i)
        right.set_yticks(rows, [" → ".join(map(text, view.row_tokens(r))) for r in rows])
        heading_attention.set_text(text(attention_title(view, i)))

    update(index)
    return Drawn(
        figure, update, view.steps, [*model.patches, *sampled.patches, image, heading_bars,
                                     heading_attention],
    )  # fmt: skip
