"""EmbeddingView: PCA coordinates from one fixed basis, cosine similarity, trails, 3-D."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_traces import get_reverse_trace, get_translate_trace

from explain.trace import Trace
from widgets import EmbeddingView


def independent_pca(embeddings: np.ndarray, k: int) -> np.ndarray:
    """Pooled-PCA coordinates [snapshot, token, k], each axis's largest loading positive."""
    pooled = embeddings.reshape(-1, embeddings.shape[-1])
    mean = pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    axes = vt[:k]
    for row in axes:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    return (embeddings - mean) @ axes.T


def test_points_are_the_fixed_pca_projection():
    reverse_trace = get_reverse_trace()
    view = EmbeddingView(reverse_trace)
    n = len(reverse_trace.vocab)
    embeddings = reverse_trace.tensor("embed.W_E")[:, :n].astype(np.float64)
    expected = independent_pca(embeddings, 3)
    for step in (0, 20, 40):
        view.step = step
        tokens = view.scatter.figure.data[1]
        np.testing.assert_allclose(tokens.x, expected[step, :, 0], atol=1e-9)
        np.testing.assert_allclose(tokens.y, expected[step, :, 1], atol=1e-9)
        assert list(tokens.text) == reverse_trace.vocab[:-1] + ["&gt;"]  # escaped "&gt;"
        unit = embeddings[step] / np.linalg.norm(embeddings[step], axis=1, keepdims=True)
        np.testing.assert_allclose(view.similarity.figure.data[0].z, unit @ unit.T, atol=1e-6)


def test_axes_do_not_flip_or_move():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 5))
    base -= base.mean(axis=0)  # centred, so the pooled mean is zero
    steps = [0, 1, 2, 3]
    growth = np.array([1.0, -0.5, 2.0, 3.0])  # step 1 mirrors every point through the origin
    trace = Trace.from_arrays(
        {"vocab": list("abcdef")}, steps, {}, steps, {"embed.W_E": growth[:, None, None] * base}
    )
    view = EmbeddingView(trace, step=0)
    first = np.c_[view.scatter.figure.data[1].x, view.scatter.figure.data[1].y]
    x_range = tuple(view.scatter.figure.layout.xaxis.range)
    for step, scale in zip(steps, growth, strict=True):
        view.step = step
        now = np.c_[view.scatter.figure.data[1].x, view.scatter.figure.data[1].y]
        np.testing.assert_allclose(now, scale * first, atol=1e-6)  # same axes, same signs
        assert tuple(view.scatter.figure.layout.xaxis.range) == x_range


def test_trails_and_3d():
    reverse_trace = get_reverse_trace()
    view = EmbeddingView(reverse_trace, step=3)
    view.trails.value = True
    trail = view.scatter.figure.data[0]
    coords = view.coords
    n_tokens = coords.shape[1]
    assert len(trail.x) == n_tokens * 5  # 4 positions (steps 0..3) + a gap per token
    np.testing.assert_allclose(trail.x[:4], coords[:4, 0, 0])
    view.dims_toggle.value = "3-D"
    assert (
        view.scatter.widget.layout.display == "none"
        and view.scatter3d.widget.layout.display is None
    )
    view.step = 7
    np.testing.assert_allclose(view.scatter3d.figure.data[0].z, coords[7, :, 2])


def test_encoder_decoder_matrices():
    translate_trace = get_translate_trace()
    view = EmbeddingView(translate_trace)
    assert list(view.matrix_select.options) == ["encoder.embed.W_E", "decoder.embed.W_E"]
    view.matrix_select.value = "encoder.embed.W_E"
    assert view.scatter.figure.layout.title.text.startswith("token embeddings (encoder)")
    assert view.data.tensor == "encoder.embed.W_E" and view.data.part == "encoder"


def test_bad_embeddings():
    with pytest.raises(ValueError, match="no token embeddings"):
        EmbeddingView(Trace.from_arrays({}, [0], {}, [0], {"w": np.ones((1, 2))}))
    bad = np.ones((2, 3, 4))
    bad[1, 2, 0] = np.nan
    trace = Trace.from_arrays({}, [0, 1], {}, [0, 1], {"embed.W_E": bad})
    with pytest.raises(
        ValueError, match=r"embed.W_E holds NaN or inf \(first at index \(1, 2, 0\)\)"
    ):
        EmbeddingView(trace)
