"""Synthetic inputs of the widget benchmarks: a trace with attention (and, ``full``, everything
else a recorded trace has) and GPT-2-shaped per-layer attentions. No torch.

Imported after the benchmark has put the tree it measures first on ``sys.path``
(``bench/_worker.py``), so the Trace is that tree's.
"""

from __future__ import annotations

import numpy as np
from _common import training_scalars

from explain.trace import Trace

PARAM = "blocks.0.attn.W_o.weight"  # the one parameter whose optimizer state is tracked


def synthetic_trace(layers: int, heads: int, tokens: int, snapshots: int, full: bool) -> Trace:
    """Row-normalised causal attention at ``snapshots`` steps; with ``full``, also everything
    else a recorded trace has (scalars, embeddings, positional table, optimizer tensors)."""
    rng = np.random.default_rng(0)
    snapshot_steps = np.arange(snapshots) * 10
    tensors: dict[str, np.ndarray] = {}
    mask = np.tril(np.ones((tokens, tokens), np.float32))
    for layer in range(layers):
        pattern = rng.random((snapshots, heads, tokens, tokens), dtype=np.float32) * mask
        pattern /= pattern.sum(-1, keepdims=True)
        tensors[f"blocks.{layer}.attn.hook_pattern"] = pattern
    vocab = [str(i) for i in range(16)]
    meta = {
        "model_config": {"n_layers": layers, "n_heads": heads, "positional": "learned"},
        "train_config": {"optimizer": "adam"},
        "probe": {"tokens": [vocab[i % 16] for i in range(tokens)]},
        "vocab": vocab,
        "task": {"name": "synthetic"},
    }
    steps = np.arange(snapshot_steps[-1] + 1)
    scalars: dict[str, np.ndarray] = {}
    if full:
        d_model = 64
        tensors["embed.W_E"] = rng.normal(size=(snapshots, 16, d_model)).astype(np.float32)
        tensors["positional"] = rng.normal(size=(snapshots, tokens, d_model)).astype(np.float32)
        for kind in ("grad", "update", "exp_avg"):
            tensors[f"{kind}/{PARAM}"] = rng.normal(size=(snapshots, d_model, d_model))
        tensors[f"exp_avg_sq/{PARAM}"] = rng.random((snapshots, d_model, d_model))
        scalars = training_scalars(steps, loss=2.5, floor=0.1, decay_steps=200, eval_every=50)
        decay = scalars["grad_norm"]
        scalars[f"grad_norm/{PARAM}"] = decay
        scalars[f"update_ratio/{PARAM}"] = 1e-3 * decay + 1e-5
    return Trace.from_arrays(meta, steps, scalars, snapshot_steps, tensors)


def gpt2_attentions(layers: int, heads: int, tokens: int) -> list[np.ndarray]:
    """Per-layer [1, heads, T, T] causal attention like ``output_attentions``: in every layer
    head 0 looks at the previous token, head 1 at the first and head 2 at itself (90% of each
    row, so they earn badges); the other heads are random."""
    rng = np.random.default_rng(0)
    mask = np.tril(np.ones((tokens, tokens), np.float32))
    query = np.arange(tokens)
    targets = [np.maximum(query - 1, 0), np.zeros(tokens, np.int64), query]  # key of each row
    attentions = []
    for _ in range(layers):
        pattern = rng.random((1, heads, tokens, tokens), dtype=np.float32) * mask
        pattern /= pattern.sum(-1, keepdims=True)
        for head, keys in enumerate(targets[:heads]):
            pattern[0, head] *= 0.1
            pattern[0, head, query, keys] += 0.9
        attentions.append(pattern)
    return attentions
