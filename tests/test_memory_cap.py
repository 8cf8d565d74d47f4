"""A long run under a memory cap: the trace never holds more than the cap (explain/record.py).

5,000 steps with a snapshot at every step and a 20 MB cap. A small model keeps each step fast
(a few ms), and the snapshots are made large enough (about 8 kB: two tracked parameters with
their gradients, updates and Adam moments) that 5,000 of them (~40 MB) must be thinned more
than once. A callback after the recorder adds up the bytes of every array the trace holds,
independently of ``Trace.nbytes``, after every step and every snapshot.
"""

from __future__ import annotations

import numpy as np
import pytest

STEPS = 5_000
CAP = 20 * 2**20


def _held_bytes(trace) -> int:
    """Bytes of every array the trace hands out: steps, scalars, snapshot steps, tensors."""
    arrays = [trace.steps, trace.snapshot_steps, *trace.scalars.values(), *trace.tensors.values()]
    return sum(np.asarray(array).nbytes for array in arrays)


class Watch:
    """Trainer callback (after the recorder): the most bytes seen and the snapshot ends."""

    def __init__(self, trace) -> None:
        self.trace = trace
        self.most = 0
        self.snapshot_ends: list[tuple[int, int, int]] = []  # (step, first, last snapshot)

    def _measure(self) -> None:
        self.most = max(self.most, _held_bytes(self.trace))

    def on_step_end(self, trainer, step: int, metrics: dict) -> None:
        self._measure()

    def on_snapshot(self, trainer, step: int) -> None:
        self._measure()
        snapshots = self.trace.snapshot_steps
        self.snapshot_ends.append((step, int(snapshots[0]), int(snapshots[-1])))


@pytest.fixture(scope="module")
def capped_run():
    import explain
    from explain.config import ModelConfig, TrainConfig
    from explain.record import Recorder

    recorder = Recorder(max_bytes=CAP)
    watch = Watch(recorder.trace)
    model = ModelConfig(vocab_size=11, d_model=16, n_layers=1, n_heads=1, d_mlp=16)
    train = TrainConfig(steps=STEPS, batch_size=2, eval_every=STEPS, eval_batches=1)
    run = explain.train(
        "reverse",
        model_config=model,
        train_config=train,
        schedule=lambda step: True,
        recorder=recorder,
        callbacks=[watch],
    )
    return run, watch


@pytest.mark.slow
def test_the_trace_never_holds_more_than_the_cap(capped_run) -> None:
    run, watch = capped_run
    assert run.status == "complete" and int(run.trace.steps[-1]) == STEPS
    one = sum(a[0].nbytes for a in run.trace.tensors.values())
    assert one * STEPS > 1.5 * CAP, "the snapshots would fit without thinning: test too weak"
    assert 0.5 * CAP < watch.most <= CAP, watch.most
    assert run.trace.nbytes == _held_bytes(run.trace) <= CAP


@pytest.mark.slow
def test_the_first_and_the_latest_snapshots_are_kept(capped_run) -> None:
    run, watch = capped_run
    assert len(watch.snapshot_ends) == STEPS + 1
    lost = [ends for ends in watch.snapshot_ends if ends[1:] != (0, ends[0])]
    assert not lost, f"(step, first, last) after a snapshot: {lost[:5]}"
    snapshots = run.trace.snapshot_steps
    assert snapshots[0] == 0 and snapshots[-1] == STEPS
    assert len(snapshots) < STEPS // 2  # thinned
