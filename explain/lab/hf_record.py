"""A wrapped HuggingFace model studied once into a trace: :func:`record_hf`.

:func:`explain.lab.record` measures a trained run into its own trace. A HuggingFace model has
no training trace, so :func:`record_hf` makes one: the attention of the first text
(:func:`explain.adapters.from_hf`, so every attention view and the head roles read it), with
the same lab record :func:`~explain.lab.study.record` writes for the heads
(:func:`~explain.lab.study.heads_record`: gradient importance, each head ablated alone, the
pruning curve, measured on all the texts) and the logit lens and saliency of the first text.
``widgets.HeadsView(trace)``, ``widgets.LensView(trace)`` and the exports then open it with no
model and no torch.

    >>> from transformers import AutoModelForCausalLM, AutoTokenizer  # doctest: +SKIP
    >>> from explain import lab
    >>> gpt2 = lab.wrap(AutoModelForCausalLM.from_pretrained("gpt2"),
    ...                 AutoTokenizer.from_pretrained("gpt2"))  # doctest: +SKIP
    >>> texts = ["When Mary and John went to the store, John gave", "The cat sat on the mat."]
    >>> trace = lab.record_hf(gpt2, texts)  # doctest: +SKIP
    >>> trace.save("gpt2-heads.npz")  # doctest: +SKIP

torch and transformers are imported by the functions that run the model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import views
from .._task_base import Task
from ..adapters import from_hf
from ..trace import Trace
from ._run import torch_threads
from .heads import _DEFAULT_BATCH_SIZE, Texts, _wrapped
from .lens import logit_lens, saliency
from .study import heads_record

if TYPE_CHECKING:
    from .hf import LabModel

log = logging.getLogger(__name__)

__all__ = ["ATTRIBUTED_POSITIONS", "LENS_FULL_VOCAB", "LENS_TOP", "record_hf", "text_attribution",
           "text_lens"]  # fmt: skip

# The lens stores [layer + 1, pos, vocab] probabilities in the trace's JSON metadata: GPT-2's
# 50257 tokens x 13 rows x 20 positions would be ~13M numbers (~250 MB of JSON). Beyond this
# size only the columns a view shows are kept: each cell's LENS_TOP most likely tokens (the
# lens figure's hover lists 3) and the targets.
LENS_FULL_VOCAB = 1024
LENS_TOP = 3
# Attribution takes one forward pass per position: a long text keeps its last 32 predictions
# (GPT-2 small, 1 thread: about 0.1 s each at 20 tokens)
ATTRIBUTED_POSITIONS = 32


def record_hf(
    model: LabModel,
    texts: Texts | Task,
    *,
    part: str | None = None,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    threads: int | None = 1,
    progress: bool = False,
) -> Trace:
    """A trace of ``model`` (a HuggingFace model wrapped by :func:`explain.lab.wrap`) that the
    heads, lens, pruning and attention views read with no model.

    Its tensors are the attention of ``texts[0]`` (:func:`explain.adapters.from_hf`; for BART
    and T5 the pair's source and target). ``trace.meta["lab"]`` holds what
    :func:`~explain.lab.study.heads_record` measures on all of ``texts`` in batches of
    ``batch_size`` (``evaluate``, ``head_importance``, ``prune_curve`` numbers, see
    :mod:`explain.lab.hf` for how texts are scored), ``texts`` (how many) and ``batch_size``,
    under ``"lens"`` the logit lens and saliency of ``texts[0]`` (:func:`text_lens`; None
    for BART and T5, which the lens does not read) and under ``"attribution"`` the direct
    logit attribution of its next tokens (:func:`text_attribution`; None for BERT, BART and
    T5, and where the split fails, which is logged). ``part`` picks the attention as in
    :func:`~explain.lab.heads.head_importance`; ``threads``: torch threads while measuring;
    ``progress``: tqdm bars over the heads (a real model has many: GPT-2 small 144, each
    ablated alone and then cumulatively, two evaluations of ``texts`` per head).

    A model exported from a run (``wrap(to_hf(run), hf_tokenizer(run))``) also takes the run's
    Task in place of texts: the probe's attention, the heads scored on the task's held-out
    batches as :func:`explain.lab.record` scores the run's own model (the same numbers), and
    the lens and attribution of the probe at its answer positions, with the task's targets,
    and under ``"patching"`` activation patching of the probe against its corrupted twin
    (:func:`explain.lab.corrupt`; no path patching) (``"texts"`` is then left out;
    ``trace.meta["task"]`` names the task).
    """
    if not _wrapped(model):
        raise TypeError(
            "record_hf records a HuggingFace model wrapped by explain.lab.wrap(model, tokenizer); "
            f"got {type(model).__name__} (a run from explain.train goes to explain.lab.record)"
        )
    if isinstance(texts, Task):
        return _record_task(model, texts, part, batch_size, threads, progress)
    texts = model.check_texts(texts)
    with torch_threads(threads):
        trace = _attention(model, texts[0])
        lab = heads_record(model, texts, part, batch_size=batch_size, progress=progress)
        lens = None if model.config.kind == "encoder-decoder" else text_lens(model, texts[0])
        attribution = _attribution_or_none(model, texts[0])
    trace.meta["lab"] = views.jsonable(
        {**lab, "texts": len(texts), "batch_size": batch_size, "lens": lens,
         "attribution": attribution}
    )  # fmt: skip
    trace.meta["model_config"]["hf_architecture"] = model.config.architecture
    return trace


def _record_task(
    model: LabModel, task: Task, part: str | None, batch_size: int, threads: int | None,
    progress: bool,
) -> Trace:  # fmt: skip
    """:func:`record_hf` of a model exported from a run of ``task``: the probe's attention, the
    heads measured on the task's held-out batches (as :func:`explain.lab.record` measures the
    run's own model) and the lens of the probe at its answer positions."""
    model.check_task(task)
    probe = task.probe()
    text = task.tokenizer.decode(probe.inputs[0].tolist())
    with torch_threads(threads):
        trace = _attention(model, text)
        lab = heads_record(model, task, part, batch_size=batch_size, progress=progress)
        lens = text_lens(model, text)
        attribution = _attribution_or_none(model, text, task)
        patching = _task_patching(model, task)
    lens["targets"] = [task.vocab[i] for i in probe.targets[0]]  # the task's, as probe_lens
    lens["mask"] = probe.mask[0].tolist()  # the answer positions
    trace.meta["lab"] = views.jsonable(
        {**lab, "batch_size": batch_size, "lens": lens, "attribution": attribution,
         "patching": patching}
    )  # fmt: skip
    # the task's name titles the views and names its roles ("mirror head (reverse)")
    trace.meta["task"] = task.trace_meta()
    trace.meta["model_config"]["hf_architecture"] = model.config.architecture
    return trace


def _attention(model: LabModel, text: Any) -> Trace:
    """The attention trace of one text (a (source, target) pair for BART and T5)."""
    if model.config.kind == "encoder-decoder":
        source, target = text
        model.encode(source, "texts[0][0]")  # a ValueError for one longer than the context
        return from_hf(model.hf, model.tokenizer, source, target_text=target)
    model.encode(text, "texts[0]")
    return from_hf(model.hf, model.tokenizer, text)


def text_lens(model: LabModel, text: str) -> dict:
    """The logit lens and saliency of ``text``, as the lens view reads them
    (:mod:`explain.views._lens`): ``tokens`` (the tokenizer's), ``targets`` and ``mask`` (a
    decoder: the next token, every position but the last; BERT: the token itself, the
    non-special positions), ``probs`` [layer + 1][pos][column] (:func:`logit_lens`),
    ``saliency`` [pos][pos] (row p: gradient x input of position p's most likely token),
    ``vocab`` (each column's token) and ``columns`` (each column's token id: all of them up
    to :data:`LENS_FULL_VOCAB` tokens, else those a view shows)."""
    ids = model.encode(text, "texts[0]")
    tokens = _names(model, ids)
    if model.config.kind == "decoder":
        target_ids: Sequence[int] = ids[1:]
        targets, mask = tokens[1:] + [""], [True] * (len(ids) - 1) + [False]
    else:  # BERT reads the whole text: each position's own token, special ones left out
        special = set(model.tokenizer.all_special_ids)
        target_ids, targets = ids, tokens
        mask = [token not in special for token in ids]
    probs = logit_lens(model, ids)  # [layer + 1, pos, vocab]
    rows = [saliency(model, ids, p) for p in range(len(ids))]  # [pos] each
    columns = _columns(probs, target_ids)
    return {
        "step": 0,
        "tokens": tokens,
        "source": None,
        "targets": targets,
        "mask": mask,
        "probs": probs[..., columns],  # [layer + 1, pos, column]
        "saliency": np.stack(rows),  # [pos, pos]
        "vocab": _names(model, columns.tolist()),
        "columns": columns,
    }


def _task_patching(model: LabModel, task: Task) -> dict | None:
    """Activation patching of the task's probe against its standard corrupted twin, as
    :func:`explain.lab.record` stores it for the run (no path patching: it reads q, k and v,
    which only a TinyTransformer has); None, logged, where the twin changes no answer."""
    from .patching import corrupt, patching_record

    try:
        return patching_record(model, task.probe().inputs[0], corrupt(task), task, step=0)
    except ValueError as error:
        log.info("record_hf: no patching record of the probe: %s", error)
        return None


def _attribution_or_none(model: LabModel, text: str, task: Task | None = None) -> dict | None:
    """:func:`text_attribution`, or None (logged) where the split fails: the heads and the lens
    measured before it are kept (a bfloat16 model's parts may miss its stream by more than
    the check allows)."""
    try:
        return text_attribution(model, text, task)
    except (ValueError, RuntimeError) as error:
        log.warning("record_hf: no attribution of %s: %s", model.config.architecture, error)
        return None


def text_attribution(model: LabModel, text: str, task: Task | None = None) -> dict | None:
    """Direct logit attribution (:func:`explain.lab.attribute`) of ``text``'s next tokens, as
    the attribution view reads it (:mod:`explain.views._attribution`; the keys
    :func:`~explain.lab.attribution.probe_attribution` writes): at every position that has a
    next token, the last :data:`ATTRIBUTED_POSITIONS` of a longer text, the logit of that next
    token split into parts. With ``task`` (an exported run's), ``text`` is its probe and the
    positions and targets are the task's answers. None for a model attribution does not split
    (BERT, BART, T5: see :mod:`explain.lab.hf_attribution`) and for a text of one token (no
    next token to split)."""
    import torch

    from .attribution import attribute
    from .hf_attribution import ATTRIBUTABLE

    if model.config.architecture not in ATTRIBUTABLE:
        return None
    ids = model.encode(text, "texts[0]")
    if task is None:
        positions = list(range(len(ids) - 1))[-ATTRIBUTED_POSITIONS:]
        target_ids = [ids[p + 1] for p in positions]
    else:
        probe = task.probe()
        mask = np.asarray(probe.mask[0], bool)  # [pos]
        positions = np.flatnonzero(mask).tolist() if mask.any() else list(range(len(ids)))
        target_ids = [int(probe.targets[0][p]) for p in positions]
    if not positions:
        return None
    results = [attribute(model, ids, p, target=t) for p, t in zip(positions, target_ids,
                                                                  strict=True)]  # fmt: skip
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(torch.tensor([ids], device=model.device))  # (1, T, vocab)
    finally:
        model.train(was_training)
    predicted = logits[0].argmax(-1).tolist()  # [pos]
    return {
        "step": 0,
        "tokens": _names(model, ids),
        "source": None,
        "positions": positions,
        "targets": _names(model, target_ids),
        "names": results[0].names,
        "values": np.stack([r.values for r in results]),  # [answer, parts]
        "logits": np.array([r.logit for r in results]),  # [answer]
        "predicted": _names(model, [predicted[p] for p in positions]),
    }


def _columns(probs: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """Token ids kept in a lens record, ascending: all of a vocabulary of up to
    :data:`LENS_FULL_VOCAB`, else each cell's :data:`LENS_TOP` most likely and the targets."""
    size = probs.shape[-1]
    if size <= LENS_FULL_VOCAB:
        return np.arange(size)
    top = np.argsort(-probs, axis=-1, kind="stable")[..., :LENS_TOP]  # [layer + 1, pos, k]
    return np.union1d(top.ravel(), np.asarray(targets, np.int64))


def _names(model: LabModel, ids: list[int]) -> list[str]:
    """The tokenizer's token of each id; ``<id>`` for an id it lacks (a model's embedding may
    have more rows than its tokenizer has tokens, padded to a round size as Pythia's is)."""
    tokens = model.tokenizer.convert_ids_to_tokens(ids)
    return [f"<{i}>" if token is None else str(token) for i, token in zip(ids, tokens, strict=True)]
