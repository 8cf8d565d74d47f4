"""explain.lab.wrap: a HuggingFace model in the lab, each number checked against the model's own.

Every model is a tiny random-init one built from its config; nothing is downloaded. The
independent references: switching a head off is zeroing its input columns of the attention's
output projection in a deep copy; the loss is the model's own ``labels=`` loss; the gradient
importance is a finite difference of a weight scale on those columns; the mean is taken by a
hand-written torch hook.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when transformers is imported: never download
transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
torch = pytest.importorskip("torch")

from explain import lab  # noqa: E402
from explain.batches import model_inputs  # noqa: E402
from explain.lab.hf import MASK_EVERY  # noqa: E402

WORDS = "the cat sat on mat dog a ran big red".split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = len(SPECIALS) + len(WORDS)
TEXTS = [
    "the cat sat on the mat the dog ran",
    "a big red dog ran on the mat",
    "the cat sat",
]
PAIRS = [(TEXTS[0], TEXTS[1]), (TEXTS[2], "a red cat ran"), (TEXTS[1], TEXTS[2])]
ARCHS = ["gpt2", "llama", "bert", "bart", "t5"]
PARTS = {"gpt2": "self", "llama": "self", "bert": "self", "bart": "decoder", "t5": "decoder"}
# Where each architecture keeps a layer's attention output projection, per part.
PROJECTION = {
    "gpt2": {"self": "transformer.h.{}.attn.c_proj"},
    "llama": {"self": "model.layers.{}.self_attn.o_proj"},
    "bert": {"self": "bert.encoder.layer.{}.attention.output.dense"},
    "bart": {"encoder": "model.encoder.layers.{}.self_attn.out_proj",
             "decoder": "model.decoder.layers.{}.self_attn.out_proj",
             "cross": "model.decoder.layers.{}.encoder_attn.out_proj"},
    "t5": {"encoder": "encoder.block.{}.layer.0.SelfAttention.o",
           "decoder": "decoder.block.{}.layer.0.SelfAttention.o",
           "cross": "decoder.block.{}.layer.1.EncDecAttention.o"},
}  # fmt: skip
CASES = [(arch, part) for arch in ARCHS for part in PROJECTION[arch]]


def tokenizer(wrap: bool = False, **specials: str | None):
    """A word-level tokenizer; ``wrap`` adds [CLS] ... [SEP] (BERT's)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {word: i for i, word in enumerate(SPECIALS + WORDS)}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if wrap:
        inner.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
    named = dict(pad_token="[PAD]", mask_token="[MASK]", cls_token="[CLS]", sep_token="[SEP]")
    named.update(specials)
    named = {key: value for key, value in named.items() if value is not None}
    return transformers.PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="[UNK]", **named)


def hf_model(arch: str):
    """A tiny float64 model with weights large enough that every head changes the loss."""
    torch.manual_seed(0)
    size = dict(vocab_size=VOCAB, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    if arch == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, n_positions=32,
                                         initializer_range=0.3, **size)  # fmt: skip
        model = transformers.GPT2LMHeadModel(config)
    elif arch == "llama":  # RoPE, RMSNorm, SwiGLU, and grouped-query attention: 4 heads, 2 kv
        config = transformers.LlamaConfig(
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_size=16,
            intermediate_size=32, max_position_embeddings=32, initializer_range=0.3, **size,
        )  # fmt: skip
        model = transformers.LlamaForCausalLM(config)
    elif arch == "bert":
        config = transformers.BertConfig(
            num_hidden_layers=2, num_attention_heads=2, hidden_size=16, intermediate_size=32,
            max_position_embeddings=32, initializer_range=0.3, **size,
        )  # fmt: skip
        model = transformers.BertForMaskedLM(config)
    elif arch == "bart":
        config = transformers.BartConfig(
            d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
            max_position_embeddings=32, decoder_start_token_id=2, init_std=0.3, **size,
        )  # fmt: skip
        model = transformers.BartForConditionalGeneration(config)
    else:
        config = transformers.T5Config(d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                                       decoder_start_token_id=0, **size)  # fmt: skip
        model = transformers.T5ForConditionalGeneration(config)
    return model.double().eval()


def wrapped(arch: str):
    model = hf_model(arch)
    return model, lab.wrap(model, tokenizer(wrap=arch == "bert"))


def data(arch: str) -> list:
    return PAIRS if arch in ("bart", "t5") else TEXTS


# ---------------------------------------------------------------------------- the model's own


def own_batch(arch: str, texts: list, tok) -> dict:
    """HF keyword arguments for ``texts`` with ``labels=``: the tokenizer's own padding; BERT
    masks every MASK_EVERY-th non-special token; BART/T5 shift the labels themselves."""
    if arch in ("bart", "t5"):
        source = tok([s for s, _ in texts], padding=True, return_tensors="pt")
        target = tok([t for _, t in texts], padding=True, return_tensors="pt")
        labels = target["input_ids"].masked_fill(target["attention_mask"] == 0, -100)
        return dict(**source, labels=labels)
    enc = tok(texts, padding=True, return_tensors="pt")
    ids, attention = enc["input_ids"], enc["attention_mask"]
    if arch != "bert":
        return dict(input_ids=ids, attention_mask=attention,
                    labels=ids.masked_fill(attention == 0, -100))  # fmt: skip
    chosen = torch.zeros_like(ids, dtype=torch.bool)
    for row in range(len(texts)):
        content = [p for p in range(ids.shape[1])
                   if attention[row, p] and int(ids[row, p]) not in (0, 2, 3)]  # fmt: skip
        chosen[row, content[::MASK_EVERY]] = True
    return dict(input_ids=ids.masked_fill(chosen, tok.mask_token_id), attention_mask=attention,
                labels=ids.masked_fill(~chosen, -100))  # fmt: skip


def own_loss(model, arch: str, texts: list, tok) -> tuple[float, float]:
    """The model's own ``labels=`` loss and a hand-written accuracy on one batch."""
    kwargs = own_batch(arch, texts, tok)
    with torch.no_grad():
        out = model(**kwargs)
    logits, labels = out.logits, kwargs["labels"]
    if arch in ("gpt2", "llama"):  # position t predicts token t + 1
        logits, labels = logits[:, :-1], labels[:, 1:]
    scored = labels != -100
    right = (logits.argmax(-1) == labels)[scored].double().mean()
    return float(out.loss), float(right)


def zeroed(model, arch: str, part: str, heads: list[tuple[int, int]]):
    """A deep copy with each head's input columns of the output projection set to zero."""
    off = copy.deepcopy(model)
    for layer, head in heads:
        scale_head(off, arch, part, layer, head, 0.0)
    return off


def scale_head(model, arch: str, part: str, layer: int, head: int, factor: float) -> None:
    projection = model.get_submodule(PROJECTION[arch][part].format(layer))
    weight = projection.weight  # nn.Linear [out, in]; GPT-2 Conv1D [in, out]
    width = (weight.shape[0] if arch == "gpt2" else weight.shape[1]) // n_heads(model, arch)
    cols = slice(head * width, (head + 1) * width)
    with torch.no_grad():
        if arch == "gpt2":
            weight[cols, :] *= factor
        else:
            weight[:, cols] *= factor


def n_heads(model, arch: str) -> int:
    name = {"gpt2": "n_head", "t5": "num_heads", "bart": "decoder_attention_heads"}
    return getattr(model.config, name.get(arch, "num_attention_heads"))


# ---------------------------------------------------------------------------- tests


@pytest.mark.parametrize("arch, part", CASES)
def test_ablating_a_head_equals_zeroing_its_columns_of_the_output_projection(arch, part):
    model, wrapper = wrapped(arch)
    heads = [(1, 1)] if arch != "llama" else [(0, 2), (1, 1)]  # Llama: two heads of one kv group
    batch = wrapper.batch(data(arch))
    with torch.no_grad():
        base = wrapper(**model_inputs(batch))
        with lab.ablate(wrapper, heads, part=part):
            ablated = wrapper(**model_inputs(batch))
        want = zeroed(model, arch, part, heads)
        reference = own_batch(arch, data(arch), wrapper.tokenizer)
        reference.pop("labels")
        if arch in ("bart", "t5"):
            reference["decoder_input_ids"] = batch["inputs"]
        elif arch == "bert":
            reference["input_ids"] = batch["inputs"]
        expected = want(**reference).logits
    real = batch["real"]
    diff = (ablated - expected)[real].abs().max().item()
    assert diff < 1e-10, diff
    assert (ablated - base)[real].abs().max().item() > 1e-3  # the head mattered
    got = lab.evaluate(wrapper, data(arch), heads_off=heads, part=part, batch_size=8)
    loss, accuracy = own_loss(want, arch, data(arch), wrapper.tokenizer)
    assert got["loss"] == pytest.approx(loss, rel=1e-6)  # HF's causal-LM loss is float32
    assert got["accuracy"] == pytest.approx(accuracy, abs=1e-12)


@pytest.mark.parametrize("arch", ARCHS)
def test_evaluate_is_the_models_own_loss_and_accuracy_batch_by_batch(arch):
    model, wrapper = wrapped(arch)
    texts = data(arch)
    got = lab.evaluate(wrapper, texts, batch_size=2)  # batches: texts[:2], texts[2:]
    own = [own_loss(model, arch, texts[i : i + 2], wrapper.tokenizer) for i in (0, 2)]
    assert got["loss"] == pytest.approx(np.mean([loss for loss, _ in own]), rel=1e-6)
    assert got["accuracy"] == pytest.approx(np.mean([acc for _, acc in own]), abs=1e-12)
    assert model.training is False  # the model's own mode is kept


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_a_text_the_model_wrote_greedily_is_predicted_exactly(arch):
    model, wrapper = wrapped(arch)
    start = torch.tensor([[wrapper.tokenizer.convert_tokens_to_ids("the")]])
    with torch.no_grad():
        ids = model.generate(start, attention_mask=torch.ones_like(start), max_new_tokens=8,
                             do_sample=False, pad_token_id=0)[0]  # fmt: skip
    text = " ".join(wrapper.tokenizer.convert_ids_to_tokens(ids.tolist()))
    assert wrapper.encode(text) == ids.tolist()
    assert lab.evaluate(wrapper, [text])["accuracy"] == 1.0
    mixed = lab.evaluate(wrapper, [text, *TEXTS], batch_size=4)["accuracy"]
    assert mixed == pytest.approx(own_loss(model, arch, [text, *TEXTS], wrapper.tokenizer)[1])
    assert 0 < mixed < 1


def gated_loss(model, arch: str, part: str, gates, kwargs: dict):
    """The model's own ``labels=`` loss with each head's input columns of the output
    projection's weight multiplied by its gate ``gates[layer, head]`` (a functional call)."""
    weights = {}
    for layer in range(gates.shape[0]):
        name = PROJECTION[arch][part].format(layer)
        weight = model.get_submodule(name).weight  # Linear [out, in]; GPT-2 Conv1D [in, out]
        width = (weight.shape[0] if arch == "gpt2" else weight.shape[1]) // gates.shape[1]
        scale = gates[layer].repeat_interleave(width)  # (nh * hs,)
        weights[f"{name}.weight"] = weight * (scale[:, None] if arch == "gpt2" else scale)
    return torch.func.functional_call(model, weights, kwargs=kwargs).loss


@pytest.mark.parametrize("arch, part", CASES)
def test_gradient_importance_is_the_gradient_of_a_gate_on_the_heads_weight_columns(arch, part):
    model, wrapper = wrapped(arch)
    texts, tok = data(arch), wrapper.tokenizer
    scores = lab.head_importance(wrapper, texts, part=part, batch_size=2)  # two batches
    expected = np.zeros_like(scores)
    for i in (0, 2):
        gates = torch.ones(scores.shape, dtype=torch.float64, requires_grad=True)
        loss = gated_loss(model, arch, part, gates, own_batch(arch, texts[i : i + 2], tok))
        expected += torch.autograd.grad(loss, gates)[0].abs().numpy() / 2
    np.testing.assert_allclose(scores, expected, rtol=1e-5)  # HF's causal-LM loss is float32
    assert expected.min() > 1e-4  # every head matters, so the comparison says something
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("arch", ["gpt2", "bert", "bart"])  # float64 throughout; Llama's and
def test_gradient_importance_is_a_finite_difference_of_the_heads_weight_scale(arch):  # T5's
    model, wrapper = wrapped(arch)  # RMSNorm compute in float32, too coarse for a difference
    texts, tok, part = data(arch), wrapper.tokenizer, PARTS[arch]
    scores = lab.head_importance(wrapper, texts, part=part, batch_size=8)  # one batch
    eps = 1e-4
    expected = np.zeros_like(scores)
    for layer, head in np.ndindex(*scores.shape):
        losses = []
        for factor in (1 + eps, 1 - eps):  # z * factor, written into the projection's weight
            scaled = copy.deepcopy(model)
            scale_head(scaled, arch, part, layer, head, factor)
            losses.append(lab.evaluate(lab.wrap(scaled, tok), texts, batch_size=8)["loss"])
        expected[layer, head] = abs(losses[0] - losses[1]) / (2 * eps)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    ablation = lab.head_importance(wrapper, texts, "ablation", part=part, batch_size=8)
    base = lab.evaluate(wrapper, texts, batch_size=8)["loss"]
    for layer, head in [(0, 0), (1, 1)]:
        off = lab.evaluate(lab.wrap(zeroed(model, arch, part, [(layer, head)]), tok), texts,
                           batch_size=8)["loss"]  # fmt: skip
        assert ablation[layer, head] == pytest.approx(off - base, abs=1e-10)


def projection_input(model, arch: str, part: str, layer: int, kwargs: dict) -> torch.Tensor:
    """The output projection's input ``[batch, pos, n_heads * d_head]``, by a plain torch hook."""
    seen = []
    module = model.get_submodule(PROJECTION[arch][part].format(layer))
    handle = module.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            model(**kwargs)
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("arch, part", [("gpt2", "self"), ("llama", "self"), ("bert", "self"),
                                        ("bart", "cross"), ("t5", "encoder")])  # fmt: skip
def test_mean_ablation_is_the_hand_computed_mean_of_each_position(arch, part):
    model, wrapper = wrapped(arch)
    reference, tok = data(arch), wrapper.tokenizer
    layer, head = 1, 1
    width = 16 // n_heads(model, arch) if arch != "t5" else 8
    cols = slice(head * width, (head + 1) * width)
    kwargs = own_batch(arch, reference, tok)
    if arch in ("bart", "t5") and part != "encoder":
        target = tok([t for _, t in reference], padding=True, return_tensors="pt")
        real = target["attention_mask"]  # decoder positions: the target's tokens
    else:
        real = kwargs["attention_mask"]  # (B, T)
    x = projection_input(model, arch, part, layer, kwargs)[..., cols]  # (B, T, hs)
    weights = real[..., None].double()  # (B, T, 1)
    mean = (x * weights).sum(0) / weights.sum(0)  # (T, hs): over the texts reaching each position

    def replace(module, args):
        x = args[0].clone()
        x[..., cols] = mean[: x.shape[1]]
        return (x,)

    texts = [reference[1], reference[2]]
    hooked = copy.deepcopy(model)
    hooked.get_submodule(PROJECTION[arch][part].format(layer)).register_forward_pre_hook(replace)
    want, _ = own_loss(hooked, arch, texts, tok)
    got = lab.evaluate(wrapper, texts, heads_off=[(layer, head)], mode="mean",
                       reference=reference, part=part, batch_size=8)["loss"]  # fmt: skip
    zero = lab.evaluate(wrapper, texts, heads_off=[(layer, head)], part=part, batch_size=8)
    assert got == pytest.approx(want, rel=1e-6)
    assert abs(got - zero["loss"]) > 1e-4  # the mean is not zero


def all_torch_hooks(model) -> list:
    return [(name, hooks) for name, module in model.named_modules()
            for hooks in (module._forward_pre_hooks, module._forward_hooks) if hooks]  # fmt: skip


@pytest.mark.parametrize("arch", ARCHS)
def test_hooks_are_removed_when_the_block_or_the_forward_pass_raises(arch):
    model, wrapper = wrapped(arch)
    batch = wrapper.batch(data(arch))
    with pytest.raises(RuntimeError, match="inside the block"):
        with lab.ablate(wrapper, [(0, 1), (1, 0)], part=PARTS[arch]):
            assert all_torch_hooks(model)
            raise RuntimeError("inside the block")
    assert all_torch_hooks(model) == []

    def read(x, hook):
        return None

    def boom(z, hook):
        raise RuntimeError(f"inside the forward pass at {hook.name}")

    name = lab.z_name(1, PARTS[arch])
    stack = "decoder." if arch in ("bart", "t5") else ""
    hooks = [(f"{stack}embed.hook_sum", read), (f"{stack}blocks.0.hook_resid_post", read)]
    with pytest.raises(RuntimeError, match=f"forward pass at {name}"):
        with wrapper.hooks(fwd=[*hooks, (name, boom)]):
            wrapper(**model_inputs(batch))
    assert all_torch_hooks(model) == []
    assert all(point.fns == [] for point in wrapper.hook_dict.values())


def test_a_nested_block_leaves_the_outer_blocks_hook_in_place():
    model, wrapper = wrapped("gpt2")
    tokens = wrapper.batch(TEXTS)["inputs"]
    with torch.no_grad(), lab.ablate(wrapper, [(1, 1)]):
        outer = wrapper(tokens)
        with lab.ablate(wrapper, [(1, 0)]):
            both = wrapper(tokens)
        after = wrapper(tokens)
    assert torch.equal(after, outer) and not torch.equal(both, outer)
    assert all_torch_hooks(model) == []
    with torch.no_grad():
        expected = zeroed(model, "gpt2", "self", [(1, 1), (1, 0)])(tokens).logits
    assert torch.allclose(both, expected, atol=1e-10)


@pytest.mark.parametrize("arch", ARCHS)
def test_prune_curve_removes_heads_as_zeroed_columns_do(arch):
    model, wrapper = wrapped(arch)
    texts, tok, part = data(arch), wrapper.tokenizer, PARTS[arch]
    order = [(layer, head) for head in range(wrapper.config.n_heads) for layer in (1, 0)]
    curve = lab.prune_curve(wrapper, texts, order=order, batch_size=8)
    for k in (0, 1, len(order) - 1, len(order)):
        want, accuracy = own_loss(zeroed(model, arch, part, order[:k]), arch, texts, tok)
        assert curve.loss[k] == pytest.approx(want, rel=1e-6)
        assert curve.accuracy[k] == pytest.approx(accuracy, abs=1e-12)
    assert curve.order == tuple(order)
    default = lab.prune_curve(wrapper, texts, batch_size=8)  # gradient order
    scores = lab.head_importance(wrapper, texts, batch_size=8)
    assert default.order == tuple(lab.rank_heads(scores))


@pytest.mark.parametrize("arch", ["gpt2", "llama", "bert"])
def test_logit_lens_reads_each_blocks_output_through_the_final_norm_and_head(arch):
    model, wrapper = wrapped(arch)
    text = TEXTS[1]
    probs = lab.logit_lens(wrapper, text)
    assert all_torch_hooks(model) == []  # (output_hidden_states below leaves HF's own hooks)
    ids = torch.tensor([wrapper.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        # HF's hidden_states: the embedding, then each block's output, the last one normed
        if arch == "bert":
            head = model.cls.predictions
            rows = [head(h) for h in out.hidden_states]
        else:
            norm, unembed = (model.transformer.ln_f, model.lm_head) if arch == "gpt2" else (
                model.model.norm, model.lm_head)  # fmt: skip
            rows = [unembed(norm(h)) for h in out.hidden_states[:-1]] + [out.logits]
    expected = torch.softmax(torch.cat(rows), -1).numpy()  # (L + 1, T, vocab)
    assert probs.shape == (wrapper.config.n_layers + 1, ids.shape[1], VOCAB)
    np.testing.assert_allclose(probs, expected, atol=1e-12)
    np.testing.assert_allclose(lab.logit_lens(wrapper, ids[0]), probs)  # ids work too


# ---------------------------------------------------------------------------- bad input


def test_an_unknown_model_class_is_named_with_the_supported_ones():
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=VOCAB)
    known = r"it reads GPT2LMHeadModel, LlamaForCausalLM, .*T5ForConditionalGeneration"
    with pytest.raises(TypeError, match=f"does not know GPT2Model; {known}"):
        lab.wrap(transformers.GPT2Model(config), tokenizer())


def test_an_encoder_and_decoder_of_other_sizes_are_refused_naming_both():
    base = dict(d_model=16, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=VOCAB)
    for sizes, message in [
        (dict(encoder_layers=3, decoder_layers=2),
         r"as many blocks; .*\{'encoder.': 3, 'decoder.': 2\}"),
        (dict(encoder_attention_heads=4, decoder_attention_heads=2),
         r"as many heads; .*'encoder_attention_heads': 4, 'decoder_attention_heads': 2"),
    ]:  # fmt: skip
        model = transformers.BartForConditionalGeneration(transformers.BartConfig(**base, **sizes))
        with pytest.raises(ValueError, match=message):
            lab.wrap(model, tokenizer())


@pytest.mark.parametrize("token, why", [("mask", "masked-token loss"), ("pad", "batches")])
def test_bert_without_a_mask_or_pad_token_is_refused_naming_it(token, why):
    model = hf_model("bert")
    with pytest.raises(ValueError, match=f"needs the tokenizer's {token} token \\({why}.*"
                                         f"set tokenizer.{token}_token"):  # fmt: skip
        lab.wrap(model, tokenizer(wrap=True, **{f"{token}_token": None}))


def test_bad_texts_are_refused_naming_the_text_and_what_was_expected():
    _, gpt2 = wrapped("gpt2")
    long = " ".join(["the"] * 40)
    cases = [
        ([TEXTS[0], long], r"texts\[1\] has 40 tokens; GPT2LMHeadModel reads at most 32 "
                           r"\(n_positions\)"),
        ([], "texts must hold at least one of the strings; got none"),
        ("the cat", "texts must be a list of strings; got str"),
        ([TEXTS[0], 3], r"texts\[1\] must be a string for GPT2LMHeadModel; got 3"),
        (["the"], r"texts\[0\] \('the'\) has 1 token; a next-token loss needs 2"),
    ]  # fmt: skip
    for texts, message in cases:
        with pytest.raises(ValueError, match=message):
            lab.evaluate(gpt2, texts)
    with pytest.raises(ValueError, match="text has 40 tokens; GPT2LMHeadModel reads at most 32"):
        lab.logit_lens(gpt2, long)
    _, bart = wrapped("bart")
    with pytest.raises(ValueError, match=r"texts\[0\] must be a \(source, target\) pair"):
        lab.head_importance(bart, TEXTS)
    with pytest.raises(ValueError, match="the logit lens reads decoder-only and BERT models"):
        lab.logit_lens(bart, "the cat")


def test_what_a_wrapped_model_cannot_do_says_so():
    _, gpt2 = wrapped("gpt2")
    with pytest.raises(ValueError, match="use retrain_steps=0 for a wrapped HuggingFace model"):
        lab.prune_curve(gpt2, TEXTS, retrain_steps=2)
    with pytest.raises(TypeError, match="prune_curve, logit_lens, saliency, attribute and patch"):
        lab.magnitude_prune(gpt2, 0.5)
    with pytest.raises(TypeError, match="path_patch needs an explain TinyTransformer: .*q, k or v"):
        lab.path_patch(gpt2, [5, 6, 7], [5, 6, 8], receiver=(1, 0, "k"))
    with pytest.raises(TypeError, match=r"got str \(a HuggingFace model goes in wrapped"):
        lab.evaluate("gpt2", TEXTS)
    _, bart = wrapped("bart")  # saliency reads one stack's token embeddings, as the lens does
    with pytest.raises(ValueError, match="the logit lens reads decoder-only and BERT models"):
        lab.saliency(bart, [5, 6, 7], position=1)


def test_the_lab_imports_without_transformers():
    script = (
        "import sys; sys.modules['transformers'] = None  # any import of it raises\n"
        "import explain.lab as lab\n"
        "assert callable(lab.wrap) and 'explain.lab.hf' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
