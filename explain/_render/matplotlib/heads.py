"""Matplotlib figures of the lab's view models: which heads matter, what each head does.

Built like the other matplotlib builders (one figure, an ``update(index)`` per frame), from
:class:`explain.views.HeadsData` and :class:`explain.views.ScoresData`.
"""

from __future__ import annotations

import numpy as np

from explain.style import LIGHT, Theme
from explain.views import ROLE_BADGES, HeadsData, PruningData, ScoresData, roles_at

from .common import Drawn, colormap, heading, new_figure, step_markers, text

# one colour per pattern, the Okabe-Ito palette of the themes
PATTERN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")


def heads(view: HeadsData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """Importance of every head with what it does (left), the pruning curve (middle) and how
    alike the heads' final patterns are (right)."""
    figure = new_figure(13.0, 4.4)
    grid_ax, prune_ax, similar_ax = figure.subplots(1, 3, width_ratios=[1.2, 1.1, 1.0])
    known = np.isfinite(view.importance).all()
    values = view.importance if known else view.role_scores
    image = grid_ax.imshow(values, cmap=colormap(view.colorscale), vmin=0, aspect="auto")
    figure.colorbar(image, ax=grid_ax, label="importance |dL/dgate|" if known else "score")
    grid_ax.set(xlabel="head", ylabel="layer", xticks=range(view.heads), yticks=range(view.layers))
    grid_ax.set_title("importance and role" if known else "role (no lab record: no importance)")
    high = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    badges = [
        [
            grid_ax.text(
                h,
                layer,
                "",
                ha="center",
                va="center",
                fontsize="small",
                color="black" if values[layer, h] > 0.6 * high else "white",
            )
            for h in range(view.heads)
        ]
        for layer in range(view.layers)
    ]
    if len(view.prune_fractions):
        prune_ax.plot(
            view.prune_fractions,
            view.prune_accuracy,
            "o-",
            color=PATTERN_COLOURS[0],
            label="accuracy",
        )
        prune_ax.set(ylim=(-0.02, 1.02), xlabel="share of heads removed", ylabel="accuracy")
        loss_ax = prune_ax.twinx()
        loss_ax.plot(
            view.prune_fractions, view.prune_loss, "s--", color=PATTERN_COLOURS[1], label="loss"
        )
        loss_ax.set_ylabel("loss")
        loss_ax.spines["right"].set_visible(True)
        prune_ax.set_title("removing the least important heads first")
    else:
        prune_ax.set_axis_off()
        prune_ax.set_title("pruning curve: explain.lab.record(run) measures it")
    order = view.order
    similar = similar_ax.imshow(
        view.similarity[np.ix_(order, order)], cmap=colormap(view.colorscale), vmin=0, vmax=1
    )
    labels = [view.labels[i] for i in order]
    similar_ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize="x-small")
    similar_ax.set_yticks(range(len(labels)), labels, fontsize="x-small")
    similar_ax.set_title("how different the heads are (JS distance)")
    figure.colorbar(similar, ax=similar_ax)
    title = figure.suptitle("")

    def update(i: int) -> None:
        names, _ = roles_at(view.scores, view.patterns, i)
        for layer in range(view.layers):
            for h in range(view.heads):
                badges[layer][h].set_text(ROLE_BADGES.get(names[layer][h], names[layer][h]))
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    return Drawn(figure, update, view.steps, [*(b for row in badges for b in row), title])


def scores(view: ScoresData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """One panel per pattern: every head's score over training, a dot where it appeared."""
    count = len(view.patterns)
    figure = new_figure(3.0 * count + 1.0, 3.6)
    axes = np.atleast_1d(figure.subplots(1, count, sharey=True))
    for ax, pattern in zip(axes, view.patterns, strict=True):
        values = view.scores[pattern]  # [snapshot, layer, head]
        for layer in range(view.layers):
            for head in range(view.heads):
                colour = PATTERN_COLOURS[(layer * view.heads + head) % len(PATTERN_COLOURS)]
                style = "-" if layer % 2 == 0 else "--"
                ax.plot(
                    view.steps,
                    values[:, layer, head],
                    style,
                    color=colour,
                    lw=1.0,
                    label=view.labels[layer * view.heads + head],
                )
                step = int(view.emergence[pattern][layer, head])
                if step >= 0:
                    row = int(np.searchsorted(view.steps, step))
                    ax.plot([step], [values[row, layer, head]], "o", color=colour, ms=4)
        ax.axhline(view.threshold, color="0.6", lw=0.8, ls=":")
        ax.set(title=text(pattern.replace("_", " ")), xlabel="step", ylim=(-0.02, 1.02))
    axes[0].set_ylabel("score")
    axes[-1].legend(fontsize="x-small", ncol=2, loc="upper left")
    markers = step_markers(list(axes), int(view.steps[index]), True)
    title = figure.suptitle("")

    def update(i: int) -> None:
        step = int(view.steps[i])
        for line in markers:
            line.set_xdata([step, step])
        title.set_text(heading(view, step))

    update(index)
    return Drawn(figure, update, view.steps, [*markers, title])


def pruning(view: PruningData, index: int, marker: bool = False, theme: Theme = LIGHT) -> Drawn:
    """Accuracy and loss as heads are removed (left) and as weights are zeroed (right)."""
    panels = 2 if len(view.levels) else 1
    figure = new_figure(5.2 * panels + 0.6, 4.0)
    axes = np.atleast_1d(figure.subplots(1, panels))
    curves = [
        ("share of heads removed (least important first)", view.fractions, view.loss, view.accuracy)
    ]
    if panels == 2:
        curves.append(
            (
                "share of block weights zeroed (smallest first)",
                view.levels,
                view.weight_loss,
                view.weight_accuracy,
            )
        )
    for ax, (label, shares, loss, accuracy) in zip(axes, curves, strict=True):
        ax.plot(shares, accuracy, "o-", color=PATTERN_COLOURS[0], label="accuracy")
        ax.set(xlabel=label, ylabel="accuracy", ylim=(-0.02, 1.02))
        loss_ax = ax.twinx()
        loss_ax.plot(shares, loss, "s--", color=PATTERN_COLOURS[1], label="loss")
        loss_ax.set_ylabel("loss")
        loss_ax.spines["right"].set_visible(True)
    title = figure.suptitle(heading(view, int(view.steps[-1])))
    return Drawn(figure, lambda i: None, view.steps, [title])
