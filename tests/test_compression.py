"""compression_table in explain/lab/compression.py: one row per model, measured the same way."""

from __future__ import annotations

from dataclasses import replace

import pytest

import explain
from explain import ModelConfig, TrainConfig
from explain.lab import CompressionTable, compression_table, evaluate, forward_ms

CONFIG = TrainConfig(steps=5, eval_every=5, seed=0)


@pytest.fixture(scope="module")
def teacher():
    return explain.train("reverse", train_config=CONFIG)


@pytest.fixture(scope="module")
def table(teacher):
    student = replace(teacher.model.config, d_model=16)
    return compression_table(teacher, students=[student], train_config=CONFIG)


def test_one_row_for_the_teacher_and_two_per_student(table, teacher):
    assert isinstance(table, CompressionTable)
    assert [(row.name, row.trained) for row in table.rows] == [
        ("teacher", "teacher"),
        ("d_model=16 · distilled", "distilled"),
        ("d_model=16 · task only", "task only"),
    ]
    assert table.task == "reverse" and table.steps == 5
    teacher_row, distilled, alone = table.rows
    assert teacher_row.parameters == sum(p.numel() for p in teacher.model.parameters())
    assert distilled.parameters == alone.parameters < teacher_row.parameters
    assert distilled.config.d_model == alone.config.d_model == 16
    assert all(row.step_ms > 0 and 0 <= row.val_accuracy <= 1 for row in table.rows)
    score = evaluate(teacher.model, teacher.task, batches=CONFIG.eval_batches, seed=0)
    assert teacher_row.val_accuracy == pytest.approx(score["accuracy"])
    assert table.row("teacher") is teacher_row


def test_student_rows_are_the_runs_distill_and_train_make(table, teacher):
    student = replace(teacher.model.config, d_model=16)
    distilled = explain.distill(teacher, "reverse", student, CONFIG)
    alone = explain.train("reverse", student, CONFIG)
    for run, row in ((distilled, table.rows[1]), (alone, table.rows[2])):
        score = evaluate(run.model, run.task, batches=CONFIG.eval_batches, seed=0)
        assert row.val_accuracy == pytest.approx(score["accuracy"])


def test_markdown_and_html_show_every_row_escaped(table):
    markdown = table.to_markdown().splitlines()
    assert markdown[0].startswith("| model | how trained | parameters")
    assert len(markdown) == 2 + len(table.rows)
    assert "d_model=16 · distilled" in markdown[3]
    rendered = table._repr_html_()
    assert rendered.count("<tr>") == 1 + len(table.rows)
    escaped = CompressionTable("<b>", table.rows, 5, 2.0, 0.5)._repr_html_()
    assert "<b>" not in escaped and "&lt;b&gt;" in escaped


def test_forward_ms_is_positive_and_leaves_the_model_as_found(teacher):
    import torch

    threads = torch.get_num_threads()
    teacher.model.train()
    assert forward_ms(teacher.model, teacher.task, batch_size=8, repeats=3) > 0
    assert teacher.model.training and torch.get_num_threads() == threads


def test_bad_input_is_named(teacher):
    with pytest.raises(ValueError, match="at least one ModelConfig"):
        compression_table(teacher, students=[], train_config=CONFIG)
    with pytest.raises(ValueError, match="ModelConfigs"):
        compression_table(teacher, students=[{"d_model": 16}], train_config=CONFIG)
    with pytest.raises(ValueError, match="no row"):
        CompressionTable("reverse", [], 5, 2.0, 0.5).row("teacher")
    bare = explain.TinyTransformer(ModelConfig(vocab_size=11, context_length=12))
    with pytest.raises(ValueError, match="task is needed"):
        compression_table(bare, students=[bare.config], train_config=CONFIG)
