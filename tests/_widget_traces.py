"""Small traces for the widget tests, built once per test session (cached).

Tests call the builders (``get_reverse_trace()``, ...); they are cached with
``functools.cache``, so every test module of a session shares one trained trace.
"""

from __future__ import annotations

import functools
import pathlib
import tempfile

import numpy as np

from explain.trace import Trace

REVERSE_STEPS = 40


@functools.cache
def build_reverse_run():
    """``reverse`` trained 40 steps: 2 layers x 4 heads, a snapshot at every step, AdamW."""
    import explain

    model_config = explain.ModelConfig(
        vocab_size=11, d_model=32, n_layers=2, n_heads=4, d_mlp=64, context_length=16
    )
    train_config = explain.TrainConfig(steps=REVERSE_STEPS, batch_size=16, eval_every=20)
    return explain.train("reverse", model_config=model_config, train_config=train_config)


@functools.cache
def build_translate_trace() -> Trace:
    """The encoder-decoder ``translate`` task trained 10 steps (encoder, decoder, cross)."""
    import explain

    train_config = explain.TrainConfig(steps=10, batch_size=8, eval_every=5)
    return explain.train("translate", train_config=train_config).trace


@functools.cache
def saved_reverse_path() -> pathlib.Path:
    """The reverse trace saved to a temporary .npz (loaded again by explain.load_trace)."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="widget-traces-"))
    return build_reverse_run().trace.save(directory / "reverse.npz")


def synthetic_attention_trace(
    layers: int = 2, heads: int = 3, tokens: int = 6, steps: tuple[int, ...] = (0, 10, 20), seed=0
) -> Trace:
    """Causal, row-normalised random patterns at ``steps``; no model, no torch."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(layers):
        raw = np.tril(rng.random((len(steps), heads, tokens, tokens)) + 1e-3)
        tensors[f"blocks.{layer}.attn.hook_pattern"] = raw / raw.sum(-1, keepdims=True)
    meta = {
        "model_config": {"n_layers": layers, "n_heads": heads},
        "probe": {"tokens": [f"t{i % 4}" for i in range(tokens)]},
    }
    return Trace.from_arrays(meta, list(steps), {}, list(steps), tensors)


def get_reverse_trace() -> Trace:
    return build_reverse_run().trace


def get_translate_trace() -> Trace:
    return build_translate_trace()
