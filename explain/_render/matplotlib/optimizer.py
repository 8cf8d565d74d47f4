"""Matplotlib figure of the optimizer view."""

from __future__ import annotations

import numpy as np

from explain.style import LIGHT, WEIGHT, Theme
from explain.views import OptimizerData

from ..rules import matrix_names
from .common import (
    Drawn,
    colormap,
    heading,
    new_figure,
    positive_log,
    step_markers,
    text,
    token_ticks,
)


def optimizer(view: OptimizerData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """Update size of each weight matrix per step, the gradient norm, and one tracked
    parameter's gradient, applied update and optimizer moments at the step."""
    kinds = list(view.tensors)
    figure = new_figure(max(10.0, 2.9 * len(kinds)), 7.0 if kinds else 3.8)
    upper, lower = figure.subfigures(2, 1, height_ratios=[1.0, 1.15]) if kinds else (figure, None)
    ratio_ax, norm_ax = upper.subplots(1, 2)
    names = matrix_names(sorted(view.update_ratio))
    for name in names:
        ratio_ax.plot(
            view.scalar_steps,
            view.update_ratio[name],
            lw=0.8,
            label=text(name.removesuffix(".weight")),
        )
    positive_log(ratio_ax, [view.update_ratio[n][1:] for n in names])
    ratio_ax.set(xlabel="step", ylabel="‖Δw‖ / ‖w‖", title="update size per weight matrix")
    if names:
        ratio_ax.legend(fontsize="x-small", ncol=2, loc="lower left")
    norm_ax.plot(view.scalar_steps, view.grad_norm, lw=0.8, color="C4")
    positive_log(norm_ax, [view.grad_norm[1:]])
    norm_ax.set(xlabel="step", ylabel="‖g‖ before clipping", title="global gradient norm")
    step = int(view.steps[index])
    markers = step_markers([ratio_ax, norm_ax], step, marker)
    # Each panel shows x / max|x| of its frame (the title says max|x|): gradients shrink by
    # orders of magnitude over training, and fixed colour bars keep the layout still.
    images, titles = [], []
    if lower is not None:
        for ax, kind in zip(np.atleast_1d(lower.subplots(1, len(kinds))), kinds, strict=True):
            positive = kind == "exp_avg_sq"
            images.append(
                ax.imshow(
                    np.zeros((1, 1)),
                    cmap=colormap(WEIGHT if positive else view.colorscale),
                    aspect="auto",
                    interpolation="nearest",
                    vmin=0.0 if positive else -1.0,
                    vmax=1.0,
                )
            )
            titles.append(ax.set_title(""))
            lower.colorbar(images[-1], ax=ax, label="x / max |x|")
            ax.set_xlabel("column")
            if view.row_labels is not None:
                token_ticks(ax, "y", view.row_labels)
            else:
                ax.set_ylabel("row")
        lower.suptitle(
            text(f"{view.parameter} ({view.optimizer or 'optimizer'})"), fontsize="medium"
        )
    title = figure.suptitle("")

    def update(i: int) -> None:
        step = int(view.steps[i])
        for line in markers:
            line.set_xdata([step, step])
        for image, panel_title, kind in zip(images, titles, kinds, strict=True):
            values = view.tensors[kind][i]  # [rows, cols]; √v for exp_avg_sq
            largest = float(np.abs(values).max()) or 1e-12
            image.set_data(values / largest)
            image.set_extent((-0.5, values.shape[1] - 0.5, values.shape[0] - 0.5, -0.5))
            panel_title.set_text(f"{view.tensor_titles[kind]}\nmax |x| = {largest:.2g}")
        title.set_text(heading(view, step))

    update(index)
    return Drawn(figure, update, view.steps, [*markers, *images, *titles, title])
