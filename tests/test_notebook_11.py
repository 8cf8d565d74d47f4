"""Notebook 11 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py), with SETUP and CLAIMS appended as cells
that run in its kernel on the objects its cells built (``token_view``, ``attribution_view``,
``patching_view``, ``neuron_view``, ``reverse_patching``, ...): the views' own data, the numbers
they draw. Each claim covers the whole stretch its sentence points at (every answer position,
every snapshot of the span, every head), not one sample of it.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "11_follow_one_prediction.ipynb"

SETUP = """
import numpy as _np
from explain import analysis as _analysis

_tl = token_view.data
_scored = _np.flatnonzero(_tl.mask)  # the second copy's letters: a, p, l, e
_att = attribution_view.data
_heads = _np.asarray(patching_view.data.heads)  # [layer, head]
_path = patching_view.data.path  # input -> [layer, head] into the receiver
_circuits = lab.circuits(run)
_rev_att = reverse_attribution.data
_rev_heads = _np.asarray(reverse_patching.data.heads)
"""

CLAIMS: list[tuple[str, str]] = [
    (
        "the four letters of the second copy (`a`, `p`, `l`, `e`) start bright, with\n"
        "a loss above 3",
        "assert [_tl.targets[p] for p in _scored] == ['a', 'p', 'l', 'e'], _scored\n"
        "assert (_tl.loss[0, _scored] > 3).all(), _tl.loss[0, _scored]",
    ),
    (
        "turn dark between steps 200 and 320",
        "_before = _tl.loss[_tl.steps <= 200][:, _scored]\n"
        "_after = _tl.loss[_tl.steps >= 320][:, _scored]\n"
        "assert _before.min() > 0.5, _before.min()  # none is dark before step 200\n"
        "assert _after.max() < 0.1, _after.max()  # all are dark from step 320 on",
    ),
    (
        "the grey bar is their sum: the model's\nown logit",
        "for _p in _att.positions:\n"
        "    assert abs(_att.bars(_p).sum() - _att.logit(_p)) < 1e-4, _p",
    ),
    (
        "one layer-1 head writes more than half of the logit, and\n"
        "a different head at each position",
        "_largest = []\n"
        "for _p in _att.positions:\n"
        "    _values = _att.bars(_p)\n"
        "    _top = _att.names[int(_np.argmax(_values))]\n"
        "    assert _top.startswith('L1H') and _values.max() > 0.5 * _att.logit(_p), (_p, _top)\n"
        "    _largest.append(_top)\n"
        "assert len(set(_largest)) == len(_largest) == 4, _largest",
    ),
    (
        "Layer 0's heads\nand MLP together write less than a tenth of it directly.",
        "for _p in _att.positions:\n"
        "    _l0 = sum(v for n, v in zip(_att.names, _att.bars(_p)) if n.startswith('L0'))\n"
        "    assert abs(_l0) < 0.1 * _att.logit(_p), (_p, _l0)",
    ),
    (
        "shuffles the letters of the first copy, so each letter of the\nsecond copy is followed by "
        "another letter than before",
        "_clean, _bad = patching_view.data.tokens, patching_view.data.corrupt_tokens\n"
        "assert sorted(_clean[6:11]) == sorted(_bad[6:11]) and _clean[6:11] != _bad[6:11]\n"
        "assert _clean[:6] == _bad[:6] and _clean[11:] == _bad[11:]\n"
        "_follows = lambda t: {t[i]: t[i + 1] for i in range(6, 11)}  # letter -> next\n"
        "assert all(_follows(_clean)[c] != _follows(_bad)[c] for c in _clean[6:11])",
    ),
    (
        "Restoring the layer-0 previous-token head alone brings back more of the answer than "
        "restoring\nany single layer-1 head",
        "_prev_scores = _analysis.head_scores(run.trace)['previous_token'][-1, 0]  # [head]\n"
        "_prev = int(_np.argmax(_prev_scores))\n"
        "assert _heads[0].argmax() == _prev and _heads[0, _prev] > _heads[1].max(), _heads",
    ),
    (
        "the previous-token head matters through the\nreceiver's **keys** and hardly through its "
        "queries or values",
        "_r = patching_view.data.receiver\n"
        "assert _r[0] == 1 and _r[1] == int(_np.argmax(_heads[1])), _r\n"
        "_k, _q, _v = (_np.asarray(_path[i], float)[0, _prev] for i in 'kqv')\n"
        "assert _k > 0.1 and max(abs(_q), abs(_v)) < 0.1 * _k, (_q, _k, _v)\n"
        "assert _np.nanargmax(_np.asarray(_path['k'], float)[0]) == _prev\n"
        "assert _circuits.path['heads'] == ((0, _prev), tuple(_r))\n"
        "assert _circuits.path['input'] == 'k'",
    ),
    (
        "switching off any one of them raises the loss by less than 0.01",
        "assert neuron_view.data.rises(0).max() < 0.01, neuron_view.data.rises(0).max()",
    ),
    (
        "at every answer the layer-1 MLP writes\nthe largest part of the logit, and the mirror "
        "heads add the rest",
        "for _p in _rev_att.positions:\n"
        "    _values = _rev_att.bars(_p)\n"
        "    assert _rev_att.names[int(_np.argmax(_values))] == 'L1.mlp', _p\n"
        "    _mirror = sum(v for n, v in zip(_rev_att.names, _values) if n.startswith('L1H'))\n"
        "    assert _mirror > 0, (_p, _mirror)",
    ),
    (
        "Patching finds one mirror head, L1H1, that brings back about half of the answer alone",
        "assert _np.unravel_index(_rev_heads.argmax(), _rev_heads.shape) == (1, 1), _rev_heads\n"
        "assert 0.4 < _rev_heads[1, 1] < 0.6, _rev_heads[1, 1]\n"
        "assert reverse_patching.data.receiver == (1, 1)",
    ),
    (
        "restoring any one of them brings back less than 0.02",
        "assert _np.abs(_rev_heads[0]).max() < 0.02, _rev_heads[0]",
    ),
    (
        "Path\npatching into L1H1 finds no path either, so the circuits list names none",
        "_rev_path = reverse_patching.data.path\n"
        "assert max(_np.nanmax(_np.asarray(_rev_path[i], float)[0]) for i in 'qkv') < 0.02\n"
        "assert lab.circuits(reverse).path is None",
    ),
]

TestClaims = claim_tests(NOTEBOOK, CLAIMS)
