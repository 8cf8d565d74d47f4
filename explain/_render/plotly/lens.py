"""The lens view's figure, as LensView shows it: on top the logit lens table (one row per
layer, one column per input token, each cell the layer's top next token coloured by its
probability; hover for the top three; the targets above, green where the output row gets them
right), underneath the attention rollout and the saliency bars of the chosen ``position``
(state; None: the view model's), whose column and rollout row are outlined.

The lens has one step, so a page has no step slider to add: :func:`figures` gives the figure
with the page's own control instead, a slider over positions and one plotly frame per position;
LensView, whose dropdown picks the position, shows :func:`figure`, the same less those two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explain import views
from explain.style import OKABE_ITO, Theme, colorscale

from ..rules import NOTEBOOK_PX, label, labels_fitting, token_ticks
from . import blocks as P

RIGHT, WRONG = OKABE_ITO[2], OKABE_ITO[5]  # bluish green, vermillion (the matplotlib's too)
ROLLOUT, BARS = [0.0, 0.40], [0.58, 1.0]  # the lower row's panels (paper x)
# two short lines, so a narrow output never cuts them (the matplotlib picture breaks them too)
TABLE_AXIS = "input token<br>each cell: the top next token after that layer"
TARGET_AXIS = "target (green: the output row gets it right)"
BARS_AXIS = "gradient × input<br>(+ pushes toward the prediction)"


def chosen(view: views.LensData, position: int | None) -> int:
    """``position`` (None: the view model's) checked against the probe's positions."""
    if position is None:
        return int(view.position)
    if isinstance(position, bool) or not isinstance(position, int | np.integer):
        raise ValueError(f"position must be an integer; got {position!r}")
    if not 0 <= position < len(view.tokens):
        raise ValueError(f"position {position} is out of range; expected 0..{len(view.tokens) - 1}")
    return int(position)


def bars_title(
    view: views.LensData, position: int, escape: Callable[[object], str] = label, newline="<br>"
) -> str:
    """The bars' axis title, on top: whose saliency, and of what (``escape`` and ``newline``:
    the matplotlib figure's text rules)."""
    predicted = view.top_token[-1][position]
    return (
        f"saliency of position {position} ({escape(view.tokens[position])}),{newline}"
        f"predicting {escape(predicted)}{newline}{BARS_AXIS.replace('<br>', newline)}"
    )


def limit(view: views.LensData, position: int) -> float:
    """Half the bars' axis: each position on its own scale (a confident prediction's
    gradients are ~100x smaller than an unsure one's)."""
    return 1.1 * (float(np.abs(view.bars(position)).max()) or 1.0)


def _hover(view: views.LensData) -> list[list[str]]:
    """[layer + 1][pos] the cell's three most likely tokens, for the table's hover."""
    best = np.argsort(-view.probs, axis=-1, kind="stable")[..., :3]  # [layer + 1, pos, 3]
    tokens = [label(t) for t in view.tokens]
    return [
        [
            f"{label(name)} · position {pos} ({tokens[pos]})<br>"
            + "<br>".join(
                f"{label(view.vocab[i])}: {view.probs[layer, pos, i]:.3f}" for i in best[layer, pos]
            )
            for pos in range(len(view.tokens))
        ]
        for layer, name in enumerate(view.layers)
    ]


def _targets(view: views.LensData, room: int) -> list[str]:
    """The target above each scored column, green where the output row predicts it; at most
    ``room`` of them (every k-th scored column: a character-level probe scores all 64)."""
    scored = [pos for pos in range(len(view.targets)) if view.mask[pos]]
    every = -(-len(scored) // room) if scored else 1
    shown_at = set(scored[::every])
    shown = []
    for pos, target in enumerate(view.targets):
        if pos not in shown_at:
            shown.append("")
            continue
        colour = RIGHT if view.top_token[-1][pos] == target else WRONG
        shown.append(f"<span style='color:{colour}'>{label(target)}</span>")
    return shown


def _position(view: views.LensData, position: int) -> dict:
    """What follows the position: the bars, their axis (range, title) and the outlines."""
    values = view.bars(position)
    n_pos, n_rows = len(view.tokens), len(view.layers)
    line = {"color": WRONG, "width": 3}
    half = limit(view, position)
    return {
        "x": values.astype(np.float64),
        "marker": {"color": [RIGHT if v >= 0 else WRONG for v in values]},
        "axis": {"range": [-half, half], "title": {"text": bars_title(view, position)}},
        "shapes": [
            {
                "type": "rect",
                "xref": "x",
                "yref": "y",
                "x0": position - 0.5,
                "x1": position + 0.5,
                "y0": -0.5,
                "y1": n_rows - 0.5,
                "line": line,
            },
            {
                "type": "rect",
                "xref": "x2",
                "yref": "y2",
                "x0": -0.5,
                "x1": n_pos - 0.5,
                "y0": position - 0.5,
                "y1": position + 0.5,
                "line": line,
            },
        ],
    }


def _fixed(view: views.LensData, theme: Theme) -> dict:
    """What the figure shows whatever the position (memoised on the probabilities and the
    theme: :func:`explain.views.memo`). Each token axis labels as many tokens as fit its
    length at the theme's text size; the table's cells keep their text while it fits them."""
    sizes = _sizes(view, theme)
    size = theme.font_size
    widest = max((len(label(t)) for row in view.top_token for t in row), default=1)
    cell = sizes["table_px"] / max(1, len(view.tokens))
    return {
        "table_ticks": token_ticks(view.tokens, sizes["table_px"], size),
        "lower_ticks": token_ticks(view.tokens, sizes["lower_px"], size),
        "cell_text": cell >= 0.6 * _cell_font(theme) * min(widest, 8) + 4,
        "table": view.top_prob.astype(np.float32),
        "rollout": view.rollout.astype(np.float32),
        "positions": np.arange(len(view.tokens)),
        "rows": np.arange(len(view.layers)),
        "text": [[label(t) for t in row] for row in view.top_token],
        "hover": _hover(view),
        "targets": _targets(view, labels_fitting(sizes["table_px"], size)),
        "layers": [label(name) for name in view.layers],
        "scale": colorscale(view.colorscale),
    }


def _title(x: list[float], y: list[float], text: str) -> dict:
    """A panel's title above it, in the figure's font (``text`` escaped already)."""
    return {**P.panel_title({"x": x, "y": y}, text), "font": {}}


def _cell_font(theme: Theme) -> int:
    """The size of the table cells' text: a little under the theme's, never under its least."""
    return max(theme.min_font_size, 11 + (theme.font_size - 12) // 2)


def _sizes(view: views.LensData, theme: Theme) -> dict:
    """Pixel sizes: the table's rows, the gap under it, the lower row, the margins; and the
    lengths of the token axes as drawn (``table_px``, ``lower_px``: the rollout's side, the
    bars' height). As wide as a notebook's output (`NOTEBOOK_PX`): a wider figure is shrunk
    into it (1500 px at 20 px text, 20 tokens), and what its ticks were thinned for is lost."""
    s = theme.font_size - 12
    n_rows = len(view.layers)
    table = (64 + 3 * s) * n_rows + 24
    # the table's token ticks and two-line axis title, the bars' ticks and four-line title:
    # eight lines of text (at 20 px, 10 px a point of font fell 50 px short: they overlapped)
    gap = 190 + 16 * s
    margin = {"l": 110 + 5 * s, "r": 80 + 3 * s, "t": 110 + 6 * s, "b": 60 + 3 * s}
    width = NOTEBOOK_PX
    table_px = width - margin["l"] - margin["r"]
    lower = int(table_px * (ROLLOUT[1] - ROLLOUT[0]))  # the rollout is square
    plot = table + gap + lower
    return {
        "width": width,
        "height": plot + margin["t"] + margin["b"],
        "margin": margin,
        "table_y": [(lower + gap) / plot, 1.0],
        "lower_y": [0.0, lower / plot],
        "table_px": table_px,
        "lower_px": lower,
    }


def _slider(view: views.LensData, position: int) -> dict:
    animate = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}}
    return {
        "active": position,
        "currentvalue": {"prefix": "saliency of position "},
        "pad": {"t": 40},
        "len": 1.0,
        "x": 0.0,
        "steps": [
            {"label": f"{p} {label(token)}", "method": "animate", "args": [[str(p)], animate]}
            for p, token in enumerate(view.tokens)
        ],
    }


def figure(view: views.LensData, index: int, theme: Theme, position: int | None = None) -> dict:
    """The figure LensView shows with ``position`` chosen (None: the view model's)."""
    position = chosen(view, position)
    step = int(view.steps[index])
    sizes = _sizes(view, theme)
    # keyed on the probabilities, which the view model of every position shares (LensView)
    fixed = views.memo(view.probs, ("lens", theme), lambda: _fixed(view, theme))
    positions = fixed["positions"]

    def tokens_axis(ticks: tuple[list[int], list[str]]) -> dict:
        return {"tickmode": "array", "tickvals": ticks[0], "ticktext": ticks[1], "showgrid": False}

    tokens, lower_tokens = tokens_axis(fixed["table_ticks"]), tokens_axis(fixed["lower_ticks"])
    table_y, lower_y = sizes["table_y"], sizes["lower_y"]
    now = _position(view, position)
    data = [
        {
            "type": "heatmap",
            "z": fixed["table"],
            "x": positions,
            "y": fixed["rows"],
            "zmin": 0.0,
            "zmax": 1.0,
            "colorscale": fixed["scale"],
            "colorbar": {
                "thickness": 12,
                "len": table_y[1] - table_y[0],
                "y": sum(table_y) / 2,
                "yanchor": "middle",
                "title": {"text": "top prob"},
            },
            "text": fixed["text"],
            "texttemplate": "%{text}" if fixed["cell_text"] else "",
            "textfont": {"size": _cell_font(theme)},
            "customdata": fixed["hover"],
            "hovertemplate": "%{customdata}<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        },
        {  # carries the targets on the table's top axis
            "type": "scatter",
            "mode": "markers",
            "x": positions,
            "y": np.zeros(len(positions)),
            "marker": {"opacity": 0},
            "hoverinfo": "skip",
            "showlegend": False,
            "xaxis": "x4",
            "yaxis": "y",
        },
        {
            "type": "heatmap",
            "z": fixed["rollout"],
            "zmin": 0.0,
            "zmax": 1.0,
            "colorscale": fixed["scale"],
            "showscale": False,
            "hovertemplate": "position %{y} takes %{z:.3f} from %{x}<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {
            "type": "bar",
            "orientation": "h",
            "x": now["x"],
            "y": positions,
            "marker": now["marker"],
            "hovertemplate": "%{y}: %{x:.3g}<extra></extra>",
            "xaxis": "x3",
            "yaxis": "y3",
        },
    ]
    layout = {
        "title": {"text": label(view.heading(step)), "x": 0.01},
        "width": sizes["width"],
        "height": sizes["height"],
        "margin": sizes["margin"],
        "uirevision": "explain",
        "showlegend": False,
        "xaxis": {"domain": [0.0, 1.0], "anchor": "y", **tokens, "title": {"text": TABLE_AXIS}},
        "xaxis4": {
            "overlaying": "x",
            "side": "top",
            "matches": "x",
            "anchor": "y",
            "tickmode": "array",
            "tickvals": positions,
            "ticktext": fixed["targets"],
            "showgrid": False,
            "title": {"text": TARGET_AXIS},
        },
        "yaxis": {
            "domain": table_y,
            "anchor": "x",
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": fixed["rows"],
            "ticktext": fixed["layers"],
        },
        "xaxis2": {
            "domain": ROLLOUT,
            "anchor": "y2",
            **lower_tokens,
            "title": {"text": "input token"},
        },
        "yaxis2": {
            "domain": lower_y,
            "anchor": "x2",
            "autorange": "reversed",
            "scaleanchor": "x2",
            "constrain": "domain",
            **lower_tokens,
            "title": {"text": "position"},
        },
        "xaxis3": {
            "domain": BARS,
            "anchor": "y3",
            "side": "top",
            "exponentformat": "e",
            "zeroline": True,
            **now["axis"],
        },
        "yaxis3": {"domain": lower_y, "anchor": "x3", "autorange": "reversed", **lower_tokens},
        "shapes": now["shapes"],
        "annotations": [_title(ROLLOUT, lower_y, "attention rollout")],
    }
    return P.themed({"data": data, "layout": layout}, theme)


def figures(
    view: views.LensData, index: int, theme: Theme, position: int | None = None
) -> list[dict]:
    """What LensView shows: :func:`figure`."""
    return [figure(view, index, theme, position)]


def page_controls(
    view: views.LensData,
    shown: list[dict],
    index: int,
    theme: Theme,
    position: int | None = None,
) -> list[dict]:
    """``shown`` on a page: a slider over positions in place of the widget's dropdown, with a
    plotly frame for each position (what changes with it: the bars, their axis, the outlines)."""
    (drawn,) = shown
    frames = []
    for p in range(len(view.tokens)):
        at = _position(view, p)
        frames.append(
            {
                "name": str(p),
                "data": [{"x": at["x"], "marker": at["marker"]}],
                "traces": [3],
                "layout": {"xaxis3": at["axis"], "shapes": at["shapes"]},
            }
        )
    layout = {**drawn["layout"], "sliders": [_slider(view, chosen(view, position))]}
    return [{**drawn, "layout": layout, "frames": frames}]
