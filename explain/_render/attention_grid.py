"""The attention view's grid of every head: each layer x head pattern block-averaged to at most
``THUMBNAIL`` x ``THUMBNAIL`` cells and tiled into one mosaic, with a badge on each head whose
pattern score says what it does. Both renderers (plotly, matplotlib) draw it from here.

    >>> downsample(np.arange(16.0).reshape(4, 4), 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from explain import views

THUMBNAIL = 32  # max rows/columns of one head in the grid (block-averaged)
_CACHE = 64  # mosaics kept per view model (keyed by frame index)


def _averaging(size: int, blocks: int) -> np.ndarray:
    """[blocks, size] matrix whose row b averages block b of an even split of ``size``."""
    edges = np.linspace(0, size, blocks + 1).round().astype(np.int64)
    matrix = np.zeros((blocks, size), np.float32)
    for block in range(blocks):
        matrix[block, edges[block] : edges[block + 1]] = 1.0 / (edges[block + 1] - edges[block])
    return matrix


def downsample(matrix: np.ndarray, max_size: int) -> np.ndarray:
    """Block-average the last two axes to at most ``max_size`` each: [..., q, k] -> [..., q', k'].

    Blocks are as even as possible (sizes differ by at most one), so no row is dropped.
    """
    out = np.asarray(matrix, dtype=np.float32)
    rows, cols = out.shape[-2:]
    lead = out.shape[:-2]
    scale = 1.0
    if rows > max_size:
        if rows % max_size == 0:  # sum blocks of whole rows: one pass over the data
            out = out.reshape(*lead, max_size, rows // max_size, cols).sum(axis=-2)
            scale /= rows // max_size
        else:
            out = _averaging(rows, max_size) @ out
    if cols > max_size:
        if cols % max_size == 0:
            out = out.reshape(*lead, out.shape[-2], max_size, cols // max_size).sum(axis=-1)
            scale /= cols // max_size
        else:
            out = out @ _averaging(cols, max_size).T
    if scale != 1.0:
        out = out * np.float32(scale)
    return np.ascontiguousarray(out, dtype=np.float32)


def cell_size(view: views.AttentionData) -> tuple[int, int]:
    """Rows and columns of one head's cell in the mosaic."""
    return min(len(view.query_tokens), THUMBNAIL), min(len(view.key_tokens), THUMBNAIL)


def mosaic(view: views.AttentionData, index: int) -> np.ndarray:
    """Every head of every layer at frame ``index``, downsampled, tiled with one NaN row and
    column between cells: [layers * (q'+1) - 1, heads * (k'+1) - 1]. Cached per view model
    (a step change draws it once; a head change reuses it)."""
    cache = views.memo(view, "mosaics", OrderedDict)
    if index in cache:
        cache.move_to_end(index)
        return cache[index]
    rows, cols = cell_size(view)
    n_layers, n_heads = len(view.layers), len(view.heads)
    tiled = np.full((n_layers * (rows + 1) - 1, n_heads * (cols + 1) - 1), np.nan, np.float32)
    for layer, patterns in enumerate(view.layer_patterns):
        cells = downsample(patterns[index], THUMBNAIL)  # [head, q', k']
        top = layer * (rows + 1)
        for head in range(n_heads):
            left = head * (cols + 1)
            tiled[top : top + rows, left : left + cols] = cells[head]
    cache[index] = tiled
    if len(cache) > _CACHE:
        cache.popitem(last=False)
    return tiled


def badges(view: views.AttentionData, index: int) -> list[tuple[int, int, str]]:
    """(row, column, badge) in the grid of each head shown that shows a pattern at frame
    ``index`` (score >= the role threshold, :func:`explain.views.roles_at`); none without
    scores."""
    scores = views.roles_of(view)
    if scores is None:
        return []
    names, _ = views.roles_at(scores.scores, scores.patterns, index)  # [layer][head]
    return [
        (row, column, views.ROLE_BADGES.get(names[layer][head], names[layer][head]))
        for row, layer in enumerate(view.layers)
        for column, head in enumerate(view.heads)
        if names[layer][head]
    ]
