"""Notebook 12 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py), with SETUP and CLAIMS appended as cells
that run in its kernel on the objects its cells built (``run``, ``hf_model``, ``model``,
``heads_view``, ``curve``, ``trace``, ...): the views' own data, the numbers they draw. The
marked cell that loads GPT-2 is not run there (it downloads); a fast test here runs its lines
and the lab calls the notebook makes on a tiny GPT-2 saved to a local folder in its place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "12_redundancy_in_a_real_model.ipynb"

SETUP = """
import numpy as _np

_heads = heads_view.data
_lens = widgets.LensView(trace).data
_probs = _np.asarray(_lens.probs)  # [layer + 1, pos, vocab]
_answers = _np.flatnonzero(_lens.mask)
_right = [task.vocab.index(_lens.targets[p]) for p in _answers]
_right_p = _probs[:, _answers, _right]  # [layer + 1, answer]: the right digit's probability
_top = [[_lens.top_token[row][p] for p in _answers] for row in range(len(_lens.layers))]
_digits = [_lens.targets[p] for p in _answers]
"""

CLAIMS: list[tuple[str, str]] = [
    (
        "2 layers × 8 heads on `reverse`",
        "assert (run.model.config.n_layers, run.model.config.n_heads) == (2, 8)\n"
        "assert (hf_model.config.n_layer, hf_model.config.n_head) == (2, 8)\n"
        "assert run.task.name == 'reverse'",
    ),
    (
        "What comes back is a plain `GPT2LMHeadModel`.",
        "assert type(hf_model) is transformers.GPT2LMHeadModel\n"
        "assert not any(type(m).__module__.startswith('explain') for m in hf_model.modules())",
    ),
    (
        "the two lines below print the same\nloss and accuracy",
        "_hf, _ours = lab.evaluate(model, task), lab.evaluate(run.model, task)\n"
        "assert repr(_hf) == repr(_ours), (_hf, _ours)  # the printed lines, digit for digit",
    ),
    (
        "8 numbers per head here",
        "assert hf_model.config.n_embd // hf_model.config.n_head == 8",
    ),
    (
        "both print the same loss",
        "assert repr(by_hook) == repr(by_weights), (by_hook, by_weights)  # as printed\n"
        "assert by_hook['loss'] > lab.evaluate(model, task)['loss']  # the head did something",
    ),
    (
        "All eight heads of layer 1 are *mirror* heads",
        "assert _heads.roles[1] == ['mirror'] * 8, _heads.roles",
    ),
    (
        "each puts, on average over the answer rows, more\nthan half of a row's weight on the "
        "digit that row has to write",
        "_pattern = trace.at(0).tensors['blocks.1.attn.hook_pattern']  # [head, q, k]\n"
        "_rows = range(6, 12)  # the answer rows: after the '>'\n"
        "_mirror = [[_pattern[h, q, 11 - q] for q in _rows] for h in range(8)]\n"
        "assert (_np.mean(_mirror, axis=1) > 0.5).all(), _np.mean(_mirror, axis=1)\n"
        "assert _np.allclose(_np.mean(_mirror, axis=1), _heads.role_scores[1], atol=1e-6)",
    ),
    (
        "they\nare close copies of each other (below 0.35 for every pair)",
        "_within = _heads.similarity[8:, 8:][~_np.eye(8, dtype=bool)]  # layer 1's pairs\n"
        "assert _within.max() < 0.35, _within.max()",
    ),
    (
        "switching any one of the 16 off keeps accuracy above 0.95",
        "assert _heads.ablated_accuracy.shape == (2, 8)\n"
        "assert _heads.ablated_accuracy.min() > 0.95, _heads.ablated_accuracy",
    ),
    (
        "The head that costs the most alone\nis L0H5, and the gradient ranks it first too.",
        "_cost = _heads.ablated_loss - _heads.baseline_loss\n"
        "assert _np.unravel_index(_np.argmax(_cost), _cost.shape) == (0, 5), _cost\n"
        "_grad = _heads.importance\n"
        "assert _np.unravel_index(_np.argmax(_grad), _grad.shape) == (0, 5), _grad",
    ),
    (
        "the view's panel titled *pruning* draws the same curve",
        "assert _np.allclose(_heads.prune_loss, curve.loss, rtol=0, atol=1e-6)\n"
        "assert _np.allclose(_heads.prune_accuracy, curve.accuracy, rtol=0, atol=1e-6)\n"
        "assert _heads.prune_order == ['L{}H{}'.format(*h) for h in curve.order]",
    ),
    (
        "With 6 of the\n16 heads off (38%), accuracy stays above 0.95 and the loss below 0.02 (it "
        "was 0.0004)",
        "assert round(6 / 16 * 100) == 38 and abs(curve.fractions[6] - 6 / 16) < 1e-9\n"
        "assert (curve.accuracy[:7] > 0.95).all(), curve.accuracy[:7]  # every step up to 6 off\n"
        "assert (curve.loss[:7] < 0.02).all(), curve.loss[:7]\n"
        "assert round(float(curve.loss[0]), 4) == 0.0004, curve.loss[0]",
    ),
    (
        "With half\nof them off, accuracy falls below 0.9, and with every head off it is 0 (loss "
        "above 6)",
        "assert curve.accuracy[8] < 0.9, curve.accuracy[8]\n"
        "assert curve.accuracy[-1] == 0 and curve.loss[-1] > 6, (curve.accuracy, curve.loss)",
    ),
    (
        "at the six answer positions the top token of row *embed* is never\nthe right digit",
        "assert _lens.layers[0] == 'embed' and len(_answers) == 6\n"
        "assert all(t != d for t, d in zip(_top[0], _digits)), (_top[0], _digits)",
    ),
    (
        "After block 0 it is already the right digit at all six, with between 0.3 and\n0.85 of "
        "the probability",
        "assert _lens.layers[1] == 'after block 0' and _top[1] == _digits, (_top[1], _digits)\n"
        "assert ((_right_p[1] > 0.3) & (_right_p[1] < 0.85)).all(), _right_p[1]",
    ),
    (
        "after block 1, the model's output, with 0.99 or more",
        "assert _lens.layers[2] == 'after block 1' and _top[2] == _digits\n"
        "assert (_right_p[2] >= 0.99).all(), _right_p[2]",
    ),
    (
        "The largest difference between the two\nrecords, over every head's importance and the "
        "whole pruning curve, is below 1e-6.",
        "assert set(largest) == {'importance', 'pruning loss'}\n"
        "assert max(largest.values()) < 1e-6, largest\n"
        "assert _np.allclose(ours['prune']['accuracy'], theirs['prune']['accuracy'], atol=1e-6)",
    ),
]

TestClaims = claim_tests(NOTEBOOK, CLAIMS)


def test_the_marked_gpt2_cell_and_the_lab_calls_run_on_a_model_saved_in_its_place(tmp_path):
    """The marked cell is not run with the lecture (GPT-2 is a download). Its lines run here with
    a local folder in place of "gpt2" (a tiny random GPT-2 and a word tokenizer, saved with
    save_pretrained), followed by the lab calls the lecture makes, given its example sentences
    where it gives ``task``: what the cell says a student can do."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download
    transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
    from test_lab_hf import hf_model, tokenizer

    import widgets
    from explain import lab

    markdown = next(
        cell.source
        for cell in nbformat.read(NOTEBOOK, as_version=4).cells
        if cell.cell_type == "markdown" and "not run here" in cell.source
    )
    lines = re.search(r"```python\n(.*?)```", markdown, re.S).group(1)
    assert lines.count("\n") == 2 and lines.count('"gpt2"') == 2, lines  # the two lines
    sentences = re.search(r"`task = (\[.*?\])`", markdown, re.S).group(1)
    hf_model("gpt2").float().save_pretrained(tmp_path)
    tokenizer().save_pretrained(tmp_path)
    names = {
        "AutoModelForCausalLM": transformers.AutoModelForCausalLM,
        "AutoTokenizer": transformers.AutoTokenizer,
    }
    exec(lines.replace('"gpt2"', repr(str(tmp_path))), names)
    task = eval(" ".join(sentences.split()))
    assert type(names["hf_model"]).__name__ == "GPT2LMHeadModel"
    model = lab.wrap(names["hf_model"], names["tokenizer"])
    before = lab.evaluate(model, task)
    with lab.ablate(model, [(1, 1)]):
        assert lab.evaluate(model, task)["loss"] != before["loss"]
    trace = lab.record_hf(model, task)
    assert widgets.HeadsView(trace).data.importance.shape == (2, 2)
    assert len(lab.prune_curve(model, task).loss) == 5  # 4 heads, then none
    assert widgets.LensView(trace).data.layers == ["embed", "after block 0", "after block 1"]
