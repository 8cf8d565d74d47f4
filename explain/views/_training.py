"""View models of training itself: the loss curves and what the optimizer did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..style import SIGNED
from ..trace import Trace
from . import _heads
from ._common import ViewModel, choose, consistent, holds, require_finite, task_name, titled


# -- loss ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    steps: np.ndarray  # steps at which the value was logged
    values: np.ndarray


LOSS_SCALARS = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "val_accuracy": "validation accuracy",
    "lr": "learning rate",
    "grad_norm": "gradient norm",
}


@dataclass(frozen=True)
class LossData(ViewModel):
    """Training and validation loss, validation accuracy, learning rate and gradient norm."""

    what: ClassVar[str] = "loss"
    FIELDS: ClassVar = tuple(
        "task title colorscale labels snapshot_steps curves events phases".split()
    )
    FRAMED: ClassVar = ()

    steps: np.ndarray  # every logged step
    snapshot_steps: np.ndarray  # where the other views can go (a cursor moves over these)
    curves: dict[str, Curve]  # scalar name -> its logged values (not-logged steps left out)
    labels: dict[str, str]  # scalar name -> legend label
    events: list[Event]  # where a head's pattern appeared (explain.analysis.emergence)
    task: str
    title: str
    colorscale: str | None = None
    phases: list[Phase] = field(default_factory=list)  # pre-training, fine-tuning, ...

    @property
    def boundaries(self) -> list[Phase]:
        """The phases that start after the first: where a solid line marks the change."""
        return self.phases[1:]


@dataclass(frozen=True)
class Event:
    """A moment of training worth a marker on the curves."""

    step: int
    label: str  # e.g. "mirror heads appear: L1H3 (+3 more by step 64)"


@dataclass(frozen=True)
class Phase:
    """One phase of a run on the shared step axis (``trace.meta["phases"]``)."""

    name: str  # "pre-training", "fine-tuning"
    task: str
    first_step: int

    @property
    def label(self) -> str:
        """e.g. ``"fine-tuning on reverse"``."""
        return f"{self.name} on {self.task}" if self.task else self.name


def phases(trace: Trace) -> list[Phase]:
    """The phases in ``trace.meta["phases"]`` (written by ``explain.train(init=...)``), in
    step order; empty for a run with one phase."""
    listed = trace.meta.get("phases")
    if not isinstance(listed, list):
        return []
    found = [
        Phase(str(p.get("name", "")), str(p.get("task") or ""), int(p.get("first_step", 0)))
        for p in listed
        if isinstance(p, dict)
    ]
    return sorted(found, key=lambda phase: phase.first_step)


def emergence_events(trace: Trace) -> list[Event]:
    """One event per pattern: the first step a head's score rose past 0.5 and stayed there
    (heads that show it from step 0 on have nothing to mark); none without attention."""
    try:
        scored = _heads.scores(trace)
    except ValueError:
        return []
    events = []
    for pattern in scored.patterns:
        found = [
            (int(step), scored.labels[layer * scored.heads + head])
            for (layer, head), step in np.ndenumerate(scored.emergence[pattern])
            if step > 0
        ]
        if not found:
            continue
        found.sort()
        (first, label), last = found[0], found[-1][0]
        name = _heads.ROLE_NAMES.get(pattern, pattern)
        more = f" (+{len(found) - 1} more by step {last})" if len(found) > 1 else ""
        events.append(Event(first, f"{name} appears: {label}{more}"))
    return sorted(events, key=lambda event: event.step)


@consistent
def loss(trace: Trace) -> LossData:
    """The training curves of ``trace``; non-finite values (a diverged run) are kept."""
    scalars = trace.scalars
    if "loss" not in scalars and "val_loss" not in scalars:
        raise ValueError(
            "this trace has no 'loss' or 'val_loss' scalars; it holds: "
            f"{', '.join(sorted(scalars)) or 'no scalars'}"
        )
    curves = {name: Curve(*trace.scalar(name)) for name in LOSS_SCALARS if name in scalars}
    task = task_name(trace)
    return LossData(
        steps=trace.steps,
        snapshot_steps=trace.snapshot_steps,
        curves=curves,
        labels={name: LOSS_SCALARS[name] for name in curves},
        events=emergence_events(trace),
        task=task,
        title=titled("training curves", task),
        phases=phases(trace),
    )


# -- optimizer -------------------------------------------------------------------------------
OPTIMIZER_TENSORS = {
    "grad": "gradient",
    "update": "update Δw applied",
    "exp_avg": "Adam m (mean gradient)",
    "exp_avg_sq": "Adam √v (gradient scale)",
    "momentum_buffer": "momentum buffer",
}
HISTOGRAM_BINS = 41


@dataclass(frozen=True)
class OptimizerData(ViewModel):
    """Per-step update sizes of every parameter, and one tracked parameter's gradient, update
    and optimizer moments at every snapshot (``exp_avg_sq`` shown as its square root), as the
    Recorder stores them: rounded to bfloat16, each value within 0.4% (``explain.record``)."""

    what: ClassVar[str] = "optimizer"
    FIELDS: ClassVar = tuple(
        "optimizer parameter parameters task title colorscale tensor_titles scalar_steps "
        "grad_norm update_ratio parameter_grad_norm steps norms histogram_centres "
        "histogram_counts tensors row_labels".split()
    )
    FRAMED: ClassVar = ("steps", "norms", "histogram_centres", "histogram_counts", "tensors")

    optimizer: str  # "adamw", ... or "" when unknown
    parameter: str  # the tracked parameter whose tensors are shown ("" when none is)
    parameters: tuple[str, ...]  # every tracked parameter
    scalar_steps: np.ndarray  # every logged step
    grad_norm: np.ndarray  # [n_steps] global gradient norm before clipping (NaN if absent)
    update_ratio: dict[str, np.ndarray]  # parameter -> [n_steps] ||update|| / ||weight||
    parameter_grad_norm: Curve  # this parameter's gradient norm per logged step
    steps: np.ndarray  # snapshot steps: the frame axis
    tensors: dict[str, np.ndarray]  # kind -> [snapshot, rows, cols]; exp_avg_sq as √v
    norms: dict[str, np.ndarray]  # kind -> [snapshot] Frobenius norm of tensors[kind]
    histogram_centres: np.ndarray  # [snapshot, bins] of the applied update, symmetric about 0
    histogram_counts: np.ndarray  # [snapshot, bins]
    tensor_titles: dict[str, str]  # kind -> panel title
    row_labels: list[str] | None  # token per row for embedding matrices
    task: str
    title: str
    colorscale: str = SIGNED  # of signed tensors; √v (never negative) uses WEIGHT


def update_histogram(
    update: np.ndarray, bins: int = HISTOGRAM_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, counts) of ``update``'s values, bins symmetric about 0."""
    values = np.asarray(update, np.float64).ravel()
    reach = float(np.abs(values).max()) if values.size else 0.0
    reach = reach if reach > 0 else 1e-12
    counts, edges = np.histogram(values, bins=bins, range=(-reach, reach))
    return (edges[:-1] + edges[1:]) / 2, counts


@consistent
def optimizer(trace: Trace, parameter: str | None = None) -> OptimizerData:
    """What the optimizer did: update sizes of every parameter, and the state of ``parameter``
    (default: the first tracked one)."""
    tensors, scalars = trace.tensors, trace.scalars
    tracked = [name.split("/", 1)[1] for name in tensors if name.startswith("update/")]
    listed = trace.meta.get("tracked_parameters")
    if isinstance(listed, list) and set(listed) == set(tracked):
        tracked = [str(name) for name in listed]
    ratios = {n.split("/", 1)[1]: v for n, v in scalars.items() if n.startswith("update_ratio/")}
    if not tracked and not ratios:
        raise ValueError(
            "this trace has no optimizer data ('update_ratio/<param>' scalars or "
            f"'update/<param>' tensors, which explain.Recorder records); it holds: {holds(trace)}"
        )
    if parameter is not None:
        choose("parameter", parameter, tracked, " (tracked parameters)")
    parameter = parameter if parameter is not None else (tracked[0] if tracked else "")
    shown: dict[str, np.ndarray] = {}
    for kind in OPTIMIZER_TENSORS:
        name = f"{kind}/{parameter}"
        if name in tensors:
            values = np.asarray(tensors[name], np.float64)
            require_finite(name, values)
            values = (
                values.reshape(len(values), values.shape[1], -1)
                if values.ndim > 2
                else (values.reshape(len(values), 1, -1))
            )
            shown[kind] = np.sqrt(np.clip(values, 0, None)) if kind == "exp_avg_sq" else values
    snapshots = len(trace.snapshot_steps)
    histogram = [update_histogram(u) for u in shown["update"]] if "update" in shown else []
    vocab = trace.meta.get("vocab")
    rows = None
    if parameter.endswith("embed.W_E.weight") and shown and isinstance(vocab, list):
        height = next(iter(shown.values())).shape[1]
        rows = [str(v) for v in vocab[:height]] + [str(i) for i in range(len(vocab), height)]
    config = trace.meta.get("train_config")
    name = str(config.get("optimizer", "")) if isinstance(config, dict) else ""
    own_norm = f"grad_norm/{parameter}"
    task = task_name(trace)
    return OptimizerData(
        optimizer=name,
        parameter=parameter,
        parameters=tuple(tracked),
        scalar_steps=trace.steps,
        grad_norm=scalars.get("grad_norm", np.full(len(trace.steps), np.nan)),
        update_ratio=ratios,
        parameter_grad_norm=Curve(*trace.scalar(own_norm))
        if own_norm in scalars
        else Curve(np.zeros(0, np.int64), np.zeros(0)),
        steps=trace.snapshot_steps if shown else trace.steps,
        tensors=shown,
        norms={kind: np.linalg.norm(v.reshape(len(v), -1), axis=1) for kind, v in shown.items()},
        histogram_centres=np.array([c for c, _ in histogram]).reshape(
            snapshots if histogram else 0, -1
        ),
        histogram_counts=np.array([n for _, n in histogram]).reshape(
            snapshots if histogram else 0, -1
        ),
        tensor_titles={kind: OPTIMIZER_TENSORS[kind] for kind in shown},
        row_labels=rows,
        task=task,
        title=titled("optimizer", task),
    )
