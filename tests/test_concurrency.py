"""A trace read, scrubbed and saved from other threads while a live Dashboard trains it.

One thread trains through the dashboard's live driver (``dashboard.live.step()``: a burst of
steps, then every dashboard view refreshes). Another scrubs a second view of the same trace
(an ``AttentionView`` refreshed and moved to random recorded steps), checking each picture
against the trace. A third saves the trace again and again. Every saved file must load with
arrays that agree in length and match the start of the final trace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from explain.trace import load_trace

PATTERN = "blocks.1.attn.hook_pattern"
HEAD = 1
BURSTS = 25


def _thread(errors: list, work: Callable[[], None]) -> threading.Thread:
    """A thread that runs ``work`` and records what it raised."""

    def run() -> None:
        try:
            work()
        except BaseException as error:  # reported by the test, with its traceback
            errors.append(error)

    return threading.Thread(target=run)


@pytest.fixture(scope="module")
def live_dashboard():
    import explain
    from widgets import Dashboard

    config = explain.ModelConfig(
        vocab_size=11, d_model=16, n_layers=2, n_heads=2, d_mlp=32, context_length=12
    )
    train_config = explain.TrainConfig(steps=2, batch_size=4, eval_every=10)
    run = explain.train("reverse", config, train_config, schedule=lambda step: True)
    dashboard = Dashboard(run, burst=3)
    dashboard.live.budget_s = 60.0  # bursts of exactly 3 steps
    return run, dashboard


@pytest.mark.slow
def test_scrubbing_and_saving_while_a_dashboard_trains(live_dashboard, tmp_path: Path) -> None:
    from widgets import AttentionView

    run, dashboard = live_dashboard
    trace, errors, done = run.trace, [], threading.Event()
    scrubber = AttentionView(trace, layer=1, head=HEAD)
    rng = np.random.default_rng(0)
    checked, saved = [], []

    def train() -> None:
        try:
            for _ in range(BURSTS):
                dashboard.live.step()
        finally:
            done.set()

    def scrub() -> None:
        while not done.is_set():
            scrubber.refresh()
            steps = scrubber.step_control.steps
            step = int(rng.choice(steps))
            scrubber.step = step
            shown = np.asarray(scrubber.heatmap.figure.data[0].z, np.float32)
            np.testing.assert_array_equal(shown, trace.tensor(PATTERN, step)[HEAD])
            assert len(scrubber.data.steps) == len(scrubber.data.layer_patterns[1])
            checked.append(step)

    def save() -> None:
        while not done.is_set():
            saved.append(trace.save(tmp_path / f"growing-{len(saved)}.npz"))

    threads = [_thread(errors, work) for work in (train, scrub, save)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    if errors:
        raise errors[0]
    assert run.trainer.step == 2 + 3 * BURSTS and dashboard.step == run.trainer.step
    assert len(checked) > 5 and len(set(checked)) > 1, checked  # it did scrub while training
    _saved_files_are_whole_and_agree(trace, saved)


def _saved_files_are_whole_and_agree(trace, saved: list[Path]) -> None:
    assert len(saved) > 2, saved
    final_steps, final_snapshots = trace.steps, trace.snapshot_steps
    final_scalars, final_tensors = trace.scalars, trace.tensors
    lengths = []
    for path in saved:
        loaded = load_trace(path)
        n, m = len(loaded.steps), len(loaded.snapshot_steps)
        assert all(len(values) == n for values in loaded.scalars.values()), path
        assert all(len(array) == m for array in loaded.tensors.values()), path
        np.testing.assert_array_equal(loaded.steps, final_steps[:n])
        np.testing.assert_array_equal(loaded.snapshot_steps, final_snapshots[:m])
        for name, values in loaded.scalars.items():
            final = final_scalars[name][:n]
            # the newest row may still lack the evaluation logged after the step's own scalars
            np.testing.assert_array_equal(values[:-1], final[:-1], err_msg=name)
            assert n == 0 or np.isnan(values[-1]) or values[-1] == final[-1], name
        for name, array in loaded.tensors.items():
            np.testing.assert_array_equal(array, final_tensors[name][:m], err_msg=name)
        lengths.append(n)
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1], lengths  # saved as it grew
