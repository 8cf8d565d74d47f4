"""The neuron view model: the MLP neurons of one layer, and what one of them fires on and writes.
Every neuron's loss rise when it is ablated (the grid), and for the selected neuron its top
examples (the tokens around the place it fires most, with its activation on each) and the
tokens its output promotes and suppresses through the unembedding. No torch.

The numbers need the model to run, so :func:`explain.lab.record` measures them once at the end
of training (:func:`explain.lab.neurons.probe_neurons`) and writes them into
``trace.meta["lab"]["neurons"]``::

    {"step": 300, "hooks": ["blocks.0.mlp.hook_post", ...], "mode": "zero",
     "loss_clean": 0.02, "layers": [0, 1],
     "loss_rise": [[...]], "activation_max": [[...]],     # [layer][neuron]
     "top_seq": ..., "top_pos": ..., "top_act": ..., "context_index": ...,  # [layer][neuron][top]
     "contexts": ..., "context_acts": ...,                 # [layer][neuron][top][token]
     "promotes": ..., "promotes_values": ..., "suppresses": ..., "suppresses_values": ...}
                                                           # [layer][neuron][k]

    >>> from explain.trace import Trace
    >>> record = {"layers": [0], "loss_rise": [[0.5, -0.1]], "activation_max": [[2.0, 1.0]],
    ...     "top_seq": [[[3], [1]]], "top_pos": [[[2], [0]]], "top_act": [[[2.0], [1.0]]],
    ...     "context_index": [[[1], [0]]], "contexts": [[[["a", "b"]], [["c", "d"]]]],
    ...     "context_acts": [[[[0.5, 2.0]], [[1.0, 0.0]]]], "promotes": [[["x"], ["y"]]],
    ...     "promotes_values": [[[0.3], [0.2]]], "suppresses": [[["y"], ["x"]]],
    ...     "suppresses_values": [[[-0.3], [-0.2]]]}
    >>> data = neurons(Trace.from_arrays({"lab": {"neurons": record}}, [5], {}, [5], {}))
    >>> data.layer, data.neuron, data.width, data.rises().tolist()  # the strongest neuron
    (0, 0, 2, [0.5, -0.1])
    >>> example = data.examples()[0]
    >>> example.tokens, example.activations, example.index, example.activation
    (['a', 'b'], [0.5, 2.0], 1, 2.0)
    >>> data.promoted(neuron=1), data.suppressed(neuron=1)
    ([('y', 0.2)], [('x', -0.2)])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..style import SIGNED, WEIGHT
from ..trace import Trace
from ._common import ViewModel, check_integer, consistent, task_name, titled

__all__ = ["RECORD_HINT", "Example", "NeuronData", "neurons"]

RECORD_HINT = (
    "the trace has no MLP neuron record (trace.meta['lab']['neurons']); run "
    "explain.lab.record(run) first on the trained Run (it needs the model), or store "
    "explain.lab.neurons.probe_neurons(run) there"
)


class Example(NamedTuple):
    """One place a neuron fires: sequence ``seq`` of the held-out data at position ``pos``,
    its ``activation`` there, and the ``tokens`` around it with the neuron's ``activations`` on
    each; ``tokens[index]`` is the firing token."""

    seq: int
    pos: int
    activation: float
    tokens: list[str]
    activations: list[float]
    index: int


@dataclass(frozen=True)
class NeuronData(ViewModel):
    """Every MLP neuron of the recorded layers, measured on held-out data; ``layer`` is the
    layer shown and ``neuron`` the neuron selected in it. Axis 0 of each array follows
    ``layers`` (see the module docstring for the record)."""

    what: ClassVar[str] = "neurons"
    FIELDS: ClassVar = tuple(
        "task title colorscale activation_scale steps measured layer neuron layers hooks mode "
        "loss_clean loss_rise activation_max top_seq top_pos top_act context_index contexts "
        "context_acts promotes promotes_values suppresses suppresses_values".split()
    )
    FRAMED: ClassVar = ()  # one frame: nothing is cut per step

    steps: np.ndarray  # [1]: the last snapshot step (or the step measured)
    measured: int  # the model's step when the neurons were measured (-1: not said)
    layer: int  # the block shown (one of `layers`)
    neuron: int  # the neuron selected in it
    layers: np.ndarray  # int64 [layer]: the blocks measured, in order
    hooks: list[str]  # [layer] the hook each layer's activations were read at
    mode: str  # how a neuron was ablated: "zero" or "mean"
    loss_clean: float  # the held-out loss of the intact model
    loss_rise: np.ndarray  # float64 [layer, neuron]: ablated loss minus loss_clean
    activation_max: np.ndarray  # float64 [layer, neuron]: largest activation on the data
    top_seq: np.ndarray  # int64 [layer, neuron, top]: held-out sequence of each example
    top_pos: np.ndarray  # int64 [layer, neuron, top]: its position there
    top_act: np.ndarray  # float64 [layer, neuron, top]: the activation there, best first
    context_index: np.ndarray  # int64 [layer, neuron, top]: the firing token in its context
    contexts: list[list[list[list[str]]]]  # [layer][neuron][top][token] tokens around it
    context_acts: list[list[list[list[float]]]]  # the neuron's activation on each of them
    promotes: list[list[list[str]]]  # [layer][neuron][k] tokens whose logits it raises most
    promotes_values: np.ndarray  # float64 [layer, neuron, k]: by how much, largest first
    suppresses: list[list[list[str]]]  # [layer][neuron][k] tokens whose logits it lowers most
    suppresses_values: np.ndarray  # float64 [layer, neuron, k]: most negative first
    task: str
    title: str
    colorscale: str = SIGNED  # the grid: a neuron's loss rise is centred on zero
    activation_scale: str = WEIGHT  # the examples: activations from 0 to the neuron's largest

    # -- choosing ------------------------------------------------------------------------------
    def row(self, layer: int | None = None) -> int:
        """The index of ``layer`` (None: the one shown) in :attr:`layers`."""
        layer = self.layer if layer is None else layer
        check_integer("layer", layer)
        hits = np.flatnonzero(self.layers == layer)
        if not hits.size:
            listed = ", ".join(str(value) for value in self.layers.tolist())
            raise ValueError(f"layer {layer} has no neuron record; expected one of {listed}")
        return int(hits[0])

    @property
    def width(self) -> int:
        """Neurons a layer (the MLP's hidden width, d_mlp)."""
        return int(self.loss_rise.shape[1])

    def check_neuron(self, neuron: int) -> int:
        check_integer("neuron", neuron)
        if neuron is None or not 0 <= neuron < self.width:
            raise ValueError(f"neuron must be an int in [0, {self.width - 1}]; got {neuron!r}")
        return int(neuron)

    def _at(self, layer: int | None, neuron: int | None) -> tuple[int, int]:
        row = self.row(layer)
        return row, self.check_neuron(self.neuron if neuron is None else neuron)

    def strongest(self, layer: int | None = None) -> int:
        """The neuron of ``layer`` whose ablation raises the loss most."""
        return int(np.argmax(self.loss_rise[self.row(layer)]))

    # -- what a layer and a neuron show ----------------------------------------------------------
    def rises(self, layer: int | None = None) -> np.ndarray:
        """[neuron] each neuron's loss rise in ``layer`` (None: the one shown): the grid."""
        return self.loss_rise[self.row(layer)]

    def rise(self, layer: int | None = None, neuron: int | None = None) -> float:
        row, n = self._at(layer, neuron)
        return float(self.loss_rise[row, n])

    def peak(self, layer: int | None = None, neuron: int | None = None) -> float:
        """The neuron's largest activation on the data."""
        row, n = self._at(layer, neuron)
        return float(self.activation_max[row, n])

    def examples(self, layer: int | None = None, neuron: int | None = None) -> list[Example]:
        """The neuron's top examples, best first."""
        row, n = self._at(layer, neuron)
        return [
            Example(
                int(self.top_seq[row, n, i]),
                int(self.top_pos[row, n, i]),
                float(self.top_act[row, n, i]),
                list(self.contexts[row][n][i]),
                [float(value) for value in self.context_acts[row][n][i]],
                int(self.context_index[row, n, i]),
            )
            for i in range(self.top_act.shape[2])
        ]

    def promoted(
        self, layer: int | None = None, neuron: int | None = None
    ) -> list[tuple[str, float]]:
        """(token, direct effect on its logit) of the tokens the neuron promotes, largest first."""
        row, n = self._at(layer, neuron)
        return list(zip(self.promotes[row][n], self.promotes_values[row, n].tolist(), strict=True))

    def suppressed(
        self, layer: int | None = None, neuron: int | None = None
    ) -> list[tuple[str, float]]:
        """(token, direct effect) of the tokens the neuron suppresses, most negative first."""
        row, n = self._at(layer, neuron)
        return list(
            zip(self.suppresses[row][n], self.suppresses_values[row, n].tolist(), strict=True)
        )

    def window(self) -> tuple[int, int]:
        """(before, after): the most tokens any example shows before and after its firing one
        (the columns the examples are aligned in)."""
        before = int(self.context_index.max(initial=0))
        after = max(
            (len(tokens) - index - 1
             for layer, indices in zip(self.contexts, self.context_index, strict=True)
             for rows, row_indices in zip(layer, indices, strict=True)
             for tokens, index in zip(rows, row_indices.tolist(), strict=True)),
            default=0,
        )  # fmt: skip
        return before, after


# -- reading the record --------------------------------------------------------------------------
def _array(record: dict, key: str, ndim: int, kind: type = np.float64) -> np.ndarray:
    try:
        array = np.asarray(record.get(key), kind)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the lab's neuron record {key!r} is not numbers: {error}") from None
    if array.ndim != ndim:
        raise ValueError(
            f"the lab's neuron record {key!r} must have {ndim} axes; got {array.shape}"
        )
    return np.nan_to_num(array, nan=0.0) if kind is np.float64 else array


def _nested(record: dict, key: str, shape: tuple[int, ...], depth: int) -> list:
    """``record[key]`` as nested lists whose first ``len(shape)`` levels have ``shape``; the
    innermost of ``depth`` levels may vary in length (a context clipped at a sequence's end)."""
    value = record.get(key)

    def check(item: Any, level: int) -> None:
        if not isinstance(item, list) or (level < len(shape) and len(item) != shape[level]):
            raise ValueError(
                f"the lab's neuron record {key!r} must be nested lists of shape {shape} "
                f"(then [token]); it does not fit at level {level}"
            )
        if level + 1 < depth:
            for part in item:
                check(part, level + 1)

    check(value, 0)
    return value  # type: ignore[return-value]


def _strings(value: list, depth: int) -> list:
    return [_strings(item, depth - 1) for item in value] if depth else str(value)


def _floats(value: list, depth: int) -> list:
    if depth:
        return [_floats(item, depth - 1) for item in value]
    return 0.0 if value is None else float(value)


@consistent
def neurons(trace: Trace, layer: int | None = None, neuron: int | None = None) -> NeuronData:
    """The neuron view model of ``trace`` (see the module docstring for the record).

    ``layer``: the block shown (default: the first recorded, 0); ``neuron``: the neuron
    selected in it (default: the one whose ablation raises the loss most). ValueError without
    the lab's neuron record: run ``explain.lab.record(run)`` first.
    """
    lab = trace.meta.get("lab")
    record: Any = lab.get("neurons") if isinstance(lab, dict) else None
    if not isinstance(record, dict):
        raise ValueError(RECORD_HINT)
    check_integer("layer", layer)
    check_integer("neuron", neuron)
    layers = _array(record, "layers", 1, np.int64)
    rise = _array(record, "loss_rise", 2)  # [layer, neuron]
    if not len(layers) or rise.shape[0] != len(layers) or not rise.shape[1]:
        raise ValueError(
            f"the lab's neuron record does not fit together: {len(layers)} layers, loss_rise "
            f"{rise.shape} ([layer, neuron])"
        )
    top_act = _array(record, "top_act", 3)  # [layer, neuron, top]
    L, n, top = top_act.shape
    arrays = {
        "activation_max": _array(record, "activation_max", 2),
        "top_seq": _array(record, "top_seq", 3, np.int64),
        "top_pos": _array(record, "top_pos", 3, np.int64),
        "context_index": _array(record, "context_index", 3, np.int64),
        "promotes_values": _array(record, "promotes_values", 3),
        "suppresses_values": _array(record, "suppresses_values", 3),
    }
    k = arrays["promotes_values"].shape[2]
    wanted = {"activation_max": (L, n), "top_seq": (L, n, top), "top_pos": (L, n, top),
              "context_index": (L, n, top), "promotes_values": (L, n, k),
              "suppresses_values": (L, n, k)}  # fmt: skip
    for key, shape in wanted.items():
        if arrays[key].shape != shape or rise.shape != (L, n):
            raise ValueError(
                f"the lab's neuron record does not fit together: {key} {arrays[key].shape}, "
                f"expected {shape} (loss_rise {rise.shape}, top_act {top_act.shape})"
            )
    contexts = _strings(_nested(record, "contexts", (L, n, top), 4), 4)
    context_acts = _floats(_nested(record, "context_acts", (L, n, top), 4), 4)
    for c_layer, a_layer, i_layer in zip(
        contexts, context_acts, arrays["context_index"], strict=True
    ):
        for c_rows, a_rows, i_rows in zip(c_layer, a_layer, i_layer, strict=True):
            for tokens, acts, index in zip(c_rows, a_rows, i_rows.tolist(), strict=True):
                if len(tokens) != len(acts) or not 0 <= index < len(tokens):
                    raise ValueError(
                        f"the lab's neuron record has a context of {len(tokens)} tokens with "
                        f"{len(acts)} activations and its firing token at {index}"
                    )
    if layer is None:
        layer = int(layers[0])
    elif layer not in layers:
        listed = ", ".join(str(value) for value in layers.tolist())
        raise ValueError(f"layer {layer} has no neuron record; expected one of {listed}")
    row = int(np.flatnonzero(layers == layer)[0])
    if neuron is None:
        neuron = int(np.argmax(rise[row]))
    elif not 0 <= neuron < n:
        raise ValueError(f"neuron must be an int in [0, {n - 1}]; got {neuron!r}")
    hooks = record.get("hooks")
    if not isinstance(hooks, list) or len(hooks) != L:
        hooks = [f"blocks.{value}.mlp.hook_post" for value in layers.tolist()]
    steps = trace.snapshot_steps[-1:]
    measured = record.get("step")
    measured = int(measured) if isinstance(measured, int | float) else -1
    loss_clean = record.get("loss_clean")
    task = task_name(trace)
    return NeuronData(
        steps=steps if len(steps) else np.array([max(measured, 0)], np.int64),
        measured=measured,
        layer=int(layer),
        neuron=int(neuron),
        layers=layers,
        hooks=[str(hook) for hook in hooks],
        mode=str(record.get("mode", "zero")),
        loss_clean=float(loss_clean) if isinstance(loss_clean, int | float) else float("nan"),
        loss_rise=rise,
        top_act=top_act,
        contexts=contexts,
        context_acts=context_acts,
        promotes=_strings(_nested(record, "promotes", (L, n, k), 3), 3),
        suppresses=_strings(_nested(record, "suppresses", (L, n, k), 3), 3),
        task=task,
        title=titled("MLP neurons", task),
        **arrays,
    )
