"""Knowledge distillation (Hinton, Vinyals and Dean 2015): a small student learns a teacher's
softened predictions. The same trainer as :func:`explain.train`, with another loss.

The loss mixes two cross-entropies over the positions the task's mask marks: the student's
softened distribution against the teacher's (as a KL divergence, scaled by ``T**2`` so its
gradients keep their size as ``T`` grows) and the student against the true targets::

    loss = alpha * T**2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets)

:func:`match_heads` then asks, head by head, which teacher head the student's attention
resembles on the probe sequence.

    >>> import torch
    >>> student, teacher = torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)
    >>> loss, parts = distillation_loss(student, teacher, torch.tensor([[0, 1]]), 2.0, 0.5)
    >>> parts["distill"], round(parts["task"], 4)  # same predictions: nothing to distil
    (0.0, 1.0986)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .. import tasks as tasks_module
from ..analysis import head_similarity
from ..batches import held_out_batches, masked_loss, model_inputs, to_torch
from ..config import ModelConfig, TrainConfig
from ..model import TinyTransformer
from ..names import attention_parts, default_part
from ..record import Recorder

if TYPE_CHECKING:
    from ..run import Run
    from ..trace import Trace
    from ..trainer import Trainer

__all__ = ["HeadMatch", "TeacherAgreement", "distill", "distillation_loss", "match_heads"]


def _check_settings(temperature: float, alpha: float) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise ValueError(f"temperature must be a number > 0; got {temperature!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1]; got {alpha!r}")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    alpha: float,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """``alpha * T**2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, targets)``.

    Logits are (B, T, vocab), ``targets`` and ``mask`` (True where the loss counts) (B, T);
    both terms are means over the masked positions. Returns the loss (differentiable in the
    student's logits; the teacher's are detached) and its parts, unweighted, as floats:
    ``{"distill": KL, "task": CE}``.
    """
    _check_settings(temperature, alpha)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"student and teacher logits must have the same shape [batch, pos, vocab]; got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    if mask is None:
        mask = torch.ones_like(targets, dtype=torch.bool)
    if not mask.any():
        raise ValueError("mask marks no position; expected at least one position to learn from")
    student = student_logits[mask] / temperature  # (N, vocab), N masked positions
    teacher = teacher_logits.detach()[mask] / temperature  # (N, vocab)
    log_student = F.log_softmax(student, dim=-1)
    log_teacher = F.log_softmax(teacher, dim=-1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(-1).mean()
    task = masked_loss(student_logits, {"targets": targets, "mask": mask})
    loss = alpha * temperature**2 * kl + (1 - alpha) * task
    return loss, {"distill": kl.item(), "task": task.item()}


class TeacherAgreement:
    """Trainer callback: at each evaluation, the share of masked validation positions where the
    student's and the teacher's most likely token agree, logged as ``agreement`` in ``trace``.
    Uses the validation batches :meth:`~explain.trainer.Trainer.evaluate` uses."""

    def __init__(self, teacher: TinyTransformer, trace: Trace, meta: dict[str, Any]) -> None:
        self.teacher, self.trace, self.meta = teacher, trace, meta

    def on_train_begin(self, trainer: Trainer) -> None:
        self.trace.meta["distillation"] = self.meta

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        config = trainer.config
        held_out = held_out_batches(
            trainer.task, config.eval_batches, config.seed, config.batch_size
        )
        agree = total = 0
        was_training = trainer.model.training
        trainer.model.eval()
        with torch.no_grad():
            for batch in held_out:  # the batches evaluate() scores
                tensors = to_torch(batch, trainer.device, trainer.task)
                student = trainer.model(**model_inputs(tensors)).argmax(-1)  # (B, T)
                teacher = _teacher_logits(self.teacher, tensors).argmax(-1).to(student.device)
                mask = tensors["mask"]
                agree += int(((student == teacher) & mask).sum())
                total += int(mask.sum())
        trainer.model.train(was_training)
        self.trace.log_scalars(step, {"agreement": agree / max(total, 1)})


def _teacher_logits(teacher: TinyTransformer, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The frozen teacher's logits (B, T, vocab) for a batch from ``to_torch``."""
    inputs = {name: t.to(teacher.device) for name, t in model_inputs(batch).items()}
    with torch.no_grad():
        return teacher(**inputs)


def teacher_task(source: Any, task: str | tasks_module.Task | None) -> tasks_module.Task:
    """``task`` as a Task, or, when None, the task the teacher's trace says it learnt."""
    if task is None:
        task_meta = source.trace.meta.get("task", {}) if source.trace is not None else {}
        if "name" not in task_meta:
            raise ValueError("task is needed: the teacher does not say which task it learnt")
        task = task_meta["name"]
    return tasks_module.get(task) if isinstance(task, str) else task


def distill(
    teacher: Run | TinyTransformer | str | Path,
    task: str | tasks_module.Task | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    temperature: float = 2.0,
    alpha: float = 0.5,
    *,
    progress: bool = False,
) -> Run:
    """Train a student on ``task`` to match ``teacher``'s softened predictions.

    ``teacher``: a Run, a TinyTransformer, or a directory written by ``Run.save``; it stays
    frozen (eval mode, no gradients) and is left as found. ``task`` defaults to the teacher
    run's task and must use the teacher's token ids. Without ``model_config`` the student is the
    task's default model (:func:`explain.run.default_model_config`). The trace logs the two
    loss parts (``loss/distill``, ``loss/task``) every step and ``agreement`` at evaluations;
    ``trace.meta["distillation"]`` holds the teacher's config, the temperature and alpha.

    >>> import explain
    >>> teacher = explain.train("reverse", train_config=explain.TrainConfig(steps=2))
    >>> student = explain.distill(teacher, train_config=explain.TrainConfig(steps=2))
    >>> sorted(n for n in student.trace.scalars if n.startswith(("loss/", "agree")))
    ['agreement', 'loss/distill', 'loss/task']
    """
    from ..run import check_vocabulary, default_model_config, load_source, train

    _check_settings(temperature, alpha)
    source = load_source(teacher, what="teacher")
    task = teacher_task(source, task)
    check_vocabulary(source, task, "teacher")
    teacher_model = source.model
    vocab_size = teacher_model.config.vocab_size
    train_config = train_config or TrainConfig()
    if model_config is None:
        model_config = default_model_config(task, seed=train_config.seed, vocab_size=vocab_size)
    if model_config.vocab_size != vocab_size:
        raise ValueError(
            f"the student's vocab_size ({model_config.vocab_size}) must equal the teacher's "
            f"({vocab_size}): the loss compares their predictions token by token"
        )
    meta = {
        "teacher": source.label,
        "teacher_config": teacher_model.config.to_dict(),
        "temperature": float(temperature),
        "alpha": float(alpha),
    }

    def loss_fn(
        model: TinyTransformer, batch: dict[str, torch.Tensor], logits: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        teacher_logits = _teacher_logits(teacher_model, batch).to(logits.device)
        return distillation_loss(
            logits, teacher_logits, batch["targets"], temperature, alpha, batch["mask"]
        )

    recorder = Recorder()
    was_training = teacher_model.training
    teacher_model.eval()  # dropout off: the targets are the teacher's best predictions
    try:
        return train(
            task,
            model_config,
            train_config,
            loss_fn=loss_fn,
            callbacks=[TeacherAgreement(teacher_model, recorder.trace, meta)],
            recorder=recorder,
            progress=progress,
        )
    finally:
        teacher_model.train(was_training)


@dataclass
class HeadMatch:
    """For each student head, the closest teacher head on the probe (see :func:`match_heads`)."""

    distance: np.ndarray  # [student_head, teacher_head] Jensen-Shannon distance, 0..1
    student_labels: list[str]  # "L0H1": layer 0, head 1
    teacher_labels: list[str]
    closest: np.ndarray  # [student_head] index of the closest teacher head
    sentences: list[str]  # one per student head

    def __str__(self) -> str:
        return "\n".join(self.sentences)


def _final_attention(trace: Trace, part: str) -> np.ndarray:
    """The last snapshot's attention of ``part`` as [layer, head, q_pos, k_pos]."""
    names = attention_parts(trace.attention_names()).get(part)
    if not names:
        raise ValueError(f"the trace has no {part} attention; it has {trace.attention_names()}")
    last = int(trace.snapshot_steps[-1])
    return np.stack([trace.tensor(name, last) for name in names])


def match_heads(teacher_trace: Trace, student_trace: Trace, part: str | None = None) -> HeadMatch:
    """Match every student head to the teacher head whose final probe attention is closest.

    The distance is :func:`explain.analysis.head_similarity`'s: the Jensen-Shannon distance of
    two heads' attention rows (0 same, 1 disjoint), averaged over query positions. Both traces
    must be recorded on the same probe (the same task). ``part`` picks the attention of an
    encoder-decoder model (default: as the views choose).
    """
    probes = [t.meta.get("probe", {}).get("ids") for t in (teacher_trace, student_trace)]
    if None not in probes and probes[0] != probes[1]:
        raise ValueError(
            f"the traces were recorded on different probes ({probes[0]} vs {probes[1]}); "
            "match heads on the same task"
        )
    part = part or default_part(attention_parts(student_trace.attention_names()))
    teacher, student = _final_attention(teacher_trace, part), _final_attention(student_trace, part)
    if teacher.shape[2:] != student.shape[2:]:
        raise ValueError(
            f"attention shapes differ: teacher {teacher.shape[2:]}, student {student.shape[2:]} "
            "[q_pos, k_pos]; expected the same probe"
        )
    n_student = student.shape[0] * student.shape[1]
    heads = np.concatenate(
        [student.reshape(-1, *student.shape[2:]), teacher.reshape(-1, *teacher.shape[2:])]
    )
    similarity = head_similarity(heads[None])  # [1 layer, all heads, q, k]: one JS function
    distance = similarity.distance[:n_student, n_student:]  # [student_head, teacher_head]

    def labels(attention: np.ndarray) -> list[str]:
        return [
            f"L{layer}H{head}"
            for layer in range(attention.shape[0])
            for head in range(attention.shape[1])
        ]

    student_labels, teacher_labels = labels(student), labels(teacher)
    closest = distance.argmin(axis=1)
    sentences = []
    for i, j in enumerate(closest):
        d = distance[i, j]
        how = (
            "nearly the same pattern as"
            if d < 0.1
            else "closest to"
            if d < 0.3
            else "unlike any teacher head; nearest is"
        )
        sentences.append(
            f"student {student_labels[i]} is {how} teacher {teacher_labels[j]} "
            f"(Jensen-Shannon distance {d:.2f})"
        )
    return HeadMatch(distance, student_labels, teacher_labels, closest, sentences)
