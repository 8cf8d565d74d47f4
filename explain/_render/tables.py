"""A view model as data files: JSON (exactly its fields) and CSV rows. No torch.

JSON is :func:`explain.views.to_dict`: floats with 9 significant digits, enough to give back
every float32 exactly, missing values as ``null``. CSV has one row per value (per step for
curves), empty where a value is missing. Tokens are kept as they are (JSON and CSV escape them
by their own rules).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

import numpy as np

from explain.views import (
    AttentionData,
    ByHandData,
    EmbeddingData,
    HeadsData,
    LensData,
    LossData,
    OptimizerData,
    PositionalData,
    PruningData,
    ScoresData,
    ViewData,
    to_dict,
)

__all__ = ["csv_text", "data"]


def data(view: ViewData, indices: Sequence[int]) -> dict:
    """The view model at snapshot ``indices`` (curves are always whole) as a JSON-able dict."""
    return to_dict(view, indices)


def _cell(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.9g}"


def _rows(view: ViewData, indices: Sequence[int]) -> tuple[list[str], Iterable[list]]:
    if isinstance(view, AttentionData):
        header = ["step", "layer", "head", "query_pos", "query_token", "key_pos", "key_token"]

        def attention_rows() -> Iterable[list]:
            for i in indices:
                for (r, c, q, k), weight in np.ndenumerate(view.at(i)):
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

        return [*header, "weight"], attention_rows()
    if isinstance(view, EmbeddingData):
        return ["step", "token_id", "token", "pc1", "pc2", "pc3"], (
            [int(view.steps[i]), t, view.tokens[t], *(_cell(v) for v in point)]
            for i in indices
            for t, point in enumerate(view.coords[i].tolist())
        )
    if isinstance(view, PositionalData):
        return ["step", "position", "column", "value"], (
            [int(view.steps[i]), p, d, _cell(float(value))]
            for i in indices
            for (p, d), value in np.ndenumerate(view.table[i])
        )
    if isinstance(view, HeadsData):
        header = [
            "layer",
            "head",
            "role",
            "role_score",
            "importance",
            "loss_without",
            "accuracy_without",
        ]
        return header, (
            [
                layer,
                head,
                view.roles[layer][head],
                _cell(view.role_scores[layer, head]),
                _cell(view.importance[layer, head]),
                _cell(view.ablated_loss[layer, head]),
                _cell(view.ablated_accuracy[layer, head]),
            ]
            for layer in range(view.layers)
            for head in range(view.heads)
        )
    if isinstance(view, PruningData):
        heads = zip(view.fractions, view.loss, view.accuracy, strict=True)
        weights = zip(view.levels, view.weight_loss, view.weight_accuracy, strict=True)
        rows = [("heads", *row) for row in heads] + [("weights", *row) for row in weights]
        return ["removed", "share", "loss", "accuracy"], (
            [kind, _cell(share), _cell(loss), _cell(accuracy)]
            for kind, share, loss, accuracy in rows
        )
    if isinstance(view, ScoresData):
        return ["step", "layer", "head", "pattern", "score"], (
            [
                int(view.steps[i]),
                layer,
                head,
                pattern,
                _cell(float(view.scores[pattern][i, layer, head])),
            ]
            for i in indices
            for pattern in view.patterns
            for layer in range(view.layers)
            for head in range(view.heads)
        )
    if isinstance(view, LensData):
        # the logit lens table; the saliency and rollout matrices are in the JSON export
        header = ["layer", "position", "token", "target", "top_token", "top_prob"]
        return header, (
            [
                name,
                position,
                view.tokens[position],
                view.targets[position],
                view.top_token[layer][position],
                _cell(float(view.top_prob[layer, position])),
            ]
            for layer, name in enumerate(view.layers)
            for position in range(len(view.tokens))
        )
    if isinstance(view, LossData):
        names = list(view.curves)
        columns = {
            name: dict(zip(c.steps.tolist(), c.values.tolist(), strict=True))
            for name, c in view.curves.items()
        }
        return ["step", *names], (
            [step, *(_cell(columns[n].get(step, math.nan)) for n in names)]
            for step in view.steps.tolist()
        )
    if isinstance(view, ByHandData):
        header = ["query_pos", "query_token", "key_pos", "key_token", "score", "scaled", "weight"]
        return header, (
            [
                q,
                view.tokens[q],
                k,
                view.tokens[k],
                _cell(float(view.scores[q, k])),
                _cell(float(view.scaled[q, k])) if view.mask[q, k] else "",
                _cell(float(view.weights[q, k])),
            ]
            for q, k in np.ndindex(view.weights.shape)
        )
    if not isinstance(view, OptimizerData):
        raise ValueError(
            f"the {view.what} view has no CSV table; write it as json (every field, exactly)"
        )
    names = sorted(view.update_ratio)
    header = ["step", "grad_norm", *(f"update_ratio/{n}" for n in names)]
    return header, (
        [step, _cell(view.grad_norm[row]), *(_cell(view.update_ratio[n][row]) for n in names)]
        for row, step in enumerate(view.scalar_steps.tolist())
    )


def csv_text(view: ViewData, indices: Sequence[int]) -> str:
    """The view model's numbers as CSV text, one row per value (per step for curves)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, rows = _rows(view, [int(i) for i in indices])
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
