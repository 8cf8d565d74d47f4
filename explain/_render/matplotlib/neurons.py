"""The neuron view's matplotlib figure: the panels of its plotly figure
(`explain._render.plotly.neurons`), as NeuronView shows them. Top left the grid of one layer's
neurons coloured by their loss rise when ablated (the same scale, range and layout of rows and
columns), the selected neuron outlined, the colour bar under it; top right the tokens its
output promotes and suppresses; below, its top examples as text on cells coloured by its
activation, aligned on the firing token (outlined, bold). The titles are the plotly figure's.
"""

from __future__ import annotations

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_rgba
from matplotlib.patches import Rectangle

from explain.style import LIGHT, Theme, short, visible
from explain.views import NeuronData

from ..plotly.neurons import (
    BARS_AXIS,
    EXAMPLES_AXIS,
    EXAMPLES_BAR,
    GRID_AXIS,
    GRID_BAR,
    OUTLINE,
    aligned,
    bars_title,
    examples_title,
    grid_shape,
    heading,
    sizes,
)
from .common import Drawn, colormap, new_figure, text


def _ink(rgba: np.ndarray) -> list[str]:
    """Black on light cells, white on dark ones (relative luminance), per cell [n, 4]."""
    luminance = rgba[:, :3] @ np.array([0.2126, 0.7152, 0.0722])
    return ["black" if value > 0.45 else "white" for value in luminance]


def _label(token: str) -> str:
    """A token as a tick label or a cell's text: shortened as plotly's (`rules.tick_label`)."""
    return text(short(visible(token)))


def neurons(
    view: NeuronData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    neuron: int | None = None,
) -> Drawn:
    """The grid of ``view.layer`` with neuron ``neuron`` (None: the view model's) outlined,
    its direct effect and its top examples, as the widget shows them (``marker``: no curve to
    mark; the title says the step)."""
    neuron = view.check_neuron(view.neuron if neuron is None else neuron)
    rows, columns = grid_shape(view.width)
    top, k = view.top_act.shape[2], view.promotes_values.shape[2]
    upper = max(3.6 * rows / columns + 1.3, 0.28 * (2 * k + 1) + 0.9)
    lower = 0.42 * top + 0.7
    figure = new_figure(9.0, upper + lower + 0.9)
    axes = figure.subplot_mosaic(
        [["grid", "bars"], ["examples", "examples"]],
        height_ratios=[upper, lower],
        width_ratios=[1.0, 1.15],
    )

    # the grid: every neuron of the layer, one colour range for the layer (the plotly figure's)
    grid_ax = axes["grid"]
    rises = view.rises()
    cells = np.full(rows * columns, np.nan)
    cells[: len(rises)] = rises
    biggest = float(np.abs(rises).max()) or 1.0
    scale = colormap(view.colorscale).with_extremes(bad=(0, 0, 0, 0))
    image = grid_ax.imshow(
        cells.reshape(rows, columns), cmap=scale, vmin=-biggest, vmax=biggest,
        interpolation="nearest",
    )  # fmt: skip
    ticks = sizes(view, theme)["grid_ticks"]
    grid_ax.set_xticks(*ticks["x"])
    grid_ax.set_yticks(*ticks["y"])
    grid_ax.set_ylabel(GRID_AXIS)
    grid_ax.tick_params(length=0)
    grid_ax.grid(False)
    row, column = divmod(neuron, columns)
    grid_ax.add_patch(
        Rectangle((column - 0.5, row - 0.5), 1.0, 1.0, fill=False, edgecolor=OUTLINE, lw=2.5)
    )
    bar = figure.colorbar(image, ax=grid_ax, orientation="horizontal", pad=0.04, shrink=0.9)
    bar.set_label(GRID_BAR)

    # the bars: the promoted tokens on top, a gap, the suppressed ones
    bars_ax = axes["bars"]
    promoted, suppressed = view.promoted(neuron=neuron), view.suppressed(neuron=neuron)
    values = np.array([v for _, v in promoted] + [v for _, v in suppressed])
    ys = np.concatenate([np.arange(k), np.arange(k) + k + 1.0])
    largest = float(np.abs(values).max()) or 1.0
    colours = colormap(view.colorscale)(Normalize(-largest, largest)(values))
    bars = bars_ax.barh(
        ys, values, height=0.75, color=colours, edgecolor=theme.foreground, linewidth=0.75
    )
    bars_ax.set_yticks(ys, [_label(t) for t, _ in [*promoted, *suppressed]])
    bars_ax.set_ylim(2 * k + 0.5, -0.75)  # the first promoted on top, as plotly's reversed axis
    bars_ax.axvline(0.0, color=theme.foreground, lw=0.8)
    bars_ax.tick_params(axis="y", length=0)
    bars_ax.grid(False, axis="y")
    bars_ax.set_xlabel(BARS_AXIS)
    bars_ax.set_title(text(bars_title(neuron)))

    # the examples: tokens aligned on the firing one, on the neuron's activation colours
    examples_ax = axes["examples"]
    z, tokens, places = aligned(view, neuron)
    before = view.window()[0]
    low = min(0.0, float(np.nanmin(z)))
    peak = max(float(view.top_act[view.row(), neuron, 0]), 0.0)
    norm = Normalize(low, peak if peak > low else low + 1.0)
    cmap = colormap(view.activation_scale)
    shown = cmap(norm(np.nan_to_num(z, nan=low)))  # [top, columns, 4]
    shown[np.isnan(z)] = to_rgba(theme.background)
    examples_ax.imshow(shown, aspect="auto", interpolation="nearest")
    inks = _ink(shown.reshape(-1, 4))
    labels = []
    for r, row_places in enumerate(places):
        for c, place in enumerate(row_places):
            if place is None:  # no token there: the context was clipped at a sequence's end
                continue
            weight = "bold" if c == before else "normal"
            labels.append(
                examples_ax.text(c, r, _label(tokens[r][c]), ha="center", va="center",
                                 color=inks[r * z.shape[1] + c], fontweight=weight)
            )  # fmt: skip
    examples_ax.add_patch(
        Rectangle((before - 0.5, -0.5), 1.0, z.shape[0], fill=False, edgecolor=OUTLINE, lw=2.5)
    )
    examples_ax.set_xticks([])
    examples_ax.set_yticks(
        range(z.shape[0]), [f"{e.activation:.3g}" for e in view.examples(neuron=neuron)]
    )
    examples_ax.set_ylabel(EXAMPLES_AXIS)
    examples_ax.tick_params(length=0)
    # gaps between the cells, as plotly's xgap/ygap draw them
    examples_ax.set_xticks(np.arange(z.shape[1] + 1) - 0.5, minor=True)
    examples_ax.set_yticks(np.arange(z.shape[0] + 1) - 0.5, minor=True)
    examples_ax.grid(False)
    examples_ax.grid(True, which="minor", color=theme.background, linewidth=3)
    examples_ax.tick_params(which="minor", length=0)
    for spine in examples_ax.spines.values():
        spine.set_visible(False)
    examples_ax.set_title(text(examples_title(view, neuron)))
    figure.colorbar(ScalarMappable(norm, cmap), ax=examples_ax, label=EXAMPLES_BAR, pad=0.02)

    title = figure.suptitle("", x=0.01, ha="left")  # left, as the plotly figure's

    def update(i: int) -> None:
        title.set_text(heading(view, i, neuron, text, "\n"))

    update(index)
    return Drawn(figure, update, view.steps, [title, image, *bars, *labels])
