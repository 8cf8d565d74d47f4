"""The patching view's matplotlib figure: the three plotly figures of
`explain._render.plotly.patching` in one picture, one above the other. The clean and corrupted
prompts (wrapped at the same columns, the tokens that differ coloured, the answer positions
outlined); the heads restored and the paths into the receiver through one input, side by side
on the one diverging scale (one colour bar); one activation restored at one position under
them. The titles are the plotly figures'.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

from explain.style import LIGHT, Theme
from explain.views import PatchingData

from ..plotly.patching import (
    DIFFER,
    MEANING,
    SCALE_TITLE,
    check_where,
    chosen_input,
    heading,
    heads_layout,
    heads_title,
    lines,
    path_title,
    positions_title,
    prompt_layout,
    prompt_rows,
    prompts_note,
)
from .common import Drawn, colormap, new_figure, text, token_ticks


def _prompts(ax, view: PatchingData, theme: Theme) -> None:
    """The prompts grid: a row per input per line, token cells, differing ones coloured."""
    columns = prompt_layout(view, theme)["columns"]
    rows = prompt_rows(view, columns)
    z = np.full((len(rows), columns), np.nan)
    cells = ListedColormap([theme.grid, DIFFER])
    answers = set(view.answer_positions.tolist())
    for row, (kind, _, first) in enumerate(rows):
        if kind == "gap":
            continue
        tokens = view.tokens if kind == "clean" else view.corrupt_tokens
        for column, position in enumerate(range(first, min(first + columns, len(tokens)))):
            z[row, column] = float(view.differ[position])
            ax.text(column, row, text(tokens[position]), ha="center", va="center")
            if kind == "clean" and position in answers:
                ax.add_patch(Rectangle((column - 0.5, row - 0.5), 1.0, 2.0, fill=False,
                                       edgecolor=theme.foreground, lw=1.5))  # fmt: skip
    ax.imshow(z, cmap=cells, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    labelled = [(row, kind) for row, (kind, _, _) in enumerate(rows) if kind != "gap"]
    ax.set_yticks([row for row, _ in labelled], [kind for _, kind in labelled])
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.grid(False)
    ax.set_xlabel("\n".join(text(line) for line in lines(prompts_note(view), 12)), loc="left")


def _image(ax, values: np.ndarray, view: PatchingData):
    """``values`` on the diverging scale, ±limit (the plotly figures' colours)."""
    scale = colormap(view.colorscale)
    limit = view.limit
    return ax.imshow(values, cmap=scale, vmin=-limit, vmax=limit, aspect="auto",
                     interpolation="nearest")  # fmt: skip


def _heatmap(ax, values: np.ndarray, view: PatchingData, numbers: bool):
    """A [layer × head] panel, its numbers written in where ``numbers``."""
    image = _image(ax, values, view)
    if numbers:
        for (row, column), value in np.ndenumerate(values):
            if np.isfinite(value):
                dark = abs(value) > 0.6 * view.limit  # the scale's ends are dark
                ax.text(column, row, f"{value:.2f}", ha="center", va="center",
                        color="white" if dark else "black")  # fmt: skip
    ax.set(xlabel="head", ylabel="layer")
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.grid(False)
    return image


def _receiver(ax, view: PatchingData, theme: Theme) -> None:
    if view.receiver is not None:
        layer, head = view.receiver
        ax.add_patch(Rectangle((head - 0.5, layer - 0.5), 1.0, 1.0, fill=False,
                               edgecolor=theme.foreground, lw=2.5))  # fmt: skip


def patching(
    view: PatchingData,
    index: int,
    marker: bool = False,
    theme: Theme = LIGHT,
    where: str = "resid",
    through: str | None = None,
) -> Drawn:
    """The figures PatchingView shows with its state (``where``, ``through``: see
    `explain._render.plotly.patching`), one above the other (``marker``: no curve to mark;
    the title says the step)."""
    where, through = check_where(where), chosen_input(view, through)
    values, rows = view.positions(where)
    columns = prompt_layout(view, theme)["columns"]
    n_prompt_rows = len(prompt_rows(view, columns))
    heights = [0.35 * n_prompt_rows + 1.3, 0.55 * view.layers + 1.6, 0.3 * len(rows) + 1.8]
    figure = new_figure(9.0, float(sum(heights)))
    top, middle, bottom = figure.subfigures(3, 1, height_ratios=heights)

    prompts_ax = top.subplots()
    _prompts(prompts_ax, view, theme)
    title = top.suptitle("", x=0.01, ha="left")

    heads_ax, path_ax = middle.subplots(1, 2)
    numbers = heads_layout(view, theme)["numbers"]  # where the widget writes them
    image = _heatmap(heads_ax, view.heads, view, numbers)
    heads_ax.set_title(heads_title("\n"))
    path = view.path.get(through, np.full(view.heads.shape, np.nan))
    _heatmap(path_ax, path, view, numbers)
    path_ax.set_title(path_title(view, through, text, "\n"))
    for ax in (heads_ax, path_ax):
        _receiver(ax, view, theme)
    middle.suptitle(f"restored from the clean run: {MEANING}", x=0.01, ha="left")
    middle.colorbar(image, ax=[heads_ax, path_ax], label=f"{SCALE_TITLE} (1 = as clean)",
                    shrink=0.9)  # fmt: skip

    positions_ax = bottom.subplots()
    shown = _image(positions_ax, values, view)
    token_ticks(positions_ax, "x", view.tokens)
    token_ticks(positions_ax, "y", rows)
    positions_ax.set_xlabel("position: the clean token")
    for p in view.answer_positions.tolist():
        positions_ax.add_patch(Rectangle((p - 0.5, -0.5), 1.0, len(rows), fill=False,
                                         edgecolor=theme.foreground, lw=1.5))  # fmt: skip
    positions_ax.set_title(positions_title(where, "\n"), loc="left")
    bottom.colorbar(shown, ax=positions_ax, label=f"{SCALE_TITLE} (1 = as clean)", shrink=0.9)

    def update(i: int) -> None:
        title.set_text(heading(view, i, text, "\n"))

    update(index)
    return Drawn(figure, update, view.steps, [title])
