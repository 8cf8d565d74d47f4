"""Notebook 3 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py), and each entry of CLAIMS (a sentence quoted
exactly, and the assertion that proves it) runs as an extra cell in the same kernel, on the objects
the cells built (``live``, ``run``, ``replay``); see tests/_claims.py.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "03_train_and_watch.ipynb"

SETUP = """
import numpy as _np

_trace = run.trace
# the probe's attention [snapshot, layer, head, q, k], read from the trace's own tensors
_attention = _np.stack(
    [_trace.tensors[f"blocks.{i}.attn.hook_pattern"] for i in range(2)], axis=1
).astype(_np.float64)
_probe = _trace.meta["probe"]
_tokens, _targets = _probe["tokens"], _probe["target_tokens"]
_arrow = _tokens.index(">")
# sort: answer row q writes _targets[q]; its weight on the input keys holding that digit
_on_next = sum(
    _attention[..., q, [k for k in range(_arrow) if _tokens[k] == _targets[q]]].sum(axis=-1)
    for q in range(_arrow, len(_tokens))
) / (len(_tokens) - _arrow)  # [snapshot, layer, head]
_vectors = _trace.tensors["embed.W_E"][:, :10].astype(_np.float64)  # [snapshot, digit, d]
_spread = _np.linalg.norm(_vectors[0] - _vectors[0].mean(axis=0), axis=1).mean()
_moved = _np.linalg.norm(_vectors[-1] - _vectors[0], axis=1).mean() / _spread


_loss_steps, _loss = _trace.scalar("loss")
_val_steps, _val_loss = _trace.scalar("val_loss")
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "Press ▶ in the training controls to train `sort`",
        "_live = live.trace.meta['probe']['tokens']  # the live run's probe: digits > sorted\n"
        "_cut = _live.index('>')\n"
        "assert _live[_cut + 1 :] == sorted(_live[:_cut])[: len(_live) - _cut - 1], _live\n"
        "assert run.trace.scalar('val_accuracy')[1][-1] > 0.9, run.trace.scalar('val_accuracy')",
    ),
    (
        "a few steps at a time; the views follow the newest step",
        "assert live.step == live.trace.snapshot_steps[-1] > 0, (live.step, live.trace.steps)\n"
        "assert all(view.step == live.step for view in live.views.values())",
    ),
    # -- replay
    (
        "training loss falls fast at first, then slowly",
        "_first = _loss[:5].mean() - _loss[(_loss_steps >= 45) & (_loss_steps < 55)].mean()\n"
        "_rest = _loss[(_loss_steps >= 45) & (_loss_steps < 55)].mean() - _loss[-10:].mean()\n"
        "assert _first > _rest > 0, (_first, _rest)  # 50 steps lose more than the next 250",
    ),
    (
        "validation loss follows it while the model generalises",
        "_near = [_loss[abs(_loss_steps - s) <= 5].mean() for s in _val_steps]\n"
        "assert _np.allclose(_val_loss, _near, atol=0.2), (_val_loss, _near)",
    ),
    (
        "A click on the curve moves every view to that step.",
        "_steps = _trace.snapshot_steps\n"
        "_want = int(_steps[_np.argmin(_np.abs(_steps - 147.3))])  # the nearest snapshot\n"
        "assert _want != replay.step\n"
        "replay.loss.figure_plot.widget._handle_custom_msg(\n"
        "    {'event': 'click', 'points': [{'curve': 0, 'x': 147.3, 'y': 1.0, 'index': 147}]}, []\n"
        ")\n"
        "assert replay.step == _want, (replay.step, _want)\n"
        "assert all(view.step == _want for view in replay.views.values())",
    ),
    (
        "The view opens on head 2 of layer 1",
        "_attention_view = replay.attention\n"
        "assert (_attention_view.layer_select.value, _attention_view.head_select.value) == (1, 2)",
    ),
    (
        "At step 0 every head of layer 1 puts about 0.15 of an answer row's weight on the digit "
        "to write next",
        "assert _trace.snapshot_steps[0] == 0\n"
        "assert _np.allclose(_on_next[0, 1], 0.15, atol=0.03), _on_next[0]",
    ),
    (
        "after training each puts more than 0.4 there, and head 2 more than 0.6",
        "assert (_on_next[-1, 1] > 0.4).all(), _on_next[-1]\n"
        "assert _on_next[-1, 1, 2] > 0.6 and _on_next[-1, 1].argmax() == 2, _on_next[-1]",
    ),
    (
        "while the heads of layer 0 stay blurry (below 0.3)",
        "assert (_on_next[-1, 0] < 0.3).all(), _on_next[-1]",
    ),
    (
        "watch it go from blurry to sharp",
        "_rows = slice(_arrow, None)\n"
        "_entropy = explain.analysis.attention_entropy(_attention[:, 1, 2, _rows]).mean(axis=-1)\n"
        "assert _entropy[-1] < _entropy[0] - 1.0, _entropy[[0, -1]]  # a bit sharper, at least",
    ),
    (
        "in 300 steps they move by less than a fifth of their spread",
        "assert _trace.snapshot_steps[-1] == 300\nassert _moved < 0.2, _moved",
    ),
    (
        "they do not line up in order",
        "_coords = replay.embeddings.data.coords[-1, :10, 0]  # the view's first axis, at the end\n"
        "_order = _np.argsort(_coords)\n"
        "_sorted = list(range(10))\n"
        "assert list(_order) not in (_sorted, _sorted[::-1]), _order\n"
        "assert abs(_np.corrcoef(_np.argsort(_order), _sorted)[0, 1]) < 0.9, _order",
    ),
    (
        "every pair of neighbouring digits (0 and 1, 1 and 2, ...) becomes a little more alike",
        "_s = replay.embeddings.data.similarity  # what the view's map shows, [snapshot, a, b]\n"
        "assert replay.embeddings.data.steps[[0, -1]].tolist() == [0, 300]\n"
        "_gain = [_s[-1, d, d + 1] - _s[0, d, d + 1] for d in range(9)]\n"
        "assert all(0 < g for g in _gain), _gain",
    ),
    (
        "each gains 0.03 to 0.13, though 0·1, 6·7 and 7·8 stay just below 0",
        "_s = replay.embeddings.data.similarity\n"
        "_gain = [_s[-1, d, d + 1] - _s[0, d, d + 1] for d in range(9)]\n"
        "assert all(0.03 <= g <= 0.13 for g in _gain), _gain\n"
        "_below = [d for d in range(9) if _s[-1, d, d + 1] < 0]\n"
        "assert _below == [0, 6, 7] and _s[-1, _below, [1, 7, 8]].min() > -0.1, _s[-1]",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
