"""explain.lab.attribution: direct logit attribution.

Every number is checked against a computation that does not go through the attribution code:
the model's own logits from a plain forward pass, the residual stream cached at the hook points,
the embedding matrices and positional tables read by hand, and a head switched off by a hook.
"""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pytest
import torch

import explain
from explain import positional
from explain.hooks import HookPoint
from explain.lab import attribution
from explain.lab.attribution import Attribution, attribute, part_names, residual_parts
from explain.run import default_model_config

CONFIG = explain.ModelConfig(
    vocab_size=11, d_model=16, n_heads=2, n_layers=2, d_mlp=32, context_length=10
)
TOKENS = [3, 1, 4, 1, 5, 9, 2, 6]
SOURCE = [7, 0, 10, 8, 2]
TINY = dict(d_model=16, n_heads=2, n_layers=2, d_mlp=32)  # overrides for a task's model


def scrambled(model: explain.TinyTransformer) -> explain.TinyTransformer:
    """``model`` in eval mode, far from its initialisation: linear weights 10x (at std 0.02 every
    part but the embeddings is ~0), LayerNorms that are not the identity and learned positions
    that are not 0, so a part put in the wrong place or scaled wrongly shows."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.mul_(10.0)
                if module.bias is not None:
                    module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(1 + 0.5 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.3 * torch.randn(module.bias.shape, generator=generator))
        for name, param in model.named_parameters():
            if name.endswith("W_pos"):
                param.copy_(torch.randn(param.shape, generator=generator))
    return model.eval()


def tiny(**overrides) -> explain.TinyTransformer:
    return scrambled(explain.TinyTransformer(dataclasses.replace(CONFIG, **overrides)))


def source_for(model: explain.TinyTransformer) -> list[int] | None:
    return SOURCE if model.config.kind == "encoder-decoder" else None


def own_logits(model: explain.TinyTransformer, ids, source=None) -> np.ndarray:
    """The model's logits [pos, vocab] from a plain forward pass, float64."""
    kwargs = {} if source is None else {"source": torch.tensor([list(source)])}
    with torch.no_grad():
        return model(torch.tensor([list(ids)]), **kwargs)[0].double().numpy()


def no_hooks_left(model: explain.TinyTransformer) -> bool:
    return all(not m.fns for m in model.modules() if isinstance(m, HookPoint))


MODELS = [
    pytest.param(dict(positional=p, kind=k), id=f"{k}-{p}")
    for k in ("decoder", "encoder-decoder")
    for p in ("learned", "sinusoidal", "rope", "none")
]


# ---------------------------------------------------------------------------- the sum


@pytest.mark.parametrize("name", explain.tasks.available())
def test_parts_sum_to_the_models_logit_on_every_task(name):
    task = explain.tasks.get(name)
    model = scrambled(explain.TinyTransformer(default_model_config(task, **TINY)))
    probe = task.probe()
    ids = probe.inputs[0]
    source = None if probe.source is None else probe.source[0]
    logits = own_logits(model, ids, source)  # [pos, vocab]
    rng = np.random.default_rng(0)
    for position in range(len(ids)):
        result = attribute(model, ids, position, source=source)
        assert result.target == logits[position].argmax()
        assert result.logit == pytest.approx(logits[position, result.target], abs=1e-5)
        assert result.values.sum() == pytest.approx(result.logit, abs=1e-4)
        target, baseline = rng.choice(task.vocab_size, size=2, replace=False)
        diff = attribute(model, ids, position, int(target), int(baseline), source=source)
        expected = logits[position, target] - logits[position, baseline]
        assert diff.values.sum() == pytest.approx(expected, abs=1e-4)
    assert len(set(result.names)) == len(result.names) == len(result.values)


@pytest.mark.parametrize("overrides", MODELS)
def test_parts_sum_for_every_positional_kind_and_model_kind(overrides):
    model = tiny(**overrides)
    source = source_for(model)
    logits = own_logits(model, TOKENS, source)
    for position in (0, 3, len(TOKENS) - 1):
        for target in range(CONFIG.vocab_size):
            result = attribute(model, TOKENS, position, target, source=source)
            assert result.logit == pytest.approx(logits[position, target], abs=1e-5)
            assert result.values.sum() == pytest.approx(logits[position, target], abs=1e-4)
    # The parts must be big enough that a missing or misplaced one would show.
    assert np.abs(result.values).max() > 0.1


@pytest.mark.parametrize("overrides", MODELS)
def test_baseline_splits_the_logit_difference_part_by_part(overrides):
    model = tiny(**overrides)
    source = source_for(model)
    logits = own_logits(model, TOKENS, source)
    diff = attribute(model, TOKENS, 5, target=2, baseline=7, source=source)
    assert diff.values.sum() == pytest.approx(logits[5, 2] - logits[5, 7], abs=1e-4)
    assert diff.logit == pytest.approx(logits[5, 2] - logits[5, 7], abs=1e-5)
    assert (diff.target, diff.baseline) == (2, 7)
    # Every part is linear in the read direction: each part of (2 - 7) is its part of 2 minus
    # its part of 7, the bias (final LayerNorm bias included) too.
    two = attribute(model, TOKENS, 5, target=2, source=source).values
    seven = attribute(model, TOKENS, 5, target=7, source=source).values
    np.testing.assert_allclose(diff.values, two - seven, atol=1e-9)


# ---------------------------------------------------------------------------- each part


def cached_stream(model, source):
    kwargs = {} if source is None else {"source": torch.tensor([source])}
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.tensor([TOKENS]), **kwargs)
    return {name: value[0].double().numpy() for name, value in cache.items() if value.dim() == 3}


@pytest.mark.parametrize("overrides", MODELS)
def test_residual_parts_match_the_cached_stream_block_by_block(overrides):
    model = tiny(**overrides)
    source, position = source_for(model), 6
    names, parts = residual_parts(model, TOKENS, position, source=source)
    assert names == part_names(model) and parts.shape == (len(names), CONFIG.d_model)
    row = dict(zip(names, parts, strict=True))
    prefix = "decoder." if source else ""
    stack = model.decoder if source else model
    stream = cached_stream(model, source)  # name -> [pos, d]

    def at(name: str) -> np.ndarray:
        return stream[prefix + name][position]

    # The whole: the parts sum to the stream the final LayerNorm reads.
    last = f"blocks.{CONFIG.n_layers - 1}.hook_resid_post"
    np.testing.assert_allclose(parts.sum(0), at(last), atol=1e-5)
    # Embeddings by hand, from the weight matrix and the positional module.
    W_E = stack.embed.W_E.weight.detach().double().numpy()
    np.testing.assert_allclose(row["embed"], W_E[TOKENS[position]], atol=1e-6)
    kind = model.config.positional
    if kind == "sinusoidal":
        table = positional.sinusoidal(CONFIG.context_length, CONFIG.d_model)
        np.testing.assert_allclose(row["pos"], table[position], atol=1e-6)
    elif kind == "learned":
        table = stack.embed.W_pos.detach().double().numpy()
        np.testing.assert_allclose(row["pos"], table[position], atol=1e-6)
    else:
        assert "pos" not in row
    # Each block: its heads (+ the projection bias) and its MLP (+ its output bias) are what it
    # added to the stream, read as differences of the cached stream.
    before = at("embed.hook_sum")
    for layer, block in enumerate(stack.blocks):
        heads = sum(row[f"L{layer}H{h}"] for h in range(CONFIG.n_heads))
        mid = at(f"blocks.{layer}.hook_resid_mid")
        np.testing.assert_allclose(heads + bias_of(block.attn.W_o), mid - before, atol=1e-5)
        if source:
            cross = sum(row[f"L{layer}X{h}"] for h in range(CONFIG.n_heads))
            after_cross = at(f"blocks.{layer}.hook_resid_cross")
            np.testing.assert_allclose(
                cross + bias_of(block.cross.W_o), after_cross - mid, atol=1e-5
            )
            mid = after_cross
        after = at(f"blocks.{layer}.hook_resid_post")
        mlp = row[f"L{layer}.mlp"] + bias_of(block.mlp.W_out)
        np.testing.assert_allclose(mlp, after - mid, atol=1e-5)
        before = after


def bias_of(linear: torch.nn.Linear) -> np.ndarray:
    return linear.bias.detach().double().numpy()


@pytest.mark.parametrize("kind", ["decoder", "encoder-decoder"])
def test_each_head_is_what_switching_it_off_removes_from_the_stream(kind):
    """Zero one head's z by a hook: the stream right after that attention loses exactly the
    head's part (earlier parts are untouched; later ones change, so look right after it)."""
    model = tiny(kind=kind)
    source, position = source_for(model), 4
    names, parts = residual_parts(model, TOKENS, position, source=source)
    prefix = "decoder." if source else ""
    modules = [("attn", "H", "hook_resid_mid")]
    if source:
        modules.append(("cross", "X", "hook_resid_cross"))
    kwargs = {} if source is None else {"source": torch.tensor([source])}
    for layer in range(CONFIG.n_layers):
        for module, letter, after in modules:
            stream_name = f"{prefix}blocks.{layer}.{after}"
            _, cache = model.run_with_cache(torch.tensor([TOKENS]), names=stream_name, **kwargs)
            for head in range(CONFIG.n_heads):

                def off(z, hook, head=head):
                    z = z.clone()
                    z[:, head] = 0.0  # (B, nh, T, hs)
                    return z

                with model.hooks(fwd=[(f"{prefix}blocks.{layer}.{module}.hook_z", off)]):
                    _, ablated = model.run_with_cache(
                        torch.tensor([TOKENS]), names=stream_name, **kwargs
                    )
                removed = (cache[stream_name] - ablated[stream_name])[0, position].double()
                part = parts[names.index(f"L{layer}{letter}{head}")]
                assert np.abs(part).max() > 0.1
                np.testing.assert_allclose(removed.numpy(), part, atol=1e-5)


@pytest.mark.parametrize("overrides", MODELS)
def test_values_are_the_parts_read_through_the_real_layernorm_scale(overrides):
    """By hand in numpy: centre each part, divide by the std of the real stream, times g, dot
    with the unembedding; the final LayerNorm's bias joins "bias"."""
    model = tiny(**overrides)
    source, position, target = source_for(model), 7, 3
    names, parts = residual_parts(model, TOKENS, position, source=source)
    stack = model.decoder if source else model
    resid = cached_stream(model, source)[
        f"{'decoder.' if source else ''}blocks.{CONFIG.n_layers - 1}.hook_resid_post"
    ][position]
    std = np.sqrt(resid.var() + stack.ln_final.eps)
    g = stack.ln_final.weight.detach().double().numpy()
    b = stack.ln_final.bias.detach().double().numpy()
    w = model.unembed.weight.detach().double().numpy()[target]
    expected = (parts - parts.mean(axis=1, keepdims=True)) / std * g @ w
    expected[names.index("bias")] += b @ w
    result = attribute(model, TOKENS, position, target, source=source)
    assert result.names == names
    np.testing.assert_allclose(result.values, expected, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- the result


def test_heads_mlps_and_names_index_the_same_values():
    model = tiny(kind="encoder-decoder")
    result = attribute(model, TOKENS, 2, source=SOURCE)
    assert isinstance(result, Attribution) and result.values.dtype == np.float64
    assert result.names[:2] == ["embed", "pos"] and result.names[-1] == "bias"
    decoder, cross = result.heads(), result.heads("cross")
    assert decoder.shape == cross.shape == (CONFIG.n_layers, CONFIG.n_heads)
    for layer in range(CONFIG.n_layers):
        assert result.mlps()[layer] == result[f"L{layer}.mlp"]
        for head in range(CONFIG.n_heads):
            assert decoder[layer, head] == result[f"L{layer}H{head}"]
            assert cross[layer, head] == result[f"L{layer}X{head}"]
    assert result.heads("decoder").tolist() == decoder.tolist()
    assert result.ids == tuple(TOKENS) and result.position == 2 and result.baseline is None
    with pytest.raises(ValueError, match=r"part must be one of \['decoder', 'cross'\]; got 'x'"):
        result.heads("x")
    with pytest.raises(KeyError, match="no part 'L9H0'"):
        result["L9H0"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.logit = 0.0
    assert attribute(tiny(), TOKENS, 2).parts == ("self",)


def test_runs_in_eval_mode_and_restores_the_training_flag():
    model = tiny(dropout=0.5).train()
    result = attribute(model, TOKENS, 5, target=1)
    assert model.training and no_hooks_left(model)
    logit = own_logits(model.eval(), TOKENS)[5, 1]
    assert result.values.sum() == pytest.approx(logit, abs=1e-4)


def test_hooks_are_removed_and_mode_restored_when_the_forward_raises(monkeypatch):
    model = tiny().train()

    def broken(x):
        raise RuntimeError("unembed broke")

    monkeypatch.setattr(model.unembed, "forward", broken)
    with pytest.raises(RuntimeError, match="unembed broke"):
        attribute(model, TOKENS, 3)
    assert no_hooks_left(model) and model.training


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(position=8), ValueError, r"position .* \(the ids have 8 positions\); got 8"),
        (dict(position=-1), ValueError, r"position must be an int in \[0, 7\].*; got -1"),
        (dict(position=2.0), ValueError, r"position must be an int .*; got 2.0"),
        (dict(target=11), ValueError, r"target .* the vocabulary has 11 tokens\); got 11"),
        (dict(baseline=-2), ValueError, r"baseline .* the vocabulary has 11 tokens\); got -2"),
        (dict(target=4, baseline=4), ValueError, "baseline must differ from target; both are 4"),
        (dict(ids=[TOKENS]), ValueError, r"must have shape \[pos\].*got shape \(1, 8\)"),
        (dict(ids=[1.5, 2.0]), ValueError, "must hold integer token ids; got dtype float64"),
        (dict(ids=[1, 11]), ValueError, r"holds ids \[11\]; expected ids in \[0, 10\]"),
        (dict(source=SOURCE), ValueError, "decoder-only model takes no source"),
        (dict(model="model"), TypeError, "model must be an explain TinyTransformer; got str"),
    ],
)
def test_bad_input_raises_naming_the_value(kwargs, error, message):
    model = tiny()
    call = dict(model=model, ids=TOKENS, position=3) | kwargs
    with pytest.raises(error, match=message):
        attribute(**call)
    assert no_hooks_left(model)


def test_encoder_decoder_needs_source_and_a_predicted_baseline_needs_a_target():
    model = tiny(kind="encoder-decoder")
    with pytest.raises(ValueError, match="encoder-decoder model needs source ids"):
        attribute(model, TOKENS, 3)
    with pytest.raises(ValueError, match=r"source holds ids \[12\]"):
        attribute(model, TOKENS, 3, source=[1, 12])
    predicted = attribute(model, TOKENS, 3, source=SOURCE).target
    with pytest.raises(ValueError, match=f"predicts the baseline token {predicted}"):
        attribute(model, TOKENS, 3, baseline=predicted, source=SOURCE)


def test_part_names_per_positional_kind():
    assert part_names(tiny(positional="rope", n_layers=1)) == [
        "embed", "L0H0", "L0H1", "L0.mlp", "bias"
    ]  # fmt: skip
    assert "pos" in part_names(tiny(positional="learned"))


def test_docstring_examples():
    result = doctest.testmod(attribution, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 6 and result.failed == 0


# ---------------------------------------------------------------------------- a trained model


@pytest.fixture(scope="module")
def reverse_run():
    """reverse with d_model 32 after 150 steps at lr 0.01 (~4-7 s on one thread): measured
    accuracy 1.00 on two seeds."""
    task = explain.tasks.get("reverse")
    config = default_model_config(task, d_model=32, n_heads=2, d_mlp=64)
    return explain.train(task, config, explain.TrainConfig(steps=150, lr=1e-2))


@pytest.mark.slow  # the fixture trains for ~5 s
def test_trained_reverse_answers_come_from_heads_and_mlps_not_biases(reverse_run):
    """The answer digit at position p is a copy of input 11 - p: only attention can bring it.
    Measured over 240 answers on two seeds: heads + MLPs give >= 5.1 to the right digit's
    logit, "bias" <= 1.4 and embed + pos <= 2.1 in size (their worst cases)."""
    task, model = reverse_run.task, reverse_run.model
    batch = task.batch(40, np.random.default_rng(0), "val")
    for tokens, targets in zip(batch.inputs, batch.targets, strict=True):
        for position in range(task.length, 2 * task.length):
            result = attribute(model, tokens, position, target=int(targets[position]))
            components = result.heads().sum() + result.mlps().sum()
            others = abs(result["bias"]) + abs(result["embed"]) + abs(result["pos"])
            assert components > others
