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
    AttributionData,
    ByHandData,
    EmbeddingData,
    HeadsData,
    LensData,
    LossData,
    NeuronData,
    OptimizerData,
    PatchingData,
    PositionalData,
    PruningData,
    ScoresData,
    TokenLossData,
    ViewData,
    to_dict,
    visible,
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
    if isinstance(view, TokenLossData):
        # one row per token and step; the top tokens best first, as many as were kept
        ranks = range(1, view.top_ids.shape[-1] + 1)
        tops = [f"top{rank}_{kind}" for rank in ranks for kind in ("token", "prob")]
        header = ["step", "position", "token", "target", "scored", "loss", "prob", *tops]
        return header, (
            [
                int(view.steps[i]),
                p,
                view.tokens[p],
                view.targets[p],
                int(view.mask[p]),
                _cell(float(view.loss[i, p])),
                _cell(float(view.prob[i, p])),
                *(
                    value
                    for token, prob in zip(view.top_tokens(i, p), view.top_probs[i, p], strict=True)
                    for value in (token, _cell(float(prob)))
                ),
            ]
            for i in indices
            for p in range(len(view.targets))
        )
    if isinstance(view, AttributionData):
        # one row per answer position and part; each position's values sum to its logit
        header = ["position", "token", "target", "predicted", "logit", "part", "value"]
        return header, (
            [
                position,
                view.tokens[position],
                view.targets[row],
                view.predicted[row],
                _cell(float(view.logits[row])),
                name,
                _cell(float(view.values[row, part])),
            ]
            for row, position in enumerate(view.positions.tolist())
            for part, name in enumerate(view.names)
        )
    if isinstance(view, PatchingData):
        return _patching_rows(view)
    if isinstance(view, NeuronData):
        return _neuron_rows(view)
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


def _patching_rows(view: PatchingData) -> tuple[list[str], Iterable[list]]:
    """One row per effect: each head, each head at each position, the residual stream and
    each MLP at each position, and each path into the receiver ("path_q", "path_k", "path_v");
    empty where a column does not apply (or nothing was measured)."""
    header = ["what", "receiver", "layer", "head", "position", "clean_token",
              "corrupted_token", "effect"]  # fmt: skip
    receiver = view.head_label(*view.receiver) if view.receiver else ""

    def at(position: int) -> list:
        return [position, view.tokens[position], view.corrupt_tokens[position]]

    def rows() -> Iterable[list]:
        for (layer, head), value in np.ndenumerate(view.heads):
            yield ["heads", "", layer, head, "", "", "", _cell(float(value))]
        for (layer, head, p), value in np.ndenumerate(view.head_pos):
            yield ["head_pos", "", layer, head, *at(p), _cell(float(value))]
        for where in ("resid", "mlp"):
            for (layer, p), value in np.ndenumerate(getattr(view, where)):
                yield [where, "", layer, "", *at(p), _cell(float(value))]
        for part, values in view.path.items():
            for (layer, head), value in np.ndenumerate(values):
                yield [f"path_{part}", receiver, layer, head, "", "", "", _cell(float(value))]

    return header, rows()


def _neuron_rows(view: NeuronData) -> tuple[list[str], Iterable[list]]:
    """Per neuron of every recorded layer: one row per top example ("example": the firing
    token, its activation, where it is, the tokens around it joined by spaces, each made
    visible), then one per token it promotes and suppresses ("promotes", "suppresses": the
    token and its direct effect); each row starts with the neuron's loss rise and largest
    activation."""
    header = ["layer", "neuron", "loss_rise", "activation_max", "what", "rank", "token",
              "value", "seq", "pos", "context"]  # fmt: skip

    def rows() -> Iterable[list]:
        for layer in view.layers.tolist():
            for n in range(view.width):
                start = [layer, n, _cell(view.rise(layer, n)), _cell(view.peak(layer, n))]
                for rank, e in enumerate(view.examples(layer, n), 1):
                    context = " ".join(visible(token) for token in e.tokens)
                    yield [*start, "example", rank, e.tokens[e.index], _cell(e.activation),
                           e.seq, e.pos, context]  # fmt: skip
                for what, pairs in (("promotes", view.promoted(layer, n)),
                                    ("suppresses", view.suppressed(layer, n))):  # fmt: skip
                    for rank, (token, value) in enumerate(pairs, 1):
                        yield [*start, what, rank, token, _cell(value), "", "", ""]

    return header, rows()


def csv_text(view: ViewData, indices: Sequence[int]) -> str:
    """The view model's numbers as CSV text, one row per value (per step for curves)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header, rows = _rows(view, [int(i) for i in indices])
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
