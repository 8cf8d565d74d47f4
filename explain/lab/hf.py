"""A HuggingFace model in the lab: :func:`wrap` gives it the hook points the lab's functions use.

The lab's head functions read and edit a head at ``...attn.hook_z`` ``[batch, head, q_pos,
d_head]``, the tensor the attention's output projection reads. A HuggingFace model has no such
hook point, but it has the projection (GPT-2 ``c_proj``, Llama/Qwen2/Mistral ``o_proj``,
GPT-NeoX ``attention.dense``, BERT ``attention.output.dense``, BART ``out_proj``, T5 ``o``),
and its input ``[batch, pos, n_heads * d_head]`` is the heads' outputs side by side. A forward
pre-hook on the projection shows that input to the hook point as ``[batch, head, pos, d_head]``
and feeds back what the hook point returns. That works for every attention implementation
(sdpa, eager, flash), needs neither ``head_mask`` nor attention weights, and switching a head
off there is the same as zeroing its input columns of the projection's weight (a test checks
it, per architecture).
The lens reads ``embed.hook_sum`` (what block 0 reads) and ``blocks.{i}.hook_resid_post``
(block i's output) and unembeds them through the model's own final norm and head; saliency
reads ``embed.hook_tokens``, the token embedding table's output (decoders and BERT).
``blocks.{i}.mlp.hook_post`` ``[batch, pos, d_mlp]`` is the input of the MLP's down projection
(GPT-2 ``mlp.c_proj``, Llama ``mlp.down_proj``, GPT-NeoX ``mlp.dense_4h_to_h``, BERT
``output.dense``, BART ``fc2``, T5 ``DenseReluDense.wo``), a forward pre-hook as for block
inputs. Activation patching (:func:`explain.lab.patch`) swaps these hook points in a decoder;
direct logit attribution (:func:`explain.lab.attribute`, :mod:`explain.lab.hf_attribution`)
reads them, with the projections' weights, in a pre-norm decoder.

Torch hooks are put on the HuggingFace modules only while a ``hooks()`` block is open and are
removed when it ends, also when the forward pass raises.

A model exported from a run (``wrap(to_hf(run), hf_tokenizer(run))``: GPT-2 or GPT-NeoX with
the task's vocabulary) also takes the run's Task, scored on the same held-out batches with the
same loss and metric as the run's model (:meth:`LabModel.check_task` says why another cannot).
Where the lab takes a Task, any wrapped model takes texts, scored as a person would score the
model: next-token loss and accuracy for a decoder (GPT-2, Llama, Qwen2, Mistral); for BERT the
masked-token loss and accuracy with every ``MASK_EVERY``-th non-special token masked (counting
from the first, the same positions on every call); for BART and T5 ``(source, target)`` pairs,
the decoder's next-token loss on the target (the model's own ``labels=`` loss).

    >>> from transformers import AutoModelForCausalLM, AutoTokenizer  # doctest: +SKIP
    >>> from explain import lab
    >>> gpt2 = lab.wrap(AutoModelForCausalLM.from_pretrained("gpt2"),
    ...                 AutoTokenizer.from_pretrained("gpt2"))  # doctest: +SKIP
    >>> texts = ["The cat sat on the mat.", "When Mary and John went to the store, John gave"]
    >>> lab.evaluate(gpt2, texts)  # doctest: +SKIP
    {'loss': ..., 'accuracy': ...}
    >>> scores = lab.head_importance(gpt2, texts)  # doctest: +SKIP
    >>> scores.shape  # [layer, head]  # doctest: +SKIP
    (12, 12)
    >>> most = lab.rank_heads(scores)[-3:]  # the 3 most important heads  # doctest: +SKIP
    >>> with lab.ablate(gpt2, most):  # doctest: +SKIP
    ...     lab.evaluate(gpt2, texts)
    {'loss': ..., 'accuracy': ...}
    >>> lab.logit_lens(gpt2, "The Eiffel Tower is in").shape  # doctest: +SKIP
    (13, 6, 50257)
    >>> parts = lab.attribute(gpt2, "The Eiffel Tower is in", position=5)  # doctest: +SKIP
    >>> parts.heads().shape  # each head's share of the predicted logit  # doctest: +SKIP
    (12, 12)
    >>> clean = "When Mary and John went out, John gave"
    >>> corrupt = "When Mary and John went out, Mary gave"  # as many tokens
    >>> lab.patch(gpt2, clean, corrupt, where="resid").effect.shape  # doctest: +SKIP
    (12, 9)

transformers is never imported here: a model is recognised by its class name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..hooks import HookedModule, HookFn, HookPoint, NameFilter
from ..names import z_name

__all__ = ["DECODERS", "MASK_EVERY", "SUPPORTED", "LabConfig", "LabModel", "wrap"]

MASK_EVERY = 6  # BERT: mask every 6th non-special token (~17%; BERT's pre-training masked 15%)


@dataclass(frozen=True)
class _Layout:
    """Where one architecture keeps what the lab needs (module paths from the model's root)."""

    kind: str  # "decoder", "encoder" or "encoder-decoder"
    stacks: dict[str, str]  # hook-name prefix -> its list of blocks
    attention: dict[str, tuple[str, str]]  # part -> (stack prefix, output projection in a block)
    mlp: dict[str, str]  # stack prefix -> the MLP's down projection in a block
    heads: tuple[str, ...]  # config attributes: attention heads per layer (all must agree)
    context: str | None  # config attribute: longest input, None for none (T5's relative positions)
    lens: tuple[str, str] | None  # (final norm, unembedding) the logit lens reads through


_LLAMA = _Layout(
    "decoder", {"": "model.layers"}, {"self": ("", "self_attn.o_proj")},
    {"": "mlp.down_proj"}, ("num_attention_heads",), "max_position_embeddings",
    ("model.norm", "lm_head"),
)  # fmt: skip
_LAYOUTS = {
    "GPT2LMHeadModel": _Layout(
        "decoder", {"": "transformer.h"}, {"self": ("", "attn.c_proj")}, {"": "mlp.c_proj"},
        ("n_head",), "n_positions", ("transformer.ln_f", "lm_head"),
    ),
    "LlamaForCausalLM": _LLAMA,
    "Qwen2ForCausalLM": _LLAMA,
    "MistralForCausalLM": _LLAMA,
    # GPT-NeoX (Pythia; explain's rope models export to it): attention.dense is W_o
    "GPTNeoXForCausalLM": _Layout(
        "decoder", {"": "gpt_neox.layers"}, {"self": ("", "attention.dense")},
        {"": "mlp.dense_4h_to_h"}, ("num_attention_heads",), "max_position_embeddings",
        ("gpt_neox.final_layer_norm", "lm_head"),
    ),
    # BERT's lens reads through its masked-LM head: the head's transform (dense, GELU,
    # LayerNorm) stands where a decoder's final norm stands.
    "BertForMaskedLM": _Layout(
        "encoder", {"": "bert.encoder.layer"}, {"self": ("", "attention.output.dense")},
        {"": "output.dense"}, ("num_attention_heads",), "max_position_embeddings",
        ("cls.predictions.transform", "cls.predictions.decoder"),
    ),
    "BartForConditionalGeneration": _Layout(
        "encoder-decoder",
        {"encoder.": "model.encoder.layers", "decoder.": "model.decoder.layers"},
        {"encoder": ("encoder.", "self_attn.out_proj"),
         "decoder": ("decoder.", "self_attn.out_proj"),
         "cross": ("decoder.", "encoder_attn.out_proj")},
        {"encoder.": "fc2", "decoder.": "fc2"},
        ("encoder_attention_heads", "decoder_attention_heads"), "max_position_embeddings", None,
    ),
    "T5ForConditionalGeneration": _Layout(
        "encoder-decoder", {"encoder.": "encoder.block", "decoder.": "decoder.block"},
        {"encoder": ("encoder.", "layer.0.SelfAttention.o"),
         "decoder": ("decoder.", "layer.0.SelfAttention.o"),
         "cross": ("decoder.", "layer.1.EncDecAttention.o")},
        {"encoder.": "layer.1.DenseReluDense.wo", "decoder.": "layer.2.DenseReluDense.wo"},
        ("num_heads",), None, None,
    ),
}  # fmt: skip
SUPPORTED = tuple(_LAYOUTS)
DECODERS = tuple(name for name, layout in _LAYOUTS.items() if layout.kind == "decoder")


@dataclass(frozen=True)
class LabConfig:
    """What the lab reads off a model's ``config``, for a wrapped HuggingFace model."""

    kind: str  # "decoder", "encoder" (BERT) or "encoder-decoder" (BART, T5)
    n_layers: int  # blocks per stack
    n_heads: int  # attention heads per layer
    context_length: int | None  # longest input in tokens; None: no fixed limit (T5)
    vocab_size: int  # the unembedding's outputs
    architecture: str  # the HuggingFace class name, e.g. "GPT2LMHeadModel"


def out_in_weight(projection: nn.Module) -> torch.Tensor:
    """A projection's weight as ``[out, in]``: nn.Linear's as it is, GPT-2 Conv1D's (stored
    ``[in, out]``) transposed."""
    if isinstance(projection, nn.Linear):
        return projection.weight
    return projection.weight.t()  # Conv1D: weight [in, out]


def _input_width(projection: nn.Module) -> int:
    """Features the output projection reads: nn.Linear's in_features, GPT-2 Conv1D's rows."""
    return out_in_weight(projection).shape[1]


class LabModel(HookedModule):
    """A HuggingFace model and its tokenizer, seen by the lab as a :class:`TinyTransformer` is:
    ``config.n_layers``/``n_heads``/``kind``, ``hook_names()``, ``hooks()``,
    ``run_with_cache()``, ``forward(tokens, source=None, source_mask=None) -> logits`` and, for
    the lens, ``blocks``, ``ln_final`` and ``unembed``. Build it with :func:`wrap`."""

    # The wrapped model's train/eval mode is the wrapper's: the lab saves and restores
    # ``model.training``, and a wrapper with a mode of its own would switch an eval-mode model
    # into training (dropout on) when restoring. nn.Module.train() reaches the model as a child.
    @property  # type: ignore[override]
    def training(self) -> bool:
        hf = self.__dict__.get("_modules", {}).get("hf")  # None while nn.Module.__init__ runs
        return True if hf is None else hf.training

    @training.setter
    def training(self, mode: bool) -> None:
        pass

    def __init__(self, model: nn.Module, tokenizer: Any, layout: _Layout) -> None:
        super().__init__()
        self.hf = model  # the wrapped model: a submodule, so eval()/train() reach it
        self.tokenizer = tokenizer
        self._layout = layout
        stacks = {prefix: model.get_submodule(path) for prefix, path in layout.stacks.items()}
        lengths = {prefix or "blocks": len(blocks) for prefix, blocks in stacks.items()}
        counts = {name: getattr(model.config, name) for name in layout.heads}
        for what, found in (("blocks", lengths), ("heads", counts)):
            if len(set(found.values())) != 1:
                raise ValueError(
                    f"the lab reads the encoder and decoder as one grid of layers and heads, so "
                    f"they need as many {what}; {type(model).__name__} has {found}"
                )
        heads = next(iter(counts.values()))
        context = getattr(model.config, layout.context) if layout.context else None
        self.config = LabConfig(layout.kind, next(iter(lengths.values())), heads, context,
                                model.config.vocab_size, type(model).__name__)  # fmt: skip
        # hook name -> (HF module, where on it); in forward order, as TinyTransformer lists them
        self._sites: dict[str, tuple[nn.Module, str]] = {}
        if layout.kind != "encoder-decoder":  # saliency's input; BART's and T5's table feeds
            # both stacks, and the lens and saliency read one
            self._sites["embed.hook_tokens"] = (model.get_input_embeddings(), "output")
        for prefix, blocks in stacks.items():
            self._sites[f"{prefix}embed.hook_sum"] = (blocks[0], "input")
            for layer, block in enumerate(blocks):
                for part, (stack, path) in layout.attention.items():
                    if stack == prefix:
                        self._sites[z_name(layer, part)] = (block.get_submodule(path), "z")
                down = block.get_submodule(layout.mlp[prefix])  # reads the MLP's hidden layer
                self._sites[f"{prefix}blocks.{layer}.mlp.hook_post"] = (down, "input")
                self._sites[f"{prefix}blocks.{layer}.hook_resid_post"] = (block, "output")
        for name, (module, where) in self._sites.items():
            if where == "z" and _input_width(module) % heads:
                raise ValueError(
                    f"{name}: the output projection reads {_input_width(module)} features, "
                    f"not a multiple of the {heads} heads"
                )
        self.hook_dict = {name: HookPoint() for name in self._sites}
        for name, point in self.hook_dict.items():
            point.name = name
        self._attached: dict[str, tuple[Any, int]] = {}  # name -> (torch handle, users)

    # ------------------------------------------------------------------ what the lab reads

    @property
    def device(self) -> torch.device:
        return next(self.hf.parameters()).device

    @property
    def blocks(self) -> nn.ModuleList:
        """The decoder-only or encoder model's blocks (the lens counts them)."""
        return self.hf.get_submodule(next(iter(self._layout.stacks.values())))

    def site(self, name: str) -> nn.Module:
        """The HuggingFace module hook point ``name`` reads at: the attention's output
        projection for ``...attn.hook_z``, the MLP's down projection for ``...mlp.hook_post``,
        a block for ``embed.hook_sum`` and ``hook_resid_post``."""
        self._match(name)  # a ValueError listing the hook names for an unknown one
        return self._sites[name][0]

    @property
    def ln_final(self) -> nn.Module:
        return self.hf.get_submodule(self.lens_modules()[0])

    @property
    def unembed(self) -> nn.Module:
        return self.hf.get_submodule(self.lens_modules()[1])

    def lens_modules(self) -> tuple[str, str]:
        """Paths of the final norm and the unembedding the logit lens reads through."""
        if self._layout.lens is None:
            readable = [name for name, layout in _LAYOUTS.items() if layout.lens]
            raise ValueError(
                f"the logit lens reads decoder-only and BERT models ({', '.join(readable)}); "
                f"not {self.config.architecture}"
            )
        return self._layout.lens

    def forward(
        self,
        tokens: torch.Tensor,
        source: torch.Tensor | None = None,
        source_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[batch, pos, vocab]`` for ``tokens`` (the decoder's input; BERT's input)."""
        if self.config.kind == "decoder":
            # Right padding needs no mask: a causal model never looks ahead. All ones, so HF
            # does not warn that pad ids may be attended to.
            mask = torch.ones_like(tokens)  # (B, T)
            return self.hf(input_ids=tokens, attention_mask=mask, use_cache=False).logits
        if self.config.kind == "encoder":
            mask = (tokens != self.tokenizer.pad_token_id).long()  # (B, T); BERT sees both ways
            return self.hf(input_ids=tokens, attention_mask=mask).logits
        if source is None:
            raise ValueError(f"{self.config.architecture} needs source ids (the encoder's input)")
        mask = torch.ones_like(source) if source_mask is None else source_mask.long()
        return self.hf(input_ids=source, attention_mask=mask, decoder_input_ids=tokens,
                       use_cache=False).logits  # fmt: skip

    # ------------------------------------------------------------------ hooks

    @contextlib.contextmanager
    def hooks(self, fwd: Iterable[tuple[NameFilter, HookFn]] = ()) -> Iterator[LabModel]:
        """:meth:`HookedModule.hooks`, with each used hook point's torch hook on the HF module
        for the duration. Nested blocks share one torch hook per point; the last to end
        removes it, also when the forward pass raises."""
        fwd = list(fwd)
        used = list(dict.fromkeys(hp.name for name, _ in fwd for hp in self._match(name)))
        attached: list[str] = []
        try:
            for name in used:
                self._attach(name)
                attached.append(name)
            with super().hooks(fwd):
                yield self
        finally:
            for name in reversed(attached):
                self._detach(name)

    def _attach(self, name: str) -> None:
        handle, users = self._attached.get(name, (None, 0))
        if handle is None:
            module, where = self._sites[name]
            point = self.hook_dict[name]
            if where == "z":
                handle = module.register_forward_pre_hook(self._z_hook(point))
            elif where == "input":
                handle = module.register_forward_pre_hook(_input_hook(point), with_kwargs=True)
            else:
                handle = module.register_forward_hook(_output_hook(point))
        self._attached[name] = (handle, users + 1)

    def _detach(self, name: str) -> None:
        handle, users = self._attached.pop(name)
        if users > 1:
            self._attached[name] = (handle, users - 1)
        else:
            handle.remove()

    def _z_hook(self, point: HookPoint) -> Callable[..., tuple]:
        n_heads = self.config.n_heads

        def hook(module: nn.Module, args: tuple) -> tuple:
            x = args[0]  # (B, T, nh * hs): the heads' outputs side by side
            z = x.unflatten(-1, (n_heads, -1)).transpose(1, 2)  # (B, nh, T, hs)
            z = point(z).transpose(1, 2).flatten(2)  # (B, T, nh * hs)
            return (z.to(x.dtype), *args[1:])  # a float32 gate must not change a bf16 model

        return hook

    # ------------------------------------------------------------------ texts

    def check_task(self, task: Any) -> None:
        """A ValueError unless the model reads ``task``'s batches as the task's own model does:
        a decoder with the task's vocabulary, numbered as the task numbers it, and room for its
        sequences (a model exported with ``to_hf(run)`` and ``hf_tokenizer(run)`` does)."""
        name = self.config.architecture
        if task.kind != "decoder" or self.config.kind != "decoder":
            raise ValueError(
                f"a Task scores a wrapped decoder on the task's own batches; task {task.name!r} "
                f"is {task.kind!r} and {name} is {self.config.kind!r} (give it texts instead)"
            )
        ids = [self.tokenizer.convert_tokens_to_ids(token) for token in task.vocab]
        if self.config.vocab_size != task.vocab_size or ids != list(range(task.vocab_size)):
            raise ValueError(
                f"task {task.name!r} numbers its {task.vocab_size} tokens 0..{task.vocab_size - 1}"
                f"; {name} (vocabulary {self.config.vocab_size}) and its tokenizer number them "
                f"{ids[:12]}{' ...' * (len(ids) > 12)}. A Task goes with the model exported from "
                "its run: lab.wrap(to_hf(run), hf_tokenizer(run)); other models take texts"
            )
        context = self.config.context_length
        if context is not None and task.context_length > context:
            raise ValueError(
                f"task {task.name!r} has sequences of {task.context_length} tokens; {name} "
                f"reads at most {context} ({self._layout.context})"
            )

    def encode(self, text: str, what: str = "text") -> list[int]:
        """Token ids of ``text`` as the tokenizer gives them (special tokens included); a text
        longer than the model's context is a ValueError giving both lengths."""
        if not isinstance(text, str):
            raise ValueError(f"{what} must be a string; got {type(text).__name__}")
        ids = list(self.tokenizer(text)["input_ids"])
        context = self.config.context_length
        if context is not None and len(ids) > context:
            raise ValueError(
                f"{what} has {len(ids)} tokens; {self.config.architecture} reads at most "
                f"{context} ({self._layout.context})"
            )
        return ids

    def batch(self, texts: Sequence[Any]) -> dict[str, torch.Tensor]:
        """All ``texts`` as one right-padded batch, in the lab's format (see
        :func:`explain.batches.to_torch`): ``inputs``, ``targets`` and the loss ``mask``
        ``[batch, pos]``, ``real`` (True on real tokens of ``inputs``), and for BART/T5
        ``source`` and ``source_mask``. Texts are strings; ``(source, target)`` pairs for
        BART and T5."""
        texts = self.check_texts(texts)
        if self.config.kind == "decoder":
            return self._next_token_batch(texts)
        if self.config.kind == "encoder":
            return self._masked_batch(texts)
        return self._pair_batch(texts)

    def batches(self, texts: Sequence[Any], batch_size: int) -> list[dict[str, torch.Tensor]]:
        """``texts`` in batches of ``batch_size`` (see :meth:`batch`)."""
        texts = self.check_texts(texts)
        return [self.batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]

    def check_texts(self, texts: Any) -> list[Any]:
        """``texts`` as a list if it holds what :meth:`batch` reads (strings; ``(source,
        target)`` string pairs for BART and T5), else a ValueError naming the bad one."""
        pairs = self.config.kind == "encoder-decoder"
        expected = "(source, target) string pairs" if pairs else "strings"
        one = "a (source, target) pair of strings" if pairs else "a string"
        if isinstance(texts, str | bytes) or not isinstance(texts, Iterable):
            raise ValueError(f"texts must be a list of {expected}; got {type(texts).__name__}")
        texts = list(texts)
        if not texts:
            raise ValueError(f"texts must hold at least one of the {expected}; got none")
        for i, text in enumerate(texts):
            strings = list(text) if isinstance(text, tuple | list) and pairs else [text]
            if len(strings) != (2 if pairs else 1) or not all(isinstance(t, str) for t in strings):
                raise ValueError(
                    f"texts[{i}] must be {one} for {self.config.architecture}; got {text!r}"
                )
        return texts

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids and the real-token mask, both ``[batch, pos]``."""
        width = max(len(row) for row in rows)
        pad = self.tokenizer.pad_token_id or 0  # decoders: any id, never attended to
        ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows], device=self.device)
        real = torch.tensor([[True] * len(row) + [False] * (width - len(row)) for row in rows],
                            device=self.device)  # fmt: skip
        return ids, real

    def _next_token_batch(self, texts: list[str]) -> dict[str, torch.Tensor]:
        rows = [self.encode(text, f"texts[{i}]") for i, text in enumerate(texts)]
        for i, row in enumerate(rows):
            if len(row) < 2:
                raise ValueError(
                    f"texts[{i}] ({texts[i]!r}) has {len(row)} token; a next-token loss needs 2"
                )
        inputs, real = self._pad(rows)  # (B, T)
        targets, mask = torch.zeros_like(inputs), torch.zeros_like(real)
        targets[:, :-1], mask[:, :-1] = inputs[:, 1:], real[:, 1:]  # position t predicts t + 1
        return {"inputs": inputs, "targets": targets, "mask": mask, "real": real}

    def _masked_batch(self, texts: list[str]) -> dict[str, torch.Tensor]:
        rows = [self.encode(text, f"texts[{i}]") for i, text in enumerate(texts)]
        targets, real = self._pad(rows)  # (B, T)
        special = set(self.tokenizer.all_special_ids)
        mask = torch.zeros_like(real)
        for i, row in enumerate(rows):
            content = [pos for pos, token in enumerate(row) if token not in special]
            if not content:
                raise ValueError(f"texts[{i}] ({texts[i]!r}) has no token to mask")
            mask[i, content[::MASK_EVERY]] = True
        inputs = targets.masked_fill(mask, self.tokenizer.mask_token_id)
        return {"inputs": inputs, "targets": targets, "mask": mask, "real": real}

    def _pair_batch(self, pairs: list[Any]) -> dict[str, torch.Tensor]:
        sources = [self.encode(src, f"texts[{i}][0]") for i, (src, _) in enumerate(pairs)]
        targets = [self.encode(tgt, f"texts[{i}][1]") for i, (_, tgt) in enumerate(pairs)]
        source, source_mask = self._pad(sources)  # (B, S)
        target, real = self._pad(targets)  # (B, T)
        start = self.hf.config.decoder_start_token_id
        inputs = torch.cat([torch.full_like(target[:, :1], start), target[:, :-1]], dim=1)
        return {"inputs": inputs, "targets": target, "mask": real, "real": real,
                "source": source, "source_mask": source_mask}  # fmt: skip


def _input_hook(point: HookPoint) -> Callable[..., tuple]:
    """Forward pre-hook (with kwargs) that passes a module's first input through: a block's
    hidden states (positional or ``hidden_states=``), a down projection's input."""

    def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple:
        if args:
            return (point(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": point(kwargs["hidden_states"])}

    return hook


def _output_hook(point: HookPoint) -> Callable[..., Any]:
    """Forward hook that passes a block's output hidden states (alone or first) through."""

    def hook(module: nn.Module, args: tuple, output: Any) -> Any:
        if isinstance(output, tuple):
            return (point(output[0]), *output[1:])
        return point(output)

    return hook


def _layout(model: Any) -> _Layout:
    for cls in type(model).__mro__:
        if cls.__name__ in _LAYOUTS:
            return _LAYOUTS[cls.__name__]
    raise TypeError(
        f"lab.wrap does not know {type(model).__name__}; it reads {', '.join(SUPPORTED)} "
        "(load one with e.g. AutoModelForCausalLM or BertForMaskedLM)"
    )


def wrap(model: nn.Module, tokenizer: Any) -> LabModel:
    """``model`` (a HuggingFace model of a class in :data:`SUPPORTED`) and its tokenizer as a
    :class:`LabModel`, which the lab's ``evaluate``, ``ablate``, ``head_importance``,
    ``prune_curve``, ``logit_lens``, ``saliency``, ``attribute`` (pre-norm decoders) and
    ``patch`` (decoders) take where they take a TinyTransformer (texts where they take a Task
    or ids; :func:`explain.lab.record_hf` records the heads, pruning, lens, saliency and
    attribution into a trace). ``path_patch`` and the rest of the lab take a TinyTransformer
    only. The model is used as it is, not copied."""
    layout = _layout(model)
    if layout.kind == "encoder":
        for token in ("mask", "pad"):
            if getattr(tokenizer, f"{token}_token_id", None) is None:
                raise ValueError(
                    f"{type(model).__name__} needs the tokenizer's {token} token "
                    f"({'masked-token loss' if token == 'mask' else 'batches of texts'}); "
                    f"{type(tokenizer).__name__} has none (set tokenizer.{token}_token)"
                )
    if layout.kind == "encoder-decoder" and model.config.decoder_start_token_id is None:
        raise ValueError(f"{type(model).__name__}'s config has no decoder_start_token_id")
    return LabModel(model, tokenizer, layout)
