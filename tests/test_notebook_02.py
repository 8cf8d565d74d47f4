"""Notebook 2 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py), and each entry of CLAIMS (a sentence quoted
exactly, and the assertion that proves it) runs as an extra cell in the same kernel, on the objects
the cells built (``table``, ``first``/``second``, ``runs``, ``compare``, ``learned``); see
tests/_claims.py.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "02_positional_encoding.ipynb"

SETUP = """
import numpy as _np

from explain import analysis as _analysis

_formula = table.table()  # [position, dimension], what the sinusoidal view shows
_position = _np.arange(64)[:, None]
_rate = 10000.0 ** (_np.arange(0, 64, 2) / 64)  # written out here, not read from explain
_by_hand = _np.zeros((64, 64))
_by_hand[:, 0::2], _by_hand[:, 1::2] = _np.sin(_position / _rate), _np.cos(_position / _rate)
_mirror = {kind: _analysis.head_scores(run.trace)["mirror"] for kind, run in runs.items()}
_accuracy = {kind: run.trace.scalar("val_accuracy")[1] for kind, run in runs.items()}
_val_loss = {kind: run.trace.scalar("val_loss")[1] for kind, run in runs.items()}
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "a fixed table of sines and cosines of different frequencies",
        "assert _formula.shape == (64, 64) and _np.allclose(_formula, _by_hand), _formula.shape",
    ),
    (
        "the first dimensions change quickly, the last ones slowly",
        "_turns = (_np.diff(_np.sign(_formula), axis=0) != 0).sum(axis=0)  # per dimension\n"
        "assert _turns[0] > 10 and _turns[-8:].max() <= 1, _turns\n"
        "assert (_np.diff(_turns[0::2]) <= 0).all(), _turns  # fewer turns, dimension by dimension",
    ),
    (
        "so every position gets its own pattern",
        "_gaps = _np.linalg.norm(_formula[:, None] - _formula[None], axis=-1)\n"
        "assert _gaps[~_np.eye(64, dtype=bool)].min() > 0.1, _gaps",
    ),
    (
        "nearby positions have similar encodings",
        "_unit = _formula / _np.linalg.norm(_formula, axis=1, keepdims=True)\n"
        "_similar = _unit @ _unit.T\n"
        "_next = _np.array([_similar[p, p + 1] for p in range(54)])\n"
        "_far = _np.array([_similar[p, p + 10] for p in range(54)])\n"
        "assert (_next > _far).all(), (_next, _far)",
    ),
    (
        "Its prediction after the `>` is the same (up to float rounding)",
        "assert (first - second).abs().max().item() < 1e-5, (first - second).abs().max()\n"
        "assert bag.config.positional == 'none'",
    ),
    (
        "We train the same small model four times, changing only the positional encoding",
        "_configs = [run.trace.meta['model_config'] for run in runs.values()]\n"
        "_others = [{k: v for k, v in c.items() if k != 'positional'} for c in _configs]\n"
        "assert all(c == _others[0] for c in _others), _configs\n"
        "assert [c['positional'] for c in _configs] == ['none', 'sinusoidal', 'learned', 'rope']",
    ),
    # -- side by side
    (
        "`none` stays at zero while the others climb to 1.00",
        "assert _accuracy['none'].max() == 0.0, _accuracy['none']\n"
        "assert all(_accuracy[k][-1] == 1.0 for k in ('sinusoidal', 'learned', 'rope')), _accuracy",
    ),
    (
        "the same layer and head of each run, head 1 of layer 0",
        "assert (compare.layer_select.value, compare.head_select.value) == (0, 1)",
    ),
    (
        "appear in the sinusoidal and learned runs, where this head ends with more than 0.7 of an "
        "answer row's weight on the mirror position",
        "for _kind in ('sinusoidal', 'learned'):\n"
        "    assert _mirror[_kind][0, 0, 1] < 0.25, (_kind, _mirror[_kind][0])  # step 0: not yet\n"
        "    assert _mirror[_kind][-1, 0, 1] > 0.7, (_kind, _mirror[_kind][-1])",
    ),
    (
        "and never in `none`, where no head of either layer puts more than 0.25 there at any step",
        "assert _mirror['none'].max() < 0.25, _mirror['none'].max(axis=0)",
    ),
    (
        "The rotary run reverses too, but spreads the job over several heads: averaged over the "
        "answer rows, none of its heads puts more than 0.6 on the mirror position.",
        "assert _accuracy['rope'][-1] == 1.0, _accuracy['rope']\n"
        "assert _mirror['rope'][-1].max() < 0.6, _mirror['rope'][-1]\n"
        "assert (_mirror['rope'][-1] > 0.3).sum() >= 3, _mirror['rope'][-1]  # several heads",
    ),
    (
        "`none` still learns something: which digits occur, not where.",
        "assert _val_loss['none'][-1] < 0.6 * _val_loss['none'][0], _val_loss['none']\n"
        "assert _val_loss['none'][-1] > 10 * max(_val_loss[k][-1] for k in runs if k != 'none')",
    ),
    # -- the learned table
    (
        "The learned encoding starts at zero and is shaped by training.",
        "_tables = learned.data.table  # [snapshot, position, dimension]\n"
        "assert learned.data.steps[0] == 0 and _np.abs(_tables[0]).max() == 0.0\n"
        "assert _np.abs(_tables[-1]).max() > 0.1, _np.abs(_tables[-1]).max()",
    ),
    (
        "watch it grow from nothing into a pattern the model can use",
        "_norms = _np.linalg.norm(_tables.reshape(len(_tables), -1), axis=1)\n"
        "assert _norms[-1] > _norms[len(_norms) // 2] > _norms[0] == 0.0, _norms\n"
        "assert learned.step == learned.data.steps[-1]  # the view opens on the trained table",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
