"""Themes: light, dark and presentation, by name or object; one colour scale per quantity."""

from __future__ import annotations

import pytest
from _widget_traces import synthetic_attention_trace

from explain import style
from widgets import DARK, LIGHT, PRESENTATION, AttentionView, PositionalView, Theme


def colours(trace) -> list:
    return [color for _, color in trace.colorscale]


def test_presentation_theme_changes_fonts_not_colour_scales():
    view = AttentionView(synthetic_attention_trace())
    heat = view.heatmap.figure
    assert heat.layout.font.size == LIGHT.font_size
    viridis = colours(heat.data[0])
    assert viridis == [color for _, color in style.COLORSCALES["viridis"]]
    view.set_theme("presentation")  # by name, as the dashboard's dropdown says it
    assert view.theme is PRESENTATION
    assert heat.layout.font.size == 20 and heat.layout.hoverlabel.font.size == 20
    assert colours(heat.data[0]) == viridis  # a slide looks like what the class saw
    assert view.heatmap.widget.fig_layout["font"]["size"] == 20  # what the browser gets


def test_dark_theme_and_diverging_scale():
    view = PositionalView(theme="dark")
    figure = view.heatmap.figure
    assert figure.layout.paper_bgcolor == DARK.background
    assert figure.layout.font.color == DARK.foreground
    assert figure.data[0].zmid == 0  # signed values get the diverging purple-orange scale
    ends = {figure.data[0].colorscale[0][1], figure.data[0].colorscale[-1][1]}
    assert ends == {"rgb(127,59,8)", "rgb(45,0,75)"}  # PuOr: orange to purple
    assert view.data.colorscale == "puor"


def test_theme_validation():
    with pytest.raises(ValueError, match="font_size"):
        Theme(font_size=100)
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        AttentionView(synthetic_attention_trace(), theme="jet")
    view = AttentionView(synthetic_attention_trace())
    with pytest.raises(ValueError, match="theme must be one of"):
        view.set_theme(12)
    assert view.theme is LIGHT  # a refused theme changes nothing
    assert Theme.presentation(dark=True).background == DARK.background
    assert sorted(style.THEMES) == ["dark", "light", "presentation"]


@pytest.fixture
def notebook_theme():
    """widgets.set_theme changes a process-wide default: put it back after the test."""
    import widgets

    yield widgets.set_theme
    widgets.set_theme(None)  # follow the page again, as a fresh kernel does


def test_set_theme_is_the_default_of_later_views_and_restyles_those_shown(notebook_theme):
    import widgets

    trace = synthetic_attention_trace()
    shown = AttentionView(trace)
    dashboard = widgets.Dashboard(trace)
    chosen = AttentionView(trace, theme="dark")
    style_ = notebook_theme("presentation")
    later = AttentionView(trace)
    assert widgets.default_theme() == PRESENTATION
    for view in (shown, dashboard, *dashboard.views.values(), chosen, later):
        assert view.theme == PRESENTATION, view
        assert "explain-large" in view.widget._dom_classes
        size = view.figures()[0]["layout"]["font"]["size"]
        assert size == PRESENTATION.font_size, (view, size)
    assert dashboard.theme_select.value == "presentation"
    assert AttentionView(trace, theme="light").theme == LIGHT  # a theme given still wins
    assert "font-size: 18px" in style_._repr_html_()  # printed text and markdown, larger
    assert "18px" not in notebook_theme("light")._repr_html_()
    assert AttentionView(trace).theme == LIGHT and shown.theme == LIGHT


def test_views_without_a_theme_follow_jupyterlab_until_the_notebook_sets_one(notebook_theme):
    """What widgets/plot.js reports of the page (dark theme, Presentation Mode) restyles the views
    made without a theme, and is the default of later ones; a given theme and set_theme win."""
    import widgets
    from widgets import _base

    trace = synthetic_attention_trace()
    shown, dashboard = AttentionView(trace), widgets.Dashboard(trace)
    chosen = AttentionView(trace, theme="light")
    try:
        _base.follow_page(dark=True, presentation=False)
        assert widgets.default_theme() == DARK and AttentionView(trace).theme == DARK
        for view in (shown, dashboard, *dashboard.views.values()):
            assert view.theme == DARK and "explain-dark" in view.widget._dom_classes, view
            assert view.figures()[0]["layout"]["paper_bgcolor"] == DARK.background
        assert chosen.theme == LIGHT  # a theme given stays
        _base.follow_page(dark=True, presentation=True)
        assert shown.theme.name == "presentation-dark" and shown.theme.dark
        assert dashboard.theme_select.value == "presentation-dark"  # named, not blank
        assert shown.figures()[0]["layout"]["font"]["size"] == PRESENTATION.font_size
        notebook_theme("light")  # the notebook chose: the page no longer decides
        _base.follow_page(dark=False, presentation=True)
        _base.follow_page(dark=True, presentation=False)
        assert shown.theme == LIGHT and AttentionView(trace).theme == LIGHT
        notebook_theme(None)  # follow again: the page as last reported
        assert shown.theme == DARK and dashboard.theme == DARK and chosen.theme == LIGHT
    finally:
        _base.follow_page(dark=False, presentation=False)


@pytest.fixture(scope="module")
def layout_views() -> dict:
    """The namespace of the layout test's notebook (tests/_layout_views.py) after its setup."""
    from _layout_views import setup

    namespace: dict = {}
    exec(setup(), namespace)  # noqa: S102 (our own test source)
    return namespace


@pytest.mark.parametrize("theme", ["presentation", "dark"])
def test_a_view_restyled_into_a_theme_is_the_view_made_in_it(layout_views, theme, notebook_theme):
    """The browser layout test measures each view made light, then restyled by set_theme: that
    stands for a view made in the theme only if the two draw the same figures and classes."""
    from _figures import as_json, first_difference
    from _layout_views import VIEWS

    for name, code in VIEWS:
        made = eval(code, {**layout_views, "kw": {"theme": theme}})  # noqa: S307
        restyled = eval(code, {**layout_views, "kw": {"theme": "light"}})  # noqa: S307
        before = [as_json(figure) for figure in restyled.figures()]
        restyled.set_theme(theme)
        after = [as_json(figure) for figure in restyled.figures()]
        assert first_difference(after, before), f"{name}: set_theme({theme!r}) changed nothing"
        made_figures = [as_json(figure) for figure in made.figures()]
        assert len(after) == len(made_figures), name
        for index, (a, b) in enumerate(zip(after, made_figures, strict=True)):
            difference = first_difference(a, b)
            assert difference is None, f"{name} figure {index}: {difference}"
        assert set(restyled.widget._dom_classes) == set(made.widget._dom_classes), name
        fonts = [[plot.widget.min_font for plot in view.plots] for view in (restyled, made)]
        assert fonts[0] == fonts[1], name  # the smallest font the page lets a plot draw
