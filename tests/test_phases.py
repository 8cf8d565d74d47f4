"""Phases of a fine-tuned run drawn in the views: LossData.phases, the loss figures, LossView."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

import explain
from explain import export, load_trace, views
from widgets import AttentionView, LossView
from widgets.compare import CompareView

PHASES = [("pre-training", "copy", 0), ("fine-tuning", "reverse", 60)]


@pytest.fixture(scope="module")
def fine():
    pre = explain.train("copy", train_config=explain.TrainConfig(steps=60, seed=0))
    return explain.train("reverse", init=pre, train_config=explain.TrainConfig(steps=60, seed=0))


def boundary(fine) -> int:
    return fine.trace.meta["phases"][1]["first_step"]


def test_loss_data_reads_the_phases(fine):
    data = views.loss(fine.trace)
    assert [(p.name, p.task, p.first_step) for p in data.phases] == PHASES
    assert [p.label for p in data.boundaries] == ["fine-tuning on reverse"]
    assert data.steps[0] == 0 and data.steps[-1] == 120  # one step axis over both phases


def test_one_phase_run_has_no_boundary():
    trace = explain.train("copy", train_config=explain.TrainConfig(steps=3)).trace
    data = views.loss(trace)
    assert data.phases == [] and data.boundaries == []
    assert export.data(trace, "loss")["phases"] == []


def test_json_export_lists_the_phases(fine):
    exported = export.data(fine.trace, "loss")
    assert exported["phases"] == [{"name": n, "task": t, "first_step": s} for n, t, s in PHASES]
    json.dumps(exported)


def test_widget_draws_a_solid_line_at_the_boundary(fine):
    view = LossView(fine.trace)
    solid = [s for s in view.figure.layout.shapes if s.line.dash == "solid"]
    assert [s.x0 for s in solid] == [boundary(fine)]
    dashed = [s for s in view.figure.layout.shapes if s.line.dash == "dash"]
    assert all(s.x0 != boundary(fine) or s.line.color != solid[0].line.color for s in dashed)
    labels = [a.text for a in view.figure.layout.annotations]
    assert "fine-tuning on reverse" in labels
    shapes = view.figure_plot.widget.fig_layout["shapes"]  # synced to the browser
    assert any(s["x0"] == boundary(fine) and s["line"]["dash"] == "solid" for s in shapes)
    view.step_control.value = int(fine.trace.snapshot_steps[0])  # a step change keeps it
    assert [s.x0 for s in view.figure.layout.shapes if s.line.dash == "solid"] == [60]
    # the widget's data is the JSON export
    assert views.to_dict(view.data)["phases"] == export.data(fine.trace, "loss")["phases"]


def test_plotly_and_matplotlib_figures_draw_the_boundary(fine):
    figure = export.interactive(fine.trace, "loss")
    solid = [s for s in figure["layout"]["shapes"] if s["line"]["dash"] == "solid"]
    assert {s["x0"] for s in solid} == {boundary(fine)} and len(solid) == 1
    assert solid[0]["yref"] == "paper"  # one line through all three panels
    assert any(a["text"] == "fine-tuning on reverse" for a in figure["layout"]["annotations"])
    drawn = export.figure(fine.trace, "loss")
    top = drawn.axes[0]
    solid_lines = [
        line
        for line in top.get_lines()
        if line.get_linestyle() == "-" and list(line.get_xdata()) == [boundary(fine)] * 2
    ]
    assert len(solid_lines) == 1
    assert any(t.get_text() == "fine-tuning on reverse" for t in top.texts)
    plt.close(drawn)


def test_attention_slider_covers_both_phases(fine):
    view = AttentionView(fine.trace)
    steps = view.step_control.steps
    assert steps == fine.trace.snapshot_steps.tolist()
    assert min(steps) < boundary(fine) < max(steps)
    assert any(s < boundary(fine) for s in steps) and any(s > boundary(fine) for s in steps)
    view.step_control.value = steps[0]  # a pre-training snapshot still draws
    assert view.step == steps[0]


def test_save_and_load_keep_the_phases(fine, tmp_path):
    fine.save(tmp_path / "fine")
    loaded = load_trace(tmp_path / "fine" / "trace.npz")
    assert views.loss(loaded).phases == views.loss(fine.trace).phases
    np.testing.assert_array_equal(loaded.snapshot_steps, fine.trace.snapshot_steps)


# -- a fine-tuned run next to one trained from scratch -------------------------------------
@pytest.fixture(scope="module")
def scratch():
    return explain.train("reverse", train_config=explain.TrainConfig(steps=60, seed=0))


def test_compare_on_one_step_axis_shows_the_fine_tuned_run_late(fine, scratch):
    view = CompareView(
        fine, scratch, names=["fine-tuned from copy", "from scratch"], metric="val_accuracy"
    )
    fine_line, scratch_line = view.curves.figure.data
    assert fine_line.x[0] == 0 and fine_line.x[-1] == 120  # pre-training is on the axis
    assert scratch_line.x[-1] == 60
    view.step_control.value = 60
    assert view.shown_steps()[0] == 60  # the fine-tuned run's last pre-training step


def test_compare_aligned_by_phase_starts_both_runs_together(fine, scratch):
    view = CompareView(
        fine,
        scratch,
        names=["fine-tuned from copy", "from scratch"],
        metric="val_accuracy",
        align="phase",
    )
    start = boundary(fine)
    assert view.offsets == [start, 0]
    fine_line, scratch_line = view.curves.figure.data
    steps, values = fine.trace.scalar("val_accuracy")
    kept = steps >= start
    np.testing.assert_array_equal(fine_line.x, steps[kept] - start)
    np.testing.assert_array_equal(fine_line.y, values[kept])
    np.testing.assert_array_equal(scratch_line.x, scratch.trace.scalar("val_accuracy")[0])
    assert fine_line.x[0] == scratch_line.x[0] == 0 and fine_line.x[-1] == scratch_line.x[-1]
    assert view.curves.figure.layout.xaxis.title.text == "steps into the last phase"
    expected = sorted(
        {int(s) - start for s in fine.trace.snapshot_steps if s >= start}
        | set(scratch.trace.snapshot_steps.tolist())
    )
    assert view.step_control.steps == expected and min(expected) == 0
    view.step_control.value = 0
    assert view.shown_steps() == [0, 0]
    np.testing.assert_array_equal(  # step 0 of fine-tuning: the pre-trained model's attention
        view.pattern(0), fine.trace.at(start).tensors["blocks.0.attn.hook_pattern"][0]
    )
    assert f"run step {start}" in view.heatmaps[0].figure.layout.title.text
    view.step_control.value = expected[-1]
    assert view.shown_steps()[0] == view.shown_steps()[1] == 60
    with pytest.raises(ValueError, match="align"):
        CompareView(fine, scratch, align="phases")
