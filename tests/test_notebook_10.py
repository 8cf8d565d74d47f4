"""Notebook 10 says only what its own cells show: every claim its text makes is checked here.

As tests/test_notebook_08.py does: the notebook runs once per session (tests/_lectures.py) with
extra cells appended to a copy, in the same kernel, on the objects the notebook's cells built
(``pre``, ``fine``, ``frozen``, ``scratch``, ``student``, ``match``, ``table``). Each entry of
CLAIMS pairs a sentence quoted exactly from the notebook with the assertion that proves it; a fast
test checks that every quoted sentence is still in the notebook.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "10_pretrain_finetune_distill.ipynb"

SETUP = """
import torch as _torch

_accuracy = dict(zip(*(a.tolist() for a in fine.trace.scalar("val_accuracy"))))
_pre_params = dict(pre.model.named_parameters())
"""

CLAIMS: list[tuple[str, str]] = [
    (
        "The default model (2 layers × 4 heads) learns to copy its input",
        "assert (pre.model.config.n_layers, pre.model.config.n_heads) == (2, 4)\n"
        "assert pre.trace.scalar('val_accuracy')[1][-1] >= 0.99",
    ),
    (
        "`init=pre` starts from a copy of the pre-trained weights (`pre` itself is left as it was)",
        "_name = 'blocks.1.attn.W_qkv.weight'\n"
        "assert not _torch.equal(dict(fine.model.named_parameters())[_name], _pre_params[_name])\n"
        "assert pre.trace.steps[-1] == 400 and 'phases' not in pre.trace.meta",
    ),
    (
        "The new trace continues the pre-training trace on one step axis",
        "assert start == 400 and fine.trace.steps[0] == 0 and fine.trace.steps[-1] == 600\n"
        "assert [p['name'] for p in fine.trace.meta['phases']] == ['pre-training', 'fine-tuning']",
    ),
    (
        "The loss view draws a solid line where fine-tuning starts",
        "_view = widgets.LossView(fine.trace)\n"
        "assert [s.x0 for s in _view.figure.layout.shapes if s.line.dash == 'solid'] == [start]",
    ),
    (
        "every other view's step slider covers both phases",
        "_steps = widgets.AttentionView(fine.trace).step_control.steps\n"
        "assert min(_steps) < start < max(_steps)",
    ),
    (
        "At the switch the model copies perfectly (validation accuracy 1.0 on copy)",
        "assert _accuracy[start] == 1.0 and pre.trace.scalar('val_accuracy')[1][-1] == 1.0",
    ),
    (
        "10 steps into fine-tuning its reverse accuracy is 0, and it climbs from there to 1.0",
        "assert _accuracy[start + 10] == 0.0, _accuracy\n"
        "assert fine.trace.scalar('val_accuracy')[1][-1] == 1.0",
    ),
    (
        '`freeze=["embed"]` keeps the token embedding exactly as pre-training left it',
        "assert frozen.trace.meta['frozen'] == ['embed.W_E.weight']\n"
        "assert _torch.equal(frozen.model.embed.W_E.weight, pre.model.embed.W_E.weight)",
    ),
    (
        "the default positional encoding is sinusoidal, with no weights to learn",
        "assert pre.model.config.positional == 'sinusoidal'\n"
        "assert not [n for n in _pre_params if n.startswith('embed.') and n != 'embed.W_E.weight']",
    ),
    (
        "every other weight keeps learning",
        "_same = [n for n, p in frozen.model.named_parameters() "
        "if n != 'embed.W_E.weight' and _torch.equal(p, _pre_params[n])]\n"
        "assert not _same, _same",
    ),
    (
        "The same model, the same steps and seed, started from random weights.",
        "assert scratch.model.config == fine.model.config\n"
        "assert scratch.trainer.config == fine.trainer.config == frozen.trainer.config",
    ),
    (
        "so the fine-tuned run and the scratch run start together at step 0",
        "_compare = widgets.CompareView(fine, scratch, metric='val_accuracy', align='phase')\n"
        "assert [line.x[0] for line in _compare.curves.figure.data] == [0, 0]",
    ),
    (
        "The fine-tuned run's first point, 1.0, is its accuracy on `copy` at the switch; 10 steps "
        "later it is 0 on `reverse`.",
        "_fine_line = _compare.curves.figure.data[0]  # the first run given: fine\n"
        "assert list(_fine_line.x[:2]) == [0, 10] and _fine_line.y[0] == 1.0, _fine_line.y[:3]\n"
        "assert _fine_line.y[1] < 0.05, _fine_line.y[:3]\n"
        "assert fine.trace.meta['phases'][0]['task'] == 'copy'",
    ),
    (
        "all three runs reach 0.99 within 20 steps of each other",
        "assert None not in reached.values(), reached\n"
        "assert max(reached.values()) - min(reached.values()) <= 20, reached",
    ),
    (
        "the run from scratch is not slower than either fine-tuned one",
        "assert reached['from scratch'] <= min(reached['fine-tuned from copy'], "
        "reached['fine-tuned, embedding frozen']), reached",
    ),
    (
        "The student has `d_model` 32 instead of 64",
        "assert (student.model.config.d_model, scratch.model.config.d_model) == (32, 64)\n"
        "assert student.model.config.n_layers == scratch.model.config.n_layers",
    ),
    (
        "a mix of the teacher's softened predictions (temperature 2) and the true targets",
        "assert student.trace.meta['distillation']['temperature'] == 2.0\n"
        "assert 0 < student.trace.meta['distillation']['alpha'] < 1",
    ),
    (
        "With less than half the teacher's parameters the student reaches 0.99 validation "
        "accuracy after 400 steps",
        "assert parameters['student'] < parameters['teacher'] / 2, parameters\n"
        "assert student.trace.steps[-1] == 400\n"
        "assert student.trace.scalar('val_accuracy')[1][-1] >= 0.99",
    ),
    (
        "its agreement with the teacher's predictions is above 0.99",
        "assert student.trace.scalar('agreement')[1][-1] > 0.99",
    ),
    (
        "none of its heads has nearly the same pattern as a teacher head (every distance is "
        "above 0.1)",
        "assert match.distance.min() > 0.1, match.distance.min(axis=1)",
    ),
    (
        "all four of its layer-1 heads are closest to teacher heads of layer 0",
        "_layer_1 = [match.teacher_labels[j] for i, j in enumerate(match.closest) "
        "if match.student_labels[i].startswith('L1')]\n"
        "assert len(_layer_1) == 4 and all(t.startswith('L0') for t in _layer_1), _layer_1",
    ),
    (
        "Both students reach above 0.99 validation accuracy with the same number of parameters",
        "_d, _a = table.rows[1], table.rows[2]\n"
        "assert (_d.trained, _a.trained) == ('distilled', 'task only')\n"
        "assert _d.val_accuracy > 0.99 and _a.val_accuracy > 0.99, table\n"
        "assert _d.parameters == _a.parameters == parameters['student']",
    ),
    (
        "the distilled student is no better than the one trained on the task alone",
        "assert table.rows[1].val_accuracy <= table.rows[2].val_accuracy, table",
    ),
    (
        "The distilled row is the `student` trained above: same config, steps and seed give the "
        "same model.",
        "_score = explain.lab.evaluate(student.model, student.task, batches=4, seed=0)\n"
        "assert table.rows[1].val_accuracy == _score['accuracy'], (table, _score)\n"
        "assert table.rows[1].val_accuracy == student.trace.scalar('val_accuracy')[1][-1]",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
