"""The token-loss view's figure: the probe's target tokens as text, wrapped into lines, each on
a cell coloured by the loss of predicting it (the one scale of :mod:`explain.style`, from 0 to
the loss of a uniform guess); positions the task does not score are grey. Hover a token for its
loss, the probability of the right token and the five most likely tokens. The title says the
step and the mean loss over the scored tokens; the colour bar lies under the text.

A grid of two heatmaps (scored, grey) rather than annotations: one trace of cells whose ``z``
and hover change per step, so a page's frames and the widget's updates carry only those.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from explain import views
from explain.style import Theme, colorscale, short, visible

from ..rules import NARROW_PX, NOTEBOOK_PX, fitted, label, tick_label, title_lines, title_room
from . import blocks as P

CELL_EMS = 0.62  # the width of a character of cell text, in ems (a digit: ~0.55 in chromium)
BAR_LEN = 0.5  # the colour bar's length, a fraction of the text's width
BAR_TITLE = "loss (nats)"
# The room a page's step slider and play buttons take under the plot area before the page moves
# them (`blocks.slider`, `page.FIT_JS`): 109 px measured in chromium at 12 px text, 117 at 20.
SLIDER_PX = 120
HOVER_NOTE = "hover a token for the 5 most likely"
GREY_NOTE = "grey: not scored by the task"


def sizes(view: views.TokenLossData, theme: Theme) -> dict:
    """How the text is laid out at ``theme``'s size: ``columns`` tokens a line (as many as fit
    the notebook's width with each token's letters in its cell), ``rows`` lines, pixel sizes.
    The matplotlib picture wraps the text at the same ``columns``."""
    font = theme.font_size
    longest = max((len(short(visible(t))) for t in view.targets), default=1)
    need = max(2.0 * font, CELL_EMS * font * longest + 12)  # px: the token and some room
    # the colour bar under the text: its gap (`bar_gap`), its title, the bar, its tick labels
    gap = round(0.5 * font + 8)
    bar = round(gap + 14 + 2.8 * font + 8)
    left = round(16 + 2.0 * font)  # the lines' first positions: up to three digits
    # the note under it, from the plot's left edge, in lines that fit the narrowest output
    notes = note_lines(view, font, NARROW_PX - left - 8)
    line = round(1.4 * font + 10 + 1.35 * font * (len(notes) - 1))
    # the title's lines at the narrowest output: the most any step's title takes
    titles = max(
        (len(title_lines(title(view, i), font)) for i in range(len(view.steps))), default=2
    )
    margin = {
        "l": left,
        "r": 24,
        "t": title_room(titles, font) + 4,
        # and at least the room a page's step slider takes under the plot area: with less,
        # plotly's automargin squeezed the text away (a one-line probe's plot area went to
        # -7 px); the page then lowers the slider under the note (`page.FIT_JS`)
        "b": max(bar + line + 8, SLIDER_PX),
    }
    room = NOTEBOOK_PX - margin["l"] - margin["r"]
    n_pos = len(view.targets)
    columns = max(1, min(n_pos, int(room // need)))
    rows = max(1, math.ceil(n_pos / columns))
    row_px = round(2.0 * font + 10)
    return {
        "columns": columns,
        "rows": rows,
        "bar_px": bar,
        "bar_gap": gap,
        "width": NOTEBOOK_PX,
        "height": margin["t"] + margin["b"] + rows * row_px,
        "margin": margin,
        "note": notes,
    }


def note(view: views.TokenLossData) -> str:
    """The line under the colour bar: what grey means (where a token is grey), and the hover."""
    return HOVER_NOTE if all(view.mask) else f"{GREY_NOTE} · {HOVER_NOTE}"


def note_lines(view: views.TokenLossData, font: float, width: float) -> list[str]:
    """:func:`note` in lines that fit ``width`` px at ``font`` px (each part whole where it
    fits)."""
    return fitted(note(view).split(" · "), font, width)


def grid(values: np.ndarray, columns: int, rows: int, fill: object = np.nan) -> np.ndarray:
    """``values`` [pos, ...] laid out in ``rows`` lines of ``columns``, the last one padded
    with ``fill``: [rows, columns, ...]."""
    values = np.asarray(values)
    padded = np.full((rows * columns, *values.shape[1:]), fill, dtype=values.dtype)
    padded[: len(values)] = values
    return padded.reshape(rows, columns, *values.shape[1:])


def title(
    view: views.TokenLossData,
    index: int,
    escape: Callable[[object], str] = label,
    newline: str = "<br>",
) -> str:
    """The step and the mean loss over the scored tokens (``escape`` and ``newline``: the
    renderer's text rules)."""
    scored = int(view.scored.sum())
    return (
        f"{escape(view.title)} · step {int(view.steps[index])}{newline}"
        f"mean loss {view.mean_loss(index):.3g} over {scored} scored "
        f"token{'s' if scored != 1 else ''}"
    )


def hover(view: views.TokenLossData, index: int, position: int) -> str:
    """One token's hover: the prediction it ends, its loss and probability, the top tokens."""
    target = label(view.targets[position])
    right = int(view.target_ids[position])
    scored = "" if view.mask[position] else " · not scored by the task"
    ranked = [
        f"{rank}. {label(view.token(int(i)))}  {p:.3f}" + (" ✓" if int(i) == right else "")
        for rank, (i, p) in enumerate(
            zip(view.top_ids[index, position], view.top_probs[index, position], strict=True), 1
        )
    ]
    return (
        f"position {position}: {label(view.tokens[position])} → {target}{scored}<br>"
        f"loss {view.loss[index, position]:.3f} · p({target}) {view.prob[index, position]:.3f}"
        f"<br>most likely:<br>" + "<br>".join(ranked)
    )


def _fixed(view: views.TokenLossData, theme: Theme) -> dict:
    """What stays the same at every step: the layout, the text in the cells, the grey cells."""
    size = sizes(view, theme)
    columns, rows = size["columns"], size["rows"]
    mask = np.asarray(view.mask, bool)
    texts = np.array([tick_label(t) for t in view.targets], dtype=object)
    scored_text = grid(np.where(mask, texts, ""), columns, rows, "")
    other_text = grid(np.where(mask, "", texts), columns, rows, "")
    other = grid(np.where(mask, np.nan, 0.0).astype(np.float32), columns, rows)
    cell_font = {"size": theme.font_size}  # the text's own size (>= the theme's least)
    cells = {
        "type": "heatmap",
        "x": np.arange(columns),
        "y": np.arange(rows),
        "xgap": 3,
        "ygap": 3,
        "hoverongaps": False,
        "texttemplate": "%{text}",
        "textfont": cell_font,
        "hovertemplate": "%{customdata}<extra></extra>",
    }
    scored = {
        **cells,
        "text": scored_text.tolist(),
        "zmin": 0.0,
        "zmax": view.ceiling,
        "colorscale": colorscale(view.colorscale),
        "colorbar": {
            "orientation": "h",
            "thickness": 14,
            "len": BAR_LEN,
            "x": 0.0,
            "xanchor": "left",
            "y": 0.0,
            "yanchor": "top",
            "ypad": size["bar_gap"],
            "title": {"text": BAR_TITLE, "side": "top"},
        },
    }
    grey = {
        **cells,
        "z": other,
        "text": other_text.tolist(),
        "zmin": 0.0,
        "zmax": 1.0,
        "colorscale": [[0.0, theme.grid], [1.0, theme.grid]],
        "showscale": False,
    }
    starts = [tick_label(r * columns) for r in range(rows)]
    layout = {
        # two lines from the figure's top down: plotly anchors a title by its first line
        # (centred in the margin, or "bottom" on the plot, the other line ran off the figure
        # or over the text)
        "title": {
            "text": "",
            "x": 0.01,
            "xanchor": "left",
            "y": 1.0,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": round(1.2 * theme.font_size)},
        },
        "width": size["width"],
        "height": size["height"],
        "margin": size["margin"],
        "uirevision": "explain",
        "annotations": [
            {
                "text": "<br>".join(size["note"]),
                "align": "left",
                "x": 0.0,
                "xref": "paper",
                "xanchor": "left",
                "y": 0.0,
                "yref": "paper",
                "yanchor": "top",
                "yshift": -size["bar_px"],
                "showarrow": False,
                "font": {"size": theme.font_size},
            }
        ],
        "xaxis": {
            "range": [-0.5, columns - 0.5],
            "showticklabels": False,
            "showgrid": False,
            "showline": False,
            "ticks": "",
            "zeroline": False,
            "fixedrange": True,
        },
        "yaxis": {
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": list(range(rows)),
            "ticktext": starts,
            "showticklabels": rows > 1,  # each line's first position
            "showgrid": False,
            "showline": False,
            "ticks": "",
            "zeroline": False,
            "fixedrange": True,
        },
    }
    themed = P.themed({"data": [scored, grey], "layout": layout}, theme)
    return {**themed, "columns": columns, "rows": rows}


def figures(view: views.TokenLossData, index: int, theme: Theme) -> list[dict]:
    """The coloured text at frame ``index``. The layout, the cells' text and the grey cells
    are built once per view model and theme (:func:`explain.views.memo`); a step sets the
    scored cells' colours, every hover and the title."""
    fixed = views.memo(view, ("token_loss", theme), lambda: _fixed(view, theme))
    columns, rows = fixed["columns"], fixed["rows"]
    mask = np.asarray(view.mask, bool)
    z = grid(np.where(mask, view.loss[index], np.nan).astype(np.float32), columns, rows)
    hovers = grid(
        np.array([hover(view, index, p) for p in range(len(view.targets))], dtype=object),
        columns,
        rows,
        "",
    ).tolist()
    scored, grey = fixed["data"]
    layout = fixed["layout"]
    return [
        {
            "data": [{**scored, "z": z, "customdata": hovers}, {**grey, "customdata": hovers}],
            "layout": {
                **layout,
                "title": {
                    **layout["title"],
                    "text": "<br>".join(title_lines(title(view, index), theme.font_size)),
                },
            },
        }
    ]
