"""The optimizer view's matplotlib figure: the panels, curves, colours and titles of its plotly
figure (`explain._render.plotly.optimizer`): on the left the tracked parameter's norms, moments
and update/weight ratio stacked over one step axis, on the right the histogram of its update at
the step."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import LogLocator, NullFormatter

from explain.style import LIGHT, Theme
from explain.views import OptimizerData

from ..plotly.optimizer import (
    CURVES,
    HEIGHT,
    HISTOGRAM_AXIS,
    HISTOGRAM_COLUMN,
    HISTORY_COLUMN,
    PANELS,
    RATIO_PANEL,
    WIDTH,
    colours,
    curves,
    optimizer_name,
    title,
)
from .common import (
    Drawn,
    PlotlyLogTicks,
    PlotlyTicks,
    curve_legend,
    new_figure,
    step_markers,
    text,
)

PIXELS_PER_INCH = 80  # the plotly figures' size in pixels, at the loss view's scale
BAR_WIDTH = 0.95  # of the bin: plotly's bargap 0.05


def optimizer(view: OptimizerData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """History and histogram as the widget shows them; ``marker`` marks the step (the widget
    always does; a slide may leave it out)."""
    figure = new_figure(WIDTH / PIXELS_PER_INCH, HEIGHT / PIXELS_PER_INCH)
    widths = [HISTORY_COLUMN[1] - HISTORY_COLUMN[0], HISTOGRAM_COLUMN[1] - HISTOGRAM_COLUMN[0]]
    left, right = figure.subfigures(1, 2, width_ratios=widths)
    panels = left.subplots(3, 1, sharex=True, gridspec_kw={"hspace": 0.12})
    axes = dict(zip([yaxis for yaxis, _, _ in (*PANELS, RATIO_PANEL)], panels, strict=True))
    colour = colours(theme)
    lines = []
    for (name, _, yaxis, mode), (x, y, legend) in zip(CURVES, curves(view).values(), strict=True):
        if not len(x):
            continue
        style = {"marker": "o", "ms": 3} if "markers" in mode else {}
        lines += axes[yaxis].plot(x, y, color=colour[name], label=text(legend), **style)
    for yaxis, _, ylabel in (*PANELS, RATIO_PANEL):
        axes[yaxis].set_ylabel(ylabel)
    if len(axes["y3"].get_lines()):
        axes["y3"].set_yscale("log")  # decades written "1e−3", as plotly's "e" format
        axes["y3"].yaxis.set_major_locator(LogLocator(subs=(1.0,)))
        axes["y3"].yaxis.set_major_formatter(PlotlyLogTicks("e"))
        axes["y3"].yaxis.set_minor_formatter(NullFormatter())
    axes["y3"].set_xlabel("step")
    axes["y2"].text(
        0.01, 0.97, text(optimizer_name(view)), transform=axes["y2"].transAxes, va="top"
    )
    curve_legend(left, lines)  # in rows under the title, as the widget has it
    heading = figure.suptitle("")  # centred, as the widget centres plotly's
    markers = step_markers(list(axes.values()), int(view.steps[index]), marker)

    ax = right.subplots()
    bins = view.histogram_counts.shape[1] if view.histogram_counts.ndim == 2 else 0
    bars = ax.bar(np.zeros(bins), np.zeros(bins), color=colour["update"]).patches
    ax.set(xlabel=HISTOGRAM_AXIS.replace("<br>", "\n"), ylabel="count")
    ax.xaxis.set_major_formatter(PlotlyTicks("e"))  # "1e−4", as plotly's "e" format

    def update(i: int) -> None:
        step = int(view.steps[i])
        for line in markers:
            line.set_xdata([step, step])
        heading.set_text(text(title(view, step)))
        if not bins:
            return
        centres, counts = view.histogram_centres[i], view.histogram_counts[i]
        spacing = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
        for bar, centre, count in zip(bars, centres, counts, strict=True):
            bar.set_x(centre - BAR_WIDTH * spacing / 2)
            bar.set_width(BAR_WIDTH * spacing)
            bar.set_height(count)
        ax.set_xlim(centres[0] - spacing / 2, centres[-1] + spacing / 2)
        ax.set_ylim(0, max(1, int(counts.max())) * 1.05)

    update(index)
    # the histogram's axes change with the step (range, ticks): drawn whole at every frame
    return Drawn(figure, update, view.steps, [*markers, heading, ax])
