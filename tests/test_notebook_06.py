"""Notebook 6 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py: the run tests/test_notebooks.py and the
rehearsal read too), with extra cells appended to a copy: they run in the same kernel, on the
objects the notebook's cells built (``run``, ``task``, ``texts``, ``view``, ``zebra_message``). Each
entry of CLAIMS pairs a sentence of the notebook, quoted exactly, with the assertion that proves it;
a fast test checks that every quoted sentence is still in the notebook, so the text and its checks
cannot drift apart. The model's numbers are recomputed here with its own forward pass and a softmax
written in numpy.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_generation.ipynb"

SETUP = """
import collections as _collections

import numpy as _np
import torch as _torch


def _forward(ids):
    \"\"\"The model's next-token logits after ``ids`` and its cache (one plain forward pass).\"\"\"
    with _torch.no_grad():
        logits, cache = run.model.run_with_cache(_torch.tensor([ids[-32:]]))
    return logits[0, -1].double().numpy(), cache


def _softmax(logits, temperature=1.0, keep=None):
    z = _np.asarray(logits, dtype=float) / temperature
    keep = _np.arange(z.size) if keep is None else keep
    out = _np.zeros_like(z)
    out[keep] = _np.exp(z[keep] - z[keep].max())
    return out / out.sum()


def _entropy(p):
    p = p[p > 0]
    return float(-(p * _np.log(p)).sum())


run.model.eval()  # as the view runs it
_logits, _ = _forward(view.ids)  # what the view shows next
_order = _np.argsort(-_logits, kind="stable")[: view.top_n]  # the bars, left to right
_top10 = _np.argsort(-_logits)[:10]
_bars = view.bars.figure.data
_z = _np.asarray(view.attention.figure.data[0].z, dtype=float)
_words = set(task.text.split())  # every word of the training text
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "below 1 it sharpens it (at 0, always the most likely token), above 1 it flattens it",
        "_h = [_entropy(_softmax(_logits, t)) for t in (0.5, 1.0, 1.5)]\n"
        "assert _h[0] < _h[1] < _h[2], _h\n"
        "_ids = task.tokenizer.encode(texts[0.0])\n"
        "_start = len(task.tokenizer.encode('I love '))\n"
        "_best = [int(_forward(_ids[:i])[0].argmax()) for i in range(_start, len(_ids))]\n"
        "assert _ids[_start:] == _best  # greedy: the most likely token, every time",
    ),
    (
        "**Top-k** keeps only the $k$ most likely tokens.",
        "assert view.top_k == 10\n"
        "assert set(_np.flatnonzero(view.probabilities())) == set(_top10.tolist())",
    ),
    (
        "its validation loss ends near 2.1, well below the 3.3 of a model that knows only how "
        "often each character occurs",
        "_counts = _collections.Counter(task.text)\n"
        "_freq = _np.array(list(_counts.values())) / len(task.text)\n"
        "_unigram = float(-(_freq * _np.log(_freq)).sum())  # cross-entropy of letter counts\n"
        "_val = float(run.trace.scalar('val_loss')[1][-1])\n"
        "assert abs(_unigram - 3.3) < 0.05 and abs(_val - 2.1) < 0.1, (_unigram, _val)\n"
        "assert _val < _unigram - 1.0, (_val, _unigram)",
    ),
    (
        "Greedy text repeats itself",
        "_new = texts[0.0][len('I love '):].split()\n"
        "assert _collections.Counter(_new).most_common(1)[0][1] >= 3, _new",
    ),
    (
        "at T = 1.5 most of the words are in no sentence of the training text",
        "_new = texts[1.5][len('I love '):].split()\n"
        "_unknown = [w for w in _new if w not in _words]\n"
        "assert len(_unknown) > len(_new) / 2, (_new, _unknown)",
    ),
    (
        "The grey bars are the model's own probabilities for the next character",
        "assert _bars[0].marker.color == '#BBBBBB'\n"
        "assert _np.allclose(_bars[0].y, _softmax(_logits)[_order], atol=1e-6)",
    ),
    (
        "the blue ones are what it samples from after temperature and top-k",
        "assert _bars[1].marker.color == '#0072B2'\n"
        "_sampled = _softmax(_logits, 0.7, _top10)  # the view's T = 0.7, top-k = 10\n"
        "assert _np.allclose(_bars[1].y, _sampled[_order], atol=1e-6)\n"
        "assert 'T = 0.7, top-k = 10' in view.bars.figure.layout.title.text",
    ),
    (
        "drop to zero outside the top k",
        "assert view.top_n == 15 > 10\n"
        "assert (_np.asarray(_bars[1].y)[10:] == 0).all() and (_np.asarray(_bars[0].y)[10:] > 0)"
        ".all()",
    ),
    (
        "The attention map (beside the bars, or below them on a narrow screen) adds one row per "
        "generated character",
        "assert len(view.generated_text) == 12 == len(view.generation.steps)\n"
        "assert _z.shape == (12, len(view.ids) - 1), _z.shape",
    ),
    (
        "where the model looked when it chose it (pick the layer and head)",
        "_prompt = len(task.tokenizer.encode('I love to eat '))\n"
        "_layer, _head = view.layer_select.value, view.head_select.value\n"
        "_name = f'blocks.{_layer}.attn.hook_pattern'\n"
        "for _r in range(12):\n"
        "    _, _cache = _forward(view.ids[: _prompt + _r])\n"
        "    _row = _cache[_name][0, _head, -1].numpy()\n"
        "    assert _np.allclose(_z[_r, : len(_row)], _row, atol=1e-6), _r\n"
        "    assert _np.isnan(_z[_r, len(_row):]).all()  # not written yet when it chose",
    ),
    (
        "The view tells you when a prompt cannot run: empty, longer than the context, or with a "
        "character the model has never seen.",
        "_said = {p: widgets.GenerateView(run, prompt=p).error for p in ('', 'a' * 33, 'Zebra')}\n"
        "assert 'empty' in _said[''] and '33 tokens' in _said['a' * 33], _said\n"
        "assert \"'Z'\" in _said['Zebra'] and 'Z' not in task.tokenizer.vocab, _said\n"
        "assert zebra_message == _said['Zebra']",
    ),
    (
        "A prompt it rejects leaves the generation on screen as it was, and going back to the "
        "prompt carries on from it",
        "_again = widgets.GenerateView(run, prompt='I love to eat ', temperature=0.7, top_k=10)\n"
        "_again.generate(12)  # the same cell, never interrupted\n"
        "assert view.text == _again.text and view.error == '' and view.message.value == ''\n"
        "assert _np.array_equal(_z, _np.asarray(_again.attention.figure.data[0].z), "
        "equal_nan=True)\n"
        "assert not view.step_button.disabled\n"
        "assert view.generate(5) == _again.generate(5)  # the sampler carries on where it was",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
