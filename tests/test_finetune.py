"""Tests for fine-tuning in explain/run.py: train(init=..., freeze=...) and the phases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import explain
from explain import TrainConfig, load_trace


@pytest.fixture(scope="module")
def pretrained():
    return explain.train("copy", train_config=TrainConfig(steps=30, eval_every=10))


def test_fine_tuning_starts_from_a_copy_of_the_weights(pretrained):
    before = {n: p.detach().clone() for n, p in pretrained.model.named_parameters()}
    run = explain.train("reverse", init=pretrained, train_config=TrainConfig(steps=1))
    for name, p in run.model.named_parameters():  # one warm-up step moves weights by ~lr/20
        assert (p - before[name]).abs().max() < 1e-3, name
    for name, p in pretrained.model.named_parameters():
        assert torch.equal(p, before[name])  # init is copied, not trained in place


def test_frozen_parameters_stay_bit_identical(pretrained):
    run = explain.train(
        "reverse", init=pretrained, freeze=["embed", "blocks.0"], train_config=TrainConfig(steps=5)
    )
    start = dict(pretrained.model.named_parameters())
    owned = {id(p) for group in run.trainer.optimizer.param_groups for p in group["params"]}
    for name, p in run.model.named_parameters():
        frozen = name.startswith(("embed.", "blocks.0."))
        assert (id(p) in owned) != frozen, name
        assert torch.equal(p, start[name]) == frozen, name
        ratios = run.trace.scalar(f"update_ratio/{name}")[1][-5:]
        if frozen:
            assert (ratios == 0).all(), name
    assert run.trace.meta["frozen"][0] == "embed.W_E.weight"


def test_freezing_nothing_that_exists_lists_the_module_paths(pretrained):
    with pytest.raises(ValueError, match=r"'blocks\.7' matches no parameter.*'blocks\.0\.attn'"):
        explain.train("reverse", init=pretrained, freeze=["blocks.7"])


def test_init_needs_the_same_vocabulary(pretrained):
    with pytest.raises(ValueError, match=r"lacks task 'induction'.*'<bos>', 'a'"):
        explain.train("induction", init=pretrained)


def test_phases_continue_the_step_axis_and_survive_save(pretrained, tmp_path):
    run = explain.train(
        "reverse", init=pretrained, train_config=TrainConfig(steps=20, eval_every=10)
    )
    trace = run.trace
    assert trace.meta["phases"] == [
        {"name": "pre-training", "task": "copy", "first_step": 0},
        {"name": "fine-tuning", "task": "reverse", "first_step": 30},
    ]
    assert trace.steps.tolist() == list(range(0, 51))
    steps, accuracy = trace.scalar("val_accuracy")
    assert steps.tolist() == [0, 10, 20, 30, 40, 50]
    np.testing.assert_array_equal(accuracy[:4], pretrained.trace.scalar("val_accuracy")[1])
    assert trace.snapshot_steps[-1] == 50 and 30 in trace.snapshot_steps
    assert trace.meta["last_step"] == 50 and trace.meta["task"]["name"] == "reverse"
    assert len(pretrained.trace.steps) == 31  # the pre-training trace is left as it was
    run.save(tmp_path / "ft")
    assert load_trace(tmp_path / "ft" / "trace.npz").meta["phases"] == trace.meta["phases"]
    # A second fine-tuning adds a third phase from the saved directory.
    again = explain.train("sort", init=tmp_path / "ft", train_config=TrainConfig(steps=2))
    assert [p["first_step"] for p in again.trace.meta["phases"]] == [0, 30, 50]
    assert again.trace.meta["init"] == str(tmp_path / "ft")


def test_init_from_a_bare_model_records_one_phase():
    model = explain.TinyTransformer(explain.ModelConfig(vocab_size=11, context_length=12))
    run = explain.train("reverse", init=model, train_config=TrainConfig(steps=2))
    assert run.trace.meta["phases"] == [{"name": "fine-tuning", "task": "reverse", "first_step": 0}]
    with pytest.raises(ValueError, match="not both"):
        explain.train("reverse", explain.ModelConfig(vocab_size=11, d_model=32), init=model)
