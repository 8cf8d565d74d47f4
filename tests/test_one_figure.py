"""One figure per view: what a widget shows is what ``explain.export.interactive`` gives for the
same step and selection (less the page's slider), and its PNG is drawn from the same view model
by the view's one matplotlib builder.

Each view kind adds a case: build the widget, move it to a step (and a selection), compare.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pytest
from _widget_traces import get_reverse_trace

from explain import export
from explain._render import REGISTRY
from explain._render import matplotlib as mpl
from widgets import LossView

CONTROLS = ("sliders", "updatemenus")


def as_json(figure: dict) -> dict:
    """A figure as plotly JSON, arrays decoded to lists (so arrays compare by value)."""
    text = plotly.io.to_json(go.Figure(figure), validate=False, engine="json")
    return _decoded(json.loads(text))


def _decoded(value):
    if isinstance(value, dict):
        if {"dtype", "bdata"} <= set(value):
            array = np.frombuffer(
                __import__("base64").b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])
            )
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


def assert_png_from_the_view_model(view, step: int, **state) -> None:
    """The PNG the widget's saved output keeps is drawn by the view model's registered
    matplotlib builder (the same bytes as drawing it here)."""
    assert type(view.data) in REGISTRY
    ours = export.image(view.data, step, theme=view.theme, marker=True, **state)
    drawn = mpl.draw(view.data, view.data.index(step), True, view.theme, **state)
    assert drawn.figure is not None
    assert ours[:8] == b"\x89PNG\r\n\x1a\n"
    pictures = view._static_images()
    assert pictures and pictures[0][0] == ours


# -- loss ------------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_loss_view_shows_the_exported_figure(theme):
    trace = get_reverse_trace()
    view = LossView(trace, theme=theme)
    for step in (int(trace.snapshot_steps[3]), int(trace.snapshot_steps[-1])):
        view.step = step
        exported = export.interactive(trace, "loss", step=step, theme=theme)
        assert_same_figures(view.figures(), exported)
        assert_png_from_the_view_model(view, step)


def test_loss_view_follows_a_theme_change_like_the_export():
    trace = get_reverse_trace()
    view = LossView(trace)
    view.set_theme("presentation")
    exported = export.interactive(trace, "loss", step=view.step, theme="presentation")
    assert_same_figures(view.figures(), exported)


def test_three_panels_in_the_notebook_and_on_the_slide():
    trace = get_reverse_trace()
    layout = export.interactive(trace, "loss")["layout"]
    panels = sorted(
        layout[k]["domain"][0] for k in layout if k.startswith("yaxis") and "domain" in layout[k]
    )
    assert len(panels) == 3  # loss, learning rate, gradient norm, stacked
    figure = export.figure(trace, "loss")
    assert len([ax for ax in figure.axes if ax.get_ylabel() in ("loss", "lr", "grad norm")]) == 3
