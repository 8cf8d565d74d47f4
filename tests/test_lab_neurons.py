"""Tests for explain/lab/neurons.py: top examples, direct effect and ablation of MLP neurons.

Every number is checked against a computation written here without the lab: activations from
``run_with_cache``, the direct effect in numpy from the weights, and ablation by a hook of the
test's own that edits ``mlp.hook_post``, scored with ``F.cross_entropy`` on the task's mask.
"""

from __future__ import annotations

import copy
import doctest
import importlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import explain
from explain import lab, tasks
from explain.batches import model_inputs, to_torch
from explain.lab.neurons import Neurons, neurons
from explain.model import TinyTransformer

SORT = tasks.get("sort")  # vocab 11, context 12; its MLPs matter (reverse's and copy's barely)
TRANSLATE = tasks.get("translate")  # encoder-decoder, vocab 54, context 8
SMALL = dict(d_model=16, n_layers=2, n_heads=2, d_mlp=32)
BATCH_SIZE = 16  # sequences per held-out batch in most tests: fast on a shared CPU
# explain.lab exports the function under the module's name, so fetch the module itself
neurons_module = importlib.import_module("explain.lab.neurons")


def _held_out(task: tasks.Task, batches: int, batch_size: int, seed: int = 0) -> list:
    """The "val" batches as Trainer.evaluate draws them, written out here."""
    rng = np.random.default_rng(10_000 + seed)
    return [task.batch(batch_size, rng, split="val") for _ in range(batches)]


def _untrained(task: tasks.Task, **overrides: object) -> TinyTransformer:
    """An untrained model with its weights scaled up and random LayerNorm gains.

    At initialisation (std 0.02) one neuron moves the loss by ~1e-6, which would make a 1e-5
    check vacuous; attention is almost uniform and adds almost nothing, so a later block run
    without its rotation or padding mask would pass; and a gain of 1 would hide a direct-effect
    formula that forgot it.
    """
    config = explain.ModelConfig(
        vocab_size=task.vocab_size, context_length=task.context_length, kind=task.kind,
        **{**SMALL, **overrides},
    )  # fmt: skip
    model = TinyTransformer(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".mlp." in name or name.startswith("unembed"):
                parameter.mul_(20)
            elif ".attn." in name or ".cross." in name:
                parameter.mul_(10)
        generator = torch.Generator().manual_seed(0)
        for name, parameter in model.named_parameters():
            if "ln" in name and name.endswith("weight"):
                parameter.copy_(0.5 + torch.rand(parameter.shape, generator=generator))
    return model


def _mlp_name(model: TinyTransformer, layer: int) -> str:
    prefix = "decoder." if model.config.kind == "encoder-decoder" else ""
    return f"{prefix}blocks.{layer}.mlp.hook_post"


def _cache(model: TinyTransformer, task: tasks.Task, data: list, layer: int) -> np.ndarray:
    """The layer's hook_post over ``data``, (N, T, d_mlp), from run_with_cache."""
    parts = []
    with torch.no_grad():
        for batch in data:
            tensors = to_torch(batch, model.device, task)
            _, cache = model.run_with_cache(
                **model_inputs(tensors), names=[_mlp_name(model, layer)]
            )
            parts.append(cache[_mlp_name(model, layer)].double().numpy())
    return np.concatenate(parts)


def _hand_loss(
    model: TinyTransformer,
    task: tasks.Task,
    data: list,
    layer: int | None = None,
    neuron: int = 0,
    value: torch.Tensor | float = 0.0,
) -> float:
    """Mean over batches of the masked cross-entropy, with ``neuron`` of ``layer`` set to
    ``value`` (a number, or (T,) per position) by a hook written here."""

    def hook(post: torch.Tensor, _: object) -> torch.Tensor:
        post = post.clone()
        post[..., neuron] = value
        return post

    hooks = [] if layer is None else [(_mlp_name(model, layer), hook)]
    losses = []
    with torch.no_grad(), model.hooks(fwd=hooks):
        for batch in data:
            tensors = to_torch(batch, model.device, task)
            logits = model(**model_inputs(tensors))  # (B, T, V)
            mask = tensors["mask"]
            losses.append(F.cross_entropy(logits[mask], tensors["targets"][mask]).item())
    return float(np.mean(losses))


@pytest.fixture(scope="module")
def trained() -> tuple[TinyTransformer, Neurons]:
    """Sort, trained briefly (~5 s): its best single neuron raises the loss by ~0.05."""
    config = explain.ModelConfig(
        vocab_size=11, d_model=32, n_layers=2, n_heads=2, d_mlp=16, context_length=12
    )
    train = explain.TrainConfig(steps=100, lr=1e-2, eval_every=100)
    run = explain.train(SORT, model_config=config, train_config=train, schedule=lambda s: False)
    return run.model, neurons(run.model, SORT, batches=2, batch_size=32)


@pytest.fixture(scope="module")
def untrained() -> tuple[TinyTransformer, Neurons]:
    model = _untrained(SORT)
    return model, neurons(model, SORT, top=5, batches=2, batch_size=BATCH_SIZE)


def test_doctests() -> None:
    result = doctest.testmod(neurons_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_shapes_and_layers(untrained: tuple[TinyTransformer, Neurons]) -> None:
    model, found = untrained
    assert found.layers.tolist() == [0, 1]
    assert found.loss_rise.shape == found.activation_max.shape == (2, 32)
    assert found.top_seq.shape == found.top_pos.shape == found.top_act.shape == (2, 32, 5)
    assert found.promotes.shape == found.suppresses_values.shape == (2, 32, 5)
    assert len(found.contexts) == 2 and len(found.contexts[1]) == 32
    assert len(found.contexts[1][3]) == 5
    one = neurons(model, SORT, layer=1, top=5, batches=2, batch_size=BATCH_SIZE)
    assert one.layers.tolist() == [1]
    np.testing.assert_allclose(one.loss_rise[0], found.loss_rise[1], atol=1e-9)
    np.testing.assert_array_equal(one.top_seq[0], found.top_seq[1])


def test_top_activations_are_the_cache_values(untrained: tuple[TinyTransformer, Neurons]) -> None:
    model, found = untrained
    data = _held_out(SORT, 2, BATCH_SIZE)
    np.testing.assert_array_equal(found.tokens, np.concatenate([b.inputs for b in data]))
    for row, layer in enumerate(found.layers):
        acts = _cache(model, SORT, data, int(layer))  # (N, T, n)
        n = np.arange(acts.shape[2])
        at = acts[found.top_seq[row], found.top_pos[row], n[:, None]]  # (n, top)
        np.testing.assert_allclose(found.top_act[row], at, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(found.top_act[row, :, 0], acts.max(axis=(0, 1)), rtol=1e-6)
        np.testing.assert_allclose(found.activation_max[row], acts.max(axis=(0, 1)), rtol=1e-6)
        # the top-5 are the five largest values, best first, at five distinct places
        fifth = np.sort(acts.reshape(-1, acts.shape[2]), axis=0)[::-1][4]  # (n,)
        np.testing.assert_allclose(found.top_act[row, :, 4], fifth, rtol=1e-6)
        assert (np.diff(found.top_act[row], axis=1) <= 0).all()
        places = found.top_seq[row] * 100 + found.top_pos[row]
        assert all(len(set(p)) == 5 for p in places)


def test_direct_effect_is_the_unembedded_output_column(
    untrained: tuple[TinyTransformer, Neurons],
) -> None:
    model, found = untrained
    W_U = model.unembed.weight.detach().double().numpy()  # (V, d)
    gain = model.ln_final.weight.detach().double().numpy()  # (d,)
    vocab = np.array(SORT.vocab)
    for row, layer in enumerate(found.layers):
        W_out = model.blocks[int(layer)].mlp.W_out.weight.detach().double().numpy()  # (d, n)
        for n in (0, 7, 31):
            w = W_out[:, n]
            effect = W_U @ (gain * (w - w.mean()))  # (V,)
            best, worst = np.argsort(effect)[::-1][:5], np.argsort(effect)[:5]
            np.testing.assert_allclose(found.promotes_values[row, n], effect[best], rtol=1e-9)
            np.testing.assert_allclose(found.suppresses_values[row, n], effect[worst], rtol=1e-9)
            assert found.promotes[row, n].tolist() == vocab[best].tolist()
            assert found.suppresses[row, n].tolist() == vocab[worst].tolist()


def test_loss_rise_equals_a_hand_written_zero_ablation(
    trained: tuple[TinyTransformer, Neurons],
) -> None:
    model, found = trained
    data = _held_out(SORT, 2, 32)
    clean = _hand_loss(model, SORT, data)
    assert found.loss_clean == pytest.approx(clean, abs=1e-6)
    assert found.loss_clean == pytest.approx(
        lab.evaluate(model, SORT, batches=2, batch_size=32)["loss"], abs=1e-9
    )
    top = np.unravel_index(np.argmax(found.loss_rise), found.loss_rise.shape)
    for row, n in [top, (0, 3), (1, 5)]:
        rise = _hand_loss(model, SORT, data, int(found.layers[row]), int(n)) - clean
        assert found.loss_rise[row, n] == pytest.approx(rise, abs=1e-5)
    assert found.loss_rise[top] > 1e-3  # the comparison above is not between two zeros


def test_loss_rise_equals_a_hand_written_mean_ablation(
    trained: tuple[TinyTransformer, Neurons],
) -> None:
    model, zero = trained
    found = neurons(model, SORT, batches=2, batch_size=32, mode="mean")
    assert found.mode == "mean" and zero.mode == "zero"
    data = _held_out(SORT, 2, 32)
    clean = _hand_loss(model, SORT, data)
    for layer, n in [(0, 2), (1, 9)]:
        mean = torch.from_numpy(_cache(model, SORT, data, layer)[..., n].mean(axis=0)).float()
        rise = _hand_loss(model, SORT, data, layer, n, value=mean) - clean  # mean: (T,)
        assert found.loss_rise[layer, n] == pytest.approx(rise, abs=1e-5)
        assert abs(found.loss_rise[layer, n] - zero.loss_rise[layer, n]) > 1e-6


def test_a_trained_model_has_a_neuron_that_matters(
    trained: tuple[TinyTransformer, Neurons],
) -> None:
    _, found = trained
    # measured: 0.03-0.06 for sort (d_mlp 8-16, seeds 0-1); reverse and copy stay under 1e-3
    assert found.loss_rise.max() > 0.01
    assert found.loss_rise.max() > 10 * np.median(np.abs(found.loss_rise))


def test_contexts_mark_the_firing_token(untrained: tuple[TinyTransformer, Neurons]) -> None:
    model, found = untrained
    data = _held_out(SORT, 2, BATCH_SIZE)
    tokens = np.concatenate([b.inputs for b in data])
    T = tokens.shape[1]
    for row in range(2):
        acts = _cache(model, SORT, data, int(found.layers[row]))
        for n in (0, 13, 31):
            for i in range(5):
                seq, pos = found.top_seq[row, n, i], found.top_pos[row, n, i]
                context, at = found.contexts[row][n][i], found.context_index[row, n, i]
                assert context[at] == SORT.vocab[tokens[seq, pos]]
                first = max(pos - 4, 0)
                assert at == pos - first
                assert context == [SORT.vocab[t] for t in tokens[seq, first : min(pos + 3, T)]]
                np.testing.assert_allclose(
                    found.context_acts[row][n][i], acts[seq, first : min(pos + 3, T), n], rtol=1e-6
                )


def test_context_window_is_configurable() -> None:
    model = _untrained(SORT)
    found = neurons(model, SORT, layer=0, top=2, batches=1, batch_size=8, window=(0, 0))
    assert all(len(c) == 1 for rows in found.contexts[0] for c in rows)
    assert (found.context_index == 0).all()


def test_neuron_record_is_plain_json(untrained: tuple[TinyTransformer, Neurons]) -> None:
    _, found = untrained
    record = json.loads(json.dumps(found.neuron(1, 4)))
    assert record["layer"] == 1 and record["neuron"] == 4
    assert record["loss_rise"] == pytest.approx(found.loss_rise[1, 4])
    assert [e["activation"] for e in record["examples"]] == pytest.approx(found.top_act[1, 4])
    example = record["examples"][0]
    assert (
        example["context"][example["context_index"]]
        == SORT.vocab[found.tokens[example["seq"], example["pos"]]]
    )
    assert record["promotes"][0][0] == found.promotes[1, 4, 0]
    assert record["suppresses"][0][1] == pytest.approx(found.suppresses_values[1, 4, 0])


def test_encoder_decoder_measures_the_decoder() -> None:
    model = _untrained(TRANSLATE)
    found = neurons(model, TRANSLATE, top=3, batches=1, batch_size=BATCH_SIZE)
    data = _held_out(TRANSLATE, 1, BATCH_SIZE)
    clean = _hand_loss(model, TRANSLATE, data)
    assert found.loss_clean == pytest.approx(clean, abs=1e-6)
    for layer in (0, 1):
        acts = _cache(model, TRANSLATE, data, layer)
        np.testing.assert_allclose(found.activation_max[layer], acts.max(axis=(0, 1)), rtol=1e-6)
        n = int(np.argmax(np.abs(found.loss_rise[layer])))
        rise = _hand_loss(model, TRANSLATE, data, layer, n) - clean
        assert found.loss_rise[layer, n] == pytest.approx(rise, abs=1e-5)
        assert abs(rise) > 1e-4


def test_rotary_model_ablation_rotates_the_later_blocks() -> None:
    model = _untrained(SORT, positional="rope")
    found = neurons(model, SORT, layer=0, top=1, batches=1, batch_size=BATCH_SIZE)
    data = _held_out(SORT, 1, BATCH_SIZE)
    n = int(np.argmax(np.abs(found.loss_rise[0])))
    rise = _hand_loss(model, SORT, data, 0, n) - _hand_loss(model, SORT, data)
    assert found.loss_rise[0, n] == pytest.approx(rise, abs=1e-5)
    assert abs(rise) > 1e-4


def test_mode_and_hooks_are_restored() -> None:
    model = _untrained(SORT).train()
    neurons(model, SORT, layer=1, top=1, batches=1, batch_size=8)
    assert model.training
    assert not any(hook.fns for hook in model.hook_dict.values())


def test_hooks_removed_and_mode_restored_after_an_error() -> None:
    model = copy.deepcopy(_untrained(SORT)).train()

    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("W_out broke")

    model.blocks[1].mlp.W_out.forward = broken
    with pytest.raises(RuntimeError, match="W_out broke"):
        neurons(model, SORT, batches=1, batch_size=8)
    assert model.training
    assert not any(hook.fns for hook in model.hook_dict.values())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer": 2}, r"layer must be None \(every layer\) or an int in \[0, 1\] \(the model "
                       r"has 2 layers\); got 2"),
        ({"layer": -1}, r"the model has 2 layers\); got -1"),
        ({"layer": "0"}, r"got '0'"),
        ({"top": 0}, r"top must be a positive int; got 0"),
        ({"top": True}, r"top must be a positive int; got True"),
        ({"top": 10_000}, r"top must be at most the 96 \(sequence, position\) pairs"),
        ({"mode": "resample"}, r"mode must be one of \['zero', 'mean'\]; got 'resample'"),
        ({"k": 0}, r"k must be a positive int; got 0"),
        ({"k": 12}, r"k must be at most the vocabulary size 11; got 12"),
        ({"window": (4,)}, r"window must be \(before, after\), two ints >= 0.*got \(4,\)"),
        ({"window": (-1, 2)}, r"window must be .*got \(-1, 2\)"),
        ({"batches": 0}, r"batches must be a positive int; got 0"),
    ],
)  # fmt: skip
def test_bad_arguments(kwargs: dict, message: str) -> None:
    model = _untrained(SORT)
    arguments = {"batches": 1, "batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        neurons(model, SORT, **arguments)
    assert not any(hook.fns for hook in model.hook_dict.values())


def test_bad_model_and_task() -> None:
    model = _untrained(SORT)
    with pytest.raises(ValueError, match=r"task 'translate' has 54 tokens but the model's "
                                         r"vocab_size is 11; expected the same"):  # fmt: skip
        neurons(model, TRANSLATE, batches=1, batch_size=8)
    wide = TinyTransformer(explain.ModelConfig(vocab_size=54, context_length=12, **SMALL))
    with pytest.raises(ValueError, match=r"task 'translate' is encoder-decoder; the model is "
                                         r"decoder"):  # fmt: skip
        neurons(wide, TRANSLATE, batches=1, batch_size=8)
    with pytest.raises(TypeError, match="model must be an explain TinyTransformer"):
        neurons("model", SORT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task must be an explain Task; got str"):
        neurons(model, "sort")  # type: ignore[arg-type]


def test_bad_neuron_lookup(untrained: tuple[TinyTransformer, Neurons]) -> None:
    model, _ = untrained
    one = neurons(model, SORT, layer=1, top=1, batches=1, batch_size=8)
    with pytest.raises(ValueError, match=r"layer must be one of the layers measured, \[1\]; "
                                         r"got 0"):  # fmt: skip
        one.neuron(0, 0)
    with pytest.raises(ValueError, match=r"index must be an int in \[0, 31\] \(a neuron\); got 32"):
        one.neuron(1, 32)
