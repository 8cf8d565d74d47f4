"""``train``: a model for a task, trained by the Trainer while a Recorder writes its trace.

The one call most users make; it wires the pieces (model, trainer, recorder, schedule) and
hands back a :class:`Run` holding all of them. Fine-tuning is the same call with another
starting point (``init``, optionally ``freeze``); distillation (:func:`explain.distill`) the
same call with another loss (``loss_fn``).

    >>> import explain
    >>> run = explain.train("reverse", train_config=explain.TrainConfig(steps=5))
    >>> run.status, int(run.trace.steps[-1])
    ('complete', 5)
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from . import tasks as tasks_module
from .config import ModelConfig, TrainConfig
from .model import TinyTransformer, resolve_device
from .record import Recorder
from .schedule import RecordSchedule
from .trace import Trace, load_trace
from .trainer import LossFn, Trainer, TrainingDiverged

__all__ = ["Run", "default_model_config", "load_source", "train"]

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


@dataclass
class _NoteStop:
    """Callback: copies an early stop (``TrainConfig.stop_when_solved``) into the trace as
    ``trace.meta["stopped"] = {"step", "reason"}``, the step on the trace's own step axis."""

    # Not named ``trace``: a callback with run.trace as ``.trace`` is taken for its Recorder.
    noted: Trace
    step_offset: int = 0  # a continued trace counts steps from its pre-training

    def on_train_end(self, trainer: Trainer, status: str) -> None:
        if trainer.stopped is not None:
            step = self.step_offset + int(trainer.stopped["step"])
            self.noted.meta["stopped"] = {**trainer.stopped, "step": step}
        else:  # a continued trace keeps its pre-training's meta: that stop is not this run's
            self.noted.meta.pop("stopped", None)


def default_model_config(task: tasks_module.Task, seed: int = 0, **overrides: Any) -> ModelConfig:
    """The default model for ``task``: its vocabulary and context, 2 layers x 4 heads, then the
    task's own ``recommended_model`` fields if it has them, then ``overrides``.

    Only ``induction`` recommends one: RoPE, d_model 32 (with the default sinusoidal model its
    loss stays on the plateau and no two-head circuit forms; see
    :class:`~explain.tasks.InductionTask`).
    """
    context = max(task.context_length, task.source_length or 0)
    fields: dict[str, Any] = {
        "vocab_size": task.vocab_size,
        "context_length": context,
        "kind": task.kind,
        "seed": seed,
    }
    fields.update(getattr(task, "recommended_model", {}))
    fields.update(overrides)
    return ModelConfig(**fields)


def default_train_config(task: tasks_module.Task, **overrides: Any) -> TrainConfig:
    """The default training for ``task``: :class:`TrainConfig`'s defaults, then the task's own
    ``recommended_train`` fields if it has them, then ``overrides`` (what a caller set wins).

    Only ``induction`` recommends one: 500 steps of 128 sequences at lr 0.01 (with the
    defaults, 400 steps of 64 at 0.003, no two-head circuit forms; see
    :class:`~explain.tasks.InductionTask`).
    """
    return TrainConfig(**{**getattr(task, "recommended_train", {}), **overrides})


@dataclass
class Source:
    """A trained model to start from or learn from, with what is known about it."""

    model: TinyTransformer
    trace: Trace | None  # its training trace, when there is one
    vocab: list[str] | None  # its tokens by id, when known (a bare model knows only their count)
    label: str  # how to name it in messages and metadata


def load_source(source: Run | TinyTransformer | str | Path, what: str = "init") -> Source:
    """A Run, a TinyTransformer, or a directory (or ``model.safetensors`` file) written by
    :meth:`Run.save`; a ``trace.npz`` beside the weights gives the vocabulary and the trace."""
    if isinstance(source, Run):
        return Source(source.model, source.trace, list(source.task.vocab), "a Run")
    if isinstance(source, TinyTransformer):
        return Source(source, None, None, "a TinyTransformer")
    if not isinstance(source, str | Path):
        raise TypeError(
            f"{what} must be a Run, a TinyTransformer or a path; got {type(source).__name__}"
        )
    from .weights import load_weights

    path = Path(source)
    weights = path / "model.safetensors" if path.is_dir() else path
    if not weights.exists():
        raise FileNotFoundError(f"{what}: no model.safetensors at {path}")
    model = load_weights(weights)
    trace_path = weights.parent / "trace.npz"
    trace = load_trace(trace_path) if trace_path.exists() else None
    vocab = trace.meta.get("vocab") if trace is not None else None
    return Source(model, trace, vocab, str(path))


def check_vocabulary(source: Source, task: tasks_module.Task, what: str) -> None:
    """ValueError unless ``task``'s tokens have the same ids in ``source``'s vocabulary."""
    tokens = list(task.vocab)
    if source.vocab is None:  # a bare model: only the number of tokens can be checked
        size = source.model.config.vocab_size
        if size < len(tokens):
            raise ValueError(
                f"task {task.name!r} has {len(tokens)} tokens; the {what} model has only {size} "
                f"(missing: {tokens[size:]})"
            )
        return
    missing = [token for token in tokens if token not in source.vocab]
    if missing:
        raise ValueError(
            f"the {what} model's vocabulary lacks task {task.name!r}'s tokens {missing}; "
            f"it has {source.vocab}"
        )
    if source.vocab[: len(tokens)] != tokens:
        raise ValueError(
            f"the {what} model numbers task {task.name!r}'s tokens differently: "
            f"{source.vocab[: len(tokens)]} vs {tokens}"
        )


def freeze_parameters(model: TinyTransformer, prefixes: Sequence[str]) -> list[str]:
    """Stop gradients to the parameters under each module-path prefix; returns their names."""
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    names = [name for name, _ in model.named_parameters()]
    frozen: list[str] = []
    for prefix in prefixes:
        matched = [n for n in names if n == prefix or n.startswith(f"{prefix}.")]
        if not matched:
            # Module paths that hold parameters (hook points hold none: freezing one does nothing).
            owners = [name.split(".")[:-1] for name in names]
            paths = [".".join(o[:i]) for o in owners for i in range(1, len(o) + 1)]
            paths = list(dict.fromkeys(paths))
            raise ValueError(
                f"freeze: {prefix!r} matches no parameter; expected a module path such as "
                f"'embed' or 'blocks.0', or one of {paths}"
            )
        frozen += [n for n in matched if n not in frozen]
    if len(frozen) == len(names):
        raise ValueError(f"freeze: {list(prefixes)} freezes every parameter; nothing to train")
    parameters = dict(model.named_parameters())
    for name in frozen:
        parameters[name].requires_grad_(False)
    return frozen


def _continued_trace(start: Source, task: tasks_module.Task) -> tuple[Trace, int] | None:
    """A copy of the starting run's trace to continue on one step axis, and its last step;
    None when there is no trace or the new task's probe has another shape (then the
    snapshots could not share arrays)."""
    trace = start.trace
    if trace is None or len(trace.steps) == 0:
        return None
    probe, old = task.probe(), trace.meta.get("probe", {})
    same_shape = len(old.get("ids", ())) == probe.inputs.shape[1] and len(
        old.get("source_ids", ())
    ) == (0 if probe.source is None else probe.source.shape[1])
    if not same_shape:
        log.warning("the new task's probe has another shape; the trace starts afresh")
        return None
    last = int(trace.steps[-1])
    phases = trace.meta.get("phases") or [
        {"name": "pre-training", "task": trace.meta.get("task", {}).get("name"), "first_step": 0}
    ]
    continued = trace.select()  # a deep copy: the starting run's trace stays as it was
    continued.meta.pop("lab", None)  # head measurements of the starting model, not this one
    continued.meta["phases"] = [*copy.deepcopy(phases)]
    return continued, last


def train(
    task: str | tasks_module.Task,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    init: Run | TinyTransformer | str | Path | None = None,
    freeze: Sequence[str] = (),
    loss_fn: LossFn | None = None,
    callbacks: Iterable[Any] = (),
    schedule: Callable[[int], bool] | None = None,
    recorder: Recorder | None = None,
    progress: bool = False,
) -> Run:
    """Train a TinyTransformer on ``task`` while a Recorder writes its trace.

    ``task`` is a name from ``explain.tasks.available()`` or a Task. Without ``model_config``
    the model fits the task (:func:`default_model_config`, seeded by ``train_config.seed``);
    without ``train_config`` the training does (:func:`default_train_config`).
    ``init`` fine-tunes a copy of trained weights instead (a Run, a TinyTransformer, or a
    directory written by :meth:`Run.save`); the task must use the same token ids. When ``init``
    has a trace (and no ``recorder`` is passed), the new trace continues a copy of it on one
    step axis and ``trace.meta["phases"]`` says where each phase starts. ``freeze`` names
    module-path prefixes (``"embed"``, ``"blocks.0"``) whose parameters stay bit-identical.
    ``loss_fn(model, batch, logits) -> (loss, parts)`` replaces the training loss (see
    :class:`~explain.trainer.Trainer`).
    Raises :class:`~explain.trainer.TrainingDiverged` (with ``.run``) when the loss stops
    being finite.
    """
    task = tasks_module.get(task) if isinstance(task, str) else task
    train_config = train_config or default_train_config(task)
    start = load_source(init) if init is not None else None
    if start is not None:
        if model_config is not None and model_config != start.model.config:
            raise ValueError("pass model_config or init, not both: init brings its own config")
        check_vocabulary(start, task, "init")
        model_config = start.model.config
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
    frozen = freeze_parameters(model, freeze) if freeze else []
    continued = None
    if start is not None:
        model.load_state_dict(start.model.state_dict())  # a copy: init stays as it was
        continued = _continued_trace(start, task) if recorder is None else None
    if continued is not None:
        trace, last = continued
        trace.meta["phases"].append({"name": "fine-tuning", "task": task.name, "first_step": last})
        recorder = Recorder(trace=trace, step_offset=last)
    recorder = recorder or Recorder()
    if start is not None:
        recorder.trace.meta["init"] = start.label
        if continued is None:
            recorder.trace.meta["phases"] = [
                {"name": "fine-tuning", "task": task.name, "first_step": 0}
            ]
    if frozen:
        recorder.trace.meta["frozen"] = frozen
    trainer = Trainer(
        model,
        task,
        train_config,
        callbacks=[recorder, _NoteStop(recorder.trace, recorder.step_offset), *callbacks],
        snapshot_schedule=schedule or RecordSchedule(),
        progress=progress,
        loss_fn=loss_fn,
    )
    run = Run(model=model, trace=recorder.trace, task=task, trainer=trainer)
    try:
        trainer.run()
    except TrainingDiverged as err:
        err.run = run
        raise
    return run
