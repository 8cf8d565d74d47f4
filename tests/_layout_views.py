"""Every view, one per notebook cell, on a small trained run: what the browser layout test
(tests/browser/test_layout.py) measures in JupyterLab, and what the theme test
(tests/test_widgets_theme.py) builds in each theme and restyles into it."""

from __future__ import annotations

MODEL = (
    "explain.ModelConfig(vocab_size=11, d_model=16, n_layers=2, n_heads=4, d_mlp=32, "
    "context_length=12)"
)
LONG_TOKENS = ["<bos>", "the", "cat", "chases", "the", "mouse", "across", "understandings"]
# (name, code that evaluates to the view); every cell displays one
VIEWS = [
    ("AttentionView", "widgets.AttentionView(trace, **kw)"),
    ("AttentionView-words", "widgets.AttentionView.from_attentions(words, TOKENS, **kw)"),
    ("EmbeddingView", "widgets.EmbeddingView(trace, **kw)"),
    ("PositionalView", "widgets.PositionalView(trace, **kw)"),
    ("LossView", "widgets.LossView(trace, **kw)"),
    ("OptimizerView", "widgets.OptimizerView(trace, playground=False, **kw)"),
    ("OptimizerPlayground", "widgets.OptimizerPlayground(**kw)"),
    ("ByHandView", "widgets.ByHandView(**kw)"),
    ("GenerateView", "widgets.GenerateView(run, **kw)"),
    ("CompareView", "widgets.CompareView(run, run, **kw)"),
    ("HeadsView", "widgets.HeadsView(run, **kw)"),
    ("LensView", "widgets.LensView(run, **kw)"),
    ("Dashboard", "widgets.Dashboard(trace, **kw)"),
]


def setup(kw: str = "{}") -> str:
    """The first cell: trains the run (40 steps of ``reverse``) and defines what VIEWS use;
    ``kw`` is the source of the views' keyword arguments, e.g. ``'{"theme": "dark"}'``."""
    return f"""import numpy as np
import explain, widgets
kw = {kw}
run = explain.train("reverse", {MODEL}, explain.TrainConfig(steps=40))
trace = run.trace
TOKENS = {LONG_TOKENS!r}
rng = np.random.default_rng(0)
raw = np.tril(rng.random((2, 1, 2, {len(LONG_TOKENS)}, {len(LONG_TOKENS)})) + 1e-3)
words = list(raw / raw.sum(-1, keepdims=True))"""
