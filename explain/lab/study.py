"""A trained model studied once: what each head is worth, written into its trace, and the heads
named after what they do.

:func:`record` runs the model (gradient importance, every head ablated alone, the pruning curve)
and stores the numbers in ``trace.meta["lab"]``, so every view and export can show them from the
trace alone, with no model and no torch (:func:`explain.views.heads`). :func:`circuits` names the
heads: "layer 1 head 2: mirror head (reverse), score 0.93, appeared at step 90; switched off,
accuracy 1.00 -> 0.31".
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .. import views
from ..views._heads import ROLE_NAMES
from ..views._patching import INPUT_NAMES
from ._run import parts as _parts
from ._run import torch_threads
from .attribution import probe_attribution
from .heads import evaluate, head_importance, rank_heads
from .neurons import probe_neurons
from .patching import probe_patching
from .pruning import prune_curve, sparsity_curve

__all__ = [
    "Circuits",
    "circuits",
    "heads_record",
    "probe_lens",
    "probe_predictions",
    "record",
    "spearman",
]


SPARSITY_LEVELS = (0.0, 0.25, 0.5, 0.75, 0.9)  # shares of block weights zeroed by record()
# A path is named when its sender restores at least this share of the clean answer through the
# receiver: on reverse (no composition) the largest is 0.002, on induction 0.04-0.20 (seeds 0-2)
PATH_MIN_EFFECT = 0.02


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two equally shaped arrays (ties get their mean rank)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"need two arrays of the same size >= 2; got {a.shape} and {b.shape}")

    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        rank = np.empty(len(x))
        rank[order] = np.arange(len(x), dtype=np.float64)
        for value in np.unique(x):  # ties: the mean of their ranks
            same = x == value
            rank[same] = rank[same].mean()
        return rank

    ra, rb = ranks(a) - ranks(a).mean(), ranks(b) - ranks(b).mean()
    denominator = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def record(
    run: Any, *, batches: int = 8, seed: int = 0, part: str | None = None, threads: int | None = 1
) -> dict:
    """Measure every head of ``run.model`` on held-out batches of ``run.task`` and store the
    result in ``run.trace.meta["lab"]`` (see :mod:`explain.views._heads` for its fields), with
    the logit lens and saliency of the task's probe under ``"lens"`` (:func:`probe_lens`) and
    the direct logit attribution of its answers under ``"attribution"``
    (:func:`explain.lab.attribution.probe_attribution`), activation and path patching of the
    probe against its corrupted twin under ``"patching"``
    (:func:`explain.lab.patching.probe_patching`) and the MLP neurons under ``"neurons"``
    (:func:`explain.lab.neurons.probe_neurons`).

    ``part`` picks the attention ("self" for a decoder; the decoder's self-attention by default
    for an encoder-decoder). ``threads``: torch threads while measuring. About 0.5-1.2 s for the
    default model (1.2 s on two busy cores, measured; the lens is ~30 ms of it).
    """
    with torch_threads(threads):
        return _record(run, batches, seed, part)


def _record(run: Any, batches: int, seed: int, part: str | None) -> dict:
    model, task, trace = _parts(run)
    heads = heads_record(model, task, part, batches=batches, seed=seed)
    weights = sparsity_curve(model, task, SPARSITY_LEVELS, batches=batches, seed=seed)
    lab = {
        "part": heads.pop("part"),
        "batches": batches,
        "seed": seed,
        **heads,  # baseline, importance, ablation, prune, spearman
        "sparsity": {
            "levels": list(SPARSITY_LEVELS),
            "loss": np.asarray(weights.loss).tolist(),
            "accuracy": np.asarray(weights.accuracy).tolist(),
        },
        "lens": _probe_lens(run),  # the probe's logit lens and saliency
        "attribution": probe_attribution(run, threads=None),  # what wrote each answer's logit
        "patching": probe_patching(run),  # what causes it (None: encoder-decoder, untrained)
        "neurons": probe_neurons(run, threads=None),  # what each MLP neuron fires on and is worth
    }
    trace.meta["lab"] = views.jsonable(lab)
    return trace.meta["lab"]


def heads_record(
    model: Any, task: Any, part: str | None, *, progress: bool = False, **data: Any
) -> dict:
    """What every head of ``part`` is worth, as the heads view reads it (its lab record, see
    :mod:`explain.views._heads`): ``part``, ``baseline`` ``{"loss", "accuracy"}``,
    ``importance`` (gradient), ``ablation`` (each head alone switched off), ``prune`` (the
    pruning curve in gradient order) and ``spearman`` (gradient vs ablation ranking).
    ``model`` is a TinyTransformer with its Task, or a wrapped HuggingFace model with texts;
    ``data`` (``batches``, ``seed``, ``batch_size``) picks what they are scored on, as in
    :func:`~explain.lab.heads.evaluate`. ``progress``: tqdm bars over the heads."""
    baseline = evaluate(model, task, part=part, **data)
    importance = head_importance(model, task, "gradient", part=part, **data)
    shape = importance.shape
    loss, accuracy = np.full(shape, np.nan), np.full(shape, np.nan)
    heads = list(np.ndindex(shape))
    for layer, head in tqdm(heads, disable=not progress, desc="ablating heads"):
        alone = evaluate(model, task, [(layer, head)], part=part, **data)
        loss[layer, head], accuracy[layer, head] = alone["loss"], alone["accuracy"]
    curve = prune_curve(
        model, task, order=rank_heads(importance), part=part, progress=progress, **data
    )
    return {
        "part": part or ("decoder" if model.config.kind == "encoder-decoder" else "self"),
        "baseline": {"loss": float(baseline["loss"]), "accuracy": float(baseline["accuracy"])},
        "importance": importance.tolist(),
        "ablation": {"loss": loss.tolist(), "accuracy": accuracy.tolist()},
        "prune": {
            "fractions": np.asarray(curve.fractions).tolist(),
            "loss": np.asarray(curve.loss).tolist(),
            "accuracy": np.asarray(curve.accuracy).tolist(),
            "order": [[int(layer), int(head)] for layer, head in curve.order],
        },
        "spearman": spearman(importance, loss - baseline["loss"]),
    }


def probe_lens(run: Any, *, threads: int | None = 1) -> dict:
    """The logit lens and saliency of the task's probe, as the lens view reads them
    (:mod:`explain.views._lens`): ``step`` (the model's), ``tokens``, ``source`` (encoder input,
    or None), ``targets``, ``mask``, ``probs`` [layer + 1][pos][vocab] (:func:`logit_lens`) and
    ``saliency`` [pos][pos] (row p: gradient x input of position p's own prediction).

    ~30 ms for the default model on 1 thread; 2 threads on 2 busy cores took 7 s (measured)."""
    with torch_threads(threads):
        return _probe_lens(run)


def _probe_lens(run: Any) -> dict:
    from .lens import logit_lens, saliency

    model, task, _ = _parts(run)
    probe = task.probe()
    ids = probe.inputs[0]  # [pos]
    source = None if probe.source is None else probe.source[0]  # [src_pos]
    rows = [saliency(model, ids, p, source=source) for p in range(len(ids))]  # [pos] each
    trainer = getattr(run, "trainer", None)
    return views.jsonable(
        {
            "step": int(getattr(trainer, "step", -1)),
            "tokens": [task.vocab[i] for i in ids],
            "source": None if source is None else [task.vocab[i] for i in source],
            "targets": [task.vocab[i] for i in probe.targets[0]],
            "mask": probe.mask[0].tolist(),
            "probs": logit_lens(model, ids, source=source),  # [layer + 1, pos, vocab]
            "saliency": np.stack(rows),  # [pos, pos]
        }
    )


@dataclass(frozen=True)
class Circuits:
    """The named heads: ``lines`` (one sentence each, most clearly named first, then the path
    that path patching found), ``table`` (one dict per named head: layer, head, role, score,
    appeared, accuracy_without) and ``path`` (None, or the dict of :func:`strongest_path`)."""

    lines: list[str]
    table: list[dict]
    path: dict | None = None

    def __str__(self) -> str:
        return "\n".join(self.lines) if self.lines else "no head shows a known pattern yet"


def circuits(run: Any, *, part: str | None = None) -> Circuits:
    """Name the heads of a trained run by what they do, when it appeared and what they are
    worth (measures them first with :func:`record` if the trace has no lab record)."""
    _, _, trace = _parts(run)
    if not isinstance(trace.meta.get("lab"), dict):
        record(run, part=part)
    data = views.heads(trace)
    table = [
        {
            "layer": layer,
            "head": head,
            "role": data.roles[layer][head],
            "score": float(data.role_scores[layer, head]),
            "appeared": int(data.emergence[data.roles[layer][head]][layer, head]),
            "accuracy_without": float(data.ablated_accuracy[layer, head]),
        }
        for layer in range(data.layers)
        for head in range(data.heads)
        if data.roles[layer][head]
    ]
    table.sort(key=lambda row: -row["score"])
    path = strongest_path(trace.meta["lab"].get("patching"))
    lines = list(data.circuits)
    if path is not None:  # e.g. "L0H1 (previous-token head) -> L1H0 keys (induction head)"
        (sender, receiver), through = path["heads"], INPUT_NAMES[path["input"]]
        ends = [
            f"L{layer}H{head}{suffix}" + (f" ({ROLE_NAMES.get(role, role)})" if role else "")
            for (layer, head), suffix in ((sender, ""), (receiver, f" {through}"))
            for role in [data.roles[layer][head]]
        ]
        lines.append(
            f"{ends[0]} -> {ends[1]}: {path['share']:.2f} of the path effect into it "
            f"({path['effect']:.2f} of the clean answer restored)"
        )
    return Circuits(lines, table, path)


def strongest_path(patching: dict | None) -> dict | None:
    """The earlier head and receiver input with the largest path-patching effect in a patching
    record (:func:`explain.lab.patching.probe_patching`), or None without one or where it
    restores less than :data:`PATH_MIN_EFFECT` of the clean answer: ``heads``
    ((sender layer, head), (receiver layer, head)), ``input`` ("q", "k" or "v"), ``effect``
    (its share of the clean answer restored) and ``share`` (of the positive path effects of
    every earlier head through every input of the receiver)."""
    path = (patching or {}).get("path")
    if not path:
        return None
    effects = {part: np.array(path[part], np.float64) for part in ("q", "k", "v")}  # [layer, head]
    part = max(effects, key=lambda name: np.nanmax(effects[name]))
    layer, head = np.unravel_index(int(np.nanargmax(effects[part])), effects[part].shape)
    effect = float(effects[part][layer, head])
    positive = sum(float(np.nansum(np.clip(values, 0, None))) for values in effects.values())
    if effect < PATH_MIN_EFFECT or positive <= 0:
        return None
    receiver = tuple(int(i) for i in path["receiver"])
    return {
        "heads": ((int(layer), int(head)), receiver),
        "input": part,
        "effect": effect,
        "share": effect / positive,
    }


def probe_predictions(
    model: Any, task: Any, heads_off: Any = (), *, part: str | None = None
) -> np.ndarray:
    """The model's next-token choice [pos] at each position of the task's probe, with
    ``heads_off`` switched off: what a student reads off while ablating heads by hand."""
    import torch

    from ..batches import model_inputs, to_torch
    from .heads import ablate

    device = next(model.parameters()).device
    batch = to_torch(task.probe(), device, task)
    was_training = model.training
    model.eval()
    try:
        heads = list(heads_off)
        off = ablate(model, heads, part=part) if heads else contextlib.nullcontext()
        with torch.no_grad(), off:
            logits = model(**model_inputs(batch))  # (1, T, vocab)
    finally:
        model.train(was_training)
    return logits[0].argmax(-1).cpu().numpy()
