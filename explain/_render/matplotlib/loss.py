"""The loss view's matplotlib figure: the panels, curves, colours and marks of its plotly
figure (`explain._render.plotly.loss`): loss with validation accuracy on the right, learning
rate, gradient norm, stacked over one step axis."""

from __future__ import annotations

import numpy as np
from matplotlib.font_manager import FontProperties

from explain.style import LIGHT, Theme
from explain.views import LOSS_SCALARS, LossData

from ..plotly.loss import CURVES, colours, title
from ..rules import EVENT_COLOUR, PHASE_COLOUR, label_columns, wrap
from .common import Drawn, curve_legend, new_figure, positive_log, step_markers, text

LABELS = {"y": "loss", "y3": "lr", "y4": "grad norm"}


def loss(view: LossData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """Three panels as the widget shows them; ``marker`` marks the step (the widget always
    does; a slide may leave it out)."""
    figure = new_figure(7.0, 6.0)
    body = figure.subfigures(1, 1)  # under the title: the legend, then the panels
    top, middle, bottom = body.subplots(
        3, 1, sharex=True, height_ratios=[2.0, 1.0, 1.0], gridspec_kw={"hspace": 0.08}
    )
    panels = {"y": top, "y3": middle, "y4": bottom}
    accuracy = None
    colour = colours(theme)
    lines = []
    for name, yaxis, mode in CURVES:
        curve = view.curves.get(name)
        if curve is None:
            continue
        finite = np.isfinite(curve.values)
        if yaxis == "y2":
            if accuracy is None:
                accuracy = top.twinx()
                accuracy.grid(False)  # plotly's accuracy axis has no grid of its own
            ax = accuracy
        else:
            ax = panels[yaxis]
        style = {"marker": "o", "ms": 3} if "markers" in mode else {}
        dash = "--" if name == "val_accuracy" else "-"
        lines += ax.plot(
            curve.steps[finite],
            curve.values[finite],
            ls=dash,
            color=colour[name],
            label=LOSS_SCALARS[name],
            **style,
        )
    positive_log(top, [c.values for n, c in view.curves.items() if n in ("loss", "val_loss")])
    for yaxis, ax in panels.items():
        ax.set_ylabel(LABELS[yaxis])
    if accuracy is not None:
        accuracy.spines["right"].set_visible(True)
        accuracy.set(ylim=(-0.02, 1.02), yticks=[0, 0.25, 0.5, 0.75, 1], ylabel="accuracy")
    bottom.set_xlabel("step")
    curve_legend(body, lines)  # in rows under the title, as the widget has it
    span = float(view.steps[-1] - view.steps[0]) if len(view.steps) else 0.0
    small = FontProperties(size="x-small").get_size_in_points()
    # the loss panel is about a third of the figure's height: a label longer than that is
    # broken into lines that fit it (at 0.55 em a character), as the widget breaks plotly's
    room = figure.get_figheight() * 72 / 3
    chars = int(room // (0.55 * small))
    lines = {item.label: wrap(item.label, chars) for item in [*view.events, *view.boundaries]}
    deepest = max(map(len, lines.values()), default=1)
    columns = label_columns([event.step for event in view.events], span)
    for event, column in zip(view.events, columns, strict=True):  # dashed, on the loss panel
        top.axvline(event.step, color=EVENT_COLOUR, lw=1, ls="--", zorder=0)
        note = top.annotate(  # close events' labels side by side, one label's width apart
            "\n".join(text(line) for line in lines[event.label]),
            (event.step, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2 + column * (deepest * 1.3 * small + 3), -2),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize="x-small",
            color=EVENT_COLOUR,
        )
        note.set_in_layout(False)  # inside the panel: no room to make
    for phase in view.boundaries:  # where fine-tuning (or another phase) starts: every panel
        for ax in panels.values():
            ax.axvline(phase.first_step, color=PHASE_COLOUR, lw=1.5, ls="-", zorder=1)
        note = top.annotate(
            "\n".join(text(line) for line in lines[phase.label]),
            (phase.first_step, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 3),
            textcoords="offset points",
            rotation=90,
            va="bottom",
            fontsize="x-small",
            color=PHASE_COLOUR,
        )
        note.set_in_layout(False)
    markers = step_markers(list(panels.values()), int(view.steps[index]), marker)
    heading = figure.suptitle("")  # centred, as the widget centres plotly's

    def update(i: int) -> None:
        step = int(view.steps[i])
        for line in markers:
            line.set_xdata([step, step])
        heading.set_text(text(title(view, step)) if marker else text(view.title))

    update(index)
    return Drawn(figure, update, view.steps, [*markers, heading])
