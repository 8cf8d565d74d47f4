"""Notebook 1 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py), and each entry of CLAIMS (a sentence quoted
exactly, and the assertion that proves it) runs as an extra cell in the same kernel, on the objects
the cells built (``by_hand``, ``run``, ``model_view``, ``attention``); see tests/_claims.py.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "01_self_attention_by_hand.ipynb"

SETUP = """
import numpy as _np

_pizza = _np.array(by_hand.result.scaled[2])  # the scaled scores of the last row
_softmax = _np.exp(_pizza) / _np.exp(_pizza).sum()  # computed here, not by the view
# the probe's attention [snapshot, layer, head, q, k], read from the trace's own tensors
_attention = _np.stack(
    [run.trace.tensors[f"blocks.{i}.attn.hook_pattern"] for i in range(2)], axis=1
).astype(_np.float64)
_tokens = run.trace.meta["probe"]["tokens"]
_arrow = _tokens.index(">")
# copy: row q predicts the answer digit that the input holds at key q - (number of digits + 1)
_rows = _np.arange(_arrow, len(_tokens))
_copy = _attention[..., _rows, _rows - _arrow].mean(axis=-1)  # [snapshot, layer, head]
_visible = _np.tril(_np.ones((len(_tokens), len(_tokens))))
_even = _visible / _visible.sum(axis=1, keepdims=True)  # causal rows spread evenly
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "1. compares the question with every label: the dot products $q \\cdot k_j$;",
        "_r = by_hand.result\n"
        "assert _np.allclose(_r.scores, [[q @ k for k in _r.k] for q in _r.q]), _r.scores",
    ),
    (
        "3. hides the future: with the causal mask a token sees only itself and the tokens "
        "before it;",
        "assert (_np.triu(by_hand.result.weights, k=1) == 0).all(), by_hand.result.weights",
    ),
    (
        "4. turns the scores into weights that are positive and sum to 1: the softmax;",
        "_w = by_hand.result.weights\n"
        "assert _np.allclose(_w.sum(axis=1), 1) and (_w[_np.tril_indices(3)] > 0).all(), _w",
    ),
    (
        "5. returns the weighted sum of the values.",
        "_r = by_hand.result\n"
        "_sums = [sum(w * v for w, v in zip(row, _r.v)) for row in _r.weights]\n"
        "assert _np.allclose(_r.output, _sums), (_r.output, _sums)",
    ),
    (
        "Three tokens with vectors of width $d = 4$, so $\\sqrt{d} = 2$.",
        "assert by_hand.result.q.shape == (3, 4) and by_hand.result.k.shape == (3, 4)\n"
        "assert _np.allclose(by_hand.result.scaled, by_hand.result.scores / 2)",
    ),
    (
        "its scaled scores are 4.5, 2.3 and 2.5",
        "assert by_hand.tokens[2] == 'pizza', by_hand.tokens\n"
        "assert _np.allclose(_pizza, [4.5, 2.3, 2.5], atol=0.05), _pizza",
    ),
    (
        "softmax turns them into **0.80, 0.09 and 0.11**",
        "assert _np.allclose(_softmax, [0.80, 0.09, 0.11], atol=0.005), _softmax\n"
        "assert _np.allclose(by_hand.result.weights[2], _softmax), by_hand.result.weights[2]",
    ),
    (
        "$e^{4.5}$ is about 90, $e^{2.3}$ and $e^{2.5}$ only about 10 and 12",
        "assert _np.allclose(_np.exp(_pizza), [90, 10, 12], rtol=0.1), _np.exp(_pizza)",
    ),
    (
        "Some tutorials print 0.62, 0.32, 0.06 for these scores: work out the exponentials to "
        "see that this cannot be right.",
        "assert not _np.allclose(_softmax, [0.62, 0.32, 0.06], atol=0.05), _softmax",
    ),
    (
        "The view computes; here is the same softmax in three lines of numpy, from its scores:",
        "assert _np.allclose(weights, by_hand.result.weights[2]), (weights, by_hand.result)",
    ),
    (
        "untick *causal mask* to let every token see the future",
        "by_hand.causal_box.value = False\n"
        "assert (by_hand.result.weights > 0).all() and not by_hand.result.causal, by_hand.result\n"
        "by_hand.causal_box.value = True\n"
        "assert (_np.triu(by_hand.result.weights, k=1) == 0).all(), by_hand.result.weights",
    ),
    # -- the trained model
    (
        "until it copies every validation sequence (accuracy 1.00)",
        "assert run.trace.scalar('val_accuracy')[1][-1] == 1.0, run.trace.scalar('val_accuracy')",
    ),
    (
        "head 1 of layer 0, the head that does the copying",
        'assert model_view.source == "the model\'s layer 0, head 1", model_view.source\n'
        "_here = _attention[-1, 0, 1]\n"
        "assert _np.allclose(model_view.model_pattern, _here, atol=1e-5), model_view.model_pattern",
    ),
    (
        "checks that the result equals what the model itself computed (its `hook_pattern` and "
        "`hook_z`)",
        "assert _np.allclose(model_view.result.weights, model_view.model_pattern, atol=1e-5)\n"
        "assert _np.allclose(model_view.result.output, model_view.model_z, atol=1e-5)\n"
        "assert difference < 1e-5, difference",
    ),
    (
        "The vectors are now 8 wide",
        "assert model_view.result.q.shape[-1] == 8 and model_view.result.k.shape[-1] == 8",
    ),
    # -- how the pattern formed
    (
        "at step 0 the weights are spread out (each row weighs every token it can see equally)",
        "assert run.trace.snapshot_steps[0] == 0\n"
        "_gap = _np.abs(_attention[0] - _even).max()\n"
        "assert _gap < 0.02, _gap",
    ),
    (
        "from the `>` on each position looks back at the digit it has to write next, with more "
        "than 0.7 of its weight on average",
        "assert run.trace.snapshot_steps[-1] == run.trace.steps[-1]  # the trained model\n"
        "assert _copy[-1, 0, 1] > 0.7 and _copy[-1, 0, 3] > 0.7, _copy[-1]\n"
        "assert (_copy[0] < 0.2).all(), _copy[0]  # step 0: spread out",
    ),
    (
        "The view opens on head 1 of layer 0, which does this; so does head 3 of layer 0.",
        "assert (attention.layer_select.value, attention.head_select.value) == (0, 1)\n"
        "_copying = {tuple(head) for head in _np.argwhere(_copy[-1] > 0.7).tolist()}\n"
        "assert _copying == {(0, 1), (0, 3)}, _copy[-1]",
    ),
    (
        "Layer 1 does not: none of its heads puts more than 0.2 on that digit.",
        "assert (_copy[-1, 1] < 0.2).all(), _copy[-1, 1]",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
