"""MLP neurons: what makes each one fire, what it writes, and what the loss loses without it.

A neuron is one hidden unit of a block's MLP, read at ``blocks.{i}.mlp.hook_post``
``[batch, pos, d_mlp]`` (after the GELU; ``decoder.blocks.{i}...`` in an encoder-decoder model,
whose decoder MLPs are the ones studied here). :func:`neurons` measures every neuron of one
layer (or of all) on the task's held-out ("val") batches, the ones :func:`explain.lab.evaluate`
scores on, and returns a :class:`Neurons` of numpy arrays and plain lists (no torch), ready to be
stored in a trace:

- **top examples**: the ``top`` (sequence, position) pairs where it fires most, each with a
  window of token strings around the firing token and the neuron's activation on each of them;
- **direct effect**: the tokens its output direction promotes and suppresses through the
  unembedding, ``W_U @ (g * (w - mean(w)))`` where ``w = W_out[:, n]`` and ``g`` is the final
  LayerNorm's gain: the LayerNorm subtracts the mean of its input and scales by ``g / sigma``,
  so adding ``a * w`` to the last residual stream moves the logits by ``a / sigma`` times this
  vector (``sigma``, the stream's spread at that position, is positive and the same for every
  token, so it changes no ranking and is left out; the LayerNorm's bias moves every neuron
  alike and drops out). Later blocks may add indirect effects; this is the direct path only;
- **loss rise**: the held-out loss with the neuron ablated minus the clean loss.

    >>> import explain
    >>> from explain.lab.neurons import neurons
    >>> task = explain.tasks.get("reverse")
    >>> config = explain.ModelConfig(vocab_size=task.vocab_size, context_length=12, d_mlp=32)
    >>> found = neurons(explain.TinyTransformer(config), task, layer=1, top=3)
    >>> found.loss_rise.shape, found.top_act.shape  # [layer, neuron], [layer, neuron, top]
    ((1, 32), (1, 32, 3))
    >>> record = found.neuron(1, 0)
    >>> sorted(record)[:4], len(record["examples"])
    (['activation_max', 'examples', 'layer', 'loss_rise'], 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .. import tasks as tasks_module
from ..batches import masked_loss, model_inputs, to_torch
from ..model import TinyTransformer
from ._run import parts, torch_threads
from .heads import _DEFAULT_BATCH_SIZE, MODES, _check_count, _check_model, _is_int, held_out

__all__ = ["Neurons", "neurons", "post_name", "probe_neurons"]

# Elements of the ablated residual streams (K neurons x rows x d_model) one pass holds: 2**20
# floats is 4 MB, ~16 MB with the MLP's hidden layer (on the default reverse model, on a
# shared 2-core CPU: 2**19-2**20 took 1.8 s a call, 2**21-2**23 2.2-2.4 s).
_CHUNK_ELEMENTS = 2**20


def post_name(model: TinyTransformer, layer: int) -> str:
    """The MLP hook ``[batch, pos, d_mlp]`` after the GELU of block ``layer`` of the model's
    decoder stack: ``blocks.{layer}.mlp.hook_post`` (``decoder.`` first in an encoder-decoder).

    >>> import explain
    >>> post_name(explain.TinyTransformer(explain.ModelConfig()), 1)
    'blocks.1.mlp.hook_post'
    """
    return f"{_prefix(model)}blocks.{layer}.mlp.hook_post"


def _prefix(model: TinyTransformer) -> str:
    return "decoder." if model.config.kind == "encoder-decoder" else ""


@dataclass(frozen=True, eq=False)
class Neurons:
    """Every neuron of ``layers``, measured on held-out data. Axis 0 of each array follows
    ``layers``; :meth:`neuron` reads one neuron by its block number and index."""

    layers: np.ndarray  # int [layer]: the model's block numbers measured, in order
    mode: str  # how neurons were ablated: "zero" or "mean" (per position, over the data)
    loss_clean: float  # held-out loss of the intact model, as lab.evaluate scores it
    loss_rise: np.ndarray  # float [layer, neuron]: ablated loss minus loss_clean
    activation_max: np.ndarray  # float [layer, neuron]: largest activation on the data
    top_seq: np.ndarray  # int [layer, neuron, top]: sequence index into ``tokens``, best first
    top_pos: np.ndarray  # int [layer, neuron, top]: position in that sequence
    top_act: np.ndarray  # float [layer, neuron, top]: the activation there
    contexts: list[list[list[list[str]]]]  # [layer][neuron][top] -> token strings around it
    context_acts: list[list[list[list[float]]]]  # the neuron's activation on each of them
    context_index: np.ndarray  # int [layer, neuron, top]: the firing token's index in its context
    promotes: np.ndarray  # str [layer, neuron, k]: tokens whose logits it raises most
    promotes_values: np.ndarray  # float [layer, neuron, k]: their direct effect, largest first
    suppresses: np.ndarray  # str [layer, neuron, k]: tokens whose logits it lowers most
    suppresses_values: np.ndarray  # float [layer, neuron, k]: most negative first
    tokens: np.ndarray  # int [seq, pos]: the held-out (decoder) inputs the examples index

    def neuron(self, layer: int, index: int) -> dict[str, Any]:
        """One neuron as plain JSON data: ``layer``, ``neuron``, ``activation_max``,
        ``loss_rise``, ``examples`` (``seq``, ``pos``, ``activation``, ``context``,
        ``context_index``, ``context_acts`` each, best first), ``promotes`` and ``suppresses``
        (``[token, value]`` pairs)."""
        layers = [int(value) for value in self.layers]
        if not _is_int(layer) or int(layer) not in layers:
            raise ValueError(f"layer must be one of the layers measured, {layers}; got {layer!r}")
        row = layers.index(int(layer))
        width = self.loss_rise.shape[1]
        if not _is_int(index) or not 0 <= index < width:
            raise ValueError(f"index must be an int in [0, {width - 1}] (a neuron); got {index!r}")
        n = int(index)
        examples = [
            {
                "seq": int(self.top_seq[row, n, i]),
                "pos": int(self.top_pos[row, n, i]),
                "activation": float(self.top_act[row, n, i]),
                "context": list(self.contexts[row][n][i]),
                "context_index": int(self.context_index[row, n, i]),
                "context_acts": list(self.context_acts[row][n][i]),
            }
            for i in range(self.top_act.shape[2])
        ]

        def pairs(tokens: np.ndarray, values: np.ndarray) -> list[list[Any]]:
            return [[str(t), float(v)] for t, v in zip(tokens[row, n], values[row, n], strict=True)]

        return {
            "layer": int(layer),
            "neuron": n,
            "activation_max": float(self.activation_max[row, n]),
            "loss_rise": float(self.loss_rise[row, n]),
            "examples": examples,
            "promotes": pairs(self.promotes, self.promotes_values),
            "suppresses": pairs(self.suppresses, self.suppresses_values),
        }


# ---------------------------------------------------------------------------- checks


def _check_layers(model: TinyTransformer, layer: object) -> list[int]:
    n_layers = model.config.n_layers
    if layer is None:
        return list(range(n_layers))
    if not _is_int(layer) or not 0 <= layer < n_layers:  # type: ignore[operator]
        raise ValueError(
            f"layer must be None (every layer) or an int in [0, {n_layers - 1}] (the model has "
            f"{n_layers} layers); got {layer!r}"
        )
    return [int(layer)]  # type: ignore[call-overload]


def _check_task(model: TinyTransformer, task: object) -> tasks_module.Task:
    if not isinstance(task, tasks_module.Task):
        raise TypeError(f"task must be an explain Task; got {type(task).__name__}")
    if task.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"task {task.name!r} has {task.vocab_size} tokens but the model's vocab_size is "
            f"{model.config.vocab_size}; expected the same (each unembedding row is named by "
            f"the task's vocabulary)"
        )
    if task.kind != model.config.kind:
        raise ValueError(f"task {task.name!r} is {task.kind}; the model is {model.config.kind}")
    return task


def _check_window(window: object) -> tuple[int, int]:
    ok = isinstance(window, tuple | list) and len(window) == 2
    if not ok or not all(_is_int(v) and v >= 0 for v in window):  # type: ignore[union-attr]
        raise ValueError(
            f"window must be (before, after), two ints >= 0 (tokens around the firing one); "
            f"got {window!r}"
        )
    return int(window[0]), int(window[1])  # type: ignore[index]


# ---------------------------------------------------------------------------- direct effect


def _direct_effect(model: TinyTransformer, layers: Sequence[int]) -> np.ndarray:
    """float64 [layer, neuron, vocab]: ``W_U @ (g * (w - mean(w)))`` for each W_out column."""
    stack = model.decoder if _prefix(model) else model
    W_U = model.unembed.weight.detach().double().cpu().numpy()  # (V, d)
    gain = stack.ln_final.weight.detach().double().cpu().numpy()  # (d,)
    effects = []
    for layer in layers:
        W_out = stack.blocks[layer].mlp.W_out.weight.detach().double().cpu().numpy()  # (d, n)
        centred = W_out - W_out.mean(axis=0, keepdims=True)  # (d, n): what the LN keeps
        effects.append((W_U @ (gain[:, None] * centred)).T)  # (n, V)
    return np.stack(effects)  # (L, n, V)


# ---------------------------------------------------------------------------- ablation


def _downstream(
    stack: nn.Module,
    unembed: nn.Module,
    layer: int,
    x: torch.Tensor,
    rope: tuple[torch.Tensor, torch.Tensor] | None,
    memory: torch.Tensor | None,
    memory_mask: torch.Tensor | None,
) -> torch.Tensor:
    """Logits (R, T, V) from the residual stream x (R, T, d) after block ``layer``: the later
    blocks, the final LayerNorm and the unembedding, as the model's forward runs them."""
    for block in stack.blocks[layer + 1 :]:
        x = block(x, rope, None, memory, memory_mask)  # (R, T, d)
    return unembed(stack.ln_final(x))  # (R, T, V)


def _ablated_losses(
    model: TinyTransformer,
    layer: int,
    resid: torch.Tensor,
    change: torch.Tensor,
    tensors: dict[str, torch.Tensor],
    memory: torch.Tensor | None,
) -> torch.Tensor:
    """Masked mean loss of one batch with each neuron ablated in turn, (n,).

    ``resid`` (B, T, d) is the clean ``hook_resid_post`` of ``layer``; ``change`` (B, T, n) is
    each neuron's ablated minus clean activation. Since W_out is linear, ablating neuron k adds
    ``change[..., k] * W_out[:, k]`` to ``resid``; K neurons ride one pass stacked along the batch
    axis, and only the blocks after ``layer`` run. After the last block nothing mixes positions,
    so there only the positions the loss counts are computed.
    """
    stack = model.decoder if memory is not None else model
    rope = _rope(model)
    W_out = stack.blocks[layer].mlp.W_out.weight.T  # (n, d)
    mask, targets = tensors["mask"], tensors["targets"]  # (B, T) each
    memory_mask = tensors.get("source_mask")
    last = layer == len(stack.blocks) - 1
    if last:  # one row of all masked positions: (1, M, d), (1, M, n), (M,)
        resid, change, targets, mask = resid[mask][None], change[mask][None], targets[mask], None
    B, T, d = resid.shape
    n = change.shape[-1]
    chunk = max(1, _CHUNK_ELEMENTS // (B * T * d))
    losses = []
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        K = stop - start
        delta = change[..., start:stop].permute(2, 0, 1)[..., None] * W_out[start:stop, None, None]
        x = (resid[None] + delta).reshape(K * B, T, d)  # (K*B, T, d)
        mem = None if memory is None else memory.repeat(K, 1, 1)  # (K*B, S, d)
        mem_mask = None if memory_mask is None else memory_mask.repeat(K, 1)  # (K*B, S)
        logits = _downstream(stack, model.unembed, layer, x, rope, mem, mem_mask)  # (K*B, T, V)
        if last:  # (K, M, V) against (M,)
            ce = F.cross_entropy(logits.flatten(0, 1), targets.repeat(K), reduction="none")
            losses.append(ce.view(K, -1).mean(dim=1))  # (K,)
        else:
            ce = F.cross_entropy(
                logits.flatten(0, 1), targets.repeat(K, 1).flatten(), reduction="none"
            ).view(K, B, T)  # (K, B, T)
            weights = mask.to(ce.dtype)  # (B, T)
            losses.append((ce * weights).sum(dim=(1, 2)) / weights.sum())  # (K,)
    return torch.cat(losses)  # (n,)


# ---------------------------------------------------------------------------- examples


def _top_examples(
    acts: np.ndarray, tokens: np.ndarray, vocab: Sequence[str], top: int, window: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list, list, np.ndarray]:
    """Best ``top`` (seq, pos) per neuron of acts (N, T, n), best first (ties: earlier seq,
    then pos), with their contexts: seq, pos, act, tokens, activations, firing index."""
    N, T, n = acts.shape
    flat = acts.reshape(N * T, n)  # (N*T, n)
    order = np.argsort(-flat, axis=0, kind="stable")[:top].T  # (n, top)
    seq, pos = order // T, order % T  # (n, top) each
    act = np.take_along_axis(flat, order.T, axis=0).T  # (n, top)
    before, after = window
    first, stop = np.maximum(pos - before, 0), np.minimum(pos + after + 1, T)  # (n, top)
    contexts, context_acts = [], []
    for k in range(n):
        rows_t, rows_a = [], []
        for s, a, b in zip(seq[k], first[k], stop[k], strict=True):
            rows_t.append([vocab[i] for i in tokens[s, a:b]])
            rows_a.append(acts[s, a:b, k].astype(float).tolist())
        contexts.append(rows_t)
        context_acts.append(rows_a)
    return seq, pos, act, contexts, context_acts, pos - first


# ---------------------------------------------------------------------------- neurons


def _rope(model: TinyTransformer) -> tuple[torch.Tensor, torch.Tensor] | None:
    return (model.rope_cos, model.rope_sin) if model.config.positional == "rope" else None


def _clean_pass(
    model: TinyTransformer,
    task: tasks_module.Task,
    data: Sequence[tasks_module.Batch],
    names: list[str],
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, torch.Tensor]], float]:
    """Per batch: its tensors, the cache of ``names`` (plus ``"memory"``, the encoder's output
    (B, S, d), in an encoder-decoder model) and the mean of the clean masked losses."""
    tensors, caches, losses = [], [], []
    for batch in data:
        batch_tensors = to_torch(batch, model.device, task)
        inputs = model_inputs(batch_tensors)
        logits, cache = model.run_with_cache(**inputs, names=names)  # (B, T, V)
        if "source" in inputs:  # what the decoder blocks after the ablated one read
            cache["memory"] = model.encoder(
                inputs["source"], _rope(model), self_mask=inputs["source_mask"]
            )  # (B, S, d)
        tensors.append(batch_tensors)
        caches.append(cache)
        losses.append(masked_loss(logits, batch_tensors).item())
    return tensors, caches, float(np.mean(losses))


def neurons(
    model: TinyTransformer,
    task: tasks_module.Task,
    layer: int | None = None,
    top: int = 10,
    batches: int = 1,
    seed: int = 0,
    *,
    mode: str = "zero",
    k: int = 5,
    window: tuple[int, int] = (4, 2),
    batch_size: int = _DEFAULT_BATCH_SIZE,
    progress: bool = False,
) -> Neurons:
    """Measure every MLP neuron of block ``layer`` (None: of every block) on held-out data.

    The data are the ``batches`` "val" batches of ``batch_size`` sequences that
    :func:`explain.lab.evaluate` scores on for ``seed``: by default one batch of 64, the first
    of the trainer's evaluation batches. Time grows with neurons x tokens (every neuron is
    ablated on every token): one batch keeps a task's default model near a second on a CPU;
    more batches give steadier numbers. Sequence ``s`` of the result is row ``s % batch_size``
    of batch ``s // batch_size``, its tokens ``Neurons.tokens[s]``.

    - Top examples: the ``top`` (sequence, position) pairs of largest activation over every
      input position, best first (ties: the earlier sequence, then position), each with
      ``window = (before, after)`` tokens around it (clipped at the sequence's ends;
      ``context_index`` marks the firing one) and the neuron's activation on each.
    - Direct effect: the ``k`` tokens each neuron's output direction promotes and suppresses
      through the final LayerNorm's gain and the unembedding (see the module docstring).
    - ``loss_rise``: held-out loss with the neuron ablated minus ``loss_clean``. ``mode="zero"``
      sets its activation to 0 everywhere; ``mode="mean"`` to its mean over these same data at
      the same position (as :func:`explain.lab.ablate` does for heads), which removes what the
      neuron says about this input but keeps its average offset. The loss is lab.evaluate's:
      the mean over batches of each batch's mean over the task's masked positions.

    An encoder-decoder model's decoder MLPs are measured (the examples are decoder inputs).
    Runs in eval mode without gradients; the model's mode is restored and no hook is left.
    """
    model = _check_model(model)
    task = _check_task(model, task)
    layers = _check_layers(model, layer)
    top = _check_count("top", top)
    k = _check_count("k", k)
    if k > task.vocab_size:
        raise ValueError(f"k must be at most the vocabulary size {task.vocab_size}; got {k}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}; got {mode!r}")
    window = _check_window(window)
    data = held_out(task, batches, seed, batch_size)
    N, T = len(data) * batch_size, data[0].inputs.shape[1]
    if top > N * T:
        raise ValueError(
            f"top must be at most the {N * T} (sequence, position) pairs of the data "
            f"({len(data)} batches x {batch_size} sequences x {T} positions); got {top}"
        )
    post = [post_name(model, i) for i in layers]
    resid = [f"{_prefix(model)}blocks.{i}.hook_resid_post" for i in layers]

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            tensors, caches, loss_clean = _clean_pass(model, task, data, post + resid)
            acts = [torch.cat([c[name] for c in caches]) for name in post]  # (N, T, n) each
            steps = tqdm(total=len(layers) * len(data), disable=not progress, desc="neurons")
            rises = []
            for i, name, resid_name, layer_acts in zip(layers, post, resid, acts, strict=True):
                mean = layer_acts.mean(dim=0) if mode == "mean" else 0.0  # (T, n): per position
                losses = []
                for cache, batch_tensors in zip(caches, tensors, strict=True):
                    change = mean - cache[name]  # (B, T, n): ablated minus clean activation
                    memory = cache.get("memory")
                    losses.append(
                        _ablated_losses(model, i, cache[resid_name], change, batch_tensors, memory)
                    )  # (n,)
                    steps.update()
                rises.append(torch.stack(losses).double().mean(dim=0).cpu().numpy() - loss_clean)
            steps.close()
    finally:
        model.train(was_training)

    tokens = np.concatenate([batch.inputs for batch in data])  # (N, T)
    vocab = list(task.vocab)
    examples = [_top_examples(a.double().cpu().numpy(), tokens, vocab, top, window) for a in acts]
    effect = _direct_effect(model, layers)  # (L, n, V)
    promoted = np.argsort(-effect, axis=-1, kind="stable")[..., :k]  # (L, n, k), largest first
    suppressed = np.argsort(effect, axis=-1, kind="stable")[..., :k]  # (L, n, k), lowest first
    names = np.array(vocab)
    return Neurons(
        layers=np.array(layers, dtype=np.int64),
        mode=mode,
        loss_clean=loss_clean,
        loss_rise=np.stack(rises),  # (L, n)
        activation_max=np.stack([e[2][:, 0] for e in examples]),  # (L, n)
        top_seq=np.stack([e[0] for e in examples]).astype(np.int64),
        top_pos=np.stack([e[1] for e in examples]).astype(np.int64),
        top_act=np.stack([e[2] for e in examples]),
        contexts=[e[3] for e in examples],
        context_acts=[e[4] for e in examples],
        context_index=np.stack([e[5] for e in examples]).astype(np.int64),
        promotes=names[promoted],
        promotes_values=np.take_along_axis(effect, promoted, axis=-1),
        suppresses=names[suppressed],
        suppresses_values=np.take_along_axis(effect, suppressed, axis=-1),
        tokens=tokens,
    )


# ---------------------------------------------------------------------------- the trace's record

# Significant digits of each context token's activation in the record: the colour of a token's
# background (4 digits is well under a colour step); the firing activations keep 9.
_CONTEXT_DIGITS = 4


def probe_neurons(
    run: Any,
    *,
    top: int = 5,
    k: int = 5,
    batches: int = 1,
    seed: int = 0,
    mode: str = "zero",
    window: tuple[int, int] = (4, 2),
    threads: int | None = 1,
) -> dict:
    """Every MLP neuron of ``run.model`` measured by :func:`neurons` on ``run.task``, as the
    neuron view reads it (:mod:`explain.views._neurons`; :func:`explain.lab.record` stores it in
    ``trace.meta["lab"]["neurons"]``), JSON-able:

    ``step`` (the model's), ``hooks`` [layer] (the hook each layer's activations come from),
    ``mode``, ``batches``, ``seed``, ``window``, ``loss_clean``, and the fields of
    :class:`Neurons` but its ``tokens`` as nested lists: ``layers`` [layer], ``loss_rise`` and
    ``activation_max`` [layer][neuron], ``top_seq``, ``top_pos``, ``top_act`` and
    ``context_index`` [layer][neuron][top], ``contexts`` and ``context_acts``
    [layer][neuron][top][token] (activations to 4 significant digits), ``promotes``,
    ``promotes_values``, ``suppresses`` and ``suppresses_values`` [layer][neuron][k].

    ``top=5`` examples a neuron keep the trace small: ~0.4 MB of JSON for the default reverse
    model (2 x 256 neurons; ~1.2 s on two busy cores), ~0.1 MB for induction's (2 x 64; ~0.4 s).
    ``threads``: torch threads while measuring.
    """
    with torch_threads(threads):
        return _probe_neurons(run, top, k, batches, seed, mode, window)


def _probe_neurons(
    run: Any, top: int, k: int, batches: int, seed: int, mode: str, window: tuple[int, int]
) -> dict:
    from .. import views

    model, task, _ = parts(run)
    found = neurons(model, task, None, top, batches, seed, mode=mode, k=k, window=window)
    trainer = getattr(run, "trainer", None)

    def rounded(values: list[float]) -> list[float]:
        return [float(f"{value:.{_CONTEXT_DIGITS}g}") for value in values]

    context_acts = [
        [[rounded(acts) for acts in rows] for rows in layer] for layer in found.context_acts
    ]
    return views.jsonable(
        {
            "step": int(getattr(trainer, "step", -1)),
            "hooks": [post_name(model, int(layer)) for layer in found.layers],
            "mode": found.mode,
            "batches": int(batches),
            "seed": int(seed),
            "window": [int(value) for value in _check_window(window)],
            "loss_clean": found.loss_clean,
            "layers": found.layers,
            "loss_rise": found.loss_rise,  # [layer, neuron]
            "activation_max": found.activation_max,  # [layer, neuron]
            "top_seq": found.top_seq,  # [layer, neuron, top]
            "top_pos": found.top_pos,
            "top_act": found.top_act,
            "context_index": found.context_index,
            "contexts": found.contexts,  # [layer][neuron][top][token]
            "context_acts": context_acts,
            "promotes": found.promotes.tolist(),  # [layer][neuron][k]
            "promotes_values": found.promotes_values,
            "suppresses": found.suppresses.tolist(),
            "suppresses_values": found.suppresses_values,
        }
    )
