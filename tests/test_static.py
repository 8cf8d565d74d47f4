"""Static pictures in a view's mime bundle (widgets/_static.py): what a saved notebook shows on
GitHub, in nbviewer or after ``jupyter nbconvert --to html``, where no kernel runs the widget.

The pictures are checked by decoding them: colours at known places, not just "a PNG exists".
"""

from __future__ import annotations

import base64
import io
import logging
import re

import numpy as np
import pytest
from _widget_traces import get_reverse_trace, synthetic_attention_trace
from PIL import Image

import widgets
from explain import export, views
from explain._render import plotly as builders
from explain.trace import Trace
from widgets import AttentionView, Dashboard, EmbeddingView, LossView, View
from widgets._static import static_html

WIDGET = "application/vnd.jupyter.widget-view+json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = ["<script>alert(1)</script>", "$x$", "a&b", "ok"]
VIRIDIS_LOW, VIRIDIS_HIGH = (0x44, 0x01, 0x54), (0xFD, 0xE7, 0x25)


def pixels(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def pictures(html_text: str) -> list[bytes]:
    """The PNGs of the ``<img src="data:image/png;base64,...">`` in ``html_text``."""
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html_text)
    return [base64.b64decode(data) for data in found]


def check_bundle(bundle: dict, css_class: str) -> list[bytes]:
    """The bundle has the widget and text/html of real, non-blank pictures; returns them."""
    assert WIDGET in bundle and bundle[WIDGET]["model_id"]
    text = bundle["text/html"]
    assert "<script" not in text.lower()
    assert f'class="explain-static {css_class}"' in text
    assert "static picture" in text
    found = pictures(text)
    assert found and text.count("<img") == len(found)
    assert all(re.search(r'<img [^>]*alt="[^"]+"', tag) for tag in re.findall(r"<img[^>]*>", text))
    for png in found:
        image = pixels(png)
        colours = np.unique(image.reshape(-1, 3), axis=0)
        assert len(colours) > 8, "a blank or nearly blank picture"
    return found


def test_static_html_escapes_text_and_tex():
    html_text = static_html([(b"png", HOSTILE[0] + HOSTILE[1])], "explain-x", "a <b> $y$ caption")
    assert "<script>" not in html_text and "$" not in html_text and "<b>" not in html_text


# -- the views' bundles -----------------------------------------------------------------------
def hostile_trace() -> Trace:
    """A synthetic trace whose probe tokens and vocabulary hold markup and TeX."""
    trace = synthetic_attention_trace(layers=1, heads=2, tokens=4)
    rng = np.random.default_rng(0)
    meta = {**trace.meta, "probe": {"tokens": HOSTILE}, "vocab": HOSTILE}
    tensors = {name: trace.tensors[name] for name in trace.tensors}
    tensors["embed.W_E"] = rng.normal(size=(3, len(HOSTILE), 8)).astype(np.float32)
    steps = trace.snapshot_steps
    return Trace.from_arrays(meta, steps, {}, steps, tensors)


class TwoPlots(View):
    """A test view: a loss curve drawn by its builder, a picture of its view model."""

    css_class = "explain-two-plots"

    def __init__(self, trace: Trace, **kwargs) -> None:
        super().__init__(trace, **kwargs)
        self.data = views.loss(self.trace)
        self.shown = self._plot(self._figure())
        self.widget = self._root([self.shown.widget])
        self._ready()

    def _figure(self) -> dict:
        return builders.figures(self.data, self.data.index(self.step), self.theme)[0]

    def _update(self) -> None:
        self.shown.show(self._figure())

    def _static_images(self) -> list[tuple[bytes, str]]:
        png = export.image(self.data, self.step, theme=self.theme, marker=True)
        return [(png, f"{self.data.title} <b> $x$ · step {self.step}")]


def test_a_view_without_pictures_keeps_its_widget_and_text():
    view = View(synthetic_attention_trace(), step=10)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "View(step 10)" and "text/html" not in bundle


def test_pictures_are_the_view_model_drawn_and_alt_text_is_escaped():
    view = TwoPlots(get_reverse_trace(), step=10)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "TwoPlots(step 10)"
    assert "A static picture of the TwoPlots at step 10" in bundle["text/html"]
    (png,) = check_bundle(bundle, "explain-two-plots")
    assert png == export.image(view.data, 10, marker=True)  # the export's picture, exactly
    assert "&lt;b&gt; &#36;x&#36; · step 10" in bundle["text/html"]
    view.step = 20
    assert pictures(view._repr_mimebundle_()["text/html"]) != [png]


def test_html_is_skipped_when_excluded_and_a_failing_picture_keeps_the_widget(monkeypatch, caplog):
    view = TwoPlots(get_reverse_trace(), step=20)
    assert "text/html" not in view._repr_mimebundle_(exclude={"text/html"})
    assert "text/html" not in view._repr_mimebundle_(include={WIDGET, "text/plain"})

    def broken(*args, **kwargs):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(TwoPlots, "_static_images", broken)
    with caplog.at_level(logging.WARNING, logger="widgets._base"):
        bundle = view._repr_mimebundle_()
    assert WIDGET in bundle and "text/html" not in bundle
    assert bundle["text/plain"] == "TwoPlots(step 20)"
    assert "no static picture" in caplog.text


def test_synthetic_attention_view_bundle():
    view = AttentionView(synthetic_attention_trace(layers=2, heads=4, tokens=12))
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "AttentionView(step 20)"
    assert "at step 20" in bundle["text/html"]
    found = check_bundle(bundle, "explain-attention")
    assert max(len(png) for png in found) < 60_000


def test_changing_the_step_changes_the_pictures():
    view = AttentionView(synthetic_attention_trace(), step=0)
    before = pictures(view._repr_mimebundle_()["text/html"])
    view.step = 20
    after = pictures(view._repr_mimebundle_()["text/html"])
    assert len(before) == len(after) and all(b != a for b, a in zip(before, after, strict=True))
    loss = LossView(get_reverse_trace(), step=10)
    before = pictures(loss._repr_mimebundle_()["text/html"])
    loss.step = 30  # the cursor moves
    assert pictures(loss._repr_mimebundle_()["text/html"]) != before


def test_tokens_with_markup_or_tex_never_reach_the_html_unescaped():
    trace = hostile_trace()
    for view in (AttentionView(trace), EmbeddingView(trace)):
        bundle = view._repr_mimebundle_()
        check_bundle(bundle, view.css_class)
        text = bundle["text/html"]
        assert "<script>" not in text and "alert(1)</script>" not in text and "$x$" not in text


@pytest.mark.parametrize(
    "name", ["AttentionView", "LossView", "EmbeddingView", "PositionalView", "OptimizerView"]
)
def test_every_view_of_a_real_run_has_pictures(name):
    view = getattr(widgets, name)(get_reverse_trace(), step=20)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == f"{name}(step 20)"
    check_bundle(bundle, view.css_class)


def test_dashboard_bundle_holds_every_view():
    dashboard = Dashboard(get_reverse_trace())
    dashboard.step = 20
    bundle = dashboard._repr_mimebundle_()
    assert bundle["text/plain"] == "Dashboard(step 20)"
    found = check_bundle(bundle, "explain-dashboard")
    assert len(found) == sum(len(view._static_images()) for view in dashboard.views.values())
    assert len(found) >= len(dashboard.views)
