"""Matplotlib figures of the view models in `explain.views`: built once, updated per frame.

No pyplot (no global state, no GUI backend): each builder makes a ``Figure`` with an Agg
canvas and returns it with an ``update(index)`` that redraws it for one step, so an animation
mutates the same artists instead of rebuilding the figure. Text from a trace goes through
`text` so a token like ``$x$`` is never parsed as math, and SVG keeps text as (escaped) text so
a paper's figure stays searchable and editable.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, LinearSegmentedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .style import COLORSCALES, LIGHT, WEIGHT, Theme, visible
from .views import (
    AttentionData,
    EmbeddingData,
    LossData,
    OptimizerData,
    PositionalData,
    ViewData,
)

STYLE = {
    "svg.fonttype": "none",  # SVG text stays text (escaped by matplotlib), not glyph paths
    "svg.hashsalt": "explain",  # the same trace gives the same SVG bytes
    "pdf.fonttype": 42,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
MAX_TICK_LABELS = 32


@contextlib.contextmanager
def style(theme: Theme = LIGHT) -> Iterator[None]:
    """The rcParams every export figure is built and saved under, in ``theme``'s colours.

    Plotly sizes fonts in CSS pixels, matplotlib in points (3/4 of a pixel at 96 dpi), so a
    12 px theme gives 9 pt text.
    """
    size = round(theme.font_size * 0.75)
    texts = ("text.color", "axes.labelcolor", "xtick.color", "ytick.color", "axes.edgecolor")
    colours = dict.fromkeys(texts, theme.foreground)
    backgrounds = ("figure.facecolor", "axes.facecolor", "savefig.facecolor")
    background = dict.fromkeys(backgrounds, theme.background)
    legend = {"legend.facecolor": theme.background, "legend.edgecolor": theme.grid}
    sizes = {"font.size": size, "axes.titlesize": size, "lines.linewidth": theme.line_width / 2}
    with matplotlib.rc_context({**STYLE, **colours, **background, **legend, **sizes}):
        yield


def _rgb(color: str) -> tuple[float, float, float]:
    if color.startswith("rgb("):
        red, green, blue = (int(v) / 255 for v in color[4:-1].split(","))
        return (red, green, blue)
    return to_rgb(color)


def colormap(name: str) -> Colormap:
    """The matplotlib colormap of scale ``name`` from `explain.style` (the widgets' stops)."""
    stops = [(position, _rgb(color)) for position, color in COLORSCALES[name]]
    return LinearSegmentedColormap.from_list(f"explain-{name}", stops)


@dataclass
class Drawn:
    figure: Figure
    update: Callable[[int], None]  # show the frame at this index of `steps`
    steps: np.ndarray  # the step of each frame index
    artists: list[Artist]  # what `update` changes (drawn per frame; the rest is a background)


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def text(value: object) -> str:
    """A token or name from a trace as matplotlib text: whitespace visible, ``$`` literal."""
    return visible(str(value)).replace("$", r"\$")


def _token_ticks(ax: Axes, axis: str, tokens: Sequence[str]) -> None:
    every = max(1, math.ceil(len(tokens) / MAX_TICK_LABELS))
    positions = list(range(0, len(tokens), every))
    labels = [text(tokens[i]) for i in positions]
    if axis == "x":
        ax.set_xticks(positions, labels, rotation=90)
    else:
        ax.set_yticks(positions, labels)
    ax.tick_params(length=0, labelsize="small")


def heading(view: ViewData, step: int) -> str:
    return f"{text(view.title)} · step {step}"


def attention(view: AttentionData, index: int, marker: bool = False) -> Drawn:
    """Grid of heatmaps, one row per layer and one column per head; row 0 (query 0) on top."""
    rows, cols = len(view.layers), len(view.heads)
    q, k = len(view.query_tokens), len(view.key_tokens)
    panel = float(np.clip(0.19 * max(q, k), 1.8, 4.0))
    figure = new_figure(panel * cols + 1.3, panel * rows + 1.0)
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    images = []
    shown = view.at(index)
    cmap = colormap(view.colorscale)
    for r, layer in enumerate(view.layers):
        for c, head in enumerate(view.heads):
            ax = axes[r, c]
            images.append(
                ax.imshow(
                    shown[r, c],
                    cmap=cmap,
                    vmin=view.zmin,
                    vmax=view.zmax,
                    interpolation="nearest",
                )
            )
            ax.set_title(f"layer {layer} · head {head}")
            _token_ticks(ax, "x", view.key_tokens)
            _token_ticks(ax, "y", view.query_tokens)
            if r == rows - 1:
                ax.set_xlabel("key: attended to")
            if c == 0:
                ax.set_ylabel("query: looking")
    figure.colorbar(images[0], ax=axes, shrink=min(1.0, 0.5 + 0.25 * rows), label="weight")
    title = figure.suptitle("")

    def update(i: int) -> None:
        for image, pattern in zip(images, view.at(i).reshape(rows * cols, q, k), strict=True):
            image.set_data(pattern)
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    spines = [spine for ax in axes.flat for spine in ax.spines.values()]
    return Drawn(figure, update, view.steps, [*images, *spines, title])


def embeddings(view: EmbeddingData, index: int, marker: bool = False) -> Drawn:
    """Tokens as points on the two main axes of all snapshots, with the path each one took."""
    coords = view.coords[:, :, :2]  # [snapshot, vocab, 2]
    figure = new_figure(6.6, 5.6)
    ax = figure.subplots()
    ax.set(xlim=tuple(view.ranges[0]), ylim=tuple(view.ranges[1]))
    trails = [ax.plot([], [], color="0.6", lw=0.9, alpha=0.6, zorder=1)[0] for _ in view.tokens]
    points = ax.scatter(coords[index, :, 0], coords[index, :, 1], s=28, color="#0072B2", zorder=2)
    labels = [
        ax.annotate(
            text(token), (0, 0), xytext=(4, 3), textcoords="offset points", fontsize="small"
        )
        for token in view.tokens
    ]
    ax.set_xlabel(f"PC1 ({view.explained[0]:.0%} of the variance over training)")
    ax.set_ylabel(f"PC2 ({view.explained[1]:.0%})")
    ax.axhline(0, color="0.9", lw=0.6, zorder=0)
    ax.axvline(0, color="0.9", lw=0.6, zorder=0)
    title = figure.suptitle("")

    def update(i: int) -> None:
        points.set_offsets(coords[i])
        for t, (trail, label) in enumerate(zip(trails, labels, strict=True)):
            trail.set_data(coords[: i + 1, t, 0], coords[: i + 1, t, 1])
            label.xy = (coords[i, t, 0], coords[i, t, 1])
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    return Drawn(figure, update, view.steps, [*trails, points, *labels, title])


def positional(view: PositionalData, index: int, marker: bool = False) -> Drawn:
    """The encoding table [position, dimension] and the cosine similarity of positions."""
    figure = new_figure(10.5, 4.4)
    left, right = figure.subplots(1, 2, width_ratios=[1.6, 1.0])
    limit, cmap = view.limit, colormap(view.colorscale)
    table = left.imshow(
        view.table[index],
        cmap=cmap,
        vmin=-limit,
        vmax=limit,
        aspect="auto",
        interpolation="nearest",
    )
    column = "column (cos even, sin odd)" if view.kind == "rope" else "dimension"
    left.set(xlabel=column, ylabel="position", title="table [position, column]")
    left.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(table, ax=left)
    similarity = right.imshow(view.similarity[index], cmap=cmap, vmin=-1, vmax=1)
    right.set(xlabel="position", ylabel="position", title="cosine similarity")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.colorbar(similarity, ax=right)
    title = figure.suptitle("")

    def update(i: int) -> None:
        table.set_data(view.table[i])
        similarity.set_data(view.similarity[i])
        title.set_text(heading(view, int(view.steps[i])))

    update(index)
    spines = [spine for ax in (left, right) for spine in ax.spines.values()]
    return Drawn(figure, update, view.steps, [table, similarity, *spines, title])


def _positive_log(ax: Axes, values: Sequence[np.ndarray]) -> None:
    joined = np.concatenate([np.asarray(v, float) for v in values]) if values else np.zeros(0)
    if joined.size and np.all(joined[np.isfinite(joined)] > 0):
        ax.set_yscale("log")


def step_markers(axes: Sequence[Axes], step: int, shown: bool) -> list:
    return [ax.axvline(step, color="0.35", lw=0.9, ls=":", visible=shown) for ax in axes]


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
    _positive_log(top, [curves[n][1] for n in ("loss", "val_loss") if n in curves])
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
        _positive_log(norm_ax, [curves["grad_norm"][1]])
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


def _matrix_names(names: Sequence[str]) -> list[str]:
    """Weight matrices only: biases and layer-norm gains would crowd the picture."""
    return [
        n for n in names if not n.endswith("bias") and ".ln" not in n and not n.startswith("ln")
    ]


def optimizer(view: OptimizerData, index: int, marker: bool = False) -> Drawn:
    """Update size of each weight matrix per step, the gradient norm, and one tracked
    parameter's gradient, applied update and optimizer moments at the step."""
    kinds = list(view.tensors)
    figure = new_figure(max(10.0, 2.9 * len(kinds)), 7.0 if kinds else 3.8)
    upper, lower = figure.subfigures(2, 1, height_ratios=[1.0, 1.15]) if kinds else (figure, None)
    ratio_ax, norm_ax = upper.subplots(1, 2)
    names = _matrix_names(sorted(view.update_ratio))
    for name in names:
        ratio_ax.plot(
            view.scalar_steps,
            view.update_ratio[name],
            lw=0.8,
            label=text(name.removesuffix(".weight")),
        )
    _positive_log(ratio_ax, [view.update_ratio[n][1:] for n in names])
    ratio_ax.set(xlabel="step", ylabel="‖Δw‖ / ‖w‖", title="update size per weight matrix")
    if names:
        ratio_ax.legend(fontsize="x-small", ncol=2, loc="lower left")
    norm_ax.plot(view.scalar_steps, view.grad_norm, lw=0.8, color="C4")
    _positive_log(norm_ax, [view.grad_norm[1:]])
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
                _token_ticks(ax, "y", view.row_labels)
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
