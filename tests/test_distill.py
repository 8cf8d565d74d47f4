"""Tests for explain/lab/distillation.py: the distillation loss, distill() and match_heads()."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import explain
from explain import TrainConfig, lab
from explain.batches import masked_loss
from explain.run import default_model_config
from explain.trace import Trace

STUDENT_STEPS = 400  # d_model=32 from the default reverse teacher: 0.99 at 400, 0.92 at 300


def softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(x - top) for x in row]
    return [e / sum(exps) for e in exps]


def hand_loss(student, teacher, targets, mask, temperature, alpha) -> tuple[float, float, float]:
    """The loss with explicit loops over positions and tokens: (loss, KL, cross-entropy)."""
    kl_terms, ce_terms = [], []
    for b in range(len(targets)):
        for t in range(len(targets[b])):
            if not mask[b][t]:
                continue
            p_t = softmax([x / temperature for x in teacher[b][t]])
            p_s = softmax([x / temperature for x in student[b][t]])
            kl_terms.append(
                sum(p * (math.log(p) - math.log(q)) for p, q in zip(p_t, p_s, strict=True))
            )
            ce_terms.append(-math.log(softmax(list(student[b][t]))[targets[b][t]]))
    kl, ce = sum(kl_terms) / len(kl_terms), sum(ce_terms) / len(ce_terms)
    return alpha * temperature**2 * kl + (1 - alpha) * ce, kl, ce


@pytest.mark.parametrize(("temperature", "alpha"), [(1.0, 0.5), (2.0, 0.3), (4.0, 1.0)])
def test_loss_matches_a_hand_computation(temperature, alpha):
    rng = np.random.default_rng(0)
    student = rng.normal(size=(2, 3, 5)) * 2
    teacher = rng.normal(size=(2, 3, 5)) * 2
    targets = rng.integers(0, 5, size=(2, 3))
    mask = np.array([[True, False, True], [True, True, False]])
    loss, parts = lab.distillation_loss(
        torch.tensor(student),
        torch.tensor(teacher),
        torch.tensor(targets),
        temperature,
        alpha,
        torch.tensor(mask),
    )
    expected, kl, ce = hand_loss(student, teacher, targets, mask, temperature, alpha)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert parts["distill"] == pytest.approx(kl, abs=1e-6)
    assert parts["task"] == pytest.approx(ce, abs=1e-6)


def test_alpha_zero_is_exactly_the_task_loss():
    rng = np.random.default_rng(1)
    student = torch.tensor(rng.normal(size=(3, 4, 6)), dtype=torch.float32)
    teacher = torch.tensor(rng.normal(size=(3, 4, 6)), dtype=torch.float32)
    targets = torch.tensor(rng.integers(0, 6, size=(3, 4)))
    mask = torch.tensor(rng.random((3, 4)) > 0.3)
    loss, _ = lab.distillation_loss(student, teacher, targets, 3.0, 0.0, mask)
    assert torch.equal(loss, masked_loss(student, {"targets": targets, "mask": mask}))


def test_the_gradient_reaches_only_the_student():
    student = torch.zeros(1, 2, 3, requires_grad=True)
    teacher = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]], requires_grad=True)
    loss, _ = lab.distillation_loss(student, teacher, torch.tensor([[0, 1]]), 2.0, 1.0)
    loss.backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


@pytest.mark.parametrize(
    ("temperature", "alpha", "named"),
    [(0.0, 0.5, "0.0"), (-1.0, 0.5, "-1.0"), (float("inf"), 0.5, "inf"), (2.0, 1.5, "1.5")],
)
def test_bad_settings_name_the_value(temperature, alpha, named):
    logits = torch.zeros(1, 1, 2)
    with pytest.raises(ValueError, match=named):
        lab.distillation_loss(
            logits, logits, torch.zeros(1, 1, dtype=torch.long), temperature, alpha
        )


@pytest.fixture(scope="module")
def teacher():
    return explain.train("reverse")


@pytest.mark.slow
def test_a_narrow_student_learns_reverse_from_the_teacher(teacher):
    mode = teacher.model.training
    model_config = default_model_config(teacher.task, d_model=32)
    student = explain.distill(
        teacher, "reverse", model_config, TrainConfig(steps=STUDENT_STEPS), temperature=2.0
    )
    assert student.trace.scalar("val_accuracy")[1][-1] >= 0.95
    for name in ("loss/distill", "loss/task", "agreement"):
        assert name in student.trace.scalars
    assert len(student.trace.scalar("loss/distill")[0]) == STUDENT_STEPS
    assert student.trace.scalar("agreement")[1][-1] >= 0.95
    meta = student.trace.meta["distillation"]
    assert meta["temperature"] == 2.0 and meta["alpha"] == 0.5
    assert meta["teacher_config"] == teacher.model.config.to_dict()
    assert teacher.model.training == mode  # left as found


def test_distill_leaves_the_teacher_untouched(teacher):
    params = dict(teacher.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in params.items()}
    student = explain.distill(teacher, train_config=TrainConfig(steps=3, eval_batches=1))
    assert student.task.name == "reverse" and student.status == "complete"
    for name, p in teacher.model.named_parameters():
        assert torch.equal(p, before[name])
        assert (p.grad is None) == (grads[name] is None)
        assert p.grad is None or torch.equal(p.grad, grads[name])


def test_bad_distill_arguments_fail_before_training(teacher, tmp_path):
    with pytest.raises(ValueError, match="temperature"):
        explain.distill(teacher, temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        explain.distill(teacher, alpha=-0.1)
    with pytest.raises(ValueError, match=r"lacks task 'induction'.*'<bos>'"):
        explain.distill(teacher, "induction")
    bare = explain.TinyTransformer(explain.ModelConfig(vocab_size=5, context_length=12))
    with pytest.raises(ValueError, match=r"missing: \['5', '6'"):
        explain.distill(bare, "reverse")
    with pytest.raises(ValueError, match="vocab_size"):
        explain.distill(teacher, model_config=default_model_config(teacher.task, vocab_size=12))
    assert list(tmp_path.iterdir()) == []


def _attention_trace(patterns: np.ndarray, probe: list[int]) -> Trace:
    """A trace holding one snapshot of ``patterns`` [layer, head, q, k]."""
    trace = Trace({"probe": {"ids": probe}})
    trace.add_snapshot(
        0, {f"blocks.{i}.attn.hook_pattern": layer for i, layer in enumerate(patterns)}
    )
    return trace


def test_match_heads_finds_the_same_pattern():
    n = 4
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0  # the first token has no previous one: it looks at itself
    self_ = np.eye(n)
    uniform = np.tril(np.ones((n, n))) / np.arange(1, n + 1)[:, None]
    teacher = _attention_trace(np.stack([[uniform, previous], [self_, uniform]]), [1, 2, 3, 4])
    student = _attention_trace(np.stack([[self_, previous]]), [1, 2, 3, 4])
    match = lab.match_heads(teacher, student)
    assert match.distance.shape == (2, 4)
    assert match.teacher_labels == ["L0H0", "L0H1", "L1H0", "L1H1"]
    assert match.student_labels == ["L0H0", "L0H1"]
    assert match.closest.tolist() == [2, 1]
    assert match.distance[0, 2] == pytest.approx(0.0) and match.distance[1, 1] == pytest.approx(0.0)
    assert match.distance[0, 1] == pytest.approx(1.0 * 3 / 4)  # disjoint on 3 rows of 4
    assert match.sentences[0].startswith("student L0H0 is nearly the same pattern as teacher L1H0")
    assert str(match).count("\n") == 1


def test_match_heads_needs_the_same_probe():
    one = _attention_trace(np.ones((1, 1, 2, 2)) / 2, [1, 2])
    other = _attention_trace(np.ones((1, 1, 2, 2)) / 2, [2, 1])
    with pytest.raises(ValueError, match="different probes"):
        lab.match_heads(one, other)
