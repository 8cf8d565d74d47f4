"""Which heads matter: switch heads off, score the model, rank the heads.

A head is a ``(layer, head)`` pair of one attention *part* (see :mod:`explain.names`): ``"self"``
for a decoder-only model; ``"encoder"``, ``"decoder"`` (the default: decoder self-attention) or
``"cross"`` for an encoder-decoder one. A head is switched off at its per-head output
``...attn.hook_z`` ``[batch, head, q_pos, d_head]``, the tensor the output projection ``W_o``
reads, so an ablated head adds nothing but ``W_o``'s bias to the residual stream.

    >>> import explain
    >>> from explain import lab
    >>> task = explain.tasks.get("reverse")
    >>> config = explain.ModelConfig(vocab_size=task.vocab_size, context_length=12, n_heads=2)
    >>> model = explain.TinyTransformer(config)
    >>> with lab.ablate(model, [(0, 1)]):
    ...     ablated = lab.evaluate(model, task, batches=1)
    >>> sorted(ablated), model.hook_dict["blocks.0.attn.hook_z"].fns
    (['accuracy', 'loss'], [])
    >>> lab.head_importance(model, task, batches=1).shape  # [layer, head]
    (2, 2)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from .. import names
from .. import tasks as tasks_module
from ..batches import held_out_batches, masked_loss, model_inputs, to_torch
from ..config import TrainConfig
from ..model import TinyTransformer
from ..names import z_name
from .hf import LabModel

__all__ = [
    "METHODS",
    "MODES",
    "Head",
    "ablate",
    "all_heads",
    "evaluate",
    "head_importance",
    "held_out",
    "rank_heads",
    "z_name",
]

Head = tuple[int, int]  # (layer, head)
Reference = tasks_module.Task | tasks_module.Batch | dict[str, torch.Tensor] | torch.Tensor
Texts = Sequence[str] | Sequence[tuple[str, str]]  # a wrapped model's data (see explain.lab.hf)
MODES = ("zero", "mean")
METHODS = ("gradient", "ablation")
REFERENCE_SIZE = 64  # sequences whose mean a Task reference stands for (mean mode)
_DEFAULT_BATCH_SIZE = TrainConfig().batch_size  # what the trainer evaluates on


# ---------------------------------------------------------------------------- names and checks


def _wrapped(model: object) -> bool:
    """Whether ``model`` is a HuggingFace model wrapped by :func:`explain.lab.wrap`."""
    return isinstance(model, LabModel)


def _check_model(model: object, wrapped: bool = False) -> TinyTransformer:
    """``model`` if it is a TinyTransformer, or (``wrapped=True``: a function that takes one)
    a :class:`~explain.lab.hf.LabModel`; else a TypeError."""
    if isinstance(model, TinyTransformer) or (wrapped and _wrapped(model)):
        return model  # type: ignore[return-value]
    if wrapped:
        raise TypeError(
            f"model must be an explain TinyTransformer; got {type(model).__name__} (a "
            "HuggingFace model goes in wrapped: explain.lab.wrap(model, tokenizer))"
        )
    if _wrapped(model):
        raise TypeError(
            "model must be an explain TinyTransformer; a wrapped HuggingFace model (LabModel) "
            "works in evaluate, ablate, head_importance, prune_curve, logit_lens, saliency, "
            "attribute and patch"
        )
    raise TypeError(f"model must be an explain TinyTransformer; got {type(model).__name__}")


def _resolve_part(model: TinyTransformer, part: str | None) -> str:
    """``part``, or the model's default: "self" (decoder-only) or "decoder" (encoder-decoder)."""
    parts = [name for name in names.PARTS if z_name(0, name) in model.hook_dict]
    if part is None:
        return "self" if "self" in parts else "decoder"
    if part not in parts:
        raise ValueError(
            f"part must be one of {parts} for this {model.config.kind} model; got {part!r}"
        )
    return part


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_heads(model: TinyTransformer, heads: Iterable[Head], allow_empty: bool) -> list[Head]:
    """``heads`` as a list of int pairs; a ValueError names a bad, out-of-range or repeated one."""
    n_layers, n_heads = model.config.n_layers, model.config.n_heads
    valid = f"layers 0..{n_layers - 1}, heads 0..{n_heads - 1}"
    if isinstance(heads, str | bytes) or not isinstance(heads, Iterable):
        raise ValueError(f"heads must be a list of (layer, head) pairs ({valid}); got {heads!r}")
    heads = list(heads)
    if not heads and not allow_empty:
        raise ValueError(f"heads must name at least one (layer, head) pair ({valid}); got []")
    checked: list[Head] = []
    for item in heads:
        pair = isinstance(item, tuple | list | np.ndarray) and len(item) == 2
        if not pair or not all(_is_int(v) for v in item):
            raise ValueError(
                f"each head must be a (layer, head) pair of ints, e.g. [(0, 1)]; got {item!r}"
            )
        layer, head = int(item[0]), int(item[1])
        if not 0 <= layer < n_layers:
            raise ValueError(f"layer {layer} of head {(layer, head)} is out of range; {valid}")
        if not 0 <= head < n_heads:
            raise ValueError(f"head {head} of {(layer, head)} is out of range; {valid}")
        if (layer, head) in checked:
            raise ValueError(f"head {(layer, head)} is listed twice in {heads!r}")
        checked.append((layer, head))
    return checked


def _check_count(name: str, value: object) -> int:
    if not _is_int(value) or value < 1:  # type: ignore[operator]
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)  # type: ignore[call-overload]


def all_heads(model: TinyTransformer) -> list[Head]:
    """Every ``(layer, head)`` of one part, layer by layer."""
    return [(layer, head) for layer in range(model.config.n_layers)
            for head in range(model.config.n_heads)]  # fmt: skip


# ---------------------------------------------------------------------------- data


def held_out(
    task: tasks_module.Task, batches: int, seed: int, batch_size: int
) -> list[tasks_module.Batch]:
    """The "val" batches :func:`evaluate` scores on, drawn as ``Trainer.evaluate`` draws them
    (``default_rng(10_000 + seed)``): with the trainer's seed, batch size and eval_batches the
    numbers are the trainer's (a test checks it)."""
    if not isinstance(task, tasks_module.Task):
        raise TypeError(f"task must be an explain Task; got {type(task).__name__}")
    batches, batch_size = _check_count("batches", batches), _check_count("batch_size", batch_size)
    if not _is_int(seed):
        raise ValueError(f"seed must be an int; got {seed!r}")
    return held_out_batches(task, batches, int(seed), batch_size)


def _data(model: TinyTransformer, task: Any, batches: int, seed: int, batch_size: int) -> list[Any]:
    """What a model is scored on: a Task's :func:`held_out` batches (also for a wrapped model
    that reads the task's vocabulary, e.g. ``to_hf(run)``: the same batches, so the same
    numbers), or all of a wrapped model's texts (``task``) in tensor batches of ``batch_size``
    (``batches``, ``seed`` unused)."""
    if isinstance(model, LabModel):
        if not isinstance(task, tasks_module.Task):
            return model.batches(task, _check_count("batch_size", batch_size))
        model.check_task(task)
    return held_out(task, batches, seed, batch_size)


def _forward(
    model: TinyTransformer, task: Any, batch: Any
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits ``(B, T, vocab)`` of one batch from :func:`_data`, and its tensors."""
    tensors = batch if isinstance(batch, dict) else to_torch(batch, model.device, task)
    return model(**model_inputs(tensors)), tensors


def _accuracy(
    task: Any, batch: Any, logits: torch.Tensor, tensors: dict[str, torch.Tensor]
) -> float | None:
    """The task's metric; for a wrapped model's texts, the share of masked positions whose
    most likely token is the target (next token; BERT: the masked token). None: no metric."""
    if isinstance(batch, dict):
        right = logits.argmax(-1) == tensors["targets"]  # (B, T)
        return int(right[tensors["mask"]].sum()) / int(tensors["mask"].sum())
    if not task.has_metric:
        return None
    return task.accuracy(logits.argmax(-1).cpu().numpy(), batch)


def _tensors(model: TinyTransformer, reference: Reference) -> dict[str, torch.Tensor]:
    """The model's input tensors for a mean-mode reference (see :func:`ablate`)."""
    if isinstance(reference, tasks_module.Task):
        if isinstance(model, LabModel):
            model.check_task(reference)
        rng = np.random.default_rng(0)  # the same reference sequences on every call
        batch = reference.batch(REFERENCE_SIZE, rng, split="train")
        return to_torch(batch, model.device, reference)
    if isinstance(reference, tasks_module.Batch):
        return to_torch(reference, model.device)
    if isinstance(reference, dict) and "inputs" in reference:
        return reference
    if isinstance(reference, torch.Tensor):
        return {"inputs": reference.to(model.device)}
    if isinstance(model, LabModel):  # texts
        return model.batch(reference)
    raise ValueError(
        "reference must be a Task, a tasks.Batch, a dict from explain.batches.to_torch or a "
        f"[batch, pos] token tensor; got {type(reference).__name__}"
    )


def _score(model: TinyTransformer, task: Any, data: Sequence[Any]) -> dict[str, float]:
    """Mean masked loss and task accuracy over ``data`` (from :func:`_data`); eval mode, no
    grad, mode restored."""
    losses, accuracies = [], []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in data:
                logits, tensors = _forward(model, task, batch)  # (B, T, vocab)
                losses.append(masked_loss(logits, tensors).item())
                accuracy = _accuracy(task, batch, logits, tensors)
                if accuracy is not None:
                    accuracies.append(accuracy)
    finally:
        model.train(was_training)
    accuracy = float(np.mean(accuracies)) if accuracies else math.nan
    return {"loss": float(np.mean(losses)), "accuracy": accuracy}


# ---------------------------------------------------------------------------- ablation


def _reference_means(
    model: TinyTransformer, layers: Sequence[int], part: str, reference: Reference
) -> dict[int, torch.Tensor]:
    """Layer -> each head's mean z over the reference batch, ``[head, q_pos, d_head]``; a
    wrapped model's padded texts count, at each position, only the texts that reach it."""
    tensors = _tensors(model, reference)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, cache = model.run_with_cache(
                **model_inputs(tensors), names=[z_name(layer, part) for layer in layers]
            )
    finally:
        model.train(was_training)
    if "real" not in tensors:  # a Task's sequences: all of one length
        return {layer: cache[z_name(layer, part)].mean(dim=0) for layer in layers}  # (nh, T, hs)
    real = tensors["source_mask" if part == "encoder" else "real"]  # (B, T)
    weights = real[:, None, :, None].to(cache[z_name(layers[0], part)].dtype)  # (B, 1, T, 1)
    return {
        layer: (cache[z_name(layer, part)] * weights).sum(0) / weights.sum(0)  # (nh, T, hs)
        for layer in layers
    }


def _ablation_hook(
    keep: torch.Tensor, mean: torch.Tensor | None
) -> Callable[[torch.Tensor, object], torch.Tensor]:
    """z -> z with the heads where ``keep`` is 0 zeroed, or set to ``mean`` (nh, T_ref, hs)."""
    keep = keep[:, None, None]  # (nh, 1, 1), broadcasts over (B, nh, T, hs)

    def hook(z: torch.Tensor, hook_point: object) -> torch.Tensor:
        if mean is None:
            return z * keep
        T = z.shape[2]
        if T > mean.shape[1]:
            raise ValueError(
                f"mean ablation at {getattr(hook_point, 'name', 'hook_z')}: the input has {T} "
                f"positions, the reference only {mean.shape[1]}; use a longer reference"
            )
        return z * keep + mean[:, :T] * (1 - keep)  # (B, nh, T, hs)

    return hook


@contextlib.contextmanager
def ablate(
    model: TinyTransformer | LabModel,
    heads: Iterable[Head],
    mode: str = "zero",
    reference: Reference | Texts | None = None,
    part: str | None = None,
) -> Iterator[TinyTransformer | LabModel]:
    """Switch off ``heads`` ``[(layer, head), ...]`` of ``part`` inside a ``with`` block.

    ``mode="zero"`` zeroes each head's output z; ``mode="mean"`` replaces it, position by
    position, by its mean over a reference batch, computed once on entry (with no other
    ablation of this call active). ``reference`` is a Task (the mean over ``REFERENCE_SIZE``
    sequences of its train split, the same on every call: one probe sequence would be patching
    with one input, not a mean), a ``tasks.Batch`` such as ``task.probe()``, a dict from
    :func:`explain.batches.to_torch` (an encoder-decoder's padded source needs its mask, so pass
    that or the Task) or a token tensor. Inputs may be no longer than the reference. A
    HuggingFace model wrapped by :func:`explain.lab.wrap` takes texts as its reference; each
    position's mean counts the texts that reach it. A wrapped model exported from a run
    (``wrap(to_hf(run), hf_tokenizer(run))``) also takes the run's Task, as the run's model does.

    ``part`` picks the attention: "self" for a decoder-only model; "decoder" (default),
    "encoder" or "cross" for an encoder-decoder one. Nest two ``with`` blocks to ablate heads of
    two parts. The hooks are removed when the block ends, also when it raises.

        >>> import torch, explain
        >>> model = explain.TinyTransformer(explain.ModelConfig(n_heads=2))
        >>> tokens = torch.tensor([[1, 2, 3]])
        >>> with ablate(model, [(0, 0), (1, 1)], mode="mean", reference=tokens):
        ...     logits = model(tokens)  # each ablated head outputs its own mean: itself
        >>> torch.allclose(logits, model(tokens), atol=1e-6)
        True
    """
    model = _check_model(model, wrapped=True)
    part = _resolve_part(model, part)
    heads = _check_heads(model, heads, allow_empty=False)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    layers = sorted({layer for layer, _ in heads})
    means: dict[int, torch.Tensor] = {}
    if mode == "mean":
        if reference is None:
            raise ValueError("mode='mean' needs a reference: a Task, a tasks.Batch or tokens")
        means = _reference_means(model, layers, part, reference)
    hooks = []
    for layer in layers:
        keep = torch.ones(model.config.n_heads, device=model.device)  # (nh,)
        keep[[head for lay, head in heads if lay == layer]] = 0.0
        hooks.append((z_name(layer, part), _ablation_hook(keep, means.get(layer))))
    with model.hooks(fwd=hooks):
        yield model


def evaluate(
    model: TinyTransformer | LabModel,
    task: tasks_module.Task | Texts,
    heads_off: Iterable[Head] = (),
    mode: str = "zero",
    batches: int = 8,
    seed: int = 0,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    *,
    reference: Reference | Texts | None = None,
    part: str | None = None,
) -> dict[str, float]:
    """``{"loss", "accuracy"}`` on ``batches`` held-out ("val") batches, with ``heads_off``
    ablated (see :func:`ablate`; a mean-mode reference defaults to the task).

    The batches are those ``Trainer.evaluate`` draws for ``TrainConfig(seed=seed)``, scored with
    the same loss and the task's own metric (NaN for a task without one). Runs in eval mode
    without gradients and leaves the model in the mode it was in.

    A HuggingFace model wrapped by :func:`explain.lab.wrap` is scored on texts instead of a
    Task: all of them, in batches of ``batch_size`` (``batches`` and ``seed`` are unused), with
    the next-token loss and accuracy (BERT: masked tokens; see :mod:`explain.lab.hf`). One
    whose tokenizer numbers a Task's vocabulary as the task does (``to_hf(run)`` with
    ``hf_tokenizer(run)``) takes the Task too, scored as the run's model is scored.

        >>> import explain
        >>> task = explain.tasks.get("copy")
        >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=11, context_length=12))
        >>> evaluate(model, task, batches=2) == evaluate(model, task, batches=2)
        True
    """
    model = _check_model(model, wrapped=True)
    data = _data(model, task, batches, seed, batch_size)
    heads_off = _check_heads(model, heads_off, allow_empty=True)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    reference = task if reference is None else reference
    off = ablate(model, heads_off, mode, reference, part) if heads_off else contextlib.nullcontext()
    with off:
        return _score(model, task, data)


# ---------------------------------------------------------------------------- importance


def _gradient_importance(
    model: TinyTransformer, task: Any, data: Sequence[Any], part: str
) -> np.ndarray:
    """Mean over batches of |dL/dξ| for a gate ξ = 1 on each head's z (Michel et al. 2019)."""
    n_layers, n_heads = model.config.n_layers, model.config.n_heads
    gates = torch.ones(n_layers, n_heads, device=model.device, requires_grad=True)  # (L, nh)

    def gate(layer: int) -> Callable[[torch.Tensor, object], torch.Tensor]:
        return lambda z, _: z * gates[layer][:, None, None]  # (B, nh, T, hs) * (nh, 1, 1)

    total = torch.zeros(n_layers, n_heads, dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        hooks = [(z_name(layer, part), gate(layer)) for layer in range(n_layers)]
        with torch.enable_grad(), model.hooks(fwd=hooks):
            for batch in data:
                loss = masked_loss(*_forward(model, task, batch))
                # autograd.grad, not backward(): the caller's parameters get no .grad
                (grad,) = torch.autograd.grad(loss, gates)
                total += grad.abs().double().cpu()
    finally:
        model.train(was_training)
    return (total / len(data)).numpy()


def head_importance(
    model: TinyTransformer | LabModel,
    task: tasks_module.Task | Texts,
    method: str = "gradient",
    batches: int = 8,
    seed: int = 0,
    *,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    normalize_layers: bool = False,
    part: str | None = None,
) -> np.ndarray:
    """How much each head matters, numpy ``[layer, head]``; higher matters more.

    Both methods use the held-out batches of :func:`evaluate`, so they and its numbers speak
    about the same data (for a wrapped HuggingFace model: texts, as there).

    - ``"gradient"`` (Michel, Levy and Neubig 2019, "Are Sixteen Heads Really Better than
      One?"): each head's z is multiplied by a gate ξ = 1; importance is the mean over batches
      of |∂L/∂ξ| (one backward pass per batch, loss averaged over the batch). It is the
      first-order estimate of the loss change when the head is removed.
    - ``"ablation"``: the loss increase when that head alone is zero-ablated (one evaluation
      per head); may be negative for a head that hurts.

    ``normalize_layers=True`` divides each layer's scores by their L2 norm, as the paper does
    before pruning globally. Off by default: normalising makes every layer's scores the same
    size, so a layer that matters little would look as important as one that matters a lot,
    and the two methods would no longer be on the loss scale.
    """
    model = _check_model(model, wrapped=True)
    part = _resolve_part(model, part)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}; got {method!r}")
    data = _data(model, task, batches, seed, batch_size)
    if method == "gradient":
        scores = _gradient_importance(model, task, data, part)
    else:
        base = _score(model, task, data)["loss"]
        scores = np.zeros((model.config.n_layers, model.config.n_heads))
        for layer, head in all_heads(model):
            with ablate(model, [(layer, head)], part=part):
                scores[layer, head] = _score(model, task, data)["loss"] - base
    if normalize_layers:
        norms = np.linalg.norm(scores, axis=1, keepdims=True)  # (L, 1)
        scores = scores / np.where(norms > 0, norms, 1.0)
    return scores


def rank_heads(scores: np.ndarray) -> list[Head]:
    """Heads from least to most important by ``scores [layer, head]`` (ties: layer, head order).

    >>> rank_heads(np.array([[0.3, 0.1], [0.2, 0.4]]))
    [(0, 1), (1, 0), (0, 0), (1, 1)]
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or not np.isfinite(scores).all():
        raise ValueError(
            f"scores must be a finite [layer, head] array; got shape {scores.shape}"
            + ("" if scores.ndim != 2 else " with NaN or infinite entries")
        )
    flat = np.argsort(scores, axis=None, kind="stable")  # (L * nh,)
    return [(int(i) // scores.shape[1], int(i) % scores.shape[1]) for i in flat]
