"""Plotly building blocks shared by every view's plotly builder (widgets, exports, report).

Figures are plain dicts (no ``go.Figure`` validation: it costs seconds for many frames) with
arrays sent as typed base64 buffers. A step slider and a play button move through plotly
frames. Every string from a trace goes through `rules.label`: plotly renders a subset of HTML in
text, so ``<`` and ``&`` are escaped and a token like ``<b>`` shows as itself.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

import numpy as np

from explain.style import LIGHT, Theme

from ..rules import EVENT_COLOUR, PHASE_COLOUR, label, step_marker, tick_positions

FONT = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"


def typed(array: np.ndarray) -> dict:
    """A float32 array as plotly.js's typed-array spec (base64), far smaller than a list."""
    array = np.ascontiguousarray(array, dtype="<f4")
    return {
        "dtype": "f4",
        "bdata": base64.b64encode(array.tobytes()).decode("ascii"),
        "shape": ", ".join(map(str, array.shape)),
    }


def axis_ids(n: int) -> tuple[str, str]:
    return ("x", "y") if n == 1 else (f"x{n}", f"y{n}")


def grid(rows: int, cols: int, gap_x: float = 0.04, gap_y: float = 0.1) -> list[dict]:
    """Domains of a rows x cols grid of axes, row 0 on top: [{x, y, n}], n = axis number."""
    width = (1 - gap_x * (cols - 1)) / cols
    height = (1 - gap_y * (rows - 1)) / rows
    cells = []
    for r in range(rows):
        for c in range(cols):
            x0 = c * (width + gap_x)
            y1 = 1 - r * (height + gap_y)
            cells.append({"x": [x0, x0 + width], "y": [y1 - height, y1], "n": len(cells) + 1})
    return cells


def ticks(tokens: Sequence[str]) -> dict:
    """Token tick labels, every k-th past rules.MAX_TICK_LABELS (whole: tests/test_export.py reads
    them back as text)."""
    positions = tick_positions(len(tokens))
    return {
        "tickmode": "array",
        "tickvals": positions,
        "ticktext": [label(tokens[i]) for i in positions],
        "showgrid": False,
        "zeroline": False,
        "ticks": "",
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
        "font": {"size": 12},
    }


def slider(steps: Sequence[int], frames: Sequence[int], active: int) -> dict:
    """A step slider and play/pause buttons over plotly frames named by step."""
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
                "currentvalue": {"prefix": "step ", "font": {"size": 13}},
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


def frame_list(
    steps: Sequence[int], frames: Sequence[int], traces: list[int], data_at: Callable[[int], list]
) -> list[dict]:
    return [{"name": str(int(steps[i])), "data": data_at(int(i)), "traces": traces} for i in frames]


def layout(title: str, height: int, theme: Theme = LIGHT, **extra: object) -> dict:
    size = theme.font_size
    layout = {
        "title": {"text": label(title), "x": 0.01, "font": {"size": round(size * 1.25)}},
        "height": height,
        # margins grow with the text (the presentation theme's 20 px needs room for its labels)
        "margin": {"l": 5 * size, "r": 30, "t": 6 * size, "b": 9 * size},
        "font": {"family": FONT, "size": size - 1, "color": theme.foreground},
        "plot_bgcolor": theme.background,
        "paper_bgcolor": theme.background,
        "colorway": list(theme.colorway),
        "hoverlabel": {"font": {"family": FONT}},
    }
    layout.update(extra)
    for slider in layout.get("sliders", []):  # below the axis titles, however large the text
        slider["pad"] = {**slider.get("pad", {}), "t": 3 * size}
    for menu in layout.get("updatemenus", []):
        menu["pad"] = {**menu.get("pad", {}), "t": 3.5 * size}
    return layout


def initial(frames: Sequence[int], index: int) -> tuple[list[int], int]:
    """Frame indices including ``index``, and the slider position of ``index``."""
    frames = sorted(set(int(i) for i in frames) | {int(index)})
    return frames, frames.index(int(index))


def line(x: np.ndarray, y: np.ndarray, name: str, color: str, **extra: object) -> dict:
    keep = np.isfinite(np.asarray(y, float))
    return {
        "type": "scatter",
        "mode": "lines",
        "x": np.asarray(x)[keep].tolist(),
        "y": np.asarray(y, float)[keep].tolist(),
        "name": label(name),
        "line": {"color": color, "width": 1.4},
        **extra,
    }


def vertical(step: int | None, yref: str) -> list[dict]:
    """The step marker (:func:`explain._render.rules.step_marker`) on the axes of ``yref``."""
    return [] if step is None else [step_marker(step, f"{yref} domain")]


def loss_marks(
    events: Sequence, phases: Sequence, phase_yrefs: Sequence[str]
) -> tuple[list[dict], list[dict]]:
    """Shapes and annotations marking ``events`` (``.step``, ``.label``: dashed, on the loss
    panel ``y``) and the first step of ``phases`` (``.first_step``, ``.label``: solid, on each
    of ``phase_yrefs``) on a loss figure; the widget and the HTML export draw the same marks."""

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

    def text(step: int, caption: str, y: float, anchor: str, colour: str) -> dict:
        return {
            "x": step,
            "y": y,
            "xref": "x",
            "yref": "y domain",
            "text": label(caption),
            "textangle": -90,
            "xanchor": "left",
            "yanchor": anchor,
            "showarrow": False,
            "font": {"size": 10, "color": colour},
        }

    shapes = [line(e.step, "y domain", EVENT_COLOUR, "dash") for e in events]
    shapes += [
        line(p.first_step, yref, PHASE_COLOUR, "solid") for p in phases for yref in phase_yrefs
    ]
    notes = [text(e.step, e.label, 1, "top", EVENT_COLOUR) for e in events]
    notes += [text(p.first_step, p.label, 0, "bottom", PHASE_COLOUR) for p in phases]
    return shapes, notes
