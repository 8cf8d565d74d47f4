"""Matplotlib figure of the loss view."""

from __future__ import annotations

from explain.views import LossData

from .common import Drawn, heading, new_figure, positive_log, step_markers, text


def loss(view: LossData, index: int, marker: bool = False) -> Drawn:
    """Loss (training and validation) with validation accuracy; learning rate, gradient norm."""
    curves = {name: (c.steps, c.values) for name, c in view.curves.items()}
    figure = new_figure(8.4, 5.6)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[2.0, 1.0])
    lines = []
    if "loss" in curves:
        lines += top.plot(*curves["loss"], lw=0.9, color="C0", alpha=0.85, label="training loss")
    if "val_loss" in curves:
        lines += top.plot(*curves["val_loss"], "o-", ms=3, color="C1", label="validation loss")
    positive_log(top, [curves[n][1] for n in ("loss", "val_loss") if n in curves])
    top.set_ylabel("cross-entropy (nats)")
    if "val_accuracy" in curves:
        accuracy = top.twinx()
        accuracy.spines["right"].set_visible(True)
        lines += accuracy.plot(
            *curves["val_accuracy"], "s--", ms=3, color="C2", label="validation accuracy"
        )
        accuracy.set(ylim=(-0.02, 1.02), ylabel="accuracy")
    top.legend(lines, [line.get_label() for line in lines], loc="center right", fontsize="small")
    lower = []
    if "lr" in curves:
        lower += bottom.plot(*curves["lr"], color="C3", label="learning rate")
        bottom.set_ylabel("learning rate")
    if "grad_norm" in curves:
        norm_ax = bottom.twinx() if "lr" in curves else bottom
        norm_ax.spines["right"].set_visible(True)
        lower += norm_ax.plot(*curves["grad_norm"], lw=0.7, color="C4", label="gradient norm")
        positive_log(norm_ax, [curves["grad_norm"][1]])
        norm_ax.set_ylabel("gradient norm")
    if lower:
        bottom.legend(
            lower, [line.get_label() for line in lower], loc="upper right", fontsize="small"
        )
    bottom.set_xlabel("step")
    for event in view.events:  # where a head's pattern appeared
        top.axvline(event.step, color="#009E73", lw=0.9, ls="--", zorder=0)
        top.annotate(
            text(event.label),
            (event.step, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize="x-small",
            color="#009E73",
        )
    for phase in view.boundaries:  # where fine-tuning (or another phase) starts
        for ax in (top, bottom):
            ax.axvline(phase.first_step, color="0.15", lw=1.3, ls="-", zorder=1)
        top.annotate(
            text(phase.label),
            (phase.first_step, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, 3),
            textcoords="offset points",
            rotation=90,
            va="bottom",
            fontsize="x-small",
            color="0.15",
        )
    markers = step_markers([top, bottom], int(view.steps[index]), marker)
    title = figure.suptitle("")

    def update(i: int) -> None:
        step = int(view.steps[i])
        for line in markers:
            line.set_xdata([step, step])
        title.set_text(heading(view, step) if marker else text(view.title))

    update(index)
    return Drawn(figure, update, view.steps, [*markers, title])
