"""CompareView: shared step, nearest snapshots, overlaid curves, side-by-side attention."""

from __future__ import annotations

import numpy as np
import pytest

from explain.style import colorscale
from explain.trace import Trace
from widgets import View
from widgets.compare import CompareView


def make_trace(snapshot_steps, seed, positional="sinusoidal", layers=2, heads=3, tokens=5):
    """A causal random-attention trace with a 'loss' at every step, like a recorded one."""
    rng = np.random.default_rng(seed)
    snaps = list(snapshot_steps)
    steps = np.arange(snaps[-1] + 1)
    tensors = {}
    for layer in range(layers):
        raw = np.tril(rng.random((len(snaps), heads, tokens, tokens)) + 1e-3)
        tensors[f"blocks.{layer}.attn.hook_pattern"] = raw / raw.sum(-1, keepdims=True)
    val = np.full(len(steps), np.nan)
    val[::5] = rng.random(len(steps[::5]))
    meta = {
        "model_config": {"n_layers": layers, "n_heads": heads, "positional": positional},
        "train_config": {"lr": 0.003},
        "probe": {"tokens": [f"t{i}" for i in range(tokens)]},
    }
    scalars = {"loss": 3.0 / (1 + steps + seed), "val_accuracy": val}
    return Trace.from_arrays(meta, steps, scalars, snaps, tensors)


@pytest.fixture
def two():
    return make_trace([0, 10, 20], seed=1, positional="none"), make_trace(
        [0, 5, 15, 20, 30], seed=2, positional="rope"
    )


def test_shared_step_uses_each_runs_nearest_snapshot(two):
    a, b = two
    view = CompareView(a, b)
    assert view.step_control.steps == [0, 5, 10, 15, 20, 30] and view.step == 30
    assert view.names == ["positional=none", "positional=rope"]
    assert view.shown_steps() == [20, 30]  # a ends at 20: it shows its last snapshot
    view.step = 5
    assert view.shown_steps() == [0, 5]  # 5 is as near to 0 as to 10: ties go earlier
    np.testing.assert_array_equal(
        view.heatmaps[0].figure.data[0].z, a.tensors["blocks.0.attn.hook_pattern"][0, 0]
    )
    np.testing.assert_array_equal(
        view.heatmaps[1].figure.data[0].z, b.tensors["blocks.0.attn.hook_pattern"][1, 0]
    )
    assert "step 0 (nearest to 5)" in view.heatmaps[0].figure.layout.title.text
    assert "step 5" in view.heatmaps[1].figure.layout.title.text
    assert "nearest" not in view.heatmaps[1].figure.layout.title.text
    view.step = 15
    assert view.shown_steps() == [10, 15]
    with pytest.raises(ValueError, match="step 7 has no snapshot"):
        view.step = 7


def test_layer_and_head_selection_updates_every_panel(two):
    a, b = two
    view = CompareView(a, b, names=["A", "B"], step=20)
    view.layer_select.value, view.head_select.value = 1, 2
    for trace, plot, index in ((a, view.heatmaps[0], 2), (b, view.heatmaps[1], 3)):
        expected = trace.tensors["blocks.1.attn.hook_pattern"][index, 2]
        np.testing.assert_array_equal(plot.figure.data[0].z, expected)
        np.testing.assert_array_equal(view.pattern(view.heatmaps.index(plot)), expected)
    view.select(0, 1)
    np.testing.assert_array_equal(
        view.heatmaps[0].figure.data[0].z, a.tensors["blocks.0.attn.hook_pattern"][2, 1]
    )
    assert view.heatmaps[0].figure.layout.xaxis.ticktext == ("t0", "t1", "t2", "t3", "t4")
    with pytest.raises(ValueError, match=r"head 3 is out of range; expected 0..2"):
        view.select(0, 3)


def test_curves_are_overlaid_with_a_cursor(two):
    a, b = two
    view = CompareView(a, b, metric="val_accuracy", step=10)
    for trace, line in zip((a, b), view.curves.figure.data, strict=True):
        steps, values = trace.scalar("val_accuracy")
        np.testing.assert_array_equal(line.x, steps)
        np.testing.assert_array_equal(line.y, values)
    assert view.curves.figure.layout.shapes[0].x0 == 10
    view.step = 30
    assert view.curves.figure.layout.shapes[0].x0 == 30
    view.metric = "loss"
    np.testing.assert_array_equal(view.curves.figure.data[1].y, b.scalar("loss")[1])
    assert view.metrics[:2] == ["loss", "val_accuracy"]


def test_heads_and_layers_limited_to_what_every_run_has():
    a = make_trace([0, 1], seed=0, layers=3, heads=4)
    b = make_trace([0, 1], seed=1, layers=2, heads=2, tokens=7)
    c = make_trace([0, 2], seed=2)
    view = CompareView([a, b, c], names=["a", "b", "c"])
    assert list(view.layer_select.options) == [0, 1] and list(view.head_select.options) == [0, 1]
    assert len(view.heatmaps) == 3 and view.heatmaps[1].figure.data[0].z.shape == (7, 7)


def test_encoder_decoder_parts():
    rng = np.random.default_rng(0)

    def rows(*shape):
        raw = rng.random(shape) + 1e-3
        return raw / raw.sum(-1, keepdims=True)

    def trace():
        tensors = {
            "encoder.blocks.0.attn.hook_pattern": rows(2, 2, 4, 4),
            "decoder.blocks.0.attn.hook_pattern": np.tril(rows(2, 2, 3, 3)),
            "decoder.blocks.0.cross.hook_pattern": rows(2, 2, 3, 4),
        }
        meta = {"probe": {"tokens": ["<bos>", "le", "chat"], "source_tokens": list("abcd")}}
        return Trace.from_arrays(meta, [0, 1], {"loss": [2.0, 1.0]}, [0, 1], tensors)

    x, y = trace(), trace()
    view = CompareView(x, y, part="cross")
    assert list(view.part_select.options) == ["encoder", "decoder", "cross"]
    np.testing.assert_array_equal(
        view.heatmaps[1].figure.data[0].z, y.tensors["decoder.blocks.0.cross.hook_pattern"][1, 0]
    )
    assert view.heatmaps[0].figure.layout.xaxis.ticktext == ("a", "b", "c", "d")
    assert view.heatmaps[0].figure.layout.yaxis.ticktext == ("&lt;bos&gt;", "le", "chat")
    view.part_select.value = "encoder"
    assert view.heatmaps[0].figure.data[0].z.shape == (4, 4)


def test_bad_input_raises_value_errors(two):
    a, b = two
    with pytest.raises(ValueError, match="two or more traces or runs; got 1"):
        CompareView(a)
    with pytest.raises(ValueError, match="run 1 must be an explain Trace or Run; got str"):
        CompareView(a, "b")
    with pytest.raises(ValueError, match="got 3 names for 2 runs"):
        CompareView(a, b, names=["x", "y", "z"])
    with pytest.raises(ValueError, match="metric 'grad_norm' is not logged by every run"):
        CompareView(a, b, metric="grad_norm")
    bare = Trace.from_arrays({}, [0], {"loss": [1.0]}, [0], {"embed.W_E": np.zeros((1, 3, 2))})
    with pytest.raises(ValueError, match=r"run 1 \(run 1\) has no attention patterns"):
        CompareView(a, bare)
    broken = make_trace([0, 10], seed=3)
    tensors = dict(broken.tensors)
    nan = np.array(tensors["blocks.0.attn.hook_pattern"])
    nan[1, 0, 2, 1] = np.nan
    tensors["blocks.0.attn.hook_pattern"] = nan
    bad = Trace.from_arrays(
        broken.meta, broken.steps, broken.scalars, broken.snapshot_steps, tensors
    )
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(1, 0, 2, 1\)\)"):
        CompareView(a, bad)


def test_names_fall_back_to_run_numbers(two):
    a, _ = two
    assert CompareView(a, a).names == ["run 0", "run 1"]


def test_real_runs_side_by_side():
    import explain

    def run(positional, steps):
        model_config = explain.ModelConfig(
            vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_mlp=32, context_length=12,
            positional=positional,
        )  # fmt: skip
        train_config = explain.TrainConfig(steps=steps, batch_size=8, eval_every=5)
        return explain.train("reverse", model_config=model_config, train_config=train_config)

    none, rope = run("none", 10), run("rope", 14)
    view = CompareView(none, rope, metric="val_loss")
    assert view.names == ["positional=none, steps=10", "positional=rope, steps=14"]
    view.step = 14
    assert view.shown_steps() == [10, 14]
    expected = rope.trace.at(14).tensors["blocks.0.attn.hook_pattern"][0]
    np.testing.assert_array_equal(view.heatmaps[1].figure.data[0].z, expected)
    assert view.heatmaps[0].figure.layout.xaxis.ticktext[6] == "&gt;"


def test_is_a_view_with_the_bases_theme_and_step(two):
    a, b = two
    view = CompareView(a, b, theme="dark")
    assert isinstance(view, View) and view.trace is None and view.traces == [a, b]
    figures = [view.curves.figure, *(plot.figure for plot in view.heatmaps)]
    assert [plot.figure for plot in view.plots] == figures  # what set_theme and exports see
    assert all(f.layout.paper_bgcolor == "#111111" for f in figures)
    assert view.heatmaps[0].figure.data[0].colorscale == tuple(
        tuple(stop) for stop in colorscale("viridis")
    )
    view.set_theme("presentation")
    assert all(f.layout.font.size == 20 for f in figures)
    assert all(p.widget.fig_layout["font"]["size"] == 20 for p in view.plots)  # the browser's
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        view.set_theme("neon")
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        CompareView(a, b, theme=3)
    assert view.step_control.widget in view.widget.children  # it shows its own control


def test_moving_the_shared_step_moves_every_panel(two):
    a, b = two
    view = CompareView(a, b, step=0)
    name = "blocks.0.attn.hook_pattern"
    for step, shown in ((30, (20, 30)), (10, (10, 5)), (15, (10, 15))):
        view.step_control.value = step  # what the slider does
        for trace, plot, snapshot in zip((a, b), view.heatmaps, shown, strict=True):
            np.testing.assert_array_equal(
                plot.figure.data[0].z, trace.at(snapshot).tensors[name][0]
            )
            assert f"step {snapshot}" in plot.figure.layout.title.text
        assert view.curves.figure.layout.shapes[0].x0 == step
        assert view.step == step
    view.step = 0
    np.testing.assert_array_equal(view.heatmaps[1].figure.data[0].z, b.tensors[name][0, 0])


def test_refresh_follows_runs_that_grew(two):
    a, b = two
    view = CompareView(a, b, step=10)
    pattern = np.array(b.tensors["blocks.0.attn.hook_pattern"][-1])
    tensors = {name: array[-1] for name, array in b.tensors.items()}
    tensors["blocks.0.attn.hook_pattern"] = pattern[::-1].copy()
    b.log_scalars(40, {"loss": 0.01})
    b.add_snapshot(40, tensors)
    view.refresh()
    assert view.step == 10 and view.step_control.steps[-1] == 40
    view.refresh(follow=True)
    assert view.step == 40 and view.shown_steps() == [20, 40]
    np.testing.assert_array_equal(view.heatmaps[1].figure.data[0].z, pattern[::-1][0])
    assert view.curves.figure.data[1].x[-1] == 40


def test_encoder_decoder_opens_on_cross_attention_and_tokens_show_glyphs():
    rng = np.random.default_rng(0)
    raw = rng.random((1, 1, 3, 4)) + 1e-3
    tensors = {
        "encoder.blocks.0.attn.hook_pattern": np.full((1, 1, 4, 4), 0.25),
        "decoder.blocks.0.cross.hook_pattern": raw / raw.sum(-1, keepdims=True),
    }
    meta = {"probe": {"tokens": ["<bos>", " ", "\n"], "source_tokens": ["a", "\t", "", "<"]}}
    trace = Trace.from_arrays(meta, [0], {"loss": [1.0]}, [0], tensors)
    view = CompareView(trace, trace)
    assert view.part == "cross"  # explain.names.default_part: what a translation teaches
    assert view.heatmaps[0].figure.layout.yaxis.ticktext == ("&lt;bos&gt;", "␣", "↵")
    assert view.heatmaps[0].figure.layout.xaxis.ticktext == ("a", "⇥", "∅", "&lt;")


def test_a_run_with_a_gap_in_its_layers_is_named(two):
    a, _ = two
    tensors = {"blocks.1.attn.hook_pattern": np.full((1, 1, 5, 5), 0.2)}
    meta = {"probe": {"tokens": [f"t{i}" for i in range(5)]}}
    gap = Trace.from_arrays(meta, [0], {"loss": [1.0]}, [0], tensors)
    with pytest.raises(ValueError, match=r"run 1 \(run 1\): self attention has blocks \[1\]"):
        CompareView(a, gap)
