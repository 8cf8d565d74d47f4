"""The patching view's figures, as PatchingView shows them, one above the other:

1. **prompts**: the clean input and its corrupted twin, token under token, wrapped into lines
   as wide as a notebook; the tokens that differ coloured, the answer positions the metric
   reads outlined; the title says the metric on both.
2. **heads**: each head's output restored at every position ``[layer × head]``, the receiver
   outlined; beside it, for that receiver, each earlier head restored only into its queries,
   keys or values (``through``: path patching). One colour bar for both.
3. **positions**: one activation restored at one position ``[row × pos]``: the residual stream
   entering each block, each MLP's output, or each head's output (``where``: "resid", "mlp",
   "head_pos"), the answer positions outlined, the clean tokens under it.

Every heatmap draws effects on the one diverging scale of :mod:`explain.style`, centred on 0
(as corrupted), from ``-limit`` to ``limit`` of the view model (1.0: as clean), so the panels
compare. State (what PatchingView holds; the export draws it too): ``where`` and ``through``
(the receiver's input: "q", "k" or "v"; None: the one through which an earlier head restores
the most). The receiver is the view
model's (PatchingView measures the path effects of another receiver with the model).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from explain import views
from explain.style import OKABE_ITO, Theme, colorscale, short, visible

from ..rules import (
    NARROW_PX,
    NOTEBOOK_PX,
    TITLE_EMS,
    TOOLBAR_PX,
    fitted,
    label,
    panel_lines,
    tick_label,
    title_lines,
    title_room,
    token_ticks,
    wrap,
)
from . import blocks as P

DIFFER = OKABE_ITO[1]  # orange: a token of the corrupted input that is not the clean one
MEANING = "1.0 = as clean, 0.0 = as corrupted"
SCALE_TITLE = "effect"
WHERE = views.PatchingData.WHERE  # what the positions figure restores
CELL_EMS = 0.62  # a character of cell text, in ems
LINE = 1.35  # a line of text, in ems
ROWS = ("clean", "corrupted")


def check_where(where: str) -> str:
    if where not in WHERE:
        raise ValueError(f"where must be one of {list(WHERE)}; got {where!r}")
    return where


def chosen_input(view: views.PatchingData, through: str | None) -> str:
    """``through`` ("q", "k" or "v") checked; None: the strongest (:meth:`strongest_input`)."""
    if through is None:
        return view.strongest_input()
    if through not in views.PatchingData.INPUTS:
        raise ValueError(
            f"through must be one of {list(views.PatchingData.INPUTS)}; got {through!r}"
        )
    return through


def scale(view: views.PatchingData) -> dict:
    """A heatmap's colours: the diverging scale centred on 0, ±limit (one for every panel)."""
    return {
        "colorscale": colorscale(view.colorscale),
        "zmin": -view.limit,
        "zmid": 0.0,
        "zmax": view.limit,
    }


def colorbar(plot_px: float, font: int) -> dict:
    """The colour bar beside a plot ``plot_px`` tall: as many tick labels as fit it, two
    lines of text apart (five labels on a two-row plot ran into one smear)."""
    return {
        "thickness": 14,
        "nticks": max(3, int(plot_px // (2 * LINE * font))),
        "title": {"text": f"{SCALE_TITLE}<br>(1 = as clean)"},
    }


def lines(text: str, font: float, width: float = NOTEBOOK_PX - 40) -> list[str]:
    """``text`` broken into lines that fit ``width`` px at ``font`` px (not escaped)."""
    return wrap(text, max(12, int(width // (TITLE_EMS * font))))


# -- words (``escape`` and ``newline``: the renderer's text rules) ----------------------------
def heading(
    view: views.PatchingData,
    index: int,
    escape: Callable[[object], str] = label,
    newline: str = "<br>",
) -> str:
    """The prompts figure's title: the step, and the metric on the clean and corrupted input."""
    return (
        f"{escape(view.title)}"
        f"{f' · step {int(view.steps[index])}' if view.trained else ''}{newline}"
        f"{escape(view.metric)}: clean {view.clean_metric:.3g}, corrupted "
        f"{view.corrupt_metric:.3g}"
    )


def prompts_note(view: views.PatchingData) -> str:
    """What the colours and outlines of the prompts mean, and the answers (not escaped)."""
    note = "coloured: the tokens that differ"
    if len(view.answer_positions):
        clean = " ".join(visible(a) for a in view.clean_answers)
        corrupted = " ".join(visible(a) for a in view.corrupt_answers)
        note += (
            " · outlined: where the metric reads the answers, clean "
            f"'{clean}' vs corrupted '{corrupted}'"
        )
    return note


def heads_title(newline: str = "<br>") -> str:
    return f"each head's output restored{newline}at every position"


def restored_title() -> list[str]:
    """The heads figure's title, in the parts it breaks between (not escaped)."""
    return ["restored from the clean run:", MEANING]


def path_title(
    view: views.PatchingData,
    part: str,
    escape: Callable[[object], str] = label,
    newline: str = "<br>",
) -> str:
    """The path panel's title: into which input of which head."""
    if view.receiver is None and not view.trained:  # a HuggingFace model (lab.record_hf)
        return f"path patching needs q, k and v{newline}of a model trained here"
    if view.receiver is None:
        return f"path patching needs{newline}two layers or more"
    name = view.head_label(*view.receiver)
    words = views.PatchingData.INPUT_NAMES[part]
    return f"each earlier head restored only{newline}into {escape(name)}'s {words} ({part})"


def positions_title(where: str, newline: str = "<br>") -> str:
    what = {
        "resid": "the residual stream entering each block",
        "mlp": "each MLP's output",
        "head_pos": "each head's output",
    }[check_where(where)]
    return f"{what}, restored at one position{newline}{MEANING} · outlined: answer positions"


def figure_title(font: int) -> dict:
    """A title written from the figure's top down (plotly anchors a title by its first line)."""
    return {
        "x": 0.01,
        "xanchor": "left",
        "y": 1.0,
        "yref": "container",
        "yanchor": "top",
        "pad": {"t": round(1.2 * font)},
    }


# -- 1. the prompts ---------------------------------------------------------------------------
def prompt_layout(view: views.PatchingData, theme: Theme) -> dict:
    """``columns`` tokens a line (each token's letters in its cell, as many as fit the
    notebook's width), ``lines`` lines, and the sizes (the matplotlib picture wraps alike)."""
    font = theme.font_size
    longest = max(len(short(visible(t))) for t in [*view.tokens, *view.corrupt_tokens])
    need = max(2.0 * font, CELL_EMS * font * longest + 12)
    left = round(CELL_EMS * font * len(ROWS[1]) + 24)  # the rows' labels
    room = NOTEBOOK_PX - left - 24
    columns = max(1, min(len(view.tokens), int(room // need)))
    return {
        "columns": columns,
        "lines": math.ceil(len(view.tokens) / columns),
        "left": left,
        "cell_px": need,
    }


def prompt_rows(view: views.PatchingData, columns: int) -> list[tuple[str, int, int]]:
    """(kind, line, first position) of each row of the prompts grid, top down: per line the
    clean row, the corrupted row and (between lines) an empty one."""
    rows: list[tuple[str, int, int]] = []
    for line, first in enumerate(range(0, len(view.tokens), columns)):
        if line:
            rows.append(("gap", line, first))
        rows += [(ROWS[0], line, first), (ROWS[1], line, first)]
    return rows


def prompts_figure(view: views.PatchingData, index: int, theme: Theme) -> dict:
    font = theme.font_size
    size = prompt_layout(view, theme)
    columns = size["columns"]
    rows = prompt_rows(view, columns)
    n_rows = len(rows)
    z = np.full((n_rows, columns), np.nan, np.float32)
    text = [[""] * columns for _ in range(n_rows)]
    hover = [[""] * columns for _ in range(n_rows)]
    answers = {int(p): i for i, p in enumerate(view.answer_positions.tolist())}
    shapes = []
    for row, (kind, _, first) in enumerate(rows):
        if kind == "gap":
            continue
        tokens = view.tokens if kind == ROWS[0] else view.corrupt_tokens
        for column, position in enumerate(range(first, min(first + columns, len(tokens)))):
            z[row, column] = float(view.differ[position])
            text[row][column] = tick_label(tokens[position])
            hover[row][column] = (
                f"position {position}: clean '{label(view.tokens[position])}', corrupted "
                f"'{label(view.corrupt_tokens[position])}'"
            )
            if position in answers:
                i = answers[position]
                hover[row][column] += (
                    f"<br>the metric reads the answer: clean '{label(view.clean_answers[i])}', "
                    f"corrupted '{label(view.corrupt_answers[i])}'"
                )
                if kind == ROWS[0]:  # one outline around the clean and corrupted cells
                    shapes.append({
                        "type": "rect", "xref": "x", "yref": "y",
                        "x0": column - 0.5, "x1": column + 0.5, "y0": row - 0.5, "y1": row + 1.5,
                        "line": {"color": theme.foreground, "width": 2},
                    })  # fmt: skip
    # the note under the cells, from the plot's left edge: its parts on lines that fit there
    note = fitted(prompts_note(view).split(" · "), font, NARROW_PX - size["left"] - 8)
    title = title_lines(heading(view, index), font)
    row_px = round(2.0 * font + 10)
    margin = {
        "l": size["left"],
        "r": 24,
        "t": title_room(len(title), font) + 4,
        "b": round(len(note) * font * LINE + 20),
    }
    labels = ["" if kind == "gap" else kind for kind, _, _ in rows]
    layout = {
        "title": {**figure_title(font), "text": "<br>".join(title)},
        "width": NOTEBOOK_PX,
        "height": margin["t"] + margin["b"] + n_rows * row_px,
        "margin": margin,
        "uirevision": "explain",
        "xaxis": {
            "range": [-0.5, columns - 0.5],
            "showticklabels": False,
            "ticks": "",
            "showline": False,
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
        },
        "yaxis": {
            "range": [n_rows - 0.5, -0.5],
            "tickmode": "array",
            "tickvals": [row for row, kind in enumerate(labels) if kind],
            "ticktext": [kind for kind in labels if kind],
            "ticklabelstandoff": round(font / 2),
            "ticks": "",
            "showline": False,
            "showgrid": False,
            "zeroline": False,
            "fixedrange": True,
        },
        "shapes": shapes,
        "annotations": [
            {
                "text": "<br>".join(label(line) for line in note),
                "x": 0.0,
                "xref": "paper",
                "xanchor": "left",
                "y": 0.0,
                "yref": "paper",
                "yanchor": "top",
                "yshift": -8,
                "align": "left",
                "showarrow": False,
                "font": {"size": font},
            }
        ],
    }
    cells = {
        "type": "heatmap",
        "z": z,
        "text": text,
        "customdata": hover,
        "texttemplate": "%{text}",
        "textfont": {"size": font},
        "zmin": 0.0,
        "zmax": 1.0,
        "colorscale": [[0.0, theme.grid], [1.0, DIFFER]],
        "showscale": False,
        "xgap": 3,
        "ygap": 3,
        "hoverongaps": False,
        "hovertemplate": "%{customdata}<extra></extra>",
    }
    return P.themed({"data": [cells], "layout": layout}, theme)


# -- 2. the heads and the paths into the receiver ---------------------------------------------
def heads_layout(view: views.PatchingData, theme: Theme) -> dict:
    """Pixel sizes of the heads figure: two [layer × head] panels side by side, cells wide
    enough for their numbers ("-0.12") where the narrowest output's width allows (NARROW_PX),
    else numbers on hover only (``numbers``); the title's and the panels' titles' lines."""
    font = theme.font_size
    need = CELL_EMS * font * 5 + 10  # "-0.12"
    digits = len(str(max(view.layers, view.n_heads) - 1))
    tick = CELL_EMS * font * digits
    left = round(tick + LINE * font + 24)  # tick labels and the axis title "layer"
    right = round(2.5 * font + 60)  # the colour bar, its ticks and its title
    gap = left + 16
    # as wide as the narrowest output at most, so the widget never shrinks it: numbers written
    # in the cells only where they fit there, the panels' axes apart by their gap
    room = (NARROW_PX - left - right - gap) / 2
    cell_w = min(room / view.n_heads, max(need, 3.0 * font))
    cell_h = max(LINE * font + 10, min(cell_w, 3.0 * font))
    panel_w, panel_h = cell_w * view.n_heads, cell_h * view.layers
    plot_w = 2 * panel_w + gap
    width = round(plot_w + left + right)
    # the title in lines that fit the figure, and each panel's over its panel and the gap beside
    # it (the receiver's queries, keys or values: the longest of them, so the figure keeps its
    # height as ``through`` changes)
    title = fitted(restored_title(), 1.2 * font, width - TOOLBAR_PX, " ")
    room = panel_w + gap
    panels = [heads_title(), *(path_title(view, p) for p in views.PatchingData.INPUTS)]
    lines = max(len(panel_lines(t, font, room)) for t in panels)
    margin = {
        "l": left,
        "r": right,
        # the figure's title, then the panels' titles over the panels
        "t": title_room(len(title), font) + round(lines * LINE * font + 10),
        "b": round(2 * font * LINE + 24),  # tick labels and the axis title "head"
    }
    return {
        "width": width,
        "height": round(panel_h + margin["t"] + margin["b"]),
        "margin": margin,
        "plot_h": panel_h,
        "heads_x": [0.0, panel_w / plot_w],
        "path_x": [(panel_w + gap) / plot_w, 1.0],
        "numbers": cell_w >= need,
        "title": title,
        "panel_room": room,
    }


def _cells(values: np.ndarray, shown: bool) -> list[list[str]]:
    """The numbers written in the cells ("" where NaN, or everywhere unless ``shown``)."""
    return [[f"{v:.2f}" if shown and math.isfinite(v) else "" for v in row]
            for row in values.tolist()]  # fmt: skip


def _outline(view: views.PatchingData, axis: str, theme: Theme) -> list[dict]:
    if view.receiver is None:
        return []
    layer, head = view.receiver
    return [{
        "type": "rect", "xref": f"x{axis}", "yref": f"y{axis}",
        "x0": head - 0.5, "x1": head + 0.5, "y0": layer - 0.5, "y1": layer + 0.5,
        "line": {"color": theme.foreground, "width": 3},
    }]  # fmt: skip


def heads_figure(view: views.PatchingData, theme: Theme, part: str) -> dict:
    font = theme.font_size
    size = heads_layout(view, theme)
    colours = scale(view)
    names = [[view.head_label(layer, head) for head in range(view.n_heads)]
             for layer in range(view.layers)]  # fmt: skip
    receive = [[" · click: paths into it" if layer else "" for _ in range(view.n_heads)]
               for layer in range(view.layers)]  # fmt: skip
    path = view.path.get(part, np.full(view.heads.shape, np.nan))
    template = "%{text}" if size["numbers"] else ""
    bar = colorbar(size["plot_h"], font)
    heads = {
        "type": "heatmap",
        "z": view.heads.astype(np.float64),
        "x": np.arange(view.n_heads),
        "y": np.arange(view.layers),
        "text": _cells(view.heads, True),
        "texttemplate": template,
        "textfont": {"size": font},
        "customdata": [
            [f"{n}{r}" for n, r in zip(a, b, strict=True)]
            for a, b in zip(names, receive, strict=True)
        ],
        "hovertemplate": "%{customdata}<br>effect %{z:.3f}<extra></extra>",
        **colours,
        "showscale": view.receiver is None,
        "colorbar": bar,
        "xaxis": "x",
        "yaxis": "y",
    }
    receiver = view.head_label(*view.receiver) if view.receiver else ""
    paths = {
        "type": "heatmap",
        "z": path.astype(np.float64),
        "x": np.arange(view.n_heads),
        "y": np.arange(view.layers),
        "text": _cells(path, True),
        "texttemplate": template,
        "textfont": {"size": font},
        "customdata": names,
        "hovertemplate": f"%{{customdata}} → {label(receiver)} ({part})<br>effect %{{z:.3f}}"
        "<extra></extra>",
        "hoverongaps": False,
        **colours,
        "showscale": view.receiver is not None,
        "colorbar": bar,
        "xaxis": "x2",
        "yaxis": "y2",
    }
    axes = {"tickmode": "linear", "dtick": 1, "showgrid": False, "zeroline": False}
    layout = {
        "title": {**figure_title(font), "text": "<br>".join(size["title"])},
        "width": size["width"],
        "height": size["height"],
        "margin": size["margin"],
        "uirevision": "explain",
        "xaxis": {**axes, "domain": size["heads_x"], "anchor": "y", "title": {"text": "head"}},
        "yaxis": {
            **axes,
            "domain": [0.0, 1.0],
            "anchor": "x",
            "autorange": "reversed",
            "title": {"text": "layer"},
        },
        "xaxis2": {
            **axes,
            "domain": size["path_x"],
            "anchor": "y2",
            "title": {"text": "head"},
            "range": [-0.5, view.n_heads - 0.5],
        },
        "yaxis2": {
            **axes,
            "domain": [0.0, 1.0],
            "anchor": "x2",
            "autorange": "reversed",
            "title": {"text": "layer"},
        },
        "shapes": [*_outline(view, "", theme), *_outline(view, "2", theme)],
        "annotations": [
            {
                **P.panel_title(
                    {"x": x, "y": [0.0, 1.0]},
                    "<br>".join(panel_lines(text, font, size["panel_room"])),
                ),
                "font": {"size": font},
                "yshift": 4,
            }
            for x, text in (
                (size["heads_x"], heads_title()),
                (size["path_x"], path_title(view, part)),
            )
        ],
    }
    return P.themed({"data": [heads, paths], "layout": layout}, theme)


# -- 3. one activation at one position --------------------------------------------------------
def positions_layout(view: views.PatchingData, theme: Theme, where: str) -> dict:
    """Pixel sizes of the positions figure: a row per layer (per head for "head_pos") a line
    of text and a half tall, the token axis as wide as the notebook, its labels turned when a
    token is longer than two characters (`turned`)."""
    font = theme.font_size
    _, rows = view.positions(where)
    longest = max(len(short(visible(t))) for t in view.tokens)
    turned = longest > 2
    token_px = CELL_EMS * font * longest + 12
    title = title_lines(positions_title(where), font)
    margin = {
        "l": round(CELL_EMS * font * max(map(len, rows)) + 24),
        "r": round(2.5 * font + 60),
        "t": title_room(len(title), font) + 4,
        "b": round((token_px if turned else LINE * font) + LINE * font + 28),
    }
    # a line of text and a little a row, and room for the colour bar's labels beside few rows
    row_px = round(max(LINE * font + 8, 6 * LINE * font / len(rows)))
    return {
        "width": NOTEBOOK_PX,
        "height": margin["t"] + margin["b"] + row_px * len(rows),
        "margin": margin,
        "plot_w": NOTEBOOK_PX - margin["l"] - margin["r"],
        "plot_h": row_px * len(rows),
        "turned": turned,
        "title": title,
    }


def positions_figure(view: views.PatchingData, theme: Theme, where: str) -> dict:
    font = theme.font_size
    size = positions_layout(view, theme, where)
    values, rows = view.positions(where)
    n_pos = len(view.tokens)
    hover = [
        [
            f"{label(row)} · position {p}: '{label(view.tokens[p])}'"
            + (f" (corrupted '{label(view.corrupt_tokens[p])}')" if view.differ[p] else "")
            for p in range(n_pos)
        ]
        for row in rows
    ]
    x_ticks, x_text = token_ticks(view.tokens, size["plot_w"], font)
    y_ticks, y_text = token_ticks(rows, size["plot_h"], font)
    heatmap = {
        "type": "heatmap",
        "z": values.astype(np.float64),
        "x": np.arange(n_pos),
        "y": np.arange(len(rows)),
        "customdata": hover,
        "hovertemplate": "%{customdata}<br>effect %{z:.3f}<extra></extra>",
        **scale(view),
        "colorbar": colorbar(size["plot_h"], font),
    }
    outlines = [{
        "type": "rect", "xref": "x", "yref": "y domain", "x0": p - 0.5, "x1": p + 0.5,
        "y0": 0.0, "y1": 1.0, "line": {"color": theme.foreground, "width": 2},
    } for p in view.answer_positions.tolist()]  # fmt: skip
    layout = {
        "title": {**figure_title(font), "text": "<br>".join(size["title"])},
        "width": size["width"],
        "height": size["height"],
        "margin": size["margin"],
        "uirevision": "explain",
        "xaxis": {
            "tickmode": "array",
            "tickvals": x_ticks,
            "ticktext": x_text,
            "tickangle": -90 if size["turned"] else 0,
            "showgrid": False,
            "zeroline": False,
            "title": {"text": "position: the clean token"},
        },
        "yaxis": {
            "tickmode": "array",
            "tickvals": y_ticks,
            "ticktext": y_text,
            "autorange": "reversed",
            "showgrid": False,
            "zeroline": False,
        },
        "shapes": outlines,
    }
    return P.themed({"data": [heatmap], "layout": layout}, theme)


def figures(
    view: views.PatchingData,
    index: int,
    theme: Theme,
    where: str = "resid",
    through: str | None = None,
) -> list[dict]:
    """What PatchingView shows: the prompts, the heads and the paths into the receiver through
    its input ``through`` (None: the strongest), and ``where`` restored at one position."""
    where, through = check_where(where), chosen_input(view, through)
    prompts = views.memo(view, ("patching-prompts", index, theme),
                         lambda: prompts_figure(view, index, theme))  # fmt: skip
    return [prompts, heads_figure(view, theme, through), positions_figure(view, theme, where)]
