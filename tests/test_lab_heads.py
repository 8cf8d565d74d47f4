"""Tests for explain/lab (heads.py, pruning.py): ablation, head importance, pruning curves.

Every number is checked against a computation written here without the lab: zeroing W_o's
input columns, replacing z by hand, autograd on z, finite differences, sorting weights in numpy.
"""

from __future__ import annotations

import copy
import doctest
import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import explain
from explain import lab, tasks
from explain.batches import masked_loss, model_inputs, to_torch
from explain.model import TinyTransformer
from explain.run import default_model_config

MakeModel = Callable[..., TinyTransformer]
TASK = tasks.get("reverse")  # vocab 11, context 12: fits conftest's SMALL model
TOKENS = torch.tensor([[1, 4, 2, 8, 5, 7, 0, 3], [3, 3, 0, 9, 10, 6, 2, 2]])
SOURCE = torch.tensor([[2, 5, 7, 1, 4], [6, 6, 9, 0, 10]])
# Where each part's attention lives, written out by hand (not through explain.names).
MODULE = {
    "self": "blocks.{}.attn",
    "encoder": "encoder.blocks.{}.attn",
    "decoder": "decoder.blocks.{}.attn",
    "cross": "decoder.blocks.{}.cross",
}


def _val_batches(n: int, seed: int = 0, batch_size: int = 64) -> list[tasks.Batch]:
    """The held-out batches as Trainer.evaluate draws them."""
    rng = np.random.default_rng(10_000 + seed)
    return [TASK.batch(batch_size, rng, split="val") for _ in range(n)]


def _loss(model: TinyTransformer, batches: list[tasks.Batch]) -> float:
    with torch.no_grad():
        losses = []
        for batch in batches:
            tensors = to_torch(batch, model.device, TASK)
            losses.append(masked_loss(model(**model_inputs(tensors)), tensors).item())
    return float(np.mean(losses))


def _without_heads(model: TinyTransformer, heads, part: str = "self") -> TinyTransformer:
    """A deep copy whose W_o ignores ``heads``: their input columns set to zero."""
    pruned = copy.deepcopy(model)
    d_head = model.config.d_head
    with torch.no_grad():
        for layer, head in heads:
            W_o = pruned.get_submodule(MODULE[part].format(layer)).W_o
            W_o.weight[:, head * d_head : (head + 1) * d_head] = 0.0
    return pruned


def _loud(model: TinyTransformer) -> TinyTransformer:
    """``model`` with every W_o scaled up 30x: at initialisation (std 0.02) a head moves the
    loss by ~1e-4, too little for a test that mixes up two heads to fail."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".W_o." in name:
                param.mul_(30.0)
    return model


def _no_hooks(model: TinyTransformer) -> bool:
    return all(not hp.fns for hp in model.hook_dict.values())


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ranks_a, ranks_b = (np.argsort(np.argsort(x.ravel())) for x in (a, b))
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


@pytest.fixture(scope="module")
def trained() -> TinyTransformer:
    """The default reverse model after 300 steps (solves it: val exact-match 1.0). A bare
    Trainer, as explain.train builds it minus the recorder, which these tests do not need."""
    config = explain.TrainConfig(steps=300, seed=0)
    torch.manual_seed(config.seed)
    model = TinyTransformer(default_model_config(TASK, seed=config.seed))
    trainer = explain.Trainer(model, TASK, config, snapshot_schedule=lambda step: False)
    trainer.run()
    assert trainer.evaluate()["val_accuracy"] == 1.0
    return model.eval()


# ---------------------------------------------------------------------------- ablate


@pytest.mark.parametrize("heads", [[(0, 1)], [(1, 0)], [(0, 0), (1, 1), (0, 1)]])
def test_zero_ablation_equals_zeroing_W_o_columns(make_model: MakeModel, heads) -> None:
    model = _loud(make_model())
    batches = _val_batches(2, batch_size=8)
    with lab.ablate(model, heads):
        ablated = _loss(model, batches)
    expected = _loss(_without_heads(model, heads), batches)
    assert ablated == pytest.approx(expected, abs=1e-5)
    assert abs(ablated - _loss(model, batches)) > 1e-3  # the ablation did something
    assert _no_hooks(model)


@pytest.mark.parametrize("part", ["encoder", "decoder", "cross"])
def test_zero_ablation_of_each_encoder_decoder_part(make_model: MakeModel, part: str) -> None:
    model = _loud(make_model(kind="encoder-decoder"))
    targets = torch.randint(0, 11, TOKENS.shape, generator=torch.Generator().manual_seed(0))

    def loss(m: TinyTransformer) -> torch.Tensor:
        logits = m(TOKENS, source=SOURCE)  # (B, T, vocab)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    with torch.no_grad(), lab.ablate(model, [(1, 0)], part=part):
        ablated = loss(model)
    with torch.no_grad():
        expected = loss(_without_heads(model, [(1, 0)], part))
        assert abs(ablated - loss(model)) > 1e-4
    torch.testing.assert_close(ablated, expected, atol=1e-5, rtol=0)


def test_encoder_decoder_defaults_to_decoder_self_attention(make_model: MakeModel) -> None:
    model = make_model(kind="encoder-decoder")
    with lab.ablate(model, [(0, 1)]):
        assert model.hook_dict["decoder.blocks.0.attn.hook_z"].fns
        assert not model.hook_dict["decoder.blocks.0.cross.hook_z"].fns
    assert lab.z_name(0, "encoder") == "encoder.blocks.0.attn.hook_z"


def test_hooks_are_removed_when_the_body_raises(make_model: MakeModel) -> None:
    model = make_model()
    before = model(TOKENS)
    with pytest.raises(RuntimeError, match="inside"):
        with lab.ablate(model, [(0, 0), (1, 1)], mode="mean", reference=TOKENS):
            assert model.hook_dict["blocks.0.attn.hook_z"].fns
            assert model.hook_dict["blocks.1.attn.hook_z"].fns
            raise RuntimeError("inside the with block")
    assert model.hook_dict["blocks.0.attn.hook_z"].fns == []
    assert model.hook_dict["blocks.1.attn.hook_z"].fns == []
    assert _no_hooks(model)
    torch.testing.assert_close(model(TOKENS), before, atol=0, rtol=0)


def test_mean_mode_replaces_z_by_its_reference_mean(make_model: MakeModel) -> None:
    model = _loud(make_model())
    reference = torch.randint(0, 11, (16, 10), generator=torch.Generator().manual_seed(1))
    _, cache = model.run_with_cache(reference, names="blocks.0.attn.hook_z")
    mean = cache["blocks.0.attn.hook_z"].mean(dim=0)  # (nh, 10, hs)
    for tokens in (TOKENS, TOKENS[:, :5]):  # a shorter input uses the first positions' mean
        T = tokens.shape[1]

        def by_hand(z: torch.Tensor, hook: object, T: int = T) -> torch.Tensor:
            z = z.clone()
            z[:, 1] = mean[1, :T]
            return z

        with model.hooks(fwd=[("blocks.0.attn.hook_z", by_hand)]):
            expected = model(tokens)
        with lab.ablate(model, [(0, 1)], mode="mean", reference=reference):
            mean_ablated = model(tokens)
        with lab.ablate(model, [(0, 1)], mode="zero"):
            zero_ablated = model(tokens)
        torch.testing.assert_close(mean_ablated, expected, atol=1e-6, rtol=0)
        assert (mean_ablated - zero_ablated).abs().max() > 1e-2
    with pytest.raises(ValueError, match="12 positions, the reference only 10"):
        with lab.ablate(model, [(0, 1)], mode="mean", reference=reference):
            model(torch.zeros(1, 12, dtype=torch.long))


def test_mean_mode_accepts_a_task_or_a_batch(make_model: MakeModel) -> None:
    model = make_model()
    probe = TASK.probe()
    with lab.ablate(model, [(1, 0)], mode="mean", reference=probe):
        from_batch = model(torch.from_numpy(probe.inputs))
    with lab.ablate(model, [(1, 0)], mode="mean", reference=torch.from_numpy(probe.inputs)):
        from_tokens = model(torch.from_numpy(probe.inputs))
    torch.testing.assert_close(from_batch, from_tokens, atol=0, rtol=0)
    with lab.ablate(model, [(1, 0)], mode="mean", reference=TASK):
        first = model(TOKENS)
    with lab.ablate(model, [(1, 0)], mode="mean", reference=TASK):
        again = model(TOKENS)  # the task's reference batch is the same each time
    torch.testing.assert_close(first, again, atol=0, rtol=0)


def test_mean_mode_on_an_encoder_decoder_task() -> None:
    task = tasks.get("translate")
    model = TinyTransformer(default_model_config(task, d_model=16, n_heads=2, d_mlp=32))
    zero = lab.evaluate(model, task, [(0, 1)], part="cross", batches=1)
    mean = lab.evaluate(model, task, [(0, 1)], mode="mean", part="cross", batches=1)
    assert math.isfinite(mean["loss"]) and mean["loss"] != zero["loss"]


# ---------------------------------------------------------------------------- evaluate


def test_evaluate_matches_the_trainer_and_leaves_the_model_as_it_was() -> None:
    config = explain.TrainConfig(steps=4, eval_batches=3, batch_size=16, seed=5)
    model = TinyTransformer(default_model_config(TASK, d_model=16, n_heads=2, d_mlp=32))
    trainer = explain.Trainer(model, TASK, config, snapshot_schedule=lambda step: False)
    trainer.run()
    model.train()
    scores = lab.evaluate(model, TASK, batches=3, seed=5, batch_size=16)
    assert model.training
    assert scores == {
        "loss": trainer.evaluate()["val_loss"],
        "accuracy": trainer.evaluate()["val_accuracy"],
    }
    assert lab.evaluate(model, TASK, batches=3, seed=5, batch_size=16) == scores
    assert lab.evaluate(model, TASK, batches=3, seed=6, batch_size=16) != scores
    model.eval()
    lab.evaluate(model, TASK, [(0, 0)], batches=1)
    assert not model.training and _no_hooks(model)


def test_evaluate_accuracy_is_nan_for_a_task_without_a_metric(make_model: MakeModel) -> None:
    class NoMetric(tasks.ReverseTask):
        has_metric = False

    scores = lab.evaluate(make_model(), NoMetric(), batches=1)
    assert math.isnan(scores["accuracy"]) and math.isfinite(scores["loss"])


# ---------------------------------------------------------------------------- importance


def test_gate_gradient_equals_sum_of_z_times_its_gradient(make_model: MakeModel) -> None:
    model = make_model()
    batch = _val_batches(1)[0]
    tensors = to_torch(batch, model.device, TASK)
    z: dict[str, torch.Tensor] = {}
    names = ["blocks.0.attn.hook_z", "blocks.1.attn.hook_z"]
    with model.hooks(fwd=[(n, lambda x, hook: z.__setitem__(hook.name, x)) for n in names]):
        loss = masked_loss(model(**model_inputs(tensors)), tensors)
    grads = torch.autograd.grad(loss, [z[n] for n in names])
    # dL/dξ at ξ = 1 for z' = ξ z is sum over batch, positions and d_head of z * dL/dz'
    per_layer = [(z[n] * g).sum(dim=(0, 2, 3)) for n, g in zip(names, grads, strict=True)]
    expected = torch.stack(per_layer).abs().detach().numpy()  # (L, nh)
    scores = lab.head_importance(model, TASK, batches=1)
    np.testing.assert_allclose(scores, expected, rtol=1e-4)
    assert all(p.grad is None for p in model.parameters())  # no .grad left on the caller's model


def test_gate_gradient_matches_finite_differences(make_model: MakeModel) -> None:
    model = make_model().double()
    batches = _val_batches(1, batch_size=16)
    scores = lab.head_importance(model, TASK, batches=1, batch_size=16)
    eps = 1e-4
    for layer, head in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        losses = []
        for factor in (1 + eps, 1 - eps):

            def scale(z: torch.Tensor, hook: object, head=head, factor=factor) -> torch.Tensor:
                z = z.clone()
                z[:, head] *= factor
                return z

            with model.hooks(fwd=[(f"blocks.{layer}.attn.hook_z", scale)]):
                losses.append(_loss(model, batches))
        finite_difference = abs(losses[0] - losses[1]) / (2 * eps)
        assert scores[layer, head] == pytest.approx(finite_difference, rel=1e-3)


def test_ablation_importance_is_the_loss_increase(make_model: MakeModel) -> None:
    model = make_model()
    scores = lab.head_importance(model, TASK, "ablation", batches=2, batch_size=16)
    batches = _val_batches(2, batch_size=16)
    base = _loss(model, batches)
    expected = [[_loss(_without_heads(model, [(layer, head)]), batches) - base for head in
                 range(2)] for layer in range(2)]  # fmt: skip
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_normalized_importance_has_unit_norm_per_layer(make_model: MakeModel) -> None:
    model = make_model()
    raw = lab.head_importance(model, TASK, batches=1)
    normalized = lab.head_importance(model, TASK, batches=1, normalize_layers=True)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(normalized * np.linalg.norm(raw, axis=1, keepdims=True), raw)


def test_rank_heads_orders_least_important_first() -> None:
    assert lab.rank_heads(np.array([[3.0, 1.0, 5.0], [0.5, 4.0, 2.0]])) == [
        (1, 0), (0, 1), (1, 2), (0, 0), (1, 1), (0, 2)
    ]  # fmt: skip


@pytest.mark.slow
def test_importance_methods_agree_on_a_trained_reverse_model(trained: TinyTransformer) -> None:
    gradient = lab.head_importance(trained, TASK)
    ablation = lab.head_importance(trained, TASK, "ablation")
    assert _spearman(gradient, ablation) > 0
    order = lab.rank_heads(gradient)
    most = lab.evaluate(trained, TASK, [order[-1]])["accuracy"]
    least = lab.evaluate(trained, TASK, [order[0]])["accuracy"]
    assert most < least


# ---------------------------------------------------------------------------- pruning


@pytest.mark.slow
def test_prune_curve_goes_from_unablated_to_every_head_off(trained: TinyTransformer) -> None:
    curve = lab.prune_curve(trained, TASK)
    n = 8  # 2 layers x 4 heads
    assert curve.order == tuple(lab.rank_heads(lab.head_importance(trained, TASK)))
    np.testing.assert_allclose(curve.fractions, np.arange(n + 1) / n)
    unablated = lab.evaluate(trained, TASK)
    assert (curve.loss[0], curve.accuracy[0]) == (unablated["loss"], unablated["accuracy"])
    everything_off = _without_heads(trained, lab.all_heads(trained))
    assert curve.loss[-1] == pytest.approx(_loss(everything_off, _val_batches(8)), abs=1e-5)
    assert curve.accuracy[-1] < 0.1 < curve.accuracy[0]
    half = lab.evaluate(trained, TASK, curve.order[:4])
    assert (curve.loss[4], curve.accuracy[4]) == (half["loss"], half["accuracy"])
    with pytest.raises(ValueError):
        curve.loss[0] = 0.0  # the curve is frozen


def test_prune_curve_with_retraining_keeps_heads_off_and_the_model_intact(
    make_model: MakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from explain.lab import pruning

    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    order = [(1, 1), (0, 0), (1, 0), (0, 1)]
    seen = []
    fine_tune = pruning._fine_tune

    def spy(copy_model, task, steps, config, seed):
        assert copy_model is not model
        seen.append({name for name, hp in copy_model.hook_dict.items() if hp.fns})
        fine_tune(copy_model, task, steps, config, seed)

    monkeypatch.setattr(pruning, "_fine_tune", spy)
    retrained = lab.prune_curve(model, TASK, order, retrain_steps=3, batches=2, batch_size=16)
    plain = lab.prune_curve(model, TASK, order, batches=2, batch_size=16)
    assert seen == [
        {"blocks.1.attn.hook_z"},
        {"blocks.0.attn.hook_z", "blocks.1.attn.hook_z"},
        {"blocks.0.attn.hook_z", "blocks.1.attn.hook_z"},
        {"blocks.0.attn.hook_z", "blocks.1.attn.hook_z"},
    ]
    assert retrained.loss[0] == plain.loss[0]
    assert (retrained.loss[1:] < plain.loss[1:]).all()  # fine-tuning recovers some loss
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert _no_hooks(model)


def test_magnitude_prune_zeroes_the_smallest_block_weights_globally(
    make_model: MakeModel,
) -> None:
    model = make_model(kind="encoder-decoder")
    pattern = re.compile(r"^(encoder\.|decoder\.)?blocks\.\d+\.(attn|cross|mlp)\.W_\w+\.weight$")
    original = {k: v.clone() for k, v in model.state_dict().items()}
    prunable = sorted(k for k in original if pattern.match(k))
    assert len(prunable) == 2 * 2 * 4 + 2 * 3  # W_qkv W_o W_in W_out per block, + W_q W_kv W_o
    magnitudes = np.sort(np.concatenate([original[k].abs().numpy().ravel() for k in prunable]))
    for level in (0.0, 0.3, 1.0):
        pruned = lab.magnitude_prune(model, level).state_dict()
        count = round(level * magnitudes.size)
        values = np.concatenate([pruned[k].numpy().ravel() for k in prunable])
        assert (values == 0).sum() == count
        if 0 < count < magnitudes.size:
            assert np.abs(values[values != 0]).min() >= magnitudes[count - 1]
        for key in original.keys() - set(prunable):  # biases, norms, embeddings, unembedding
            assert torch.equal(pruned[key], original[key]), key
    assert all(torch.equal(original[k], v) for k, v in model.state_dict().items())


def test_sparsity_curve_at_level_zero_equals_evaluate(make_model: MakeModel) -> None:
    model = make_model()
    curve = lab.sparsity_curve(model, TASK, levels=(0, 0.5, 1), batches=2, batch_size=16)
    scores = lab.evaluate(model, TASK, batches=2, batch_size=16)
    assert (curve.loss[0], curve.accuracy[0]) == (scores["loss"], scores["accuracy"])
    half = _loss(lab.magnitude_prune(model, 0.5), _val_batches(2, batch_size=16))
    assert curve.loss[1] == pytest.approx(half, abs=1e-6)
    np.testing.assert_array_equal(curve.levels, [0, 0.5, 1])


# ---------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("heads", "message"),
    [
        ([], r"at least one \(layer, head\) pair \(layers 0\.\.1, heads 0\.\.1\); got \[\]"),
        ([(2, 0)], r"layer 2 of head \(2, 0\) is out of range; layers 0\.\.1, heads 0\.\.1"),
        ([(0, 2)], r"head 2 of \(0, 2\) is out of range; layers 0\.\.1, heads 0\.\.1"),
        ([(0, -1)], r"head -1 of \(0, -1\) is out of range"),
        ([(0, 1), (1, 0), (0, 1)], r"head \(0, 1\) is listed twice"),
        ([(0,)], r"a \(layer, head\) pair of ints, e\.g\. \[\(0, 1\)\]; got \(0,\)"),
        ([(0, 1.0)], r"pair of ints.*got \(0, 1\.0\)"),
        ((0, 1), r"pair of ints.*got 0"),
        ("01", r"list of \(layer, head\) pairs"),
    ],
)
def test_ablate_rejects_bad_heads(make_model: MakeModel, heads, message: str) -> None:
    model = make_model()
    with pytest.raises(ValueError, match=message):
        with lab.ablate(model, heads):
            pass
    assert _no_hooks(model)


def test_bad_modes_parts_methods_and_arguments(make_model: MakeModel) -> None:
    model = make_model()
    with pytest.raises(ValueError, match=r"mode must be one of \['zero', 'mean'\]; got 'max'"):
        with lab.ablate(model, [(0, 0)], mode="max"):
            pass
    with pytest.raises(ValueError, match="mode='mean' needs a reference"):
        with lab.ablate(model, [(0, 0)], mode="mean"):
            pass
    with pytest.raises(ValueError, match=r"part must be one of \['self'\].*got 'cross'"):
        with lab.ablate(model, [(0, 0)], part="cross"):
            pass
    with pytest.raises(ValueError, match="reference must be a Task.*got str"):
        with lab.ablate(model, [(0, 0)], mode="mean", reference="3 1 4"):
            pass
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'max'"):
        lab.evaluate(model, TASK, mode="max")
    with pytest.raises(ValueError, match="batches must be a positive int; got 0"):
        lab.evaluate(model, TASK, batches=0)
    with pytest.raises(ValueError, match=r"method must be one of \['gradient', 'ablation'\]"):
        lab.head_importance(model, TASK, method="hessian")
    with pytest.raises(ValueError, match=r"order must list every head once; it misses \[\(1, 1\)"):
        lab.prune_curve(model, TASK, order=[(0, 0), (0, 1), (1, 0)], batches=1)
    with pytest.raises(ValueError, match="retrain_steps must be an int >= 0; got -1"):
        lab.prune_curve(model, TASK, retrain_steps=-1)
    with pytest.raises(ValueError, match=r"sparsity level must be a number in \[0, 1\]; got 1.5"):
        lab.sparsity_curve(model, TASK, levels=(0, 1.5))
    with pytest.raises(ValueError, match=r"levels must hold at least one number"):
        lab.sparsity_curve(model, TASK, levels=())
    with pytest.raises(TypeError, match="model must be an explain TinyTransformer; got Linear"):
        lab.evaluate(torch.nn.Linear(2, 2), TASK)
    assert _no_hooks(model)


# ---------------------------------------------------------------------------- package


def test_lab_is_reachable_from_explain_and_its_examples_run() -> None:
    from explain.lab import heads, pruning

    assert explain.lab.ablate is heads.ablate
    assert set(lab.__all__) <= set(dir(lab))
    for module in (heads, pruning):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted and not result.failed, module.__name__
