"""Tests for explain/record.py: what the Recorder writes into a trace, and when.

Every recorded number is compared with the same quantity captured independently by another
callback (gradients, weights before and after each update, optimizer state) or recomputed from
the model (attention patterns, logits).
"""

from __future__ import annotations

import json
import logging
import platform
from typing import Any

import numpy as np
import pytest
import torch
from test_schedule import doubling_schedule

import explain
from explain import ModelConfig, Recorder, RecordSchedule, TrainConfig, Trainer
from explain import tasks as tasks_module
from explain.model import TinyTransformer
from explain.run import default_model_config

TINY = dict(d_model=32, n_layers=2, n_heads=2, d_mlp=64)
TRACKED = ["embed.W_E.weight", "blocks.0.attn.W_o.weight"]  # the Recorder's default


def small_model(task_name: str, **overrides: Any) -> ModelConfig:
    """A d_model 32, 2-layer model that fits ``task_name``."""
    return default_model_config(tasks_module.get(task_name), **{**TINY, **overrides})


def quick(**overrides: Any) -> TrainConfig:
    """A few small steps: batch 16, one validation batch."""
    fields = dict(steps=10, batch_size=16, eval_batches=1, eval_every=5, warmup_steps=2)
    return TrainConfig(**{**fields, **overrides})


# -- snapshots on the schedule ----------------------------------------------------------------
def test_a_run_snapshots_on_its_schedule_and_at_the_last_step() -> None:
    run = explain.train(
        "copy", small_model("copy"), quick(steps=27), schedule=RecordSchedule(dense_until=8)
    )
    want = [s for s in range(28) if doubling_schedule(s, 8, 1)] + [27]
    assert run.trace.snapshot_steps.tolist() == want
    assert all(a.shape[0] == len(want) for a in run.trace.tensors.values())


# -- what a step records ---------------------------------------------------------------------
def bfloat16(tensor: torch.Tensor) -> np.ndarray:
    """``tensor`` rounded to bfloat16 as the Recorder stores optimizer tensors, as float32."""
    return tensor.to(torch.bfloat16).float().numpy()


class Probe:
    """Captures, without the Recorder, what it should record: gradients as the optimizer sees
    them, weights before and after each update, optimizer state after each update."""

    def __init__(self) -> None:
        self.grads: dict[int, dict[str, torch.Tensor]] = {}
        self.before: dict[int, dict[str, torch.Tensor]] = {}
        self.after: dict[int, dict[str, torch.Tensor]] = {}
        self.state: dict[int, dict[str, dict[str, torch.Tensor]]] = {}

    def on_before_optimizer_step(self, trainer: Trainer, step: int) -> None:
        named = dict(trainer.model.named_parameters())
        self.grads[step] = {n: p.grad.detach().clone() for n, p in named.items()}
        self.before[step] = {n: p.detach().clone() for n, p in named.items()}

    def on_step_end(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        named = dict(trainer.model.named_parameters())
        self.after[step] = {n: p.detach().clone() for n, p in named.items()}
        self.state[step] = {
            n: {k: v.clone() for k, v in trainer.optimizer.state[p].items() if k != "step"}
            for n, p in named.items()
        }


STEPS = 12


@pytest.fixture(scope="module")
def adam_run() -> tuple[explain.Run, Probe]:
    probe = Probe()
    # No clipping: gradients as the optimizer sees them are then the raw ones as well.
    cfg = quick(steps=STEPS, optimizer="adam", lr=1e-2, grad_clip=None)
    return explain.train("copy", small_model("copy"), cfg, callbacks=[probe]), probe


def test_every_parameter_has_its_scalars_at_every_step(adam_run: tuple[Any, Probe]) -> None:
    run, _ = adam_run
    scalars = run.trace.scalars
    names = [n for n, _ in run.model.named_parameters()]
    per_param = {f"{kind}/{n}" for kind in ("grad_norm", "update_ratio") for n in names}
    assert set(scalars) == {"loss", "lr", "grad_norm", "val_loss", "val_accuracy"} | per_param
    assert run.trace.steps.tolist() == list(range(STEPS + 1))
    zero_at_init = {n for n, p in dict(run.model.named_parameters()).items() if "bias" in n}
    for name in per_param | {"loss", "lr", "grad_norm"}:
        assert np.isnan(scalars[name][0]), name  # step 0 is before training
        kind, _, param = name.partition("/")
        # A bias starts at zero, so its update/weight ratio at step 1 is undefined (NaN).
        first = 2 if kind == "update_ratio" and param in zero_at_init else 1
        assert np.all(np.isfinite(scalars[name][first:])), name


def test_per_parameter_grad_norm_and_update_ratio_match_independent_values(
    adam_run: tuple[Any, Probe],
) -> None:
    run, probe = adam_run
    scalars = run.trace.scalars
    for step in range(1, STEPS + 1):
        for name, grad in probe.grads[step].items():
            want = float(grad.double().norm())
            assert scalars[f"grad_norm/{name}"][step] == pytest.approx(want, rel=1e-5), name
            before = probe.before[step][name].double()
            update = (probe.after[step][name] - probe.before[step][name]).double()
            got = scalars[f"update_ratio/{name}"][step]
            if before.norm() > 0:
                want = float(update.norm() / before.norm())
                assert got == pytest.approx(want, rel=1e-5), (step, name)
            else:  # a zero-initialised bias has no ratio at step 1: NaN, not 1e9
                assert np.isnan(got), (step, name)


@pytest.mark.parametrize(
    "clip",
    [
        None,
        0.05,
    ],
)
def test_per_parameter_grad_norms_combine_to_the_global_grad_norm(clip: float | None) -> None:
    run = explain.train("copy", small_model("copy"), quick(steps=5, grad_clip=clip))
    scalars = run.trace.scalars
    if clip is not None:
        assert np.all(scalars["grad_norm"][1:] > 2 * clip)  # clipping acts at every step
    names = [n for n, _ in run.model.named_parameters()]
    combined = np.sqrt(sum(scalars[f"grad_norm/{n}"] ** 2 for n in names))
    np.testing.assert_allclose(combined[1:], scalars["grad_norm"][1:], rtol=1e-5)


def test_tracked_gradient_update_and_adam_moments_match_the_optimizer(
    adam_run: tuple[Any, Probe],
) -> None:
    run, probe = adam_run
    trace = run.trace
    assert trace.snapshot_steps.tolist() == list(range(STEPS + 1))
    tensors = trace.tensors
    kinds = ("grad", "update", "exp_avg", "exp_avg_sq")
    assert {f"{k}/{p}" for k in kinds for p in TRACKED} <= tensors.keys()
    assert not any(name.startswith("momentum_buffer/") for name in tensors)
    for p in TRACKED:
        for kind in kinds:
            assert not tensors[f"{kind}/{p}"][0].any(), f"{kind}/{p} is not zero at step 0"
        for step in range(1, STEPS + 1):
            update = probe.after[step][p] - probe.before[step][p]
            assert np.array_equal(tensors[f"update/{p}"][step], bfloat16(update)), (step, p)
            assert np.array_equal(tensors[f"grad/{p}"][step], bfloat16(probe.grads[step][p]))
            for moment in ("exp_avg", "exp_avg_sq"):
                want = bfloat16(probe.state[step][p][moment])
                assert np.array_equal(tensors[f"{moment}/{p}"][step], want), (moment, step, p)
            # Rounded to bfloat16, not further: within half a unit in the 8th significant bit.
            exact = update.numpy()
            np.testing.assert_allclose(tensors[f"update/{p}"][step], exact, rtol=2**-8, atol=0)


@pytest.mark.parametrize("optimizer, moments", [("momentum", ["momentum_buffer"]), ("sgd", [])])
def test_chosen_parameters_and_their_sgd_moments_are_tracked(
    optimizer: str, moments: list[str]
) -> None:
    chosen = ["unembed.weight", "blocks.1.mlp.W_in.bias"]
    probe = Probe()
    run = explain.train(
        "copy",
        small_model("copy"),
        quick(steps=3, optimizer=optimizer, lr=0.1),
        callbacks=[probe],
        recorder=Recorder(parameters=chosen),
    )
    tensors = run.trace.tensors
    tracked = {name for name in tensors if "/" in name}
    assert tracked == {f"{k}/{p}" for k in ("grad", "update", *moments) for p in chosen}
    assert run.trace.meta["tracked_parameters"] == chosen
    for p in chosen:
        for step in (1, 2, 3):
            update = probe.after[step][p] - probe.before[step][p]
            assert np.array_equal(tensors[f"update/{p}"][step], bfloat16(update))
            for moment in moments:
                want = bfloat16(probe.state[step][p][moment])
                assert np.array_equal(tensors[f"{moment}/{p}"][step], want)


def test_unknown_tracked_parameter_is_a_value_error_listing_the_names() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['nope\.weight'\]") as info:
        explain.train(
            "copy", small_model("copy"), quick(steps=1), recorder=Recorder(["nope.weight"])
        )
    for name in ("embed.W_E.weight", "blocks.1.attn.W_o.weight", "unembed.weight"):
        assert name in str(info.value)


# -- snapshots of the probe ----------------------------------------------------------------
def probe_forward(model: TinyTransformer, task: tasks_module.Task) -> dict[str, np.ndarray]:
    """Attention patterns and logits of the task's probe, straight from the model."""
    model.eval()
    names = [n for n in model.hook_names() if n.endswith("hook_pattern")] + ["hook_logits"]
    _, cache = model.run_with_cache(torch.from_numpy(task.probe().inputs), names=names)
    return {name: value[0].numpy() for name, value in cache.items()}


def test_final_snapshot_matches_the_final_model(adam_run: tuple[Any, Probe]) -> None:
    run, _ = adam_run
    trace, model = run.trace, run.model
    expected = probe_forward(model, run.task)
    names = trace.attention_names()
    assert names == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    last = trace.at(STEPS)
    assert last.step == STEPS and last.index == len(trace) - 1
    for name in [*names, "hook_logits"]:
        np.testing.assert_allclose(last.tensors[name], expected[name], rtol=1e-5, atol=1e-6)
    for name in names:
        patterns = trace.tensors[name]  # [snapshot, head, q_pos, k_pos]
        assert patterns.shape == (len(trace), 2, 12, 12)
        np.testing.assert_allclose(patterns.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(patterns, k=1) == 0), "causal: no weight on later positions"
    np.testing.assert_array_equal(
        last.tensors["embed.W_E"], model.embed.W_E.weight.detach().numpy()
    )
    np.testing.assert_array_equal(last.tensors["positional"], model.positional_table().numpy())


@pytest.mark.parametrize("step", [0, 5])
def test_snapshot_at_a_step_shows_the_weights_after_that_update(
    adam_run: tuple[Any, Probe], step: int
) -> None:
    run, probe = adam_run
    model = TinyTransformer(run.model.config)  # step 0: the same seeded initial weights
    if step:
        model.load_state_dict(probe.after[step])
    expected = probe_forward(model, run.task)
    snapshot = run.trace.at(step)
    assert snapshot.step == step
    for name, value in expected.items():
        np.testing.assert_allclose(snapshot.tensors[name], value, rtol=1e-5, atol=1e-6)


def test_translate_trains_an_encoder_decoder_and_records_every_attention() -> None:
    run = explain.train("translate", small_model("translate"), quick(steps=4))
    trace, task, model = run.trace, run.task, run.model
    assert run.status == "complete" and model.config.kind == "encoder-decoder"
    assert np.all(np.isfinite(trace.scalar("loss")[1]))
    blocks = ["encoder.blocks.0.attn", "encoder.blocks.1.attn"]
    blocks += ["decoder.blocks.0.attn", "decoder.blocks.0.cross"]
    blocks += ["decoder.blocks.1.attn", "decoder.blocks.1.cross"]
    assert trace.attention_names() == [f"{b}.hook_pattern" for b in blocks]
    n, src, tgt = len(trace), task.source_length, task.context_length
    probe = task.probe()
    real = torch.from_numpy(probe.source != task.pad)
    model.eval()
    _, cache = model.run_with_cache(
        torch.from_numpy(probe.inputs),
        source=torch.from_numpy(probe.source),
        source_mask=real,
        names=trace.attention_names(),
    )
    for name in trace.attention_names():
        patterns = trace.tensors[name]
        q, k = (src, src) if name.startswith("encoder") else (tgt, src if "cross" in name else tgt)
        assert patterns.shape == (n, 2, q, k), name
        np.testing.assert_allclose(patterns.sum(-1), 1.0, atol=1e-5, err_msg=name)
        if name.startswith("decoder") and ".attn." in name:
            assert np.all(np.triu(patterns, k=1) == 0), f"{name} is not causal"
        else:  # attention over the source never lands on its padding
            assert np.all(patterns[..., ~real[0].numpy()] == 0), name
        np.testing.assert_allclose(patterns[-1], cache[name][0].numpy(), atol=1e-6)
    assert {"encoder.embed.W_E", "decoder.embed.W_E"} <= trace.tensors.keys()
    assert trace.meta["tracked_parameters"] == [
        "decoder.embed.W_E.weight",
        "decoder.blocks.0.attn.W_o.weight",
    ]
    assert trace.meta["probe"]["source_tokens"] == task.probe_source_tokens()
    assert trace.meta["probe"]["tokens"] == task.probe_tokens()


# -- meta --------------------------------------------------------------------------------------
def test_meta_describes_the_run(adam_run: tuple[Any, Probe], tmp_path: Any) -> None:
    run, _ = adam_run
    meta, task, model = run.trace.meta, run.task, run.model
    assert meta["model_config"] == model.config.to_dict()
    assert meta["train_config"] == run.trainer.config.to_dict()
    assert meta["train_config"]["optimizer"] == "adam" and meta["train_config"]["steps"] == STEPS
    assert meta["task"] == {"name": "copy", "kind": "decoder", "description": task.description}
    assert meta["vocab"] == task.vocab
    probe = task.probe()
    assert meta["probe"] == {
        "ids": probe.inputs[0].tolist(),
        "tokens": task.probe_tokens(),
        "target_ids": probe.targets[0].tolist(),
        "target_tokens": [task.vocab[i] for i in probe.targets[0]],
        "mask": probe.mask[0].tolist(),
    }
    assert meta["seed"] == 0
    assert meta["tracked_parameters"] == TRACKED
    assert meta["parameters"] == {n: list(p.shape) for n, p in model.named_parameters()}
    assert meta["versions"] == {
        "explain": explain.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    assert meta["status"] == "complete" and meta["last_step"] == STEPS
    tensors = run.trace.tensors
    assert meta["dims"].keys() == tensors.keys()
    for name, dims in meta["dims"].items():
        assert len(dims) == tensors[name].ndim and dims[0] == "snapshot", name
    assert meta["dims"]["blocks.0.attn.hook_pattern"] == ["snapshot", "head", "q_pos", "k_pos"]
    assert meta["dims"]["hook_logits"] == ["snapshot", "pos", "vocab"]
    assert meta["dims"]["embed.W_E"] == ["snapshot", "vocab", "d_model"]
    assert meta["dims"]["positional"] == ["snapshot", "pos", "d_model"]
    loaded = explain.load_trace(run.trace.save(tmp_path / "run.npz"))
    assert loaded.meta == json.loads(json.dumps(meta))


def test_a_saved_run_keeps_attention_float32_and_optimizer_tensors_in_16_bits(
    adam_run: tuple[Any, Probe], tmp_path: Any
) -> None:
    run, _ = adam_run
    path = run.trace.save(tmp_path / "run.npz")
    with np.load(path, allow_pickle=False) as archive:
        entries = {key: archive[key].dtype for key in archive.files}
    optimizer = {f"{k}/{p}" for k in ("grad", "update", "exp_avg", "exp_avg_sq") for p in TRACKED}
    assert {f"bfloat16/{name}" for name in optimizer} <= entries.keys()
    assert all(entries[f"bfloat16/{name}"] == np.uint16 for name in optimizer)
    for name in run.trace.tensors.keys() - optimizer:  # attention, logits, embeddings, ...
        kept = np.int32 if name == "token_top_ids" else np.float32  # token ids stay ints
        assert entries.get(f"tensor/{name}") == kept, name
    loaded = explain.load_trace(path)
    for name, array in run.trace.tensors.items():
        assert np.array_equal(loaded.tensors[name], array), name


# -- memory cap --------------------------------------------------------------------------------
CAP_STEPS = 40


@pytest.fixture(scope="module")
def uncapped() -> tuple[explain.Trace, int]:
    """A 40-step run with a snapshot every step, and the bytes one snapshot's tensors take."""
    run = explain.train(
        "copy", small_model("copy"), quick(steps=CAP_STEPS), recorder=Recorder(["embed.W_E.weight"])
    )
    trace = run.trace
    assert len(trace) == CAP_STEPS + 1
    return trace, sum(a[0].nbytes for a in trace.tensors.values())


class CapWatch:
    """Checks the cap after every snapshot (it runs after the Recorder)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder, self.sizes = recorder, []

    def on_snapshot(self, trainer: Trainer, step: int) -> None:
        trace = self.recorder.trace
        self.sizes.append(trace.nbytes)
        assert trace.snapshot_steps[-1] == step  # the newest snapshot is always kept


def test_memory_cap_thins_older_snapshots(uncapped: tuple[explain.Trace, int]) -> None:
    reference, snapshot_bytes = uncapped
    scalar_bytes = reference.nbytes - len(reference) * (snapshot_bytes + 8)
    cap = scalar_bytes + 12 * (snapshot_bytes + 8)
    recorder = Recorder(["embed.W_E.weight"], max_bytes=cap)
    watch = CapWatch(recorder)
    run = explain.train(
        "copy", small_model("copy"), quick(steps=CAP_STEPS), recorder=recorder, callbacks=[watch]
    )
    trace = run.trace
    assert max(watch.sizes) <= cap and trace.nbytes <= cap
    steps = trace.snapshot_steps
    assert 4 <= len(steps) < CAP_STEPS + 1, "the cap should have thinned the trace"
    assert steps[0] == 0 and steps[-1] == CAP_STEPS and np.all(np.diff(steps) > 0)
    assert set(range(CAP_STEPS - 2, CAP_STEPS + 1)) <= set(steps.tolist())  # newest kept
    # the kept snapshots are the ones recorded at those steps, aligned with them
    index = {s: i for i, s in enumerate(reference.snapshot_steps.tolist())}
    for name, array in trace.tensors.items():
        assert array.shape[0] == len(steps)
        want = reference.tensors[name][[index[s] for s in steps.tolist()]]
        assert np.array_equal(array, want), name
    # scalars are never thinned
    for name, values in reference.scalars.items():
        assert np.array_equal(trace.scalars[name], values, equal_nan=True), name


def test_memory_cap_warns_once_when_scalars_alone_overflow_it(
    uncapped: tuple[explain.Trace, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, snapshot_bytes = uncapped
    recorder = Recorder(["embed.W_E.weight"], max_bytes=4 * snapshot_bytes)  # just allowed
    with caplog.at_level(logging.WARNING, logger="explain.record"):
        run = explain.train("copy", small_model("copy"), quick(steps=CAP_STEPS), recorder=recorder)
    warnings = [r for r in caplog.records if "max_bytes" in r.getMessage()]
    assert len(warnings) == 1
    assert str(4 * snapshot_bytes) in warnings[0].getMessage()
    steps = run.trace.snapshot_steps
    assert steps[0] == 0 and steps[-1] == CAP_STEPS and len(steps) < CAP_STEPS + 1


def test_max_bytes_too_small_for_four_snapshots_is_a_value_error(
    uncapped: tuple[explain.Trace, int],
) -> None:
    _, snapshot_bytes = uncapped
    cap = 4 * snapshot_bytes - 1
    recorder = Recorder(["embed.W_E.weight"], max_bytes=cap)
    with pytest.raises(ValueError, match=rf"{snapshot_bytes} bytes; max_bytes={cap} .* 4 of them"):
        explain.train("copy", small_model("copy"), quick(steps=2), recorder=recorder)


@pytest.mark.parametrize("max_bytes", [0, -1])
def test_max_bytes_must_be_positive(max_bytes: int) -> None:
    with pytest.raises(ValueError, match=rf"max_bytes must be positive; got {max_bytes}"):
        Recorder(max_bytes=max_bytes)
