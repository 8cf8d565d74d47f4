"""One figure per view: what a widget shows is what ``explain.export.interactive`` gives for the
same step and selection (less the page's slider), and its PNG is drawn from the same view model
by the view's one matplotlib builder (the checks live in tests/_figures.py).
"""

from __future__ import annotations

import pytest
from _figures import assert_png_from_the_view_model, assert_same_figures
from _widget_traces import get_reverse_trace

from explain import export
from widgets import LossView


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
