"""Attention from other models into a trace, and a trace into bertviz.

- `from_attentions(attentions, tokens)`: a one-snapshot `Trace` from per-layer attention
  weights ``[1, head, q_pos, k_pos]`` (numpy arrays or torch tensors), e.g. a HuggingFace
  model's ``output_attentions``, so every view and export works on it.
- `from_hf(model, tokenizer, text)`: runs a HuggingFace model (decoder, encoder or
  encoder-decoder) and calls `from_attentions`.
- `to_bertviz(trace, step)`: what bertviz's ``head_view``/``model_view`` take (torch tensors;
  ``tensors=False`` gives numpy arrays and needs no torch).
- `write_bertviz_html(trace, path, view)`: bertviz's own head or model view as one HTML file
  that renders offline.
- `to_hf(run_or_model)`: a trained model as a ``transformers`` causal LM with the same weights
  and logits (GPT-2, or GPT-NeoX for rotary positions); `hf_tokenizer(run_or_task)`: the task's
  vocabulary as a ``transformers`` tokenizer. ``save_pretrained`` both into one directory.

This module imports neither torch nor transformers; `from_hf` and `to_bertviz` (unless
``tensors=False``) import torch when called, `to_hf` and `hf_tokenizer` both.

>>> import numpy as np
>>> layer = np.full((1, 2, 3, 3), 1 / 3, np.float32)  # [batch, head, q_pos, k_pos]
>>> trace = from_attentions([layer, layer], ["a", "b", "c"])
>>> trace.n_layers, trace.n_heads, trace.meta["model_config"]["kind"]
(2, 2, 'encoder')
>>> attention, tokens = to_bertviz(trace, tensors=False)  # numpy; the default is torch
>>> len(attention), attention[0].shape, tokens
(2, (1, 2, 3, 3), ['a', 'b', 'c'])
"""

from __future__ import annotations

import copy
import logging
import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._arrays import PIECE_BYTES
from ._files import atomic_write
from ._render import bertviz as _bertviz_html
from .names import attention_name, attention_parts
from .trace import Trace

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

    from .model import TinyTransformer
    from .run import Run
    from .tasks import Task

__all__ = [
    "from_attentions",
    "from_hf",
    "hf_tokenizer",
    "to_bertviz",
    "to_hf",
    "write_bertviz_html",
]

log = logging.getLogger(__name__)

# How far a row of attention weights may sum from 1: loose enough for float16/bfloat16 models,
# tight enough to reject scores or logits passed by mistake.
ROW_SUM_TOLERANCE = 1e-2
_ROUNDING = 1e-4  # the most a float32 row sum may be off (~1e-6 at 100,000 keys), with margin
PARTS = ("encoder", "decoder", "cross")
_DIMS = ["snapshot", "head", "q_pos", "k_pos"]


# -- into a trace --------------------------------------------------------------------------------
def _to_numpy(value: Any) -> np.ndarray:
    """A numpy array of an array or a torch tensor (any device, any float dtype); a CPU
    tensor's memory is shared, not copied."""
    if hasattr(value, "detach"):  # torch.Tensor, duck-typed so torch is never imported here
        value = value.detach().cpu()
        try:
            return value.numpy()
        except TypeError:  # bfloat16 and other dtypes numpy lacks
            return value.float().numpy()
    return np.asarray(value)


def _tokens(what: str, tokens: Any) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise ValueError(f"{what} must be a list of strings; got {type(tokens).__name__}")
    bad = [(i, t) for i, t in enumerate(tokens) if not isinstance(t, str)]
    if bad:
        i, token = bad[0]
        raise ValueError(f"{what}[{i}] must be a string; got {type(token).__name__} {token!r}")
    return list(tokens)


def _layers(
    what: str, attentions: Any, q_len: int, k_len: int, causal: bool = False
) -> tuple[list[np.ndarray], bool]:
    """Validated float arrays [1, head, q_len, k_len], one per layer, all the same shape; and,
    with ``causal``, whether no query attends to a later key (exact zeros above the diagonal;
    else False)."""
    if hasattr(attentions, "shape") and len(attentions.shape) == 5:
        attentions = list(attentions)  # stacked [layer, 1, head, q, k]
    if hasattr(attentions, "shape") or not isinstance(attentions, Sequence) or not attentions:
        shape = getattr(attentions, "shape", None)
        got = f"shape {tuple(shape)}" if shape is not None else type(attentions).__name__
        raise ValueError(
            f"{what} must be a non-empty sequence of per-layer [1, heads, q_pos, k_pos] arrays "
            f"(e.g. outputs.attentions); got {got}"
        )
    layers = []
    for i, layer in enumerate(attentions):
        if layer is None:
            raise ValueError(
                f"{what}[{i}] is None; run the model with output_attentions=True "
                "(and attn_implementation='eager')"
            )
        array = _to_numpy(layer)
        heads = layers[0].shape[1] if layers else "heads"
        expected = f"(1, {heads}, {q_len}, {k_len})"
        if array.ndim != 4 or array.shape[0] != 1 or array.shape[2:] != (q_len, k_len):
            raise ValueError(
                f"{what}[{i}] has shape {tuple(array.shape)}; expected {expected}: batch 1, "
                f"{q_len} query and {k_len} key positions from the tokens"
            )
        if layers and array.shape != layers[0].shape:
            raise ValueError(
                f"{what}[{i}] has shape {tuple(array.shape)}; expected {expected} like layer 0"
            )
        if array.dtype.kind != "f":
            raise ValueError(f"{what}[{i}] must hold floats; got dtype {array.dtype}")
        low, worst, later = _scan(array[0], causal)
        causal = causal and not later
        # NaN, inf or a worst row near the limit: the exact checks decide, and name the fault
        if not (low >= -ROW_SUM_TOLERANCE and worst <= ROW_SUM_TOLERANCE - _ROUNDING):
            _check_weights(f"{what}[{i}]", array)
        layers.append(array)
    return layers, causal


def _scan(heads: np.ndarray, causal: bool) -> tuple[float, float, bool]:
    """``(least weight, how far the worst row sums from 1, whether a weight lies above the
    diagonal)`` of one layer's [head, q, k] weights (the last only with ``causal``, else False),
    read once, a few query rows at a time (`explain._arrays`): its min, its row sums and a
    causal check read 604 MB of GPT-2-small attention at 1,024 tokens from memory three and a
    half times (0.6 s of a 3 s open). NaN or infinite weights give NaN or inf. The row sums
    are float32 (rounding ~1e-6, far below the tolerance), read in place, never copied."""
    n_heads, n_q, n_k = heads.shape
    rows = max(1, PIECE_BYTES // max(1, n_heads * n_k * heads.itemsize))
    total = np.result_type(heads.dtype, np.float32)  # float16 rows sum in float32
    low, worst, later = np.inf, 0.0, False
    for start in range(0, n_q, rows):
        stop = min(start + rows, n_q)
        block = heads[:, start:stop]  # (head, rows, k)
        block_low = float(block.min())
        sums = block.sum(axis=-1, dtype=total)  # (head, rows)
        block_worst = float(np.abs(sums - 1).max())
        if math.isnan(block_low) or math.isnan(block_worst):  # min/max would drop a NaN
            return math.nan, math.nan, later
        low, worst = min(low, block_low), max(worst, block_worst)
        if causal and not later:
            after = block[:, :, stop:]  # (head, rows, k): keys after every row of the block
            square = block[:, :, start:stop]  # (head, rows, rows): the diagonal's block
            later = bool(after.any()) or bool(np.triu(square, k=1).any())
    return low, worst, later


def _check_weights(what: str, array: np.ndarray) -> None:
    """ValueError unless ``array`` [1, head, q, k] holds finite weights, rows >= 0 (within the
    tolerance) summing to 1 (float64 sums): the exact checks, naming the first fault."""
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} has NaN or infinite weights; expected probabilities")
    low = float(array.min())
    sums = array.sum(axis=-1, dtype=np.float64)
    worst = float(np.abs(sums - 1).max())
    if low < -ROW_SUM_TOLERANCE or worst > ROW_SUM_TOLERANCE:
        raise ValueError(
            f"{what} is not attention weights: rows must be >= 0 and sum to 1 "
            f"(within {ROW_SUM_TOLERANCE}); got min {low:.4g}, a row summing to "
            f"{float(sums.flat[np.abs(sums - 1).argmax()]):.6g}"
        )


def from_attentions(
    attentions: Sequence[Any],
    tokens: Sequence[str],
    *,
    encoder_attentions: Sequence[Any] | None = None,
    cross_attentions: Sequence[Any] | None = None,
    source_tokens: Sequence[str] | None = None,
    causal: bool | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Trace:
    """A one-snapshot trace (step 0) from per-layer attention weights.

    attentions: one ``[1, head, T, T]`` array or tensor per layer (``outputs.attentions``;
    for an encoder-decoder the decoder's self-attention), ``T = len(tokens)``. An
    encoder-decoder also passes `encoder_attentions` ``[1, head, S, S]``, `cross_attentions`
    ``[1, head, T, S]`` and `source_tokens` (``S`` of them). `causal`: whether self-attention
    is masked to earlier positions (None: read it from the weights). `meta` is merged in.
    Weights are stored as float32 under the names an explain trace uses
    (``blocks.{i}.attn.hook_pattern``; ``encoder.``/``decoder.`` prefixed and
    ``decoder.blocks.{i}.cross.hook_pattern`` for an encoder-decoder). Float32 weights are not
    copied: the trace reads them where they are (``Trace.from_arrays(..., copy=False)``), so
    leave them unchanged while you use it.

    >>> import numpy as np
    >>> causal = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]  # [q_pos, k_pos]
    >>> trace = from_attentions([causal[None, None]], ["x", "y", "z"])
    >>> trace.attention_names(), trace.meta["model_config"]["kind"]
    (['blocks.0.attn.hook_pattern'], 'decoder')
    """
    tokens = _tokens("tokens", tokens)
    if not tokens:
        raise ValueError("tokens must not be empty")
    layers, no_later = _layers("attentions", attentions, len(tokens), len(tokens), causal is None)
    probe: dict[str, Any] = {"tokens": tokens}
    config: dict[str, Any] = {"n_layers": len(layers), "n_heads": int(layers[0].shape[1])}
    if encoder_attentions is None and cross_attentions is None:
        if source_tokens is not None:
            raise ValueError(
                "source_tokens is only for an encoder-decoder; pass encoder_attentions and "
                "cross_attentions with it"
            )
        config["causal"] = no_later if causal is None else bool(causal)
        config["kind"] = "decoder" if config["causal"] else "encoder"
        tensors = {attention_name(i): a for i, a in enumerate(layers)}
    else:
        missing = [
            name
            for name, value in [
                ("encoder_attentions", encoder_attentions),
                ("cross_attentions", cross_attentions),
                ("source_tokens", source_tokens),
            ]
            if value is None
        ]
        if missing:
            raise ValueError(
                f"an encoder-decoder needs encoder_attentions, cross_attentions and "
                f"source_tokens; missing {missing}"
            )
        source = _tokens("source_tokens", source_tokens)
        if not source:
            raise ValueError("source_tokens must not be empty")
        encoder, _ = _layers("encoder_attentions", encoder_attentions, len(source), len(source))
        cross, _ = _layers("cross_attentions", cross_attentions, len(tokens), len(source))
        if len(cross) != len(layers):
            raise ValueError(
                f"cross_attentions has {len(cross)} layers; expected {len(layers)}, one per "
                "decoder layer like attentions"
            )
        probe["source_tokens"] = source
        config.update(
            kind="encoder-decoder",
            causal=no_later if causal is None else bool(causal),
            n_encoder_layers=len(encoder),
            n_encoder_heads=int(encoder[0].shape[1]),
        )
        tensors = {attention_name(i, "encoder"): a for i, a in enumerate(encoder)}
        for i, (self_attn, cross_attn) in enumerate(zip(layers, cross, strict=True)):
            tensors[attention_name(i, "decoder")] = self_attn
            tensors[attention_name(i, "cross")] = cross_attn
    full_meta: dict[str, Any] = {
        "source": "attentions",
        "model_config": config,
        "probe": probe,
        "dims": {name: list(_DIMS) for name in tensors},
        "status": "complete",
        "last_step": 0,
    }
    for key, value in copy.deepcopy(dict(meta or {})).items():
        if key in ("model_config", "probe") and isinstance(value, Mapping):
            full_meta[key] = {**full_meta[key], **value}
        else:
            full_meta[key] = value
    # The batch axis of 1 becomes the snapshot axis: [snapshot, head, q_pos, k_pos].
    steps = np.zeros(1, np.int64)
    return Trace.from_arrays(full_meta, steps, {}, steps, tensors, copy=False)


def _no_weights(outputs: Any, encoder_decoder: bool) -> bool:
    """Whether a HuggingFace output lacks attention weights (sdpa/flash kernels give none)."""
    names = ("attentions",)
    if encoder_decoder:
        names = ("encoder_attentions", "decoder_attentions", "cross_attentions")
    stacks = [getattr(outputs, name, None) for name in names]
    return any(not stack or any(layer is None for layer in stack) for stack in stacks)


def from_hf(model: Any, tokenizer: Any, text: str, target_text: str | None = None) -> Trace:
    """A trace of a HuggingFace model's attention on `text` (one forward pass, no gradients).

    Decoder (GPT-2-like) and encoder (BERT-like) models read ``outputs.attentions``;
    encoder-decoder models (BART, T5, Marian, ...) need `target_text` for the decoder input
    and give encoder, decoder and cross attention. Tokens come from
    ``tokenizer.convert_ids_to_tokens``. A model whose attention kernel returns no weights
    (``sdpa``, flash) is switched to ``eager`` for the call and back. The model is put in eval
    mode for the call and left in the mode it had.

    >>> from transformers import AutoModel, AutoTokenizer  # doctest: +SKIP
    >>> name = "gpt2"  # doctest: +SKIP
    >>> trace = from_hf(AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name),
    ...                 "The cat sat")  # doctest: +SKIP
    """
    import torch

    if not isinstance(text, str):
        raise ValueError(f"text must be a string; got {type(text).__name__}")
    config = model.config
    encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    if encoder_decoder and target_text is None:
        raise ValueError(
            f"{type(model).__name__} is an encoder-decoder: pass target_text for its decoder"
        )
    if not encoder_decoder and target_text is not None:
        raise ValueError(
            f"target_text is only for encoder-decoder models; {type(model).__name__} is not one"
        )
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in tokenizer(text, return_tensors="pt").items()}
    if encoder_decoder:
        target = tokenizer(text_target=target_text, return_tensors="pt")["input_ids"]
        inputs["decoder_input_ids"] = target.to(device)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(**inputs, output_attentions=True, return_dict=True)
            kernel = getattr(config, "_attn_implementation", None)
            switchable = hasattr(model, "set_attn_implementation") and isinstance(kernel, str)
            if _no_weights(outputs, encoder_decoder) and switchable and kernel != "eager":
                log.info("%s attention returns no weights; rerunning with eager", kernel)
                model.set_attn_implementation("eager")
                try:
                    outputs = model(**inputs, output_attentions=True, return_dict=True)
                finally:
                    model.set_attn_implementation(kernel)
    finally:
        model.train(was_training)

    ids = inputs["input_ids"][0].tolist()
    tokens = tokenizer.convert_ids_to_tokens(ids)
    meta: dict[str, Any] = {
        "source": "transformers",
        "text": text,
        "model_config": {
            "hf_model_type": str(getattr(config, "model_type", "")),
            "hf_name_or_path": str(getattr(config, "name_or_path", "")),
            "vocab_size": int(getattr(config, "vocab_size", 0) or 0),
        },
    }
    if _no_weights(outputs, encoder_decoder):
        raise ValueError(
            f"{type(model).__name__} returned no attention weights; load it with "
            "attn_implementation='eager'"
        )
    if not encoder_decoder:
        meta["probe"] = {"ids": ids}
        return from_attentions(list(outputs.attentions), tokens, meta=meta)
    target_ids = inputs["decoder_input_ids"][0].tolist()
    meta["target_text"] = target_text
    meta["probe"] = {"ids": target_ids, "source_ids": ids}
    return from_attentions(
        list(outputs.decoder_attentions),
        tokenizer.convert_ids_to_tokens(target_ids),
        encoder_attentions=list(outputs.encoder_attentions),
        cross_attentions=list(outputs.cross_attentions),
        source_tokens=tokens,
        meta=meta,
    )


# -- out of a trace ------------------------------------------------------------------------------
def _check_tokens(pattern: np.ndarray, queries: list[str], keys: list[str]) -> None:
    """ValueError unless `pattern` [head, q_pos, k_pos] has one position per token."""
    if pattern.shape[1:] != (len(queries), len(keys)):
        raise ValueError(
            f"attention pattern has {pattern.shape[1]} query x {pattern.shape[2]} key positions; "
            f"expected {len(queries)} x {len(keys)} from the tokens in the trace meta"
        )


def _parts(trace: Trace, step: int | None, part: str | None) -> list[tuple]:
    """``[(bertviz name, layers [1, head, q, k], left tokens, right tokens)]`` at `step`."""
    if part is not None and part not in PARTS:
        raise ValueError(f"part must be None or one of {PARTS}; got {part!r}")
    snapshot_steps = trace.snapshot_steps
    if not len(snapshot_steps):
        raise ValueError("the trace has no snapshots; it holds no attention to show")
    snapshot = trace.at(int(snapshot_steps[-1]) if step is None else step)
    stacks = attention_parts(snapshot.tensors)

    def layers(found: list[str]) -> list[np.ndarray]:
        return [np.array(snapshot.tensors[name])[None] for name in found]  # writable copies

    if "self" in stacks:
        if part is not None:
            raise ValueError(
                f"part={part!r} is only for encoder-decoder traces; this has one stack"
            )
        tokens = trace.probe_tokens
        _check_tokens(snapshot.tensors[stacks["self"][0]], tokens, tokens)
        return [(None, layers(stacks["self"]), tokens, tokens)]
    if not stacks:
        raise ValueError(
            f"the trace has no attention patterns ({attention_name(0)} ...); it has "
            f"{sorted(snapshot.tensors)}"
        )
    missing = [name for name in PARTS if name not in stacks]
    if missing:
        raise ValueError(f"the encoder-decoder trace has no {missing} attention patterns")
    source, target = list(trace._meta_field("probe", "source_tokens")), trace.probe_tokens
    _check_tokens(snapshot.tensors[stacks["cross"][0]], target, source)
    parts = [
        ("Encoder", layers(stacks["encoder"]), source, source),
        ("Decoder", layers(stacks["decoder"]), target, target),
        ("Cross", layers(stacks["cross"]), target, source),
    ]
    return parts if part is None else [parts[PARTS.index(part)]]


def _as_tensors(layers: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    """The layers as CPU torch tensors sharing their memory (torch imported here, on use)."""
    try:
        import torch
    except ImportError:
        raise ImportError(
            "to_bertviz returns torch tensors, as bertviz's head_view/model_view need torch; "
            "pass tensors=False for numpy arrays"
        ) from None
    return tuple(torch.from_numpy(layer) for layer in layers)


def to_bertviz(
    trace: Trace, step: int | None = None, part: str | None = None, *, tensors: bool = True
) -> Any:
    """Attention at the snapshot nearest `step` (None: the last) in bertviz's format.

    A decoder or encoder trace gives ``(attention, tokens)``: a tuple of float32 tensors
    ``[1, head, T, T]``, one per layer, and the probe tokens, so
    ``head_view(*to_bertviz(trace))`` and ``model_view(*to_bertviz(trace))`` work as they are.
    An encoder-decoder trace gives a dict with ``encoder_attention``, ``decoder_attention``,
    ``cross_attention``, ``encoder_tokens`` and ``decoder_tokens`` (``head_view(**...)``), or,
    with `part` ("encoder", "decoder" or "cross"), only that part and its tokens.
    The attention is torch tensors (bertviz needs torch; it is imported on this call);
    ``tensors=False`` gives float32 numpy arrays of the same shapes and needs no torch.

    >>> import numpy as np
    >>> trace = from_attentions([np.full((1, 1, 2, 2), 0.5)], ["a", "b"])
    >>> attention, tokens = to_bertviz(trace)
    >>> type(attention[0]).__module__, tuple(attention[0].shape), tokens
    ('torch', (1, 1, 2, 2), ['a', 'b'])
    """
    if not isinstance(tensors, bool):
        raise TypeError(f"tensors must be True (torch) or False (numpy); got {tensors!r}")
    convert = _as_tensors if tensors else tuple
    parts = _parts(trace, step, part)
    if parts[0][0] is None:
        _, layers, tokens, _ = parts[0]
        return convert(layers), list(tokens)
    result: dict[str, Any] = {}
    for name, layers, left, right in parts:
        result[f"{name.lower()}_attention"] = convert(layers)
        if name == "Encoder":
            result["encoder_tokens"] = list(left)
        else:
            result["decoder_tokens"] = list(left)
            if name == "Cross":
                result["encoder_tokens"] = list(right)
    return result


def write_bertviz_html(
    trace: Trace,
    path: str | os.PathLike,
    view: str = "head",
    step: int | None = None,
    part: str | None = None,
    *,
    display_mode: str = "light",
) -> pathlib.Path:
    """Write bertviz's head view (``view="head"``) or model view (``"model"``) as one HTML file.

    The page holds bertviz's own JS with jQuery, d3 and require.js inlined, so it renders with
    no network; it is written to a temporary name and renamed. `step` and `part` are as in
    `to_bertviz`; `display_mode` ("light" or "dark") is the model view's palette.

    >>> import numpy as np, tempfile, pathlib
    >>> trace = from_attentions([np.full((1, 1, 2, 2), 0.5)], ["<a>", "b"])
    >>> out = write_bertviz_html(trace, pathlib.Path(tempfile.mkdtemp()) / "head.html")
    >>> "<a>" in out.read_text(), "\\\\u003ca\\\\u003e" in out.read_text()
    (False, True)
    """
    if view not in _bertviz_html.VIEWS:
        raise ValueError(f"view must be one of {_bertviz_html.VIEWS}; got {view!r}")
    parts = _parts(trace, step, part)
    shown = trace.at(int(trace.snapshot_steps[-1]) if step is None else step).step
    task = trace.meta.get("task")
    name = f"{task['name']}, " if isinstance(task, Mapping) and task.get("name") else ""
    what = "" if parts[0][0] is None else f", {' / '.join(p[0] for p in parts)}"
    title = f"bertviz {view} view: {name}step {shown}{what}"
    page = _bertviz_html.bertviz_page(view, parts, title=title, display_mode=display_mode)
    return atomic_write(path, lambda f: f.write(page.encode("utf-8")), what="HTML")


# -- a model out to HuggingFace ------------------------------------------------------------------
def to_hf(run_or_model: Run | TinyTransformer) -> PreTrainedModel:
    """A ``transformers`` causal LM with the weights of a Run's model or a TinyTransformer and
    the same logits: ``GPT2LMHeadModel`` for learned, sinusoidal or no positions,
    ``GPTNeoXForCausalLM`` for rope; ``ValueError`` for an encoder-decoder. Pair it with
    `hf_tokenizer`::

        hf, tokenizer = to_hf(run), hf_tokenizer(run)
        hf.save_pretrained(directory)
        tokenizer.save_pretrained(directory)  # AutoModelForCausalLM / AutoTokenizer read both
        trace = from_hf(hf, tokenizer, text)  # the same attention as the model's hook_pattern

    See :func:`explain._hf_export.to_hf` for the details; imports torch and transformers.
    """
    from ._hf_export import to_hf as export

    return export(run_or_model)


def hf_tokenizer(run_or_task: Run | Task) -> PreTrainedTokenizerFast:
    """The task's vocabulary as a ``transformers`` tokenizer whose ``input_ids`` are
    ``task.tokenizer.encode(text)`` (per character or per word, as the task splits). See
    :func:`explain._hf_export.hf_tokenizer`; imports transformers.
    """
    from ._hf_export import hf_tokenizer as build

    return build(run_or_task)
