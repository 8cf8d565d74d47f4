"""The raw numbers behind each view, as JSON-able dicts and CSV rows. No torch.

Floats are written with 9 significant digits, enough to give back every float32 exactly; missing
values are ``null`` in JSON and empty in CSV. Tokens are kept as they are (JSON and CSV escape
them by their own rules).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

import numpy as np

from ._select import (
    AttentionView,
    EmbeddingView,
    LossView,
    OptimizerView,
    PositionalView,
    View,
)


def _number(value: float) -> float | None:
    return float(f"{value:.9g}") if math.isfinite(value) else None


def floats(array: np.ndarray) -> list:
    """Nested lists of floats rounded to 9 significant digits (float32-exact), NaN as None."""
    array = np.asarray(array, np.float64)
    flat = [_number(v) for v in array.ravel().tolist()]
    if array.ndim == 0:
        return flat[0]  # type: ignore[return-value]
    for size in reversed(array.shape[1:]):
        flat = [flat[i : i + size] for i in range(0, len(flat), size)]
    return flat


def _cell(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.9g}"


def _steps(view: View, indices: Sequence[int]) -> list[int]:
    return [int(view.steps[i]) for i in indices]


def data(view: View, indices: Sequence[int]) -> dict:
    """The view's numbers at snapshot ``indices`` (curves are always whole) as a JSON-able dict."""
    indices = [int(i) for i in indices]
    if isinstance(view, AttentionView):
        return {
            "what": "attention",
            "task": view.task,
            "part": view.part,
            "dims": ["step", "layer", "head", "query_pos", "key_pos"],
            "steps": _steps(view, indices),
            "layers": list(view.layers),
            "heads": list(view.heads),
            "query_tokens": view.query_tokens,
            "key_tokens": view.key_tokens,
            "attention": floats(view.patterns[indices]),
        }
    if isinstance(view, EmbeddingView):
        return {
            "what": "embeddings",
            "task": view.task,
            "part": view.part,
            "tensor": view.tensor,
            "dims": ["step", "token", "component"],
            "steps": _steps(view, indices),
            "tokens": view.tokens,
            "pca_explained_variance_ratio": floats(view.ratio),
            "pca": floats(view.coords[indices]),
            "embedding": floats(view.vectors[indices]),
        }
    if isinstance(view, PositionalView):
        return {
            "what": "positional",
            "task": view.task,
            "kind": view.kind,
            "dims": ["step", "position", "column"],
            "steps": _steps(view, indices),
            "table": floats(view.table[indices]),
            "cosine_similarity": floats(view.similarity[indices]),
        }
    if isinstance(view, LossView):
        return {
            "what": "loss",
            "task": view.task,
            "curves": {
                name: {"steps": steps.tolist(), "values": floats(values)}
                for name, (steps, values) in view.curves.items()
            },
        }
    assert isinstance(view, OptimizerView)
    return {
        "what": "optimizer",
        "task": view.task,
        "optimizer": view.optimizer,
        "steps": view.scalar_steps.tolist(),
        "grad_norm": floats(view.grad_norm),
        "update_ratio": {name: floats(v) for name, v in sorted(view.update_ratio.items())},
        "parameter": view.parameter,
        "snapshot_steps": _steps(view, indices) if view.tensors else [],
        "tensors": {kind: floats(np.asarray(v)[indices]) for kind, v in view.tensors.items()},
    }


def _rows(view: View, indices: Sequence[int]) -> tuple[list[str], Iterable[list]]:
    if isinstance(view, AttentionView):
        header = [
            "step",
            "layer",
            "head",
            "query_pos",
            "query_token",
            "key_pos",
            "key_token",
            "weight",
        ]

        def attention_rows() -> Iterable[list]:
            for i in indices:
                for (r, c, q, k), weight in np.ndenumerate(view.patterns[i]):
                    yield [
                        int(view.steps[i]),
                        view.layers[r],
                        view.heads[c],
                        q,
                        view.query_tokens[q],
                        k,
                        view.key_tokens[k],
                        _cell(float(weight)),
                    ]

        return header, attention_rows()
    if isinstance(view, EmbeddingView):
        return ["step", "token_id", "token", "pc1", "pc2"], (
            [int(view.steps[i]), t, view.tokens[t], _cell(x), _cell(y)]
            for i in indices
            for t, (x, y) in enumerate(view.coords[i].tolist())
        )
    if isinstance(view, PositionalView):
        return ["step", "position", "column", "value"], (
            [int(view.steps[i]), p, d, _cell(float(value))]
            for i in indices
            for (p, d), value in np.ndenumerate(view.table[i])
        )
    if isinstance(view, LossView):
        names = list(view.curves)
        columns = {
            name: dict(zip(s.tolist(), v.tolist(), strict=True))
            for name, (s, v) in view.curves.items()
        }
        return ["step", *names], (
            [step, *(_cell(columns[n].get(step, math.nan)) for n in names)]
            for step in view.steps.tolist()
        )
    assert isinstance(view, OptimizerView)
    names = sorted(view.update_ratio)
    header = ["step", "grad_norm", *(f"update_ratio/{n}" for n in names)]
    return header, (
        [step, _cell(view.grad_norm[row]), *(_cell(view.update_ratio[n][row]) for n in names)]
        for row, step in enumerate(view.scalar_steps.tolist())
    )


def csv_text(view: View, indices: Sequence[int]) -> str:
    """The view's numbers as CSV text, one row per value (per step for curves)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, rows = _rows(view, [int(i) for i in indices])
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
