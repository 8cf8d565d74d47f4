"""The attribution view's figure, as AttributionView shows it: on the left one bar per part of
the residual stream (the embeddings, each head and MLP grouped by layer on a shaded band, the
biases) for the chosen answer ``position``, its length and colour what the part adds to the
logit of the right token (the diverging scale of :mod:`explain.style`: one colour adds, the
other takes away), and under them a grey bar, their sum: the model's logit. On the right the
attention of one head on the probe (``opened``; None: the head that adds the most in size),
at the trace's last snapshot, the chosen position's row outlined: where the head reads from.

The view has one step, so a page has no step slider: :func:`page_controls` gives the page a
slider over the answer positions instead, with one plotly frame per position; AttributionView,
whose dropdown picks the position and whose bars open a head when clicked, shows
:func:`figure`, the same less those two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explain import views
from explain.style import OKABE_ITO, WEIGHT, Theme, colorscale, short, visible

from ..rules import NOTEBOOK_PX, label, tick_label, token_ticks, wrap
from . import blocks as P

OUTLINE = OKABE_ITO[5]  # vermillion: the chosen position's row (the lens outlines its own so)
GAP = 0.5  # rows between two groups of bars (inputs, each layer, bias, the sum)
SUM = "sum"  # the tick label of the sum's bar
BARS_AXIS = "what each part adds<br>to the logit of"  # two short lines: the panel is narrow
KEYS_AXIS = "key: the token looked at"
QUERIES_AXIS = "query"
HEAT_SHARE = 0.32  # of the plot's width: the attention panel
# The narrowest output the side-by-side panels are laid out for: the widget draws the figure
# as wide as its output (~590 px in JupyterLab at 1024 px with the file browser open).
NARROW_PX = 560
CHAR_EMS = 0.62  # a label's character, in its text's size (generous: no label runs over)
# a title's character, in its text's size (0.48 measured in chromium: `blocks.loss_marks`)
TEXT_EMS = 0.55
DESCRIPTIONS = {"embed": "the token's embedding", "pos": "the positional encoding",
                "bias": "every output bias and the final LayerNorm's"}  # fmt: skip


def chosen(view: views.AttributionData, position: int | None) -> int:
    """``position`` (None: the view model's) checked against the answer positions."""
    return int(view.positions[view.row(position)])


def opened_head(view: views.AttributionData, position: int, opened: str | None) -> str | None:
    """The head whose attention is drawn: ``opened``, or (None) the one that adds the most to
    the logit at ``position`` in size; None where the trace holds no attention."""
    if opened is None:
        return view.strongest_head(position)
    if opened not in view.patterns:
        held = ", ".join(name for name in view.heads if name in view.patterns) or "none"
        raise ValueError(
            f"no attention pattern of {opened!r} in this trace; heads that have one: {held}"
        )
    return opened


def heading(
    view: views.AttributionData,
    index: int,
    position: int,
    escape: Callable[[object], str] = label,
    newline: str = "<br>",
) -> str:
    """The figure's title: the step, then the position, its token and the target, and that the
    logit is the sum of the parts (``escape`` and ``newline``: the renderer's text rules)."""
    target, predicted = view.target(position), view.prediction(position)
    text = (
        f"{escape(view.title)}"
        f"{f' · step {int(view.steps[index])}' if view.trained else ''}{newline}"
        f"position {position} '{escape(view.tokens[position])}' → '{escape(target)}': "
        f"logit {view.logit(position):.3g} = sum of the parts"
    )
    if predicted != target:
        text += f"{newline}(the model predicts '{escape(predicted)}')"
    return text


def head_title(
    view: views.AttributionData,
    name: str | None,
    position: int,
    escape: Callable[[object], str] = label,
    newline: str = "<br>",
) -> str:
    """The attention panel's title: which head, and what the outlined row is."""
    if name is None:
        return f"no attention recorded{newline}in this trace"
    part, layer, head = view.head_of(name) or ("self", 0, 0)
    kind = "cross-attention" if part == "cross" else "attention"
    return (
        f"{escape(name)}: layer {layer} head {head} {kind}{newline}"
        f"row {position} (outlined): where it reads"
    )


def describe(view: views.AttributionData, name: str) -> str:
    """A part in words, for the hover."""
    found = view.head_of(name)
    if found is not None:
        part, layer, head = found
        kind = "cross-attention head" if part == "cross" else "head"
        return f"layer {layer} {kind} {head} (click: its attention)"
    layer = view.block_of(name)
    return f"the MLP of block {layer}" if layer is not None else DESCRIPTIONS.get(name, name)


def rows(view: views.AttributionData) -> tuple[np.ndarray, float, list[tuple[float, float]]]:
    """The bars' y: each part's [parts] in forward order, a gap of GAP rows between groups; the
    sum's, after a gap; and (first, last) y of each layer's group (its shaded band)."""
    ys, bands, cursor = [], [], 0.0
    for number, (key, indices) in enumerate(view.groups()):
        cursor += GAP if number else 0.0
        first = cursor
        for _ in indices:
            ys.append(cursor)
            cursor += 1.0
        if key.startswith("layer"):
            bands.append((first, cursor - 1.0))
    return np.array(ys), cursor + GAP, bands


def sizes(view: views.AttributionData, theme: Theme) -> dict:
    """Pixel sizes at the theme's text size: a bar a line and a half tall; the labels' room on
    the left; the attention panel on the right with its title above and its token axes, square
    as wide as a notebook's output (`NOTEBOOK_PX`).

    The widget draws the figure as wide as its output, down to `NARROW_PX` and less: plotly
    keeps the margins (pixels) and the height and scales the panels with the plot's width. So
    the attention panel keeps its height and gets narrower (its colour bar as long as it,
    clear of its key axis's title), the gap before it holds the query labels and their axis
    title at the narrowest, and its title is broken into lines that fit there."""
    font = theme.font_size
    ys, sum_y, _ = rows(view)
    bars_px = round((sum_y + 1) * (1.5 * font + 6))
    names = [*view.names, SUM]
    longest = max(len(short(visible(t))) for t in [*view.tokens, *(view.source or [])])
    em = CHAR_EMS * font
    token_px = em * longest + 12
    turned = longest > 2  # key labels upright up to two characters, else turned
    lines = 3 if any(t != p for t, p in zip(view.targets, view.predicted, strict=True)) else 2
    margin = {
        "l": round(em * max(len(n) for n in names) + 20),
        "r": round(2.5 * font + 40),  # the colour bar and its tick labels
        "t": round(lines * 1.2 * font * 1.35 + 24),  # the title's lines
        "b": round(3 * 1.35 * font + 30),  # the bars' tick labels and two-line axis title
    }
    plot_w = NOTEBOOK_PX - margin["l"] - margin["r"]
    narrow = NARROW_PX - margin["l"] - margin["r"]  # the plot's width at the narrowest
    side = round(HEAT_SHARE * plot_w)  # the bars get the rest: they carry the numbers
    side_n = HEAT_SHARE * narrow  # the panel's width at the narrowest
    gap_n = token_px + 1.35 * font + 24  # the query labels and their axis title
    # the panel's title over it, passing its ends by up to the gap and the right margin
    chars = max(int((side_n + 2 * min(gap_n, margin["r"] - 8)) // (TEXT_EMS * font)), 12)
    title_lines = max(len(head_lines(view, name, p, chars)) for name, p in _widest(view))
    lift = round(0.7 * font)  # the title above the top query label's upper half
    title_px = round(title_lines * 1.35 * font + 10) + lift  # the panel's title above it
    under = round((token_px if turned else 1.35 * font) + 1.35 * font + 20)
    plot_h = max(bars_px, title_px + side + under)
    top = (plot_h - title_px) / plot_h
    return {
        "width": NOTEBOOK_PX,
        "height": plot_h + margin["t"] + margin["b"],
        "margin": margin,
        "bars_x": [0.0, 1.0 - HEAT_SHARE - gap_n / narrow],
        "heat_x": [1.0 - HEAT_SHARE, 1.0],
        "heat_y": [top - side / plot_h, top],
        "side": side,
        "side_narrow": side_n,
        "title_lift": lift,
        "title_chars": chars,
        "turned": turned,
        "ys": ys,
        "sum_y": sum_y,
    }


def _widest(view: views.AttributionData) -> list[tuple[str | None, int]]:
    """(head, position) pairs whose panel titles are the longest: each head at the position
    with the most digits (the titles differ only in those)."""
    position = max((int(p) for p in view.positions), key=lambda p: len(str(p)), default=0)
    return [(name, position) for name in [*view.heads, None]]


def head_lines(
    view: views.AttributionData, name: str | None, position: int, chars: int
) -> list[str]:
    """The attention panel's title (:func:`head_title`) in lines of at most ``chars``."""
    return [
        part
        for line in head_title(view, name, position, newline="\n").split("\n")
        for part in wrap(line, chars)
    ]


def _fixed(view: views.AttributionData, theme: Theme) -> dict:
    """What the figure shows whatever the position and head: sizes, rows, bands, the range
    and colour scale of every position's bars (one scale for all, so positions compare)."""
    size = sizes(view, theme)
    _, _, bands = rows(view)
    biggest = float(np.abs(view.values).max()) or 1.0
    low = min(0.0, float(view.values.min()), float(view.logits.min()))
    high = max(0.0, float(view.values.max()), float(view.logits.max()))
    pad = 0.06 * ((high - low) or 1.0)
    band = {
        "type": "rect",
        "xref": "x domain",
        "yref": "y",
        "x0": 0.0,
        "x1": 1.0,
        "fillcolor": theme.grid,
        "opacity": 0.45,
        "line": {"width": 0},
        "layer": "below",
    }
    return {
        **size,
        "range": [low - pad, high + pad],
        "biggest": biggest,
        "bands": [{**band, "y0": first - 0.5, "y1": last + 0.5} for first, last in bands],
        "ticktext": [label(name) for name in view.names] + [SUM],
        "hover": [f"{label(name)}: {describe(view, name)}" for name in view.names],
        "scale": colorscale(view.colorscale),
        "weights": colorscale(WEIGHT),
    }


def _axis_ticks(tokens: list[str], pixels: float, font: int, turned: bool = False) -> dict:
    values, text = token_ticks(tokens, pixels, font)
    return {"tickmode": "array", "tickvals": values, "ticktext": text, "showgrid": False,
            "zeroline": False, "tickangle": -90 if turned else 0}  # fmt: skip


def figure(
    view: views.AttributionData,
    index: int,
    theme: Theme,
    position: int | None = None,
    opened: str | None = None,
) -> dict:
    """The figure AttributionView shows at ``position`` (None: the view model's) with head
    ``opened`` (None: the one that adds the most in size) drawn beside the bars."""
    position = chosen(view, position)
    head = opened_head(view, position, opened)
    # keyed on the values, which every position's view model shares (AttributionView)
    fixed = views.memo(view.values, ("attribution", theme), lambda: _fixed(view, theme))
    font = theme.font_size
    values = view.bars(position)
    if head is None:  # no attention in the trace: an empty panel that says so
        pattern = np.full((1, 1), np.nan, np.float32)
        queries, keys = [""], [""]
    else:
        pattern = view.patterns[head]
        queries, keys = view.tokens, view.key_tokens(head)
    heat_x, heat_y, side = fixed["heat_x"], fixed["heat_y"], fixed["side"]
    across = fixed["side_narrow"]  # the key axis's length at the narrowest
    line = {"color": theme.foreground, "width": 1}
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": values.astype(np.float64),
            "y": fixed["ys"],
            "marker": {
                "color": values.astype(np.float64),
                "colorscale": fixed["scale"],
                "cmin": -fixed["biggest"],
                "cmax": fixed["biggest"],
                "line": line,
            },
            "customdata": fixed["hover"],
            "hovertemplate": "%{customdata}<br>%{x:+.4g}<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "bar",
            "orientation": "h",
            "x": np.array([view.logit(position)]),
            "y": np.array([fixed["sum_y"]]),
            "marker": {"color": theme.grid, "line": line},
            "hovertemplate": "the sum of the parts: the model's logit %{x:.4g}<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        },
        {
            "type": "heatmap",
            "z": pattern,
            "zmin": 0.0,
            "zmax": 1.0,
            "colorscale": fixed["weights"],
            "colorbar": {
                "thickness": 12,
                "len": heat_y[1] - heat_y[0],
                "y": sum(heat_y) / 2,
                "yanchor": "middle",
                "title": {"text": "weight"},
            },
            "hovertemplate": "query %{y} reads key %{x}: %{z:.3f}<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        },
    ]
    outline = {
        "type": "rect",
        "xref": "x2",
        "yref": "y2",
        "x0": -0.5,
        "x1": len(keys) - 0.5,
        "y0": position - 0.5,
        "y1": position + 0.5,
        "line": {"color": OUTLINE, "width": 3},
    }
    target = label(view.target(position))
    layout = {
        # from the figure's top down, as the token-loss view's: plotly anchors a title by its
        # first line, and the others ran over the plot
        "title": {
            "text": heading(view, index, position),
            "x": 0.01,
            "xanchor": "left",
            "y": 1.0,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": round(1.2 * font)},
        },
        "width": fixed["width"],
        "height": fixed["height"],
        "margin": fixed["margin"],
        "uirevision": "explain",
        "showlegend": False,
        "bargap": 0.25,
        "xaxis": {
            "domain": fixed["bars_x"],
            "anchor": "y",
            "range": fixed["range"],
            "zeroline": True,
            "zerolinecolor": theme.foreground,
            "title": {"text": f"{BARS_AXIS} '{target}'"},
        },
        "yaxis": {
            "domain": [0.0, 1.0],
            "anchor": "x",
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": [*fixed["ys"].tolist(), fixed["sum_y"]],
            "ticktext": fixed["ticktext"],
            "showgrid": False,
            "zeroline": False,
        },
        "xaxis2": {
            "domain": heat_x,
            "anchor": "y2",
            **_axis_ticks(keys, across, font, fixed["turned"]),
            "title": {"text": KEYS_AXIS},
        },
        "yaxis2": {
            "domain": heat_y,
            "anchor": "x2",
            # not held square: as tall as wide in a notebook's full width, taller in a narrower
            # output, and as long as its colour bar (a square shrank under it, and the bar
            # ran over the key axis's title)
            "autorange": "reversed",
            **_axis_ticks(queries, side, font),
            "title": {"text": QUERIES_AXIS},
        },
        "shapes": [*fixed["bands"], *([outline] if head is not None else [])],
        "annotations": [
            {
                **P.panel_title(
                    {"x": heat_x, "y": heat_y},
                    "<br>".join(head_lines(view, head, position, fixed["title_chars"])),
                ),
                "font": {"size": font},
                "yshift": fixed["title_lift"],
            }
        ],
    }
    return P.themed({"data": data, "layout": layout}, theme)


def figures(
    view: views.AttributionData,
    index: int,
    theme: Theme,
    position: int | None = None,
    opened: str | None = None,
) -> list[dict]:
    """What AttributionView shows: :func:`figure`."""
    return [figure(view, index, theme, position, opened)]


# what a position changes: the traces' keys and the layout's (a page's frame carries them)
FRAME_KEYS = ("x", "y", "z", "marker")
FRAME_LAYOUT = ("title", "xaxis", "xaxis2", "yaxis2", "shapes", "annotations")


def page_controls(
    view: views.AttributionData,
    shown: list[dict],
    index: int,
    theme: Theme,
    position: int | None = None,
    opened: str | None = None,
) -> list[dict]:
    """``shown`` on a page: a slider over the answer positions in place of the widget's
    dropdown, with a plotly frame for each position (its bars, the sum, the head's attention
    and outline, the titles)."""
    (drawn,) = shown
    frames = []
    for p in view.positions.tolist():
        at = figure(view, index, theme, p, opened)
        frames.append(
            {
                "name": str(p),
                "data": [{k: t[k] for k in FRAME_KEYS if k in t} for t in at["data"]],
                "traces": list(range(len(at["data"]))),
                "layout": {key: at["layout"][key] for key in FRAME_LAYOUT},
            }
        )
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    slider = {
        "active": view.row(chosen(view, position)),
        "currentvalue": {"prefix": "position "},
        "pad": {"t": 40},
        "len": 1.0,
        "x": 0.0,
        "steps": [
            {
                "label": f"{p} {tick_label(view.tokens[p])}",
                "method": "animate",
                "args": [[str(p)], animate],
            }
            for p in view.positions.tolist()
        ],
    }
    layout = {**drawn["layout"], "sliders": [slider]}
    return [{**drawn, "layout": layout, "frames": frames}]
