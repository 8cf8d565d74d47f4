"""One figure per view, the embeddings and positional views: what the widget shows is what
``explain.export.interactive`` gives for the same step and selection (less the page's slider),
its PNG is the export of the same view model, and the matplotlib figure has the plotly
figures' panels and titles (the shared checks live in tests/_figures.py).
"""

from __future__ import annotations

import html

import numpy as np
import pytest
from _export_traces import XSS, synthetic_trace
from _figures import assert_png_from_the_view_model, assert_same_figures
from _widget_traces import get_reverse_trace, get_translate_trace

from explain import export, views
from explain._render import plotly as builders
from explain.style import LIGHT, visible
from widgets import EmbeddingView, PositionalView

THEMES = ["light", "presentation"]


def shown_titles(figures: list[dict]) -> list[str]:
    """Each figure's title as a person reads it (the escaping undone)."""
    return [html.unescape(f["layout"]["title"]["text"]) for f in figures]


def axes_titles(figure) -> list[str]:
    return [ax.get_title() for ax in figure.axes if ax.get_title()]


def assert_like_the_export(
    view, trace_or_data, what: str, step: int | None, theme: str, png: bool = True
) -> None:
    """The view's figures are the export's; with ``png``, its picture is too (~1 s each)."""
    exported = export.interactive(trace_or_data, what, step=step, theme=theme, **view.state())
    assert_same_figures(view.figures(), exported)
    if png:
        assert_png_from_the_view_model(view, step, marker=False, **view.state())


# -- embeddings ------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", THEMES)
def test_embedding_view_shows_the_exported_figures(theme):
    trace = get_reverse_trace()
    view = EmbeddingView(trace, step=int(trace.snapshot_steps[3]), theme=theme)
    assert_like_the_export(view, trace, "embeddings", view.step, theme, png=False)
    view.step = int(trace.snapshot_steps[-1])  # changed in place (Plot.show)
    assert_like_the_export(view, trace, "embeddings", view.step, theme)
    points, similarity = view.figures()
    assert [t["type"] for t in points["data"]] == ["scatter", "scatter"]  # trail, tokens
    assert len(points["data"][0]["x"]) > 0  # the paths so far, on by default
    assert similarity["data"][0]["type"] == "heatmap"


@pytest.mark.parametrize("theme", THEMES)
def test_embedding_selection_changes_follow_the_export(theme):
    trace = get_reverse_trace()
    view = EmbeddingView(trace, step=10, theme=theme)
    view.trails.value = False
    assert view.state() == {"dims": 2, "trails": False}
    assert len(view.scatter.figure.data[0].x) == 0
    assert_like_the_export(view, trace, "embeddings", 10, theme, png=False)
    view.dims_toggle.value = "3-D"
    view.step = 20
    assert view.state()["dims"] == 3
    assert [f["data"][0]["type"] for f in view.figures()] == ["scatter3d", "heatmap"]
    assert_like_the_export(view, trace, "embeddings", 20, theme)


def test_embedding_parts_and_theme_change_follow_the_export():
    trace = get_translate_trace()
    view = EmbeddingView(trace)
    view.matrix_select.value = "encoder.embed.W_E"
    assert_like_the_export(view, view.data, "embeddings", None, "light", png=False)
    view.set_theme("presentation")
    assert_like_the_export(view, view.data, "embeddings", None, "presentation")
    assert view.scatter3d.figure.layout.font.size == 20  # the hidden points follow the theme


def test_embedding_tokens_are_escaped_and_drawn_alike_in_matplotlib():
    trace = synthetic_trace()
    data = views.embeddings(trace)
    index = len(data.steps) - 1
    points, similarity = builders.figures(data, index, LIGHT)
    labels = points["data"][1]["text"]
    assert html.escape(visible(XSS), quote=False) in labels and XSS not in labels
    assert similarity["data"][0]["meta"]["hover_rows"] == labels
    # the same panels and titles in the PNG/SVG/PDF figure
    figure = export.figure(trace, "embeddings", step=int(data.steps[-1]))
    assert axes_titles(figure) == shown_titles([points, similarity])
    assert figure.axes[0].get_xlabel() == points["layout"]["xaxis"]["title"]["text"]
    assert figure.axes[0].get_ylabel() == points["layout"]["yaxis"]["title"]["text"]
    three = export.figure(trace, "embeddings")  # default state: 2-D, with paths
    assert len(three.axes[0].lines[2].get_xdata()) > 0  # after the two zero lines: the paths


def test_embedding_builder_refuses_bad_dims():
    data = views.embeddings(get_reverse_trace())
    with pytest.raises(ValueError, match="dims must be 2 or 3"):
        builders.figures(data, 0, LIGHT, dims=4)


# -- positional ------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", THEMES)
def test_positional_view_shows_the_exported_figures(theme):
    trace = synthetic_trace()  # a learned table: it changes with the step
    view = PositionalView(trace, step=2, theme=theme)
    assert_like_the_export(view, trace, "positional", 2, theme, png=False)
    view.step = 16  # changed in place (Plot.show)
    view.dims_select.value = (1, 3, 5)
    assert view.state() == {"dims": (1, 3, 5)}
    assert_like_the_export(view, trace, "positional", 16, theme)
    heatmap, curves, similarity = view.figures()
    assert [c["name"] for c in curves["data"] if c["visible"]] == ["dim 1", "dim 3", "dim 5"]
    assert shown_titles(view.figures())[2] == "cosine similarity of positions · step 16"


@pytest.mark.parametrize("theme", THEMES)
def test_positional_formula_without_a_trace_follows_the_export(theme):
    view = PositionalView(d_model=16, length=12, theme=theme)
    assert view.trace is None and view.data.formula
    assert_like_the_export(view, view.data, "positional", None, theme, png=False)
    view.length_slider.value = 20
    view.dims_select.value = (0, 7)
    assert_like_the_export(view, view.data, "positional", None, theme)
    titles = shown_titles(view.figures())
    assert titles[0] == "sinusoidal (formula) [20 x 16]" and not any("step" in t for t in titles)


def test_positional_trace_and_formula_toggle_and_theme_change():
    trace = get_reverse_trace()
    view = PositionalView(trace, step=10)
    view.source_toggle.value = "formula"
    assert_like_the_export(view, view.data, "positional", None, "light", png=False)
    view.source_toggle.value = "trace"
    view.step = 30
    view.set_theme("presentation")
    assert_like_the_export(view, trace, "positional", 30, "presentation")


def test_positional_matplotlib_draws_the_same_panels():
    trace = synthetic_trace()
    data = views.positional(trace)
    plotly_figures = builders.figures(data, 1, LIGHT, dims=(0, 2))
    figure = export.figure(trace, "positional", step=int(data.steps[1]))
    shown = builders.figures(data, 1, LIGHT)  # the default curves: the first four
    assert axes_titles(figure) == shown_titles(shown)
    drawn = export.image(data, int(data.steps[1]), dims=(0, 2))
    assert drawn[:8] == b"\x89PNG\r\n\x1a\n"
    names = [c["name"] for c in plotly_figures[1]["data"] if c["visible"]]
    assert names == ["dim 0", "dim 2"]
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_xlabel() for ax in panels] == [
        f["layout"]["xaxis"]["title"]["text"] for f in shown
    ]
    colours = [line.get_color() for line in panels[1].lines]
    assert colours == [c["line"]["color"] for c in shown[1]["data"] if c["visible"]]


def test_positional_builder_refuses_bad_dims():
    data = views.positional_formula(8, 4)
    with pytest.raises(ValueError, match=r"dims must be at most 8 dimensions in 0\.\.3"):
        builders.figures(data, 0, LIGHT, dims=(0, 9))
    heat = builders.figures(data, 0, LIGHT)[0]["data"][0]
    np.testing.assert_allclose(heat["z"], data.table[0], atol=1e-6)
