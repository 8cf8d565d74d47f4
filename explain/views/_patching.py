"""The patching view model: follow one prediction through the model by putting back, one at a
time, the activations of a clean run into the run of its corrupted twin. No torch.

Patching needs the model to run, so :func:`explain.lab.record` measures it once on the task's
probe and its standard corrupted twin (:func:`explain.lab.patching.probe_patching`) and writes
it into ``trace.meta["lab"]["patching"]``::

    {"step": 300, "tokens": [...], "corrupt_tokens": [...],        # [pos]
     "answer_positions": [6, 7], "clean_answers": ["9", "5"], "corrupt_answers": ["4", "1"],
     "metric": "logit difference", "clean_metric": 3.2, "corrupt_metric": -1.1,
     "heads": [[...]],        # [layer][head]: each head's output restored at every position
     "head_pos": [[[...]]],   # [layer][head][pos]: one head at one position
     "resid": [[...]],        # [layer][pos]: the residual stream entering block `layer`
     "mlp": [[...]],          # [layer][pos]: one MLP's output at one position
     "path": {"receiver": [1, 0], "q": [[...]], "k": [[...]], "v": [[...]]}}  # [layer][head]

Every effect is ``(m_patched - m_corrupt) / (m_clean - m_corrupt)``: 1.0 as clean, 0.0 as
corrupted (see :mod:`explain.lab.patching`); path effects are null (NaN) for heads that cannot
send to the receiver (its layer and later). ``PatchingView`` measures the same record again
for prompts typed in, and reads it here through ``patching(trace, record)``.

    >>> from explain.trace import Trace
    >>> record = {"tokens": ["a", "b"], "corrupt_tokens": ["a", "c"], "answer_positions": [1],
    ...     "clean_answers": ["b"], "corrupt_answers": ["c"], "metric": "logit difference",
    ...     "clean_metric": 2.0, "corrupt_metric": -1.0, "heads": [[0.25], [1.5]],
    ...     "head_pos": [[[0.0, 0.25]], [[0.0, 1.5]]], "resid": [[0.0, 1.0], [0.0, 1.0]],
    ...     "mlp": [[0.0, 0.1], [0.0, 0.0]],
    ...     "path": {"receiver": [1, 0], "q": [[0.1], [None]], "k": [[0.5], [None]],
    ...              "v": [[0.0], [None]]}}
    >>> data = patching(Trace.from_arrays({"lab": {"patching": record}}, [5], {}, [5], {}))
    >>> data.differ.tolist(), data.receiver, data.strongest_input(), data.limit
    ([False, True], (1, 0), 'k', 1.5)
    >>> data.positions("mlp")[1], data.positions("head_pos")[1]
    (['MLP 0', 'MLP 1'], ['L0H0', 'L1H0'])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..style import SIGNED
from ..trace import Trace
from ._common import ViewModel, consistent, task_name, titled, trained

__all__ = ["INPUTS", "POSITIONS", "RECORD_HINT", "PatchingData", "patching"]

RECORD_HINT = (
    "the trace has no patching record (trace.meta['lab']['patching']); run "
    "explain.lab.record(run) first on the trained Run (it needs the model; it stores none for "
    "an encoder-decoder model, or where the corrupted probe does not change the model's "
    "answers), or store explain.lab.patching.probe_patching(run) there"
)
INPUTS = ("q", "k", "v")  # a receiver head's inputs (explain.lab.patching.INPUTS)
INPUT_NAMES = {"q": "queries", "k": "keys", "v": "values"}
# What the positions heatmap restores, one row per layer (or per head), in words
POSITIONS = {
    "resid": "residual stream",
    "mlp": "MLP output",
    "head_pos": "head × position",
}


@dataclass(frozen=True)
class PatchingData(ViewModel):
    """What restoring each activation of a clean run into its corrupted twin brings back of
    the clean answer, for every head, every head at every position, the residual stream and
    every MLP at every position, and, through the q, k and v of one receiver head, every
    earlier head (one frame: measured on the model as trained)."""

    what: ClassVar[str] = "patching"
    FIELDS: ClassVar = tuple(
        "task title colorscale steps measured tokens corrupt_tokens differ answer_positions "
        "clean_answers corrupt_answers metric clean_metric corrupt_metric limit heads "
        "head_pos resid mlp receiver path".split()
    )
    FRAMED: ClassVar = ()  # one frame: nothing is cut per step
    INPUTS: ClassVar = INPUTS  # a receiver's inputs, and their names in words
    INPUT_NAMES: ClassVar = INPUT_NAMES
    WHERE: ClassVar = tuple(POSITIONS)  # what the positions heatmap restores, and in words
    WHERE_NAMES: ClassVar = POSITIONS

    steps: np.ndarray  # [1]: the last snapshot step
    measured: int  # the model's step when patching was measured (-1: not said)
    tokens: list[str]  # [pos] the clean input
    corrupt_tokens: list[str]  # [pos] its corrupted twin
    differ: np.ndarray  # [pos] bool: where the two differ
    answer_positions: np.ndarray  # [answer] int64: where the metric reads the logits
    clean_answers: list[str]  # [answer] the clean run's predictions there
    corrupt_answers: list[str]  # [answer] the corrupted run's
    metric: str  # "logit difference" or the metric's name
    clean_metric: float
    corrupt_metric: float
    limit: float  # the colour scale spans [-limit, limit], one for every panel: >= 1
    heads: np.ndarray  # [layer, head] float64: each head's output restored at every position
    head_pos: np.ndarray  # [layer, head, pos] one head at one position
    resid: np.ndarray  # [layer, pos] the residual stream entering block `layer`, at one position
    mlp: np.ndarray  # [layer, pos] one MLP's output at one position
    receiver: tuple[int, int] | None  # (layer, head) the path effects go into; None: one layer
    path: dict[str, np.ndarray]  # "q" | "k" | "v" -> [layer, head], NaN: cannot send; {} if none
    task: str
    title: str
    colorscale: str = SIGNED  # effects centred on 0 (as corrupted); 1 is as clean
    # False for a model trained elsewhere (explain.lab.record_hf; views.trained): no step to name
    trained: bool = True

    @property
    def layers(self) -> int:
        return int(self.heads.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.heads.shape[1])

    def head_label(self, layer: int, head: int) -> str:
        return f"L{layer}H{head}"

    def positions(self, where: str) -> tuple[np.ndarray, list[str]]:
        """The positions heatmap of ``where`` ("resid", "mlp" or "head_pos"): its values
        [row, pos] and row labels (a row per layer; per head, layer-major, for "head_pos")."""
        if where == "resid":
            return self.resid, [f"block {layer}" for layer in range(self.layers)]
        if where == "mlp":
            return self.mlp, [f"MLP {layer}" for layer in range(self.layers)]
        if where == "head_pos":
            labels = [self.head_label(layer, head) for layer in range(self.layers)
                      for head in range(self.n_heads)]  # fmt: skip
            return self.head_pos.reshape(-1, len(self.tokens)), labels
        raise ValueError(f"where must be one of {list(POSITIONS)}; got {where!r}")

    def strongest_input(self) -> str:
        """The receiver's input through which an earlier head restores the most ("k" when
        there is no receiver)."""
        if not self.path:
            return "k"
        best = {part: np.nanmax(np.abs(values), initial=0.0) for part, values in self.path.items()}
        return max(INPUTS, key=lambda part: (best.get(part, 0.0), part == "k"))

    def top_head(self) -> tuple[int, int]:
        """(layer, head) of the largest heads effect."""
        layer, head = np.unravel_index(int(np.nanargmax(self.heads)), self.heads.shape)
        return int(layer), int(head)


def _array(record: dict, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``record[key]`` as float64 (JSON null as NaN) of ``shape`` if given, else a ValueError."""
    value = record.get(key)
    try:
        array = _floats(value) if isinstance(value, list) else np.asarray(value, np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the lab's patching record {key!r} is not numbers: {error}") from None
    if shape is not None and array.shape != shape:
        raise ValueError(
            f"the lab's patching record {key!r} has shape {array.shape}; expected {shape} "
            "([layer, head], [layer, head, pos] or [layer, pos] of its model and probe)"
        )
    return array


def _floats(value: list) -> np.ndarray:
    """A nested list of numbers and nulls as float64, null as NaN."""

    def numbers(item: Any) -> Any:
        if isinstance(item, list):
            return [numbers(x) for x in item]
        return np.nan if item is None else item

    return np.asarray(numbers(value), np.float64)


def _strings(record: dict, key: str, count: int | None = None) -> list[str]:
    values = record.get(key)
    if not isinstance(values, list) or (count is not None and len(values) != count):
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise ValueError(
            f"the lab's patching record {key!r} must list {count} tokens; got {got}"
            if count is not None
            else f"the lab's patching record {key!r} must be a list; got {got}"
        )
    return [str(value) for value in values]


def _number(record: dict, key: str) -> float:
    value = record.get(key)
    return float(value) if isinstance(value, int | float) else float("nan")


@consistent
def patching(trace: Trace, record: dict | None = None) -> PatchingData:
    """The patching view model of ``trace``'s lab record (see the module docstring), or of
    ``record``, a dict in the same form (``PatchingView`` measuring typed-in prompts).

    ValueError without a record: run ``explain.lab.record(run)`` first.
    """
    if not isinstance(trace, Trace):
        raise ValueError(f"trace must be an explain Trace; got {type(trace).__name__}")
    if record is None:
        lab = trace.meta.get("lab")
        record = lab.get("patching") if isinstance(lab, dict) else None
    if not isinstance(record, dict):
        raise ValueError(RECORD_HINT)
    tokens = _strings(record, "tokens")
    corrupt_tokens = _strings(record, "corrupt_tokens", len(tokens))
    heads = _array(record, "heads")  # [layer, head]
    if heads.ndim != 2 or heads.size == 0 or not tokens:
        raise ValueError(
            f"the lab's patching record 'heads' must be [layer][head]; got shape {heads.shape} "
            f"with {len(tokens)} tokens"
        )
    n_layers, n_heads = heads.shape
    n_pos = len(tokens)
    positions = np.asarray(record.get("answer_positions") or [], np.int64)
    if positions.size and (positions.min() < 0 or positions.max() >= n_pos):
        raise ValueError(
            f"the lab's patching record's answer positions run {positions.min()}.."
            f"{positions.max()}; its prompt has {n_pos} tokens"
        )
    found = record.get("path")
    receiver, path = None, {}
    if isinstance(found, dict):
        layer, head = (int(v) for v in found.get("receiver") or (0, 0))
        if not (1 <= layer < n_layers and 0 <= head < n_heads):
            raise ValueError(
                f"the lab's patching record's receiver ({layer}, {head}) is not a head of "
                f"layers 1..{n_layers - 1}, heads 0..{n_heads - 1}"
            )
        receiver = (layer, head)
        path = {part: _array(found, part, (n_layers, n_heads)) for part in INPUTS}
    arrays = {
        "heads": heads,
        "head_pos": _array(record, "head_pos", (n_layers, n_heads, n_pos)),
        "resid": _array(record, "resid", (n_layers, n_pos)),
        "mlp": _array(record, "mlp", (n_layers, n_pos)),
    }
    every = np.concatenate([a.ravel() for a in [*arrays.values(), *path.values()]])
    biggest = float(np.nanmax(np.abs(every), initial=0.0)) if np.isfinite(every).any() else 0.0
    steps = trace.snapshot_steps[-1:]
    measured = record.get("step")
    measured = int(measured) if isinstance(measured, int | float) else -1
    task = task_name(trace)
    return PatchingData(
        steps=steps if len(steps) else np.array([max(measured, 0)], np.int64),
        measured=measured,
        tokens=tokens,
        corrupt_tokens=corrupt_tokens,
        differ=np.array([a != b for a, b in zip(tokens, corrupt_tokens, strict=True)], bool),
        answer_positions=positions,
        clean_answers=_strings(record, "clean_answers", len(positions)),
        corrupt_answers=_strings(record, "corrupt_answers", len(positions)),
        metric=str(record.get("metric", "")),
        clean_metric=_number(record, "clean_metric"),
        corrupt_metric=_number(record, "corrupt_metric"),
        limit=max(1.0, biggest),
        receiver=receiver,
        path=path,
        task=task,
        title=titled("activation patching", task),
        trained=trained(trace),
        **arrays,
    )
