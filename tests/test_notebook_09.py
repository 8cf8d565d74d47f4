"""Notebook 9 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py: the run tests/test_notebooks.py and the
rehearsal read too), with extra cells appended to a copy: they run in the same kernel, on the
objects the notebook's cells built (``run``, ``scores``, ``results``, ``lens``, ...). Each entry of
CLAIMS pairs a sentence of the notebook, quoted exactly, with the assertion that proves it; a fast
test checks that every quoted sentence is still in the notebook, so the text and its checks cannot
drift apart.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "09_what_each_head_does.ipynb"

SETUP = """
import numpy as _np

_final = {name: value[-1] for name, value in scores.items()}  # [layer, head], trained
_target = lens.data.targets
_answer = _np.flatnonzero(lens.data.mask)  # the positions the task scores
_target_ids = [lens.data.vocab.index(token) for token in _target]
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    # -- the task
    (
        "Each sequence is `<bos>` and 20 letters; the run is 3 to 8 letters long",
        "assert batch.inputs.shape[1] == 20 and task.vocab[batch.inputs[0, 0]] == '<bos>'\n"
        "assert (task.min_length, task.max_length) == (3, 8)",
    ),
    (
        "The run's length changes from row to row",
        "assert len(set(run_lengths)) > 1, run_lengths",
    ),
    # -- training
    (
        "2 layers × 4 heads, d_model 32, rotary positions",
        "_c = run.model.config\n"
        "assert (_c.n_layers, _c.n_heads, _c.d_model, _c.positional) == (2, 4, 32, 'rope'), _c",
    ),
    (
        "500 steps",
        "assert run.trace.steps[-1] == 500, run.trace.steps[-1]",
    ),
    (
        "a previous-token head at step 280 and an induction head at step 288",
        "_events = [(e.step, e.label.split(':')[0]) for e in loss_view.data.events]\n"
        "assert _events == [(280, 'previous-token head appears'), "
        "(288, 'induction head appears')], loss_view.data.events",
    ),
    (
        "their labels side by side",
        "_notes = [a for a in loss_view.figures()[0]['layout']['annotations'] if 'appears' in "
        "a['text']]\n"
        "assert [a['x'] for a in _notes] == [280, 288], _notes\n"
        "assert _notes[1]['xshift'] - _notes[0]['xshift'] >= 10, _notes  # a 10 px text apart",
    ),
    (
        "The loss falls steadily from 3.3 over the first 200 steps",
        "_c = loss_view.data.curves['loss']  # what the view draws\n"
        "assert abs(_c.values[0] - 3.3) < 0.05, _c.values[0]\n"
        "_means = [_c.values[(_c.steps >= a) & (_c.steps < a + 50)].mean() for a in "
        "range(0, 200, 50)]\n"
        "assert all(b < a for a, b in zip(_means, _means[1:])), _means",
    ),
    (
        "over steps 200-240 it stays between 1.6 and 2.1",
        "_c = loss_view.data.curves['loss']\n"
        "_w = _c.values[(_c.steps >= 200) & (_c.steps <= 240)]\n"
        "assert 1.6 < _w.min() and _w.max() < 2.1, (_w.min(), _w.max())",
    ),
    (
        "below 0.2 from step 320 and below 0.05 from step 340",
        "_c = loss_view.data.curves['loss']\n"
        "assert _c.values[_c.steps >= 320].max() < 0.2, _c.values[_c.steps >= 320].max()\n"
        "assert _c.values[_c.steps >= 340].max() < 0.05, _c.values[_c.steps >= 340].max()",
    ),
    # -- the two heads
    (
        "positions 6-10 hold the first `maple`, 11-15 the second",
        "_probe = task.probe_tokens()\n"
        "assert ''.join(_probe[6:11]) == ''.join(_probe[11:16]) == 'maple', _probe",
    ),
    (
        "its previous-token score is above 0.9",
        "assert _final['previous_token'][0, 1] > 0.9, _final['previous_token']\n"
        "_rows = previous_view.pattern()[1:]  # row 0 has only itself to look at\n"
        "assert (_rows.argmax(axis=1) == _np.arange(len(_rows))).mean() > 0.9",
    ),
    (
        "the row of the second `a` (position 12) looks at position 8, the `p` that followed "
        "the first `a`",
        "_p = task.probe_tokens()\n"
        "assert (_p[7], _p[8], _p[12]) == ('a', 'p', 'a'), _p\n"
        "assert induction_view.pattern()[12].argmax() == 8, induction_view.pattern()[12]\n"
        "assert (induction_view.layer, induction_view.head) == (1, 0)",
    ),
    (
        "its badges name three previous-token heads in layer 0 and four induction heads in layer 1",
        "_names = list(_final)\n"
        "_stack = _np.stack([_np.nan_to_num(_final[n], nan=-1) for n in _names])  # [p, l, h]\n"
        "_best = [[_names[i] if _stack[i, l, h] >= 0.5 else '' for h, i in "
        "enumerate(_stack[:, l].argmax(axis=0))] for l in range(2)]\n"
        "assert _best == [['previous_token', 'previous_token', '', 'previous_token'], "
        "['induction'] * 4], _best",
    ),
    # -- the phase change
    (
        "rise together, between steps 250 and 320",
        "_s = list(run.trace.snapshot_steps)\n"
        "_before, _after = _s.index(248), _s.index(320)\n"
        "assert best_previous[_before] < 0.5 and best_induction[_before] < 0.5\n"
        "assert best_previous[_after] > 0.85 and best_induction[_after] > 0.7",
    ),
    (
        "both kinds appear within 10 steps of each other",
        "assert abs(first['previous_token'] - first['induction']) <= 10, first",
    ),
    (
        "The loss falls fastest (the largest drop of its 10-step average over 10 steps) within "
        "10 steps of the step the first induction head appeared",
        "assert abs(steepest - first['induction']) <= 10, (steepest, first)",
    ),
    (
        "the best induction score climbs from about 0.2 to above 0.7 over some 60 steps",
        "_s = list(run.trace.snapshot_steps)\n"
        "assert abs(best_induction[_s.index(256)] - 0.2) < 0.05, best_induction[_s.index(256)]\n"
        "assert best_induction[_s.index(312)] > 0.7, best_induction[_s.index(312)]",
    ),
    # -- ablation
    (
        "Without the three previous-token heads accuracy falls below 0.05",
        "assert previous_heads == [(0, 0), (0, 1), (0, 3)], previous_heads\n"
        "assert results['nothing']['accuracy'] == 1.0, results['nothing']\n"
        "assert list(results.values())[1]['accuracy'] < 0.05, results",
    ),
    (
        "without the four induction heads it falls to 0",
        "assert induction_heads == [(1, h) for h in range(4)], induction_heads\n"
        "assert list(results.values())[2]['accuracy'] < 0.005, results  # printed as 0.00",
    ),
    (
        "Switching off L0H2, the one head of layer 0 with no pattern, changes nothing "
        "(accuracy 1.00)",
        "assert (0, 2) not in previous_heads\n"
        "assert results['L0H2']['accuracy'] >= 0.995, results['L0H2']",
    ),
    # -- circuits
    (
        "The first two lines name L0H1 as a previous-token head and L1H0 as an induction head",
        "_t = circuits.table\n"
        "assert [(r['layer'], r['head'], r['role']) for r in _t[:2]] == "
        "[(0, 1, 'previous_token'), (1, 0, 'induction')], _t[:2]\n"
        "assert 'previous-token head' in circuits.lines[0], circuits.lines\n"
        "assert 'induction head' in circuits.lines[1], circuits.lines",
    ),
    (
        "without it accuracy drops to about 0.2, because the other previous-token heads are weaker",
        "_t = {(r['layer'], r['head']): r for r in circuits.table}\n"
        "assert abs(_t[0, 1]['accuracy_without'] - 0.2) < 0.05, _t[0, 1]\n"
        "assert all(_t[0, h]['score'] < _t[0, 1]['score'] for h in (0, 3)), _t",
    ),
    (
        "without L1H0 alone accuracy stays above 0.5",
        "_t = {(r['layer'], r['head']): r for r in circuits.table}\n"
        "assert _t[1, 0]['accuracy_without'] > 0.5, _t[1, 0]",
    ),
    # -- lens, rollout, saliency
    (
        "At the four positions the task scores (the second `m`, `a`, `p` and `l`)",
        "assert list(_answer) == [11, 12, 13, 14], _answer\n"
        "assert [lens.data.tokens[p] for p in _answer] == list('mapl'), lens.data.tokens",
    ),
    (
        "only the last row, after block 1, has the right letter on top, with probability above "
        "0.99",
        "assert lens.data.layers[-1] == 'after block 1', lens.data.layers\n"
        "for _pos in _answer:\n"
        "    assert lens.data.top_token[-1][_pos] == _target[_pos], (_pos, lens.data.top_token)\n"
        "    assert lens.data.top_prob[-1, _pos] > 0.99, lens.data.top_prob[:, _pos]\n"
        "    assert all(lens.data.top_token[row][_pos] != _target[_pos] for row in (0, 1))",
    ),
    (
        "The embedding and block 0 give it less than 0.15",
        "_p = lens.data.probs[:2, _answer, [_target_ids[p] for p in _answer]]  # [2, answer]\n"
        "assert (_p < 0.15).all(), _p",
    ),
    (
        "At the second `e` (position 15) the model says `m` with probability 1.00, the letter "
        "that followed the first `e`",
        "_t = lens.data.tokens\n"
        "assert _t[15] == _t[10] == 'e' and _t[11] == 'm', _t\n"
        "assert lens.data.top_token[-1][15] == 'm', lens.data.top_token[-1]\n"
        "assert lens.data.top_prob[-1, 15] >= 0.995, lens.data.top_prob[-1, 15]",
    ),
    (
        "(the next letter is `b`, a new one), which is why the task does not score that position",
        "assert _target[15] == 'b' and 'b' not in lens.data.tokens[:16], _target\n"
        "assert not lens.data.mask[15]",
    ),
    (
        "Apart from position 12 itself, row 12 puts the most weight on position 8 (the `p` to "
        "copy) and next on position 7 (the first `a`)",
        "_last = [run.trace.tensors[f'blocks.{i}.attn.hook_pattern'][-1] for i in range(2)]\n"
        "assert _np.allclose(lens.data.rollout, analysis.attention_rollout(_np.stack(_last)))\n"
        "_row = lens.data.rollout[12].copy()\n"
        "_row[12] = -1\n"
        "assert list(_np.argsort(-_row)[:2]) == [8, 7], lens.data.rollout[12]",
    ),
    (
        "The **saliency** bars of position 12 (gradient × input) are tiny (below 0.01)",
        "assert lens.data.position == 12\n"
        "assert _np.abs(lens.data.bars(12)).max() < 0.01, lens.data.bars(12)",
    ),
    (
        "the model is sure (p ≈ 1)",
        "assert lens.data.probs[-1, 12, _target_ids[12]] > 0.99",
    ),
    (
        "Still the tallest bar is the `p` at position 8, the letter it copies.",
        "assert lens.data.bars(12).argmax() == 8, lens.data.bars(12)\n"
        "assert _np.abs(lens.data.bars(12)).argmax() == 8, lens.data.bars(12)",
    ),
    (
        "the answer appears only after layer 1",
        "assert all(lens.data.top_token[1][p] != _target[p] for p in _answer)",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
