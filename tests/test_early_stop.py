"""Tests for the trainer's opt-in early stop (``TrainConfig.stop_when_solved``).

The step where training must stop is computed independently: from the validation accuracy of
the same run trained without stopping (same seed, so the same updates up to that step), as the
first evaluation that makes two in a row with exact match 1.0.
"""

from __future__ import annotations

import numpy as np
import pytest

import explain
from explain import TrainConfig
from explain.trainer import SOLVED_REASON

# Copy with the default model: validation accuracy touches 1.0 alone at steps 80, 90 and 100
# before two evaluations in a row do, so "first 1.0" and "two in a row" give different steps.
FIELDS = dict(steps=200, batch_size=32, eval_batches=1, eval_every=5, warmup_steps=5, lr=1e-2)


def expected_stop(steps: np.ndarray, accuracy: np.ndarray) -> int | None:
    """The step of the first evaluation that is the second 1.0 in a row (None if none is)."""
    for number in range(1, len(steps)):
        if accuracy[number] == 1.0 and accuracy[number - 1] == 1.0:
            return int(steps[number])
    return None


@pytest.fixture(scope="module")
def unstopped() -> explain.Run:
    return explain.train("copy", train_config=TrainConfig(**FIELDS))


@pytest.fixture(scope="module")
def stopped() -> explain.Run:
    return explain.train("copy", train_config=TrainConfig(**FIELDS, stop_when_solved=True))


def test_off_by_default(unstopped):
    assert TrainConfig().stop_when_solved is False
    steps, accuracy = unstopped.trace.scalar("val_accuracy")
    assert expected_stop(steps, accuracy) is not None  # solved, and yet it trains on
    assert unstopped.trainer.step == FIELDS["steps"] and unstopped.trainer.stopped is None
    assert "stopped" not in unstopped.trace.meta


def test_stops_at_the_second_perfect_evaluation_in_a_row(unstopped, stopped):
    steps, accuracy = unstopped.trace.scalar("val_accuracy")
    stop = expected_stop(steps, accuracy)
    first_perfect = int(steps[np.argmax(accuracy == 1.0)])
    assert stop is not None and first_perfect < stop  # the data can tell the rules apart
    assert stopped.trainer.step == stop and stopped.status == "complete"
    assert stopped.trace.meta["stopped"] == {"step": stop, "reason": SOLVED_REASON}
    assert stopped.trace.meta["status"] == "complete" and stopped.trace.meta["last_step"] == stop
    # the trace ends at the stop, with a snapshot of the final weights
    assert int(stopped.trace.steps[-1]) == stop and int(stopped.trace.snapshot_steps[-1]) == stop
    # the same updates as the run that went on, up to the stop
    stopped_steps, stopped_accuracy = stopped.trace.scalar("val_accuracy")
    assert np.array_equal(stopped_steps, steps[steps <= stop])
    assert np.array_equal(stopped_accuracy, accuracy[steps <= stop])


def test_steps_stay_the_cap():
    cap = 30  # too few to solve copy
    run = explain.train(
        "copy", train_config=TrainConfig(**{**FIELDS, "steps": cap}, stop_when_solved=True)
    )
    assert run.trainer.step == cap and run.trainer.stopped is None
    assert expected_stop(*run.trace.scalar("val_accuracy")) is None
    assert "stopped" not in run.trace.meta and run.trace.meta["status"] == "complete"


def test_a_stopped_trainer_trains_no_further(stopped):
    step = stopped.trainer.step
    assert stopped.trainer.run(10) == "complete"
    assert stopped.trainer.step == step and int(stopped.trace.steps[-1]) == step


def test_the_stop_is_on_the_continued_trace_step_axis(stopped):
    """Fine-tuning a solved model continues its trace: the stop is noted on that step axis."""
    fields = {**FIELDS, "steps": 50}
    run = explain.train(
        "copy", init=stopped, train_config=TrainConfig(**fields, stop_when_solved=True)
    )
    offset = stopped.trainer.step
    assert run.trainer.stopped is not None
    step = run.trace.meta["stopped"]["step"]
    assert step == offset + run.trainer.step == int(run.trace.steps[-1])
    assert run.trainer.step < fields["steps"]


def test_a_continued_run_that_does_not_stop_drops_the_stop_of_its_pretraining(stopped):
    """The continued trace starts as a copy of the pre-training's meta: its stop is not this
    run's, so the report must not say "stopped at step N" for it."""
    assert "stopped" in stopped.trace.meta
    run = explain.train("copy", init=stopped, train_config=TrainConfig(**{**FIELDS, "steps": 5}))
    assert run.trainer.stopped is None and "stopped" not in run.trace.meta


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_the_option_must_be_a_bool(value):
    with pytest.raises(ValueError, match=rf"stop_when_solved must be True or False; got {value!r}"):
        TrainConfig(stop_when_solved=value)


@pytest.mark.slow
def test_the_demo_solves_its_task_and_stops_early():
    from explain import cli
    from explain._cli_parser import DEMO_STEPS, DEMO_TASK

    options = {"steps": DEMO_STEPS, "seed": 0, **cli.DEMO_TRAINING}
    run = cli._train(DEMO_TASK, {}, options, progress=False)
    steps, accuracy = run.trace.scalar("val_accuracy")
    assert run.trace.meta["stopped"]["step"] == expected_stop(steps, accuracy) < DEMO_STEPS
    assert accuracy[-1] == 1.0
