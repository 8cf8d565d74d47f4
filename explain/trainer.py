"""Training: a small loop that fires named events to callbacks.

The loop knows nothing about recording or widgets; new behaviour is a callback. Events, each
called as ``callback.EVENT(trainer, **kwargs)`` when the callback defines it:

- ``on_train_begin()``
- ``on_before_optimizer_step(step)``: gradients are ready (clipped), weights not yet updated
- ``on_step_end(step, metrics)``: after update ``step``; metrics has loss, lr, grad_norm,
  and ``loss/<part>`` for each part a ``loss_fn`` reports
- ``on_eval(step, metrics)``: val_loss and, for tasks with a metric, val_accuracy
- ``on_snapshot(step)``: at step 0 and at the steps ``snapshot_schedule`` picks; see below
- ``on_train_end(status)``: "complete", "interrupted" (Ctrl-C) or "diverged"

``on_snapshot(step)`` fires right after the forward pass of the next update, when there is
one (weights, gradients and optimizer state are still those after ``step``; the next batch is
drawn), else at the last step, when the run stops early, is interrupted or fails. A run that
pauses (``run(steps=...)``) fires it before returning. That forward pass may carry extra rows:
before it, the trainer asks each callback with a ``snapshot_rows(trainer, step)`` method, and
the first that returns ``(inputs, receive)`` has ``inputs`` (model inputs of a few rows, shaped
like the batch's) appended to the batch and ``receive(logits)`` called with their logits
``(rows, T, vocab)`` before ``on_snapshot``; the loss and the gradients are those of the batch's
own rows. The rows ride along that pass even when the snapshot fired already at a pause, so a
run trained in bursts computes what one run computes. The recorder rides its probe this way:
a fraction of the cost of a pass of its own.

With ``TrainConfig.stop_when_solved`` the run ends ("complete") at the first evaluation that
makes two in a row with validation exact match 1.0; ``Trainer.stopped`` then says where and why
(:func:`explain.train` copies it into ``trace.meta["stopped"]``).

:func:`explain.train` (in ``explain/run.py``) builds a Trainer with a Recorder; here a bare one:

    >>> from explain import ModelConfig, TinyTransformer, TrainConfig, tasks
    >>> task = tasks.get("reverse")
    >>> config = ModelConfig(vocab_size=task.vocab_size, context_length=task.context_length)
    >>> trainer = Trainer(TinyTransformer(config), task, TrainConfig(steps=3, eval_batches=1))
    >>> trainer.run(), trainer.step
    ('complete', 3)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from . import tasks as tasks_module
from .batches import held_out_batches, join_rows, masked_loss, model_inputs, to_torch
from .config import TrainConfig
from .model import TinyTransformer
from .schedule import RecordSchedule

__all__ = ["LossFn", "Trainer", "TrainingDiverged", "lr_at", "make_optimizer"]

log = logging.getLogger(__name__)

SOLVED_REASON = "validation exact match 1.0 at two evaluations in a row"
SOLVED_EVALUATIONS = 2  # in a row: one perfect evaluation can be luck on 4 batches


class TrainingDiverged(RuntimeError):
    """The loss or the gradient became NaN or infinite; the weights are the last good ones.

    When raised by :func:`explain.train`, ``run`` holds its :class:`explain.run.Run`: the
    model and the trace recorded up to the last good step (None from a bare Trainer).
    """

    def __init__(self, step: int, last_finite_loss: float | None, what: str = "loss") -> None:
        before = (
            f"last finite loss was {last_finite_loss} (at step {step - 1})"
            if last_finite_loss is not None
            else "no update had finished before it"
        )
        super().__init__(
            f"training diverged at step {step}: the {what} is not finite; {before}. The model "
            f"keeps the weights of step {step - 1}; try a lower lr or grad_clip."
        )
        self.step, self.last_finite_loss = step, last_finite_loss
        # An explain.run.Run, set by train(); not imported here, as run.py imports this module.
        self.run: Any = None


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names, owning the parameters that require a gradient (frozen
    ones are left out, so weight decay cannot move them either)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    if cfg.optimizer == "momentum":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of update ``step`` (1-based): linear warm-up, then constant or cosine."""
    if cfg.warmup_steps and step <= cfg.warmup_steps:
        return cfg.lr * step / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


# loss_fn(model, batch, logits) -> (loss, parts): the batch from to_torch, the model's logits
# (B, T, vocab); parts are floats logged as ``loss/<name>`` (distillation: distill and task).
LossFn = Callable[
    [TinyTransformer, dict[str, torch.Tensor], torch.Tensor], tuple[torch.Tensor, dict[str, float]]
]


@dataclass
class Trainer:
    """Trains ``model`` on ``task`` with ``config``, firing events to ``callbacks``.

    ``loss_fn`` replaces the training loss (default: the task's masked cross-entropy);
    validation always reports the task's own loss and accuracy.
    """

    model: TinyTransformer
    task: tasks_module.Task
    config: TrainConfig = field(default_factory=TrainConfig)
    callbacks: list[Any] = field(default_factory=list)
    snapshot_schedule: Callable[[int], bool] = field(default_factory=RecordSchedule)
    progress: bool = False
    loss_fn: LossFn | None = None

    def __post_init__(self) -> None:
        self.device = self.model.device
        self.optimizer = make_optimizer(self.model, self.config)
        self.rng = np.random.default_rng(self.config.seed)  # data order
        self.step = 0  # optimizer updates done so far
        self.last_loss: float | None = None
        self.status = "not started"
        self._begun = False
        self.stopped: dict[str, Any] | None = None  # {"step", "reason"} once stopped early
        self._solved_in_a_row = 0  # consecutive evaluations with val_accuracy 1.0
        self._params = list(self.model.parameters())
        # Per-parameter gradient norms of the latest update, before clipping: [n_params], in
        # the order of model.parameters(), 0 where a parameter had no gradient.
        self.grad_norms: torch.Tensor | None = None
        self._snapshot_due: int | None = None  # on_snapshot(step) not fired yet
        self._ride_after: int | None = None  # the next forward pass follows this snapshot step

    def fire(self, event: str, **kwargs: Any) -> None:
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(self, **kwargs)

    def evaluate(self) -> dict[str, float]:
        """Validation loss (and accuracy, where the task has a metric) on held-out batches."""
        config = self.config
        held_out = held_out_batches(self.task, config.eval_batches, config.seed, config.batch_size)
        losses, accuracies = [], []
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            for batch in held_out:
                tensors = to_torch(batch, self.device, self.task)
                logits = self.model(**model_inputs(tensors))
                losses.append(masked_loss(logits, tensors).item())
                if self.task.has_metric:
                    accuracies.append(self.task.accuracy(logits.argmax(-1).cpu().numpy(), batch))
        self.model.train(was_training)
        metrics = {"val_loss": float(np.mean(losses))}
        if accuracies:
            metrics["val_accuracy"] = float(np.mean(accuracies))
        return metrics

    def train_step(self) -> dict[str, float]:
        """One update; raises TrainingDiverged (weights untouched) on a non-finite loss."""
        step = self.step + 1
        if not self.model.training:  # Module.train() walks every submodule: not per step
            self.model.train()
        batch = self.task.batch(self.config.batch_size, self.rng)
        tensors = to_torch(batch, self.device, self.task)
        logits = self._forward(tensors)  # (B, T, vocab); may fire a due on_snapshot
        lr = lr_at(step, self.config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if self.loss_fn is None:
            loss, parts = masked_loss(logits, tensors), {}
        else:
            loss, parts = self.loss_fn(self.model, tensors, logits)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(step, self.last_loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = self._clip_gradients()
        if not math.isfinite(grad_norm):
            raise TrainingDiverged(step, self.last_loss, what="gradient norm")
        self.fire("on_before_optimizer_step", step=step)
        self.optimizer.step()
        self.step, self.last_loss = step, loss_value
        metrics = {"loss": loss_value, "lr": lr, "grad_norm": grad_norm}
        metrics.update({f"loss/{name}": float(value) for name, value in parts.items()})
        return metrics

    def _forward(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """The batch's logits (B, T, vocab). After a snapshot step, a callback's rows ride
        along (see the module docstring) and a due ``on_snapshot`` fires after the pass."""
        inputs = model_inputs(tensors)
        after, self._ride_after = self._ride_after, None
        if after is None:
            return self.model(**inputs)
        rider = self._rider(after, inputs)
        if rider is None:
            logits = self.model(**inputs)
        else:
            joined, receive = rider
            every = self.model(**joined)  # (B + rows, T, vocab)
            rows = len(tensors["inputs"])
            receive(every[rows:].detach())
            logits = every[:rows]  # the loss sees the batch's own rows only
        self._fire_due_snapshot()
        return logits

    def _rider(
        self, step: int, inputs: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], Callable[[torch.Tensor], None]] | None:
        """The batch's inputs joined with the rows of the first callback that offers some
        after snapshot ``step``, and that callback's receiver; None when none rides."""
        for callback in self.callbacks:
            offer = getattr(callback, "snapshot_rows", None)
            rows = offer(self, step=step) if offer is not None else None
            if rows is not None:
                joined = join_rows(inputs, rows[0])
                return None if joined is None else (joined, rows[1])
        return None

    def _clip_gradients(self) -> float:
        """The global gradient norm before clipping, as ``clip_grad_norm_`` computes it; clips
        to ``config.grad_clip`` and keeps the per-parameter norms in ``grad_norms``."""
        grads = [p.grad for p in self._params if p.grad is not None]
        if not grads:
            self.grad_norms = torch.zeros(len(self._params), device=self.device)
            return 0.0
        norms = torch.stack(torch._foreach_norm(grads))  # [n_grads]
        total = torch.linalg.vector_norm(norms)
        if self.config.grad_clip is not None:  # without it the factor is 1: skip the multiply
            factor = torch.clamp(self.config.grad_clip / (total + 1e-6), max=1.0)
            torch._foreach_mul_(grads, factor)
        if len(grads) < len(self._params):  # frozen parameters have no gradient: norm 0
            aligned = torch.zeros(len(self._params), device=norms.device)
            have = [i for i, p in enumerate(self._params) if p.grad is not None]
            aligned[have] = norms
            norms = aligned
        self.grad_norms = norms
        return float(total)

    def snapshot(self, now: bool = False) -> None:
        """Take the snapshot of the current step: ``on_snapshot`` fires right after the next
        update's forward pass, or at once with ``now`` (see the module docstring)."""
        self._fire_due_snapshot()  # an earlier one first, if any (nothing trained since)
        self._snapshot_due = self._ride_after = self.step
        if now:
            self._fire_due_snapshot()

    def _fire_due_snapshot(self) -> None:
        step, self._snapshot_due = self._snapshot_due, None
        if step is not None:
            self.fire("on_snapshot", step=step)

    def _eval_due(self, step: int) -> bool:
        return step % self.config.eval_every == 0 or step == self.config.steps

    def _evaluate_and_check(self, step: int) -> None:
        """Fire ``on_eval``; with ``stop_when_solved``, mark the run stopped at the second
        evaluation in a row with validation accuracy 1.0."""
        metrics = self.evaluate()
        self.fire("on_eval", step=step, metrics=metrics)
        solved = metrics.get("val_accuracy") == 1.0
        self._solved_in_a_row = self._solved_in_a_row + 1 if solved else 0
        if self.config.stop_when_solved and self._solved_in_a_row >= SOLVED_EVALUATIONS:
            self.stopped = {"step": step, "reason": SOLVED_REASON}
            log.info("stopping at step %d: %s", step, SOLVED_REASON)

    def run(self, steps: int | None = None) -> str:
        """Train ``steps`` more updates (default: up to ``config.steps``); returns the status.

        Can be called again to continue (a live view trains in short bursts this way).
        Ctrl-C stops cleanly with status "interrupted"; what was recorded stays consistent.
        Any other error ends the run with status "failed" (or "diverged") and propagates.
        """
        if steps is not None and (not isinstance(steps, int) or steps < 0):
            raise ValueError(f"steps must be a non-negative int or None; got {steps!r}")
        target = self.config.steps if steps is None else self.step + steps
        # Tiny models gain nothing from more threads, and on a busy machine torch's workers
        # spin against each other: 100 reverse steps took 2.0 s on 1 thread, 14.5 s on 2
        # (median of 3, a 2-core machine with one other busy process).
        threads = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        bar = tqdm(total=max(0, target - self.step), disable=not self.progress, desc=self.task.name)
        try:
            if not self._begun:
                self._begun = True
                self.fire("on_train_begin")
                self._evaluate_and_check(step=0)
                self.snapshot()
            while self.step < target and self.stopped is None:
                metrics = self.train_step()
                self.fire("on_step_end", step=self.step, metrics=metrics)
                if self._eval_due(self.step):
                    self._evaluate_and_check(step=self.step)
                last = self.step == self.config.steps or self.stopped is not None
                if self.snapshot_schedule(self.step) or last:
                    self.snapshot(now=last)
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", refresh=False)
            self._fire_due_snapshot()  # pausing: what was recorded is complete
            done = self.step >= self.config.steps or self.stopped is not None
            self.status = "complete" if done else "paused"
        except KeyboardInterrupt:
            self.status = "interrupted"
            log.warning("training interrupted at step %d; keeping what was recorded", self.step)
            self._fire_due_snapshot()
        except TrainingDiverged:
            self.status = "diverged"
            raise
        except BaseException:
            self.status = "failed"
            self._fire_due_snapshot()
            raise
        finally:
            torch.set_num_threads(threads)
            bar.close()
            if self.status != "paused":
                self.fire("on_train_end", status=self.status)
        return self.status
