"""What direct logit attribution (:mod:`explain.lab.attribution`) shares between a
TinyTransformer and a wrapped HuggingFace decoder (:mod:`explain.lab.hf_attribution`): the name
of the bias part, and the final norm read at the scale the forward pass used."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BIAS = "bias"  # the part no component's input changes: output biases, the final norm's bias


@dataclass(frozen=True)
class Readout:
    """The final norm, with the scale the forward pass used, and the unembedding: the logit of
    token u is ``(centre(x) / scale * weight + bias) . W_U[u] + unembed_bias[u]``, where
    ``centre`` subtracts the mean (LayerNorm; an RMSNorm does not centre). All float64."""

    scale: torch.Tensor  # (): LayerNorm's std or RMSNorm's root mean square, eps included
    centred: bool
    weight: torch.Tensor  # (d,)
    bias: torch.Tensor | None  # (d,)
    W_U: torch.Tensor  # (vocab, d)
    unembed_bias: torch.Tensor | None  # (vocab,)


def readout_of(
    resid: torch.Tensor, norm: nn.Module, eps: float, centred: bool, unembed: nn.Module
) -> Readout:
    """The readout of ``resid`` (d,), the real stream the final ``norm`` read."""
    x = resid - resid.mean() if centred else resid  # (d,)
    double = lambda t: None if t is None else t.detach().double()  # noqa: E731
    return Readout(
        scale=torch.sqrt(x.pow(2).mean() + eps),  # the number the model divided by
        centred=centred,
        weight=double(norm.weight),
        bias=double(getattr(norm, "bias", None)),
        W_U=double(unembed.weight),
        unembed_bias=double(getattr(unembed, "bias", None)),
    )
