"""lab.attribute on a wrapped HuggingFace decoder, each number checked against the model's own.

Every model is a tiny random-init float64 one built from its config (nothing is downloaded),
its biases and norm weights made random so that a part put in the wrong place shows: GPT-2
(LayerNorm, learned positions, Conv1D weights ``[in, out]``), Llama with grouped-query attention
(RMSNorm, rotary, biases switched on) and GPT-NeoX (parallel residual, an unembedding bias). The
references: the model's own logits; the final norm's input, caught by a plain torch hook; a head
switched off by zeroing its input columns of the output projection in a deep copy; and the
native attribution of the run an exported model comes from.
"""

from __future__ import annotations

import copy
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when transformers is imported: never download
transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
torch = pytest.importorskip("torch")

from test_lab_hf import VOCAB, all_torch_hooks, hf_model, tokenizer  # noqa: E402
from test_lab_hf_task import TASK, TOLERANCE, exported, trained  # noqa: E402

from explain import lab  # noqa: E402
from explain.lab.attribution import residual_parts  # noqa: E402

IDS = [5, 6, 7, 8, 9, 10, 11, 12, 5, 6]
ARCHS = ["gpt2", "llama", "neox"]
# Where each architecture keeps what the references read (layer formatted in).
PROJECTION = {"gpt2": "transformer.h.{}.attn.c_proj", "llama": "model.layers.{}.self_attn.o_proj",
              "neox": "gpt_neox.layers.{}.attention.dense"}  # fmt: skip
DOWN = {"gpt2": "transformer.h.{}.mlp.c_proj", "llama": "model.layers.{}.mlp.down_proj",
        "neox": "gpt_neox.layers.{}.mlp.dense_4h_to_h"}  # fmt: skip
FINAL_NORM = {"gpt2": "transformer.ln_f", "llama": "model.norm",
              "neox": "gpt_neox.final_layer_norm"}  # fmt: skip
# The stream right after layer l's attention, and which side of the module shows it: GPT-2's
# and Llama's second norm reads it; NeoX's parallel block adds attention and MLP to its input
# at once, and its MLP reads the block's input, so the block's output differs by the head alone.
AFTER_ATTENTION = {"gpt2": ("transformer.h.{}.ln_2", "input"),
                   "llama": ("model.layers.{}.post_attention_layernorm", "input"),
                   "neox": ("gpt_neox.layers.{}", "output")}  # fmt: skip


def decoder(arch: str):
    """A tiny float64 decoder with random biases and norm weights (HF initialises them to 0/1)."""
    torch.manual_seed(0)
    size = dict(vocab_size=VOCAB, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    if arch == "gpt2":
        model = hf_model("gpt2")  # test_lab_hf's
    elif arch == "llama":  # 4 query heads share 2 key/value heads
        config = transformers.LlamaConfig(
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_size=16,
            intermediate_size=32, max_position_embeddings=32, initializer_range=0.3,
            attention_bias=True, mlp_bias=True, **size,
        )  # fmt: skip
        model = transformers.LlamaForCausalLM(config)
    else:  # use_parallel_residual defaults to True
        config = transformers.GPTNeoXConfig(
            num_hidden_layers=2, num_attention_heads=4, hidden_size=16, intermediate_size=32,
            max_position_embeddings=32, initializer_range=0.3, tie_word_embeddings=False, **size,
        )  # fmt: skip
        model = transformers.GPTNeoXForCausalLM(config)
        assert config.use_parallel_residual
        model.lm_head = torch.nn.Linear(16, VOCAB, bias=True)  # "bias" holds its bias too
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if name.endswith("bias"):
                param.copy_(0.3 * noise)
            elif "norm" in name or "ln_" in name:  # a norm's weight
                param.copy_(1 + 0.5 * noise)
    return model.double().eval()


def wrapped(arch: str):
    model = decoder(arch)
    return model, lab.wrap(model, tokenizer())


def own_logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double()  # (T, vocab)


def caught(model, path: str, side: str, ids) -> torch.Tensor:
    """A module's input or output ``[pos, d]`` in a plain forward pass, by a plain torch hook."""
    seen = []
    module = model.get_submodule(path)
    if side == "input":
        handle = module.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    else:
        handle = module.register_forward_hook(lambda mod, args, out: seen.append(out))
    try:
        with torch.no_grad():
            model(torch.tensor([ids]))
    finally:
        handle.remove()
    out = seen[0][0] if isinstance(seen[0], tuple) else seen[0]
    return out[0].double()


@pytest.mark.parametrize("arch", ARCHS)
def test_parts_sum_to_the_models_own_logit_and_logit_difference(arch):
    model, wrapper = wrapped(arch)
    logits = own_logits(model, IDS)
    heads = model.config.num_attention_heads if arch != "gpt2" else model.config.n_head
    names = ["embed", *(["pos"] if arch == "gpt2" else [])]
    for layer in range(2):
        names += [f"L{layer}H{head}" for head in range(heads)] + [f"L{layer}.mlp"]
    worst = 0.0
    for position in (0, 4, len(IDS) - 1):
        result = lab.attribute(wrapper, IDS, position)
        assert result.names == [*names, "bias"]
        assert result.target == int(logits[position].argmax())
        assert result.logit == pytest.approx(float(logits[position].max()), abs=1e-12)
        worst = max(worst, abs(result.values.sum() - result.logit))
        versus = lab.attribute(wrapper, IDS, position, target=6, baseline=7)
        assert versus.logit == pytest.approx(float(logits[position, 6] - logits[position, 7]))
        worst = max(worst, abs(versus.values.sum() - versus.logit))
        assert result.heads().shape == (2, heads) and result.mlps().shape == (2,)
    assert worst < TOLERANCE  # measured: 0 (GPT-2, NeoX), 2e-7 (Llama's RMSNorm runs in float32)
    text = lab.attribute(wrapper, "the cat sat on the mat", 3)  # a text is encoded
    assert text.ids == (5, 6, 7, 8, 5, 9)
    np.testing.assert_array_equal(text.values, lab.attribute(wrapper, list(text.ids), 3).values)
    assert all_torch_hooks(model) == [] and model.training is False


@pytest.mark.parametrize("arch", ARCHS)
def test_parts_are_what_the_model_adds_to_its_stream(arch):
    """Each head: what zeroing its input columns of the output projection (in a deep copy)
    removes from the stream right after its attention. Each MLP: its down projection's own
    output, less the bias. All parts: the stream the final norm reads."""
    model, wrapper = wrapped(arch)
    position = 6
    names, parts = residual_parts(wrapper, IDS, position)
    final = caught(model, FINAL_NORM[arch], "input", IDS)[position]
    np.testing.assert_allclose(parts.sum(0), final.numpy(), rtol=0, atol=1e-10)
    embedding = model.get_input_embeddings().weight[IDS[position]].detach().double().numpy()
    np.testing.assert_allclose(parts[names.index("embed")], embedding, rtol=0, atol=0)
    path, side = AFTER_ATTENTION[arch]
    for layer in range(2):
        before = caught(model, path.format(layer), side, IDS)[position]
        projection = PROJECTION[arch].format(layer)
        width = 16 // wrapper.config.n_heads
        for head in range(wrapper.config.n_heads):
            off = copy.deepcopy(model)
            weight = off.get_submodule(projection).weight  # Linear [out, in]; Conv1D [in, out]
            cols = slice(head * width, (head + 1) * width)
            with torch.no_grad():
                if arch == "gpt2":
                    weight[cols, :] = 0.0
                else:
                    weight[:, cols] = 0.0
            removed = before - caught(off, path.format(layer), side, IDS)[position]
            part = parts[names.index(f"L{layer}H{head}")]
            assert np.abs(part).max() > 0.1  # the head writes something
            np.testing.assert_allclose(removed.numpy(), part, rtol=0, atol=1e-10)
        down = model.get_submodule(DOWN[arch].format(layer))
        written = caught(model, DOWN[arch].format(layer), "output", IDS)[position]
        mlp = (written - down.bias.detach().double()).numpy()
        np.testing.assert_allclose(parts[names.index(f"L{layer}.mlp")], mlp, rtol=0, atol=1e-10)


@pytest.mark.parametrize("arch", ARCHS)
def test_values_are_the_parts_read_at_the_final_norms_real_scale(arch):
    """By hand in numpy: LayerNorm centres each part and divides by the real stream's std;
    RMSNorm divides by its root mean square and does not centre."""
    model, wrapper = wrapped(arch)
    position, target = 8, 9
    names, parts = residual_parts(wrapper, IDS, position)
    norm = model.get_submodule(FINAL_NORM[arch])
    resid = caught(model, FINAL_NORM[arch], "input", IDS)[position].numpy()
    g = norm.weight.detach().double().numpy()
    w = model.lm_head.weight.detach().double().numpy()[target]
    if arch == "llama":
        expected = parts / np.sqrt((resid**2).mean() + norm.variance_epsilon) * g @ w
    else:
        centred = parts - parts.mean(axis=1, keepdims=True)
        expected = centred / np.sqrt(resid.var() + norm.eps) * g @ w
        expected[-1] += norm.bias.detach().double().numpy() @ w
    if model.lm_head.bias is not None:
        expected[-1] += float(model.lm_head.bias.detach()[target])
    result = lab.attribute(wrapper, IDS, position, target)
    np.testing.assert_allclose(result.values, expected, rtol=1e-9, atol=1e-12)
    assert abs(result.values[-1]) > 0.01  # the biases are in it


@pytest.fixture(scope="module", params=["sinusoidal", "rope"])
def run(request):
    return trained(request.param)  # GPT-2 (its wpe holds the table), GPT-NeoX (rotary)


def test_an_exported_run_is_attributed_as_the_run_is(run):
    wrapper = exported(run)
    probe = TASK.probe()
    ids, targets = probe.inputs[0], probe.targets[0]
    worst = 0.0
    for position in np.flatnonzero(probe.mask[0])[::2]:
        target = int(targets[position])
        native = lab.attribute(run.model, ids, int(position), target)
        copied = lab.attribute(wrapper, ids, int(position), target)
        assert copied.names == native.names
        worst = max(worst, np.abs(copied.values - native.values).max())
        assert copied.logit == pytest.approx(native.logit, abs=TOLERANCE)
        baseline = (target + 1) % TASK.vocab_size
        other = lab.attribute(run.model, ids, int(position), target, baseline)
        again = lab.attribute(wrapper, ids, int(position), target, baseline)
        worst = max(worst, np.abs(again.values - other.values).max())
    assert worst < TOLERANCE  # measured: < 1e-5
    assert np.abs(native.values).max() > 100 * TOLERANCE  # the parts say something


@pytest.mark.parametrize(
    "arch, why",
    [("bert", "BertForMaskedLM is post-LayerNorm: every block renormalises the residual "
              "stream, so it is not a sum of parts"),
     ("bart", "BartForConditionalGeneration is an encoder-decoder with post-LayerNorm blocks"),
     ("t5", "T5ForConditionalGeneration is an encoder-decoder")],
    ids=["bert", "bart", "t5"],
)  # fmt: skip
def test_post_layernorm_and_encoder_decoder_models_are_refused_saying_why(arch, why):
    model = lab.wrap(hf_model(arch), tokenizer(wrap=arch == "bert"))
    supported = r"needs a pre-norm decoder-only model \(GPT2LMHeadModel, LlamaForCausalLM"
    with pytest.raises(ValueError, match=f"{supported}.*\\); {why}"):
        lab.attribute(model, [5, 6, 7], 1)


def test_a_stream_with_something_unknown_in_it_is_refused_not_misattributed():
    """GPT-2 with its position embeddings doubled by a torch hook (as if a model scaled them):
    the parts no longer sum to the stream, so attribute raises instead of returning values
    that miss the logit."""
    model, wrapper = wrapped("gpt2")
    handle = model.transformer.wpe.register_forward_hook(lambda mod, args, out: 2 * out)
    try:
        with pytest.raises(RuntimeError, match="GPT2LMHeadModel's residual stream sum to within"):
            lab.attribute(wrapper, IDS, 3)
    finally:
        handle.remove()


def test_bad_input_to_a_wrapped_model_says_what_is_wrong():
    _, wrapper = wrapped("gpt2")
    cases = [
        (dict(ids=IDS, position=10), r"position must be an int in \[0, 9\]"),
        (dict(ids=" ".join(["the"] * 40), position=1), "text has 40 tokens; GPT2LMHeadModel"),
        (dict(ids=IDS, position=1, target=VOCAB), r"target must be an int in \[0, 14\]"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            lab.attribute(wrapper, **kwargs)
