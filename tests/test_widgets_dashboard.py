"""Dashboard: one shared step across views, replay and live training."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _widget_traces import get_reverse_trace

from widgets import PRESENTATION, AttentionView, Dashboard


def test_views_share_one_step():
    reverse_trace = get_reverse_trace()
    dashboard = Dashboard(reverse_trace)
    assert set(dashboard.views) == {
        "attention",
        "loss",
        "token_loss",
        "embeddings",
        "positional",
        "optimizer",
        "heads",
    }
    assert not dashboard.missing
    dashboard.step_control.slider.value = 40
    dashboard.attention.layer_select.value = 1
    dashboard.attention.head_select.value = 2
    np.testing.assert_array_equal(
        dashboard.attention.heatmap.figure.data[0].z,
        reverse_trace.tensor("blocks.1.attn.hook_pattern", 40)[2],
    )
    # a click on the loss curve moves every view
    dashboard.loss.figure_plot.widget._handle_custom_msg(
        {"event": "click", "points": [{"curve": 0, "x": 7, "y": 2.0, "index": 7}]}, []
    )
    assert dashboard.step == 7
    for view in dashboard.views.values():
        assert view.step == 7
    np.testing.assert_array_equal(
        dashboard.attention.heatmap.figure.data[0].z,
        reverse_trace.tensor("blocks.1.attn.hook_pattern", 7)[2],
    )
    assert dashboard.embeddings.scatter.figure.layout.title.text.endswith("step 7")
    assert dashboard.optimizer.history.figure.layout.shapes[0].x0 == 7
    assert "· step 7 (JS distance: step 40)" in dashboard.heads.grid.figure.layout.title.text
    with pytest.raises(ValueError, match="has no snapshot"):
        dashboard.step = 41


def test_dom_hooks_are_present():
    reverse_trace = get_reverse_trace()
    dashboard = Dashboard(reverse_trace)
    classes = set()

    def walk(widget):
        classes.update(getattr(widget, "_dom_classes", ()))
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(dashboard.widget)
    for name in (
        "explain-dashboard",
        "explain-step-slider",
        "explain-play",
        "explain-head-select",
        "explain-layer-select",
        "explain-attention-heatmap",
        "explain-attention-grid",
        "explain-loss-plot",
        "explain-theme-select",
    ):
        assert name in classes, name
    bundle = dashboard._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in (
        bundle[0] if isinstance(bundle, tuple) else bundle
    )


def test_theme_select_applies_to_every_view():
    reverse_trace = get_reverse_trace()
    dashboard = Dashboard(reverse_trace)
    dashboard.theme_select.value = "dark"
    for view in dashboard.views.values():
        for plot in view.plots:
            assert plot.figure.layout.paper_bgcolor == "#111111"
    dashboard.set_theme("presentation")  # by name; the dropdown follows
    assert dashboard.theme_select.value == "presentation"
    for view in dashboard.views.values():
        for plot in view.plots:
            assert plot.figure.layout.font.size == PRESENTATION.font_size
            assert plot.figure.layout.paper_bgcolor == PRESENTATION.background
    heat = dashboard.attention.heatmap
    assert heat.widget.fig_layout["font"]["size"] == PRESENTATION.font_size  # synced


def test_attentions_only_trace_says_what_is_missing():
    rng = np.random.default_rng(0)
    layers = tuple(x / x.sum(axis=-1, keepdims=True) for x in rng.random((2, 1, 2, 4, 4)))
    trace = AttentionView.from_attentions(layers, list("abcd")).trace
    dashboard = Dashboard(trace)
    assert list(dashboard.views) == ["attention", "heads"]  # heads read the attention alone
    assert dashboard.heads.data.roles and np.isnan(dashboard.heads.data.importance).all()
    assert "loss" in dashboard.missing and "no 'loss'" in dashboard.missing["loss"]
    with pytest.raises(ValueError, match="needs a Trace, a Run"):
        Dashboard(np.ones(3))


@pytest.mark.slow
def test_live_from_model_trains_and_views_follow():
    import explain

    config = explain.ModelConfig(
        vocab_size=11, d_model=16, n_layers=2, n_heads=2, d_mlp=32, context_length=16
    )
    model = explain.TinyTransformer(config)
    train_config = explain.TrainConfig(steps=30, batch_size=8)
    dashboard = Dashboard(model, task="reverse", train_config=train_config, burst=3)
    dashboard.live.budget_s = 60.0  # deterministic bursts of exactly 3 steps here
    assert dashboard.step == 0
    for burst in range(1, 4):
        dashboard.live.step()
        assert dashboard.step == 3 * burst == int(dashboard.trace.snapshot_steps[-1])
        for view in dashboard.views.values():
            assert view.step == 3 * burst
        np.testing.assert_array_equal(
            dashboard.attention.heatmap.figure.data[0].z,
            dashboard.trace.tensor("blocks.0.attn.hook_pattern", 3 * burst)[0],
        )
        np.testing.assert_array_equal(dashboard.loss.figure.data[0].x, np.arange(1, 3 * burst + 1))
    assert dashboard.live.status.value.startswith("step 9 · loss")
    live = dashboard.live
    live.play.playing = True  # the browser's play button; each tick of its clock is a burst
    live.play.value = 1
    assert live.trainer.step == 12
    live.play.playing = False  # pause: a refresh held back by the 10-per-second cap is drawn
    assert dashboard.step == 12
    changes = []
    live.on_change(changes.append)
    time.sleep(live.play.interval / 1000)
    live.play.value = 2  # trains (the last tick ended long enough ago) ...
    live.play.value = 3  # ... but a tick queued behind it is dropped: no backlog after pause
    assert live.trainer.step == 15 and len(changes) <= 1
    dashboard.live.reset()
    assert dashboard.step == 0 and dashboard.attention.trace is dashboard.live.trace
    assert len(dashboard.loss.figure.data[0].x) == 0


@pytest.mark.slow
def test_live_from_run_continues():
    import explain

    config = explain.ModelConfig(
        vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_mlp=32, context_length=16
    )
    run = explain.train("reverse", config, explain.TrainConfig(steps=6, batch_size=8))
    dashboard = Dashboard(run, burst=2)
    assert dashboard.step == 6
    dashboard.live.budget_s = 60.0
    dashboard.live.step()
    assert dashboard.step == 8 and run.trainer.step == 8
    np.testing.assert_array_equal(
        dashboard.attention.heatmap.figure.data[0].z,
        run.trace.tensor("blocks.0.attn.hook_pattern", 8)[0],
    )
