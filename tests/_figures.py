"""One figure per view, the checks every view kind shares: what a widget shows is what
``explain.export.interactive`` gives for the same step and selection (less the page's slider),
and its PNG is drawn from the same view model by the view's one matplotlib builder."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import plotly.graph_objects as go
import plotly.io

from explain import export
from explain._render import REGISTRY

CONTROLS = ("sliders", "updatemenus")


def as_json(figure: dict) -> dict:
    """A figure as plotly JSON, arrays decoded to lists (so arrays compare by value)."""
    text = plotly.io.to_json(go.Figure(figure), validate=False, engine="json")
    return _decoded(json.loads(text))


def _decoded(value):
    if isinstance(value, dict):
        if {"dtype", "bdata"} <= set(value):
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            shape = value.get("shape")
            if shape:
                array = array.reshape([int(n) for n in str(shape).split(",")])
            return array.tolist()
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def without_controls(figure: dict) -> dict:
    layout = {k: v for k, v in figure["layout"].items() if k not in CONTROLS}
    return {"data": figure["data"], "layout": layout}


def assert_same_figures(shown: list[dict], exported: dict | list[dict]) -> None:
    exported = exported if isinstance(exported, list) else [exported]
    assert len(shown) == len(exported)
    for number, (ours, theirs) in enumerate(zip(shown, exported, strict=True)):
        difference = first_difference(as_json(ours), as_json(without_controls(theirs)))
        assert difference is None, f"figure {number}: {difference}"


def first_difference(a: object, b: object, where: str = "") -> str | None:
    """Where two pieces of JSON first differ (None where they are equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key}: only in {'the view' if key in a else 'the export'}"
            found = first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items in the view, {len(b)} in the export"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None  # a gap in a heatmap, in both
    return None if a == b else f"{where}: {str(a)[:80]} in the view, {str(b)[:80]} in the export"


def assert_png_from_the_view_model(view, step: int | None, marker: bool = True, **state) -> None:
    """The PNG the widget's saved output keeps (``_static_images``) is the export of its view
    model (``view.data``, a registered type) at ``step`` with ``state``: the same bytes."""
    assert type(view.data) in REGISTRY
    ours = export.image(view.data, step, theme=view.theme, marker=marker, **state)
    assert ours[:8] == b"\x89PNG\r\n\x1a\n"
    pictures = view._static_images()
    assert pictures and pictures[0][0] == ours
