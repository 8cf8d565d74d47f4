"""How much of a model can go: remove heads one by one, or prune weights by magnitude.

:func:`prune_curve` switches heads off cumulatively, least important first, and scores the
model after each removal (optionally after a short fine-tune). :func:`sparsity_curve` zeroes
the smallest weights of the transformer blocks globally and scores each sparsity level.

    >>> import explain
    >>> task = explain.tasks.get("reverse")
    >>> config = explain.ModelConfig(vocab_size=task.vocab_size, context_length=12, n_layers=1,
    ...                              n_heads=2)
    >>> curve = prune_curve(explain.TinyTransformer(config), task, batches=1)
    >>> curve.fractions.tolist(), len(curve.order)
    ([0.0, 0.5, 1.0], 2)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import tasks as tasks_module
from ..config import TrainConfig
from ..model import TinyTransformer
from ..trainer import Trainer
from .heads import (
    _DEFAULT_BATCH_SIZE,
    MODES,
    Head,
    Reference,
    Texts,
    _check_heads,
    _check_model,
    _data,
    _resolve_part,
    _score,
    ablate,
    all_heads,
    head_importance,
    held_out,
    rank_heads,
)

if TYPE_CHECKING:
    from .hf import LabModel

__all__ = [
    "PruneCurve",
    "SparsityCurve",
    "magnitude_prune",
    "prunable_weights",
    "prune_curve",
    "sparsity_curve",
]


def _frozen(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class PruneCurve:
    """Scores as heads are removed cumulatively in ``order``; arrays are ``[n_heads + 1]``."""

    fractions: np.ndarray  # share of the part's heads removed: 0, 1/n, ..., 1
    loss: np.ndarray  # held-out loss after each removal
    accuracy: np.ndarray  # held-out accuracy (NaN for a task without a metric)
    order: tuple[Head, ...]  # (layer, head) in the order removed, least important first


@dataclass(frozen=True, eq=False)
class SparsityCurve:
    """Scores at each global magnitude-pruning level; arrays are ``[levels]``."""

    levels: np.ndarray  # share of the block weights set to zero
    loss: np.ndarray
    accuracy: np.ndarray


# ---------------------------------------------------------------------------- heads


def _fine_tune(
    model: TinyTransformer, task: tasks_module.Task, steps: int, config: TrainConfig, seed: int
) -> None:
    """``steps`` updates of the Trainer (same loss, optimizer and clipping as training)."""
    config = replace(config, steps=steps, seed=seed, eval_every=steps, eval_batches=1)
    Trainer(model, task, config, snapshot_schedule=lambda step: False).run()


def prune_curve(
    model: TinyTransformer | LabModel,
    task: tasks_module.Task | Texts,
    order: Iterable[Head] | None = None,
    retrain_steps: int = 0,
    batches: int = 8,
    seed: int = 0,
    *,
    mode: str = "zero",
    reference: Reference | Texts | None = None,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    train_config: TrainConfig | None = None,
    part: str | None = None,
    progress: bool = False,
) -> PruneCurve:
    """Remove ``part``'s heads one at a time in ``order`` and score after each removal.

    ``order`` lists every head once; by default least important first by gradient importance
    (:func:`~explain.lab.heads.head_importance` on the same held-out batches). Entry ``k`` of
    the curve has the first ``k`` heads ablated (:func:`~explain.lab.heads.ablate` with
    ``mode`` and ``reference``) and is scored as :func:`~explain.lab.heads.evaluate` scores, so
    entry 0 is the unablated model and the last has every head of the part off.

    With ``retrain_steps > 0`` a deep copy is fine-tuned by the :class:`~explain.trainer.Trainer`
    for that many steps after each removal, cumulatively, with the removed heads' ablation
    hooks active during fine-tuning (their z stays off, so nothing downstream can learn to use
    them; in mean mode the mean is recomputed from the copy's weights at each removal). The
    fine-tune uses ``train_config`` (default: AdamW at a constant lr of 1e-3, no warm-up) with
    ``steps=retrain_steps`` and seed ``seed + k``. The caller's model is never changed.

    A HuggingFace model wrapped by :func:`explain.lab.wrap` takes texts for ``task`` (scored as
    :func:`~explain.lab.heads.evaluate` scores them; an exported run's model also its Task) and
    no retraining.
    """
    model = _check_model(model, wrapped=True)
    part = _resolve_part(model, part)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    if isinstance(retrain_steps, bool) or not isinstance(retrain_steps, int) or retrain_steps < 0:
        raise ValueError(f"retrain_steps must be an int >= 0; got {retrain_steps!r}")
    if retrain_steps and not isinstance(model, TinyTransformer):
        raise ValueError(
            f"retrain_steps={retrain_steps} fine-tunes with explain's Trainer, which trains a "
            "TinyTransformer on a Task; use retrain_steps=0 for a wrapped HuggingFace model"
        )
    data = _data(model, task, batches, seed, batch_size)
    if order is None:
        order = rank_heads(head_importance(model, task, "gradient", batches, seed,
                                           batch_size=batch_size, part=part))  # fmt: skip
    order = _check_heads(model, order, allow_empty=False)
    missing = [h for h in all_heads(model) if h not in order]
    if missing:
        raise ValueError(f"order must list every head once; it misses {missing}")
    reference = task if reference is None else reference
    train_config = train_config or TrainConfig(lr=1e-3, warmup_steps=0, schedule="constant")
    if retrain_steps:
        model = copy.deepcopy(model)
    scores = [_score(model, task, data)]
    for k in tqdm(range(1, len(order) + 1), disable=not progress, desc="pruning heads"):
        with ablate(model, order[:k], mode, reference, part):
            if retrain_steps:
                _fine_tune(model, task, retrain_steps, train_config, seed + k)
            scores.append(_score(model, task, data))
    return PruneCurve(
        fractions=_frozen(np.arange(len(order) + 1) / len(order)),
        loss=_frozen([s["loss"] for s in scores]),
        accuracy=_frozen([s["accuracy"] for s in scores]),
        order=tuple(order),
    )


# ---------------------------------------------------------------------------- weights


def prunable_weights(model: TinyTransformer) -> dict[str, nn.Parameter]:
    """The weights magnitude pruning may zero: every ``nn.Linear`` weight inside the blocks
    (attention q/k/v/o, cross-attention, MLP). Biases, LayerNorms, the token and positional
    embeddings and the unembedding stay dense: the embedding tables are per-token lookups,
    not connections, and zeroing their entries would delete parts of the vocabulary."""
    return {
        f"{name}.weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and "blocks" in name.split(".")
    }


def _check_level(level: object) -> float:
    ok = isinstance(level, int | float | np.number) and not isinstance(level, bool)
    if not ok or not math.isfinite(level) or not 0.0 <= level <= 1.0:  # type: ignore[arg-type]
        raise ValueError(f"a sparsity level must be a number in [0, 1]; got {level!r}")
    return float(level)  # type: ignore[arg-type]


def magnitude_prune(model: TinyTransformer, level: float) -> TinyTransformer:
    """A deep copy with the ``round(level * n)`` smallest-magnitude of the ``n`` prunable
    weights (:func:`prunable_weights`, one global threshold across all of them) set to zero.

        >>> import explain
        >>> pruned = magnitude_prune(explain.TinyTransformer(explain.ModelConfig()), 0.5)
        >>> weights = torch.cat([w.flatten() for w in prunable_weights(pruned).values()])
        >>> float((weights == 0).float().mean())
        0.5
    """
    model = _check_model(model)
    level = _check_level(level)
    pruned = copy.deepcopy(model)
    weights = list(prunable_weights(pruned).values())
    magnitudes = torch.cat([w.detach().abs().flatten() for w in weights])  # (n,)
    count = round(level * magnitudes.numel())
    keep = torch.ones_like(magnitudes)
    keep[torch.argsort(magnitudes, stable=True)[:count]] = 0.0  # exactly `count` zeros
    with torch.no_grad():
        for weight, mask in zip(weights, keep.split([w.numel() for w in weights]), strict=True):
            weight.mul_(mask.view_as(weight))
    return pruned


def sparsity_curve(
    model: TinyTransformer,
    task: tasks_module.Task,
    levels: Iterable[float] = (0, 0.25, 0.5, 0.75, 0.9),
    batches: int = 8,
    seed: int = 0,
    *,
    batch_size: int = _DEFAULT_BATCH_SIZE,
) -> SparsityCurve:
    """Score :func:`magnitude_prune` copies at each level (no fine-tuning), as
    :func:`~explain.lab.heads.evaluate` scores; the caller's model is not changed."""
    model = _check_model(model)
    if isinstance(levels, str | bytes) or not isinstance(levels, Iterable):
        raise ValueError(f"levels must be a list of numbers in [0, 1]; got {levels!r}")
    levels = [_check_level(level) for level in levels]
    if not levels:
        raise ValueError("levels must hold at least one number in [0, 1]; got []")
    data = held_out(task, batches, seed, batch_size)
    scores = [_score(magnitude_prune(model, level), task, data) for level in levels]
    return SparsityCurve(
        levels=_frozen(levels),
        loss=_frozen([s["loss"] for s in scores]),
        accuracy=_frozen([s["accuracy"] for s in scores]),
    )
