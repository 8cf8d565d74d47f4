"""The play button's speed and "slow around emergence" (StepControl), kernel side: the waits it
gives the page (PlayPace.intervals, what widgets/step.js waits after each snapshot) and the play
button (its own interval), checked against a trace whose head's pattern appears at a known step.
tests/browser/test_playback.py measures the speeds in the page.
"""

from __future__ import annotations

import numpy as np
from test_widgets_frames import Wire

import widgets
from explain.trace import Trace
from widgets._base import SLOW_AROUND, SLOW_FACTOR, SPEEDS, StepControl, emergence_steps

SNAPSHOTS = 40
APPEARS = 22  # the step the head's previous-token pattern appears at (snapshot index 22)


def appearing_trace(snapshots: int = SNAPSHOTS, appears: int = APPEARS) -> Trace:
    """Head L0H1 attends evenly to every earlier token until ``appears``, then only to the
    previous one: a previous-token pattern that appears at that step. The others stay even."""
    tokens, heads = 8, 2
    even = np.tril(np.ones((tokens, tokens))) / np.arange(1, tokens + 1)[:, None]  # (T, T)
    previous = np.eye(tokens, k=-1)
    previous[0, 0] = 1.0  # row 0 can only look at itself
    pattern = np.broadcast_to(even, (snapshots, heads, tokens, tokens)).copy()  # (S, H, T, T)
    pattern[appears:, 1] = previous
    letters = [chr(ord("a") + i) for i in range(tokens)]
    meta = {"model_config": {"n_layers": 1, "n_heads": heads, "d_model": 8},
            "probe": {"tokens": letters}, "vocab": letters}  # fmt: skip
    steps = np.arange(snapshots)
    tensors = {"blocks.0.attn.hook_pattern": pattern.astype(np.float32)}
    return Trace.from_arrays(meta, steps, {"loss": np.ones(snapshots)}, steps, tensors)


def test_the_speed_divides_every_wait_of_the_play() -> None:
    control = StepControl(range(10))
    labels = [label for label, _ in control.speed.options]
    assert labels == ["0.25×", "0.5×", "1×", "2×"] and control.speed.value == 1.0
    assert control.play.interval == 30 and control.pace.intervals == [30] * 10
    for speed in SPEEDS:
        control.speed.value = speed
        wait = round(30 / speed)
        assert control.play.interval == wait, f"{speed}x: the play button waits"
        assert control.pace.intervals == [wait] * 10, f"{speed}x: the page waits"


def test_slow_around_emergence_plays_the_snapshots_near_the_step_a_head_appeared() -> None:
    trace = appearing_trace()
    assert emergence_steps(trace) == [APPEARS]
    view = widgets.AttentionView(trace)
    control = view.step_control
    near = list(range(APPEARS - SLOW_AROUND, APPEARS + SLOW_AROUND + 1))
    assert control.slowed == near
    assert control.slow.layout.display is None, "the option shows: there is something to slow"
    assert not control.slow.value and control.pace.intervals == [30] * SNAPSHOTS
    control.slow.value = True
    control.speed.value = 0.5
    expected = [round(60 / SLOW_FACTOR) if step in near else 60 for step in range(SNAPSHOTS)]
    assert control.pace.intervals == expected
    assert control.play.interval == 60, "the play button's own wait: the speed's"
    control.slow.value = False
    assert control.pace.intervals == [60] * SNAPSHOTS


def test_a_trace_where_nothing_appears_offers_no_slowing() -> None:
    view = widgets.AttentionView(appearing_trace(appears=0))  # the pattern is there from step 0
    assert emergence_steps(view.trace) == [] and view.step_control.slowed == []
    assert view.step_control.slow.layout.display == "none"
    assert view.step_control.speed.layout.display is None


def test_one_snapshot_shows_no_speed() -> None:
    control = StepControl([500], moments=[500])
    hidden = (control.play, control.slider, control.speed, control.slow)
    assert [c.layout.display for c in hidden] == ["none"] * 4
    assert control.only.value == "step 500"
    control.set_steps([500, 510])  # a live trace grew
    assert control.speed.layout.display is None and control.slow.layout.display is None


def test_while_playing_the_slider_from_the_page_leaves_the_play_button_alone() -> None:
    """The page moves the slider with the play button (step.js); the kernel hears the slider
    first. Setting the play button back to that step would reach the page after the button
    moved on and pull it back (the readout then trailed the title)."""
    control = StepControl(range(20))
    control.value = 0
    control.play.playing = True
    wire = Wire(control.play)
    seen: list[int] = []
    control.observe(seen.append)
    for step in (1, 2, 3):  # the page's slider; the play button's own value comes after
        control.slider.value = step
    assert wire.updates == [], f"the kernel moved the play button: {wire.updates}"
    assert seen == [1, 2, 3], "the views follow the slider"
    control.play.playing = False
    control.value = 7  # stopped: the play button starts from the slider's step
    assert control.play.value == 7


def test_a_shown_view_puts_the_pace_in_the_page() -> None:
    """step.js finds the play button and the slider it moves through the pace's state."""
    control = widgets.AttentionView(appearing_trace()).step_control
    assert control.pace in control.widget.children
    state = control.pace.get_state()
    assert state["play"] == f"IPY_MODEL_{control.play.model_id}"
    assert state["slider"] == f"IPY_MODEL_{control.slider.model_id}"
