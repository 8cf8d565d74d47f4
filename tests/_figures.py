"""One figure per view, the checks every view kind shares: what a widget shows is what
``explain.export.interactive`` gives for the same step and selection (less the page's slider),
and its PNG is drawn from the same view model by the view's one matplotlib builder."""

from __future__ import annotations

import base64
import json

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
    for ours, theirs in zip(shown, exported, strict=True):
        assert as_json(ours) == as_json(without_controls(theirs))


def assert_png_from_the_view_model(view, step: int | None, marker: bool = True, **state) -> None:
    """The PNG the widget's saved output keeps (``_static_images``) is the export of its view
    model (``view.data``, a registered type) at ``step`` with ``state``: the same bytes."""
    assert type(view.data) in REGISTRY
    ours = export.image(view.data, step, theme=view.theme, marker=marker, **state)
    assert ours[:8] == b"\x89PNG\r\n\x1a\n"
    pictures = view._static_images()
    assert pictures and pictures[0][0] == ours
