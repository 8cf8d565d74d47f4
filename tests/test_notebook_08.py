"""Notebook 8 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py: the run tests/test_notebooks.py and the
rehearsal read too), with extra cells appended to a copy: they run in the same kernel, on the
objects the notebook's cells built (``run``, ``view``, ``curve``, ...). Each entry of CLAIMS pairs a
sentence of the notebook, quoted exactly, with the assertion that proves it; a fast test checks that
every quoted sentence is still in the notebook, so the text and its checks cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "08_redundancy_and_pruning.ipynb"

SETUP = """
import numpy as _np

_right = answer(probe.targets[0])  # what reversing the probe should give: "9 5 1 4 1 3"
_layer_1 = slice(4, 8)  # layer 1 in view.data.similarity, whose rows are L0H0 .. L1H3
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    (
        "We train the default model (2 layers × 4 heads)",
        "assert (run.model.config.n_layers, run.model.config.n_heads) == (2, 4)",
    ),
    # -- attention weighting
    (
        "At step 0 every head spreads its weight evenly",
        "assert run.trace.snapshot_steps[0] == 0\n"
        "assert _np.allclose(entropy[0], even, atol=0.01), (entropy[0], even)",
    ),
    (
        "its mirror score is about 0.1",
        "assert (abs(mirror[0] - 0.1) < 0.05).all(), mirror[0]",
    ),
    (
        "After training each head of layer 1 puts, on average, more than 80% of an answer row's "
        "weight on the mirror token",
        "assert run.trace.snapshot_steps[-1] == run.trace.steps[-1]  # the last snapshot: trained\n"
        "assert (mirror[-1, 1] > 0.8).all(), mirror[-1, 1]",
    ),
    (
        "with less than 1 bit of entropy",
        "assert (entropy[-1, 1] < 1.0).all(), entropy[-1, 1]",
    ),
    (
        "while the heads of layer 0 stay spread out (more than 1 bit)",
        "assert (entropy[-1, 0] > 1.0).all(), entropy[-1, 0]",
    ),
    # -- which heads matter
    (
        "all four heads of layer 1 are *mirror* heads, layer 0 has none",
        "assert view.data.roles == [[''] * 4, ['mirror'] * 4], view.data.roles",
    ),
    (
        "the four mirror heads are near copies of each other (below 0.2)",
        "_within = view.data.similarity[_layer_1, _layer_1][~_np.eye(4, dtype=bool)]\n"
        "assert _within.max() < 0.2, view.data.similarity",
    ),
    (
        "far from every head of layer 0 (above 0.4)",
        "assert view.data.similarity[_layer_1, :4].min() > 0.4, view.data.similarity",
    ),
    (
        "The text underneath names the four mirror heads",
        "assert len(view.data.circuits) == 4, view.data.circuits\n"
        "assert all('mirror head' in line for line in view.data.circuits), view.data.circuits",
    ),
    (
        "from the gradient (one backward pass, what the grid shows)",
        "assert _np.allclose(view.data.importance, gradient), (view.data.importance, gradient)",
    ),
    (
        "The two rankings agree (Spearman's rank correlation above 0.8)",
        "assert lab.spearman(gradient, ablation) > 0.8, lab.spearman(gradient, ablation)",
    ),
    (
        "both put the same two heads, L1H1 and L1H3, at the top",
        "assert set(lab.rank_heads(gradient)[-2:]) == {(1, 1), (1, 3)}, gradient\n"
        "assert set(lab.rank_heads(ablation)[-2:]) == {(1, 1), (1, 3)}, ablation",
    ),
    # -- switching heads off by hand
    (
        "Start with L1H3, the head whose removal costs the most.",
        "assert lab.rank_heads(ablation)[-1] == (1, 3), ablation\n"
        "assert lab.rank_heads(view.data.ablated_loss)[-1] == (1, 3), view.data.ablated_loss",
    ),
    (
        "The probe is still reversed correctly.",
        "assert one_head_answer == _right, (one_head_answer, _right)",
    ),
    (
        "Switching off any single head keeps accuracy above 0.9 and the loss below 0.05",
        "assert view.data.ablated_accuracy.min() > 0.9, view.data.ablated_accuracy\n"
        "assert view.data.ablated_loss.max() < 0.05, view.data.ablated_loss\n"
        "assert one_head['accuracy'] > 0.9 and one_head['loss'] < 0.05, one_head",
    ),
    (
        "With all four heads of layer 1 off (four clicks, or the loop below) accuracy falls to 0",
        "assert layer_1_off['accuracy'] < 0.005, layer_1_off  # printed as 0.00",
    ),
    (
        "the probe's answer goes wrong",
        "assert layer_1_answer != _right, layer_1_answer",
    ),
    (
        "Without layer 0 the model still reverses most sequences.",
        "assert layer_0_off['accuracy'] > 0.5, layer_0_off",
    ),
    (
        "the one above stays as it was",
        "assert view.off == set(), view.off  # the first cell put L1H3 back on\n"
        "assert 'all heads on' in view.figures()[0]['layout']['title']['text'], view.figures()",
    ),
    (
        "the view below shows layer 1 switched off",
        "assert layer_view.off == {(1, head) for head in range(4)}, layer_view.off\n"
        "assert 'heads off: L1H0, L1H1, L1H2, L1H3' in "
        "layer_view.figures()[0]['layout']['title']['text'], layer_view.figures()[0]['layout']",
    ),
    # -- pruning heads
    (
        "switches heads off one after another, least important first",
        "assert list(curve.order) == lab.rank_heads(gradient), curve.order",
    ),
    (
        "The panel titled *how different (JS distance)*",
        "_titles = [f['layout']['title']['text'] for f in view.figures()]\n"
        "assert _titles[2] == 'how different (JS distance)', _titles  # grid, pruning, JS, scores",
    ),
    (
        "the curve in the view's panel titled *pruning*",
        "_titles = [f['layout']['title']['text'] for f in view.figures()]\n"
        "assert _titles[1].startswith('pruning'), _titles\n"
        "assert _np.allclose(curve.accuracy, view.data.prune_accuracy), view.data.prune_accuracy\n"
        "assert _np.allclose(curve.loss, view.data.prune_loss), view.data.prune_loss",
    ),
    (
        "Accuracy stays at 1.00 while the first three heads go",
        "assert (curve.accuracy[:4] >= 0.995).all(), curve.accuracy",
    ),
    (
        "after six removals it is below 0.8",
        "assert (curve.accuracy[6:] < 0.8).all(), curve.accuracy",
    ),
    (
        "with every head gone it is 0",
        "assert curve.fractions[-1] == 1.0 and curve.accuracy[-1] < 0.005, curve.accuracy",
    ),
    (
        "accuracy stays above 0.95 until the last head goes",
        "assert (retrained.accuracy[:-1] > 0.95).all(), retrained.accuracy\n"
        "assert retrained.accuracy[-1] < 0.005, retrained.accuracy",
    ),
    (
        "the one head left, a mirror head of layer 1, does the work of eight",
        "_last = retrained.order[-1]\n"
        "assert _last[0] == 1 and view.data.roles[1][_last[1]] == 'mirror', _last\n"
        "assert retrained.accuracy[-2] > 0.95, retrained.accuracy",
    ),
    # -- pruning weights
    (
        "Accuracy stays at 1.00 with half of them zeroed",
        "assert 0.5 in sparsity.levels\n"
        "assert (sparsity.accuracy[sparsity.levels <= 0.5] >= 0.995).all(), sparsity.accuracy",
    ),
    (
        "is close to 0 (below 0.1) at 90%",
        "assert sparsity.levels[-1] == 0.9 and sparsity.accuracy[-1] < 0.1, sparsity.accuracy",
    ),
    # -- compare
    (
        "the model with the three least important heads off",
        "assert list(curve.order[:3]) == lab.rank_heads(gradient)[:3], curve.order",
    ),
    (
        "a copy with half of its block weights set to zero",
        "_zero = [(w == 0).float().mean().item() for w in lab.prunable_weights(half).values()]\n"
        "_sizes = [w.numel() for w in lab.prunable_weights(half).values()]\n"
        "assert abs(_np.average(_zero, weights=_sizes) - 0.5) < 1e-3, _zero",
    ),
    (
        "run.model is unchanged",
        "_dense = lab.prunable_weights(run.model).values()\n"
        "_kept = [(w == 0).float().mean().item() for w in _dense]\n"
        "assert max(_kept) < 0.01, _kept",
    ),
    (
        "All three reverse nearly every sequence (accuracy 0.99 or more)",
        "assert len(compared) == 3\n"
        "assert all(result['accuracy'] >= 0.99 for result in compared.values()), compared",
    ),
    (
        "both pruned models are a little less sure than the full one",
        "_full = compared['full model']['loss']\n"
        "assert all(r['loss'] > _full for name, r in compared.items() if name != 'full model')",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
