"""A trained TinyTransformer as a HuggingFace ``transformers`` model, and its task's tokenizer.

`to_hf` copies the weights into the HuggingFace architecture that computes the same function
(logits equal to float32 rounding, ~1e-6):

- ``learned``, ``sinusoidal`` and ``none`` positions: ``GPT2LMHeadModel``. GPT-2 is pre-LayerNorm
  with one fused q/k/v projection in our order; its ``Conv1D`` layers store weights transposed
  against ``nn.Linear``. Its positions are always a table added to the tokens (``wpe``): the
  sinusoidal table goes in as it is, ``none`` as zeros (both then train like learned ones).
- ``rope``: ``GPTNeoXForCausalLM`` with ``use_parallel_residual=False`` (sequential residual,
  like ours) and ``partial_rotary_factor=1.0`` (every dimension rotated). NeoX rotates dimension
  ``i`` with ``i + d_head/2`` (``rotate_half``) where we rotate the pair ``(2i, 2i + 1)``; both
  use the angle ``pos * 10000^(-2i/d_head)``, so the query and key rows of each head are
  reordered (even dimensions first, then odd) and the rotations agree. Scores only see q.k, so
  the attention pattern is unchanged. NeoX also fuses q/k/v per head (``[h0: q k v, h1: ...]``)
  where ours is ``[q of all heads, k, v]``.

Encoder-decoder models raise ``ValueError``: no ``transformers`` encoder-decoder computes these
blocks exactly (MBart, the closest, is pre-LayerNorm too but normalizes the embeddings once more).

`hf_tokenizer` builds a ``PreTrainedTokenizerFast`` with the task's vocabulary and split (one
token per character or per whitespace-separated word), so ``tokenizer(text)["input_ids"]`` is
``task.tokenizer.encode(text)`` and ``save_pretrained`` writes it beside the model.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from . import positional
from ._task_base import CharTokenizer, Task, WordTokenizer
from .model import TinyTransformer
from .run import Run

if int(transformers.__version__.split(".")[0]) < 5:  # the config names below are 5.x's
    raise ImportError(
        f"exporting to HuggingFace needs transformers>=5; found {transformers.__version__}"
    )

SUPPORTED = {
    "learned": "GPT2LMHeadModel",
    "sinusoidal": "GPT2LMHeadModel",
    "none": "GPT2LMHeadModel",
    "rope": "GPTNeoXForCausalLM",
}
# Vocabulary entries that become the tokenizer's special tokens (and the config's ids).
SPECIALS = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>"}


def _unpack(run_or_model: Any, what: str) -> tuple[TinyTransformer, Task | None]:
    if isinstance(run_or_model, Run):
        return run_or_model.model, run_or_model.task
    if isinstance(run_or_model, TinyTransformer):
        return run_or_model, None
    raise TypeError(
        f"{what} must be a Run (from explain.train) or a TinyTransformer; "
        f"got {type(run_or_model).__name__}"
    )


def _check_supported(model: TinyTransformer) -> None:
    cfg = model.config
    if cfg.kind != "decoder":
        raise ValueError(
            f"to_hf exports decoder-only models; got kind={cfg.kind!r}: no transformers "
            "encoder-decoder computes this model's blocks exactly. Supported: "
            f"kind='decoder' with positional in {sorted(SUPPORTED)}"
        )
    if cfg.positional not in SUPPORTED:
        raise ValueError(
            f"to_hf has no transformers architecture for positional={cfg.positional!r}; "
            f"supported: {', '.join(f'{k!r} -> {v}' for k, v in SUPPORTED.items())}"
        )


def _special_ids(task: Task | None) -> dict[str, int | None]:
    """``bos_token_id``/``eos_token_id``/``pad_token_id`` from the task's vocabulary, else None
    (GPT-2's defaults, 50256, would point outside a tiny vocabulary)."""
    vocab = list(task.vocab) if task is not None else []
    return {f"{key}_id": vocab.index(s) if s in vocab else None for key, s in SPECIALS.items()}


def _layer_norm(prefix: str, norm: torch.nn.LayerNorm) -> dict[str, torch.Tensor]:
    return {f"{prefix}.weight": norm.weight, f"{prefix}.bias": norm.bias}


def _linear(prefix: str, linear: torch.nn.Linear, conv1d: bool = False) -> dict[str, torch.Tensor]:
    """A Linear's weight ``[out, in]``; GPT-2's Conv1D stores it as ``[in, out]``."""
    weight = linear.weight.t() if conv1d else linear.weight
    return {f"{prefix}.weight": weight, f"{prefix}.bias": linear.bias}


def _gpt2(model: TinyTransformer, specials: dict[str, int | None]) -> PreTrainedModel:
    cfg, d = model.config, model.config.d_model
    eps = model.ln_final.eps
    config = GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.context_length,
        n_embd=d,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        n_inner=cfg.d_mlp,
        activation_function="gelu",  # the exact (erf) GELU of F.gelu, not GPT-2's tanh "gelu_new"
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        layer_norm_epsilon=eps,
        scale_attn_weights=True,  # scores / sqrt(d_head), as ours
        tie_word_embeddings=False,  # our unembed is its own matrix
        **specials,
    )
    embed = model.embed
    if embed.W_pos is None:  # positional="none": a table of zeros adds nothing
        table = torch.zeros(cfg.context_length, d, device=model.device)
    else:
        table = embed.W_pos  # (T, d): the learned parameter or the sinusoidal buffer
    state = {"transformer.wte.weight": embed.W_E.weight, "transformer.wpe.weight": table}
    for i, block in enumerate(model.blocks):
        p = f"transformer.h.{i}"
        state.update(_layer_norm(f"{p}.ln_1", block.ln1))
        state.update(_linear(f"{p}.attn.c_attn", block.attn.W_qkv, conv1d=True))
        state.update(_linear(f"{p}.attn.c_proj", block.attn.W_o, conv1d=True))
        state.update(_layer_norm(f"{p}.ln_2", block.ln2))
        state.update(_linear(f"{p}.mlp.c_fc", block.mlp.W_in, conv1d=True))
        state.update(_linear(f"{p}.mlp.c_proj", block.mlp.W_out, conv1d=True))
    state.update(_layer_norm("transformer.ln_f", model.ln_final))
    state["lm_head.weight"] = model.unembed.weight
    return _filled(GPT2LMHeadModel(config), state, model)


def _neox_qkv(linear: torch.nn.Linear, n_heads: int, d_head: int) -> dict[str, torch.Tensor]:
    """Our fused ``[q | k | v]`` rows (each ``[head, d_head]``) as NeoX's ``[head, q k v]``, with
    each head's q and k rows reordered from (even, odd) pairs to halves (even dims, then odd)."""
    halves = torch.cat([torch.arange(0, d_head, 2), torch.arange(1, d_head, 2)])  # (hs,)
    weight = linear.weight.view(3, n_heads, d_head, -1)  # (3, nh, hs, d)
    bias = linear.bias.view(3, n_heads, d_head, 1)  # (3, nh, hs, 1)
    rows = torch.cat([weight, bias], dim=-1)  # (3, nh, hs, d + 1): a row and its bias together
    q, k, v = rows[0][:, halves], rows[1][:, halves], rows[2]  # (nh, hs, d + 1) each
    fused = torch.stack([q, k, v], dim=1).reshape(3 * n_heads * d_head, -1)  # (nh*3*hs, d + 1)
    return {"weight": fused[:, :-1], "bias": fused[:, -1]}


def _neox(model: TinyTransformer, specials: dict[str, int | None]) -> PreTrainedModel:
    cfg = model.config
    config = GPTNeoXConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        intermediate_size=cfg.d_mlp,
        hidden_act="gelu",  # exact GELU
        max_position_embeddings=cfg.context_length,
        layer_norm_eps=model.ln_final.eps,
        attention_dropout=cfg.dropout,
        hidden_dropout=cfg.dropout,
        use_parallel_residual=False,  # x + attn(ln1(x)), then + mlp(ln2(.)), as ours
        rope_parameters={
            "rope_type": "default",
            "rope_theta": positional.BASE,
            "partial_rotary_factor": 1.0,  # NeoX's default 0.25 rotates a quarter of each head
        },
        attention_bias=True,
        tie_word_embeddings=False,
        **specials,
    )
    state = {"gpt_neox.embed_in.weight": model.embed.W_E.weight}
    for i, block in enumerate(model.blocks):
        p = f"gpt_neox.layers.{i}"
        state.update(_layer_norm(f"{p}.input_layernorm", block.ln1))
        qkv = _neox_qkv(block.attn.W_qkv, cfg.n_heads, cfg.d_head)
        state.update({f"{p}.attention.query_key_value.{k}": v for k, v in qkv.items()})
        state.update(_linear(f"{p}.attention.dense", block.attn.W_o))
        state.update(_layer_norm(f"{p}.post_attention_layernorm", block.ln2))
        state.update(_linear(f"{p}.mlp.dense_h_to_4h", block.mlp.W_in))
        state.update(_linear(f"{p}.mlp.dense_4h_to_h", block.mlp.W_out))
    state.update(_layer_norm("gpt_neox.final_layer_norm", model.ln_final))
    state["lm_head.weight"] = model.unembed.weight
    return _filled(GPTNeoXForCausalLM(config), state, model)


def _filled(
    hf: PreTrainedModel, state: dict[str, torch.Tensor], model: TinyTransformer
) -> PreTrainedModel:
    """``hf`` on ``model``'s device and dtype, holding copies of ``state``, in eval mode."""
    hf.to(device=model.device, dtype=model.unembed.weight.dtype)
    with torch.no_grad():
        hf.load_state_dict({k: v.detach().clone() for k, v in state.items()}, strict=True)
    return hf.eval()


def to_hf(run_or_model: Run | TinyTransformer) -> PreTrainedModel:
    """A ``transformers`` causal LM with ``run_or_model``'s weights and the same logits.

    ``learned``/``sinusoidal``/``none`` positions give a ``GPT2LMHeadModel``, ``rope`` a
    ``GPTNeoXForCausalLM`` (see the module docstring for how weights are laid out). The copy
    is independent of the original, on its device and dtype, in eval mode. For a Run, the
    config's ``bos_token_id``/``eos_token_id``/``pad_token_id`` are the task's ``<bos>``,
    ``<eos>``, ``<pad>`` ids where its vocabulary has them (else None). The tokenizer comes
    from :func:`hf_tokenizer`. Raises ``ValueError`` for an encoder-decoder model and
    ``TypeError`` for anything but a Run or a TinyTransformer.

    >>> import torch
    >>> from explain import ModelConfig, TinyTransformer
    >>> model = TinyTransformer(ModelConfig(vocab_size=10, d_model=16, n_heads=2,
    ...                                     positional="rope"))
    >>> hf = to_hf(model)
    >>> type(hf).__name__
    'GPTNeoXForCausalLM'
    >>> ids = torch.tensor([[1, 2, 3, 4]])
    >>> bool((hf(ids).logits - model(ids)).abs().max() < 1e-5)
    True
    """
    model, task = _unpack(run_or_model, "run_or_model")
    _check_supported(model)
    build = _neox if model.config.positional == "rope" else _gpt2
    return build(model, _special_ids(task))


def _backend(task: Task) -> Tokenizer:
    """A ``tokenizers`` WordLevel tokenizer splitting text as ``task.tokenizer`` does."""
    tokenizer = task.tokenizer
    unk = tokenizer.unk  # None: an unknown symbol is an error, as in task.tokenizer.encode
    backend = Tokenizer(models.WordLevel({s: i for i, s in enumerate(tokenizer.vocab)}, unk))
    if isinstance(tokenizer, CharTokenizer):
        # Every character its own piece; [\s\S] so that newlines are characters too.
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        backend.decoder = decoders.Fuse()  # decode joins characters with nothing between
    elif isinstance(tokenizer, WordTokenizer):
        backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # like str.split
    else:
        raise ValueError(
            f"hf_tokenizer supports CharTokenizer and WordTokenizer; task {task.name!r} has "
            f"a {type(tokenizer).__name__}"
        )
    return backend


def hf_tokenizer(run_or_task: Run | Task) -> PreTrainedTokenizerFast:
    """A ``transformers`` tokenizer with the task's vocabulary: ``tokenizer(text)["input_ids"]``
    equals ``task.tokenizer.encode(text)`` (one id per character for character tasks, per
    whitespace-separated word for word tasks), and ``decode`` joins tokens as the task does.

    ``<bos>``, ``<eos>``, ``<pad>`` (and the task's ``unk``) become special tokens where the
    vocabulary has them; no token is added to the text. It returns only ``input_ids`` and
    ``attention_mask`` (GPT-2 would add ``token_type_ids`` to the embedding), and
    ``model_max_length`` is the task's context length. ``save_pretrained(directory)`` writes it
    beside the model; ``AutoTokenizer.from_pretrained(directory)`` reads it back.

    >>> from explain.tasks import get
    >>> task = get("reverse")
    >>> tokenizer = hf_tokenizer(task)
    >>> tokenizer("3 1 4 > 4 1 3")["input_ids"] == task.tokenizer.encode("3 1 4 > 4 1 3")
    True
    """
    task = run_or_task.task if isinstance(run_or_task, Run) else run_or_task
    if not isinstance(task, Task):
        raise TypeError(
            f"run_or_task must be a Run (from explain.train) or a Task; "
            f"got {type(run_or_task).__name__}"
        )
    vocab = task.vocab
    specials = {key: s for key, s in SPECIALS.items() if s in vocab}
    if task.tokenizer.unk is not None:
        specials["unk_token"] = task.tokenizer.unk
    return PreTrainedTokenizerFast(
        tokenizer_object=_backend(task),
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=max(task.context_length, task.source_length or 0),
        clean_up_tokenization_spaces=False,
        **specials,
    )
