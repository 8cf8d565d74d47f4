"""One figure per view, the generate view: what GenerateView shows is what
``explain.export.interactive(view.data)`` gives (less the page's slider over generated tokens),
frame ``i`` of that page is what the view showed after ``i`` tokens, and its static picture is
the export of the same view model by the view's one matplotlib builder."""

from __future__ import annotations

import html
import math

import numpy as np
import pytest
from _figures import as_json, assert_png_from_the_view_model, without_controls

from explain import export, views
from explain.tasks import CharTokenizer, WordTokenizer
from widgets.generate import GenerateView


@pytest.fixture
def char_model(make_model):
    return make_model(), CharTokenizer.from_text("abcdefghijk")


def _nan_as_none(value):
    """NaN (a cell a token never looked at) as None, so equal figures compare equal."""
    if isinstance(value, dict):
        return {k: _nan_as_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_as_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def assert_same_figures(shown, exported):
    """tests/_figures.py's check, with the attention map's NaN cells compared as equal."""
    exported = exported if isinstance(exported, list) else [exported]
    assert len(shown) == len(exported)
    for ours, theirs in zip(shown, exported, strict=True):
        assert _nan_as_none(as_json(ours)) == _nan_as_none(as_json(without_controls(theirs)))


def exported(view, step=None, **options):
    return export.interactive(view.data, step=step, theme=view.theme, **options)


@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_generate_view_shows_the_exported_figures(char_model, theme):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=1.3, top_k=4, theme=theme)
    assert_same_figures(view.figures(), exported(view))  # no token yet: one frame, no slider
    for tokens in (2, 5):  # in place (Plot.show): the figures grow a row and a column a token
        view.generate(tokens - len(view.generation.steps))
        assert view.data.steps.tolist() == list(range(tokens + 1))
        page = exported(view, step=tokens)
        assert_same_figures(view.figures(), page)
        assert all("sliders" in figure["layout"] for figure in page)  # over generated tokens
        assert_png_from_the_view_model(view, tokens)


def test_a_change_of_settings_or_head_redraws_like_the_export(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="ab", seed=2)
    view.generate(4)
    view.temperature, view.top_k = 0.6, 3
    view.layer_select.value, view.head_select.value = 1, 1
    assert (view.data.layer, view.data.head) == (1, 1)
    assert_same_figures(view.figures(), exported(view))
    assert "T = 0.6, top-k = 3" in view.bars.figure.layout.title.text
    assert view.attention.figure.layout.title.text == "self attention · layer 1 head 1"
    view.set_theme("presentation")
    assert_same_figures(view.figures(), exported(view))
    assert_png_from_the_view_model(view, 4)


def test_each_frame_of_the_page_is_the_view_after_that_many_tokens(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=1.5, seed=3)
    view.generate(2)
    view.temperature = 0.5  # the last tokens are drawn with other settings
    view.generate(2)
    page = exported(view, step=4)
    for tokens in range(5):
        earlier = GenerateView(model, tokenizer, prompt="abc", temperature=1.5, seed=3)
        earlier.generate(min(tokens, 2))
        if tokens > 2:
            earlier.temperature = 0.5
            earlier.generate(tokens - 2)
        elif tokens == 2:
            earlier.temperature = 0.5
        assert_same_figures(earlier.figures(), exported(view, step=tokens))
        frame = page[0]["frames"][tokens]
        assert frame["name"] == str(tokens)
        assert frame["layout"]["title"]["text"] == earlier.bars.figure.layout.title.text
    assert [frame["name"] for frame in page[1]["frames"]] == ["0", "1", "2", "3", "4"]


def test_a_rejected_prompt_keeps_the_view_model(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="ab", temperature=1.5, seed=4)
    view.generate(3)
    data, shown = view.data, view.figures()
    view.prompt = "aZ"
    assert view.error and view.data is data
    assert_same_figures(shown, exported(view))


def test_a_view_with_no_valid_prompt_exports_its_empty_figures(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="")
    assert view.data.bar_ids.shape == (1, 0) and view.data.steps.tolist() == [0]
    assert_same_figures(view.figures(), exported(view))
    assert view.bars.figure.layout.title.text == "next token: (no valid prompt)"
    assert_png_from_the_view_model(view, 0)


def test_cross_attention_of_an_encoder_decoder_is_the_exported_figure(make_model):
    model = make_model(kind="encoder-decoder")
    tokenizer = WordTokenizer(["<pad>", "<bos>", "<eos>", *"abcdefgh"])
    view = GenerateView(model, tokenizer, prompt="a b c d", temperature=0.0)
    view.generate(3)
    assert view.data.part == "cross" and view.data.columns == ["a", "b", "c", "d"]
    assert_same_figures(view.figures(), exported(view))
    view.part_select.value = "decoder"
    assert_same_figures(view.figures(), exported(view))
    assert_png_from_the_view_model(view, len(view.generation.steps))


def test_the_picture_has_the_panels_titles_and_colours_of_the_figures(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=0.8, top_k=5)
    view.generate(3)
    picture = export.figure(view.data, step=3)
    bars, attention = picture.axes[:2]
    titles = [html.unescape(f["layout"]["title"]["text"]) for f in view.figures()]
    assert [bars.get_title(), attention.get_title()] == titles
    assert (bars.get_ylabel(), attention.get_xlabel(), attention.get_ylabel()) == (
        "probability",
        "position",
        "new token",
    )
    colours = [bar.marker.color for bar in view.bars.figure.data]
    grey, blue = (container.patches[0].get_facecolor() for container in bars.containers)
    assert colours == ["#BBBBBB", "#0072B2"]
    assert np.allclose(grey[:3], [0xBB / 255] * 3) and np.allclose(
        blue[:3], [0, 0x72 / 255, 0xB2 / 255]
    )
    heights = [[p.get_height() for p in c.patches] for c in bars.containers]
    assert np.allclose(heights, [bar.y for bar in view.bars.figure.data])
    z = np.asarray(view.attention.figure.data[0].z, dtype=float)
    assert np.array_equal(attention.images[0].get_array().filled(np.nan), z, equal_nan=True)
    ticks = [t.get_text() for t in attention.get_yticklabels()]
    assert ticks == list(view.attention.figure.layout.yaxis.ticktext)


def test_the_view_model_is_json_and_refuses_a_step_it_has_not(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=0.0)
    view.generate(2)
    data = views.to_dict(view.data, [2])
    assert data["what"] == "generate" and len(data["sampled_probs"]) == 1
    assert data["rows"] == view.data.rows and len(data["attention"]) == 2
    with pytest.raises(ValueError, match=r"expected 0\.\.2"):
        view.data.index(3)
