"""Numpy analysis of traces: stable PCA across steps, similarity, entropy. No torch.

>>> import numpy as np
>>> emb = np.random.default_rng(0).normal(size=(5, 8, 16))  # [snapshot, token, d_model]
>>> coords, ratio = stable_pca(emb, k=2)
>>> coords.shape, ratio.shape
((5, 8, 2), (2,))
"""

from __future__ import annotations

import numpy as np


def _check_ndim(name: str, array: np.ndarray, ndim: int, dims: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {dims}; got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or inf values; expected finite numbers")
    return array


def pca_basis(points: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of ``points`` [n, d]: ``(mean [d], components [k, d], explained ratio [k])``.

    Each component's sign is fixed so its largest-magnitude loading is positive, so the same data
    always gives the same picture.
    """
    points = _check_ndim("points", points, 2, "[n, d]")
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"k must be in [1, {points.shape[1]}]; got {k}")
    mean = points.mean(axis=0)
    _, singular, vt = np.linalg.svd(points - mean, full_matrices=False)
    components = vt[:k]  # [k, d]
    if components.shape[0] < k:  # fewer points than k: pad with zero axes
        components = np.vstack([components, np.zeros((k - components.shape[0], points.shape[1]))])
        singular = np.concatenate([singular, np.zeros(k)])
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    variance = singular**2
    total = variance.sum()
    ratio = variance[:k] / total if total > 0 else np.zeros(k)
    return mean, components, ratio


def stable_pca(
    embeddings: np.ndarray, k: int = 2, fit_on: str = "all"
) -> tuple[np.ndarray, np.ndarray]:
    """Project every snapshot of ``embeddings`` [snapshot, n, d] with ONE fixed PCA basis.

    Points move between steps but the axes do not flip or rotate. ``fit_on`` is "all" (every
    snapshot pooled) or "last" (the final snapshot). Returns ``(coords [snapshot, n, k], ratio
    [k])``, ratio being the variance share of each axis in the data it was fit on.
    """
    embeddings = _check_ndim("embeddings", embeddings, 3, "[snapshot, n, d]")
    if fit_on not in ("all", "last"):
        raise ValueError(f"fit_on must be 'all' or 'last'; got {fit_on!r}")
    fit = embeddings.reshape(-1, embeddings.shape[-1]) if fit_on == "all" else embeddings[-1]
    mean, components, ratio = pca_basis(fit, k)
    return (embeddings - mean) @ components.T, ratio


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``vectors`` [n, d] -> [n, n]; zero rows give 0."""
    vectors = _check_ndim("vectors", vectors, 2, "[n, d]")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit @ unit.T


def attention_entropy(pattern: np.ndarray) -> np.ndarray:
    """Entropy in nats of each attention row; ``pattern`` [..., q_pos, k_pos] -> [..., q_pos].

    0 means a head looks at one token; log(k) means it spreads evenly over k tokens.
    """
    pattern = np.asarray(pattern, dtype=np.float64)
    if pattern.ndim < 2:
        raise ValueError(f"pattern must have shape [..., q_pos, k_pos]; got {pattern.shape}")
    logs = np.log(pattern, out=np.zeros_like(pattern), where=pattern > 0)
    return -(pattern * logs).sum(axis=-1)


def head_similarity(patterns: np.ndarray) -> np.ndarray:
    """Cosine similarity between heads' flattened patterns: [heads, q, k] -> [heads, heads]."""
    patterns = _check_ndim("patterns", patterns, 3, "[head, q_pos, k_pos]")
    return cosine_similarity(patterns.reshape(patterns.shape[0], -1))


def attention_rollout(patterns: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): mean over heads, add the residual, multiply.

    ``patterns`` is per layer [head, q, k] (all layers the same size); returns [q, k], whose row i
    says how much each input token flows into position i through all layers.
    """
    layers = [_check_ndim("pattern", p, 3, "[head, q_pos, k_pos]") for p in patterns]
    if not layers:
        raise ValueError("attention_rollout needs at least one layer")
    size = layers[0].shape[-1]
    rollout = np.eye(size)
    for pattern in layers:
        if pattern.shape[-2:] != (size, size):
            raise ValueError(f"every layer must be [head, {size}, {size}]; got {pattern.shape}")
        mixed = 0.5 * pattern.mean(axis=0) + 0.5 * np.eye(size)  # residual connection
        rollout = mixed @ rollout
    return rollout
