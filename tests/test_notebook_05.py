"""Notebook 5 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py: the run tests/test_notebooks.py and the
rehearsal read too), with extra cells appended to a copy: they run in the same kernel, on the
objects the notebook's cells built (``trace``, ``scores``, ``previous_head``, ``induction_head``,
``out``, ...). Each entry of CLAIMS pairs a sentence of the notebook, quoted exactly, with the
assertion that proves it; a fast test checks that every quoted sentence is still in the notebook, so
the text and its checks cannot drift apart. Pattern weights are recomputed here from the raw
attention and the probe's letters, not only read from ``head_scores``.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "05_attention_maps_and_export.ipynb"

SETUP = """
import re as _re

import explain.lab

import numpy as _np
from PIL import Image as _Image

_final = -1  # the last snapshot: the trained model
_letters = [str(t) for t in trace.meta["probe"]["tokens"]]  # the rows: <bos> q u i c k m a p ...
_attention = {layer: trace.tensors[f"blocks.{layer}.attn.hook_pattern"][_final] for layer in (0, 1)}
_previous = _attention[0][previous_head]  # [q_pos, k_pos]
_induction = _attention[1][induction_head]
# rows whose letter appeared before (the second maple), and the key after its first occurrence
_repeat_rows = [q for q in range(len(_letters)) if _letters[q] in _letters[1:q]]
_to_copy = {q: _letters.index(_letters[q]) + 1 for q in _repeat_rows}
_shown = [v for v in Out.values() if type(v).__name__ == "AttentionView"]
_steps, _loss = trace.scalar("loss")
_emerged = explain.analysis.emergence(trace)  # first step a score stays >= 0.5
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "a run of letters appears twice, at a random place among letters seen once (the probe is "
        "`quick maple maple brown`)",
        "_probe = task.probe()\n"
        "_all = [*_letters, task.tokenizer.vocab[int(_probe.targets[0][-1])]]\n"
        "assert ''.join(_all[1:]) == 'quickmaplemaplebrown', _all\n"
        "assert _all[0] == '<bos>' and _all[1:] == _letters[1:] + ['n']\n"
        "assert sorted(set(_all[1:]) - set('maple')) == sorted('quickbrown')  # seen once\n"
        "assert all(_all.count(c) == 2 for c in 'maple')",
    ),
    (
        "Heads of two kinds work together to do this",
        "assert trace.scalar('val_accuracy')[1][-1] == 1.0  # it does it\n"
        "_kind = {0: 'previous_token', 1: 'induction'}\n"
        "_heads = {l: [(l, h) for h in range(4) if scores[_kind[l]][_final, l, h] > 0.5]\n"
        "          for l in (0, 1)}\n"
        "assert all(_heads.values()), _heads\n"
        "_full = explain.lab.evaluate(run.model, task)['accuracy']\n"
        "_without = {l: explain.lab.evaluate(run.model, task, h)['accuracy'] for l, h in\n"
        "            _heads.items()}\n"
        "assert _full > 0.99 and max(_without.values()) < 0.5, (_full, _without)  # both needed",
    ),
    (
        "Only layer 0 has previous-token heads, only layer 1 induction heads.",
        "assert (scores['previous_token'][_final, 1] < 0.25).all(), scores['previous_token']\n"
        "assert (scores['induction'][_final, 0] < 0.25).all(), scores['induction']",
    ),
    (
        "The two views below open on the clearest head of each kind, as the pattern scores of "
        "`explain.analysis.head_scores` rank them",
        "assert previous_head == int(_np.argmax(scores['previous_token'][_final, 0]))\n"
        "assert induction_head == int(_np.argmax(scores['induction'][_final, 1]))\n"
        "assert [(v.layer, v.head) for v in _shown[:2]] == [(0, previous_head), "
        "(1, induction_head)], _shown",
    ),
    (
        "the previous-token head puts more than 0.9 of a row's weight, on average, on the letter "
        "just before it",
        "_weight = _np.mean([_previous[q, q - 1] for q in range(1, len(_letters))])\n"
        "assert _weight > 0.9, _weight\n"
        "assert _np.isclose(_weight, scores['previous_token'][_final, 0, previous_head])",
    ),
    (
        "the induction head about 0.9 on the letter to copy",
        "assert _repeat_rows == [11, 12, 13, 14, 15], _repeat_rows  # the second maple\n"
        "_weight = _np.mean([_induction[q, _to_copy[q]] for q in _repeat_rows])\n"
        "assert abs(_weight - 0.9) < 0.05, _weight\n"
        "assert _np.isclose(_weight, scores['induction'][_final, 1, induction_head])",
    ),
    (
        "Layer 0's previous-token head is a stripe just below the diagonal.",
        "_looks = _previous.argmax(axis=1)\n"
        "assert (_looks[1:] == _np.arange(len(_letters) - 1)).all(), _looks",
    ),
    (
        "Layer 1's induction head lights up the rows of the second `maple` one column right of "
        "the same letter in the first copy",
        "_looks = {q: int(_induction[q].argmax()) for q in _repeat_rows}\n"
        "assert _looks == _to_copy, (_looks, _to_copy)\n"
        "assert all(_letters[k - 1] == _letters[q] for q, k in _looks.items())",
    ),
    (
        "the `a` looks at the `p` that followed the first `a`",
        "assert (_letters[12], _letters[8], _letters[7]) == ('a', 'p', 'a')\n"
        "assert int(_induction[12].argmax()) == 8 and _induction[12, 8] > 0.5, _induction[12]",
    ),
    (
        "both form together, in the few dozen steps (around step 280) where the loss falls from "
        "above 1.5 to below 0.2",
        "_formed = (_emerged['previous_token'][0, previous_head], "
        "_emerged['induction'][1, induction_head])\n"
        "_start = _steps[_np.argmax(_loss < 1.5)]  # the loss first under 1.5\n"
        "_below = _loss < 0.2\n"
        "_end = _steps[len(_below) - _np.argmin(_below[::-1])]  # under 0.2 from here on\n"
        "assert _loss[_steps < _start].min() > 1.5 and _end - _start < 80, (_start, _end)\n"
        "assert all(_start <= f <= _end for f in _formed), (_formed, _start, _end)\n"
        "assert abs(_formed[0] - _formed[1]) <= 16 and all(abs(f - 280) <= 20 for f in _formed)",
    ),
    # -- bertviz
    (
        "a tuple of per-layer `[1, heads, T, T]` arrays",
        "assert isinstance(attention, tuple) and len(attention) == 2\n"
        "assert all(tuple(a.shape) == (1, 4, 20, 20) for a in attention)\n"
        "assert list(tokens) == _letters\n"
        "assert _np.allclose(_np.asarray(attention[1])[0], _attention[1])",
    ),
    (
        "`bertviz.head_view(*to_bertviz(trace))` works as it is (`tensors=False` gives numpy "
        "arrays)",
        "import torch as _torch\n"
        "import bertviz as _bertviz\n"
        "assert all(isinstance(a, _torch.Tensor) for a in attention)\n"
        "_page = _bertviz.head_view(*explain.adapters.to_bertviz(trace), html_action='return')\n"
        "assert 'bertviz' in _page.data\n"
        "_plain = explain.adapters.to_bertviz(trace, tensors=False)[0]\n"
        "assert all(type(a) is _np.ndarray for a in _plain)",
    ),
    (
        "bertviz's own head view and model view are written as single HTML files that work "
        "offline (its JavaScript is inlined)",
        "for _name in ('bertviz_head.html', 'bertviz_model.html'):\n"
        "    _text = (out / _name).read_text()\n"
        "    assert not _re.search(r'<(script|link)[^>]*(src|href)=', _text), _name\n"
        "    # jQuery and d3 inlined and handed to require.js by name: its CDN paths go unused\n"
        "    assert 'define(\"jquery\"' in _text and 'define(\"d3\"' in _text, _name\n"
        "    assert 'window.d3' in _text and len(_text) > 300_000, _name\n"
        "assert sorted(p.name for p in out.glob('bertviz_*.html')) == "
        "['bertviz_head.html', 'bertviz_model.html']",
    ),
    # -- files for slides
    (
        "PNG, SVG or PDF for one step, a GIF of the whole training, and an interactive HTML page "
        "with a step slider",
        "assert (out / 'induction_head.png').read_bytes()[:8] == b'\\x89PNG\\r\\n\\x1a\\n'\n"
        "assert (out / 'induction_head.pdf').read_bytes()[:5] == b'%PDF-'\n"
        "assert '<svg' in (out / 'all_heads.svg').read_text()[:2000]\n"
        "with _Image.open(out / 'training.gif') as _gif:\n"
        "    assert _gif.n_frames == 12, _gif.n_frames\n"
        "_html = (out / 'attention.html').read_text()\n"
        "assert '\"sliders\"' in _html and not _re.search(r'<script[^>]*src=', _html)",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
