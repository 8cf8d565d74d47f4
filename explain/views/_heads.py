"""The heads view model: which heads matter, which repeat each other, what each one does and
when it appeared. No torch.

Two sources meet here. What the attention shows comes from the trace's recorded probe
attention (:func:`explain.analysis.head_scores`, :func:`~explain.analysis.emergence`,
:func:`~explain.analysis.head_similarity`), so it works on every trace. What a head is worth
needs the model to run: :func:`explain.lab.record` measures it once (gradient importance, each
head ablated alone, the pruning curve) and writes it into ``trace.meta["lab"]``:

    {"part": "self", "baseline": {"loss": 0.01, "accuracy": 1.0},
     "importance": [[...], ...],                       # [layer][head], gradient (Michel 2019)
     "ablation": {"loss": [[...]], "accuracy": [[...]]},  # each head alone switched off
     "prune": {"fractions": [...], "loss": [...], "accuracy": [...], "order": [[l, h], ...]},
     "spearman": 0.8}                                    # gradient vs ablation ranking

Without that record the importance fields are NaN and the circuit text says what it can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import analysis
from .._scores import emergence_from
from ..names import attention_parts
from ..style import WEIGHT
from ..trace import Trace
from . import _attention
from ._common import ViewModel, consistent, holds, memo, task_name, titled, trained

ROLE_THRESHOLD = 0.5  # a head is named after a pattern once its score reaches this
ROLE_BADGES = {  # short names for a cell of a grid
    "previous_token": "prev",
    "self": "self",
    "first_token": "first",
    "mirror": "mirror",
    "induction": "induct",
}
ROLE_NAMES = {
    "previous_token": "previous-token head",
    "self": "self (diagonal) head",
    "first_token": "first-token head",
    "mirror": "mirror head",
    "induction": "induction head",
}


def roles_at(
    scores: dict[str, np.ndarray], patterns: tuple[str, ...], index: int
) -> tuple[list[list[str]], np.ndarray]:
    """The role of every head at frame ``index``: ``[layer][head]`` the pattern it shows most
    if that score reaches ``ROLE_THRESHOLD`` (else ""), and ``[layer, head]`` that best score.
    The one rule for badges, role names and the circuit text."""
    at = np.stack([scores[p][index] for p in patterns])  # [pattern, layer, head]
    best = np.nan_to_num(at, nan=-1.0).argmax(axis=0)  # [layer, head]
    values = np.take_along_axis(np.nan_to_num(at, nan=0.0), best[None], 0)[0]
    names = [
        [patterns[b] if v >= ROLE_THRESHOLD else "" for b, v in zip(row, vals, strict=True)]
        for row, vals in zip(best, values, strict=True)
    ]
    return names, values


def badges_at(scores: dict[str, np.ndarray], patterns: tuple[str, ...], index: int) -> list:
    """``[layer][head]`` short labels such as "mirror 0.97" (see :func:`roles_at`), "" if none."""
    names, values = roles_at(scores, patterns, index)
    return [
        [f"{ROLE_BADGES.get(n, n)} {v:.2f}" if n else "" for n, v in zip(row, vals, strict=True)]
        for row, vals in zip(names, values, strict=True)
    ]


@dataclass(frozen=True)
class HeadsData(ViewModel):
    """Every head of one part: importance, what it does (pattern scores) and when it appeared,
    how alike the heads are, and what removing them costs."""

    what: ClassVar[str] = "heads"
    FIELDS: ClassVar = tuple(
        "part task title colorscale labels patterns steps scores emergence roles "
        "role_scores importance baseline_loss baseline_accuracy ablated_loss "
        "ablated_accuracy similarity order prune_fractions prune_loss prune_accuracy "
        "prune_order spearman circuits".split()
    )
    FRAMED: ClassVar = ("steps", "scores")

    part: str  # the attention part scored ("self", or "decoder" for encoder-decoder)
    layers: int
    heads: int
    labels: list[str]  # "L{layer}H{head}", layer-major
    patterns: tuple[str, ...]  # the pattern names scored
    steps: np.ndarray  # [snapshot]
    scores: dict[str, np.ndarray]  # pattern -> [snapshot, layer, head] in [0, 1]
    emergence: dict[str, np.ndarray]  # pattern -> [layer, head] first step it stays >= 0.5; -1
    roles: list[list[str]]  # [layer][head]: the best pattern at the end if >= 0.5, else ""
    role_scores: np.ndarray  # [layer, head] that pattern's final score (best score if none)
    importance: np.ndarray  # [layer, head] gradient importance (NaN without a lab record)
    baseline_loss: float
    baseline_accuracy: float
    ablated_loss: np.ndarray  # [layer, head] loss with that head alone off
    ablated_accuracy: np.ndarray  # [layer, head]
    similarity: np.ndarray  # [head, head] Jensen-Shannon distance of the final patterns
    order: np.ndarray  # [head] a clustering order: alike heads next to each other
    prune_fractions: np.ndarray  # [n + 1] share of heads removed
    prune_loss: np.ndarray  # [n + 1]
    prune_accuracy: np.ndarray  # [n + 1]
    prune_order: list[str]  # labels of the heads in the order they were removed
    spearman: float  # rank agreement of gradient and ablation importance (NaN without record)
    circuits: list[str]  # one sentence per named head
    task: str
    title: str
    colorscale: str = WEIGHT  # importance and pattern scores, both >= 0
    # False for a model trained elsewhere (a HuggingFace model, explain.lab.record_hf): its one
    # snapshot is no training step (views.trained)
    trained: bool = True

    def head_label(self, layer: int, head: int) -> str:
        return self.labels[layer * self.heads + head]

    def heading(self, step: int) -> str:
        """The grid's title at ``step``. Importance and JS distance are measured once, on the
        model as trained (the last snapshot), and the badges move with the step: before the
        end, the title says so (at step 0 the grid showed the trained importance unexplained).
        A model trained elsewhere (:attr:`trained` False) has no step to name.
        """
        if not self.trained:
            return self.title
        last = int(self.steps[-1])
        if step == last:
            return f"{self.title} · step {step}"
        measured = "importance, " if np.isfinite(self.importance).all() else ""
        return f"{self.title} · step {step} ({measured}JS distance: step {last})"


@dataclass(frozen=True)
class ScoresData(ViewModel):
    """How clearly each head shows each pattern, over training, and when it first did."""

    what: ClassVar[str] = "scores"
    FIELDS: ClassVar = tuple(
        "part task title colorscale labels patterns threshold steps scores emergence".split()
    )
    FRAMED: ClassVar = ("steps", "scores")

    part: str
    layers: int
    heads: int
    labels: list[str]  # "L{layer}H{head}", layer-major
    patterns: tuple[str, ...]
    threshold: float  # a pattern has appeared once a score stays at or above this
    steps: np.ndarray  # [snapshot]
    scores: dict[str, np.ndarray]  # pattern -> [snapshot, layer, head] in [0, 1]
    emergence: dict[str, np.ndarray]  # pattern -> [layer, head] step it appeared, -1 if never
    task: str
    title: str
    colorscale: str | None = None


def scored_part(trace: Trace, part: str | None = None) -> str:
    """The attention the heads views score: ``part``, else self-attention (a decoder's, or an
    encoder-decoder's decoder: the heads that write the output)."""
    if part is not None:
        return part
    parts = attention_parts(trace.attention_names())
    if not parts:
        raise ValueError(
            "this trace has no attention patterns to score (tensors named "
            f"'[encoder.|decoder.]blocks.N.attn.hook_pattern'); it holds: {holds(trace)}"
        )
    return analysis.scored_part(list(parts))


@consistent
def scores(trace: Trace, part: str | None = None) -> ScoresData:
    """Every head's pattern scores at every snapshot (:func:`explain.analysis.head_scores`)."""
    part = scored_part(trace, part)
    found = analysis.head_scores(trace, part=part)  # once: emergence reads these too
    steps = trace.snapshot_steps
    first = next(iter(found.values()))
    _, n_layers, n_heads = first.shape
    task = task_name(trace)
    return ScoresData(
        part=part,
        layers=n_layers,
        heads=n_heads,
        labels=[f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)],
        patterns=tuple(found),
        threshold=ROLE_THRESHOLD,
        steps=steps,
        scores=found,
        emergence=emergence_from(found, steps, threshold=ROLE_THRESHOLD),
        task=task,
        title=titled("what each head does", task),
    )


def roles_of(view: _attention.AttentionData) -> ScoresData | None:
    """The pattern scores of the attention ``view``'s part (:func:`scores`: what each head
    does), computed once per view model, on first use; None for cross-attention or where they
    do not apply."""

    def find() -> ScoresData | None:
        if view.source is None or view.part == "cross":
            return None
        try:
            return scores(view.source, view.part)
        except ValueError:
            return None

    return memo(view, "roles", find)


def _lab(trace: Trace) -> dict:
    lab = trace.meta.get("lab")
    return lab if isinstance(lab, dict) else {}


def _grid(value: object, shape: tuple[int, int]) -> np.ndarray:
    """A [layer][head] list from the lab record as floats; NaN where absent or misshapen."""
    try:
        array = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return np.full(shape, np.nan)
    return array if array.shape == shape else np.full(shape, np.nan)


def _vector(value: object) -> np.ndarray:
    try:
        array = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return np.zeros(0)
    return array if array.ndim == 1 else np.zeros(0)


def _circuits(data: dict, task: str) -> list[str]:
    """One sentence per head with a role: what it does, how clearly, since when, and what
    switching it off costs (when the lab measured it)."""
    lines = []
    baseline = data["baseline_accuracy"]
    ranked = sorted(
        (
            (-float(data["role_scores"][layer, head]), layer, head)
            for layer in range(data["layers"])
            for head in range(data["heads"])
            if data["roles"][layer][head]
        ),
    )
    for _, layer, head in ranked:
        role = data["roles"][layer][head]
        score = data["role_scores"][layer, head]
        name = ROLE_NAMES.get(role, role) + (f" ({task})" if role == "mirror" and task else "")
        sentence = f"layer {layer} head {head}: {name}, score {score:.2f}"
        step = int(data["emergence"][role][layer, head])
        if step >= 0 and data["snapshots"] > 1:  # one snapshot (a HuggingFace model): no history
            sentence += f", appeared at step {step}"
        after = data["ablated_accuracy"][layer, head]
        if np.isfinite(after) and np.isfinite(baseline):
            sentence += f"; switched off, accuracy {baseline:.2f} -> {after:.2f}"
        lines.append(sentence)
    return lines


@consistent
def heads(trace: Trace, part: str | None = None) -> HeadsData:
    """The heads view model of ``trace`` (see the module docstring for what the lab adds)."""
    scored = scores(trace, part)
    patterns, emergence = scored.patterns, scored.emergence
    n_layers, n_heads = scored.layers, scored.heads
    shape = (n_layers, n_heads)
    roles, role_scores = roles_at(scored.scores, patterns, -1)
    attention = _attention.attention(trace, scored.part)
    similarity = analysis.head_similarity(attention.at(len(attention.steps) - 1))
    lab = _lab(trace)
    ablation = lab.get("ablation") if isinstance(lab.get("ablation"), dict) else {}
    baseline = lab.get("baseline") if isinstance(lab.get("baseline"), dict) else {}
    prune = lab.get("prune") if isinstance(lab.get("prune"), dict) else {}
    order = prune.get("order") if isinstance(prune.get("order"), list) else []
    labels = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
    task = task_name(trace)
    fields = {
        "layers": n_layers,
        "heads": n_heads,
        "roles": roles,
        "role_scores": role_scores,
        "emergence": emergence,
        "baseline_accuracy": float(baseline.get("accuracy", np.nan)),
        "ablated_accuracy": _grid(ablation.get("accuracy"), shape),
    }
    return HeadsData(
        part=scored.part,
        labels=labels,
        patterns=patterns,
        steps=scored.steps,
        scores=scored.scores,
        importance=_grid(lab.get("importance"), shape),
        baseline_loss=float(baseline.get("loss", np.nan)),
        ablated_loss=_grid(ablation.get("loss"), shape),
        similarity=similarity.distance,
        order=np.asarray(similarity.order, np.int64),
        prune_fractions=_vector(prune.get("fractions")),
        prune_loss=_vector(prune.get("loss")),
        prune_accuracy=_vector(prune.get("accuracy")),
        prune_order=[f"L{int(pair[0])}H{int(pair[1])}" for pair in order if len(pair) == 2],
        spearman=float(lab.get("spearman", np.nan)),
        circuits=_circuits({**fields, "snapshots": len(scored.steps)}, task),
        trained=trained(trace),
        task=task,
        title=titled("which heads matter", task),
        **fields,
    )


@dataclass(frozen=True)
class PruningData(ViewModel):
    """What removing parts of the model costs: heads, least important first, and weights, the
    smallest first (both measured by :func:`explain.lab.record`)."""

    what: ClassVar[str] = "pruning"
    FIELDS: ClassVar = tuple(
        "task title colorscale baseline_loss baseline_accuracy fractions loss accuracy "
        "order levels weight_loss weight_accuracy".split()
    )
    FRAMED: ClassVar = ()

    steps: np.ndarray  # [1]: the step the model was measured at (the last snapshot)
    baseline_loss: float
    baseline_accuracy: float
    fractions: np.ndarray  # [n + 1] share of heads removed
    loss: np.ndarray  # [n + 1]
    accuracy: np.ndarray  # [n + 1]
    order: list[str]  # heads in the order they were removed
    levels: np.ndarray  # share of block weights set to zero (magnitude pruning); may be empty
    weight_loss: np.ndarray
    weight_accuracy: np.ndarray
    task: str
    title: str
    colorscale: str | None = None


@consistent
def pruning(trace: Trace) -> PruningData:
    """The pruning curves of a trace's lab record (ValueError without one)."""
    lab = _lab(trace)
    prune = lab.get("prune")
    if not isinstance(prune, dict):
        raise ValueError(
            "this trace has no pruning curve: measure the model with explain.lab.record(run) "
            "(explain demo and explain train do) and save the trace again"
        )
    baseline = lab.get("baseline") if isinstance(lab.get("baseline"), dict) else {}
    weights = lab.get("sparsity") if isinstance(lab.get("sparsity"), dict) else {}
    order = prune.get("order") if isinstance(prune.get("order"), list) else []
    task = task_name(trace)
    steps = trace.snapshot_steps
    return PruningData(
        steps=steps[-1:] if len(steps) else np.zeros(1, np.int64),
        baseline_loss=float(baseline.get("loss", np.nan)),
        baseline_accuracy=float(baseline.get("accuracy", np.nan)),
        fractions=_vector(prune.get("fractions")),
        loss=_vector(prune.get("loss")),
        accuracy=_vector(prune.get("accuracy")),
        order=[f"L{int(pair[0])}H{int(pair[1])}" for pair in order if len(pair) == 2],
        levels=_vector(weights.get("levels")),
        weight_loss=_vector(weights.get("loss")),
        weight_accuracy=_vector(weights.get("accuracy")),
        task=task,
        title=titled("what pruning costs", task),
    )
