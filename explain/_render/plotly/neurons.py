"""The neuron view's figure, as NeuronView shows it. Top left, the grid of one layer's MLP
neurons, neuron ``row start + column`` in each cell, coloured by the held-out loss rise when
that neuron is ablated (the diverging scale of :mod:`explain.style`, centred on zero, over the
layer's largest rise in size; its colour bar under the grid), the selected neuron outlined.
Top right, the tokens its output promotes and suppresses most through the unembedding (direct
effect on their logits). Below, its top examples as text: each row the tokens around one place
it fires most, aligned on the firing token (outlined, bold), each on a cell coloured by the
neuron's activation there (0 to its largest); the row's label is the firing activation.

Loss rise rather than the largest activation colours the grid: it says which neurons the task
needs (on a trained sort model a few stand out by 10x), while the activation's size says how a
neuron is scaled; the hover gives both. The view has one step, so a page has no step slider:
:func:`page_controls` gives it a slider over the layers instead (each with its strongest
neuron); NeuronView, whose dropdown picks the layer and whose grid picks the neuron with a
click, shows :func:`figure`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from explain import views
from explain.style import OKABE_ITO, Theme, colorscale, short, visible

from ..rules import NOTEBOOK_PX, label, tick_label, wrap
from . import blocks as P

OUTLINE = OKABE_ITO[5]  # vermillion: the selected neuron and the firing tokens
GRID_BAR = "loss rise when ablated"  # the grid's colour bar
EXAMPLES_BAR = "activation"  # the examples' colour bar
BARS_AXIS = "direct effect on the logit"
EXAMPLES_AXIS = "activation"  # the examples' rows are labelled by the firing activation
GRID_AXIS = "neuron"  # the grid's rows are labelled by their first neuron
GRID, BARS, EXAMPLES = 0, 1, 2  # the figure's traces
TITLE_LINES = 3
GRID_SHARE = 0.42  # of the plot's width: the grid
# The narrowest output the side-by-side panels are laid out for: the widget draws the figure
# as wide as its output (~590 px in JupyterLab at 1024 px with the file browser open).
NARROW_PX = 560
CHAR_EMS = 0.62  # a label's character, in its text's size (generous: no label runs over)
# a title's character, in its text's size (0.48 measured in chromium: `blocks.loss_marks`)
TEXT_EMS = 0.55
BAR_TICK_CHARS = 6  # the bars' longest tick label: "-0.015"


def grid_shape(width: int) -> tuple[int, int]:
    """(rows, columns) of the grid of ``width`` neurons: a power of two columns near the square
    root (32 neurons: 4 x 8, 128: 8 x 16, 256: 16 x 16, 512: 16 x 32), so each row starts at a
    round number."""
    columns = min(width, 2 ** math.ceil(math.log2(math.sqrt(width)))) if width > 1 else 1
    return math.ceil(width / columns), columns


def ablated(view: views.NeuronData) -> str:
    return "zeroed" if view.mode == "zero" else f"{view.mode}-ablated"


def heading(
    view: views.NeuronData,
    index: int,
    neuron: int | None = None,
    escape: Callable[[object], str] = label,
    newline: str = "<br>",
) -> str:
    """The figure's title: the step; the layer and what colours its cells; the neuron selected,
    its loss rise and largest activation (``escape``, ``newline``: the renderer's text rules)."""
    neuron = view.neuron if neuron is None else neuron
    return (
        f"{escape(view.title)} · step {int(view.steps[index])}{newline}"
        f"layer {view.layer} · cells: loss rise when a neuron is {ablated(view)}{newline}"
        f"neuron {neuron} (outlined): loss rise {view.rise(neuron=neuron):+.3g} · "
        f"fires up to {view.peak(neuron=neuron):.3g}"
    )


def bars_title(neuron: int) -> str:
    return f"what neuron {neuron} writes"


def examples_title(view: views.NeuronData, neuron: int) -> str:
    count = view.top_act.shape[2]
    return f"where neuron {neuron} fires most: its top {count}, the firing token outlined"


def lines(text: str, chars: int) -> str:
    """``text`` (no markup) as plotly text broken into lines of at most ``chars``."""
    return "<br>".join(label(part) for part in wrap(text, chars))


def aligned(view: views.NeuronData, neuron: int) -> tuple[np.ndarray, np.ndarray, list]:
    """The examples laid out in the columns of :meth:`~explain.views.NeuronData.window`, the
    firing tokens in one column (``before``): activations [top, columns] (NaN: no token), the
    tokens [top][columns] ("" there) and each cell's place in the data [top][columns]
    ((seq, pos), or None)."""
    before, after = view.window()
    examples = view.examples(neuron=neuron)
    z = np.full((len(examples), before + 1 + after), np.nan)
    tokens = [[""] * z.shape[1] for _ in examples]
    places: list[list[tuple[int, int] | None]] = [[None] * z.shape[1] for _ in examples]
    for row, example in enumerate(examples):
        first = before - example.index  # the column of the context's first token
        for j, (token, value) in enumerate(zip(example.tokens, example.activations, strict=True)):
            z[row, first + j] = value
            tokens[row][first + j] = token
            places[row][first + j] = (example.seq, example.pos - example.index + j)
    return z, tokens, places


def sizes(view: views.NeuronData, theme: Theme) -> dict:
    """Pixel sizes at the theme's text size, as wide as a notebook's output (`NOTEBOOK_PX`):
    the grid on 42% of the plot's width with its colour bar under it, the bars beside it (a
    line and a half a bar), the examples under both across the width (two lines a row).

    The widget draws the figure as wide as its output, down to `NARROW_PX` and less: plotly
    keeps the margins (pixels) and scales the panels with the plot's width. So what lies side
    by side is laid out for the narrowest: the gap before the bars holds their tokens and what
    of the grid's colour-bar title passes the grid, and the grid's and the bars' tick labels are
    as many as fit there. The panels' titles lie inside the plot, under the figure's title
    however many lines the widget wraps that into; each is broken into lines that fit."""
    font = theme.font_size
    rows, columns = grid_shape(view.width)
    top, k = view.top_act.shape[2], view.promotes_values.shape[2]
    tokens = [t for layer in view.promotes for n in layer for t in n]
    tokens += [t for layer in view.suppresses for n in layer for t in n]
    longest = max((len(short(visible(t))) for t in tokens), default=1)
    row_label = max(len(str((rows - 1) * columns)), 5)  # "240" or an activation "0.123"
    line = 1.35 * font
    em = CHAR_EMS * font  # a character's width, generous
    title_size = round(1.2 * font)  # the theme's title (`explain.style.Theme.layout`)
    margin = {
        "l": round(em * row_label + line + 24),  # tick labels and the axis title
        "r": round(14 + em * 5 + line + 30),  # the examples' colour bar
        # the title's lines from the top (the panels' titles lie inside the plot)
        "t": round(1.2 * font + TITLE_LINES * 1.3 * title_size + 0.6 * font),
        "b": round(line + 24),
    }
    plot_w = NOTEBOOK_PX - margin["l"] - margin["r"]
    narrow = NARROW_PX - margin["l"] - margin["r"]  # the plot's width at the narrowest
    grid_n = GRID_SHARE * narrow
    # the grid's colour-bar title under the bar, centred: what passes the bar's right end lies
    # before the bars' tick labels (`grid_bar`)
    letter = TEXT_EMS * font
    bar_lines = wrap(GRID_BAR, max(int(grid_n // letter), 12))
    overhang = max(0.0, letter * max(map(len, bar_lines)) - grid_n) / 2
    token_px = em * longest + 12
    gap_n = max(2 * font, overhang + font) + token_px  # the grid's end to the bars' start
    bars_n = narrow - grid_n - gap_n  # the bars' width at the narrowest
    # the panels' titles, centred: the bars' over the bars (passing their ends by up to the
    # gap before them), the examples' over the plot (by up to the narrower margin); as many
    # lines as the widest neuron's number takes
    bars_chars = max(int((bars_n + 2 * min(gap_n, margin["r"] - 8)) // letter), 12)
    examples_chars = max(int((narrow + 2 * min(margin["l"], margin["r"]) - 8) // letter), 12)
    widest = view.width - 1
    bars_lines = len(wrap(bars_title(widest), bars_chars))
    examples_lines = len(wrap(examples_title(view, widest), examples_chars))
    panel = round(bars_lines * line + 12)  # the bars' title above them
    grid_w = round(GRID_SHARE * plot_w)
    cell = grid_w / columns
    grid_h = round(cell * rows)
    bar_gap = round(line + font // 4 + 14)  # the grid's tick labels (and their standoff), the bar
    under_grid = bar_gap + 14 + (1 + len(bar_lines)) * line + 16  # the bar, its ticks and title
    bar_row = 1.5 * font + 6
    bars_h = round(bar_row * (2 * k + 1))  # the promoted, a gap, the suppressed
    # tick labels (as many as fit at the narrowest, with room for plotly's turning them 30
    # degrees there) and the axis title
    under_bars = 2 * line + 0.5 * em * BAR_TICK_CHARS + 16
    upper = round(max(grid_h + under_grid, bars_h + under_bars))
    gap = round(examples_lines * line + 20)  # the examples' panel title
    examples_h = round(top * (2 * font + 10))
    plot_h = panel + upper + gap + examples_h
    below = 1.0 - panel / plot_h  # the panels' top, under the bars' title
    return {
        "width": NOTEBOOK_PX,
        "height": plot_h + margin["t"] + margin["b"],
        "margin": margin,
        "rows": rows,
        "columns": columns,
        "cell": cell,
        "grid_x": [0.0, GRID_SHARE],
        "grid_y": [below - grid_h / plot_h, below],
        "grid_bar_gap": bar_gap,
        "grid_bar": "<br>".join(label(text) for text in bar_lines),
        "bars_x": [(grid_n + gap_n) / narrow, 1.0],
        "bars_y": [below - bars_h / plot_h, below],
        "bars_ticks": max(3, int(bars_n // (em * BAR_TICK_CHARS + 16))),
        "bars_chars": bars_chars,
        "examples_chars": examples_chars,
        "examples_y": [0.0, examples_h / plot_h],
        "grid_ticks": _grid_ticks(rows, columns, grid_n / columns, cell, font),
    }


def _grid_ticks(rows: int, columns: int, wide: float, tall: float, font: int) -> dict:
    """Tick labels that fit the cells, ``wide`` (at the narrowest) by ``tall`` pixels: each
    shown row's first neuron on y, "+column" on x."""
    every_y = max(1, math.ceil(1.25 * font / tall))
    every_x = max(1, math.ceil((CHAR_EMS * font * len(f"+{columns - 1}") + 8) / wide))
    every_x = 2 ** math.ceil(math.log2(every_x))  # +0, +4, +8, ...: round steps
    return {
        "x": (list(range(0, columns, every_x)), [f"+{c}" for c in range(0, columns, every_x)]),
        "y": (list(range(0, rows, every_y)), [str(r * columns) for r in range(0, rows, every_y)]),
    }


def _layer_cells(view: views.NeuronData, rows: int, columns: int) -> dict:
    """What the grid of the layer shown holds: z [rows, columns] (NaN past the last neuron),
    the hover of each cell, the colour range (the layer's largest rise in size)."""
    rises = view.rises()
    z = np.full(rows * columns, np.nan)
    z[: len(rises)] = rises
    hover = np.full(rows * columns, "", dtype=object)
    for n in range(view.width):
        promoted = ", ".join(label(t) for t, _ in view.promoted(neuron=n)[:3])
        hover[n] = (
            f"neuron {n}<br>loss rise {rises[n]:+.4g}<br>fires up to {view.peak(neuron=n):.4g}"
            f"<br>promotes {promoted}"
        )
    return {
        "z": z.reshape(rows, columns),
        "hover": hover.reshape(rows, columns).tolist(),
        "biggest": float(np.abs(rises).max()) or 1.0,
    }


def _fixed(view: views.NeuronData, theme: Theme) -> dict:
    """What the figure shows whatever the neuron: sizes, the layer's grid, the layout."""
    size = sizes(view, theme)
    font = theme.font_size
    rows, columns = size["rows"], size["columns"]
    cells = _layer_cells(view, rows, columns)
    ticks = size["grid_ticks"]
    grid = {
        "type": "heatmap",
        "z": cells["z"],
        "customdata": cells["hover"],
        "hovertemplate": "%{customdata}<extra></extra>",
        "hoverongaps": False,
        "zmin": -cells["biggest"],
        "zmax": cells["biggest"],
        "zmid": 0.0,  # a signed quantity (the diverging scale's convention)
        "colorscale": colorscale(view.colorscale),
        "xgap": 1,
        "ygap": 1,
        "colorbar": {
            "orientation": "h",
            "thickness": 14,
            "len": size["grid_x"][1],
            "x": 0.0,
            "xanchor": "left",
            "y": size["grid_y"][0],
            "yanchor": "top",
            "ypad": size["grid_bar_gap"],
            "nticks": 4,
            "title": {"text": size["grid_bar"], "side": "bottom"},
        },
        "xaxis": "x",
        "yaxis": "y",
    }
    hidden = {"showgrid": False, "zeroline": False, "fixedrange": True}
    layout = {
        # from the figure's top down, as the attribution view's: plotly anchors a title by
        # its first line, and the others ran over the plot
        "title": {
            "text": "",
            "x": 0.01,
            "xanchor": "left",
            "y": 1.0,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": round(1.2 * font)},
        },
        "width": size["width"],
        "height": size["height"],
        "margin": size["margin"],
        "uirevision": "explain",
        "showlegend": False,
        "bargap": 0.25,
        "xaxis": {
            "domain": size["grid_x"],
            "anchor": "y",
            "range": [-0.5, columns - 0.5],
            "tickmode": "array",
            "tickvals": ticks["x"][0],
            "ticktext": ticks["x"][1],
            **hidden,
        },
        "yaxis": {
            "domain": size["grid_y"],
            "anchor": "x",
            "range": [rows - 0.5, -0.5],  # row 0 on top (plotly puts it at the bottom)
            "tickmode": "array",
            "tickvals": ticks["y"][0],
            "ticktext": ticks["y"][1],
            "title": {"text": GRID_AXIS},
            **hidden,
        },
        "xaxis2": {
            "domain": size["bars_x"],
            "anchor": "y2",
            "zeroline": True,
            "zerolinecolor": theme.foreground,
            "nticks": size["bars_ticks"],  # about as many as fit at the narrowest
            "title": {"text": BARS_AXIS},
        },
        "yaxis2": {
            "domain": size["bars_y"],
            "anchor": "x2",
            "autorange": "reversed",
            "tickmode": "array",
            "showgrid": False,
            "zeroline": False,
        },
        "xaxis3": {
            "domain": [0.0, 1.0],
            "anchor": "y3",
            "showticklabels": False,
            "ticks": "",
            **hidden,
        },
        "yaxis3": {
            "domain": size["examples_y"],
            "anchor": "x3",
            "autorange": "reversed",
            "tickmode": "array",
            "title": {"text": EXAMPLES_AXIS},
            **hidden,
        },
    }
    return {**size, "grid": grid, "layout": layout}


def figure(view: views.NeuronData, index: int, theme: Theme, neuron: int | None = None) -> dict:
    """The figure NeuronView shows: the grid of ``view.layer``, neuron ``neuron`` (None: the
    view model's) outlined, its direct effect and its top examples."""
    neuron = view.check_neuron(view.neuron if neuron is None else neuron)
    # keyed on the record's array, which every layer's and neuron's view model shares
    fixed = views.memo(view.loss_rise, ("neurons", view.layer, theme), lambda: _fixed(view, theme))
    font = theme.font_size
    columns = fixed["columns"]
    k = view.promotes_values.shape[2]

    # the bars: the promoted tokens on top, a gap, the suppressed ones
    promoted, suppressed = view.promoted(neuron=neuron), view.suppressed(neuron=neuron)
    values = np.array([v for _, v in promoted] + [v for _, v in suppressed])
    ys = np.concatenate([np.arange(k), np.arange(k) + k + 1.0])
    biggest = float(np.abs(values).max()) or 1.0
    kinds = ["promotes"] * k + ["suppresses"] * k
    bar_tokens = [t for t, _ in promoted] + [t for t, _ in suppressed]

    # the examples, aligned on the firing token
    z, tokens, places = aligned(view, neuron)
    before = view.window()[0]
    text = [
        [
            "" if place is None else f"<b>{tick_label(t)}</b>" if c == before else tick_label(t)
            for c, (t, place) in enumerate(zip(row, place_row, strict=True))
        ]
        for row, place_row in zip(tokens, places, strict=True)
    ]
    hover = [
        [
            "" if place is None
            else f"sequence {place[0]}, position {place[1]}: {label(t)}<br>activation {a:.4g}"
            for t, a, place in zip(row, z_row, place_row, strict=True)
        ]
        for row, z_row, place_row in zip(tokens, z.tolist(), places, strict=True)
    ]  # fmt: skip
    examples = view.examples(neuron=neuron)
    peak = max(float(view.top_act[view.row(), neuron, 0]), 0.0)
    low = min(0.0, float(np.nanmin(z)))
    line = {"color": theme.foreground, "width": 1}
    data = [
        fixed["grid"],
        {
            "type": "bar",
            "orientation": "h",
            "x": values,
            "y": ys,
            "marker": {
                "color": values,
                "colorscale": colorscale(view.colorscale),
                "cmin": -biggest,
                "cmax": biggest,
                "line": line,
            },
            "customdata": [f"{kind} {label(t)}" for kind, t in zip(kinds, bar_tokens, strict=True)],
            "hovertemplate": "%{customdata}: %{x:+.4g}<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {
            "type": "heatmap",
            "z": z,
            "text": text,
            "texttemplate": "%{text}",
            "textfont": {"size": font},
            "customdata": hover,
            "hovertemplate": "%{customdata}<extra></extra>",
            "hoverongaps": False,
            "zmin": low,
            "zmax": peak if peak > low else low + 1.0,
            "colorscale": colorscale(view.activation_scale),
            "xgap": 3,
            "ygap": 3,
            "colorbar": {
                "thickness": 14,
                "len": fixed["examples_y"][1],
                "y": fixed["examples_y"][1] / 2,
                "yanchor": "middle",
                "nticks": 4,
                "title": {"text": EXAMPLES_BAR},
            },
            "xaxis": "x3",
            "yaxis": "y3",
        },
    ]
    row, column = divmod(neuron, columns)
    outline = {"type": "rect", "line": {"color": OUTLINE, "width": 3}}
    layout = fixed["layout"]
    panel = {"font": {"size": font}}
    bars_cell = {"x": fixed["bars_x"], "y": fixed["bars_y"]}
    examples_cell = {"x": [0.0, 1.0], "y": fixed["examples_y"]}
    chars = fixed["examples_chars"]
    layout = {
        **layout,
        "title": {**layout["title"], "text": heading(view, index, neuron)},
        "yaxis2": {
            **layout["yaxis2"],
            "tickvals": ys.tolist(),
            "ticktext": [tick_label(t) for t in bar_tokens],
        },
        "yaxis3": {
            **layout["yaxis3"],
            "tickvals": list(range(len(examples))),
            "ticktext": [f"{e.activation:.3g}" for e in examples],
        },
        "shapes": [
            {
                **outline,
                "xref": "x",
                "yref": "y",
                "x0": column - 0.5,
                "x1": column + 0.5,
                "y0": row - 0.5,
                "y1": row + 0.5,
            },
            {
                **outline,
                "xref": "x3",
                "yref": "y3",
                "x0": before - 0.5,
                "x1": before + 0.5,
                "y0": -0.5,
                "y1": len(examples) - 0.5,
            },
        ],
        "annotations": [
            {**P.panel_title(bars_cell, lines(bars_title(neuron), fixed["bars_chars"])), **panel},
            {
                **P.panel_title(examples_cell, lines(examples_title(view, neuron), chars)),
                **panel,
            },
        ],
    }
    return P.themed({"data": data, "layout": layout}, theme)


def figures(
    view: views.NeuronData, index: int, theme: Theme, neuron: int | None = None
) -> list[dict]:
    """What NeuronView shows: :func:`figure`."""
    return [figure(view, index, theme, neuron)]


# what a layer changes: the traces' keys and the layout's (a page's frame carries them)
FRAME_KEYS = ("x", "y", "z", "text", "customdata", "marker", "zmin", "zmax")
FRAME_LAYOUT = ("title", "yaxis2", "yaxis3", "shapes", "annotations")


def page_controls(
    view: views.NeuronData,
    shown: list[dict],
    index: int,
    theme: Theme,
    neuron: int | None = None,
) -> list[dict]:
    """``shown`` on a page: a slider over the layers in place of the widget's dropdown, with a
    plotly frame for each layer (its grid and its strongest neuron; the layer shown keeps
    ``neuron``)."""
    (drawn,) = shown
    frames = []
    for layer in view.layers.tolist():
        chosen = neuron if layer == view.layer else None
        at_layer = dataclasses.replace(view, layer=layer, neuron=view.strongest(layer))
        at = figure(at_layer, index, theme, chosen)
        frames.append(
            {
                "name": str(layer),
                "data": [{k: t[k] for k in FRAME_KEYS if k in t} for t in at["data"]],
                "traces": list(range(len(at["data"]))),
                "layout": {key: at["layout"][key] for key in FRAME_LAYOUT},
            }
        )
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    slider = {
        "active": view.row(),
        "currentvalue": {"prefix": "layer "},
        "pad": {"t": 40},
        "len": 1.0,
        "x": 0.0,
        "steps": [
            {"label": str(layer), "method": "animate", "args": [[str(layer)], animate]}
            for layer in view.layers.tolist()
        ],
    }
    layout = {**drawn["layout"], "sliders": [slider]}
    return [{**drawn, "layout": layout, "frames": frames}]
