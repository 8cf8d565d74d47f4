"""AttentionView: the heatmap and grid show the trace's numbers after each control change."""

from __future__ import annotations

import html

import numpy as np
import pytest
from _widget_traces import get_reverse_trace, get_translate_trace, synthetic_attention_trace

from explain.trace import Trace
from widgets import AttentionView


def synced_z(plot, trace_index: int = 0) -> np.ndarray:
    """The heatmap z as the browser receives it (the widget's synced state, decoded)."""
    z = plot.widget.fig_data[trace_index]["z"]
    return np.frombuffer(z["buffer"], dtype=z["dtype"]).reshape(z["shape"])


def click(plot, x: float, y: float) -> None:
    """What the browser sends when a point of ``plot`` is clicked."""
    message = {"event": "click", "points": [{"curve": 0, "x": x, "y": y, "index": [y, x]}]}
    plot.widget._handle_custom_msg(message, [])


def test_controls_select_layer_head_and_step():
    reverse_trace = get_reverse_trace()
    view = AttentionView(reverse_trace)
    view.layer_select.value = 1
    view.head_select.value = 2
    view.step_control.slider.value = 40
    expected = reverse_trace.tensor("blocks.1.attn.hook_pattern", 40)[2]
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, expected)
    np.testing.assert_array_equal(synced_z(view.heatmap), expected)
    view.step = 3
    np.testing.assert_array_equal(
        synced_z(view.heatmap), reverse_trace.tensor("blocks.1.attn.hook_pattern", 3)[2]
    )
    assert "layer 1 head 2 · step 3" in view.heatmap.figure.layout.title.text


def test_heatmap_axes_show_tokens_row_zero_on_top():
    reverse_trace = get_reverse_trace()
    view = AttentionView(reverse_trace)
    layout = view.heatmap.figure.layout
    tokens = reverse_trace.probe_tokens
    assert layout.yaxis.autorange == "reversed"
    assert list(layout.xaxis.tickvals) == list(range(len(tokens)))
    escaped = [html.escape(t) for t in tokens]  # e.g. ">" -> "&gt;" (plotly renders markup)
    assert list(layout.yaxis.ticktext) == escaped  # repeated tokens keep their own positions
    assert len(set(tokens)) < len(tokens)
    meta = view.heatmap.widget.fig_data[0]["meta"]
    assert meta["hover_rows"] == escaped and meta["hover_cols"] == escaped
    assert "%{z}" in view.heatmap.figure.data[0].hovertemplate  # the exact weight


def test_grid_click_opens_that_head_and_thumbnails_are_block_means():
    trace = synthetic_attention_trace(layers=3, heads=2, tokens=70)
    view = AttentionView(trace, step=10)
    cell = 32 + 1  # 70 tokens -> 32 x 32 thumbnails plus a gap
    click(view.grid, x=cell + 5, y=2 * cell + 7)  # head 1 of layer 2
    assert (view.layer, view.head) == (2, 1)
    full = trace.tensor("blocks.2.attn.hook_pattern", 10)[1]
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, full)
    mosaic = synced_z(view.grid)
    assert mosaic.shape == (3 * cell - 1, 2 * cell - 1)
    edges = np.linspace(0, 70, 33).round().astype(int)  # independent block averaging
    thumb = np.array(
        [
            [full[edges[i] : edges[i + 1], edges[j] : edges[j + 1]].mean() for j in range(32)]
            for i in range(32)
        ]
    )
    np.testing.assert_allclose(mosaic[2 * cell : 2 * cell + 32, cell : cell + 32], thumb, rtol=1e-5)
    assert np.isnan(mosaic[32, :]).all()  # the gap between layer rows
    shape = view.grid.figure.layout.shapes[0]
    assert (shape.x0, shape.y0) == (cell - 0.5, 2 * cell - 0.5)


def test_play_animates_the_step():
    reverse_trace = get_reverse_trace()
    view = AttentionView(reverse_trace, step=0)
    control = view.step_control
    control.play.value = 5  # the browser's play button advancing
    assert view.step == control.steps[5]
    control.next.click()
    assert view.step == control.steps[6]
    np.testing.assert_array_equal(
        synced_z(view.heatmap), reverse_trace.tensor("blocks.0.attn.hook_pattern", view.step)[0]
    )


def test_encoder_decoder_parts():
    translate_trace = get_translate_trace()
    view = AttentionView(translate_trace)
    assert list(view.parts) == ["encoder", "decoder", "cross"]
    probe = translate_trace.meta["probe"]
    view.open_head(1, 3, part="cross")
    z = view.heatmap.figure.data[0].z
    np.testing.assert_array_equal(
        z, translate_trace.tensor("decoder.blocks.1.cross.hook_pattern", view.step)[3]
    )
    assert z.shape == (len(probe["tokens"]), len(probe["source_tokens"]))
    assert list(view.heatmap.figure.layout.xaxis.ticktext) == probe["source_tokens"]
    view.part_select.value = "encoder"
    np.testing.assert_array_equal(
        synced_z(view.heatmap),
        translate_trace.tensor("encoder.blocks.1.attn.hook_pattern", view.step)[3],
    )
    with pytest.raises(ValueError, match="expected one of"):
        view.open_head(0, 0, part="self")


def test_from_attentions_numpy_and_torch():
    rng = np.random.default_rng(1)
    raw = (rng.random((1, 2, 5, 5)).astype(np.float32) for _ in range(3))
    layers = tuple(layer / layer.sum(axis=-1, keepdims=True) for layer in raw)  # rows sum to 1
    tokens = ["[CLS]", "a", "<b>", "a", "[SEP]"]
    view = AttentionView.from_attentions(layers, tokens)
    view.open_head(2, 1)
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, layers[2][0, 1])
    assert "&lt;b&gt;" in view.heatmap.figure.layout.xaxis.ticktext  # escaped for SVG
    torch = pytest.importorskip("torch")
    tensors = tuple(torch.from_numpy(layer).requires_grad_() for layer in layers)
    view = AttentionView.from_attentions(tensors, tokens)
    view.open_head(1, 0)
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, layers[1][0, 0])


def test_attention_given_as_it_is_names_no_training_step():
    """A from_attentions view shows a model as given: its titles name no step (it was "step 0"
    over trained attention); a trace's views name theirs, in the widget, the PNG's alt text and
    the export alike."""
    from explain import export

    layers = [np.full((1, 2, 4, 4), 0.25, np.float32)] * 2
    given = AttentionView.from_attentions(layers, ["a", "b", "c", "d"])
    titles = [given.figures()[0]["layout"]["title"]["text"], given.pictures()[0][1]]
    titles.append(export.figure(given.data.source, "attention").texts[0].get_text())
    assert all("layer 0 head 0" in t and "step" not in t for t in titles), titles
    trained = AttentionView(get_reverse_trace())
    shown = trained.figures()[0]["layout"]["title"]["text"]
    assert shown.endswith(f"layer 0 head 0 · step {trained.step}"), shown


UNIFORM = np.full((1, 2, 3, 3), 1 / 3)  # [1, heads, T, T], rows sum to 1


@pytest.mark.parametrize(
    ("attention", "tokens", "message"),
    [
        ((), ["a"], "non-empty sequence"),
        (
            (np.concatenate([UNIFORM, UNIFORM]),),
            list("abc"),
            r"expected \(1, heads, 3, 3\): batch 1",
        ),
        ((UNIFORM, UNIFORM[:, :1]), list("abc"), r"\[1\] has shape \(1, 1, 3, 3\)"),
        ((UNIFORM,), list("ab"), r"expected \(1, heads, 2, 2\)"),
        ((np.full((1, 2, 3, 3), np.nan),), list("abc"), "NaN or infinite"),
        ((np.ones((1, 2, 3, 3)),), list("abc"), "rows must be >= 0 and sum to 1"),
        ((UNIFORM,), "abc", "list of strings"),
    ],
)
def test_from_attentions_bad_input(attention, tokens, message):
    with pytest.raises(ValueError, match=message):
        AttentionView.from_attentions(attention, tokens)


def test_bad_traces_and_steps():
    trace = synthetic_attention_trace()
    with pytest.raises(ValueError, match="empty"):
        AttentionView(Trace())
    with pytest.raises(ValueError, match="expected an explain Trace"):
        AttentionView({"blocks.0.attn.hook_pattern": np.ones((1, 1, 2, 2))})
    with pytest.raises(ValueError, match="has no snapshot"):
        AttentionView(trace, step=5)
    view = AttentionView(trace)
    with pytest.raises(ValueError, match="has no snapshot"):
        view.step = 11
    with pytest.raises(ValueError, match="out of range"):
        view.open_head(0, 3)
    with pytest.raises(ValueError, match=r"shape \(3, 3, 6, 6\) but there are 2 query and 2 key"):
        AttentionView(trace, tokens=["a", "b"])
    tensors = dict(trace.tensors)
    bad = np.array(tensors["blocks.1.attn.hook_pattern"])
    bad[2, 0, 3, 1] = np.inf
    tensors["blocks.1.attn.hook_pattern"] = bad
    broken = Trace.from_arrays(trace.meta, trace.steps, {}, trace.snapshot_steps, tensors)
    with pytest.raises(
        ValueError, match=r"blocks.1.attn.hook_pattern holds NaN or inf.*\(2, 0, 3, 1\)"
    ):
        AttentionView(broken)
    no_attention = Trace.from_arrays({}, [0], {}, [0], {"embed.W_E": np.ones((1, 3, 2))})
    with pytest.raises(ValueError, match="no attention patterns"):
        AttentionView(no_attention)


def test_long_input_sends_thumbnails_and_one_full_head():
    trace = synthetic_attention_trace(layers=2, heads=2, tokens=200, steps=(0,))
    view = AttentionView(trace)
    assert synced_z(view.heatmap).shape == (200, 200)
    assert synced_z(view.grid).shape == (2 * 33 - 1, 2 * 33 - 1)
    assert len(view.heatmap.figure.layout.xaxis.tickvals) <= 64
