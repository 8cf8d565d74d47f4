"""Notebook 4 says only what its own cells show: every claim its text makes is checked here.

The notebook runs once per session (tests/_lectures.py), and each entry of CLAIMS (a sentence quoted
exactly, and the assertion that proves it) runs as an extra cell in the same kernel, on the objects
the cells built (``predictions``, ``p``, ``playground``, ``runs``, ``inside``); see
tests/_claims.py. The playground's claims are checked on its own trajectories
(``playground.paths``).
"""

from __future__ import annotations

from pathlib import Path

from _claims import claim_tests

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_loss_and_optimizers.ipynb"

SETUP = """
_gd, _momentum, _adam = (playground.paths[name] for name in ("gd", "momentum", "adam"))
_start = _gd[0]
_final = {name: run.trace.scalar("loss")[1][-1] for name, run in runs.items()}
_accuracy = {name: run.trace.scalar("val_accuracy")[1][-1] for name, run in runs.items()}
_data = inside.data
_first = _data.index(inside.step)
_update = np.abs(_data.tensors["update"][_first]).ravel()
_moment = np.abs(_data.tensors["exp_avg"][_first]).ravel()  # at step 1: (1 - beta1) * |gradient|
_lr_steps, _lr = runs["adam"].trace.scalar("lr")
"""

# (sentence quoted from the notebook, assertion on the notebook's objects that proves it)
CLAIMS: list[tuple[str, str]] = [
    # -- cross-entropy versus MSE
    (
        "Three predictions: confident and right, unsure, and confident but wrong.",
        "assert all(abs(q.sum() - 1) < 1e-9 for q in predictions.values())\n"
        "assert [q.argmax() for q in predictions.values()] == [0, 0, 1]",
    ),
    (
        "Cross-entropy grows without bound as the probability of the right answer goes to zero",
        "_ce = -np.log(p)\n"
        "assert (np.diff(_ce) < 0).all() and _ce[0] > 6.9, _ce[:3]  # -log(0.001) = 6.9",
    ),
    (
        "MSE can never exceed a small constant",
        "_worst = np.mean((np.array([0.0, 1.0, 0.0, 0.0]) - answer) ** 2)  # all on a wrong class\n"
        "assert _worst == 0.5\n"
        "assert all(np.mean((q - answer) ** 2) <= _worst for q in predictions.values())",
    ),
    (
        "with softmax outputs the gradient of cross-entropy on the right logit is $p - 1$, largest "
        "when the model is most wrong",
        "_logit = np.log(p / (1 - p))  # two classes: p = sigmoid(logit)\n"
        "_h = 1e-6\n"
        "_sig = lambda z: 1 / (1 + np.exp(-z))\n"
        "_numeric = (-np.log(_sig(_logit + _h)) + np.log(_sig(_logit - _h))) / (2 * _h)\n"
        "assert np.allclose(_numeric, p - 1, atol=1e-5)\n"
        "assert np.argmax(np.abs(p - 1)) == 0  # largest at the smallest p(right)",
    ),
    (
        "while the gradient of MSE fades away there",
        "_mse = lambda z: (1 - _sig(z)) ** 2\n"
        "_numeric = (_mse(_logit + _h) - _mse(_logit - _h)) / (2 * _h)\n"
        "assert np.allclose(_numeric, -2 * (1 - p) * p * (1 - p), atol=1e-5)\n"
        "assert abs(_numeric[0]) < 0.01 < abs(_numeric).max(), _numeric[[0, 200]]",
    ),
    # -- the playground
    (
        "Three optimizers start from the same point on a long narrow valley, 90 times steeper "
        "across (y) than along (x); the minimum is at (0, 0).",
        "assert playground.surface_select.value == 'valley'\n"
        "assert all((path[0] == _start).all() for path in playground.paths.values())\n"
        "_f = widgets.playground.SURFACES['valley'].f\n"
        "_h = 1e-3  # second derivatives, by finite differences\n"
        "_fxx = (_f(_h, 0.0) - 2 * _f(0.0, 0.0) + _f(-_h, 0.0)) / _h**2\n"
        "_fyy = (_f(0.0, _h) - 2 * _f(0.0, 0.0) + _f(0.0, -_h)) / _h**2\n"
        "assert abs(_fyy / _fxx - 90) < 1e-3, (_fxx, _fyy)\n"
        "_x, _y = np.meshgrid(np.linspace(-10, 10, 201), np.linspace(-3, 3, 61))\n"
        "assert _f(_x, _y).min() == _f(0.0, 0.0) == 0.0",
    ),
    (
        "so y changes sign at every one of the first 20 steps",
        "_signs = np.sign(_gd[:21, 1])\n"
        "assert (_signs[1:] == -_signs[:-1]).all(), _gd[:21, 1]\n"
        "assert np.abs(_gd[20, 1]) > 0.01, _gd[20]  # still visible",
    ),
    (
        "while GD creeps along it",
        "assert 0 < _gd[10, 0] - _start[0] < 0.25 * abs(_start[0]), _gd[10]",
    ),
    (
        "after 10 steps it has come more than three times as far in x as GD",
        "_along = {'gd': _gd[10, 0] - _start[0], 'momentum': _momentum[10, 0] - _start[0]}\n"
        "assert _along['momentum'] > 3 * _along['gd'] > 0, _along",
    ),
    (
        "it swings across the valley too, and overshoots the minimum before settling",
        "assert (np.diff(np.sign(_momentum[:30, 1])) != 0).sum() >= 5, _momentum[:30, 1]\n"
        "assert _momentum[:, 0].max() > 1.0, _momentum[:, 0].max()  # past x = 0\n"
        "assert np.abs(_momentum[-1]).max() < 0.2, _momentum[-1]",
    ),
    (
        "so for its first 5 steps it moves at about the same speed in x and in y (within 10 %)",
        "_moves = np.abs(np.diff(_adam[:6], axis=0))\n"
        "assert np.allclose(_moves[:, 0] / _moves[:, 1], 1, atol=0.1), _moves\n"
        "assert np.allclose(_moves, playground.lr_slider.value, rtol=0.15), _moves",
    ),
    (
        "Click anywhere on the surface to move the start",
        "playground.plot.widget._handle_custom_msg(  # what plot.js sends for a contour cell\n"
        "    {'event': 'click',\n"
        "     'points': [{'curve': 0, 'x': 4.0, 'y': -2.0, 'index': [10, 60]}]},\n"
        "    [],\n"
        ")\n"
        "assert (playground.x0.value, playground.y0.value) == (4.0, -2.0)\n"
        "assert all((path[0] == (4.0, -2.0)).all() for path in playground.paths.values())\n"
        "assert playground.plot.figure.data[0].hoverinfo != 'skip'  # plotly clicks it",
    ),
    # -- the real model
    (
        "In 200 steps plain SGD hardly leaves the starting loss (about 2.4, chance among 11 "
        "tokens: it ends above 2)",
        "assert all(run.trace.steps[-1] == 200 for run in runs.values())\n"
        "_start_loss = runs['sgd'].trace.scalar('loss')[1][0]\n"
        "assert abs(_start_loss - np.log(11)) < 0.05 and _final['sgd'] > 2.0, _final",
    ),
    (
        "momentum gets a little lower",
        "assert _final['adam'] < _final['momentum'] < _final['sgd'], _final",
    ),
    (
        "Adam solves the task (loss below 0.05, validation accuracy 1.00; the other two stay at "
        "0.00)",
        "assert _final['adam'] < 0.05 and _accuracy['adam'] == 1.0, (_final, _accuracy)\n"
        "assert _accuracy['sgd'] == _accuracy['momentum'] == 0.0, _accuracy",
    ),
    # -- inside Adam
    (
        "the update relative to the weights (around $10^{-3}$ per step is typical)",
        "_ratio = _data.update_ratio[_data.parameter]\n"
        "_typical = np.median(_ratio[np.isfinite(_ratio)])\n"
        "assert 3e-4 < _typical < 3e-3, _typical",
    ),
    (
        "The view opens at Adam's first update",
        "assert inside.step == 1 and _data.optimizer == 'adam', (inside.step, _data.optimizer)",
    ),
    (
        "almost every weight moves by the same amount, the learning rate of that step",
        "_lr_1 = _lr[list(_lr_steps).index(inside.step)]\n"
        "assert (np.abs(_update - _lr_1) < 0.01 * _lr_1).mean() > 0.99, (_lr_1, _update)",
    ),
    (
        "(the histogram is two bars, at plus and minus it)",
        "_counts = inside.histogram.figure.data[0].y\n"
        "assert _counts[0] + _counts[-1] > 0.99 * _counts.sum(), _counts",
    ),
    (
        "although the middle 80 % of their gradients span more than a factor of 10",
        "_low, _high = np.quantile(_moment, [0.1, 0.9])\nassert _high > 10 * _low, (_low, _high)",
    ),
    (
        "by the end of training most are more than ten times smaller than at the first step",
        "_end = np.abs(_data.tensors['update'][-1]).ravel()\n"
        "assert np.median(_end) < 0.1 * np.median(_update), (np.median(_end), np.median(_update))",
    ),
]


TestClaims = claim_tests(NOTEBOOK, CLAIMS)
