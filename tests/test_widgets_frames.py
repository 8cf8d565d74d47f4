"""Playing in the page: the frames the kernel sends are what each step shows, and while the play
button plays the kernel holds its updates, then sends its state once when it stops.

Messages are read where they leave the kernel (the widget's comm), as the page would get them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _widget_traces import get_reverse_trace, get_translate_trace

import widgets._plot
from widgets import AttentionView, Dashboard


class Wire:
    """Every message a widget's comm publishes: ``updates`` (state) and ``custom`` messages."""

    def __init__(self, widget: Any) -> None:
        self.updates: list[dict] = []
        self.custom: list[tuple[dict, list]] = []
        comm = widget.comm

        def publish(msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:  # fmt: skip
            if data.get("method") == "update":
                self.updates.append(data["state"])
            elif data.get("method") == "custom":
                self.custom.append((data["content"], list(buffers or [])))

        comm.publish_msg = publish


def ask_frames(plot: Any) -> tuple[dict, list]:
    """What the page does when the play button starts: ask for the frames of the figure."""
    wire = Wire(plot.widget)
    plot.widget._handle_custom_msg({"event": "frames", "key": plot.widget.frames_key}, [])
    assert len(wire.custom) == 1, f"{len(wire.custom)} messages answered the page's request"
    return wire.custom[0]


def frame_arrays(content: dict, buffers: list) -> dict[int, np.ndarray]:
    return {
        trace["index"]: np.frombuffer(buffer, dtype=trace["dtype"]).reshape(
            content["n"], *trace["shape"]
        )
        for trace, buffer in zip(content["traces"], buffers, strict=True)
    }


def synced_z(plot: Any) -> np.ndarray:
    z = plot.widget.fig_data[0]["z"]
    return np.frombuffer(z["buffer"], dtype=z["dtype"]).reshape(z["shape"])


@pytest.mark.parametrize("part", [None, "encoder", "cross"])
def test_frames_are_what_each_step_shows(part: str | None) -> None:
    trace = get_reverse_trace() if part is None else get_translate_trace()
    view = AttentionView(trace, layer=1, head=2, part=part)
    sent = {name: ask_frames(plot) for name, plot in (("heatmap", view.heatmap),
                                                       ("grid", view.grid))}  # fmt: skip
    heatmap, grid = (frame_arrays(*sent[name])[0] for name in ("heatmap", "grid"))
    steps = view.step_control.steps
    assert sent["heatmap"][0]["n"] == sent["grid"][0]["n"] == len(steps)
    for i, step in enumerate(steps):
        view.step = step
        np.testing.assert_array_equal(heatmap[i], synced_z(view.heatmap), err_msg=f"step {step}")
        np.testing.assert_array_equal(grid[i], synced_z(view.grid), err_msg=f"step {step}")
        assert sent["heatmap"][0]["titles"][i] == view.heatmap.widget.fig_layout["title"]["text"]
        assert sent["grid"][0]["annotations"][i] == view.grid.widget.fig_layout.get(
            "annotations", []
        ), f"grid badges at step {step}"
    # and against the trace itself, not only the view's own drawing
    name = views_name(trace, part)
    expected = np.stack([trace.tensor(name, step)[2] for step in steps])
    np.testing.assert_allclose(heatmap, expected, rtol=0, atol=0)


def views_name(trace: Any, part: str | None) -> str:
    prefix = {None: "", "encoder": "encoder.", "cross": "decoder."}[part]
    kind = "cross" if part == "cross" else "attn"
    name = f"{prefix}blocks.1.{kind}.hook_pattern"
    assert name in trace.tensors, f"{name} not in {sorted(trace.tensors)}"
    return name


def test_a_stale_request_gets_no_answer() -> None:
    view = AttentionView(get_reverse_trace())
    old = view.heatmap.widget.frames_key
    view.head_select.value = 1
    assert view.heatmap.widget.frames_key != old, "another head: other frames"
    wire = Wire(view.heatmap.widget)
    view.heatmap.widget._handle_custom_msg({"event": "frames", "key": old}, [])
    assert wire.custom == []


def test_updates_are_held_while_the_page_plays_and_sent_once_when_it_stops() -> None:
    trace = get_reverse_trace()
    view = AttentionView(trace, layer=1, head=2)
    steps = view.step_control.steps
    view.step = steps[0]
    for plot in (view.heatmap, view.grid):
        ask_frames(plot)
    wires = [Wire(view.heatmap.widget), Wire(view.grid.widget)]
    view.step_control.play.playing = True
    for step in steps[1:6]:
        view.step = step
    assert [w.updates for w in wires] == [[], []], "the kernel sent updates while the page played"
    pattern = trace.tensor("blocks.1.attn.hook_pattern", steps[5])[2]
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, pattern)  # kept current
    view.step_control.play.playing = False
    assert [len(w.updates) for w in wires] == [1, 1], "one update per plot when the play stops"
    np.testing.assert_array_equal(synced_z(view.heatmap), pattern)


def test_another_head_while_playing_is_sent_at_once() -> None:
    trace = get_reverse_trace()
    view = AttentionView(trace, layer=0, head=0)
    ask_frames(view.heatmap)
    view.step_control.play.playing = True
    wire = Wire(view.heatmap.widget)
    view.head_select.value = 3
    assert len(wire.updates) == 1, "a new head is not in the frames the page holds"
    np.testing.assert_array_equal(
        synced_z(view.heatmap), trace.tensor("blocks.0.attn.hook_pattern", view.step)[3]
    )


def test_frames_over_the_budget_play_through_the_kernel(monkeypatch: Any) -> None:
    monkeypatch.setattr(widgets._plot, "FRAMES_MAX_BYTES", 100)
    view = AttentionView(get_reverse_trace())
    content, buffers = ask_frames(view.heatmap)
    assert content["n"] == 0 and buffers == []
    view.step_control.play.playing = True
    wire = Wire(view.heatmap.widget)
    view.step = view.step_control.steps[1]
    assert len(wire.updates) == 1, "no frames in the page: every step goes through the kernel"


def test_the_dashboards_attention_plays_in_the_page() -> None:
    dashboard = Dashboard(get_reverse_trace())
    attention = dashboard.views["attention"]
    assert attention.step_control is dashboard.step_control
    content, _ = ask_frames(attention.heatmap)
    assert content["n"] == len(dashboard.step_control.steps)
    links = [(link.source, link.target) for link in attention._links]
    play = dashboard.step_control.play
    assert ((play, "value"), (attention.heatmap.widget, "frame")) in links
    assert ((play, "playing"), (attention.grid.widget, "playing")) in links


def test_views_drawn_through_the_kernel_follow_a_play_sparingly_and_catch_up(
    monkeypatch: Any,
) -> None:
    import widgets._base

    monkeypatch.setattr(widgets._base, "PLAYING_EVERY_S", 3600.0)  # one update per play
    dashboard = Dashboard(get_reverse_trace())
    loss, attention = dashboard.views["loss"], dashboard.views["attention"]
    steps = dashboard.step_control.steps

    def cursor() -> float:  # the step marker as the page has it (rules.step_marker)
        shapes = loss.figure_plot.widget.fig_layout["shapes"]
        (x,) = [s["x0"] for s in shapes if s.get("line", {}).get("dash") == "dot"]
        return x

    dashboard.step = steps[0]
    dashboard.step_control.play.playing = True
    for step in steps[1:5]:
        dashboard.step = step
    assert cursor() == steps[1], "the loss view followed every step of the play"
    # the attention view plays in the page: its figure follows every step in the kernel
    assert f"step {steps[4]}" in attention.heatmap.figure.layout.title.text
    dashboard.step_control.play.playing = False
    assert cursor() == steps[4], "the loss view did not catch up when the play stopped"


def test_playing_the_page_moves_the_slider_unless_a_plot_plays_through_the_kernel(
    monkeypatch: Any,
) -> None:
    """With the frames in the page, the page moves the slider with the play button (step.js):
    the kernel leaves it. Over the budget, the kernel moves it, after the figure's update, so
    the readout reaches the page with the title it names."""
    view = AttentionView(get_reverse_trace(), layer=1, head=2)
    control = view.step_control
    steps = control.steps
    control.value = steps[0]
    for plot in (view.heatmap, view.grid):
        ask_frames(plot)
    control.play.playing = True
    control.play.value = 3  # the page's play button: its slider comes from the page
    assert control.value == steps[0], "the kernel moved the slider the page moves"
    control.play.playing = False

    monkeypatch.setattr(widgets._plot, "FRAMES_MAX_BYTES", 100)
    view = AttentionView(get_reverse_trace(), layer=1, head=2)
    control = view.step_control
    control.value = steps[0]
    for plot in (view.heatmap, view.grid):
        ask_frames(plot)
    control.play.playing = True
    sent: list[str] = []
    for name, widget in (("slider", control.slider), ("heatmap", view.heatmap.widget)):
        widget.comm.publish_msg = lambda *_, name=name, data=None, **__: sent.append(
            name if data.get("method") == "update" else "other"
        )
    control.play.value = 3
    assert control.value == steps[3], "over the budget, the kernel moves the slider"
    assert sent == ["heatmap", "slider"], f"sent in this order: {sent}"
