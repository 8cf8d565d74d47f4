"""LossView: curves equal the trace's scalars; the cursor follows the step; clicks move it."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from _widget_traces import get_reverse_trace, synthetic_attention_trace

from explain.trace import Trace
from widgets import AttentionView, LossView, StepControl


def click(plot, x: float, y: float = 0.0) -> None:
    plot.widget._handle_custom_msg(
        {"event": "click", "points": [{"curve": 0, "x": x, "y": y, "index": 3}]}, []
    )


def test_curves_are_the_trace_scalars():
    reverse_trace = get_reverse_trace()
    view = LossView(reverse_trace)
    names = ("loss", "val_loss", "lr", "grad_norm", "val_accuracy")
    for trace, name in zip(view.figure.data, names, strict=True):
        steps, values = reverse_trace.scalar(name)
        np.testing.assert_array_equal(trace.x, steps)
        np.testing.assert_array_equal(trace.y, values)
    assert list(view.figure.data[1].x) == [0, 20, 40]  # eval_every=20


def test_cursor_follows_step_and_click_moves_linked_views():
    reverse_trace = get_reverse_trace()
    control = StepControl(reverse_trace.snapshot_steps.tolist())
    loss = LossView(reverse_trace, step_control=control)
    attention = AttentionView(reverse_trace, step_control=control)
    control.value = 12
    assert loss.figure.layout.shapes[0].x0 == 12
    assert loss.figure_plot.widget.fig_layout["shapes"][0]["x0"] == 12  # synced to the browser
    click(loss.figure_plot, x=33.4)
    assert control.value == 33 and attention.step == 33
    np.testing.assert_array_equal(
        attention.heatmap.figure.data[0].z,
        reverse_trace.tensor("blocks.0.attn.hook_pattern", 33)[0],
    )
    loss_33 = reverse_trace.scalar("loss")[1][reverse_trace.scalar("loss")[0] == 33][0]
    assert f"{loss_33:.4g}" in loss.figure.layout.title.text


def test_click_snaps_to_nearest_snapshot():
    base = synthetic_attention_trace(steps=(0, 10, 20))
    steps = np.arange(21)
    trace = Trace.from_arrays(
        base.meta, steps, {"loss": 3.0 - steps / 10}, base.snapshot_steps, base.tensors
    )
    view = LossView(trace, step=0)
    click(view.figure_plot, x=14)
    assert view.step == 10
    click(view.figure_plot, x=16)
    assert view.step == 20
    with pytest.raises(ValueError, match="outside the recorded snapshots"):
        view.click_step(25)


def test_click_outside_is_logged_not_shown(caplog):
    base = synthetic_attention_trace(steps=(0, 10))
    trace = Trace.from_arrays(base.meta, [0, 10], {"loss": [2.0, 1.0]}, [0, 10], base.tensors)
    view = LossView(trace)
    with caplog.at_level(logging.WARNING):
        click(view.figure_plot, x=99)
    assert view.step == 10 and "outside the recorded snapshots" in caplog.text


def test_bad_scalars():
    base = synthetic_attention_trace(steps=(0, 10))
    with pytest.raises(ValueError, match="no 'loss' or 'val_loss'"):
        LossView(base)
    diverged = Trace.from_arrays(base.meta, [0, 10], {"loss": [2.0, np.inf]}, [0, 10], base.tensors)
    view = LossView(diverged)  # a diverged run is shown up to where it diverged
    assert list(view.figure.data[0].x) == [0] and list(view.figure.data[0].y) == [2.0]
    assert np.isinf(view.data.curves["loss"].values[1])  # the view model keeps what happened


def test_a_step_control_of_one_snapshot_names_it_and_shows_nothing_to_move():
    """One snapshot (a lens, a live run's start): no slider at its left end reading 500."""
    control = StepControl([500])
    moving = (control.play, control.previous, control.next, control.slider)
    assert [c.layout.display for c in moving] == ["none"] * 4
    assert control.only.value == "step 500" and control.only.layout.display is None
    control.set_steps([500, 510], follow=True)  # a live trace grew: the slider comes back
    assert [c.layout.display for c in moving] == [None] * 4
    assert control.only.layout.display == "none" and control.value == 510
