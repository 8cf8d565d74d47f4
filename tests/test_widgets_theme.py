"""Themes: presentation fonts, colour-blind-safe scales, light and dark."""

from __future__ import annotations

import pytest
from _widget_traces import synthetic_attention_trace

from widgets import DARK, LIGHT, PRESENTATION, AttentionView, PositionalView, Theme


def colorscale_name(trace) -> list:
    return [color for _, color in trace.colorscale]


def test_presentation_theme_changes_fonts_and_colours():
    view = AttentionView(synthetic_attention_trace())
    heat = view.heatmap.figure
    assert heat.layout.font.size == LIGHT.font_size
    viridis = colorscale_name(heat.data[0])
    view.set_theme(PRESENTATION)
    assert heat.layout.font.size == 20 and heat.layout.hoverlabel.font.size == 20
    assert colorscale_name(heat.data[0]) != viridis
    cividis_first = "#00224e"
    assert heat.data[0].colorscale[0][1] == cividis_first
    assert view.heatmap.widget.fig_layout["font"]["size"] == 20  # what the browser gets


def test_dark_theme_and_diverging_scale():
    view = PositionalView(theme=DARK)
    figure = view.heatmap.figure
    assert figure.layout.paper_bgcolor == DARK.background
    assert figure.layout.font.color == DARK.foreground
    assert figure.data[0].zmid == 0  # signed values get the diverging purple-orange scale
    ends = {figure.data[0].colorscale[0][1], figure.data[0].colorscale[-1][1]}
    assert ends == {"rgb(127,59,8)", "rgb(45,0,75)"}  # PuOr: orange to purple


def test_theme_validation():
    with pytest.raises(ValueError, match="colour-blind safe"):
        Theme(colorscale="jet")
    with pytest.raises(ValueError, match="font_size"):
        Theme(font_size=100)
    with pytest.raises(ValueError, match="must be a widgets.Theme"):
        AttentionView(synthetic_attention_trace(), theme="dark")
    assert Theme.presentation(dark=True).background == DARK.background
