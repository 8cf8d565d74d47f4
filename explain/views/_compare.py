"""The compare view model: two or more runs side by side on one shared step axis. No torch.

A scalar every run logged (``metric``) overlaid, and the same attention head (``part``,
``layer``, ``head``) of each run. The step axis is the union of every run's snapshot steps; at
each of them a run shows its own nearest snapshot (ties go to the earlier one). With
``align="phase"`` steps count from the start of each run's last phase (``trace.meta["phases"]``),
so a fine-tuned run and one trained from scratch start together.

The model holds every run's attention (the traces' arrays, not copies) and every shared scalar,
so :meth:`CompareData.select` picks another metric or head without reading the traces again.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> def run(snapshots, weight):
    ...     pattern = np.full((len(snapshots), 1, 2, 2), weight)  # [snapshot, head, q, k]
    ...     scalars = {"loss": np.ones(snapshots[-1] + 1)}
    ...     return Trace.from_arrays({"probe": {"tokens": ["a", "b"]}},
    ...         np.arange(snapshots[-1] + 1), scalars, snapshots,
    ...         {"blocks.0.attn.hook_pattern": pattern})
    >>> data = compare([run([0, 10], 0.5), run([0, 4, 8], 0.5)], names=["A", "B"])
    >>> data.steps.tolist(), data.shown_at(data.index(4)), data.metric
    ([0, 4, 8, 10], [0, 4], 'loss')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..names import attention_name, attention_parts, default_part
from ..style import WEIGHT
from ..trace import Trace
from ._common import ViewModel, check_integer, require_finite, task_name, titled
from ._training import Curve

PREFERRED = ("loss", "val_loss", "val_accuracy", "lr", "grad_norm")  # listed first, in order
NAME_FIELDS = ("positional", "optimizer", "lr", "d_model", "n_layers", "n_heads", "steps", "seed")
ALIGNS = ("step", "phase")


@dataclass(frozen=True)
class CompareData(ViewModel):
    """Runs side by side: each run's ``metric`` and its ``part`` ``layer`` ``head`` attention
    at every shared step (its nearest snapshot)."""

    what: ClassVar[str] = "compare"
    FIELDS: ClassVar = tuple(
        "task title colorscale steps names align offsets metric part layer head curves "
        "shown_steps query_tokens key_tokens patterns".split()
    )
    FRAMED: ClassVar = ("shown_steps",)  # patterns are written at every step

    steps: np.ndarray  # [step] the union of every run's snapshot steps (aligned), increasing
    names: list[str]  # [run]
    align: str  # "step" or "phase"
    offsets: list[int]  # [run] the step a run's shown steps count from (its last phase's start)
    metrics: list[str]  # the scalars every run logged
    scalars: dict[str, list[Curve]]  # metric -> [run] its values (aligned steps, phase shown)
    parts: dict[str, tuple[int, int]]  # part -> (layers, heads) every run has
    attention: dict[str, list[list[np.ndarray]]]  # part -> [run][layer] [snapshot, head, q, k]
    tokens: dict[str, list[tuple[list[str], list[str]]]]  # part -> [run] (queries, keys)
    snapshot_steps: list[np.ndarray]  # [run] its own snapshot steps in the phase shown
    nearest: np.ndarray  # [step, run] index into the run's snapshots shown at that step
    metric: str
    part: str
    layer: int
    head: int
    task: str
    title: str
    colorscale: str = WEIGHT  # attention weights in [0, 1]

    # -- what is shown -------------------------------------------------------------------------
    @property
    def curves(self) -> list[Curve]:
        """[run] the metric shown."""
        return self.scalars[self.metric]

    @property
    def shown_steps(self) -> np.ndarray:
        """[step, run] the snapshot step (aligned) each run shows at each shared step."""
        return np.stack(
            [own[self.nearest[:, run]] - offset
             for run, (own, offset) in enumerate(zip(self.snapshot_steps, self.offsets,
                                                     strict=True))],
            axis=1,
        )  # fmt: skip

    @property
    def query_tokens(self) -> list[list[str]]:
        return [queries for queries, _ in self.tokens[self.part]]

    @property
    def key_tokens(self) -> list[list[str]]:
        return [keys for _, keys in self.tokens[self.part]]

    @property
    def patterns(self) -> list[np.ndarray]:
        """[run] the head shown at every shared step, [step, q_pos, k_pos]."""
        return [
            layers[self.layer][self.nearest[:, run], self.head]
            for run, layers in enumerate(self.attention[self.part])
        ]

    def shown_at(self, index: int) -> list[int]:
        """The snapshot step (aligned) each run shows at frame ``index``."""
        return [
            int(own[self.nearest[index, run]]) - offset
            for run, (own, offset) in enumerate(zip(self.snapshot_steps, self.offsets, strict=True))
        ]

    def own_step(self, run: int, index: int) -> int:
        """Run ``run``'s own (unaligned) snapshot step shown at frame ``index``."""
        return int(self.snapshot_steps[run][self.nearest[index, run]])

    def at(self, index: int) -> list[np.ndarray]:
        """[run] the [q_pos, k_pos] attention each run shows at frame ``index``."""
        return [
            layers[self.layer][self.nearest[index, run], self.head]
            for run, layers in enumerate(self.attention[self.part])
        ]

    # -- another selection ----------------------------------------------------------------------
    def select(
        self,
        *,
        metric: str | None = None,
        part: str | None = None,
        layer: int | None = None,
        head: int | None = None,
    ) -> CompareData:
        """The same runs showing another metric or head (None keeps the one shown); ValueError
        names a choice not every run has."""
        metric = self.metric if metric is None else metric
        if metric not in self.metrics:
            raise ValueError(
                f"metric {metric!r} is not logged by every run; expected one of {self.metrics}"
            )
        part = self.part if part is None else part
        if part not in self.parts:
            raise ValueError(
                f"part {part!r} is not in every run; expected one of {list(self.parts)}"
            )
        n_layers, n_heads = self.parts[part]
        layer = self.layer if layer is None else layer
        head = self.head if head is None else head
        for what, value, count in (("layer", layer, n_layers), ("head", head, n_heads)):
            check_integer(what, value)
            if not 0 <= value < count:
                raise ValueError(f"{what} {value} is out of range; expected 0..{count - 1}")
        return replace(self, metric=metric, part=part, layer=int(layer), head=int(head))


# -- from traces -------------------------------------------------------------------------------
def probe_tokens(trace: Trace, part: str) -> tuple[list[str], list[str]]:
    """(query tokens, key tokens) of ``part`` from the trace's probe."""
    probe = trace.meta.get("probe") if isinstance(trace.meta.get("probe"), dict) else {}
    target = probe.get("tokens")
    source = probe.get("source_tokens")
    queries = source if part == "encoder" else target
    keys = source if part in ("encoder", "cross") else target
    return [str(t) for t in queries or []], [str(t) for t in keys or []]


def auto_names(traces: Sequence[Trace]) -> list[str]:
    """Names from the config fields that differ between runs, else "run 0", "run 1", ..."""
    configs = []
    for trace in traces:
        merged: dict[str, Any] = {}
        for key in ("train_config", "model_config"):
            value = trace.meta.get(key)
            if isinstance(value, dict):
                merged.update(value)
        configs.append(merged)
    differing = [
        f
        for f in NAME_FIELDS
        if all(f in c for c in configs) and len({repr(c[f]) for c in configs}) > 1
    ]
    names = [
        ", ".join(f"{f}={c.get(f)}" for f in differing) if differing else f"run {i}"
        for i, c in enumerate(configs)
    ]
    return names if len(set(names)) == len(names) else [f"run {i}" for i in range(len(traces))]


def last_phase_start(trace: Trace) -> int:
    """The first step of the trace's last phase (``trace.meta["phases"]``); 0 without phases."""
    phases = trace.meta.get("phases")
    starts = [int(p.get("first_step", 0)) for p in phases or [] if isinstance(p, dict)]
    return max(starts, default=0)


def _attention(traces: Sequence[Trace], names: Sequence[str]) -> tuple[dict, list[dict]]:
    """(part -> (layers, heads) common to every run, [run] part -> names by layer), checking
    that every run has attention and that its shapes fit its probe and its values are finite."""
    common: dict[str, tuple[int, int]] | None = None
    found: list[dict[str, list[str]]] = []
    for i, trace in enumerate(traces):
        try:
            parts = attention_parts(trace.attention_names())
        except ValueError as error:
            raise ValueError(f"run {i} ({names[i]}): {error}") from None
        if not parts:
            raise ValueError(
                f"run {i} ({names[i]}) has no attention patterns: expected tensors "
                f"such as {attention_name(0)!r} [snapshot, head, q_pos, k_pos]"
            )
        found.append(parts)
        sizes = {}
        for part, tensor_names in parts.items():
            queries, keys = probe_tokens(trace, part)
            heads = set()
            for name in tensor_names:
                array = trace.tensors[name]
                expected = (len(queries), len(keys))
                if array.ndim != 4 or array.shape[2:] != expected:
                    raise ValueError(
                        f"run {i} ({names[i]}): {name} has shape {array.shape}; expected "
                        f"[snapshot, head, {expected[0]}, {expected[1]}] for its probe tokens"
                    )
                require_finite(f"run {i} ({names[i]}) {name}", array)
                heads.add(array.shape[1])
            sizes[part] = (len(tensor_names), min(heads))
        if common is None:
            common = sizes
        else:
            common = {
                p: (min(common[p][0], sizes[p][0]), min(common[p][1], sizes[p][1]))
                for p in common
                if p in sizes
            }
    if not common:
        raise ValueError("the runs share no kind of attention (self, encoder, decoder, cross)")
    return common, found


def _nearest(own: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Index into ``own`` (increasing) of the step nearest each of ``steps``, clipped to its
    range; ties go to the earlier one (as :meth:`Trace.at`)."""
    clipped = np.clip(steps, own[0], own[-1])
    right = np.searchsorted(own, clipped, side="left")
    left = np.maximum(right - 1, 0)
    earlier = (own[right] != clipped) & (clipped - own[left] <= own[right] - clipped)
    return np.where(earlier, left, right)


def compare(
    traces: Sequence[Trace],
    *,
    names: Sequence[str] | None = None,
    metric: str = "loss",
    part: str | None = None,
    layer: int = 0,
    head: int = 0,
    align: str = "step",
) -> CompareData:
    """The compare view model of two or more ``traces`` (names default to the config fields
    that differ); ValueError names what a run lacks or what is expected."""
    if align not in ALIGNS:
        raise ValueError(f"align must be 'step' or 'phase'; got {align!r}")
    traces = [t.frozen() if isinstance(t, Trace) else t for t in traces]
    if len(traces) < 2:
        raise ValueError(f"compare needs two or more traces; got {len(traces)}")
    for i, trace in enumerate(traces):
        if not isinstance(trace, Trace):
            raise ValueError(f"run {i} must be an explain Trace; got {type(trace).__name__}")
        if len(trace) == 0:
            raise ValueError(f"run {i} has no snapshots: expected at least one (step 0)")
    names = auto_names(traces) if names is None else [str(n) for n in names]
    if len(names) != len(traces):
        raise ValueError(f"got {len(names)} names for {len(traces)} runs; expected one each")
    common, found = _attention(traces, names)
    shared = set.intersection(*(set(t.scalars) for t in traces))
    if not shared:
        raise ValueError("the runs share no logged scalar (e.g. 'loss') to plot")
    metrics = [m for m in PREFERRED if m in shared] + sorted(shared - set(PREFERRED))
    offsets = [last_phase_start(t) if align == "phase" else 0 for t in traces]
    # each run's snapshots in the phase shown, a slice (no copy of its attention); a run whose
    # last phase has none shows its last
    kept = [
        slice(min(int(np.searchsorted(t.snapshot_steps, offset)), len(t) - 1), None)
        for t, offset in zip(traces, offsets, strict=True)
    ]
    own = [t.snapshot_steps[k] for t, k in zip(traces, kept, strict=True)]
    steps = np.unique(np.concatenate([s - o for s, o in zip(own, offsets, strict=True)]))
    nearest = np.stack([_nearest(s, steps + o) for s, o in zip(own, offsets, strict=True)], 1)
    scalars = {}
    for name in metrics:
        scalars[name] = []
        for trace, offset in zip(traces, offsets, strict=True):
            x, y = trace.scalar(name)
            scalars[name].append(Curve(x[x >= offset] - offset, y[x >= offset]))
    attention: dict[str, list[list[np.ndarray]]] = {p: [] for p in common}
    for trace, run, k in zip(traces, found, kept, strict=True):
        tensors = trace.tensors
        for p, (n_layers, _) in common.items():
            attention[p].append([tensors[name][k] for name in run[p][:n_layers]])
    tokens = {p: [probe_tokens(t, p) for t in traces] for p in common}
    part = default_part(list(common)) if part is None else part
    task = task_name(traces[0])
    data = CompareData(
        steps=steps.astype(np.int64),
        names=names,
        align=align,
        offsets=offsets,
        metrics=metrics,
        scalars=scalars,
        parts=common,
        attention=attention,
        tokens=tokens,
        snapshot_steps=own,
        nearest=nearest,
        metric=metrics[0],
        part=next(iter(common)),
        layer=0,
        head=0,
        task=task,
        title=titled("runs compared", task),
    )
    return data.select(metric=metric, part=part, layer=layer, head=head)
