"""lab.patch on a wrapped HuggingFace decoder, each number checked against a reference.

The references: the native ``patch`` of the run an exported model comes from (GPT-2 and
GPT-NeoX copies of the run's TinyTransformer); and, on tiny random-init float64 GPT-2 and Llama
(grouped-query attention) models built from configs (nothing is downloaded), the clean
activation put back by a plain torch hook on the HuggingFace module and the model's own logits.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when transformers is imported: never download
transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
torch = pytest.importorskip("torch")

from test_lab_hf import all_torch_hooks, hf_model, tokenizer, wrapped  # noqa: E402
from test_lab_hf_task import TASK, TOLERANCE, exported, trained  # noqa: E402

from explain import lab  # noqa: E402
from explain.lab import patching  # noqa: E402
from explain.lab.patching import WHERE, corrupt, patch  # noqa: E402

CLEAN = "the cat sat on the mat the dog ran"
TWIN = "a cat sat on the mat the dog ran"  # as many tokens, the first one changed
DOWN = {"gpt2": "transformer.h.{}.mlp.c_proj", "llama": "model.layers.{}.mlp.down_proj"}
PROJECTION = {"gpt2": "transformer.h.{}.attn.c_proj", "llama": "model.layers.{}.self_attn.o_proj"}


def cat_over_dog(logits: torch.Tensor) -> torch.Tensor:
    """A fixed metric: logit of "cat" minus logit of "dog" at the last position."""
    return logits[0, -1, 6] - logits[0, -1, 10]


@pytest.fixture(scope="module", params=["sinusoidal", "rope"])
def run(request):
    return trained(request.param)  # GPT-2 (learned-position table), GPT-NeoX (rotary)


def test_patching_an_exported_run_is_patching_the_run(run):
    wrapper = exported(run)
    clean, twin = TASK.probe().inputs[0], corrupt(TASK)
    worst, largest = 0.0, 0.0
    for where in WHERE:
        native = patch(run.model, clean, twin, where, task=TASK)
        copied = patch(wrapper, clean, twin, where, task=TASK)
        assert copied.dims == native.dims and copied.effect.shape == native.effect.shape
        assert copied.answer_positions == native.answer_positions
        assert copied.clean_answers == native.clean_answers
        assert copied.clean_tokens == native.clean_tokens
        for field in ("clean_metric", "corrupt_metric"):
            assert getattr(copied, field) == pytest.approx(getattr(native, field), abs=TOLERANCE)
        worst = max(worst, np.abs(copied.effect - native.effect).max())
        largest = max(largest, np.abs(native.effect).max())
    assert worst < TOLERANCE  # measured: < 1e-5
    assert largest > 0.2  # patching moves the metric (measured: 0.53 GPT-2, 0.34 NeoX)
    bare = patch(wrapper, clean, twin, "mlp")  # no task: the tokenizer spells the tokens
    assert bare.clean_tokens == [TASK.vocab[i] for i in clean]
    assert all_torch_hooks(wrapper.hf) == [] and wrapper.training is False


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_the_whole_stream_gives_one_and_nothing_gives_zero(arch):
    model, wrapper = wrapped(arch)
    T = len(wrapper.encode(CLEAN))
    result = patch(wrapper, CLEAN, TWIN, "resid", metric=cat_over_dog, positions=[range(T), []])
    with torch.no_grad():
        ids = [torch.tensor([wrapper.encode(text)]) for text in (CLEAN, TWIN)]
        clean, corrupted = (float(cat_over_dog(model(i).logits)) for i in ids)
    assert result.clean_metric == pytest.approx(clean, abs=1e-12)
    assert result.corrupt_metric == pytest.approx(corrupted, abs=1e-12)
    assert abs(clean - corrupted) > 0.1
    np.testing.assert_allclose(result.effect[-1], [1.0, 0.0], atol=1e-9)  # last block's input
    np.testing.assert_allclose(result.effect[:, 1], 0.0, atol=1e-9)  # nothing patched
    assert result.clean_tokens == CLEAN.split() and result.metric == "cat_over_dog"
    heads = patch(wrapper, CLEAN, TWIN, "heads", metric=cat_over_dog)
    assert heads.effect.shape == (2, wrapper.config.n_heads)


def by_hand(model, arch: str, where: str, layer: int, head: int | None, position: int) -> float:
    """The effect of putting back the clean input of the MLP's down projection (or of one
    head's columns of the attention's output projection) at ``position``, by a torch hook."""
    tok = tokenizer()
    clean, corrupted = (torch.tensor([tok(text)["input_ids"]]) for text in (CLEAN, TWIN))
    path = (DOWN if where == "mlp" else PROJECTION)[arch].format(layer)
    module = model.get_submodule(path)
    seen = []
    handle = module.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    with torch.no_grad():
        m_clean = float(cat_over_dog(model(clean).logits))
        m_corrupt = float(cat_over_dog(model(corrupted).logits))
    handle.remove()
    width = seen[0].shape[-1] // model.config.num_attention_heads if head is not None else None
    cols = slice(None) if head is None else slice(head * width, (head + 1) * width)

    def put_back(mod, args):
        x = args[0].clone()  # (1, T, features)
        x[0, position, cols] = seen[0][0, position, cols]
        return (x,)

    handle = module.register_forward_pre_hook(put_back)
    try:
        with torch.no_grad():
            patched = float(cat_over_dog(model(corrupted).logits))
    finally:
        handle.remove()
    return (patched - m_corrupt) / (m_clean - m_corrupt)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_mlp_and_head_patches_are_the_clean_input_put_back_by_hand(arch):
    model, wrapper = wrapped(arch)
    mlp = patch(wrapper, CLEAN, TWIN, "mlp", metric=cat_over_dog)  # [layer, pos]
    heads = patch(wrapper, CLEAN, TWIN, "head_pos", metric=cat_over_dog)  # [layer, head, pos]
    T = mlp.effect.shape[1]
    expected_mlp = [[by_hand(model, arch, "mlp", layer, None, p) for p in range(T)]
                    for layer in range(2)]  # fmt: skip
    np.testing.assert_allclose(mlp.effect, expected_mlp, atol=1e-9)
    for layer, head in [(0, 1), (1, 0)]:
        expected = [by_hand(model, arch, "head_pos", layer, head, p) for p in range(T)]
        np.testing.assert_allclose(heads.effect[layer, head], expected, atol=1e-9)
    assert np.abs(mlp.effect).max() > 0.01 and np.abs(heads.effect).max() > 0.01


def test_patches_split_to_bound_the_logits_give_the_same_effects(monkeypatch):
    _, wrapper = wrapped("llama")
    whole = patch(wrapper, CLEAN, TWIN, "head_pos", metric=cat_over_dog)
    T, vocab = len(whole.clean_tokens), wrapper.config.vocab_size
    assert patching._rows_per_run(wrapper, T) == patching.ROWS_PER_RUN  # a tiny vocabulary
    monkeypatch.setattr(patching, "LOGITS_PER_RUN", 3 * T * vocab * 8)  # 3 float64 rows
    assert patching._rows_per_run(wrapper, T) == 3
    split = patch(wrapper, CLEAN, TWIN, "head_pos", metric=cat_over_dog)
    np.testing.assert_allclose(split.effect, whole.effect, rtol=0, atol=1e-12)


def test_what_patching_a_wrapped_model_cannot_do_says_so():
    _, gpt2 = wrapped("gpt2")
    message = r"clean_ids has 9 positions and corrupt_ids 3 \(texts 'the cat .*', 'the cat sat' "
    with pytest.raises(ValueError, match=message + "encoded"):
        patch(gpt2, CLEAN, "the cat sat", "resid", metric=cat_over_dog)
    with pytest.raises(TypeError, match="path_patch needs an explain TinyTransformer"):
        lab.path_patch(gpt2, CLEAN, TWIN, receiver=(1, 0, "q"), metric=cat_over_dog)
    bert = lab.wrap(hf_model("bert"), tokenizer(wrap=True))
    with pytest.raises(
        NotImplementedError,
        match="patching supports decoder-only models; "
        r"BertForMaskedLM is an encoder \(wrapped decoders: GPT2LMHeadModel, ",
    ):
        patch(bert, CLEAN, TWIN, "resid", metric=cat_over_dog)
    bart = lab.wrap(hf_model("bart"), tokenizer())
    with pytest.raises(NotImplementedError, match="BartForConditionalGeneration is an encoder-de"):
        patch(bart, CLEAN, TWIN, "heads", metric=cat_over_dog)
