"""The token-loss view model: the probe as text, each target token with the loss of predicting
it, the probability the model gave it and the five tokens it found most likely, at every
snapshot: which tokens the model learns first. No torch.

The numbers are the ones the Recorder keeps (:data:`explain.trace.TOKEN_TENSORS`). A trace
recorded before it kept them has only the probe's logits (``hook_logits``): the same numbers
are computed from those here, and ``recorded`` is False.

    >>> import numpy as np
    >>> from explain.trace import Trace
    >>> logits = np.log([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]])  # [snapshot, pos, vocab]
    >>> probe = {"tokens": ["a", "b"], "target_ids": [0, 1], "mask": [False, True]}
    >>> meta = {"probe": probe, "vocab": ["a", "b", "c"]}
    >>> data = token_loss(Trace.from_arrays(meta, [0], {}, [0], {"hook_logits": logits}))
    >>> data.targets, data.loss.astype(float).round(3).tolist(), data.recorded
    (['a', 'b'], [[0.693, 0.223]], False)
    >>> data.top_tokens(0, 1), round(float(data.mean_loss(0)), 3)
    (['b', 'a', 'c'], 0.223)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..style import WEIGHT
from ..trace import TOKEN_TENSORS, TOKEN_TOP_K, Trace
from ._common import ViewModel, consistent, holds, task_name, titled

__all__ = ["TokenLossData", "token_loss"]


@dataclass(frozen=True)
class TokenLossData(ViewModel):
    """The probe's per-token loss over training: one frame per snapshot."""

    what: ClassVar[str] = "token_loss"
    FIELDS: ClassVar = tuple(
        "task title colorscale steps tokens targets target_ids mask vocab ceiling recorded "
        "loss prob top_ids top_probs".split()
    )
    FRAMED: ClassVar = ("loss", "prob", "top_ids", "top_probs")

    steps: np.ndarray  # [snapshot]
    tokens: list[str]  # [pos] the probe's input tokens (the decoder's, for encoder-decoder)
    targets: list[str]  # [pos] the token each position should predict: the text shown
    target_ids: np.ndarray  # [pos] their ids
    mask: list[bool]  # [pos] positions the task's loss scores (the others are shown grey)
    vocab: list[str]  # [vocab] token strings by id
    loss: np.ndarray  # [snapshot, pos] cross-entropy of the target token, in nats
    prob: np.ndarray  # [snapshot, pos] the target token's probability, exp(-loss)
    top_ids: np.ndarray  # [snapshot, pos, k] the most likely token ids, best first
    top_probs: np.ndarray  # [snapshot, pos, k] their probabilities
    ceiling: float  # ln(vocab): the loss of a uniform guess, the top of the colour scale
    recorded: bool  # False: computed from the stored logits (a trace older than the arrays)
    task: str
    title: str
    colorscale: str = WEIGHT  # a loss is a non-negative magnitude

    def token(self, token_id: int) -> str:
        """The string of ``token_id`` (its number where the trace has no vocabulary for it)."""
        return self.vocab[token_id] if 0 <= token_id < len(self.vocab) else str(token_id)

    def top_tokens(self, index: int, position: int) -> list[str]:
        """The most likely tokens at ``position`` in frame ``index``, best first."""
        return [self.token(int(i)) for i in self.top_ids[index, position]]

    @property
    def scored(self) -> np.ndarray:
        """[pos] bool: the positions the mean loss is over (every one when the task scores
        none)."""
        mask = np.asarray(self.mask, bool)
        return mask if mask.any() else np.ones_like(mask)

    def mean_loss(self, index: int) -> np.float64:
        """The mean loss over the scored positions in frame ``index``."""
        return np.float64(self.loss[index][self.scored].astype(np.float64).mean())


def _probe(trace: Trace) -> dict:
    probe = trace.meta.get("probe")
    if not isinstance(probe, dict) or not isinstance(probe.get("target_ids"), list):
        raise ValueError(
            "the token-loss view needs the probe's target tokens (trace.meta['probe']"
            "['target_ids']), which explain.Recorder writes; this trace's meta has none"
        )
    return probe


def _from_logits(logits: np.ndarray, target_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of :data:`explain.trace.TOKEN_TENSORS` from logits [snapshot, pos, vocab]."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    right = np.take_along_axis(log_probs, target_ids[None, :, None], axis=-1)[..., 0]
    probs = np.exp(log_probs)
    k = min(TOKEN_TOP_K, probs.shape[-1])
    top_ids = np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    return {
        "token_loss": -right,
        "token_prob": np.exp(right),
        "token_top_ids": top_ids,
        "token_top_probs": np.take_along_axis(probs, top_ids, axis=-1),
    }


@consistent
def token_loss(trace: Trace) -> TokenLossData:
    """The token-loss view model of ``trace``: the recorded per-token loss, or the same
    computed from the probe's logits for a trace recorded before the Recorder kept it."""
    probe = _probe(trace)
    tensors = trace.tensors
    target_ids = np.asarray(probe["target_ids"], np.int64)
    recorded = all(name in tensors for name in TOKEN_TENSORS)
    if recorded:
        arrays = {name: tensors[name] for name in TOKEN_TENSORS}
    elif "hook_logits" in tensors:
        logits = tensors["hook_logits"]
        if logits.ndim != 3 or logits.shape[1] != len(target_ids):
            raise ValueError(
                f"hook_logits has shape {logits.shape}; expected [snapshot, pos, vocab] with "
                f"pos = {len(target_ids)} like the probe's targets"
            )
        if len(target_ids) and not 0 <= target_ids.min() <= target_ids.max() < logits.shape[2]:
            raise ValueError(
                f"the probe's target ids run {target_ids.min()}..{target_ids.max()}; the logits "
                f"cover ids 0..{logits.shape[2] - 1}"
            )
        arrays = _from_logits(logits, target_ids)
    else:
        names = ", ".join(TOKEN_TENSORS)
        raise ValueError(
            f"the token-loss view reads the probe's per-token loss ({names}) or its logits "
            f"(hook_logits); this trace holds: {holds(trace)}"
        )
    loss = arrays["token_loss"]
    if loss.shape[1:] != target_ids.shape:
        raise ValueError(
            f"token_loss has shape {loss.shape}; expected [snapshot, {len(target_ids)}] like "
            "the probe's targets"
        )
    vocab = trace.meta.get("vocab")
    vocab = [str(t) for t in vocab] if isinstance(vocab, list) else []
    size = tensors["hook_logits"].shape[-1] if "hook_logits" in tensors else len(vocab)
    n_pos = len(target_ids)
    targets = probe.get("target_tokens")
    if not isinstance(targets, list) or len(targets) != n_pos:
        targets = [vocab[i] if i < len(vocab) else str(i) for i in target_ids.tolist()]
    tokens = probe.get("tokens")
    tokens = tokens if isinstance(tokens, list) and len(tokens) == n_pos else [""] * n_pos
    mask = probe.get("mask")
    mask = mask if isinstance(mask, list) and len(mask) == n_pos else [True] * n_pos
    task = task_name(trace)
    return TokenLossData(
        steps=trace.snapshot_steps,
        tokens=[str(t) for t in tokens],
        targets=[str(t) for t in targets],
        target_ids=target_ids,
        mask=[bool(m) for m in mask],
        vocab=vocab,
        loss=np.asarray(loss, np.float32),
        prob=np.asarray(arrays["token_prob"], np.float32),
        top_ids=np.asarray(arrays["token_top_ids"], np.int64),
        top_probs=np.asarray(arrays["token_top_probs"], np.float32),
        ceiling=math.log(max(2, size)),
        recorded=recorded,
        task=task,
        title=titled("per-token loss", task),
    )
