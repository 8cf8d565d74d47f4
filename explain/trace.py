"""A training run as plain data: numpy arrays plus JSON metadata, with no torch.

A `Trace` holds per-step scalars (loss, learning rate, ...) and periodic snapshots of named
tensors (attention patterns, embeddings, ...). The Recorder appends to it while training runs;
widgets and exports read it, live or after `load_trace`. Reads are safe while another thread
appends: every read property copies or slices its arrays under one lock.

>>> import numpy as np
>>> trace = Trace({"vocab": ["a", "b"]})
>>> trace.log_scalars(0, {"loss": 2.0})
>>> trace.add_snapshot(0, {"embed.W_E": np.zeros((2, 4))})
>>> trace.tensor("embed.W_E", step=0).shape
(2, 4)
"""

from __future__ import annotations

import copy
import operator
import os
import pathlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _trace_file
from ._trace_file import FORMAT_VERSION, TraceError
from .names import attention_order, is_attention

__all__ = [
    "FORMAT_VERSION",
    "TOKEN_TENSORS",
    "TOKEN_TOP_K",
    "Snapshot",
    "Trace",
    "TraceError",
    "load_trace",
]

# The probe's per-token loss, kept at every snapshot by the Recorder (explain.record) and read
# by the token-loss view (explain.views.token_loss): name -> dims. Plain ``tensor/`` entries, so
# the file format is unchanged; traces recorded before them hold only ``hook_logits``, from which
# the view computes the same numbers. ``pos`` runs over the probe's targets: position p holds the
# loss of predicting ``meta["probe"]["target_ids"][p]``.
TOKEN_TENSORS: dict[str, tuple[str, ...]] = {
    "token_loss": ("snapshot", "pos"),  # float32: cross-entropy of the target token (nats)
    "token_prob": ("snapshot", "pos"),  # float32: the target token's probability
    "token_top_ids": ("snapshot", "pos", "rank"),  # int32: the most likely token ids, best first
    "token_top_probs": ("snapshot", "pos", "rank"),  # float32: their probabilities
}
TOKEN_TOP_K = 5  # the length of the rank axis (less for a vocabulary under 5 tokens)


@dataclass(frozen=True)
class Snapshot:
    """The tensors recorded at one snapshot step (arrays are read-only views)."""

    step: int  # the recorded snapshot step actually used
    index: int  # its index in snapshot_steps
    tensors: dict[str, np.ndarray]  # name -> array without the snapshot axis


def _as_step(step: object) -> int:
    if isinstance(step, bool):
        raise TypeError(f"step must be an integer; got {step!r}")
    try:
        return operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"step must be an integer; got {step!r}") from None


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _stored_dtype(name: str, array: np.ndarray) -> np.dtype:
    """The dtype `array` is stored as in a trace: floats as float32, ints and bools kept."""
    if array.dtype.kind not in "fbiu":
        raise ValueError(f"tensor {name!r} must be float, int or bool; got dtype {array.dtype}")
    return np.dtype(np.float32) if array.dtype.kind == "f" else array.dtype


def _stored(name: str, array: object, copy: bool = True) -> np.ndarray:
    """`array` as stored in a trace (see `_stored_dtype`): a copy, or with ``copy=False`` the
    array itself when it already has that dtype."""
    array = np.asarray(array)
    return array.astype(_stored_dtype(name, array), copy=copy)


def _grow(buffer: np.ndarray, needed: int, fill: float | int = 0) -> np.ndarray:
    """`buffer` with room for `needed` rows, doubling capacity so appends are amortised O(1)."""
    if needed <= len(buffer):
        return buffer
    bigger = np.full((max(needed, 2 * len(buffer), 8), *buffer.shape[1:]), fill, buffer.dtype)
    bigger[: len(buffer)] = buffer
    return bigger


class Trace:
    """Scalars per step and tensor snapshots of one training run.

    >>> import numpy as np
    >>> trace = Trace()
    >>> for step in range(3):
    ...     trace.log_scalars(step, {"loss": 1.0 / (step + 1)})
    ...     trace.add_snapshot(step, {"w": np.full(2, step)})
    >>> trace.at(1).tensors["w"].tolist(), trace.scalar("loss")[1].round(2).tolist()
    ([1, 1], [1.0, 0.5, 0.33])
    """

    def __init__(self, meta: dict | None = None) -> None:
        self.meta: dict = dict(meta) if meta is not None else {}
        self._lock = threading.Lock()
        self._n_steps = 0
        self._steps = np.zeros(0, np.int64)
        self._scalars: dict[str, np.ndarray] = {}
        self._n_snapshots = 0
        self._snapshot_steps = np.zeros(0, np.int64)
        self._tensors: dict[str, np.ndarray] = {}
        self._shapes: dict[str, tuple[int, ...]] | None = None  # fixed by the first snapshot

    # -- read side -------------------------------------------------------------------------
    @property
    def steps(self) -> np.ndarray:
        """Steps that have scalars, increasing: int64 [n_steps]."""
        with self._lock:
            return self._steps[: self._n_steps].copy()

    @property
    def scalars(self) -> dict[str, np.ndarray]:
        """name -> float64 [n_steps], aligned with `steps`; NaN where not logged."""
        with self._lock:
            return {name: buf[: self._n_steps].copy() for name, buf in self._scalars.items()}

    @property
    def snapshot_steps(self) -> np.ndarray:
        """Steps that have tensor snapshots, increasing: int64 [n_snapshots]."""
        with self._lock:
            return self._snapshot_steps[: self._n_snapshots].copy()

    @property
    def tensors(self) -> dict[str, np.ndarray]:
        """name -> read-only [n_snapshots, ...], leading axis aligned with `snapshot_steps`."""
        with self._lock:
            # Rows below _n_snapshots are never written again (drop_snapshots makes new
            # buffers), so a view stays a consistent picture while the writer appends.
            return {
                name: _readonly(buf[: self._n_snapshots]) for name, buf in self._tensors.items()
            }

    def scalar(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one scalar, NaNs removed.

        >>> t = Trace(); t.log_scalars(0, {"loss": 1.0}); t.log_scalars(5, {"val_loss": 2.0})
        >>> t.scalar("val_loss")
        (array([5]), array([2.]))
        """
        with self._lock:
            if name not in self._scalars:
                raise KeyError(f"no scalar {name!r}; available: {sorted(self._scalars)}")
            steps = self._steps[: self._n_steps].copy()
            values = self._scalars[name][: self._n_steps].copy()
        logged = ~np.isnan(values)
        return steps[logged], values[logged]

    def at(self, step: int) -> Snapshot:
        """The snapshot nearest to `step` (ties go to the earlier one).

        >>> t = Trace(); t.add_snapshot(0, {"w": [0]}); t.add_snapshot(10, {"w": [1]})
        >>> t.at(5).step, t.at(6).step
        (0, 10)
        """
        step = _as_step(step)
        with self._lock:
            recorded = self._snapshot_steps[: self._n_snapshots]
            if not len(recorded):
                raise ValueError(f"cannot look up step {step}: the trace has no snapshots")
            first, last = int(recorded[0]), int(recorded[-1])
            if not first <= step <= last:
                raise ValueError(f"step {step} is outside the recorded snapshots [{first}, {last}]")
            right = int(np.searchsorted(recorded, step, side="left"))
            index = right
            if recorded[right] != step and step - recorded[right - 1] <= recorded[right] - step:
                index = right - 1
            tensors = {name: _readonly(buf[index]) for name, buf in self._tensors.items()}
            return Snapshot(step=int(recorded[index]), index=index, tensors=tensors)

    def tensor(self, name: str, step: int | None = None) -> np.ndarray:
        """All snapshots of one tensor [n_snapshots, ...], or the one nearest `step`."""
        with self._lock:
            if name not in self._tensors:
                raise KeyError(f"no tensor {name!r}; available: {sorted(self._tensors)}")
        if step is None:
            return self.tensors[name]
        return self.at(step).tensors[name]

    def __len__(self) -> int:
        return self._n_snapshots

    @property
    def nbytes(self) -> int:
        """Bytes of recorded data (tensors, scalars and steps), not of spare capacity."""
        with self._lock:
            size = self._n_steps * 8 * (1 + len(self._scalars)) + self._n_snapshots * 8
            size += sum(buf[: self._n_snapshots].nbytes for buf in self._tensors.values())
            return size

    def __repr__(self) -> str:
        steps, snaps = self.steps, self.snapshot_steps
        span = f"steps {steps[0]}..{steps[-1]}" if len(steps) else "no steps"
        at = f" at {snaps[0]}..{snaps[-1]}" if len(snaps) else ""
        return (
            f"Trace({span} ({len(self._scalars)} scalars), {len(snaps)} snapshots{at}, "
            f"{len(self._tensors)} tensors, {self.nbytes / 1e3:,.0f} kB)"
        )

    # -- convenience for widgets -----------------------------------------------------------
    def _meta_field(self, *keys: str) -> Any:
        value: Any = self.meta
        for key in keys:
            if not isinstance(value, Mapping) or key not in value:
                raise ValueError(f"trace meta has no {'.'.join(keys)}; it was not recorded")
            value = value[key]
        return value

    @property
    def n_layers(self) -> int:
        return int(self._meta_field("model_config", "n_layers"))

    @property
    def n_heads(self) -> int:
        return int(self._meta_field("model_config", "n_heads"))

    @property
    def probe_tokens(self) -> list[str]:
        return list(self._meta_field("probe", "tokens"))

    @property
    def vocab(self) -> list[str]:
        return list(self._meta_field("vocab"))

    def attention_names(self) -> list[str]:
        """Attention-pattern names (see :mod:`explain.names`) in forward-pass order.

        >>> t = Trace()
        >>> t.add_snapshot(0, {f"blocks.{i}.attn.hook_pattern": [0] for i in (10, 2)})
        >>> t.attention_names()
        ['blocks.2.attn.hook_pattern', 'blocks.10.attn.hook_pattern']
        """
        with self._lock:
            names = [name for name in self._tensors if is_attention(name)]
        return sorted(names, key=attention_order)

    def select(self, start: int | None = None, stop: int | None = None) -> Trace:
        """A new trace with the steps and snapshots in [start, stop] (both inclusive)."""
        steps, scalars, snapshot_steps, tensors = self._export()
        lo = -np.inf if start is None else _as_step(start)
        hi = np.inf if stop is None else _as_step(stop)
        rows = (steps >= lo) & (steps <= hi)
        snaps = (snapshot_steps >= lo) & (snapshot_steps <= hi)
        return Trace.from_arrays(
            copy.deepcopy(self.meta),
            steps[rows],
            {name: values[rows] for name, values in scalars.items()},
            snapshot_steps[snaps],
            {name: array[snaps] for name, array in tensors.items()},
        )

    # -- write side ------------------------------------------------------------------------
    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        """Record scalars at `step` (>= the last step; an equal step merges into its row)."""
        step = _as_step(step)
        floats: dict[str, float] = {}
        for name, value in values.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"scalar names must be non-empty strings; got {name!r}")
            try:
                floats[name] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"scalar {name!r} must be a number; got {value!r}") from None
        with self._lock:
            n = self._n_steps
            if n and step < self._steps[n - 1]:
                raise ValueError(f"step {step} is before the last logged step {self._steps[n - 1]}")
            if not floats:
                return
            row = n - 1 if n and step == self._steps[n - 1] else n
            if row >= len(self._steps):  # every buffer has the capacity of _steps
                self._steps = _grow(self._steps, row + 1)
                for name, buf in self._scalars.items():
                    self._scalars[name] = _grow(buf, len(self._steps), np.nan)
            for name, value in floats.items():  # in the caller's order: files list them so
                if name not in self._scalars:
                    self._scalars[name] = np.full(len(self._steps), np.nan)
                self._scalars[name][row] = value  # rows at or past n are still NaN from _grow
            self._steps[row] = step
            self._n_steps = row + 1  # published last: readers slice by this length

    def add_snapshot(self, step: int, tensors: Mapping[str, np.ndarray]) -> None:
        """Record named tensors at `step` (> the last snapshot step), copying them.

        The first snapshot fixes the names and shapes; later ones must match them exactly.
        """
        step = _as_step(step)
        arrays = {name: np.asarray(array) for name, array in tensors.items()}
        for name, array in arrays.items():
            if array.dtype.kind not in "fbiu":
                _stored_dtype(name, array)  # raises, naming the tensor and its dtype
        with self._lock:
            n = self._n_snapshots
            if n and step <= self._snapshot_steps[n - 1]:
                raise ValueError(
                    f"snapshot step {step} must be after the last snapshot step "
                    f"{self._snapshot_steps[n - 1]}"
                )
            if self._shapes is None:
                self._shapes = {name: array.shape for name, array in arrays.items()}
                self._tensors = {
                    name: np.zeros((0, *a.shape), _stored_dtype(name, a))
                    for name, a in arrays.items()
                }
            else:
                self._check_snapshot(step, arrays)
            self._snapshot_steps = _grow(self._snapshot_steps, n + 1)
            buffers = self._tensors
            for name, array in arrays.items():
                if len(buffers[name]) <= n:
                    buffers[name] = _grow(buffers[name], n + 1)
                buffers[name][n] = array  # the one copy, cast to the stored dtype
            self._snapshot_steps[n] = step
            self._n_snapshots = n + 1

    def _check_snapshot(self, step: int, arrays: dict[str, np.ndarray]) -> None:
        """Raise unless ``arrays`` has exactly the names and shapes of the first snapshot."""
        shapes = self._shapes or {}
        if arrays.keys() != shapes.keys():
            raise ValueError(
                f"snapshot at step {step} has tensors {sorted(arrays)}; "
                f"expected exactly {sorted(shapes)}"
            )
        for name, array in arrays.items():
            if array.shape != shapes[name]:
                raise ValueError(
                    f"tensor {name!r} at step {step} has shape {array.shape}; "
                    f"expected {shapes[name]}"
                )

    def drop_snapshots(self, indices: Iterable[int]) -> None:
        """Remove the snapshots at `indices` (positions in `snapshot_steps`)."""
        with self._lock:
            n = self._n_snapshots
            keep = np.ones(n, bool)
            for index in indices:
                index = _as_step(index)
                if not -n <= index < n:
                    raise IndexError(f"snapshot index {index} is out of range for {n} snapshots")
                keep[index] = False
            # New buffers rather than compacting in place: views handed to readers stay valid.
            self._snapshot_steps = self._snapshot_steps[:n][keep].copy()
            self._tensors = {name: buf[:n][keep].copy() for name, buf in self._tensors.items()}
            self._n_snapshots = int(keep.sum())

    def frozen(self) -> Trace:
        """One consistent picture of the trace as it is now, for readers while training appends.

        Steps, scalars, snapshot steps and tensors are taken under one lock (tensors shared
        read-only, not copied), so their lengths agree even if a snapshot lands meanwhile. Read
        it; do not append to it.

        >>> t = Trace()
        >>> t.add_snapshot(0, {"w": np.ones(2)})
        >>> f = t.frozen(); t.add_snapshot(1, {"w": np.zeros(2)})
        >>> len(f.snapshot_steps), len(f.tensors["w"]), len(t.snapshot_steps)
        (1, 1, 2)
        """
        steps, scalars, snapshot_steps, tensors = self._export()
        picture = Trace(self.meta)
        picture._steps, picture._n_steps = steps, len(steps)
        picture._scalars = scalars
        picture._snapshot_steps, picture._n_snapshots = snapshot_steps, len(snapshot_steps)
        picture._tensors = tensors
        picture._shapes = None if self._shapes is None else dict(self._shapes)
        return picture

    def _export(self) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict]:
        """Consistent copies of steps and scalars, views of tensors, taken under the lock."""
        with self._lock:
            n, m = self._n_steps, self._n_snapshots
            return (
                self._steps[:n].copy(),
                {name: buf[:n].copy() for name, buf in self._scalars.items()},
                self._snapshot_steps[:m].copy(),
                {name: _readonly(buf[:m]) for name, buf in self._tensors.items()},
            )

    @classmethod
    def from_arrays(
        cls,
        meta: dict | None,
        steps: np.ndarray,
        scalars: Mapping[str, np.ndarray],
        snapshot_steps: np.ndarray,
        tensors: Mapping[str, np.ndarray],
        *,
        copy: bool = True,
    ) -> Trace:
        """A trace from whole arrays, validated; mismatches raise TraceError.

        Tensors are copied, unless ``copy=False``: then a tensor that already has its stored
        dtype (float32, ints, bools) is kept as it is, sharing its memory with the caller. The
        trace never writes to it (appends go to new buffers); the caller must not change it
        either. (Copying a 12 x 12 x 512-token attention, 150 MB, took 0.4-0.7 s on 2 cores.)

        >>> t = Trace.from_arrays({}, [0, 1], {"loss": [2.0, 1.0]}, [1], {"w": np.ones((1, 3))})
        >>> len(t), t.tensor("w", 1).tolist()
        (1, [1.0, 1.0, 1.0])
        """
        steps = _step_array("steps", steps)
        snapshot_steps = _step_array("snapshot_steps", snapshot_steps)
        trace = cls(meta)
        for name, values in scalars.items():
            values = np.asarray(values, np.float64)
            if not isinstance(name, str) or not name or values.shape != steps.shape:
                raise TraceError(
                    f"scalar {name!r} has shape {values.shape}; expected {steps.shape} like steps"
                )
            trace._scalars[name] = values.copy()
        stored = {name: _stored(name, array, copy) for name, array in tensors.items()}
        for name, array in stored.items():
            if not isinstance(name, str) or not name or array.shape[:1] != snapshot_steps.shape:
                raise TraceError(
                    f"tensor {name!r} has shape {array.shape}; expected a leading axis of "
                    f"{len(snapshot_steps)} like snapshot_steps"
                )
        trace._steps, trace._n_steps = steps.copy(), len(steps)
        trace._snapshot_steps, trace._n_snapshots = snapshot_steps.copy(), len(snapshot_steps)
        trace._tensors = stored
        if stored or len(snapshot_steps):
            trace._shapes = {name: array.shape[1:] for name, array in stored.items()}
        return trace

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the trace to one `.npz` (plus a readable `<stem>.json` of the meta), atomically.

        >>> import tempfile, pathlib
        >>> path = Trace({"seed": 0}).save(pathlib.Path(tempfile.mkdtemp()) / "run")
        >>> path.name, load_trace(path).meta
        ('run.npz', {'seed': 0})
        """
        steps, scalars, snapshot_steps, tensors = self._export()
        return _trace_file.write(path, self.meta, steps, scalars, snapshot_steps, tensors)


def _step_array(what: str, steps: object) -> np.ndarray:
    array = np.asarray(steps)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise TraceError(f"{what} must be a 1-D integer array; got {array.dtype} {array.shape}")
    array = array.astype(np.int64)
    if np.any(np.diff(array) <= 0):
        bad = int(np.argmax(np.diff(array) <= 0))
        raise TraceError(
            f"{what} must be strictly increasing; got {array[bad]} then {array[bad + 1]} "
            f"at index {bad + 1}"
        )
    return array


def load_trace(path: str | os.PathLike) -> Trace:
    """Read a trace written by `Trace.save`; never unpickles or executes anything from the file.

    A path without ``.npz`` finds ``<path>.npz``. A file that is not a trace, is damaged, or
    comes from a newer version of explain raises TraceError naming it.

    >>> import tempfile, pathlib
    >>> path = Trace({"seed": 1}).save(pathlib.Path(tempfile.mkdtemp()) / "run.npz")
    >>> load_trace(path).meta["seed"]
    1
    """
    path = _trace_file.find(path)
    meta, steps, scalars, snapshot_steps, tensors = _trace_file.read(path)
    try:
        return Trace.from_arrays(meta, steps, scalars, snapshot_steps, tensors)
    except ValueError as error:
        raise TraceError(f"{path}: {error}") from None
