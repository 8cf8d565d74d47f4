"""The Recorder's probe riding a training batch (explain/record.py, explain/trainer.py).

Without dropout or hooks, the probe's attention patterns and logits at a snapshot step come
from an extra row of the next update's training batch instead of a pass of their own. Each test
compares what was recorded with what it must equal, an eval-mode pass of the probe on a fresh
model holding a copy of the weights after that step, and checks from the batch sizes the model
saw whether the probe rode or ran its own pass.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest
import torch

import explain
from explain import ModelConfig, Recorder, RecordSchedule, TrainConfig, Trainer
from explain import tasks as tasks_module
from explain.batches import join_rows, model_inputs, to_torch
from explain.model import TinyTransformer
from explain.run import default_model_config

TINY = dict(d_model=32, n_layers=2, n_heads=2, d_mlp=64)
BATCH = 16


def small_model(task_name: str, **overrides: Any) -> ModelConfig:
    return default_model_config(tasks_module.get(task_name), **{**TINY, **overrides})


def quick(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=BATCH, eval_batches=1, eval_every=100)


class Watch:
    """Keeps the weights after every update and the batch size of every forward pass."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.rows: list[int] = []  # batch size of each forward pass, in order
        self._handle: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        model = trainer.model
        self.weights[0] = {n: p.detach().clone() for n, p in model.named_parameters()}
        # A torch hook on a Linear, not a HookPoint: hook points in use stop the probe riding.
        self._handle = model.unembed.register_forward_hook(
            lambda module, args, out: self.rows.append(args[0].shape[0])
        )

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        self.weights[step] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self._handle.remove()


def eval_pass(
    config: ModelConfig, weights: dict[str, torch.Tensor], task: tasks_module.Task
) -> dict[str, np.ndarray]:
    """Patterns [head, q, k] and logits [pos, vocab] of the probe, from a fresh model in eval
    mode holding ``weights``."""
    model = TinyTransformer(config)
    model.load_state_dict(weights)
    model.eval()
    inputs = model_inputs(to_torch(task.probe(), model.device, task))
    names = [n for n in model.hook_names() if n.endswith("hook_pattern")] + ["hook_logits"]
    _, cache = model.run_with_cache(**inputs, names=names)
    return {name: value[0].numpy() for name, value in cache.items()}


def assert_snapshot_is_an_eval_pass(run: explain.Run, watch: Watch, step: int) -> None:
    expected = eval_pass(run.model.config, watch.weights[step], run.task)
    snapshot = run.trace.at(step)
    assert snapshot.step == step
    for name, value in expected.items():
        np.testing.assert_allclose(
            snapshot.tensors[name], value, rtol=1e-5, atol=1e-6, err_msg=f"{name} at {step}"
        )


@pytest.mark.parametrize("task_name", ["copy", "translate"])
def test_the_probe_rides_the_next_batch_and_records_an_eval_pass(task_name: str) -> None:
    steps, watch = 5, Watch()
    run = explain.train(
        task_name,
        small_model(task_name),
        quick(steps),
        schedule=RecordSchedule(every=1),
        callbacks=[watch],
    )
    assert run.trace.snapshot_steps.tolist() == list(range(steps + 1))
    # Updates 1..5 each carried the probe of the snapshot before them (BATCH + 1 rows); only
    # the last snapshot, with no update after it, ran a pass of its own (1 row).
    assert watch.rows.count(BATCH + 1) == steps
    assert watch.rows.count(1) == 1
    for step in range(steps + 1):
        assert_snapshot_is_an_eval_pass(run, watch, step)


def test_with_dropout_the_probe_runs_a_pass_of_its_own() -> None:
    steps, watch = 3, Watch()
    run = explain.train(
        "copy",
        small_model("copy", dropout=0.1),
        quick(steps),
        schedule=RecordSchedule(every=1),
        callbacks=[watch],
    )
    assert BATCH + 1 not in watch.rows
    assert watch.rows.count(1) == steps + 1  # one eval-mode pass per snapshot
    for step in range(steps + 1):
        assert_snapshot_is_an_eval_pass(run, watch, step)


class TrainingOnlyShift:
    """A hook shifting the residual stream in training mode only (as a user's may)."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def on_train_begin(self, trainer: Trainer) -> None:
        model = trainer.model

        def shift(x: torch.Tensor, hook: Any) -> torch.Tensor | None:
            return x + 1.0 if model.training else None

        self._stack.enter_context(model.hooks(fwd=[("blocks.0.hook_resid_post", shift)]))

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self._stack.close()


def test_with_hooks_on_the_model_the_probe_runs_a_pass_of_its_own() -> None:
    steps, watch = 3, Watch()
    run = explain.train(
        "copy",
        small_model("copy"),
        quick(steps),
        schedule=RecordSchedule(every=1),
        callbacks=[TrainingOnlyShift(), watch],
    )
    assert BATCH + 1 not in watch.rows
    for step in range(steps + 1):  # a riding row would have recorded the shifted stream
        assert_snapshot_is_an_eval_pass(run, watch, step)


class InterruptForward:
    """Ctrl-C inside the training forward pass of update ``step``, before its due snapshot."""

    def __init__(self, step: int) -> None:
        self.step = step
        self._handle: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        def interrupt(module: Any, args: Any, out: Any) -> None:
            if trainer.model.training and trainer.step + 1 == self.step:
                raise KeyboardInterrupt

        self._handle = trainer.model.unembed.register_forward_hook(interrupt)

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self._handle.remove()


def test_a_snapshot_due_when_training_is_interrupted_is_still_recorded() -> None:
    watch = Watch()
    run = explain.train(
        "copy",
        small_model("copy"),
        quick(10),
        schedule=RecordSchedule(every=1),
        callbacks=[watch, InterruptForward(4)],
    )
    assert run.status == "interrupted" and run.trainer.step == 3
    assert run.trace.snapshot_steps.tolist() == [0, 1, 2, 3]
    assert run.trace.meta["status"] == "interrupted"
    assert_snapshot_is_an_eval_pass(run, watch, 3)


def test_frozen_parameters_record_zero_gradient_norm_and_update() -> None:
    task = tasks_module.get("copy")
    model = TinyTransformer(small_model("copy"))
    model.embed.W_E.weight.requires_grad_(False)
    recorder = Recorder(parameters=["embed.W_E.weight", "unembed.weight"])
    trainer = Trainer(model, task, quick(3), callbacks=[recorder])
    assert trainer.run() == "complete"
    scalars = recorder.trace.scalars
    np.testing.assert_array_equal(scalars["grad_norm/embed.W_E.weight"][1:], 0.0)
    np.testing.assert_array_equal(scalars["update_ratio/embed.W_E.weight"][1:], 0.0)
    assert np.all(scalars["update_ratio/unembed.weight"][1:] > 0)
    names = [n for n, _ in model.named_parameters()]
    combined = np.sqrt(sum(scalars[f"grad_norm/{n}"] ** 2 for n in names))
    np.testing.assert_allclose(combined[1:], scalars["grad_norm"][1:], rtol=1e-5)
    tensors = recorder.trace.tensors
    assert (
        not tensors["grad/embed.W_E.weight"].any() and not tensors["update/embed.W_E.weight"].any()
    )
    assert tensors["update/unembed.weight"][1:].any()


def test_join_rows_appends_rows_that_fit_and_refuses_others() -> None:
    batch = {"tokens": torch.arange(10).view(2, 5)}
    joined = join_rows(batch, {"tokens": torch.full((1, 5), 7)})
    assert joined is not None and joined["tokens"].tolist()[-1] == [7] * 5
    assert torch.equal(joined["tokens"][:2], batch["tokens"])
    assert join_rows(batch, {"tokens": torch.zeros(1, 6, dtype=torch.long)}) is None  # length
    assert join_rows(batch, {"tokens": torch.zeros(1, 5)}) is None  # float, not ids
    assert join_rows(batch, {"tokens": batch["tokens"], "source": batch["tokens"]}) is None


class Rider:
    """Offers rows after every snapshot step; keeps the logits it receives."""

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows, self.received = rows, []

    def snapshot_rows(self, trainer: Trainer, step: int) -> Any:
        return {"tokens": self.rows}, self.received.append


def test_riding_rows_get_their_logits_and_leave_training_alone() -> None:
    task = tasks_module.get("copy")
    config, cfg = small_model("copy"), quick(3)
    plain = Trainer(TinyTransformer(config), task, cfg, snapshot_schedule=lambda s: True)
    plain.run()
    rows = torch.from_numpy(task.probe().inputs).repeat(2, 1)  # 2 rows
    fits = Rider(rows)
    misfit = Rider(torch.zeros(1, task.context_length - 1, dtype=torch.long))
    for rider, received in ((fits, 3), (misfit, 0)):
        trainer = Trainer(TinyTransformer(config), task, cfg, [rider], lambda s: True)
        trainer.run()
        assert len(rider.received) == received  # after snapshots 0, 1, 2; 3 is the last
        for p, q in zip(trainer.model.parameters(), plain.model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
    # The first rows rode update 1: the logits of the initial weights (training mode, no dropout).
    want = TinyTransformer(config)(rows)
    torch.testing.assert_close(fits.received[0], want.detach(), rtol=1e-5, atol=1e-6)
