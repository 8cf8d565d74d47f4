"""The logit lens and saliency: what the residual stream "says" at each layer, and which input
tokens a prediction leans on.

The **logit lens** reads the residual stream after every block as if it were the last one:
through the model's final LayerNorm and the unembedding, then a softmax. Row 0 is the
embedding (what block 0 reads), row ``i + 1`` the stream after block ``i``; the last row is
the model's own output distribution.

**Saliency** is gradient x input: the gradient of the log-probability of one token at one
position with respect to each input token's embedding, dotted with that embedding. One number
per input token; in a causal model the tokens after ``position`` get exactly 0.

:func:`top_tokens` turns lens probabilities into the table a view shows (numpy only)::

    >>> import numpy as np
    >>> probs = np.array([[[0.1, 0.7, 0.2]], [[0.5, 0.2, 0.3]]])  # [layer + 1, pos, vocab]
    >>> top_tokens(probs, ["a", "b", "c"], k=2)
    [[[('b', 0.7), ('c', 0.2)]], [[('a', 0.5), ('c', 0.3)]]]

torch is imported inside the functions that run a model, so this module imports without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from ..model import TinyTransformer
    from .hf import LabModel

__all__ = ["logit_lens", "saliency", "top_tokens"]


def _check_ids(model: TinyTransformer, ids: Any, what: str) -> np.ndarray:
    """``ids`` as int64 [pos] if they are one sequence of valid token ids, else a ValueError."""
    if isinstance(ids, str):
        raise ValueError(
            f"{what} must be token ids [pos]; got the string {ids[:20]!r}. Encode it first, "
            f"e.g. task.tokenizer.encode(text)"
        )
    if hasattr(ids, "detach"):  # a torch tensor
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids)
    if array.ndim != 1:
        hint = f" (one sequence, e.g. {what}[0])" if array.ndim == 2 else ""
        raise ValueError(f"{what} must have shape [pos]{hint}; got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} must hold at least one token id; got none")
    if array.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integer token ids; got dtype {array.dtype}")
    context = model.config.context_length
    if array.size > context:
        raise ValueError(
            f"{what} has {array.size} positions; the model's context_length is {context}"
        )
    vocab = model.config.vocab_size
    bad = array[(array < 0) | (array >= vocab)]
    if bad.size:
        raise ValueError(f"{what} holds ids {bad[:5].tolist()}; expected ids in [0, {vocab - 1}]")
    return array.astype(np.int64)


def _check_index(name: str, value: Any, size: int, meaning: str) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or not 0 <= value < size:
        raise ValueError(f"{name} must be an int in [0, {size - 1}] ({meaning}); got {value!r}")
    return int(value)


def _prepare(
    model: TinyTransformer, tokens: Any, source: Any
) -> tuple[torch.Tensor, dict[str, torch.Tensor], str]:
    """Token tensor [1, pos], forward kwargs (``source``) and the decoder's hook-name prefix."""
    import torch

    from .heads import _wrapped

    if _wrapped(model):  # a wrapped HuggingFace model reads a text (or ids) of one stack
        model.lens_modules()  # a ValueError for a model the lens cannot read (BART, T5)
        if isinstance(tokens, str):
            tokens = model.encode(tokens, "text")

    def as_tensor(ids: np.ndarray) -> torch.Tensor:
        return torch.tensor(ids[None], dtype=torch.long, device=model.device)  # (1, T)

    ids = as_tensor(_check_ids(model, tokens, "tokens"))
    if model.config.kind == "encoder-decoder":
        if source is None:
            raise ValueError(
                "an encoder-decoder model needs source ids [src_pos] (the encoder's input); "
                "tokens are the decoder's input"
            )
        return ids, {"source": as_tensor(_check_ids(model, source, "source"))}, "decoder."
    if source is not None:
        raise ValueError("a decoder-only model takes no source ids; pass source=None")
    return ids, {}, ""


def logit_lens(
    model: TinyTransformer | LabModel, tokens: Any, source: Any = None
) -> np.ndarray:
    """Probabilities ``[layer + 1, pos, vocab]`` (float64) read off the residual stream.

    Row 0 is ``embed.hook_sum``: token embedding plus the additive positional encoding, what
    block 0 reads (rotary models add no positions there; rotation happens inside attention).
    Row ``i + 1`` is ``blocks.{i}.hook_resid_post``. Each is put through the final LayerNorm
    and the unembedding (no bias; the model's ``unembed``), then a softmax, so the last row is
    ``softmax(model(tokens))``.

    ``tokens`` are ids ``[pos]`` (list, array or tensor), or a text for a HuggingFace model
    wrapped by :func:`explain.lab.wrap` (decoder-only or BERT: its blocks' outputs through its
    final norm and head, see :mod:`explain.lab.hf`). Encoder-decoder models: ``tokens``
    feed the decoder, whose stack the lens reads, and ``source`` (ids) the encoder. The model
    runs in eval mode without gradients; its mode is restored and no hook is left behind.

    >>> import explain
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=5, n_layers=2))
    >>> logit_lens(model, [1, 2, 3]).shape  # [layer + 1, pos, vocab]
    (3, 3, 5)
    """
    import torch

    ids, kwargs, prefix = _prepare(model, tokens, source)
    stack = model.decoder if prefix else model
    names = [f"{prefix}embed.hook_sum"]
    names += [f"{prefix}blocks.{i}.hook_resid_post" for i in range(len(stack.blocks))]
    was_training = model.training
    model.eval()  # dropout off: embed's dropout is then the identity, so hook_sum feeds block 0
    try:
        with torch.no_grad():
            _, cache = model.run_with_cache(ids, names=names, **kwargs)
            resid = torch.cat([cache[name] for name in names])  # (L + 1, T, d)
            logits = model.unembed(stack.ln_final(resid))  # (L + 1, T, vocab)
    finally:
        model.train(was_training)
    return torch.softmax(logits.double(), dim=-1).cpu().numpy()


def saliency(
    model: TinyTransformer,
    tokens: Any,
    position: int,
    target: int | None = None,
    source: Any = None,
) -> np.ndarray:
    """Gradient x input ``[pos]`` (float64) for the prediction at ``position``.

    For each input token ``t``: ``d log p(target | position) / d e_t  .  e_t``, where ``e_t``
    is its token embedding (``embed.hook_tokens``, before positions are added), summed over
    d_model. ``target`` defaults to the model's most likely token at ``position``. Positive:
    the token's embedding pushes toward ``target``; tokens after ``position`` are 0 in a causal
    model. For encoder-decoder models this is over the decoder's ``tokens`` (``source`` given).
    The model runs in eval mode; its mode is restored, its parameters' ``.grad`` are untouched
    and no hook is left behind.

    >>> import explain
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=5, n_layers=1))
    >>> saliency(model, [1, 2, 3, 4], position=1)[2:].tolist()  # after position 1: causal
    [0.0, 0.0]
    """
    import torch

    ids, kwargs, prefix = _prepare(model, tokens, source)
    position = _check_index("position", position, ids.shape[1], "a position of tokens")
    if target is not None:
        target = _check_index("target", target, model.config.vocab_size, "a token id")
    embedded: list[torch.Tensor] = []

    def leaf(x: torch.Tensor, hook: Any) -> torch.Tensor:
        # Swap in a leaf tensor so autograd can return the gradient with respect to it.
        embedded.append(x.detach().requires_grad_(True))  # (1, T, d)
        return embedded[-1]

    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), model.hooks(fwd=[(f"{prefix}embed.hook_tokens", leaf)]):
            logits = model(ids, **kwargs)  # (1, T, vocab)
            log_probs = torch.log_softmax(logits[0, position], dim=-1)  # (vocab,)
            chosen = int(log_probs.argmax()) if target is None else target
            (grad,) = torch.autograd.grad(log_probs[chosen], embedded[0])  # (1, T, d)
    finally:
        model.train(was_training)
    return (grad * embedded[0]).sum(-1)[0].detach().double().cpu().numpy()  # (T,)


def top_tokens(
    probs: np.ndarray, vocab: Sequence[str], k: int = 3
) -> list[list[list[tuple[str, float]]]]:
    """The ``k`` most likely ``(token, prob)`` pairs per layer and position, best first.

    ``probs`` is :func:`logit_lens` output ``[layer + 1, pos, vocab]``; ``vocab`` the token
    strings by id (``task.vocab``). Ties go to the lower id.
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape [layer + 1, pos, vocab]; got {probs.shape}")
    vocab = list(vocab)
    if len(vocab) != probs.shape[-1]:
        raise ValueError(
            f"vocab has {len(vocab)} tokens; probs has {probs.shape[-1]} (its last axis)"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= len(vocab):
        raise ValueError(f"k must be an int in [1, {len(vocab)}] (tokens per cell); got {k!r}")
    best = np.argsort(-probs, axis=-1, kind="stable")[..., :k]  # [layer + 1, pos, k]
    table = []
    for layer, ranks in zip(probs, best, strict=True):  # [pos, vocab], [pos, k]
        pairs = zip(layer, ranks, strict=True)  # per position: its probs, its k best ids
        table.append([[(vocab[i], float(row[i])) for i in order] for row, order in pairs])
    return table
