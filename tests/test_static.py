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
import plotly.graph_objects as go
import pytest
from _widget_traces import get_reverse_trace, synthetic_attention_trace
from PIL import Image

import widgets
from explain.style import colorscale
from explain.trace import Trace
from widgets import AttentionView, Dashboard, EmbeddingView, LossView, View
from widgets._plot import base_figure
from widgets._static import figure_png, figure_title, plain_text, static_html

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


def near(pixel: np.ndarray, colour: tuple[int, int, int], tolerance: int = 6) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(colour)).max() <= tolerance)


def bare_layout(**layout) -> dict:
    """200 x 200 px, no margins, no tick labels: the plot area is the whole picture."""
    axis = {"showticklabels": False, "showgrid": False}
    base = {"template": "none", "width": 200, "height": 200}
    base["margin"] = {"l": 0, "r": 0, "t": 0, "b": 0}
    x_axis, y_axis = {**axis, **layout.pop("xaxis", {})}, {**axis, **layout.pop("yaxis", {})}
    return {**base, "xaxis": x_axis, "yaxis": y_axis, **layout}


# -- the renderer -----------------------------------------------------------------------------
@pytest.mark.parametrize("reversed_rows", [True, False])
def test_heatmap_draws_row_zero_on_top_only_when_reversed(reversed_rows):
    z = [[0.0, 1.0], [0.0, 0.0]]  # the maximum: row 0, column 1
    yaxis = {"autorange": "reversed"} if reversed_rows else {}
    heatmap = go.Heatmap(z=z, colorscale=colorscale("viridis"), showscale=False)
    image = pixels(figure_png(go.Figure(heatmap, layout=bare_layout(yaxis=yaxis))))
    assert image.shape == (200, 200, 3)
    quadrants = {"top-left": image[50, 50], "top-right": image[50, 150]}
    quadrants.update({"bottom-left": image[150, 50], "bottom-right": image[150, 150]})
    high = "top-right" if reversed_rows else "bottom-right"
    for name, pixel in quadrants.items():
        assert near(pixel, VIRIDIS_HIGH if name == high else VIRIDIS_LOW), (name, pixel)


def test_heatmap_colour_domain_zmid_and_nan_gaps():
    # zmid=0 centres the scale: 0.5 is then the top of [-0.5, 0.5], NaN shows the background
    z = [[-0.5, 0.0, 0.5, np.nan]]
    figure = go.Figure(
        go.Heatmap(z=z, zmid=0.0, colorscale=colorscale("puor"), showscale=False),
        layout=bare_layout(plot_bgcolor="#00ff00"),
    )
    row = pixels(figure_png(figure))[100]
    assert near(row[25], (127, 59, 8)) and near(row[75], (247, 247, 247), 2)
    assert near(row[125], (45, 0, 75)) and near(row[175], (0, 255, 0))


def test_heatmap_ticks_from_tickvals_and_ticktext():
    figure = go.Figure(
        go.Heatmap(z=np.eye(3), showscale=False),
        layout={"width": 300, "height": 300, "xaxis": {"tickvals": [0, 2], "ticktext": ["A", "B"]}},
    )
    without = go.Figure(figure)
    without.layout.xaxis.ticktext = ["A", "C"]
    assert figure_png(figure) != figure_png(without)  # the labels are drawn


def test_scatter_nan_breaks_the_line_and_shapes_draw_a_cursor():
    red, orange = (255, 0, 0), (0xD5, 0x5E, 0x00)
    line = go.Scatter(x=[0, 1, 2, 3, 4], y=[0, 0, None, 0, 0], mode="lines", line={"color": "red"})
    layout = bare_layout(xaxis={"range": [0, 4]}, yaxis={"range": [-1, 1]})
    layout["shapes"] = [  # the views' step cursor: a data x, paper y from bottom to top
        {"type": "line", "xref": "x", "yref": "paper", "x0": 3.5, "x1": 3.5, "y0": 0, "y1": 1,
         "line": {"color": "#D55E00", "width": 3}}
    ]  # fmt: skip
    image = pixels(figure_png(go.Figure(line, layout=layout)))
    middle = image[100]
    assert near(middle[25], red, 20) and near(middle[162], red, 20)  # x = 0.5 and 3.25
    assert near(middle[100], (255, 255, 255))  # x = 2: the None gap
    assert near(image[20, 175], orange, 20) and near(image[180, 175], orange, 20)
    assert not near(image[20, 100], orange, 60)


def test_log_axis_subplots_bars_contour_and_3d_draw_without_error():
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=2, specs=[[{}, {}], [{}, {"type": "scene"}]])
    figure.add_scatter(x=[1, 2, 3], y=[1e-4, 1e-2, 1.0], row=1, col=1)
    figure.update_yaxes(type="log", row=1, col=1)
    figure.add_bar(x=["a", "b", "c"], y=[3, 1, 2], row=1, col=2)
    x = np.linspace(-1, 1, 20)
    figure.add_contour(x=x, y=x, z=np.add.outer(x**2, x**2), contours={"coloring": "lines"},
                       row=2, col=1)  # fmt: skip
    figure.add_scatter3d(x=[0, 1], y=[1, 0], z=[0, 0], mode="markers+text", text=["p", "q"],
                         row=2, col=2)  # fmt: skip
    figure.update_layout(title={"text": "<b>four</b><br>kinds"}, annotations=[
        {"text": "note", "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}
    ])  # fmt: skip
    image = pixels(figure_png(figure))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 16
    # the same figure as JSON with typed arrays ({"dtype": "f8", "bdata": ...}) looks the same
    assert figure_png(figure.to_dict()) == figure_png(figure)


def test_unsupported_empty_and_odd_traces_are_skipped_not_raised():
    figure = go.Figure(
        [
            go.Pie(values=[1, 2]),
            go.Scatter(x=None, y=None),
            go.Scatter(x=[], y=[]),
            go.Heatmap(z=[[np.nan, np.nan]]),
            go.Scatter(y=[1, 2, 3], marker={"size": [4, 8, 12]}, mode="markers"),
        ]
    )
    assert figure_png(figure).startswith(PNG_SIGNATURE)
    assert figure_png(go.Figure()).startswith(PNG_SIGNATURE)


def test_dark_theme_colours_the_paper():
    figure = go.Figure(go.Scatter(y=[0, 1]), layout={"paper_bgcolor": "#111111"})
    assert near(pixels(figure_png(figure))[2, 2], (0x11, 0x11, 0x11))


def test_text_is_plain_never_markup_or_math():
    assert plain_text("a<br><b>b</b> &lt;x&gt; $y$") == "a\nb <x> $y$"
    figure = go.Figure(layout={"title": {"text": "attention &lt;b&gt; · step 3"}})
    assert figure_title(figure) == "attention <b> · step 3"
    # "$x$" drawn as text, not as math: different from the figure whose label is "x"
    labels = {"tickvals": [0, 1], "ticktext": ["$x$", "y"]}
    dollar = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout={"xaxis": labels})
    plain = go.Figure(dollar)
    plain.layout.xaxis.ticktext = ["x", "y"]
    assert figure_png(dollar) != figure_png(plain)
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
    """A test view on the base's default pictures: a heatmap of head 0 and a hidden plot."""

    css_class = "explain-two-plots"

    def __init__(self, trace: Trace, **kwargs) -> None:
        super().__init__(trace, **kwargs)
        shown = base_figure(width=300, height=300, title={"text": "<b>head</b> &lt;0&gt; $x$"})
        shown.add_heatmap(colorscale=colorscale("viridis"), zmin=0.0, zmax=1.0)
        self.shown = self._plot(shown)
        self.hidden = self._plot(base_figure(width=300, height=300))
        self.hidden.widget.layout.display = "none"
        self.widget = self._root([self.shown.widget, self.hidden.widget])
        self._ready()

    def _update(self) -> None:
        with self.shown.batch_update() as figure:
            figure.data[0].z = self.trace.tensor("blocks.0.attn.hook_pattern", self.step)[0]


def test_default_pictures_draw_the_shown_plots_titled_by_their_figures():
    view = TwoPlots(synthetic_attention_trace(), step=10)
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == "TwoPlots(step 10)"
    assert "A static picture of the TwoPlots at step 10" in bundle["text/html"]
    (png,) = check_bundle(bundle, "explain-two-plots")  # the hidden plot is left out
    assert png == view._static_images()[0][0]
    assert 'alt="head &lt;0&gt; &#36;x&#36;"' in bundle["text/html"]
    view.step = 20
    assert pictures(view._repr_mimebundle_()["text/html"]) != [png]


def test_html_is_skipped_when_excluded_and_a_failing_picture_keeps_the_widget(monkeypatch, caplog):
    view = TwoPlots(synthetic_attention_trace())
    assert "text/html" not in view._repr_mimebundle_(exclude={"text/html"})
    assert "text/html" not in view._repr_mimebundle_(include={WIDGET, "text/plain"})

    def broken(*args, **kwargs):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr("widgets._base.figure_png", broken)
    with caplog.at_level(logging.WARNING, logger="widgets._base"):
        bundle = view._repr_mimebundle_()
    assert WIDGET in bundle and "text/html" not in bundle
    assert "no static picture" in caplog.text
    monkeypatch.setattr(TwoPlots, "_static_images", broken)  # an override that raises
    bundle = view._repr_mimebundle_()
    assert WIDGET in bundle and bundle["text/plain"] == "TwoPlots(step 20)"


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
