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
