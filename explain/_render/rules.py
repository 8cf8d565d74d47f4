"""One rule each, shared by every renderer (plotly, matplotlib) and every widget.

How a token or name from a trace becomes text, how many tick labels an axis shows, how the
current step is marked on a curve, the colours of events and phases, which parameters count as
weight matrices. Change a rule here and the notebook, the page and the slide change together.
(Which selection keywords each view takes is the view models' rule: ``explain.views.SELECTIONS``.)

    >>> label("<b>"), label(" ")
    ('&lt;b&gt;', '␣')
    >>> tick_positions(100)[:3], len(tick_positions(100))
    ([0, 3, 6], 34)
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from explain.style import short, visible

# Tick labels on a token axis: every k-th past this many (a 1280 px projector shows ~40 legibly).
MAX_TICK_LABELS = 40
# Room a token label takes along its axis, in its text's size: a line and a little gap upright
# on a y axis, or turned on an x axis.
LABEL_EMS = 1.25
# The widest a notebook's output is at 1280 px with JupyterLab's file browser open (848 px
# measured in chromium): a figure as wide fits it unscaled, so what it lays out is what shows.
NOTEBOOK_PX = 840

# The current step on a curve: a dotted vertical line, the same colour in every renderer.
STEP_MARKER_COLOUR = "#D55E00"
STEP_MARKER_DASH = "dot"
STEP_MARKER_WIDTH = 2

EVENT_COLOUR = "#009E73"  # where a head's pattern appeared (dashed)
PHASE_COLOUR = "#222222"  # where a phase, e.g. fine-tuning, starts (solid)


def label_columns(steps: Sequence[int], span: float, near: float = 0.04) -> list[int]:
    """For event labels written upright beside their lines at ``steps``: which column each takes
    (0 at its line, 1 one label's width to the right, ...). An event within ``near`` of the
    x-axis ``span`` of the one before it goes one column further, so close events (the
    previous-token and induction heads, 8 steps apart) do not print over each other."""
    columns = [0] * len(steps)
    order = sorted(range(len(steps)), key=lambda i: steps[i])
    for before, i in zip(order, order[1:], strict=False):
        if steps[i] - steps[before] <= near * span:
            columns[i] = columns[before] + 1
    return columns


def label(text: object) -> str:
    """A token or name as plotly/HTML text: whitespace and control characters made visible
    (:func:`explain.style.visible`), then ``& < >`` escaped, so a token like ``<b>`` shows as
    itself (quotes are safe in plotly text)."""
    return html.escape(visible(str(text)), quote=False)


def tick_label(text: object) -> str:
    """:func:`label` of a token shortened for an axis (:func:`explain.style.short`; hover
    shows it whole)."""
    return html.escape(short(visible(str(text))), quote=False)


def tick_positions(count: int, limit: int = MAX_TICK_LABELS) -> list[int]:
    """Which of ``count`` positions get a tick label: every k-th, at most ``limit``."""
    every = max(1, math.ceil(count / limit))
    return list(range(0, count, every))


def labels_fitting(pixels: float, font_px: float) -> int:
    """How many token labels an axis ``pixels`` long holds at ``font_px``: LABEL_EMS of the
    text's size each (measured in chromium at 20 px: 20 tokens on a 234 px rollout, 12 px
    apart, ran into one smear)."""
    return max(2, int(pixels // (LABEL_EMS * font_px)))


def labelled_px(count: int, font_px: float) -> float:
    """How long a token axis must be to label each of ``count`` tokens at ``font_px`` (the
    inverse of :func:`labels_fitting`): what a window of a long attention map grows to."""
    return count * LABEL_EMS * font_px


def token_ticks(
    tokens: Sequence[object],
    pixels: float | None = None,
    font_px: float = 12,
    limit: int | None = MAX_TICK_LABELS,
) -> tuple[list[int], list[str]]:
    """Tick positions and their labels (:func:`tick_label`) for a token axis: at most ``limit``
    (None: no limit but the axis's); with ``pixels`` (the axis's length as drawn), only as many
    as fit it at ``font_px`` (:func:`labels_fitting`). A figure sized to label every token
    (:func:`labelled_px`, an attention window) passes ``limit=None``.

    >>> token_ticks(list("abcdef"), pixels=90, font_px=20)
    ([0, 2, 4], ['a', 'c', 'e'])
    """
    limit = len(tokens) if limit is None else limit
    if pixels is not None:
        limit = min(limit, labels_fitting(pixels, font_px))
    positions = tick_positions(len(tokens), max(1, limit))
    return positions, [tick_label(tokens[i]) for i in positions]


def wrap(text: str, width: int) -> list[str]:
    """``text`` broken at spaces into lines of at most ``width`` characters (a longer word
    keeps its own line).

    >>> wrap("previous-token head appears: L0H1 (+2 more by step 296)", 28)
    ['previous-token head appears:', 'L0H1 (+2 more by step 296)']
    """
    lines: list[str] = []
    for word in str(text).split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def mpl_text(value: object) -> str:
    """A token or name as matplotlib text: whitespace visible, ``$`` literal (never math)."""
    return visible(str(value)).replace("$", r"\$")


def step_marker(step: float, yref: str = "paper", xref: str = "x") -> dict:
    """The current step on a plotly figure: a ``layout.shapes`` entry across ``yref``."""
    return {
        "type": "line",
        "xref": xref,
        "yref": yref,
        "x0": step,
        "x1": step,
        "y0": 0,
        "y1": 1,
        "line": {"color": STEP_MARKER_COLOUR, "width": STEP_MARKER_WIDTH, "dash": STEP_MARKER_DASH},
    }


def matrix_names(names: Sequence[str]) -> list[str]:
    """Weight matrices only: biases and layer-norm gains would crowd the picture."""
    return [
        n for n in names if not n.endswith("bias") and ".ln" not in n and not n.startswith("ln")
    ]


TITLE_EMS = 0.55  # a character of title text, in ems (wrapping)
# The narrowest a figure is drawn: a notebook's output at 1024 px with JupyterLab's file browser
# open (592 px measured in chromium, the plot 588 px). The widget lays a figure out again at the
# width it gets (widgets/plot.js), shrinking its plot area but not its text, so the text plotly
# does not wrap (titles, panels' titles, the notes under a figure) is broken into lines that fit
# this width; wider, the lines just have room to spare.
NARROW_PX = 588
TOOLBAR_PX = 30  # plot.js puts a title's top under plotly's toolbar strip


def fitted(parts: Sequence[str], font: float, width: float, sep: str = " · ") -> list[str]:
    """``parts`` of a text as lines that fit ``width`` px at ``font`` px (TITLE_EMS a
    character, as wide as verdana's, plotly's first font most machines have): a part joins the
    line before it (after ``sep``) where it fits, else starts a line; a part longer than a line
    is broken after its commas, and a clause longer than a line at its spaces.

    >>> fitted(["grey: not scored by the task", "hover a token for the 5 most likely"], 20, 540)
    ['grey: not scored by the task', 'hover a token for the 5 most likely']
    >>> fitted(["grey: not scored by the task", "hover a token for the 5 most likely"], 12, 540)
    ['grey: not scored by the task · hover a token for the 5 most likely']
    >>> fitted(["logit difference: clean 0.0617, corrupted -0.0504"], 24, 560)
    ['logit difference: clean 0.0617,', 'corrupted -0.0504']
    """
    chars = max(12, int(width // (TITLE_EMS * font)))
    out: list[str] = []
    for part in parts:
        if out and len(out[-1]) + len(sep) + len(part) <= chars:
            out[-1] += sep + part
            continue
        first = len(out)
        clauses = part.split(", ")
        for i, clause in enumerate(clauses):
            clause += "," if i < len(clauses) - 1 else ""
            if len(out) > first and len(out[-1]) + 1 + len(clause) <= chars:
                out[-1] += " " + clause
            else:
                out += wrap(clause, chars)
    return out


def panel_lines(text: str, font: float, width: float) -> list[str]:
    """A panel's title (its lines apart at "<br>") in lines that fit ``width`` px at ``font``
    px: each of its lines broken at spaces where it is too long, or the whole text broken
    anew where that takes fewer lines.

    >>> panel_lines("each earlier head restored only<br>into L1H0's queries (q)", 20, 240)
    ['each earlier head', 'restored only into', "L1H0's queries (q)"]
    >>> panel_lines("each earlier head restored only<br>into L1H0's queries (q)", 12, 160)
    ['each earlier head', 'restored only', "into L1H0's queries (q)"]
    """
    chars = max(12, int(width // (TITLE_EMS * font)))
    given = text.split("<br>")
    kept = [line for part in given for line in wrap(part, chars)]
    anew = wrap(" ".join(given), chars)
    return anew if len(anew) < len(kept) else kept


def title_lines(text: str, font: float, width: float = NARROW_PX) -> list[str]:
    """A figure's title (its lines apart at "<br>") in lines that fit a figure ``width`` px wide
    at the title's size (1.2 ``font``, :meth:`Theme.plotly_layout`): each line's parts (apart at
    " · ") whole where they fit."""
    return [
        line
        for given in text.split("<br>")
        for line in fitted(given.split(" · "), 1.2 * font, width - TOOLBAR_PX)
    ]


def title_room(lines: int, font: float) -> int:
    """Pixels from a figure's top to the end of a title of ``lines`` lines at 1.2 ``font`` px,
    as the widget lays it out (widgets/plot.js ``fit``): the toolbar's strip, the lines, the gap
    under them."""
    size = 1.2 * font
    return math.ceil(TOOLBAR_PX + 1.2 * size + 1.3 * size * (lines - 1) + 0.3 * size + 0.6 * font)
