"""What every view model shares: the step axis, input checks, and the JSON form. No torch."""

from __future__ import annotations

import dataclasses
import functools
import math
import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np

from .._arrays import value_range
from ..trace import Trace

# -- one consistent read -----------------------------------------------------------------------
View = TypeVar("View", bound=Callable[..., Any])


def consistent(build: View) -> View:
    """Build the view model from :meth:`Trace.frozen`: a trace that training appends to from
    another thread is read once, so the steps and the arrays of one view agree in length."""

    @functools.wraps(build)
    def wrapper(trace: Trace, *args: Any, **kwargs: Any) -> Any:
        if isinstance(trace, Trace):
            trace = trace.frozen()
        return build(trace, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


# -- derived values, one memo ---------------------------------------------------------------
_MEMO: dict[int, dict[Hashable, Any]] = {}


def memo(owner: object, key: Hashable, make: Callable[[], Any]) -> Any:
    """``make()``, computed once per ``owner`` and ``key`` while ``owner`` lives: the memo of
    what is derived from a view model or its arrays (pattern scores, the grid's thumbnails, a
    builder's figure parts). It holds no reference to ``owner`` and ends with it, so a closed
    view's arrays are freed. The value is shared: nothing may change it afterwards."""
    values = _MEMO.get(id(owner))
    if values is None:
        values = _MEMO[id(owner)] = {}
        weakref.finalize(owner, _MEMO.pop, id(owner), None)
    if key not in values:
        values[key] = make()
    return values[key]


def forget(owner: object) -> None:
    """Drop what :func:`memo` holds for ``owner`` (the next use computes it again)."""
    values = _MEMO.get(id(owner))
    if values is not None:
        values.clear()


# -- steps -----------------------------------------------------------------------------------
def describe_steps(steps: Sequence[int] | np.ndarray, limit: int = 6) -> str:
    """Steps as runs, e.g. ``"0-64 (every 1), 66-128 (every 2)"``; for error messages."""
    steps = np.asarray(steps, np.int64)
    if not len(steps):
        return "none"
    runs: list[str] = []
    start = 0
    for end in range(1, len(steps) + 1):
        if end == len(steps) or (
            end - start > 1 and steps[end] - steps[end - 1] != steps[start + 1] - steps[start]
        ):
            if end - start == 1:
                runs.append(str(steps[start]))
            elif end - start == 2:
                runs.append(f"{steps[start]}, {steps[start + 1]}")
            else:
                every = steps[start + 1] - steps[start]
                runs.append(f"{steps[start]}-{steps[end - 1]} (every {every})")
            start = end
    shown = ", ".join(runs[:limit])
    return shown + (f", ... ({len(steps)} steps)" if len(runs) > limit else "")


def step_index(steps: np.ndarray, step: int | None, what: str = "snapshot") -> int:
    """Index of ``step`` in ``steps`` (the last one for None); a step not recorded is an error."""
    if not len(steps):
        raise ValueError(f"the trace has no {what} steps to show")
    if step is None:
        return len(steps) - 1
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        raise ValueError(f"step must be an integer; got {step!r}")
    hits = np.flatnonzero(steps == step)
    if hits.size:
        return int(hits[0])
    right = int(np.searchsorted(steps, step))
    near = [int(steps[i]) for i in (right - 1, right) if 0 <= i < len(steps)]
    raise ValueError(
        f"step {step} has no {what} in this trace; nearest: {', '.join(map(str, near))}; "
        f"recorded {what} steps: {describe_steps(steps)}"
    )


def frame_indices(count: int, max_frames: int) -> np.ndarray:
    """At most ``max_frames`` indices into ``count`` items, evenly spread, first and last kept."""
    if count <= 0:
        raise ValueError("there are no snapshots to animate")
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2; got {max_frames}")
    if count <= max_frames:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_frames)).astype(np.int64))


# -- helpers ---------------------------------------------------------------------------------
def choose(kind: str, value: object, available: Sequence[object], context: str = "") -> None:
    if value not in available:
        listed = ", ".join(map(str, available)) if available else "none"
        raise ValueError(f"{kind} {value!r} is not in this trace{context}; available: {listed}")


def check_integer(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)):
        raise ValueError(f"{name} must be an integer; got {value!r}")


def task_name(trace: Trace) -> str:
    task = trace.meta.get("task")
    return str(task.get("name", "")) if isinstance(task, dict) else ""


# Traces of attention given as it is (explain.adapters: from_attentions, from_hf; and
# explain.lab.record_hf): one snapshot of a model trained elsewhere, numbered step 0
GIVEN_SOURCES = ("attentions", "transformers")


def trained(trace: Trace) -> bool:
    """False for a trace of attention given as it is (:data:`GIVEN_SOURCES`): its one snapshot
    is no training step, so titles and step readouts name none (a trained model's attention
    was titled "step 0")."""
    return trace.meta.get("source") not in GIVEN_SOURCES


def titled(what: str, task: str) -> str:
    return f"{what} · task {task}" if task else what


def probe_tokens(trace: Trace, key: str) -> list[str] | None:
    probe = trace.meta.get("probe")
    tokens = probe.get(key) if isinstance(probe, dict) else None
    return [str(t) for t in tokens] if isinstance(tokens, list | tuple) else None


def require_finite(name: str, array: np.ndarray) -> None:
    """ValueError naming ``name`` and the first bad index if ``array`` holds NaN or inf."""
    array = np.asarray(array)
    if not array.size:
        return
    if array.dtype.kind in "fiub" and all(map(math.isfinite, value_range(array))):
        return  # one read and no bool array of its shape (a 604 MB attention: 0.1 s less)
    finite = np.isfinite(array)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} holds NaN or inf (first at index {where}); expected finite numbers"
        )


def holds(trace: Trace) -> str:
    return ", ".join(sorted(trace.tensors)) or "no tensors"


class ViewModel:
    """What every view model has: ``steps`` (the frame axis) and the JSON field list."""

    what: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]  # what the JSON export writes, in order
    FRAMED: ClassVar[tuple[str, ...]]  # fields whose first axis is `steps`
    steps: np.ndarray

    def index(self, step: int | None) -> int:
        """Index of ``step`` on the frame axis (the last one for None)."""
        return step_index(self.steps, step)


def _number(value: float) -> float | None:
    return float(f"{value:.9g}") if math.isfinite(value) else None


def jsonable(value: Any) -> Any:
    """Plain JSON: floats to 9 significant digits (float32-exact), NaN and inf as null."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return value.tolist()
        flat = [_number(v) for v in np.asarray(value, np.float64).ravel().tolist()]
        if value.ndim == 0:
            return flat[0]
        for size in reversed(value.shape[1:]):
            flat = [flat[i : i + size] for i in range(0, len(flat), size)]
        return flat
    if dataclasses.is_dataclass(value):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, float | np.floating):
        return _number(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def framed(data: ViewModel, name: str, indices: Sequence[int] | None = None) -> Any:
    """Field ``name`` of ``data``, cut to frames ``indices`` when its first axis is ``steps``."""
    value = getattr(data, name)
    if indices is None or name not in data.FRAMED:
        return value
    rows = [int(i) for i in indices]
    if isinstance(value, dict):
        return {key: np.asarray(item)[rows] for key, item in value.items()}
    return np.asarray(value)[rows]


def to_dict(data: ViewModel, indices: Sequence[int] | None = None) -> dict:
    """The JSON export: ``{"what": ..., field: value for field in data.FIELDS}``, at frames
    ``indices`` (default all); curves always cover every step."""
    out: dict[str, Any] = {"what": data.what}
    for name in data.FIELDS:
        out[name] = jsonable(framed(data, name, indices))
    return out
