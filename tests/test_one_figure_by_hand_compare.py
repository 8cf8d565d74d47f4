"""One figure per view, the by-hand and compare views: what the widget shows is what
``explain.export.interactive(view.data, ...)`` gives (less the page's slider), and its static
picture is ``explain.export.image(view.data, ...)``, drawn by the view's one matplotlib builder
with the same panels and titles (the shared checks live in tests/_figures.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _figures import assert_png_from_the_view_model, assert_same_figures
from test_compare import make_trace

from explain import export, views
from explain._render import matplotlib as mpl
from explain._render import plotly as builders
from explain.by_hand import DEFAULT_K, DEFAULT_Q, DEFAULT_V
from explain.style import theme as as_theme
from widgets import ByHandView
from widgets.compare import CompareView


def drawn(data, step, theme, **state):
    """The matplotlib figure of ``data`` as ``export.image`` draws it."""
    theme = as_theme(theme)
    with mpl.style(theme):
        return mpl.draw(data, data.index(step), marker=True, theme=theme, **state).figure


def plotly_titles(figures: list[dict]) -> list[str]:
    return [f["layout"]["title"]["text"] for f in figures]


# -- by hand -----------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_by_hand_shows_the_exported_figures(theme):
    view = ByHandView(theme=theme)
    for query in (2, 0):  # the first after construction: Plot.show's in-place path
        view.query = query
        assert view.data.query == query
        exported = export.interactive(view.data, theme=theme)
        assert isinstance(exported, list) and len(exported) == 2
        assert_same_figures(view.figures(), exported)
        assert_png_from_the_view_model(view, None)
        for figure in view.figures():  # the explained row is outlined
            (outline,) = figure["layout"]["shapes"]
            assert (outline["y0"], outline["y1"]) == (query - 0.5, query + 0.5)


def test_by_hand_new_vectors_and_a_theme_change_stay_the_exported_figures():
    view = ByHandView()
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    view.set_vectors(q, k, v, tokens="the <cat> & dog", causal=False, query=1)
    assert view.data.tokens == ["the", "<cat>", "&", "dog"] and not view.data.causal
    assert_same_figures(view.figures(), export.interactive(view.data))
    assert_png_from_the_view_model(view, None)
    view.k_text.value = "1 0 0\n0 1 0\n0 0 1\n1 1 1"  # edited in the box
    np.testing.assert_allclose(view.data.k, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
    view.set_theme("presentation")
    assert_same_figures(view.figures(), export.interactive(view.data, theme="presentation"))
    assert_png_from_the_view_model(view, None)


def test_by_hand_matplotlib_draws_the_same_panels_titles_and_cells():
    data = views.by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V, tokens="I love pizza")
    figures = builders.figures(data, 0)
    figure = drawn(data, None, "light")
    panels = [ax for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == plotly_titles(figures)
    for ax, plotly_figure in zip(panels, figures, strict=True):
        cells = [t.get_text() for t in ax.texts]
        assert cells == [t for row in plotly_figure["data"][0]["text"] for t in row]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["I", "love", "pizza"]
    assert panels[0].texts[1].get_text() == "−∞" and panels[1].texts[6].get_text() == "0.80"


def test_by_hand_view_model_is_its_json():
    data = views.by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V, query=1)
    written = views.to_dict(data)
    assert written["what"] == "by_hand" and list(written)[1:] == list(data.FIELDS)
    assert written["query"] == 1 and written["steps"] == [0]
    with pytest.raises(ValueError, match=r"query must be a row index in \[0, 2\]; got 3"):
        data.with_query(3)


# -- compare -----------------------------------------------------------------------------------
@pytest.fixture
def runs():
    return (
        make_trace([0, 10, 20], seed=1, positional="none"),
        make_trace([0, 5, 15, 20, 30], seed=2, positional="rope"),
    )


@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_compare_shows_the_exported_figures(runs, theme):
    view = CompareView(*runs, theme=theme)
    for step in (5, 30):  # the first after construction: Plot.show's in-place path
        view.step = step
        exported = export.interactive(view.data, step=step, theme=theme)
        assert len(exported) == 3  # the curves, then one heatmap per run
        assert_same_figures(view.figures(), exported)
        assert_png_from_the_view_model(view, step)
    assert view.figures()[0]["layout"]["shapes"][0]["x0"] == 30  # the step marked


def test_compare_selection_changes_stay_the_exported_figures(runs):
    view = CompareView(*runs, names=["<A>", "B"], step=20)
    view.select(1, 2)
    view.metric = "val_accuracy"
    assert (view.data.layer, view.data.head, view.data.metric) == (1, 2, "val_accuracy")
    exported = export.interactive(view.data, step=20)
    assert_same_figures(view.figures(), exported)
    assert_png_from_the_view_model(view, 20)
    assert exported[1]["layout"]["title"]["text"].startswith("&lt;A&gt;<br>self L1 H2")
    view.set_theme("dark")
    assert_same_figures(view.figures(), export.interactive(view.data, step=20, theme="dark"))


def test_compare_page_frames_hold_each_step(runs):
    view = CompareView(*runs, step=0)
    exported = export.interactive(view.data, step=0)
    curves, first, second = exported
    assert [f["name"] for f in first["frames"]] == ["0", "5", "10", "15", "20", "30"]
    frame = first["frames"][2]  # step 10: run 0's own snapshot at 10
    assert "step 10" in frame["layout"]["title"]["text"]
    view.step = 10
    assert view.figures()[1]["layout"]["title"] == {
        **view.figures()[1]["layout"]["title"],
        "text": frame["layout"]["title"]["text"],
    }
    assert len(curves["frames"]) == 6  # the marker moves


def test_compare_matplotlib_draws_the_same_panels_and_titles(runs):
    view = CompareView(*runs, step=5, align="step")
    figures = view.figures()
    figure = drawn(view.data, 5, view.theme)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    expected = [t.replace("<br>", "\n") for t in plotly_titles(figures)]
    assert titles == expected
    heatmaps = [ax for ax in figure.axes if ax.images]
    for ax, pattern in zip(heatmaps, view.data.at(view.data.index(5)), strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), pattern)
    lines = [line for line in figure.axes[0].lines if line.get_label() in view.names]
    colours = [t["line"]["color"] for t in figures[0]["data"]]
    assert [line.get_color() for line in lines] == colours


def test_compare_view_model_reads_the_runs_once(runs):
    data = views.compare(runs, names=["a", "b"])
    assert data.steps.tolist() == [0, 5, 10, 15, 20, 30]
    assert data.shown_at(data.index(5)) == [0, 5] and data.shown_at(data.index(30)) == [20, 30]
    np.testing.assert_array_equal(data.shown_steps[:, 0], [0, 0, 10, 10, 20, 20])
    assert data.attention["self"][0][0].base is not None  # the trace's array, not a copy
    with pytest.raises(ValueError, match=r"head 3 is out of range; expected 0..2"):
        data.select(head=3)
    with pytest.raises(ValueError, match="metric 'lr' is not logged by every run"):
        data.select(metric="lr")
    written = views.to_dict(data, [1])
    assert written["what"] == "compare" and written["shown_steps"] == [[0, 5]]
