"""The attribution view's matplotlib figure: the panels of its plotly figure
(`explain._render.plotly.attribution`), as AttributionView shows them. On the left one bar per
part of the residual stream for the chosen answer position, coloured by the diverging scale
(the same colours at the same values), each layer's parts on a shaded band, and the grey bar
of their sum, the model's logit; on the right the opened head's attention on the probe with the
position's row outlined. The titles are the plotly figure's.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from explain.style import LIGHT, WEIGHT, Theme
from explain.views import AttributionData

from ..plotly.attribution import (
    BARS_AXIS,
    KEYS_AXIS,
    OUTLINE,
    QUERIES_AXIS,
    SUM,
    chosen,
    head_title,
    heading,
    opened_head,
    rows,
)
from .common import Drawn, colormap, new_figure, text, token_ticks


def attribution(
    view: AttributionData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    position: int | None = None,
    opened: str | None = None,
) -> Drawn:
    """The bars of ``position`` (None: the view model's) and the attention of head ``opened``
    (None: the one that adds the most in size), as the widget shows them (``marker``: no curve
    to mark; the title says the step)."""
    position = chosen(view, position)
    head = opened_head(view, position, opened)
    ys, sum_y, bands = rows(view)
    values = view.bars(position)
    n_rows = sum_y + 1
    figure = new_figure(9.0, float(np.clip(0.26 * n_rows + 1.6, 4.2, 14.0)))
    bars_ax, heat_ax = figure.subplots(1, 2, width_ratios=[1.25, 1.0])

    # the bars: one scale for every position (the plotly figure's cmin/cmax and range)
    biggest = float(np.abs(view.values).max()) or 1.0
    colours = colormap(view.colorscale)(Normalize(-biggest, biggest)(values))
    edge = {"edgecolor": theme.foreground, "linewidth": 0.75}
    parts = bars_ax.barh(ys, values, height=0.75, color=colours, **edge)
    total = bars_ax.barh([sum_y], [view.logit(position)], height=0.75, color=theme.grid, **edge)
    for first, last in bands:  # each layer's parts on a band, as in the plotly figure
        bars_ax.axhspan(first - 0.5, last + 0.5, color=theme.grid, alpha=0.45, lw=0, zorder=0)
    low = min(0.0, float(view.values.min()), float(view.logits.min()))
    high = max(0.0, float(view.values.max()), float(view.logits.max()))
    pad = 0.06 * ((high - low) or 1.0)
    bars_ax.set_xlim(low - pad, high + pad)
    bars_ax.axvline(0.0, color=theme.foreground, lw=0.8)
    bars_ax.set_yticks([*ys.tolist(), sum_y], [*(text(n) for n in view.names), SUM])
    bars_ax.set_ylim(sum_y + 0.5 + 0.25, -0.75)  # the first part on top, as plotly's reversed axis
    bars_ax.tick_params(axis="y", length=0)
    bars_ax.grid(False, axis="y")
    axis_title = BARS_AXIS.replace("<br>", "\n")  # the plotly axis title's two lines
    bars_ax.set_xlabel(f"{axis_title} '{text(view.target(position))}'")

    # the head's attention, its row for this position outlined
    if head is None:
        heat_ax.set_axis_off()
        heat_ax.set_title(head_title(view, None, position, text, "\n"))
        image = None
    else:
        pattern = view.patterns[head]
        image = heat_ax.imshow(
            pattern, cmap=colormap(WEIGHT), vmin=0, vmax=1, interpolation="nearest"
        )
        keys = view.key_tokens(head)
        token_ticks(heat_ax, "x", keys)
        token_ticks(heat_ax, "y", view.tokens)
        heat_ax.set(xlabel=KEYS_AXIS, ylabel=QUERIES_AXIS)
        heat_ax.set_title(head_title(view, head, position, text, "\n"))
        heat_ax.add_patch(
            Rectangle((-0.5, position - 0.5), len(keys), 1.0, fill=False, edgecolor=OUTLINE,
                      lw=2.0, clip_on=False)
        )  # fmt: skip
        figure.colorbar(image, ax=heat_ax, label="weight", shrink=0.8, pad=0.02)
    title = figure.suptitle("", x=0.01, ha="left")  # left, as the plotly figure's

    def update(i: int) -> None:
        title.set_text(heading(view, i, position, text, "\n"))

    update(index)
    shown = [title, *parts, *total] + ([image] if image is not None else [])
    return Drawn(figure, update, view.steps, shown)
