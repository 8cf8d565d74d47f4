"""The lab in the views: role badges on the attention grid, emergence markers on the loss,
HeadsView (from a trace, and from a run where a click switches a head off)."""

from __future__ import annotations

import numpy as np
import pytest

import explain
import widgets
from explain import views
from explain.trace import Trace

TOKENS = ["a", "b", "c", "d", "e", "f"]
STEPS = [0, 10, 20, 30]


def previous_token_trace() -> Trace:
    """Two layers x two heads; head (1, 0) turns into a pure previous-token head at step 20."""
    n = len(TOKENS)
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0
    tensors = {}
    for layer in range(2):
        pattern = np.broadcast_to(uniform, (len(STEPS), 2, n, n)).copy()
        if layer == 1:
            pattern[2:, 0] = previous  # steps 20 and 30
        tensors[f"blocks.{layer}.attn.hook_pattern"] = pattern
    steps = np.arange(31)
    meta = {"probe": {"tokens": TOKENS}, "task": {"name": "toy"}}
    return Trace.from_arrays(meta, steps, {"loss": 3.0 - steps / 20}, STEPS, tensors)


def test_badges_and_events_mark_where_a_pattern_appeared():
    trace = previous_token_trace()
    attention = widgets.AttentionView(trace, step=10)
    assert attention.grid.figure.layout.annotations == ()  # nothing shows a pattern yet
    attention.step = 20
    (badge,) = attention.grid.figure.layout.annotations
    assert badge.text == "prev"
    from explain._render import attention_grid

    rows, cols = attention_grid.cell_size(attention.data)
    assert badge.x == -0.5 and badge.y == (rows + 1) - 0.5  # the cell of layer 1 head 0
    loss = widgets.LossView(trace)
    (event,) = loss.data.events
    assert event.step == 20 and event.label == "previous-token head appears: L1H0"
    assert any(shape.x0 == 20 and shape.line.dash == "dash" for shape in loss.figure.layout.shapes)
    written = explain.export.data(trace, "loss")
    assert written["events"] == [{"step": 20, "label": "previous-token head appears: L1H0"}]


def test_heads_view_from_a_trace_names_the_head_without_importance():
    trace = previous_token_trace()
    view = widgets.HeadsView(trace)
    assert view.data.roles == [["", ""], ["previous_token", ""]]
    assert np.isnan(view.data.importance).all()  # no lab record: no model was measured
    assert view.data.circuits == [
        "layer 1 head 0: previous-token head, score 1.00, appeared at step 20"
    ]
    assert "previous-token head" in view.text.value
    with pytest.raises(ValueError, match="needs the model"):
        view.toggle(1, 0)
    # the scores plot opens on the clearest pattern: one curve per head, over training
    assert view.pattern_select.value == "previous_token"
    curve = view.scores.figure.data[2]  # L1H0
    assert curve.name == "L1H0"
    np.testing.assert_allclose(curve.y, view.data.scores["previous_token"][:, 1, 0])
    assert list(curve.y[2:]) == [1.0, 1.0]
    view.pattern_select.value = "first_token"
    np.testing.assert_allclose(
        view.scores.figure.data[2].y, view.data.scores["first_token"][:, 1, 0]
    )
    view.step = 10
    assert view.scores.figure.layout.shapes[0].x0 == 10
    assert view.grid.figure.data[0].text[1][0] == ""  # the badge follows the step
    view.step = 30
    assert view.grid.figure.data[0].text[1][0] == "prev<br>1.00"  # pattern over score


def test_heads_view_before_the_end_says_what_is_of_the_trained_model():
    """The badges follow the step; JS distance (and importance, when measured) are of the
    last snapshot, and the grid's title says so at any other step, in both renderers."""
    from explain import export

    trace = previous_token_trace()
    view = widgets.HeadsView(trace)
    view.step = 0
    shown = view.figures()[0]["layout"]["title"]["text"]
    assert "step 0 (JS distance: step 30)" in shown, shown
    from matplotlib.text import Text

    texts = [text.get_text() for text in export.figure(trace, "heads", step=0).findobj(Text)]
    assert any("step 0 (JS distance: step 30)" in text for text in texts), texts
    view.step = 30
    assert view.figures()[0]["layout"]["title"]["text"].split("<br>")[0].endswith("step 30")


@pytest.mark.slow
def test_heads_view_click_switches_a_head_off_and_back():
    run = explain.train("reverse", train_config=explain.TrainConfig(steps=300, seed=0))
    view = widgets.HeadsView(run)  # measures the heads first (explain.lab.record)
    lab = run.trace.meta["lab"]
    assert np.isfinite(view.data.importance).all()
    assert view.data.baseline_accuracy == pytest.approx(lab["baseline"]["accuracy"])
    most = np.unravel_index(np.argmax(view.data.importance), view.data.importance.shape)
    layer, head = int(most[0]), int(most[1])
    view.grid.widget._handle_custom_msg(
        {"event": "click", "points": [{"curve": 0, "x": head, "y": layer, "index": [layer, head]}]},
        [],
    )
    assert view.off == {(layer, head)}
    expected = explain.lab.evaluate(run.model, run.task, [(layer, head)])
    assert view.result == pytest.approx(expected)
    # what switching it off costs is drawn in the figure (the export draws it too)
    assert f"L{layer}H{head}" in view.grid.figure.layout.title.text  # what it costs, line 2
    assert view.grid.figure.data[0].text[layer][head] == "off"
    assert view.toggle(layer, head) == pytest.approx(explain.lab.evaluate(run.model, run.task))
    assert view.off == set()
    with pytest.raises(ValueError, match=r"head 9 is out of range; expected 0..3"):
        view.toggle(0, 9)
    assert view.off == set()  # a refused click changes nothing
    # every head's hooks are gone after the clicks
    assert all(not hook.fns for hook in run.model.hook_dict.values())
    # the widget's model is the JSON export's model
    written = explain.export.data(run.trace, "heads")
    np.testing.assert_allclose(written["importance"], view.data.importance, rtol=1e-6)
    assert written["circuits"] == view.data.circuits
    assert views.heads(run.trace).prune_order == view.data.prune_order
