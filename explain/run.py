"""``train``: a model for a task, trained by the Trainer while a Recorder writes its trace.

The one call most users make; it wires the pieces (model, trainer, recorder, schedule) and
hands back a :class:`Run` holding all of them.

    >>> import explain
    >>> run = explain.train("reverse", train_config=explain.TrainConfig(steps=5))
    >>> run.status, int(run.trace.steps[-1])
    ('complete', 5)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from . import tasks as tasks_module
from .config import ModelConfig, TrainConfig
from .model import TinyTransformer, resolve_device
from .record import Recorder
from .schedule import RecordSchedule
from .trace import Trace
from .trainer import Trainer, TrainingDiverged

__all__ = ["Run", "default_model_config", "train"]

log = logging.getLogger(__name__)


@dataclass
class Run:
    """What :func:`train` returns: the trained model, its trace, the task and the trainer."""

    model: TinyTransformer
    trace: Trace
    task: tasks_module.Task
    trainer: Trainer

    @property
    def status(self) -> str:
        return self.trainer.status

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write ``trace.npz`` (+ ``trace.json``) and ``model.safetensors`` into ``directory``."""
        from .weights import save_weights

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        trace_path = self.trace.save(directory / "trace.npz")
        weights_path = save_weights(self.model, directory / "model.safetensors")
        return {"trace": trace_path, "weights": weights_path}


def default_model_config(task: tasks_module.Task, seed: int = 0, **overrides: Any) -> ModelConfig:
    """The default model for ``task``: its vocabulary and context, 2 layers x 4 heads."""
    context = max(task.context_length, task.source_length or 0)
    fields: dict[str, Any] = {
        "vocab_size": task.vocab_size,
        "context_length": context,
        "kind": task.kind,
        "seed": seed,
    }
    fields.update(overrides)
    return ModelConfig(**fields)


def train(
    task: str | tasks_module.Task,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    callbacks: Iterable[Any] = (),
    schedule: Callable[[int], bool] | None = None,
    recorder: Recorder | None = None,
    progress: bool = False,
) -> Run:
    """Train a TinyTransformer on ``task`` while a Recorder writes its trace.

    ``task`` is a name from ``explain.tasks.available()`` or a Task. Without ``model_config``
    the model fits the task (:func:`default_model_config`, seeded by ``train_config.seed``).
    Raises :class:`~explain.trainer.TrainingDiverged` (with ``.run``) when the loss stops
    being finite.
    """
    task = tasks_module.get(task) if isinstance(task, str) else task
    train_config = train_config or TrainConfig()
    model_config = model_config or default_model_config(task, seed=train_config.seed)
    if model_config.vocab_size < task.vocab_size:
        raise ValueError(
            f"model_config.vocab_size={model_config.vocab_size} is smaller than task "
            f"{task.name!r}'s vocabulary ({task.vocab_size} tokens)"
        )
    needed = max(task.context_length, task.source_length or 0)
    if model_config.context_length < needed:
        raise ValueError(
            f"model_config.context_length={model_config.context_length} is shorter than task "
            f"{task.name!r}'s sequences ({needed} tokens)"
        )
    if model_config.kind != task.kind:
        model_config = replace(model_config, kind=task.kind)
        log.info("task %r needs kind=%r; using it", task.name, task.kind)
    device = resolve_device(train_config.device)
    torch.manual_seed(train_config.seed)  # dropout
    model = TinyTransformer(model_config, device=device)
    recorder = recorder or Recorder()
    trainer = Trainer(
        model,
        task,
        train_config,
        callbacks=[recorder, *callbacks],
        snapshot_schedule=schedule or RecordSchedule(),
        progress=progress,
    )
    run = Run(model=model, trace=recorder.trace, task=task, trainer=trainer)
    try:
        trainer.run()
    except TrainingDiverged as err:
        err.run = run
        raise
    return run
