"""Activation patching and path patching: which activations carry what a corrupted input breaks.

Run a **clean** input and its **corrupted twin** (:func:`corrupt`: the same length, changed where
the task's circuit reads, so the answers differ). Then run the corrupted input again with one
activation put back from the clean run, and measure how much of the clean behaviour returns::

    effect = (m_patched - m_corrupt) / (m_clean - m_corrupt)

1.0 means "as clean", 0.0 "as corrupted" (below 0: further from clean; above 1: beyond it).
:func:`patch` restores, ``where``:

- ``"heads"``: one head's output ``blocks.{l}.attn.hook_z`` at every position; ``[layer, head]``.
- ``"head_pos"``: one head's output at one position (group); ``[layer, head, pos]``.
- ``"resid"``: the residual stream entering block l (``embed.hook_sum`` for l = 0, else
  ``blocks.{l-1}.hook_resid_post``) at one position (group); ``[layer, pos]``. The stream
  *entering* each block: row 0 says which input positions carry the difference, and the last
  row at every position at once gives exactly 1.0 (everything after it is recomputed).
- ``"mlp"``: ``blocks.{l}.mlp.hook_post`` at one position (group); ``[layer, pos]``, the same
  as patching the MLP's output there (``W_out`` acts on each position alone).

:func:`path_patch` (Wang et al. 2022, "Interpretability in the Wild") asks how much each earlier
head matters *only through one input (q, k or v) of one receiver head*: ``[layer, head]``.

For the patching view (``explain.views.patching``), :func:`patching_record` measures all of
these for one clean input and its twin as plain JSON data, with path patching into
:func:`default_receiver` (:func:`path_record`); :func:`probe_patching` does it for the task's
probe, and :func:`explain.lab.record` stores that in ``trace.meta["lab"]["patching"]``.

The **metric** is a callable ``metric(logits) -> float`` (or a one-element tensor), called once
per run with that run's logits ``[1, pos, vocab]``. The default, :class:`LogitDifference`, is
the logit of the clean run's prediction minus the logit of the corrupted run's prediction,
averaged over the answer positions: with a trained model those predictions are the clean and the
corrupted answers. Answer positions: ``answer_positions`` if given; else the positions the task
scores (its probe's ``mask``) when the clean ids are the task's probe, or every position; of
those, only the ones where the two predictions differ (elsewhere the difference is 0 in every
run, and would only shrink the numbers). A metric that gives the same value on the clean and the
corrupted input cannot be normalised: a ValueError says so.

All patched runs of one call go through the model as one batch (one row per patch; the 160
head x position patches of the induction probe take 30-60 ms on one CPU thread, path patching
one receiver 7-20 ms, measured on a busy 2-core machine; a large vocabulary splits them so
that one batch's logits stay under 256 MB), in eval mode without gradients;
the model's mode is restored and its hooks are removed, also when a metric raises.
Decoder-only models only.

:func:`patch` also takes a HuggingFace decoder wrapped by :func:`explain.lab.wrap` (GPT-2,
Llama, Qwen2, Mistral, GPT-NeoX), at the same hook points (see :mod:`explain.lab.hf`;
``mlp.hook_post`` is the input of the MLP's down projection). Its inputs may be texts that
encode to the same number of tokens; without a task the tokens are spelled by its tokenizer.
:func:`path_patch` reads each head's q, k and v, which only a TinyTransformer has.

    >>> import explain
    >>> from explain.lab import patching
    >>> task = explain.tasks.get("reverse")
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=11, context_length=12))
    >>> clean, twin = task.probe().inputs[0], patching.corrupt(task)
    >>> result = patching.patch(model, clean, twin, where="head_pos", task=task)
    >>> result.dims, result.effect.shape  # [layer, head, pos]
    (('layer', 'head', 'pos'), (2, 4, 12))
    >>> everywhere = patching.patch(model, clean, twin, where="resid", positions=[range(12)])
    >>> round(float(everywhere.effect[-1, 0]), 6)  # the last block's input, every position
    1.0
    >>> patching.path_patch(model, clean, twin, receiver=(1, 0, "k")).effect.shape
    (2, 4)
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import tasks as tasks_module
from .. import views
from ..model import TinyTransformer
from .heads import _check_model, _is_int, _wrapped, z_name
from .hf import DECODERS, LabModel
from .lens import _check_ids

__all__ = [
    "INPUTS",
    "WHERE",
    "LogitDifference",
    "Patching",
    "corrupt",
    "default_receiver",
    "patch",
    "path_patch",
    "path_record",
    "patching_record",
    "probe_patching",
]

log = logging.getLogger(__name__)

WHERE = ("heads", "head_pos", "resid", "mlp")
INPUTS = ("q", "k", "v")  # a receiver head's inputs (path patching)
DIMS = {"heads": ("layer", "head"), "head_pos": ("layer", "head", "pos"),
        "resid": ("layer", "pos"), "mlp": ("layer", "pos")}  # fmt: skip
ROWS_PER_RUN = 256  # patched runs batched into one forward pass, at most
LOGITS_PER_RUN = 256 * 2**20  # bytes: fewer rows where rows x pos x vocab logits would be more
Metric = Callable[[torch.Tensor], Any]  # logits [1, pos, vocab] -> float or one-element tensor
Receiver = tuple[int, int, str]  # (layer, head, "q" | "k" | "v")
# hook name -> (mask [rows, ...] bool, value where True [rows|1, ...], value elsewhere or None:
# the tensor the model computed)
Swaps = dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class Patching:
    """What :func:`patch` and :func:`path_patch` measured, with what a heatmap needs."""

    effect: np.ndarray  # float64 over ``dims``; NaN where nothing was patched (path patching)
    dims: tuple[str, ...]  # ("layer", "head"), ("layer", "head", "pos") or ("layer", "pos")
    where: str  # one of WHERE, or "path"
    clean_metric: float  # the metric on the clean run
    corrupt_metric: float  # ... and on the corrupted run
    clean_tokens: list  # the clean input [pos]: strings with a task, else ids
    corrupt_tokens: list  # the corrupted input [pos]
    positions: tuple[tuple[int, ...], ...] | None  # the pos axis: positions patched together
    receiver: Receiver | None  # path patching: the head input the senders are measured through
    metric: str  # "logit difference" or the metric's name
    answer_positions: tuple[int, ...] | None  # where the default metric reads the logits
    clean_answers: list | None  # the clean run's predictions there (strings with a task)
    corrupt_answers: list | None  # the corrupted run's predictions there

    def top(self) -> tuple[int, ...]:
        """The index of the largest effect (NaN entries skipped), e.g. ``(1, 2)``."""
        flat = int(np.nanargmax(self.effect))
        return tuple(int(i) for i in np.unravel_index(flat, self.effect.shape))


@dataclass(frozen=True)
class LogitDifference:
    """The default metric: logit of ``clean_answers`` minus logit of ``corrupt_answers`` at
    ``positions`` (one answer pair per position), averaged over them; 0 with no position.

    >>> logits = torch.zeros(1, 3, 5); logits[0, 2, 4] = 2.0  # [batch, pos, vocab]
    >>> float(LogitDifference(positions=(2,), clean_answers=(4,), corrupt_answers=(1,))(logits))
    2.0
    """

    positions: tuple[int, ...]
    clean_answers: tuple[int, ...]  # token ids
    corrupt_answers: tuple[int, ...]

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.positions:
            return logits.new_zeros(())
        at = logits[0, list(self.positions)]  # (P, vocab)
        rows = torch.arange(len(self.positions), device=logits.device)
        clean = at[rows, list(self.clean_answers)]  # (P,)
        return (clean - at[rows, list(self.corrupt_answers)]).mean()


# ---------------------------------------------------------------------------- inputs


def corrupt(
    task: tasks_module.Task,
    ids: Sequence[int] | np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """The task's standard corrupted twin of ``ids`` [pos] (default: its probe's input; the
    source for an encoder-decoder task), as int64 ids of the same length: what
    :meth:`explain.tasks.Task.corrupt` says each task changes. Seeded by ``rng`` (default 0).

    >>> from explain import tasks
    >>> task = tasks.get("induction")
    >>> "".join(task.vocab[i] for i in corrupt(task)[1:])  # the first "maple" permuted
    'quickepalmmaplebrow'
    """
    if not isinstance(task, tasks_module.Task):
        raise TypeError(f"task must be an explain Task; got {type(task).__name__}")
    if ids is None:
        probe = task.probe()
        ids = probe.inputs[0] if probe.source is None else probe.source[0]
    return task.corrupt(ids, rng)


def _tokens(
    model: TinyTransformer | LabModel, clean_ids: Any, corrupt_ids: Any, task: Any
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Clean and corrupted token tensors (1, T) and the clean ids [T], checked."""
    if model.config.kind != "decoder":
        if _wrapped(model):
            raise NotImplementedError(
                f"patching supports decoder-only models; {model.config.architecture} is an "
                f"{model.config.kind} (wrapped decoders: {', '.join(DECODERS)})"
            )
        raise NotImplementedError(
            "patching supports decoder-only models; this one is encoder-decoder (patching its "
            "encoder, decoder self-attention or cross-attention is not supported)"
        )
    if task is not None and not isinstance(task, tasks_module.Task):
        raise TypeError(f"task must be an explain Task or None; got {type(task).__name__}")
    texts = [ids for ids in (clean_ids, corrupt_ids) if isinstance(ids, str)]
    if _wrapped(model):  # a wrapped model also reads texts, encoded by its tokenizer
        if isinstance(clean_ids, str):
            clean_ids = model.encode(clean_ids, "clean_ids")
        if isinstance(corrupt_ids, str):
            corrupt_ids = model.encode(corrupt_ids, "corrupt_ids")
    clean = _check_ids(model, clean_ids, "clean_ids")
    corrupted = _check_ids(model, corrupt_ids, "corrupt_ids")
    if clean.shape != corrupted.shape:
        encoded = f" (texts {', '.join(map(repr, texts))} encoded)" if texts else ""
        raise ValueError(
            f"clean_ids has {clean.size} positions and corrupt_ids {corrupted.size}{encoded}; "
            "a corrupted twin must have the same length"
        )
    as_tensor = lambda ids: torch.tensor(ids[None], device=model.device)  # noqa: E731 (1, T)
    return as_tensor(clean), as_tensor(corrupted), clean


def _groups(where: str, positions: Any, T: int) -> tuple[tuple[int, ...], ...]:
    """The pos axis: each entry the positions patched together (``where="heads"``: all)."""
    if where not in WHERE:
        raise ValueError(f"where must be one of {list(WHERE)}; got {where!r}")
    if where == "heads":
        if positions is not None:
            raise ValueError(
                "where='heads' patches each head at every position; for chosen positions use "
                f"where='head_pos' with positions=...; got positions={positions!r}"
            )
        return (tuple(range(T)),)
    if positions is None:
        return tuple((p,) for p in range(T))
    if isinstance(positions, str | bytes) or not isinstance(positions, Iterable):
        raise ValueError(f"positions must be a list of positions or groups; got {positions!r}")
    groups = []
    for entry in positions:
        group = (entry,) if _is_int(entry) else entry
        if isinstance(group, str | bytes) or not isinstance(group, Iterable):
            raise ValueError(f"each entry of positions must be an int or a list; got {entry!r}")
        group = tuple(group)
        if not all(_is_int(p) and 0 <= p < T for p in group):
            raise ValueError(f"positions must be ints in [0, {T - 1}]; got {entry!r}")
        groups.append(tuple(int(p) for p in group))
    if not groups:
        raise ValueError("positions must name at least one position or group (e.g. [[]]); got []")
    return tuple(groups)


def _check_receiver(model: TinyTransformer, receiver: Any) -> Receiver:
    n_layers, n_heads = model.config.n_layers, model.config.n_heads
    shape = isinstance(receiver, tuple | list) and len(receiver) == 3
    if (
        not shape
        or not (_is_int(receiver[0]) and _is_int(receiver[1]))
        or receiver[2] not in INPUTS
    ):
        raise ValueError(f"receiver must be (layer, head, one of {list(INPUTS)}); got {receiver!r}")
    layer, head = int(receiver[0]), int(receiver[1])
    if not (0 <= layer < n_layers and 0 <= head < n_heads):
        raise ValueError(
            f"receiver {tuple(receiver)!r} is out of range: layers 0..{n_layers - 1}, heads "
            f"0..{n_heads - 1}"
        )
    if layer == 0:
        raise ValueError(f"receiver {tuple(receiver)!r} is in layer 0: no earlier head sends to it")
    return layer, head, str(receiver[2])


# ---------------------------------------------------------------------------- running


@contextlib.contextmanager
def _evaluating(model: TinyTransformer) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _rows_per_run(model: TinyTransformer | LabModel, T: int) -> int:
    """Rows per forward pass: ROWS_PER_RUN, or fewer where their logits (rows, T, vocab) would
    take more than LOGITS_PER_RUN bytes (a HuggingFace model's vocabulary: 50k to 150k)."""
    # a half-precision model may upcast its logits (Llama's float32 logits): count 4 bytes
    itemsize = max(4, model.unembed.weight.element_size())
    return max(1, min(ROWS_PER_RUN, LOGITS_PER_RUN // (T * model.config.vocab_size * itemsize)))


def _forward(
    model: TinyTransformer | LabModel, tokens: torch.Tensor, rows: int, swaps: Swaps,
    metric: Metric | None = None, capture: str = "",
) -> tuple[np.ndarray | None, torch.Tensor | None]:  # fmt: skip
    """``metric`` of each row's logits (float64 [rows]; None without a metric) of ``tokens``
    (1, T) run once per row, each row with its own swaps, in batches (:func:`_rows_per_run`),
    and the tensor at hook ``capture``, row by row. Only one batch's logits are held."""
    values, captured = [], []
    step = _rows_per_run(model, tokens.shape[1])
    for lo in range(0, rows, step):
        hi = min(lo + step, rows)
        cut = lambda t, lo=lo, hi=hi: t if t.shape[0] == 1 else t[lo:hi]  # noqa: E731

        def swap(mask: torch.Tensor, new: torch.Tensor, base: torch.Tensor | None) -> Any:
            return lambda x, _: torch.where(mask, new, x if base is None else base)

        hooks = [(name, swap(cut(m), cut(new), base)) for name, (m, new, base) in swaps.items()]
        if capture:
            hooks.append((capture, lambda x, _: captured.append(x.detach())))
        with model.hooks(fwd=hooks):
            logits = model(tokens.expand(hi - lo, -1))  # (rows, T, vocab)
        if metric is not None:
            values.append(_values(metric, logits))
    patched = np.concatenate(values) if metric is not None else None
    return patched, (torch.cat(captured) if capture else None)


def _values(metric: Metric, logits: torch.Tensor) -> np.ndarray:
    """``metric`` of each row of ``logits`` (R, T, vocab), as float64 [R]."""
    values = []
    for row in logits.split(1):  # (1, T, vocab)
        value = metric(row)
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    "metric must return a float or a one-element tensor; got a tensor of shape "
                    f"{tuple(value.shape)}"
                )
            value = value.item()
        if not isinstance(value, int | float | np.number) or isinstance(value, bool):
            raise ValueError(f"metric must return a float; got {type(value).__name__}")
        values.append(float(value))
    return np.array(values)


def _check_apart(clean: float, corrupted: float) -> None:
    """A ValueError unless the clean and corrupted metrics differ (beyond float32 rounding)."""
    if abs(clean - corrupted) <= 1e-6 * max(1.0, abs(clean), abs(corrupted)):
        raise ValueError(
            f"the metric gives the same value on the clean input ({clean:.6g}) and the corrupted "
            f"one ({corrupted:.6g}), so effects cannot be normalised; use corrupted ids that "
            "change the model's answer, or another metric"
        )


def _normalise(patched: np.ndarray, clean: float, corrupted: float) -> np.ndarray:
    return (patched - corrupted) / (clean - corrupted)  # 1: as clean, 0: as corrupted


def _default_metric(
    clean_logits: torch.Tensor, corrupt_logits: torch.Tensor, clean: np.ndarray,
    task: tasks_module.Task | None, answer_positions: Any,
) -> LogitDifference:  # fmt: skip
    """:class:`LogitDifference` between the two runs' predictions (see the module's docs)."""
    T = len(clean)
    clean_answers = clean_logits[0].argmax(-1).tolist()  # [T]
    corrupt_answers = corrupt_logits[0].argmax(-1).tolist()
    if answer_positions is not None:
        if isinstance(answer_positions, str | bytes) or not isinstance(answer_positions, Iterable):
            raise ValueError(f"answer_positions must be a list of ints; got {answer_positions!r}")
        chosen = list(answer_positions)
        if not all(_is_int(p) and 0 <= p < T for p in chosen):
            raise ValueError(f"answer_positions must be ints in [0, {T - 1}]; got {chosen!r}")
    else:
        scored = range(T)
        probe = task.probe() if task is not None and task.kind == "decoder" else None
        if probe is not None and np.array_equal(probe.inputs[0], clean):
            scored = np.flatnonzero(probe.mask[0]).tolist()
        chosen = [p for p in scored if clean_answers[p] != corrupt_answers[p]]
    return LogitDifference(
        tuple(int(p) for p in chosen),
        tuple(clean_answers[p] for p in chosen),
        tuple(corrupt_answers[p] for p in chosen),
    )


def _measure(
    model: TinyTransformer, clean: torch.Tensor, corrupted: torch.Tensor, clean_ids: np.ndarray,
    names: list[str], metric: Metric | None, task: Any, answer_positions: Any,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], Metric, float, float]:  # fmt: skip
    """Caches of ``names`` for both runs, the metric in use and its clean and corrupted value."""
    clean_logits, clean_cache = model.run_with_cache(clean, names=names)
    corrupt_logits, corrupt_cache = model.run_with_cache(corrupted, names=names)
    if metric is None:
        metric = _default_metric(clean_logits, corrupt_logits, clean_ids, task, answer_positions)
    elif not callable(metric):
        raise ValueError(f"metric must be a callable logits -> float; got {metric!r}")
    elif answer_positions is not None:
        raise ValueError("answer_positions chooses where the default metric reads; pass one")
    m_clean, m_corrupt = _values(metric, torch.cat([clean_logits, corrupt_logits]))
    _check_apart(m_clean, m_corrupt)  # before the patched runs, not after them
    return clean_cache, corrupt_cache, metric, float(m_clean), float(m_corrupt)


def _result(
    effect: np.ndarray, where: str, dims: tuple[str, ...], metric: Metric, m: tuple[float, float],
    tokens: tuple[torch.Tensor, torch.Tensor], task: Any, model: TinyTransformer | LabModel,
    positions: tuple[tuple[int, ...], ...] | None = None, receiver: Receiver | None = None,
) -> Patching:  # fmt: skip
    if task is not None:
        spell = lambda ids: [task.vocab[i] for i in ids]  # noqa: E731
    elif _wrapped(model):
        spell = lambda ids: model.tokenizer.convert_ids_to_tokens(list(ids))  # noqa: E731
    else:
        spell = list
    default = isinstance(metric, LogitDifference)
    return Patching(
        effect=effect,
        dims=dims,
        where=where,
        clean_metric=m[0],
        corrupt_metric=m[1],
        clean_tokens=spell(tokens[0][0].tolist()),
        corrupt_tokens=spell(tokens[1][0].tolist()),
        positions=positions,
        receiver=receiver,
        metric="logit difference" if default else getattr(metric, "__name__", repr(metric)),
        answer_positions=metric.positions if default else None,
        clean_answers=spell(metric.clean_answers) if default else None,
        corrupt_answers=spell(metric.corrupt_answers) if default else None,
    )


# ---------------------------------------------------------------------------- patching


def _hook(where: str, layer: int) -> str:
    if where in ("heads", "head_pos"):
        return z_name(layer)
    if where == "mlp":
        return f"blocks.{layer}.mlp.hook_post"
    return "embed.hook_sum" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


def patch(
    model: TinyTransformer | LabModel,
    clean_ids: Sequence[int] | np.ndarray | torch.Tensor,
    corrupt_ids: Sequence[int] | np.ndarray | torch.Tensor,
    where: str = "heads",
    metric: Metric | None = None,
    task: tasks_module.Task | None = None,
    positions: Iterable[int | Iterable[int]] | None = None,
    *,
    answer_positions: Iterable[int] | None = None,
) -> Patching:
    """Run ``corrupt_ids`` with one activation (``where``, see the module's docs) put back from
    the run of ``clean_ids``, one patch at a time; ``effect`` is the share of the clean metric
    each patch brings back (1.0: as clean, 0.0: as corrupted).

    ``clean_ids`` and ``corrupt_ids`` are one sequence each [pos], the same length. ``task``
    spells the tokens and, when the clean ids are its probe, picks the default metric's answer
    positions (``answer_positions`` overrides them). ``positions`` (not for ``"heads"``) is the
    pos axis: each entry a position, or a list of positions patched together; default every
    position alone. ``positions=[range(T)]`` patches all at once, ``[[]]`` patches nothing.

    ``model`` may be a HuggingFace decoder wrapped by :func:`explain.lab.wrap`; its
    ``clean_ids`` and ``corrupt_ids`` may then be texts (each encoded by its tokenizer, to the
    same number of tokens).
    """
    model = _check_model(model, wrapped=True)
    clean, corrupted, clean_ids = _tokens(model, clean_ids, corrupt_ids, task)
    groups = _groups(where, positions, clean.shape[1])
    n_layers, n_heads = model.config.n_layers, model.config.n_heads
    heads = range(n_heads) if where in ("heads", "head_pos") else [None]
    names = [_hook(where, layer) for layer in range(n_layers)]
    with _evaluating(model):
        clean_cache, _, metric, *m = _measure(
            model, clean, corrupted, clean_ids, names, metric, task, answer_positions
        )
        plan = [(layer, head, group) for layer in range(n_layers) for head in heads
                for group in groups]  # fmt: skip
        masks = {name: torch.zeros((len(plan), *clean_cache[name].shape[1:]), dtype=torch.bool,
                                   device=model.device) for name in names}  # fmt: skip
        for row, (layer, head, group) in enumerate(plan):
            index = (row, list(group)) if head is None else (row, head, list(group))
            masks[names[layer]][index] = True  # (rows, nh, T, hs) or (rows, T, d)
        swaps = {name: (mask, clean_cache[name], None) for name, mask in masks.items()}
        patched, _ = _forward(model, corrupted, len(plan), swaps, metric)  # [rows]
    per_head = [n_heads] if where in ("heads", "head_pos") else []
    effect = _normalise(patched, *m).reshape(n_layers, *per_head, len(groups))
    if where == "heads":
        effect = effect[..., 0]  # one group: every position
    return _result(effect, where, DIMS[where], metric, tuple(m), (clean, corrupted), task, model,
                   positions=None if where == "heads" else groups)  # fmt: skip


def path_patch(
    model: TinyTransformer,
    clean_ids: Sequence[int] | np.ndarray | torch.Tensor,
    corrupt_ids: Sequence[int] | np.ndarray | torch.Tensor,
    receiver: Receiver,
    metric: Metric | None = None,
    *,
    task: tasks_module.Task | None = None,
    answer_positions: Iterable[int] | None = None,
) -> Patching:
    """How much each head of an earlier layer (the *sender*) brings back of the clean metric
    through one input of ``receiver = (layer, head, "q" | "k" | "v")`` alone; ``effect``
    ``[layer, head]``, NaN for heads in the receiver's layer and later (they cannot send to it).

    For each sender (Wang et al. 2022): (1) run the corrupted input with the sender's output
    z taken from the clean run and every other head's z frozen at its corrupted value (MLPs
    recompute, as in the paper), and record the receiver head's q, k or v (``hook_q|k|v``, its
    head's slice: after rotary, if any); (2) run the corrupted input with only that slice
    replaced by the recording, everything else recomputed, and measure the metric. Arguments
    as :func:`patch`, but ``model`` must be a TinyTransformer.
    """
    if _wrapped(model):
        raise TypeError(
            "path_patch needs an explain TinyTransformer: it records and replaces each "
            "receiver head's q, k or v (hook_q/k/v), hook points a wrapped HuggingFace model "
            "(LabModel) does not have; patch takes one (heads, head_pos, resid, mlp)"
        )
    model = _check_model(model)
    clean, corrupted, clean_ids = _tokens(model, clean_ids, corrupt_ids, task)
    layer_r, head_r, kind = _check_receiver(model, receiver)
    n_heads = model.config.n_heads
    senders = [(layer, head) for layer in range(layer_r) for head in range(n_heads)]
    names = [z_name(layer) for layer in range(layer_r)]
    received = f"{z_name(layer_r).rsplit('.', 1)[0]}.hook_{kind}"  # (B, nh, T, hs)
    with _evaluating(model):
        clean_cache, corrupt_cache, metric, *m = _measure(
            model, clean, corrupted, clean_ids, names, metric, task, answer_positions
        )
        swaps: Swaps = {}
        for layer, name in enumerate(names):
            mask = torch.zeros((len(senders), *clean_cache[name].shape[1:]), dtype=torch.bool,
                               device=model.device)  # fmt: skip
            for row, (sender_layer, sender_head) in enumerate(senders):
                mask[row, sender_head] = sender_layer == layer  # (rows, nh, T, hs)
            swaps[name] = (mask, clean_cache[name], corrupt_cache[name])
        _, recorded = _forward(model, corrupted, len(senders), swaps, capture=received)
        assert recorded is not None
        only = torch.zeros_like(recorded, dtype=torch.bool)
        only[:, head_r] = True  # (rows, nh, T, hs): the receiver head's slice
        swap = {received: (only, recorded, None)}
        patched, _ = _forward(model, corrupted, len(senders), swap, metric)  # [rows]
    effect = np.full((model.config.n_layers, n_heads), math.nan)
    effect[:layer_r] = _normalise(patched, *m).reshape(layer_r, n_heads)
    return _result(effect, "path", ("layer", "head"), metric, tuple(m), (clean, corrupted), task,
                   model, receiver=(layer_r, head_r, kind))  # fmt: skip


# ---------------------------------------------------------------------------- the view's record


def default_receiver(heads_effect: np.ndarray) -> tuple[int, int] | None:
    """The head path patching looks into by default: of the heads in layer 1 and later (a
    layer-0 head reads no other head), the one whose output restores the most
    (``heads_effect`` [layer, head], :func:`patch` with ``where="heads"``); None with one layer.

    >>> default_receiver(np.array([[0.9, 0.1], [0.2, 0.4]]))
    (1, 1)
    """
    effect = np.asarray(heads_effect, np.float64)
    if effect.ndim != 2 or effect.shape[0] < 2:
        return None
    later = np.nan_to_num(effect[1:], nan=-np.inf)  # [layer - 1, head]
    layer, head = np.unravel_index(int(np.argmax(later)), later.shape)
    return int(layer) + 1, int(head)


def path_record(
    model: TinyTransformer,
    clean_ids: Sequence[int] | np.ndarray | torch.Tensor,
    corrupt_ids: Sequence[int] | np.ndarray | torch.Tensor,
    receiver: tuple[int, int],
    task: tasks_module.Task | None = None,
) -> dict:
    """:func:`path_patch` into each input of head ``receiver = (layer, head)``, JSON-able:
    ``{"receiver": [layer, head], "q": [layer][head], "k": ..., "v": ...}`` (null where no
    head sends: the receiver's layer and later)."""
    layer, head = (int(v) for v in receiver)
    found = {
        part: path_patch(model, clean_ids, corrupt_ids, (layer, head, part), task=task).effect
        for part in INPUTS
    }
    return views.jsonable({"receiver": [layer, head], **found})


def patching_record(
    model: TinyTransformer | LabModel,
    clean_ids: Sequence[int] | np.ndarray | torch.Tensor,
    corrupt_ids: Sequence[int] | np.ndarray | torch.Tensor,
    task: tasks_module.Task | None = None,
    receiver: tuple[int, int] | None = None,
    *,
    step: int = -1,
) -> dict:
    """Everything the patching view shows for one clean input and its corrupted twin, as
    JSON-able plain data (what :func:`probe_patching` stores for the task's probe, and what
    ``widgets.PatchingView`` measures again for edited prompts):

    ``step``; ``tokens`` and ``corrupt_tokens`` [pos] (strings with a task, else ids);
    ``answer_positions``, ``clean_answers``, ``corrupt_answers`` [answer] and ``metric``,
    ``clean_metric``, ``corrupt_metric`` (:class:`Patching`'s); the effects of :func:`patch`:
    ``heads`` [layer][head], ``head_pos`` [layer][head][pos], ``resid`` [layer][pos], ``mlp``
    [layer][pos]; and ``path``: :func:`path_record` into ``receiver`` (default
    :func:`default_receiver`), or None for a model of one layer and for a wrapped HuggingFace
    model (:func:`path_patch` needs a TinyTransformer). ValueError as :func:`patch`
    (e.g. when the corrupted input does not change the answers); NotImplementedError for an
    encoder-decoder model.
    """
    found = {where: patch(model, clean_ids, corrupt_ids, where, task=task) for where in WHERE}
    heads = found["heads"]
    if receiver is None:
        receiver = default_receiver(heads.effect)
    if receiver is None or _wrapped(model):  # path patching reads q, k, v: ours only
        path = None
    else:
        path = path_record(model, clean_ids, corrupt_ids, receiver, task)
    return views.jsonable(
        {
            "step": int(step),
            "tokens": heads.clean_tokens,
            "corrupt_tokens": heads.corrupt_tokens,
            "answer_positions": list(heads.answer_positions or ()),
            "clean_answers": heads.clean_answers or [],
            "corrupt_answers": heads.corrupt_answers or [],
            "metric": heads.metric,
            "clean_metric": heads.clean_metric,
            "corrupt_metric": heads.corrupt_metric,
            **{where: result.effect for where, result in found.items()},
            "path": path,
        }
    )


def probe_patching(run: Any) -> dict | None:
    """Activation and path patching of the task's probe against its standard corrupted twin
    (:func:`corrupt`), as the patching view reads it from ``trace.meta["lab"]["patching"]``
    (:func:`patching_record`: every ``where``, and path patching into the layer-1+ head that
    restores the most, through q, k and v). ``run``: a Run from ``explain.train`` (its model
    and task). About 0.1 s for the default model on one torch thread (it runs on the threads
    torch has: :func:`explain.lab.record` sets one).

    None where it cannot be measured, so that :func:`explain.lab.record` can store what it
    returns as it is: for an encoder-decoder model (patching runs decoder-only models), and
    where the corrupted probe does not change the model's answers at the positions the task
    scores (an untrained model predicts the same either way; the reason is logged). A model
    of one layer gets ``"path": None``.
    """
    model, task = getattr(run, "model", None), getattr(run, "task", None)
    if not isinstance(model, TinyTransformer) or not isinstance(task, tasks_module.Task):
        raise ValueError(
            "expected a Run from explain.train(...) (it holds the model and its task); got "
            f"{type(run).__name__}"
        )
    if model.config.kind != "decoder":
        log.info("no patching record: patching supports decoder-only models")
        return None
    step = int(getattr(getattr(run, "trainer", None), "step", -1))
    try:
        return patching_record(model, task.probe().inputs[0], corrupt(task), task, step=step)
    except ValueError as error:
        log.info("no patching record of the probe: %s", error)
        return None
