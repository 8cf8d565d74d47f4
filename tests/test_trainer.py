"""Tests for explain/trainer.py: the training loop, its events, schedule, optimizers and failures.

Numbers are checked against independent computations: the learning-rate schedule against its
textbook formula, the pre-clip gradient norm against a gradient recomputed with
``torch.func.functional_call`` on a replayed batch, the applied update against ``-lr * grad``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import explain
from explain import ModelConfig, Recorder, RecordSchedule, TrainConfig, Trainer, load_trace
from explain import tasks as tasks_module
from explain.model import TinyTransformer
from explain.run import Run, default_model_config
from explain.trace import TOKEN_TENSORS
from explain.trainer import TrainingDiverged, lr_at, make_optimizer

TINY = dict(d_model=32, n_layers=1, n_heads=2, d_mlp=64)


def small_model(task_name: str, **overrides: Any) -> ModelConfig:
    """A 1-layer, d_model 32 model that fits ``task_name``."""
    return default_model_config(tasks_module.get(task_name), **{**TINY, **overrides})


def quick(**overrides: Any) -> TrainConfig:
    """A few small steps: batch 16, one validation batch."""
    fields = dict(steps=10, batch_size=16, eval_batches=1, eval_every=5, warmup_steps=2)
    return TrainConfig(**{**fields, **overrides})


def assert_traces_equal(
    a: explain.Trace, b: explain.Trace, probe_close_at: int | None = None
) -> None:
    """Every step, scalar and tensor identical (NaN where the other has NaN), meta equal.

    ``probe_close_at``: a snapshot step whose probe patterns and logits (and the per-token loss
    computed from them) need only agree to float rounding (one trace computed them in a pass of
    their own, the other in a training batch).
    """
    assert np.array_equal(a.steps, b.steps)
    assert np.array_equal(a.snapshot_steps, b.snapshot_steps)
    sa, sb = a.scalars, b.scalars
    assert sa.keys() == sb.keys()
    for name in sa:
        assert np.array_equal(sa[name], sb[name], equal_nan=True), name
    ta, tb = a.tensors, b.tensors
    assert ta.keys() == tb.keys()
    from_probe = {*a.attention_names(), "hook_logits", *TOKEN_TENSORS}
    probe = from_probe if probe_close_at is not None else set()
    for name in ta:
        assert ta[name].dtype == tb[name].dtype, name
        x, y = ta[name], tb[name]
        if name in probe:
            at = a.snapshot_steps.tolist().index(probe_close_at)
            np.testing.assert_allclose(x[at], y[at], rtol=1e-5, atol=1e-6, err_msg=name)
            x, y = np.delete(x, at, axis=0), np.delete(y, at, axis=0)
        assert np.array_equal(x, y, equal_nan=True), name
    assert json.loads(json.dumps(a.meta)) == json.loads(json.dumps(b.meta))  # as saved


def assert_consistent(trace: explain.Trace, last_step: int, status: str) -> None:
    """Scalars aligned with steps 0..last_step, snapshots increasing and aligned with tensors."""
    steps = trace.steps
    assert np.array_equal(steps, np.arange(last_step + 1))
    for name, values in trace.scalars.items():
        assert values.shape == steps.shape, name
    loss_steps, losses = trace.scalar("loss")
    assert np.array_equal(loss_steps, np.arange(1, last_step + 1))
    assert np.all(np.isfinite(losses))
    snaps = trace.snapshot_steps
    assert snaps[0] == 0 and snaps[-1] <= last_step and np.all(np.diff(snaps) > 0)
    for name, array in trace.tensors.items():
        assert array.shape[0] == len(snaps), name
    assert trace.meta["status"] == status
    assert trace.meta["last_step"] == last_step


class EventLog:
    """Records every event the trainer fires, with its step or status."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.metrics: dict[tuple[str, int], dict[str, float]] = {}

    def on_train_begin(self, trainer: Trainer) -> None:
        self.events.append(("on_train_begin",))

    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        assert trainer.step == step - 1  # the update is not applied yet
        self.events.append(("on_before_optimizer_step", step))

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        assert trainer.step == step
        self.events.append(("on_step_end", step))
        self.metrics["on_step_end", step] = dict(metrics)

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        self.events.append(("on_eval", step))
        self.metrics["on_eval", step] = dict(metrics)

    def on_snapshot(self, trainer: Trainer, step: int) -> None:
        self.events.append(("on_snapshot", step))

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self.events.append(("on_train_end", status))


# -- the Run and its events --------------------------------------------------------------------
def test_train_returns_a_run_with_model_trace_task_and_status() -> None:
    run = explain.train("copy", small_model("copy"), quick(steps=5))
    assert isinstance(run, Run)
    assert isinstance(run.model, TinyTransformer)
    assert isinstance(run.trace, explain.Trace)
    assert run.task.name == "copy"
    assert run.status == "complete" and run.trainer.step == 5
    assert_consistent(run.trace, last_step=5, status="complete")
    assert run.trace.snapshot_steps[-1] == 5  # the last step always gets a snapshot


def test_events_fire_in_order() -> None:
    steps, eval_every, every = 5, 2, 2
    log = EventLog()
    explain.train(
        "copy",
        small_model("copy"),
        quick(steps=steps, eval_every=eval_every),
        callbacks=[log],
        schedule=RecordSchedule(every=every),
    )
    expected: list[tuple[Any, ...]] = [("on_train_begin",), ("on_eval", 0), ("on_snapshot", 0)]
    for s in range(1, steps + 1):
        expected += [("on_before_optimizer_step", s), ("on_step_end", s)]
        if s % eval_every == 0 or s == steps:
            expected.append(("on_eval", s))
        if s % every == 0 or s == steps:
            expected.append(("on_snapshot", s))
    expected.append(("on_train_end", "complete"))
    assert log.events == expected
    assert log.metrics["on_step_end", 3].keys() == {"loss", "lr", "grad_norm"}
    assert log.metrics["on_eval", 0].keys() == {"val_loss", "val_accuracy"}


# -- learning-rate schedule ------------------------------------------------------------------
def textbook_lr(step: int, lr: float, warmup: int, steps: int, floor: float, kind: str) -> float:
    """Linear warm-up to lr over `warmup` updates, then constant or half a cosine to floor*lr."""
    if step <= warmup:
        return lr * step / warmup
    if kind == "constant":
        return lr
    t = (step - warmup) / (steps - warmup)
    low = lr * floor
    return low + (lr - low) * (1 + math.cos(math.pi * t)) / 2


@pytest.mark.parametrize(
    "warmup, schedule, floor", [(20, "cosine", 0.1), (0, "cosine", 0.0), (7, "constant", 0.1)]
)
def test_lr_at_matches_the_textbook_schedule(warmup: int, schedule: str, floor: float) -> None:
    cfg = TrainConfig(
        steps=100, lr=2e-3, warmup_steps=warmup, schedule=schedule, min_lr_ratio=floor
    )
    got = np.array([lr_at(s, cfg) for s in range(1, 101)])
    want = np.array([textbook_lr(s, 2e-3, warmup, 100, floor, schedule) for s in range(1, 101)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    if warmup:
        assert got[warmup - 1] == pytest.approx(2e-3)  # peak at the end of warm-up
        assert np.all(np.diff(got[:warmup]) > 0)
    if schedule == "cosine":
        assert got[-1] == pytest.approx(2e-3 * floor, abs=1e-15)  # ends on the floor
        assert np.all(np.diff(got[warmup:]) < 0)
        middle = warmup + (100 - warmup) // 2  # half way through the cosine: half way down
        if (100 - warmup) % 2 == 0:
            assert got[middle - 1] == pytest.approx((2e-3 + 2e-3 * floor) / 2)
    else:
        assert np.all(got[warmup:] == 2e-3)


def test_recorded_lr_is_the_schedule_and_is_applied() -> None:
    cfg = quick(steps=12, warmup_steps=4, lr=0.05, min_lr_ratio=0.2, optimizer="sgd")
    run = explain.train("copy", small_model("copy"), cfg)
    steps, lrs = run.trace.scalar("lr")
    assert np.array_equal(steps, np.arange(1, 13))
    want = [textbook_lr(s, 0.05, 4, 12, 0.2, "cosine") for s in range(1, 13)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12)
    assert run.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.05 * 0.2)


# -- optimizers ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, lr, kind, momentum",
    [
        ("sgd", 1.0, torch.optim.SGD, 0.0),
        ("momentum", 0.1, torch.optim.SGD, 0.8),
        ("adam", 1e-2, torch.optim.Adam, None),
        ("adamw", 1e-2, torch.optim.AdamW, None),
    ],
)
def test_optimizers_are_built_as_configured_and_train(
    name: str, lr: float, kind: type, momentum: float | None
) -> None:
    cfg = TrainConfig(
        steps=60,
        batch_size=32,
        eval_batches=1,
        eval_every=1000,
        lr=lr,
        optimizer=name,
        warmup_steps=5,
        momentum=0.8,
        betas=(0.85, 0.95),
        weight_decay=0.05,
    )
    model = TinyTransformer(small_model("copy"))
    optimizer = make_optimizer(model, cfg)
    assert type(optimizer) is kind
    group = optimizer.param_groups[0]
    assert group["lr"] == lr
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    if momentum is not None:
        assert group["momentum"] == momentum
    else:
        assert group["betas"] == (0.85, 0.95)
        assert group["weight_decay"] == (0.05 if name == "adamw" else 0.0)

    run = explain.train("copy", small_model("copy"), cfg, schedule=RecordSchedule(every=1000))
    assert type(run.trainer.optimizer) is kind
    losses = run.trace.scalar("loss")[1]
    val_steps, val = run.trace.scalar("val_loss")
    assert list(val_steps) == [0, 60]
    assert val[1] < val[0] - 0.05, f"{name}: val_loss {val[0]:.3f} -> {val[1]:.3f}"
    assert losses[-10:].mean() < losses[:10].mean() - 0.03


# -- gradient clipping -----------------------------------------------------------------------
class IndependentGradient:
    """Recomputes each step's gradient from a replayed batch, and captures the applied update.

    The trainer draws one training batch per update from ``default_rng(seed)``; replaying that
    sequence and differentiating a hand-written masked cross-entropy with
    ``torch.func.functional_call`` gives the unclipped gradient without reading ``p.grad``.
    """

    def __init__(self, task: tasks_module.Task, cfg: TrainConfig) -> None:
        self.task, self.cfg = task, cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.grads: dict[int, list[torch.Tensor]] = {}
        self.norms: dict[int, float] = {}
        self.updates: dict[int, list[torch.Tensor]] = {}
        self.after: dict[int, list[torch.Tensor]] = {}
        self._before: list[torch.Tensor] = []

    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        batch = self.task.batch(self.cfg.batch_size, self.rng)
        named = dict(trainer.model.named_parameters())
        names, params = list(named), list(named.values())
        weights = {n: p.detach().clone().requires_grad_(True) for n, p in named.items()}
        logits = torch.func.functional_call(
            trainer.model, weights, (torch.from_numpy(batch.inputs),)
        )
        mask = torch.from_numpy(batch.mask)
        loss = F.cross_entropy(logits[mask], torch.from_numpy(batch.targets)[mask])
        grads = torch.autograd.grad(loss, [weights[n] for n in names])
        self.grads[step] = [g.double() for g in grads]
        self.norms[step] = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads))
        self._before = [p.detach().clone() for p in params]

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        after = [p.detach() for p in trainer.model.parameters()]
        self.updates[step] = [(a - b).double() for a, b in zip(after, self._before, strict=True)]
        self.after[step] = [a.clone() for a in after]


def global_norm(tensors: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float((t.double() ** 2).sum()) for t in tensors))


@pytest.mark.parametrize("clip", [0.05, None])
def test_grad_norm_is_pre_clip_and_the_update_is_clipped(clip: float | None) -> None:
    cfg = quick(steps=4, optimizer="sgd", lr=1.0, warmup_steps=0, schedule="constant")
    cfg = replace(cfg, grad_clip=clip)
    probe = IndependentGradient(tasks_module.get("copy"), cfg)
    run = explain.train("copy", small_model("copy"), cfg, callbacks=[probe])
    steps, recorded = run.trace.scalar("grad_norm")
    assert list(steps) == [1, 2, 3, 4]
    for step, norm in zip(steps, recorded, strict=True):
        step = int(step)
        assert norm == pytest.approx(probe.norms[step], rel=1e-5)  # pre-clip
        scale = 1.0 if clip is None else min(1.0, clip / (probe.norms[step] + 1e-6))
        if clip is not None:
            assert probe.norms[step] > 4 * clip  # so clipping really acted
            assert global_norm(probe.updates[step]) / cfg.lr == pytest.approx(clip, rel=1e-4)
        # each element of the update is -lr * scale * gradient, to the rounding of the weight
        pairs = zip(probe.updates[step], probe.grads[step], probe.after[step], strict=True)
        for update, grad, after in pairs:
            want = -cfg.lr * scale * grad
            tolerance = 1e-4 * want.abs() + 2**-23 * after.double().abs() + 1e-12
            assert torch.all((update - want).abs() <= tolerance)


# -- determinism -----------------------------------------------------------------------------
def test_same_seed_gives_identical_traces_and_a_different_seed_does_not() -> None:
    model_cfg = small_model("copy", dropout=0.1)  # dropout draws from torch's RNG too
    cfg = quick(steps=8, eval_every=4)
    first = explain.train("copy", model_cfg, cfg)
    torch.manual_seed(1234)  # global RNG state must not leak into the run
    np.random.seed(1234)
    second = explain.train("copy", model_cfg, cfg)
    assert_traces_equal(first.trace, second.trace)
    for p, q in zip(first.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q)

    other = explain.train("copy", model_cfg, replace(cfg, seed=1))
    assert not np.array_equal(first.trace.scalars["loss"], other.trace.scalars["loss"], True)


def test_default_model_is_seeded_by_the_train_seed() -> None:
    a = explain.train("copy", train_config=quick(steps=1, seed=3))
    b = explain.train("copy", train_config=quick(steps=1, seed=4))
    assert a.model.config.seed == 3 and b.model.config.seed == 4
    assert not torch.equal(a.model.embed.W_E.weight, b.model.embed.W_E.weight)


# -- divergence and interruption -------------------------------------------------------------
class Poison:
    """From update ``start`` on, makes the loss NaN (``what="loss"``) or, with a finite loss,
    the gradient NaN (``what="gradient norm"``), through a hook on the logits of training
    forward passes. Keeps a copy of the weights after every update."""

    def __init__(self, start: int, what: str) -> None:
        self.start, self.what = start, what
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self._stack = contextlib.ExitStack()

    def on_train_begin(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self._stack.enter_context(trainer.model.hooks(fwd=[("hook_logits", self.poison)]))

    def poison(self, x: torch.Tensor, hook: Any) -> torch.Tensor | None:
        if not self.trainer.model.training or self.trainer.step + 1 < self.start:
            return None  # evaluation, snapshots and earlier updates stay clean
        if self.what == "loss":
            return x * float("nan")
        x.register_hook(lambda grad: torch.full_like(grad, float("nan")))
        return None

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        self.weights[step] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        self._stack.close()


@pytest.mark.parametrize("what", ["loss", "gradient norm"])
def test_non_finite_loss_or_gradient_raises_and_keeps_the_last_good_weights(
    what: str, tmp_path: Any
) -> None:
    k = 6
    poison = Poison(k, what)
    with pytest.raises(TrainingDiverged) as info:
        explain.train("copy", small_model("copy"), quick(steps=10), callbacks=[poison])
    err = info.value
    run = err.run
    assert run is not None and run.status == "diverged" and err.step == k
    last_loss = float(run.trace.scalar("loss")[1][-1])
    assert err.last_finite_loss == last_loss
    message = str(err)
    assert f"step {k}" in message and what in message
    numbers = [float(x) for x in re.findall(r"\d+\.\d+(?:e[-+]?\d+)?", message)]
    assert any(x == pytest.approx(last_loss, rel=1e-4) for x in numbers), message
    assert_consistent(run.trace, last_step=k - 1, status="diverged")
    for name, param in run.model.named_parameters():
        assert torch.isfinite(param).all(), name
        assert torch.equal(param.detach(), poison.weights[k - 1][name]), name
    assert_traces_equal(load_trace(run.trace.save(tmp_path / "diverged.npz")), run.trace)


class Interrupt:
    """Raises KeyboardInterrupt (as Ctrl-C would) in ``event`` of update ``step``."""

    def __init__(self, step: int, event: str) -> None:
        self.step, self.event = step, event

    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        if self.event == "on_before_optimizer_step" and step == self.step:
            raise KeyboardInterrupt

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        if self.event == "on_step_end" and step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("event, last_step", [("on_step_end", 7), ("on_before_optimizer_step", 6)])
def test_keyboard_interrupt_stops_cleanly(
    event: str, last_step: int, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    log = EventLog()
    with caplog.at_level(logging.WARNING, logger="explain.trainer"):
        run = explain.train(
            "copy", small_model("copy"), quick(steps=10), callbacks=[Interrupt(7, event), log]
        )
    assert run.status == "interrupted" and run.trainer.step == last_step
    assert log.events[-1] == ("on_train_end", "interrupted")
    assert f"interrupted at step {last_step}" in caplog.text
    assert_consistent(run.trace, last_step=last_step, status="interrupted")
    assert_traces_equal(load_trace(run.trace.save(tmp_path / "stopped.npz")), run.trace)


# -- bursts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bursts", [(10, 10), (7, 13)])
def test_training_in_bursts_gives_the_same_trace_as_one_run(bursts: tuple[int, int]) -> None:
    model_cfg, cfg = small_model("copy"), quick(steps=20)
    whole = explain.train("copy", model_cfg, cfg)
    recorder = Recorder()
    trainer = Trainer(TinyTransformer(model_cfg), tasks_module.get("copy"), cfg, [recorder])
    assert trainer.run(steps=bursts[0]) == "paused"
    assert recorder.trace.steps[-1] == bursts[0] and recorder.trace.meta["status"] == "running"
    assert recorder.trace.snapshot_steps[-1] == bursts[0]  # a paused run is recorded in full
    assert trainer.run(steps=bursts[1]) == "complete"
    # One run had the probe ride the next batch; the pause had it run a pass of its own.
    assert_traces_equal(recorder.trace, whole.trace, probe_close_at=bursts[0])
    for p, q in zip(trainer.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(p, q)


# -- tasks and models ------------------------------------------------------------------------
@pytest.mark.slow
def test_reverse_with_defaults_reaches_99_percent_by_step_400() -> None:
    run = explain.train("reverse", train_config=TrainConfig(seed=0))
    steps, accuracy = run.trace.scalar("val_accuracy")
    assert steps[-1] == 400
    assert accuracy[-1] >= 0.99, f"val_accuracy {accuracy.tolist()}"
    assert accuracy[0] < 0.05  # it was learned, not given


def test_a_decoder_config_for_an_encoder_decoder_task_gets_the_tasks_kind() -> None:
    cfg = small_model("translate", kind="decoder")
    run = explain.train("translate", cfg, quick(steps=1))
    assert run.model.config.kind == "encoder-decoder"
    assert run.trace.meta["model_config"]["kind"] == "encoder-decoder"


@pytest.mark.parametrize(
    "overrides, pattern",
    [
        ({"context_length": 8}, r"context_length=8\b.*'copy'.*12 tokens"),
        ({"vocab_size": 5}, r"vocab_size=5\b.*'copy'.*11 tokens"),
    ],
)
def test_a_model_too_small_for_the_task_is_a_value_error(
    overrides: dict[str, int], pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        explain.train("copy", small_model("copy", **overrides), quick(steps=1))


def test_unknown_task_is_a_value_error_listing_the_tasks() -> None:
    with pytest.raises(ValueError, match="'copyy'") as info:
        explain.train("copyy")
    assert tasks_module.available()  # the list below is not vacuous
    for name in tasks_module.available():
        assert name in str(info.value)
