"""How much a smaller model keeps: a teacher next to students trained with and without it.

:func:`compression_table` trains each student configuration twice with the same steps and seed:
once distilled from the teacher (:func:`~explain.lab.distill`), once on the task alone
(:func:`explain.train`), and measures every model the same way: its parameters, the median
time of one forward pass over a batch, and its validation accuracy.

    >>> import explain
    >>> teacher = explain.train("reverse", train_config=explain.TrainConfig(steps=2))
    >>> small = explain.ModelConfig(vocab_size=11, context_length=12, d_model=16, n_heads=2)
    >>> table = compression_table(teacher, students=[small], train_config=teacher.trainer.config)
    >>> [row.name for row in table.rows]
    ['teacher', 'd_model=16, n_heads=2 · distilled', 'd_model=16, n_heads=2 · task only']
"""

from __future__ import annotations

import html
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .. import tasks as tasks_module
from ..batches import model_inputs, to_torch
from ..config import ModelConfig, TrainConfig
from ..model import TinyTransformer
from .distillation import distill, teacher_task
from .heads import evaluate, held_out

if TYPE_CHECKING:
    from ..run import Run

__all__ = [
    "CompressionRow",
    "CompressionTable",
    "compare_distilled",
    "compression_table",
    "forward_ms",
]

_COLUMNS = ("model", "how trained", "parameters", "forward ms (median)", "val accuracy")


@dataclass(frozen=True)
class CompressionRow:
    """One model of the table."""

    name: str  # "teacher", or the config fields that differ from it and how it was trained
    trained: str  # "teacher", "distilled", "task only"
    parameters: int
    step_ms: float  # median ms of one forward pass over a batch (see forward_ms)
    val_accuracy: float  # on the trainer's validation batches (explain.lab.evaluate)
    config: ModelConfig

    def cells(self) -> list[str]:
        return [
            self.name,
            self.trained,
            f"{self.parameters:,}",
            f"{self.step_ms:.2f}",
            f"{self.val_accuracy:.3f}",
        ]


@dataclass(frozen=True)
class CompressionTable:
    """The teacher and every student, one :class:`CompressionRow` each; a table in a notebook."""

    task: str
    rows: list[CompressionRow]
    steps: int  # training steps of every student
    temperature: float
    alpha: float

    def row(self, name: str) -> CompressionRow:
        """The row called ``name``."""
        for row in self.rows:
            if row.name == name:
                return row
        raise ValueError(f"no row {name!r}; rows: {[row.name for row in self.rows]}")

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        for row in self.rows:
            cells = [cell.replace("|", "\\|") for cell in row.cells()]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row.cells()) + "</tr>"
            for row in self.rows
        )
        caption = html.escape(
            f"task {self.task}: students trained {self.steps} steps "
            f"(distilled at T={self.temperature:g}, alpha={self.alpha:g})"
        )
        return (
            f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )

    def __str__(self) -> str:
        return self.to_markdown()

    def to_json(self) -> dict[str, object]:
        """Plain JSON data (what ``trace.meta["compression"]`` holds and the report draws)."""
        rows = [
            {
                "model": row.name,
                "trained": row.trained,
                "parameters": row.parameters,
                "step_ms": row.step_ms,
                "val_accuracy": row.val_accuracy,
            }
            for row in self.rows
        ]
        return {
            "task": self.task,
            "steps": self.steps,
            "temperature": self.temperature,
            "alpha": self.alpha,
            "rows": rows,
        }


def forward_ms(
    model: TinyTransformer, task: tasks_module.Task, batch_size: int = 64, repeats: int = 20
) -> float:
    """Median time (ms) of one forward pass over a validation batch of ``batch_size``, in eval
    mode without gradients, after two warm-up passes; leaves the model's mode as found.

    On the CPU it is the calling thread's CPU time with torch on one thread: wall time on a
    shared machine measured 7 to 270 ms for the same model from run to run (other processes,
    CPU quotas), CPU time does not count the waiting. On a GPU it is wall time, synchronized.
    """
    batch = to_torch(held_out(task, 1, 0, batch_size)[0], model.device, task)
    inputs = model_inputs(batch)
    on_cpu = model.device.type == "cpu"
    clock = time.thread_time if on_cpu else time.perf_counter
    was_training, threads = model.training, torch.get_num_threads()
    model.eval()
    times = []
    try:
        if on_cpu:
            torch.set_num_threads(1)
        with torch.no_grad():
            for i in range(repeats + 2):
                start = clock()
                model(**inputs)
                if not on_cpu:
                    torch.cuda.synchronize(model.device)
                if i >= 2:
                    times.append((clock() - start) * 1000)
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    return statistics.median(times)


def _differences(config: ModelConfig, reference: ModelConfig) -> str:
    mine, theirs = config.to_dict(), reference.to_dict()
    changed = [f"{k}={v}" for k, v in mine.items() if k != "seed" and theirs.get(k) != v]
    return ", ".join(changed) or "same as teacher"


def _row(
    name: str,
    trained: str,
    model: TinyTransformer,
    task: tasks_module.Task,
    config: TrainConfig,
) -> CompressionRow:
    score = evaluate(model, task, batches=config.eval_batches, seed=config.seed)
    return CompressionRow(
        name=name,
        trained=trained,
        parameters=sum(p.numel() for p in model.parameters()),
        step_ms=forward_ms(model, task, config.batch_size),
        val_accuracy=float(score["accuracy"]),
        config=model.config,
    )


def compression_table(
    teacher: Run | TinyTransformer | str | Path,
    task: str | tasks_module.Task | None = None,
    students: Sequence[ModelConfig] = (),
    train_config: TrainConfig | None = None,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> CompressionTable:
    """The teacher and, for each of ``students``, a model distilled from it and the same model
    trained on the task alone, with the same ``train_config`` (steps and seed).

    ``task`` defaults to the teacher run's task. Each row names the config fields that differ
    from the teacher's (``"d_model=32 · distilled"``).
    """
    from ..run import load_source

    if not students:
        raise ValueError("students must list at least one ModelConfig to compare")
    source = load_source(teacher, what="teacher")
    task = teacher_task(source, task)
    train_config = train_config or TrainConfig()
    rows = [_row("teacher", "teacher", source.model, task, train_config)]
    for config in students:
        if not isinstance(config, ModelConfig):
            raise ValueError(f"students must be ModelConfigs; got {type(config).__name__}")
        distilled = distill(source.model, task, config, train_config, temperature, alpha)
        rows += _student_rows(source.model, distilled.model, task, train_config)
    return CompressionTable(task.name, rows, train_config.steps, float(temperature), float(alpha))


def _student_rows(
    teacher: TinyTransformer,
    distilled: TinyTransformer,
    task: tasks_module.Task,
    train_config: TrainConfig,
) -> list[CompressionRow]:
    """The distilled student's row, then the row of its config trained on the task alone."""
    from ..run import train

    name = _differences(distilled.config, teacher.config)
    alone = train(task, distilled.config, train_config)
    return [
        _row(f"{name} · distilled", "distilled", distilled, task, train_config),
        _row(f"{name} · task only", "task only", alone.model, task, train_config),
    ]


def compare_distilled(
    teacher: Run | TinyTransformer | str | Path,
    distilled: Run,
    temperature: float = 2.0,
    alpha: float = 0.5,
) -> CompressionTable:
    """:func:`compression_table` for a student already distilled (``explain distill
    --compare``): the teacher, that student, and its config trained on its task alone with its
    ``TrainConfig`` (same steps and seed); only the task-only model is trained here.
    """
    from ..run import load_source

    source = load_source(teacher, what="teacher")
    config = distilled.trainer.config
    rows = [_row("teacher", "teacher", source.model, distilled.task, config)]
    rows += _student_rows(source.model, distilled.model, distilled.task, config)
    return CompressionTable(
        distilled.task.name, rows, config.steps, float(temperature), float(alpha)
    )
