"""The attribution view model: one prediction of the probe followed through the model. The
logit of the right token at an answer position, split into what each part of the residual
stream adds to it (direct logit attribution): the token and position embeddings, every head,
every MLP and the biases; the parts sum to the logit. No torch.

The split needs the model to run, so :func:`explain.lab.record` measures it once at the end of
training (:func:`explain.lab.attribution.probe_attribution`) and writes it into
``trace.meta["lab"]["attribution"]``::

    {"step": 300, "tokens": [...], "source": None, "positions": [6, 7, ...],
     "targets": ["9", ...], "predicted": ["9", ...],   # [answer]
     "names": ["embed", "pos", "L0H0", ..., "L0.mlp", ..., "bias"],
     "values": [[...]],   # [answer][parts]: each row sums to its logit
     "logits": [...]}     # [answer] the model's logit of the target

A head's attention on the probe is read from the patterns the trace recorded at its last
snapshot (the view has that one frame, as the lens has). Part names follow
:func:`explain.lab.attribution.part_names`: ``"L{layer}H{head}"`` a self-attention head (the
decoder's, for an encoder-decoder model), ``"L{layer}X{head}"`` a cross-attention head,
``"L{layer}.mlp"``.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> record = {"tokens": ["a", "b"], "positions": [1], "targets": ["a"], "predicted": ["a"],
    ...     "names": ["embed", "L0H0", "L0.mlp", "bias"], "values": [[0.5, 2.0, -1.0, 0.25]],
    ...     "logits": [1.75]}
    >>> pattern = np.array([[[[1.0, 0.0], [0.75, 0.25]]]])  # [snapshot, head, q_pos, k_pos]
    >>> tensors, meta = {"blocks.0.attn.hook_pattern": pattern}, {"lab": {"attribution": record}}
    >>> data = attribution(Trace.from_arrays(meta, [5], {}, [5], tensors))
    >>> data.position, data.bars().tolist(), data.logit(), data.strongest_head()
    (1, [0.5, 2.0, -1.0, 0.25], 1.75, 'L0H0')
    >>> data.patterns["L0H0"][1].tolist(), data.head_of("L0H0"), data.head_of("L0.mlp")
    ([0.75, 0.25], ('self', 0, 0), None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..names import attention_name
from ..style import SIGNED
from ..trace import Trace
from ._common import ViewModel, check_integer, consistent, task_name, titled, trained

__all__ = ["RECORD_HINT", "AttributionData", "attribution"]

RECORD_HINT = (
    "the trace has no direct logit attribution record (trace.meta['lab']['attribution']); run "
    "explain.lab.record(run) first on the trained Run (it needs the model), or store "
    "explain.lab.attribution.probe_attribution(run) there"
)
# the part names of explain.lab.attribution.part_names
_HEAD = re.compile(r"^L(\d+)([HX])(\d+)$")
_MLP = re.compile(r"^L(\d+)\.mlp$")


def self_part(names: list[str]) -> str:
    """The attention part of the "H" heads: "decoder" in a model with cross heads, else "self"."""
    cross = any(match.group(2) == "X" for match in map(_HEAD.match, names) if match)
    return "decoder" if cross else "self"


def layer_of(name: str) -> int | None:
    """The block a part belongs to (a head or an MLP), None for the embeddings and biases."""
    match = _HEAD.match(name) or _MLP.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class AttributionData(ViewModel):
    """The logit of the right token at each answer position of the probe, split into the parts
    of the residual stream, and each head's attention on the probe (one frame)."""

    what: ClassVar[str] = "attribution"
    FIELDS: ClassVar = tuple(
        "task title colorscale steps measured position tokens source positions targets "
        "predicted names values logits patterns".split()
    )
    FRAMED: ClassVar = ()  # one frame: nothing is cut per step

    steps: np.ndarray  # [1]: the last snapshot step (the attention patterns')
    measured: int  # the model's step when the attribution was measured (-1: not said)
    position: int  # the answer position shown (one of `positions`)
    tokens: list[str]  # [pos] the probe's input tokens (the decoder's, for encoder-decoder)
    source: list[str] | None  # [src_pos] the encoder's input tokens, or None
    positions: np.ndarray  # [answer] int64: the positions attributed, in order
    targets: list[str]  # [answer] the right next token at each of them
    predicted: list[str]  # [answer] the model's top token there
    names: list[str]  # [parts] in forward order: embed, pos, L0H0, ..., L0.mlp, ..., bias
    values: np.ndarray  # [answer, parts] float64: each part's share of the target's logit
    logits: np.ndarray  # [answer] float64: the model's logit of the target (= the row's sum)
    patterns: dict[str, np.ndarray]  # head name -> [q_pos, k_pos] at the last snapshot
    task: str
    title: str
    colorscale: str = SIGNED  # a part adds to the logit or takes from it
    # False for a model trained elsewhere (explain.lab.record_hf; views.trained): no step to name
    trained: bool = True

    def row(self, position: int | None = None) -> int:
        """The index of ``position`` (None: the one shown) in :attr:`positions`."""
        position = self.position if position is None else position
        check_integer("position", position)
        hits = np.flatnonzero(self.positions == position)
        if not hits.size:
            listed = ", ".join(str(p) for p in self.positions.tolist())
            raise ValueError(
                f"position {position} is not an attributed answer position; expected one of "
                f"{listed}"
            )
        return int(hits[0])

    def bars(self, position: int | None = None) -> np.ndarray:
        """[parts] what each part adds to the target's logit at ``position``."""
        return self.values[self.row(position)]

    def logit(self, position: int | None = None) -> float:
        """The model's logit of the target at ``position``: the sum of :meth:`bars`."""
        return float(self.logits[self.row(position)])

    def target(self, position: int | None = None) -> str:
        return self.targets[self.row(position)]

    def prediction(self, position: int | None = None) -> str:
        return self.predicted[self.row(position)]

    def head_of(self, name: str) -> tuple[str, int, int] | None:
        """``(part, layer, head)`` of a head's name (part as :mod:`explain.names` says it:
        "self", "decoder" or "cross"), None for a part that is no head."""
        match = _HEAD.match(name)
        if match is None:
            return None
        layer, letter, head = match.groups()
        return "cross" if letter == "X" else self_part(self.names), int(layer), int(head)

    def block_of(self, name: str) -> int | None:
        """The block a part belongs to (a head or an MLP), None for the embeddings and biases."""
        return layer_of(name)

    @property
    def heads(self) -> list[str]:
        """The names of the heads, in forward order."""
        return [name for name in self.names if _HEAD.match(name)]

    def key_tokens(self, name: str) -> list[str]:
        """The tokens head ``name`` looks at: the encoder's for a cross head."""
        found = self.head_of(name)
        cross = found is not None and found[0] == "cross"
        return list(self.source or []) if cross else self.tokens

    def strongest_head(self, position: int | None = None) -> str | None:
        """The head that adds the most to the logit at ``position``, in size, of those whose
        attention the trace holds (None without any)."""
        values = self.bars(position)
        shown = [(abs(values[i]), name) for i, name in enumerate(self.names)
                 if name in self.patterns]  # fmt: skip
        return max(shown, key=lambda item: item[0])[1] if shown else None

    def groups(self) -> list[tuple[str, list[int]]]:
        """The parts grouped as the forward pass adds them: ``("inputs", [embed, pos])``, each
        ``("layer N", [its heads, its MLP])``, ``("bias", [bias])``; indices into names."""
        out: list[tuple[str, list[int]]] = []
        for index, name in enumerate(self.names):
            layer = layer_of(name)
            key = f"layer {layer}" if layer is not None else ("bias" if out else "inputs")
            if out and out[-1][0] == key:
                out[-1][1].append(index)
            else:
                out.append((key, [index]))
        return out


def _array(record: dict, key: str, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(record.get(key), np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the lab's attribution record {key!r} is not numbers: {error}") from None
    if array.ndim != ndim:
        raise ValueError(
            f"the lab's attribution record {key!r} must have {ndim} axes; got {array.shape}"
        )
    return np.nan_to_num(array, nan=0.0)  # JSON null (NaN) shows as 0


def _strings(record: dict, key: str, count: int) -> list[str]:
    values = record.get(key)
    if not isinstance(values, list) or len(values) != count:
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise ValueError(
            f"the lab's attribution record {key!r} must list {count} tokens; got {got}"
        )
    return [str(value) for value in values]


def _patterns(trace: Trace, data: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each head's pattern [q_pos, k_pos] at the trace's last snapshot (the heads it holds)."""
    own = self_part(data["names"])
    tensors = trace.tensors
    n_pos, n_src = len(data["tokens"]), len(data["source"] or [])
    found: dict[str, np.ndarray] = {}
    for name in data["names"]:
        match = _HEAD.match(name)
        if match is None:
            continue
        layer, letter, head = int(match.group(1)), match.group(2), int(match.group(3))
        hook = attention_name(layer, "cross" if letter == "X" else own)
        if hook not in tensors or not len(tensors[hook]):
            continue
        pattern = tensors[hook][-1]  # [head, q_pos, k_pos]
        keys = n_src if letter == "X" else n_pos
        if pattern.ndim != 3 or pattern.shape[1:] != (n_pos, keys) or head >= pattern.shape[0]:
            raise ValueError(
                f"{hook} has shape {pattern.shape} at the last snapshot ([head, q_pos, k_pos]); "
                f"the attribution record has {n_pos} positions and head {name} (was it "
                "recorded for another probe?)"
            )
        found[name] = np.asarray(pattern[head], np.float32)
    return found


@consistent
def attribution(trace: Trace, position: int | None = None) -> AttributionData:
    """The attribution view model of ``trace`` (see the module docstring for the record).

    ``position``: the answer position shown (default: the first). ValueError without the lab's
    attribution record: run ``explain.lab.record(run)`` first.
    """
    lab = trace.meta.get("lab")
    record: Any = lab.get("attribution") if isinstance(lab, dict) else None
    if not isinstance(record, dict):
        raise ValueError(RECORD_HINT)
    check_integer("position", position)
    values = _array(record, "values", 2)  # [answer, parts]
    logits = _array(record, "logits", 1)  # [answer]
    positions = np.asarray(record.get("positions") or [], np.int64)
    names = [str(name) for name in record.get("names") or []]
    tokens = [str(token) for token in record.get("tokens") or []]
    n_answer = len(positions)
    if values.shape != (n_answer, len(names)) or logits.shape != (n_answer,) or not n_answer:
        raise ValueError(
            f"the lab's attribution record does not fit together: {n_answer} positions, "
            f"{len(names)} names, values {values.shape} ([answer, parts]), logits {logits.shape}"
        )
    if positions.min() < 0 or positions.max() >= len(tokens):
        raise ValueError(
            f"the lab's attribution record's positions run {positions.min()}..{positions.max()}; "
            f"its probe has {len(tokens)} tokens"
        )
    source = record.get("source")
    data = {
        "tokens": tokens,
        "source": [str(token) for token in source] if isinstance(source, list) else None,
        "names": names,
    }
    if position is None:
        position = int(positions[0])
    elif position not in positions:
        listed = ", ".join(str(p) for p in positions.tolist())
        raise ValueError(
            f"position {position} is not an attributed answer position; expected one of {listed}"
        )
    steps = trace.snapshot_steps[-1:]
    measured = record.get("step")
    measured = int(measured) if isinstance(measured, int | float) else -1
    task = task_name(trace)
    return AttributionData(
        steps=steps if len(steps) else np.array([max(measured, 0)], np.int64),
        measured=measured,
        position=int(position),
        tokens=tokens,
        source=data["source"],
        positions=positions,
        targets=_strings(record, "targets", n_answer),
        predicted=_strings(record, "predicted", n_answer),
        names=names,
        values=values,
        logits=logits,
        patterns=_patterns(trace, data),
        task=task,
        title=titled("direct logit attribution", task),
        trained=trained(trace),
    )
