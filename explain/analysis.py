"""Numpy analysis of traces: stable PCA across steps, similarity, entropy, rollout and what
each attention head does (pattern scores, when they emerged, which heads repeat each other).
No torch.

>>> import numpy as np
>>> emb = np.random.default_rng(0).normal(size=(5, 8, 16))  # [snapshot, token, d_model]
>>> coords, ratio = stable_pca(emb, k=2)
>>> coords.shape, ratio.shape
((5, 8, 2), (2,))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ._scores import PATTERNS, emergence, head_scores, pattern_scores, scored_part
from ._scores import check_weights as _check_weights
from ._scores import trace_attention as _trace_attention

if TYPE_CHECKING:
    from .trace import Trace

__all__ = [
    "PATTERNS",
    "HeadSimilarity",
    "attention_entropy",
    "attention_rollout",
    "cosine_similarity",
    "emergence",
    "entropy_over_training",
    "head_scores",
    "head_similarity",
    "pattern_scores",
    "pca_basis",
    "scored_part",
    "stable_pca",
]


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


def entropy_over_training(trace: Trace, part: str | None = None) -> np.ndarray:
    """Mean row entropy in bits of every head at every snapshot: [snapshot, layer, head].

    The mean is over all query rows of the probe (row 0 of a causal head is always 0 bits);
    ``part`` defaults as in :func:`head_scores`. Falling entropy is a head learning to focus.

    >>> from explain.trace import Trace
    >>> causal = np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None]  # uniform over the past
    >>> tensors = {"blocks.0.attn.hook_pattern": causal[None, None]}  # [snapshot, head, q, k]
    >>> trace = Trace.from_arrays({}, [0], {}, [0], tensors)
    >>> entropy_over_training(trace).round(3)  # (0 + 1 + log2 3 + 2) / 4 bits
    array([[[1.146]]])
    """
    _, attention = _trace_attention(trace, part)  # [snapshot, layer, head, q_pos, k_pos]
    return attention_entropy(attention).mean(axis=-1) / np.log(2.0)


@dataclass(frozen=True)
class HeadSimilarity:
    """How alike the heads' patterns are, and an order that puts alike heads side by side."""

    distance: np.ndarray  # [L*H, L*H] Jensen-Shannon distance (base 2) in [0, 1], layer-major
    order: np.ndarray  # [L*H] head indices in clustering order (average linkage)
    labels: list[str]  # [L*H] "L{layer}H{head}"

    def ordered(self) -> tuple[np.ndarray, list[str]]:
        """The distance matrix and labels in clustering ``order``."""
        order = self.order
        return self.distance[np.ix_(order, order)], [self.labels[i] for i in order]


def _row_distributions(attention: np.ndarray) -> np.ndarray:
    """Each row of ``attention`` [n, q, k] divided by its sum, so that it is a distribution."""
    totals = attention.sum(axis=-1, keepdims=True)  # [n, q, 1]
    if (totals <= 0).any():
        index = tuple(int(i) for i in np.argwhere(totals[..., 0] <= 0)[0])
        raise ValueError(f"attention row {index} sums to 0; expected rows of weights summing to 1")
    return attention / totals


def _js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) of distributions along the last axis (broadcast)."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:  # KL(a || m) in bits; 0 log 0 = 0
        ratio = np.divide(a, m, out=np.ones_like(a * m), where=a > 0)
        return (a * np.log2(ratio)).sum(axis=-1)

    return np.sqrt(np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0))


def _average_linkage_order(distance: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage (UPGMA) clustering: merge the two closest clusters (ties:
    the earliest pair) until one is left; each merge puts its two leaf lists side by side."""
    clusters: list[list[int]] = [[i] for i in range(len(distance))]
    between = distance.astype(np.float64).copy()  # [cluster, cluster] mean distance
    np.fill_diagonal(between, np.inf)
    while len(clusters) > 1:
        a, b = np.unravel_index(np.argmin(between), between.shape)
        a, b = min(a, b), max(a, b)
        size_a, size_b = len(clusters[a]), len(clusters[b])
        merged = (size_a * between[a] + size_b * between[b]) / (size_a + size_b)
        between[a], between[:, a] = merged, merged
        between[a, a] = np.inf
        between = np.delete(np.delete(between, b, axis=0), b, axis=1)
        clusters[a] = clusters[a] + clusters.pop(b)
    return np.asarray(clusters[0] if clusters else [], np.int64)


def head_similarity(attention: np.ndarray) -> HeadSimilarity:
    """Jensen-Shannon distance between every pair of heads of ``attention`` [layer, head, q, k].

    Per query row, the JS distance (base 2: 0 for the same distribution, 1 for disjoint ones)
    of the two heads' attention rows; then the mean over rows. Rows are normalised to sum to 1
    first. ``order`` (average-linkage clustering) puts duplicate heads next to each other.

    >>> same = np.tril(np.ones((3, 3))) / np.arange(1, 4)[:, None]  # [q_pos, k_pos]
    >>> attention = np.stack([np.stack([same, np.eye(3), same])])  # [1 layer, 3 heads, 3, 3]
    >>> similarity = head_similarity(attention)
    >>> similarity.distance.round(2)
    array([[0.  , 0.41, 0.  ],
           [0.41, 0.  , 0.41],
           [0.  , 0.41, 0.  ]])
    >>> similarity.order.tolist(), similarity.labels
    ([0, 2, 1], ['L0H0', 'L0H1', 'L0H2'])
    """
    attention = _check_weights("attention", attention, "[layer, head, q_pos, k_pos]")
    n_layers, n_heads = attention.shape[:2]
    heads = _row_distributions(attention.reshape(n_layers * n_heads, *attention.shape[2:]))
    distance = np.zeros((len(heads), len(heads)))
    for i, head in enumerate(heads):  # one head against all: [n, q, k], not [n, n, q, k]
        distance[i] = _js_distance(head[None], heads).mean(axis=-1)
    distance = 0.5 * (distance + distance.T)  # exact symmetry despite rounding
    np.fill_diagonal(distance, 0.0)
    labels = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
    return HeadSimilarity(distance, _average_linkage_order(distance), labels)


def attention_rollout(attention: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) of ``attention`` [layer, head, q, k] -> [q, k].

    Per layer: the mean over heads plus the identity (the residual stream carries each token
    along), rows renormalised to sum to 1; then the layers multiplied from the first up,
    ``R = A_(L-1) @ ... @ A_1 @ A_0``. Row i says how much each input token flows into position
    i through all layers.

    >>> rollout = attention_rollout(np.full((2, 1, 2, 2), 0.5))  # 2 layers, uniform
    >>> rollout.round(3)  # each layer: [[.75, .25], [.25, .75]]
    array([[0.625, 0.375],
           [0.375, 0.625]])
    """
    if isinstance(attention, np.ndarray) and attention.ndim != 4:
        raise ValueError(
            f"attention must have shape [layer, head, q_pos, k_pos]; got {attention.shape}"
        )
    layers = [
        _check_weights(f"attention layer {i}", layer, "[head, q_pos, k_pos]")
        for i, layer in enumerate(attention)
    ]
    if not layers:
        raise ValueError("attention_rollout needs at least one layer; got none")
    size = layers[0].shape[-1]
    rollout = np.eye(size)
    for i, layer in enumerate(layers):
        if layer.shape[-2:] != (size, size):
            raise ValueError(
                f"attention layer {i} has shape {layer.shape}; expected [head, {size}, {size}] "
                "(square, every layer the same size)"
            )
        mixed = layer.mean(axis=0) + np.eye(size)  # (q, k): heads averaged, plus the residual
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout  # (q, k) @ (k, k): this layer on top of those below
    return rollout
