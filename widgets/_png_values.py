"""Plotly's values read for matplotlib, for the static pictures (:mod:`widgets._png_page`).

A figure's traces and layout as plain dicts (:func:`_spec`), nested settings (:func:`_get`),
arrays from lists or plotly's typed-array dicts (:func:`_array`), numbers, CSS colours and
colour scales as matplotlib takes them, and label markup as plain text (:func:`plain_text`).
Nothing here draws; nothing here imports another module of the package.

    >>> plain_text("a<br><b>b</b> &lt;")
    'a\\nb <'
    >>> _array({"bdata": "AAEC", "dtype": "u1"})
    array([0, 1, 2], dtype=uint8)
"""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Any

import numpy as np

# fmt: off
DEFAULT_SCALE = ((0, "rgb(5,10,172)"), (0.35, "rgb(106,137,220)"), (0.5, "rgb(190,190,190)"),
                 (0.6, "rgb(220,170,132)"), (0.7, "rgb(230,145,90)"), (1, "rgb(178,10,24)"))  # RdBu
_TYPED = {"i1": np.int8, "u1": np.uint8, "u1c": np.uint8, "i2": np.int16, "u2": np.uint16,
          "i4": np.int32, "u4": np.uint32, "f4": np.float32, "f8": np.float64}
# fmt: on
_TAG, _BREAK = re.compile(r"<[^>]*>"), re.compile(r"<br\s*/?>", re.IGNORECASE)


# -- text and values --------------------------------------------------------------------------
def plain_text(value: Any) -> str:
    """Plotly's label markup as plain text: ``<br>`` a newline, other tags dropped, entities
    unescaped (``"a<br><b>b</b> &lt;"`` -> ``"a\\nb <"``)."""
    if value is None:
        return ""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", str(value))))


def _mpl(value: Any) -> str:
    """A label for matplotlib: plain text whose ``$`` never starts math."""
    return plain_text(value).replace("$", r"\$")


def _spec(figure: Any) -> tuple[list[dict], dict]:
    """(traces, layout) as plain dicts, without ``to_plotly_json``'s deep copy of every array."""
    data, layout = getattr(figure, "_data", None), getattr(figure, "_layout", None)
    if isinstance(data, list) and isinstance(layout, dict):
        return data, layout
    if not isinstance(figure, dict):
        figure = figure.to_plotly_json()
    return list(figure.get("data") or []), dict(figure.get("layout") or {})


def _get(container: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(container, dict) or container.get(key) is None:
            return default
        container = container[key]
    return container


def _array(value: Any) -> np.ndarray | None:
    """An array from a list, tuple, numpy array or plotly typed-array dict (None if empty)."""
    if value is None or isinstance(value, str | bytes):
        return None
    if isinstance(value, dict):
        if "bdata" not in value:
            return None
        raw = base64.b64decode(value["bdata"])
        array = np.frombuffer(raw, dtype=_TYPED.get(str(value.get("dtype")), np.float64))
        if value.get("shape") is not None:
            array = array.reshape([int(s) for s in str(value["shape"]).strip("[]()").split(",")])
    else:
        try:
            array = np.asarray(value)
        except ValueError:  # ragged
            return None
        if array.dtype == object:  # numbers with None gaps -> NaN; anything else -> text
            flat = [np.nan if v is None else v for v in array.ravel()]
            try:
                array = np.array(flat, dtype=np.float64).reshape(array.shape)
            except (TypeError, ValueError):
                array = np.array([str(v) for v in flat], dtype=object).reshape(array.shape)
    return array if array.size else None


def _numbers(array: np.ndarray | None) -> bool:
    return array is not None and array.dtype.kind in "fiub"


def _number(value: Any, default: float) -> float:
    """``value`` as a finite float, else ``default`` (e.g. for an array of per-point sizes)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return default
    return float(value) if math.isfinite(value) else default


def _color(value: Any, default: Any = None) -> Any:
    """A CSS colour (hex, name, ``rgb()``, ``rgba()``) as an RGBA tuple, else ``default``'s."""
    from matplotlib.colors import to_rgba

    if isinstance(value, str):
        text = value.strip().lower()
        match = re.fullmatch(r"rgba?\(([^)]*)\)", text)
        try:
            if not match:
                return to_rgba(text)
            parts = [float(p.strip().rstrip("%")) for p in match.group(1).split(",")]
            if len(parts) in (3, 4):
                alpha = min(max(parts[3], 0.0), 1.0) if len(parts) == 4 else 1.0
                return (*(min(max(p / 255, 0.0), 1.0) for p in parts[:3]), alpha)
        except ValueError:
            pass
    return default if default is None or isinstance(default, tuple) else _color(default)


def _colormap(stops: Any) -> Any:
    """A matplotlib colormap from plotly colorscale stops ``[[0, c0], ..., [1, cn]]`` or a name."""
    from matplotlib.colors import LinearSegmentedColormap

    if isinstance(stops, str):
        import plotly.colors

        try:
            stops = plotly.colors.get_colorscale(stops)
        except Exception:
            stops = None
    pairs = [
        (float(stop[0]), _color(stop[1]))
        for stop in (stops if isinstance(stops, list | tuple) else ())
        if isinstance(stop, list | tuple) and len(stop) == 2 and _color(stop[1]) is not None
    ]
    if len(pairs) < 2:
        pairs = [(float(p), _color(c)) for p, c in DEFAULT_SCALE]
    cmap = LinearSegmentedColormap.from_list("plotly", pairs, N=256)
    cmap.set_bad((0, 0, 0, 0))  # NaN gaps: the plot background shows through
    return cmap
