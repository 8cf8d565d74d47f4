"""Plotly building blocks shared by every view's plotly builder (widgets, exports, report).

Figures are plain dicts (no ``go.Figure`` validation: it costs seconds for many frames) with
arrays sent as typed base64 buffers. A step slider and a play button move through plotly
frames. Every string from a trace goes through `rules.label`: plotly renders a subset of HTML in
text, so ``<`` and ``&`` are escaped and a token like ``<b>`` shows as itself.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from explain.style import Theme

from ..rules import EVENT_COLOUR, PHASE_COLOUR, label, label_columns, wrap


def typed(array: np.ndarray) -> dict:
    """A float32 array as plotly.js's typed-array spec (base64), far smaller than a list."""
    array = np.ascontiguousarray(array, dtype="<f4")
    return {
        "dtype": "f4",
        "bdata": base64.b64encode(array.tobytes()).decode("ascii"),
        "shape": ", ".join(map(str, array.shape)),
    }


def panel_title(cell: dict, text: str) -> dict:
    return {
        "text": text,
        "x": sum(cell["x"]) / 2,
        "y": cell["y"][1],
        "xref": "paper",
        "yref": "paper",
        "xanchor": "center",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 12},  # a builder in a theme passes its size (`blocks.themed` does not)
    }


def slider(
    steps: Sequence[int], frames: Sequence[int], active: int, font: dict | None = None
) -> dict:
    """A step slider and play/pause buttons over plotly frames named by step; ``font`` (the
    figure's: size, colour) writes the step shown above it. The page moves both below the
    axes' text once drawn (`explain._render.page.FIT_JS`): the figure, shared with the widget,
    has no room for them."""
    font = font or {}
    current = {"size": font.get("size", 13), "color": font.get("color", "#444444")}
    animate = {
        "mode": "immediate",
        "frame": {"duration": 0, "redraw": True},
        "transition": {"duration": 0},
    }
    names = [str(int(steps[i])) for i in frames]
    return {
        "sliders": [
            {
                "active": active,
                # its own colour: the slider's (its labels') is clear
                "currentvalue": {"prefix": "step ", "font": current},
                "pad": {"t": 36, "l": 80},
                "len": 0.92,
                "x": 0.08,
                "ticklen": 2,
                "font": {"size": 9, "color": "rgba(0,0,0,0)"},  # the current value says the step
                "steps": [
                    {"label": name, "method": "animate", "args": [[name], animate]}
                    for name in names
                ],
            }
        ],
        "updatemenus": [
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": 0.0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 42},
                "showactive": False,
                "buttons": [
                    {
                        "label": "▶",
                        "method": "animate",
                        "args": [
                            None,
                            {
                                "frame": {"duration": 120, "redraw": True},
                                "fromcurrent": True,
                                "transition": {"duration": 0},
                            },
                        ],
                    },
                    {"label": "❚❚", "method": "animate", "args": [[None], animate]},
                ],
            }
        ],
    }


def initial(frames: Sequence[int], index: int) -> tuple[list[int], int]:
    """Frame indices including ``index``, and the slider position of ``index``."""
    frames = sorted(set(int(i) for i in frames) | {int(index)})
    return frames, frames.index(int(index))


def legend_height(names: list[str], theme: Theme, width: int) -> int:
    """Pixels a horizontal legend of ``names`` (`legend_below`) takes below the panels of a
    figure ``width`` wide: rows of entries (about 0.6 em a character plus the line sample) in
    the theme's font."""
    room, rows, used = width - 20, 1, 0.0
    for name in names:
        entry = 0.6 * theme.font_size * len(name) + 50
        if used and used + entry > room:
            rows, used = rows + 1, 0.0
        used += entry
    return round(rows * 1.7 * theme.font_size) + 8


def legend_below() -> dict:
    """A horizontal legend at the bottom left of the figure, under the axes: the layout's
    bottom margin holds it (`legend_height` pixels of it)."""
    return {
        "orientation": "h",
        "x": 0,
        "xanchor": "left",
        "y": 0,
        "yanchor": "bottom",
        "yref": "container",
    }


def loss_marks(
    events: Sequence,
    phases: Sequence,
    phase_yrefs: Sequence[str],
    span: float = 0.0,
    text_px: int = 10,
    room_px: float | None = None,
    across_px: float | None = None,
) -> tuple[list[dict], list[dict]]:
    """Shapes and annotations marking ``events`` (``.step``, ``.label``: dashed, on the loss
    panel ``y``) and the first step of ``phases`` (``.first_step``, ``.label``: solid, on each
    of ``phase_yrefs``) on a loss figure; the widget and the HTML export draw the same marks.
    Labels of events close together on an x axis of ``span`` steps stand side by side
    (:func:`~explain._render.rules.label_columns`), ``text_px`` (their text's size) apart.
    With ``room_px``, the loss panel's height, a label longer than it is broken into lines
    that fit it (notebook 09's "previous-token head appears: L0H1 (+2 more by step 296)" ran
    through the learning-rate panel below); with ``across_px``, the x axis's length, events
    closer than a label's width stand side by side."""
    # about 0.55 em a character (0.48 em measured in chromium for these labels)
    chars = int(room_px // (0.55 * text_px)) if room_px else 10**6

    def lines(caption: str) -> list[str]:
        return wrap(caption, chars)

    deepest = max((len(lines(item.label)) for item in [*events, *phases]), default=1)

    def line(step: int, yref: str, colour: str, dash: str) -> dict:
        width = 1.5 if dash == "solid" else 1
        return {
            "type": "line",
            "xref": "x",
            "yref": yref,
            "x0": step,
            "x1": step,
            "y0": 0,
            "y1": 1,
            "line": {"color": colour, "width": width, "dash": dash},
        }

    def text(step: int, caption: str, y: float, anchor: str, colour: str, column: int = 0) -> dict:
        return {
            "x": step,
            "xshift": column * wide,
            "y": y,
            "xref": "x",
            "yref": "y domain",
            "text": "<br>".join(label(line) for line in lines(caption)),
            "textangle": -90,
            "xanchor": "left",
            "yanchor": anchor,
            "showarrow": False,
            "font": {"size": text_px, "color": colour},
        }

    shapes = [line(e.step, "y domain", EVENT_COLOUR, "dash") for e in events]
    shapes += [
        line(p.first_step, yref, PHASE_COLOUR, "solid") for p in phases for yref in phase_yrefs
    ]
    wide = deepest * round(1.3 * text_px) + 4  # a label's width, its lines side by side
    near = wide / across_px if across_px else 0.04
    columns = label_columns([e.step for e in events], span, near)
    notes = [
        text(e.step, e.label, 1, "top", EVENT_COLOUR, column)
        for e, column in zip(events, columns, strict=True)
    ]
    notes += [text(p.first_step, p.label, 0, "bottom", PHASE_COLOUR) for p in phases]
    return shapes, notes


# -- one figure for the widget and the page ----------------------------------------------------
AXIS_KEYS = ("xaxis", "yaxis")


def themed(figure: dict, theme: Theme) -> dict:
    """``figure`` (a builder's dict, changed in place and returned) in ``theme``: what
    :meth:`explain.style.Theme.apply` sets on a plotly figure, set on the dict itself, so the
    widget and the page get the same figure without building a ``go.Figure`` per step.

    Heatmaps keep the colour scale their builder chose; lines take the theme's width unless the
    builder set one; axes get the theme's colours and room for their labels."""
    layout = figure.setdefault("layout", {})
    base = theme.layout()
    axis = base.pop("xaxis")
    base.pop("yaxis")
    for key, value in base.items():
        layout[key] = _merged(value, layout.get(key))
    for key in [k for k in layout if k.startswith(AXIS_KEYS)] or list(AXIS_KEYS):
        extra = {"ticklabelstandoff": max(2, theme.font_size // 4)} if key[0] == "x" else {}
        layout[key] = _merged({**axis, **extra}, layout.get(key))
    layout.setdefault("template", "none")
    for trace in figure.get("data", []):
        if trace.get("type") in ("heatmap", "contour"):
            colorbar = trace.setdefault("colorbar", {})
            colorbar["title"] = {"side": "right", **colorbar.get("title", {})}
        elif "lines" in str(trace.get("mode", "")):
            trace["line"] = {"width": theme.line_width, **trace.get("line", {})}
    return figure


def _merged(base: object, over: object) -> object:
    """``over`` laid on ``base`` (dicts merged key by key; anything else: ``over`` wins)."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merged(base.get(k), v) for k, v in over.items()}}
    return base if over is None else over


SAMPLED = 4096  # arrays larger than this are compared on a strided sample first


def same(a: object, b: object) -> bool:
    """Whether two pieces of figure JSON are equal (arrays by value, NaN equal to NaN)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        nan = a.dtype.kind in "fc"
        if a.size > SAMPLED and a.flags.c_contiguous and b.flags.c_contiguous:
            every = a.size // 1024  # a new step differs almost everywhere: say so early
            if not np.array_equal(a.reshape(-1)[::every], b.reshape(-1)[::every], equal_nan=nan):
                return False
        return bool(np.array_equal(a, b, equal_nan=nan))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return False
        try:
            if a == b:  # plain labels and numbers: one comparison, not one call per element
                return True
        except (TypeError, ValueError):  # arrays inside: compared below
            pass
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is not type(b) and not (
        isinstance(a, int | float | np.number) and isinstance(b, int | float | np.number)
    ):
        return False
    return bool(a == b)


def changes(old: dict, new: dict) -> tuple[dict[int, dict], dict]:
    """What differs from figure ``old`` to ``new`` (same traces): ``({trace: {key: value}},
    {layout key: value})``, None for a key that ``new`` no longer has."""
    traces: dict[int, dict] = {}
    for i, (before, after) in enumerate(zip(old["data"], new["data"], strict=True)):
        changed = {
            key: after.get(key)
            for key in {**before, **after}
            if not same(before.get(key), after.get(key))
        }
        if changed:
            traces[i] = changed
    before, after = old.get("layout", {}), new.get("layout", {})
    layout = {
        key: after.get(key)
        for key in {**before, **after}
        if not same(before.get(key), after.get(key))
    }
    return traces, layout


def same_traces(old: dict, new: dict) -> bool:
    """Whether ``new`` has the traces of ``old`` (count and types): then `changes` applies."""
    return [t.get("type") for t in old["data"]] == [t.get("type") for t in new["data"]]


def with_frames(
    shown: list[dict], at: dict[int, list[dict]], steps: Sequence[int], active: int
) -> list[dict]:
    """``shown`` (a view's figures at one step) with plotly frames and a step slider, from the
    same figures built at each frame index (``at``: index -> figures).

    A frame holds, for every trace and layout key that differs anywhere between frames, its
    value at that step; everything else stays as shown. A figure that never changes gets none.
    """
    indices = sorted(at)
    out = []
    for n, figure in enumerate(shown):
        trace_keys: dict[int, set[str]] = {}
        layout_keys: dict[str, set[str] | None] = {}  # key -> the sub-keys that vary, or all
        for i in indices:
            traces, layout = changes(figure, at[i][n])
            for t, keys in traces.items():
                trace_keys.setdefault(t, set()).update(keys)
            for key in layout:
                before, after = figure["layout"].get(key), at[i][n]["layout"].get(key)
                layout_keys[key] = _varying(before, after, layout_keys.get(key, set()))
        if not trace_keys and not layout_keys:
            out.append(figure)
            continue
        order = sorted(trace_keys)
        frames = []
        for i in indices:
            built = at[i][n]
            frame: dict = {
                "name": str(int(steps[i])),
                "data": [
                    {k: built["data"][t].get(k) for k in sorted(trace_keys[t])} for t in order
                ],
                "traces": order,
            }
            if layout_keys:
                frame["layout"] = {
                    key: _part(built["layout"].get(key), keys) for key, keys in layout_keys.items()
                }
            frames.append(frame)
        figure = {**figure, "frames": frames}
        controls = slider(steps, indices, active, figure["layout"].get("font"))
        figure["layout"] = {**figure["layout"], **controls}
        out.append(figure)
    return out


def _varying(before: object, after: object, known: set[str] | None) -> set[str] | None:
    """The sub-keys of a layout dict (a title, an axis) that differ, added to ``known``; None
    where the whole value must travel (not dicts on both sides, or a sub-key comes or goes)."""
    if known is None or not (isinstance(before, dict) and isinstance(after, dict)):
        return None
    if before.keys() != after.keys():
        return None
    return known | {k for k in after if not same(before[k], after[k])}


def _part(value: object, keys: set[str] | None) -> object:
    """``value`` cut to ``keys`` (a frame carries only what changes, e.g. a title's text, so
    the page's painter can paint it), or whole for None."""
    if keys is None or not isinstance(value, dict):
        return value
    return {k: value[k] for k in sorted(keys)}


def typed_arrays(value: object) -> object:
    """Figure JSON for a page: float arrays as plotly.js typed arrays (`typed`), other arrays as
    lists, numpy scalars as numbers."""
    if isinstance(value, np.ndarray):
        return typed(value) if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, dict):
        return {k: typed_arrays(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed_arrays(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
