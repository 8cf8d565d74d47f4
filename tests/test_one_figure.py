"""One figure per view: what a widget shows is what ``explain.export.interactive`` gives for the
same step and selection (less the page's slider), and its PNG is drawn from the same view model
by the view's one matplotlib builder (the checks live in tests/_figures.py).
"""

from __future__ import annotations

import pytest
from _figures import assert_png_from_the_view_model, assert_same_figures
from _widget_traces import get_reverse_trace

from explain import export
from widgets import AttentionView, LossView


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


# -- attention -------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_attention_view_shows_the_exported_figures(theme):
    trace = get_reverse_trace()
    view = AttentionView(trace, theme=theme)
    for step, layer, head in (
        (int(trace.snapshot_steps[2]), 0, 0),
        (int(trace.snapshot_steps[-1]), 1, 3),
    ):
        view.open_head(layer, head)
        view.step = step
        exported = export.interactive(
            trace, "attention", step=step, layer=layer, head=head, theme=theme
        )
        assert len(exported) == 2  # the head and the grid of every head
        assert_same_figures(view.figures(), exported)
        assert_png_from_the_view_model(view, step, **view.state())


def test_attention_grid_click_and_part_change_keep_the_figures_equal():
    from _widget_traces import get_translate_trace

    trace = get_translate_trace()
    view = AttentionView(trace, part="encoder")
    view.open_head(1, 1, part="cross")
    exported = export.interactive(trace, "attention", part="cross", layer=1, head=1, step=view.step)
    assert_same_figures(view.figures(), exported)


def test_the_attention_slide_has_the_notebook_panels():
    trace = get_reverse_trace()
    heatmap, grid = export.interactive(trace, "attention", layer=1, head=2)
    figure = export.figure(trace, "attention", layer=1, head=2)
    left, right = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"][:2]
    assert left.get_xlabel() == heatmap["layout"]["xaxis"]["title"]["text"] == "key"
    assert left.get_ylabel() == heatmap["layout"]["yaxis"]["title"]["text"] == "query"
    assert right.get_title() == grid["layout"]["title"]["text"]
    assert figure.get_suptitle() == heatmap["layout"]["title"]["text"]


# -- the builders' memo ----------------------------------------------------------------------
def test_the_memo_of_a_view_model_goes_with_it():
    """What the builders memoise (figure parts, grid mosaics, pattern scores) is freed with the
    view model: sixteen large views opened one after another do not stay in memory."""
    import gc
    import weakref

    from explain import views
    from explain._render import plotly

    trace = get_reverse_trace()
    data = views.attention(trace)
    for index in range(len(data.steps)):
        plotly.figures(data, index, layer=1, head=2)
    first = plotly.figures(data, 0)
    assert views.roles_of(data) is not None
    assert plotly.figures(data, 0)[1]["data"][0]["z"] is first[1]["data"][0]["z"]  # memoised
    alive, key = weakref.ref(data), id(data)
    del data, first
    gc.collect()
    assert alive() is None
    assert key not in views._common._MEMO
