"""The lens view model: what each layer predicts at each position of the probe (the logit
lens), how attention carries the inputs up through the layers (rollout) and which inputs one
prediction leans on (saliency). No torch.

The lens and saliency need the model to run, so :func:`explain.lab.record` measures them once
at the end of training (:func:`explain.lab.study.probe_lens`) and writes them into
``trace.meta["lab"]["lens"]``::

    {"step": 300, "tokens": [...], "targets": [...], "mask": [...], "source": None,
     "probs": [[[...]]],     # [layer + 1][pos][vocab]: row 0 the embedding, last the output
     "saliency": [[...]]}    # [pos][pos]: row p, gradient x input of position p's prediction

A HuggingFace model's record (:func:`explain.lab.record_hf`) adds ``"vocab"``, the token of
each ``probs`` column: with a large vocabulary it keeps only the columns a view shows (each
cell's most likely tokens and the targets), and ``top_id`` then numbers those columns.

The rollout (:func:`explain.analysis.attention_rollout`) is computed here from the attention
the trace recorded at its last snapshot. The view has one frame: ``steps`` holds that last
snapshot step, so ``index(step)`` answers for it and refuses the others.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> pattern = np.tril(np.ones((2, 2))) / [[1], [2]]  # [q_pos, k_pos]
    >>> lens_record = {"tokens": ["a", "b"], "targets": ["b", "a"], "mask": [False, True],
    ...     "probs": [[[0.6, 0.4], [0.5, 0.5]], [[0.1, 0.9], [0.8, 0.2]]],
    ...     "saliency": [[0.5, 0.0], [0.2, -0.3]]}
    >>> meta = {"lab": {"lens": lens_record}, "vocab": ["a", "b"]}
    >>> tensors = {"blocks.0.attn.hook_pattern": pattern[None, None]}  # [snap, head, q, k]
    >>> data = lens(Trace.from_arrays(meta, [5], {}, [5], tensors))
    >>> data.layers, data.top_token, data.position, data.steps.tolist()
    (['embed', 'after block 0'], [['a', 'a'], ['b', 'a']], 1, [5])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import analysis
from ..names import attention_parts
from ..style import WEIGHT
from ..trace import Trace
from . import _attention
from ._common import ViewModel, check_integer, consistent, holds, task_name, titled, trained

RECORD_HINT = (
    "the trace has no logit lens record (trace.meta['lab']['lens']); run "
    "explain.lab.record(run) on the trained Run (it needs the model) before showing the lens"
)


@dataclass(frozen=True)
class LensData(ViewModel):
    """The logit lens table, the attention rollout and the saliency of each prediction, for
    the probe sequence at the end of training (one frame)."""

    what: ClassVar[str] = "lens"
    FIELDS: ClassVar = tuple(
        "task title colorscale steps part tokens targets mask vocab layers position probs "
        "top_id top_token top_prob saliency rollout".split()
    )
    FRAMED: ClassVar = ()  # one frame: nothing is cut per step

    steps: np.ndarray  # [1]: the last snapshot step (the rollout's attention, the lens's model)
    part: str  # the attention rolled out: "self", or "decoder" for encoder-decoder
    tokens: list[str]  # [pos] the probe's input tokens (the decoder's, for encoder-decoder)
    targets: list[str]  # [pos] the token each position should predict
    mask: list[bool]  # [pos] positions scored by the task (the answer)
    vocab: list[str]  # [vocab] token strings by id
    layers: list[str]  # [layer + 1] "embed", "after block 0", ...
    position: int  # the position whose saliency is shown
    probs: np.ndarray  # [layer + 1, pos, vocab] softmax of each layer's residual stream
    top_id: np.ndarray  # [layer + 1, pos] the most likely token id
    top_token: list[list[str]]  # [layer + 1][pos] its string
    top_prob: np.ndarray  # [layer + 1, pos] its probability
    saliency: np.ndarray  # [pos, pos] row p: gradient x input of position p's prediction
    rollout: np.ndarray  # [q_pos, k_pos] attention rollout at the last snapshot
    task: str
    title: str
    colorscale: str = WEIGHT  # probabilities and rollout, both in [0, 1]
    # False for a model trained elsewhere (explain.lab.record_hf; views.trained): no step to name
    trained: bool = True

    def heading(self, step: int) -> str:
        """The figure's title: ``title · step S`` (no step when not :attr:`trained`); plain
        text, escaped by each renderer."""
        return f"{self.title} · step {step}" if self.trained else self.title

    def bars(self, position: int | None = None) -> np.ndarray:
        """[pos] the saliency of ``position``'s prediction (default: ``self.position``)."""
        return self.saliency[self.position if position is None else position]


def _array(record: dict, key: str, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(record.get(key), np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"the lab's lens record {key!r} is not numbers: {error}") from None
    if array.ndim != ndim:
        raise ValueError(f"the lab's lens record {key!r} must have {ndim} axes; got {array.shape}")
    return np.nan_to_num(array, nan=0.0)  # JSON null (NaN) shows as 0


def _vocab(trace: Trace, record: dict, size: int) -> list[str]:
    """The token of each ``probs`` column: the record's own ``vocab`` (a large vocabulary keeps
    only some columns), else the trace's, else the column numbers."""
    for vocab in (record.get("vocab"), trace.meta.get("vocab")):
        if isinstance(vocab, list) and len(vocab) == size:
            return [str(token) for token in vocab]
    return [str(i) for i in range(size)]


def _rollout(trace: Trace, part: str) -> np.ndarray:
    attention = _attention.attention(trace, part)
    return analysis.attention_rollout(attention.at(len(attention.steps) - 1))


def _part(trace: Trace) -> str:
    parts = attention_parts(trace.attention_names())
    if "self" in parts:
        return "self"
    if "decoder" in parts:
        return "decoder"
    raise ValueError(
        "the lens rolls out the self-attention of the probe (tensors named "
        f"'[decoder.]blocks.N.attn.hook_pattern'); this trace holds: {holds(trace)}"
    )


@consistent
def lens(trace: Trace, position: int | None = None) -> LensData:
    """The lens view model of ``trace`` (see the module docstring for the record it reads).

    ``position``: whose saliency the bars show (default: the first position the task scores,
    the first answer token). ValueError without a lab lens record: run
    ``explain.lab.record(run)`` first.
    """
    lab = trace.meta.get("lab")
    record: Any = lab.get("lens") if isinstance(lab, dict) else None
    if not isinstance(record, dict):
        raise ValueError(RECORD_HINT)
    check_integer("position", position)
    probs = _array(record, "probs", 3)  # [layer + 1, pos, vocab]
    saliency = _array(record, "saliency", 2)  # [pos, pos]
    tokens = [str(t) for t in record.get("tokens") or []]
    n_pos = probs.shape[1]
    if len(tokens) != n_pos or saliency.shape != (n_pos, n_pos):
        raise ValueError(
            f"the lab's lens record does not fit together: {len(tokens)} tokens, probs "
            f"{probs.shape} ([layer + 1, pos, vocab]), saliency {saliency.shape} ([pos, pos])"
        )
    targets = [str(t) for t in record.get("targets") or [""] * n_pos]
    mask = [bool(m) for m in record.get("mask") or [True] * n_pos]
    if position is None:
        position = mask.index(True) if True in mask else n_pos - 1
    elif not 0 <= position < n_pos:
        raise ValueError(f"position {position} is out of range; expected 0..{n_pos - 1}")
    part = _part(trace)
    rollout = _rollout(trace, part)
    if rollout.shape != (n_pos, n_pos):
        raise ValueError(
            f"the recorded {part} attention covers {rollout.shape[0]} positions; the lens "
            f"record has {n_pos} (was it recorded for another probe?)"
        )
    vocab = _vocab(trace, record, probs.shape[2])
    top_id = probs.argmax(axis=-1)  # [layer + 1, pos]
    task = task_name(trace)
    return LensData(
        steps=trace.snapshot_steps[-1:],
        part=part,
        tokens=tokens,
        targets=targets,
        mask=mask,
        vocab=vocab,
        layers=["embed", *(f"after block {i}" for i in range(probs.shape[0] - 1))],
        position=int(position),
        probs=probs,
        top_id=top_id,
        top_token=[[vocab[i] for i in row] for row in top_id.tolist()],
        top_prob=np.take_along_axis(probs, top_id[..., None], -1)[..., 0],
        saliency=saliency,
        rollout=rollout,
        task=task,
        title=titled("what each layer predicts", task),
        trained=trained(trace),
    )
