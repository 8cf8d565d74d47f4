"""Direct logit attribution: split one logit into the parts the residual stream is made of.

The residual stream at a position is a sum: the token embedding, the additive positional
encoding, every head's write, every MLP's write and some biases. The logit of a token is that
sum put through the final LayerNorm and the unembedding. LayerNorm is not linear, but with its
scale taken from the real forward pass it is: ``LN(x) = (x - mean(x)) / std(x) * g + b``, where
``std(x)`` is the number the model computed; centring is linear, so it applies part by part.
Each part ``c`` then adds ``((c - mean(c)) / std * g) . W_U[target]`` to the logit, and the
parts sum exactly to the model's own logit (or, with a ``baseline`` token, to the logit
difference ``target - baseline``).

The parts, in the order the forward pass adds them (:func:`part_names`):

- ``"embed"``: the token embedding of the token at ``position``.
- ``"pos"``: the additive positional encoding at ``position`` (learned or sinusoidal models;
  rotary and "none" add nothing to the stream, so they have no ``"pos"``).
- ``"L{layer}H{head}"``: one head of the self-attention of block ``layer``: its z
  ``[d_head]`` times its slice of the output projection, without the projection's bias.
- ``"L{layer}X{head}"``: one head of the cross-attention (encoder-decoder models only; the
  encoder reaches the decoder only through these heads, so the encoder has no parts of its own).
- ``"L{layer}.mlp"``: the MLP of block ``layer``, without its output bias.
- ``"bias"``: what no component's input changes: the output-projection biases of every
  attention (self and cross), the output biases of every MLP (all centred, scaled and read like
  any part) and the final LayerNorm's bias ``b . W_U[target]`` (unscaled).

Encoder-decoder models are attributed on the decoder side (``ids`` feed the decoder, ``source``
the encoder). The model runs in eval mode (dropout off) without gradients; its mode is
restored and no hook is left behind.

A pre-norm HuggingFace decoder wrapped by :func:`explain.lab.wrap` (GPT-2, Llama, Qwen2,
Mistral, GPT-NeoX) is split into the same parts (see :mod:`explain.lab.hf_attribution`:
an RMSNorm is read without centring; ``ids`` may be a text).

    >>> import explain
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=11, n_layers=1, n_heads=2))
    >>> result = attribute(model, [3, 1, 4, 1, 5], position=4)
    >>> result.names
    ['embed', 'pos', 'L0H0', 'L0H1', 'L0.mlp', 'bias']
    >>> bool(abs(result.values.sum() - result.logit) < 1e-4)
    True
    >>> result.heads().shape  # [layer, head]
    (1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..model import TinyTransformer
from . import hf_attribution
from ._readout import BIAS, Readout, readout_of
from ._run import parts, torch_threads
from .heads import _check_model, _wrapped
from .hf import LabModel
from .lens import _check_index, _prepare

__all__ = ["Attribution", "attribute", "part_names", "probe_attribution", "residual_parts"]


def part_names(model: TinyTransformer | LabModel) -> list[str]:
    """The names of the parts of ``model``'s residual stream, in forward order (see above).

    >>> import explain
    >>> config = explain.ModelConfig(n_layers=1, n_heads=2, kind="encoder-decoder")
    >>> part_names(explain.TinyTransformer(config))
    ['embed', 'pos', 'L0H0', 'L0H1', 'L0X0', 'L0X1', 'L0.mlp', 'bias']
    """
    if _wrapped(model):
        return hf_attribution.part_names(model)
    config = _check_model(model).config
    names = ["embed"]
    if config.positional in ("learned", "sinusoidal"):
        names.append("pos")
    for layer in range(config.n_layers):
        names += [f"L{layer}H{head}" for head in range(config.n_heads)]
        if config.kind == "encoder-decoder":
            names += [f"L{layer}X{head}" for head in range(config.n_heads)]
        names.append(f"L{layer}.mlp")
    return [*names, BIAS]


@dataclass(frozen=True, eq=False)  # eq would compare numpy arrays: ambiguous
class Attribution:
    """One logit split into parts: ``values.sum() == logit`` (to float32 rounding).

    ``names`` and ``values`` are parallel (see :func:`part_names`); ``logit`` is the model's own
    logit of ``target`` at ``position`` (minus that of ``baseline``, when given). ``ids`` are
    the decoder's tokens; ``parts`` the attention parts with heads: ``("self",)`` for a
    decoder-only model, ``("decoder", "cross")`` for an encoder-decoder one.
    """

    names: list[str]
    values: np.ndarray  # float64 [parts]
    logit: float
    position: int
    target: int
    baseline: int | None
    ids: tuple[int, ...]
    n_layers: int
    n_heads: int
    parts: tuple[str, ...]

    def __getitem__(self, name: str) -> float:
        """The value of one part by name, e.g. ``result["L1H3"]``."""
        if name not in self.names:
            raise KeyError(f"no part {name!r}; expected one of {self.names}")
        return float(self.values[self.names.index(name)])

    def heads(self, part: str | None = None) -> np.ndarray:
        """Head values ``[layer, head]`` of ``part`` ("self"; or "decoder" (default) or
        "cross" for an encoder-decoder model)."""
        part = self.parts[0] if part is None else part
        if part not in self.parts:
            raise ValueError(f"part must be one of {list(self.parts)}; got {part!r}")
        letter = "X" if part == "cross" else "H"
        index = {name: i for i, name in enumerate(self.names)}
        rows = [[index[f"L{layer}{letter}{head}"] for head in range(self.n_heads)]
                for layer in range(self.n_layers)]  # fmt: skip
        return self.values[np.array(rows)]

    def mlps(self) -> np.ndarray:
        """MLP values ``[layer]``."""
        return np.array([self[f"L{layer}.mlp"] for layer in range(self.n_layers)])


def _decompose(
    model: TinyTransformer | LabModel, ids: Any, position: Any, source: Any
) -> tuple[torch.Tensor, Readout, torch.Tensor, torch.Tensor, int]:
    """Parts (P, d) float64 in :func:`part_names` order (the ``"bias"`` row without the final
    norm's bias), how the final norm and the unembedding read them, the logits (vocab,) at
    ``position``, the token tensor (1, T) and the checked position."""
    if _wrapped(model):
        return hf_attribution.decompose(model, ids, position, source)
    model = _check_model(model)
    tokens, kwargs, prefix = _prepare(model, ids, source)  # (1, T)
    length = tokens.shape[1]
    position = _check_index("position", position, length, f"the ids have {length} positions")
    stack = model.decoder if prefix else model
    has_cross = model.config.kind == "encoder-decoder"
    has_pos = stack.embed.W_pos is not None
    last = len(stack.blocks) - 1
    modules = ["attn", "cross"] if has_cross else ["attn"]  # attentions with heads, in order
    wanted = [f"{prefix}embed.hook_tokens"]
    if has_pos:
        wanted.append(f"{prefix}embed.hook_positions")
    for layer in range(len(stack.blocks)):
        wanted += [f"{prefix}blocks.{layer}.{module}.hook_z" for module in modules]
        wanted.append(f"{prefix}blocks.{layer}.mlp.hook_post")
    wanted.append(f"{prefix}blocks.{last}.hook_resid_post")
    was_training = model.training
    model.eval()  # dropout off: every part reaches the stream as it was computed
    try:
        with torch.no_grad():
            logits, cache = model.run_with_cache(tokens, names=wanted, **kwargs)  # (1, T, vocab)
    finally:
        model.train(was_training)

    def at(name: str) -> torch.Tensor:
        return cache[f"{prefix}{name}"].double()

    n_heads, d_head = model.config.n_heads, model.config.d_head
    d = model.config.d_model
    with torch.no_grad():
        rows = [at("embed.hook_tokens")[0, position]]  # (d,)
        if has_pos:
            rows.append(at("embed.hook_positions")[position])  # (d,)
        bias = torch.zeros(d, dtype=torch.float64, device=model.device)  # (d,)
        for layer, block in enumerate(stack.blocks):
            for module in modules:
                attention = getattr(block, module)
                z = at(f"blocks.{layer}.{module}.hook_z")[0, :, position]  # (nh, hs)
                W_o = attention.W_o.weight.double().view(d, n_heads, d_head)  # (d, nh, hs)
                rows += list(torch.einsum("hk,dhk->hd", z, W_o))  # nh x (d,)
                bias += attention.W_o.bias.double()
            post = at(f"blocks.{layer}.mlp.hook_post")[0, position]  # (d_mlp,)
            rows.append(block.mlp.W_out.weight.double() @ post)  # (d,)
            bias += block.mlp.W_out.bias.double()
        rows.append(bias)
        parts = torch.stack(rows)  # (P, d)
    resid = at(f"blocks.{last}.hook_resid_post")[0, position]  # (d,)
    ln = stack.ln_final
    readout = readout_of(resid, ln, ln.eps, True, model.unembed)
    return parts, readout, logits[0, position], tokens, position


def residual_parts(
    model: TinyTransformer | LabModel, ids: Any, position: int, source: Any = None
) -> tuple[list[str], np.ndarray]:
    """``(names, parts)``: the residual stream at ``position`` that the final norm reads,
    split into parts ``[parts, d_model]`` (float64) that sum to it. The ``"bias"`` row holds
    the attention and MLP output biases (the final norm's bias is not in the stream).

    >>> import explain
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=11, n_layers=1))
    >>> names, parts = residual_parts(model, [3, 1, 4], position=2)
    >>> parts.shape  # [parts, d_model]: embed, pos, 4 heads, mlp, bias
    (8, 64)
    """
    parts, _, _, _, _ = _decompose(model, ids, position, source)
    return part_names(model), parts.cpu().numpy()


def _check_token(name: str, value: Any, vocab: int) -> int:
    meaning = f"a token id; the vocabulary has {vocab} tokens"
    return _check_index(name, value, vocab, meaning)


def attribute(
    model: TinyTransformer | LabModel,
    ids: Any,
    position: int,
    target: int | None = None,
    baseline: int | None = None,
    source: Any = None,
) -> Attribution:
    """Split the logit of ``target`` at ``position`` into the parts of the residual stream.

    ``ids`` are token ids ``[pos]`` (list, array or tensor); ``target`` defaults to the model's
    prediction (argmax) at ``position``. With ``baseline`` (a token id) the split is of the
    logit difference ``target - baseline``: which parts prefer one token over the other.
    Encoder-decoder models need ``source`` (the encoder's ids) and are split on the decoder side.
    See the module docstring for the parts and how the final LayerNorm is handled. A wrapped
    HuggingFace decoder (:func:`explain.lab.wrap`) also takes a text as ``ids``; see
    :mod:`explain.lab.hf_attribution` for which ones (a ValueError says why BERT, BART and T5
    are not sums of parts).
    """
    parts, readout, logits, tokens, position = _decompose(model, ids, position, source)
    vocab = model.config.vocab_size
    if target is not None:
        target = _check_token("target", target, vocab)
    if baseline is not None:
        baseline = _check_token("baseline", baseline, vocab)
    if target is None:
        target = int(logits.argmax())
        if target == baseline:
            raise ValueError(
                f"the model predicts the baseline token {baseline} at position {position}; "
                "pass a target that differs from it"
            )
    elif target == baseline:
        raise ValueError(f"baseline must differ from target; both are {target}")
    with torch.no_grad():
        W_U = readout.W_U  # (vocab, d)
        direction = W_U[target] - (0.0 if baseline is None else W_U[baseline])  # (d,)
        read = readout.weight * direction  # (d,) g * u
        if readout.centred:  # (c - mean(c)) . read == c . (read - mean(read)): centre once
            read = read - read.mean()
        values = parts @ read / readout.scale  # (P,) at the real scale of the stream
        if readout.bias is not None:
            values[-1] += readout.bias @ direction  # b . u: part of "bias"
        if readout.unembed_bias is not None:
            ub = readout.unembed_bias  # (vocab,)
            values[-1] += ub[target] - (0.0 if baseline is None else ub[baseline])
        logits = logits.double()  # (vocab,)
        logit = float(logits[target] - (0.0 if baseline is None else logits[baseline]))
    return Attribution(
        names=part_names(model),
        values=values.cpu().numpy(),
        logit=logit,
        position=position,
        target=target,
        baseline=baseline,
        ids=tuple(int(i) for i in tokens[0].tolist()),
        n_layers=model.config.n_layers,
        n_heads=model.config.n_heads,
        parts=("decoder", "cross") if model.config.kind == "encoder-decoder" else ("self",),
    )


def probe_attribution(run: Any, *, threads: int | None = 1) -> dict:
    """The attribution of the right token at every answer position of the task's probe, as the
    attribution view reads it (:mod:`explain.views._attribution`; :func:`explain.lab.record`
    stores it in ``trace.meta["lab"]["attribution"]``), JSON-able:

    ``step`` (the model's), ``tokens`` [pos] (the decoder's, for encoder-decoder), ``source``
    (the encoder's tokens, or None), ``positions`` [answer] (the positions the task scores;
    every one when it scores none), ``targets`` [answer] (the right next token), ``names``
    [parts] (:func:`part_names`), ``values`` [answer][parts] (each part's share of the target's
    logit), ``logits`` [answer] (the model's logit of the target: each row of ``values`` sums
    to it) and ``predicted`` [answer] (the model's own top token there).

    The probe is prepared as :func:`explain.lab.study.probe_lens` prepares it. ``threads``:
    torch threads while measuring. One forward pass per answer position.
    """

    with torch_threads(threads):
        return _probe_attribution(run)


def _probe_attribution(run: Any) -> dict:
    from .. import views

    model, task, _ = parts(run)
    probe = task.probe()
    ids = probe.inputs[0]  # [pos]
    source = None if probe.source is None else probe.source[0]  # [src_pos]
    mask = np.asarray(probe.mask[0], bool)  # [pos]
    positions = np.flatnonzero(mask) if mask.any() else np.arange(len(ids))
    targets = probe.targets[0]  # [pos] the right next token at each position
    results = [
        attribute(model, ids, int(p), target=int(targets[p]), source=source) for p in positions
    ]
    tokens, kwargs, _ = _prepare(model, ids, source)  # (1, T)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            predicted = model(tokens, **kwargs)[0].argmax(-1).tolist()  # [pos]
    finally:
        model.train(was_training)
    trainer = getattr(run, "trainer", None)
    return views.jsonable(
        {
            "step": int(getattr(trainer, "step", -1)),
            "tokens": [task.vocab[i] for i in ids],
            "source": None if source is None else [task.vocab[i] for i in source],
            "positions": [int(p) for p in positions],
            "targets": [task.vocab[int(targets[p])] for p in positions],
            "names": part_names(model),
            "values": np.stack([result.values for result in results]),  # [answer, parts]
            "logits": np.array([result.logit for result in results]),  # [answer]
            "predicted": [task.vocab[predicted[p]] for p in positions],
        }
    )
