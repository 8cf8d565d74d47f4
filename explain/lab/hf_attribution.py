"""Direct logit attribution of a wrapped HuggingFace decoder: :func:`explain.lab.attribute` on a
:class:`~explain.lab.hf.LabModel`, with the parts :mod:`explain.lab.attribution` describes.

The split needs a residual stream that is a sum of what the blocks write, read once by a final
norm: a pre-norm decoder. GPT-2 and GPT-NeoX end in a LayerNorm (centring applies part by
part, as for a TinyTransformer); Llama, Qwen2 and Mistral in an RMSNorm ``x / rms(x) * g``,
which does not centre, so each part is read as it is. Either way the scale is the one the
forward pass divided by, so the values sum to the model's own logit. GPT-NeoX's parallel
residual ``x + attn(ln1(x)) + mlp(ln2(x))`` is still a sum.

The parts, in forward order (the names a TinyTransformer's parts have):

- ``"embed"``: the token embedding table's output at ``position``.
- ``"pos"``: GPT-2's learned position table ``wpe`` at ``position`` (the rotary models add no
  position to the stream, so they have none).
- ``"L{layer}H{head}"``: head ``head``'s z (its slice of the output projection's input, at
  ``...attn.hook_z``) times its columns of the output projection's weight, without the bias
  (GPT-2's Conv1D stores that weight ``[in, out]``, nn.Linear ``[out, in]``). Grouped-query
  attention (Llama's ``num_key_value_heads``) changes nothing here: the projection reads one
  slice per query head.
- ``"L{layer}.mlp"``: the MLP's down projection (GPT-2 ``mlp.c_proj``, Llama ``down_proj``,
  GPT-NeoX ``dense_4h_to_h``) times its input, without its output bias: every one of these
  MLPs ends in that linear map, so its bias separates.
- ``"bias"``: the output biases of every attention and MLP (in the stream: read at the same
  scale as any part), the final norm's bias (unscaled) and the unembedding's bias, where the
  model has them.

BERT and BART are post-LayerNorm (every block renormalises the stream, so it is not a sum of
parts) and T5 is an encoder-decoder: each raises a ValueError that says so. The parts are
checked to sum to the stream the final norm read (a RuntimeError otherwise), so a model that
adds something unknown to its stream cannot give values that miss its logit.
"""

from __future__ import annotations

from typing import Any

import torch

from ..names import z_name
from ._readout import BIAS, Readout, readout_of
from .hf import LabModel, out_in_weight
from .lens import _check_index, _prepare

__all__ = ["ATTRIBUTABLE", "decompose", "part_names"]

# architecture -> (its learned position table, or None; whether its final norm centres)
ATTRIBUTABLE = {
    "GPT2LMHeadModel": ("transformer.wpe", True),
    "LlamaForCausalLM": (None, False),
    "Qwen2ForCausalLM": (None, False),
    "MistralForCausalLM": (None, False),
    "GPTNeoXForCausalLM": (None, True),
}
_RENORMALISED = "every block renormalises the residual stream, so it is not a sum of parts"
_WHY_NOT = {
    "BertForMaskedLM": f"is post-LayerNorm: {_RENORMALISED}",
    "BartForConditionalGeneration": f"is an encoder-decoder with post-LayerNorm blocks: "
    f"{_RENORMALISED}",
    "T5ForConditionalGeneration": "is an encoder-decoder: its decoder's stream also carries "
    "cross-attention, and the split of a wrapped model reads one decoder-only stack",
}
# How far (relative, in norm) the parts' sum may be from the stream the final norm read: float
# rounding in float32/64 (measured < 1e-6), a few roundings of the stream in float16/bfloat16.
_SUM_TOLERANCE = {torch.float64: 1e-4, torch.float32: 1e-4, torch.float16: 3e-2,
                  torch.bfloat16: 3e-2}  # fmt: skip


def _check(model: LabModel) -> tuple[str | None, bool]:
    """``ATTRIBUTABLE``'s entry for ``model``'s architecture, or a ValueError saying why not."""
    name = model.config.architecture
    if name not in ATTRIBUTABLE:
        why = _WHY_NOT.get(name, "is not a pre-norm decoder-only model")
        raise ValueError(
            f"attribute splits a logit into a sum of residual-stream parts, which needs a "
            f"pre-norm decoder-only model ({', '.join(ATTRIBUTABLE)}); {name} {why}"
        )
    return ATTRIBUTABLE[name]


def part_names(model: LabModel) -> list[str]:
    """The parts of ``model``'s residual stream, in forward order (see the module docstring)."""
    positions, _ = _check(model)
    names = ["embed", *(["pos"] if positions else [])]
    for layer in range(model.config.n_layers):
        names += [f"L{layer}H{head}" for head in range(model.config.n_heads)]
        names.append(f"L{layer}.mlp")
    return [*names, BIAS]


def decompose(
    model: LabModel, ids: Any, position: Any, source: Any = None
) -> tuple[torch.Tensor, Readout, torch.Tensor, torch.Tensor, int]:
    """:func:`explain.lab.attribution._decompose` for a wrapped decoder: parts (P, d) float64,
    the readout, the logits (vocab,) at ``position``, the tokens (1, T) and the position."""
    positions, centred = _check(model)
    tokens, _, _ = _prepare(model, ids, source)  # (1, T); a text is encoded
    length = tokens.shape[1]
    position = _check_index("position", position, length, f"the ids have {length} positions")
    n_layers, n_heads = model.config.n_layers, model.config.n_heads
    mlps = [f"blocks.{layer}.mlp.hook_post" for layer in range(n_layers)]
    last = f"blocks.{n_layers - 1}.hook_resid_post"  # what the final norm reads
    wanted = ["embed.hook_tokens", *[z_name(layer) for layer in range(n_layers)], *mlps, last]
    was_training = model.training
    model.eval()  # dropout off: every part reaches the stream as it was computed
    try:
        with torch.no_grad():
            logits, cache = model.run_with_cache(tokens, names=wanted)  # (1, T, vocab)
    finally:
        model.train(was_training)

    with torch.no_grad():
        rows = [cache["embed.hook_tokens"][0, position].double()]  # (d,)
        if positions:
            rows.append(model.hf.get_submodule(positions).weight[position].double())  # (d,)
        bias = torch.zeros_like(rows[0])  # (d,)
        for layer in range(n_layers):
            projection = model.site(z_name(layer))
            z = cache[z_name(layer)][0, :, position].double()  # (nh, hs)
            W_o = out_in_weight(projection).double().unflatten(1, (n_heads, -1))  # (d, nh, hs)
            rows += list(torch.einsum("hk,dhk->hd", z, W_o))  # nh x (d,)
            down = model.site(mlps[layer])
            post = cache[mlps[layer]][0, position].double()  # (d_mlp,)
            rows.append(out_in_weight(down).double() @ post)  # (d,)
            for linear in (projection, down):
                if linear.bias is not None:
                    bias += linear.bias.double()
        rows.append(bias)
        parts = torch.stack(rows)  # (P, d)
        resid = cache[last][0, position].double()  # (d,)
        _check_sum(model, parts, resid)
        norm = model.ln_final
        eps = norm.eps if hasattr(norm, "eps") else norm.variance_epsilon  # RMSNorm's name
        readout = readout_of(resid, norm, eps, centred, model.unembed)
    return parts, readout, logits[0, position], tokens, position


def _check_sum(model: LabModel, parts: torch.Tensor, resid: torch.Tensor) -> None:
    """A RuntimeError unless the parts sum to the stream the final norm read: a model that adds
    something the split does not know of (a scaled embedding, an extra norm) must not give
    values that do not sum to its logit."""
    dtype = model.unembed.weight.dtype
    tolerance = _SUM_TOLERANCE.get(dtype, 3e-2)
    error = float((parts.sum(0) - resid).norm() / resid.norm().clamp_min(1e-30))
    if error > tolerance:
        raise RuntimeError(
            f"the parts of {model.config.architecture}'s residual stream sum to within "
            f"{error:.3g} (relative) of the stream its final norm reads; expected at most "
            f"{tolerance:g} ({dtype}). This model adds something to its stream that the split "
            "does not know of"
        )
