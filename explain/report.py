"""One self-contained, offline HTML page that shows a whole training run from its trace.

Sections: the run (task, model, training, probe), final predictions on the probe, attention
over training for every layer and head, token embeddings moving, positional encodings, loss and
learning-rate curves, the probe's loss per token over training, optimizer steps. One timeline
at the top (a slider and a play button) moves every figure to one step at once. plotly.js's
cartesian bundle (explain/_vendor) is inlined once and nothing is fetched, so the file opens
from disk with no network. Reads traces only: no torch.

    >>> import explain  # doctest: +SKIP
    >>> save_report(explain.load_trace("trace.npz"), "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import importlib.resources
import json
import logging
import os
from pathlib import Path

import numpy as np

from . import views
from ._render import page, plotly
from .export import atomic_path
from .names import PART_TITLES, attention_parts
from .style import Theme, visible
from .style import theme as as_theme
from .trace import Trace

__all__ = ["build_report", "save_report"]

log = logging.getLogger(__name__)

# Timeline positions. Measured on the demo run (2 layers x 4 heads, 128 snapshots): 60 make a
# 3.14 MB page, 50 make 2.91 MB (1.5 MB of it plotly.js); most of the rest is per-frame arrays.
MAX_FRAMES = 50

HINTS = {
    "reverse": "Answer positions (after '>') learn to look at the mirrored input digit: "
    "watch an anti-diagonal appear.",
    "copy": "Answer positions learn to look at the input digit a fixed distance back: "
    "watch a diagonal stripe appear.",
    "sort": "Each answer position looks for the next-smallest digit among the inputs.",
    "induction": "Induction heads: after a repeated token, attention jumps to the token that "
    "followed its earlier occurrence (one layer finds the previous token, the next copies).",
    "text": "Character-level text: many heads attend to the previous character or to the "
    "start of the current word.",
    "translate": "Cross-attention aligns each French word with the English word it translates; "
    "colour words attend to the noun they follow.",
}

CSS = """
header.run { border-bottom: 1px solid #ddd; padding-bottom: 10px; }
table.facts { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
table.facts td { padding: 2px 14px 2px 0; vertical-align: top; }
table.facts td:first-child { color: #666; }
.tokens span { display: inline-block; font-family: ui-monospace, Menlo, Consolas, monospace;
  border: 1px solid #ccc; border-radius: 4px; padding: 1px 6px; margin: 2px; background: #fafafa; }
.tokens span.answer { background: #e8f1fb; border-color: #8fb5de; }
table.predictions { border-collapse: collapse; font-size: 13px; }
table.predictions th, table.predictions td { border-bottom: 1px solid #eee; padding: 3px 10px;
  text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; }
table.predictions tr.context td { color: #999; }
td.ok { color: #1a7f37; } td.bad { color: #c62828; font-weight: 600; }
#timeline { position: sticky; top: 0; z-index: 10; background: #fff; padding: 8px 0;
  border-bottom: 1px solid #ddd; display: flex; gap: 12px; align-items: center; }
#timeline input[type=range] { flex: 1; }
#timeline button { font-size: 14px; min-width: 3em; }
#timeline output { font-variant-numeric: tabular-nums; min-width: 7em; }
nav a { margin-right: 12px; font-size: 14px; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
"""

# The page's one timeline (a slider and a play button over the snapshot steps): every figure with
# step frames follows it. Its script says how it plays fast enough (>= 20 steps a second); it
# paints heatmaps with the painter the notebook widget uses too (js/heatmap.js, which every
# page inlines in its head: `explain._render.page.page`).
TIMELINE_JS = ("_render/js/report_timeline.js",)


def _timeline_js() -> str:
    """The timeline's script: the shared heatmap painter, then the timeline (both shipped beside
    this module; plain text joined, no bundler)."""
    root = importlib.resources.files("explain")
    return "\n".join((root / name).read_text(encoding="utf-8") for name in TIMELINE_JS)


def _timeline(steps: list[int], ids: list[str]) -> str:
    """The timeline's markup and data: a play button and a slider over ``steps`` (starting at
    the last), driving the figures ``ids``; its script (`_timeline_js`) goes after them."""
    data_json = json.dumps({"steps": steps, "figures": ids}).replace("<", "\\u003c")
    return (
        '<div id="timeline"><button id="timeline-play" type="button" '
        'title="play all figures">▶</button>'
        f'<input id="timeline-step" type="range" min="0" max="{len(steps) - 1}" '
        f'value="{len(steps) - 1}" aria-label="training step for every figure">'
        '<output id="timeline-label"></output></div>'
        f'<script type="application/json" id="timeline-data">{data_json}</script>'
    )


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _facts(trace: Trace) -> str:
    meta = trace.meta
    model = meta.get("model_config") if isinstance(meta.get("model_config"), dict) else {}
    train = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    rows = []
    if model.get("hf_model_type"):  # a HuggingFace model's trace (explain.lab.record_hf)
        rows.extend(_hf_facts(meta, model))
    elif model:
        rows.append(
            (
                "model",
                f"{model.get('kind', 'decoder')}, {model.get('n_layers')} layers × "
                f"{model.get('n_heads')} heads, d_model {model.get('d_model')}, "
                f"d_mlp {model.get('d_mlp')}, {model.get('positional')} positions",
            )
        )
    if train:
        rows.append(
            (
                "training",
                f"{train.get('steps')} steps of {train.get('optimizer')}, "
                f"lr {train.get('lr')}, batch {train.get('batch_size')}, "
                f"seed {train.get('seed')}",
            )
        )
    scalars = trace.scalars
    for name, text in (
        ("loss", "final training loss"),
        ("val_loss", "final validation loss"),
        ("val_accuracy", "final validation accuracy"),
    ):
        if name in scalars:
            steps, values = trace.scalar(name)
            if len(values):
                rows.append((text, f"{values[-1]:.4g} (step {steps[-1]})"))
    if not views.trained(trace):  # a model trained elsewhere: no training here to describe
        return _facts_table(rows)
    if "status" in meta:
        rows.append(("status", meta["status"]))
    stopped = _stopped(meta.get("stopped"))
    if stopped:
        rows.append(("stopped early", stopped))
    snapshots = trace.snapshot_steps
    rows.append(
        (
            "recorded",
            f"{len(trace.steps)} steps, {len(snapshots)} snapshots "
            f"({views.describe_steps(snapshots, limit=4)})",
        )
    )
    return _facts_table(rows)


def _facts_table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{cells}</table>'


def _hf_name(trace: Trace) -> str:
    """The HuggingFace model a trace was made from (its name or directory), else ""."""
    model = trace.meta.get("model_config")
    return str(model.get("hf_name_or_path") or "") if isinstance(model, dict) else ""


def _hf_facts(meta: dict, model: dict) -> list[tuple[str, str]]:
    """The model and what the lab measured it on, for a HuggingFace model's trace."""
    name = model.get("hf_architecture") or model.get("hf_model_type")
    rows = [
        (
            "model",
            f"{name} ({model.get('kind', 'decoder')}), {model.get('n_layers')} layers × "
            f"{model.get('n_heads')} heads",
        )
    ]
    lab = meta.get("lab") if isinstance(meta.get("lab"), dict) else {}
    baseline = lab.get("baseline") if isinstance(lab.get("baseline"), dict) else {}
    task = meta.get("task") if isinstance(meta.get("task"), dict) else {}
    if baseline and ("texts" in lab or task.get("name")):
        loss, accuracy = (
            value if isinstance(value, int | float) else float("nan")  # JSON null: NaN
            for value in (baseline.get("loss"), baseline.get("accuracy"))
        )
        what = (  # texts, or the held-out batches of the task the model was exported from
            f"{lab['texts']} texts (explain.lab.record_hf)"
            if "texts" in lab
            else f"task {task['name']}'s held-out batches (explain.lab.record_hf)"
        )
        shown = "the first" if "texts" in lab else "its probe"
        rows.append(("measured on", f"{what}: loss {loss:.4g}, accuracy {accuracy:.3g}; "
                     f"attention and lens: {shown}"))  # fmt: skip
    return rows


def _stopped(stopped: object) -> str:
    """ "stopped at step N: reason" for an early stop's ``meta["stopped"]``, else ""."""
    step = stopped.get("step") if isinstance(stopped, dict) else None
    if isinstance(step, bool) or not isinstance(step, int | np.integer):
        return ""
    reason = str(stopped.get("reason", "")).strip()
    return f"stopped at step {int(step)}" + (f": {reason}" if reason else "")


def _token_chips(tokens: list[str], answer: list[bool] | None = None) -> str:
    answer = answer if answer is not None and len(answer) == len(tokens) else [False] * len(tokens)
    return (
        '<div class="tokens">'
        + "".join(
            f"<span{' class=answer' if a else ''}>{_esc(visible(t))}</span>"
            for t, a in zip(tokens, answer, strict=True)
        )
        + "</div>"
    )


def _probe(trace: Trace) -> str:
    probe = trace.meta.get("probe")
    if not isinstance(probe, dict) or not isinstance(probe.get("tokens"), list):
        return ""
    parts = []
    if isinstance(probe.get("source_tokens"), list):
        parts.append(
            f"<p class=note>source (encoder input):</p>"
            f"{_token_chips([str(t) for t in probe['source_tokens']])}"
        )
    mask = probe.get("mask") if isinstance(probe.get("mask"), list) else None
    what = (
        "probe sequence (decoder input; the model's answer is highlighted)"
        if views.trained(trace)
        else "the input the views below show"
    )
    parts.append(
        f"<p class=note>{what}:</p>{_token_chips([str(t) for t in probe['tokens']], mask)}"
    )
    return "\n".join(parts)


def _predictions(trace: Trace) -> str:
    """Table of the final snapshot's prediction at each probe position."""
    probe = trace.meta.get("probe")
    vocab = trace.meta.get("vocab")
    if "hook_logits" not in trace.tensors or not isinstance(probe, dict) or not vocab:
        return "<p class=note>This trace has no probe logits, so no predictions to show.</p>"
    logits = np.asarray(trace.tensors["hook_logits"][-1], np.float64)  # [pos, vocab]
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    tokens = [str(t) for t in probe.get("tokens", [])]
    targets = [str(t) for t in probe.get("target_tokens", [])]
    mask = probe.get("mask") or [True] * len(tokens)
    if not (len(tokens) == len(targets) == len(mask) == len(probs)):
        return "<p class=note>The probe's tokens and logits disagree in length; skipped.</p>"
    rows, right, answered = [], 0, 0
    for pos, (token, target, scored) in enumerate(zip(tokens, targets, mask, strict=True)):
        guess = int(probs[pos].argmax())
        predicted = str(vocab[guess]) if guess < len(vocab) else str(guess)
        ok = predicted == target
        if scored:
            answered += 1
            right += ok
        mark = ("✓", "ok") if ok else ("✗", "bad")
        mark_cell = f'<td class="{mark[1]}">{mark[0]}</td>' if scored else "<td></td>"
        rows.append(
            f'<tr class="{"answer" if scored else "context"}"><td>{pos}</td>'
            f"<td>{_esc(visible(token))}</td><td>{_esc(visible(target))}</td>"
            f"<td>{_esc(visible(predicted))}</td><td>{probs[pos, guess]:.2f}</td>"
            f"{mark_cell}</tr>"
        )
    step = int(trace.snapshot_steps[-1])
    summary = (
        f"<p class=note>At step {step} the model gets {right} of {answered} answer "
        "positions right (grey rows are context the model is not scored on).</p>"
    )
    head = (
        "<tr><th>pos</th><th>input</th><th>expected next</th><th>predicted</th>"
        "<th>p</th><th></th></tr>"
    )
    return f'{summary}<table class="predictions">{head}{"".join(rows)}</table>'


def _compression(trace: Trace) -> str:
    """The compression table of ``meta["compression"]`` (``explain distill --compare``), or ""."""
    table = trace.meta.get("compression")
    rows = table.get("rows") if isinstance(table, dict) else None
    if not isinstance(rows, list) or not rows:
        return ""

    def number(value: object, spec: str) -> str:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return format(value, spec) if ok else _esc(value)

    head = "".join(
        f"<th>{name}</th>" for name in ("model", "trained", "parameters", "step ms", "val accuracy")
    )
    body = "".join(
        f"<tr><td>{_esc(row.get('model', ''))}</td><td>{_esc(row.get('trained', ''))}</td>"
        f"<td>{number(row.get('parameters'), ',')}</td>"
        f"<td>{number(row.get('step_ms'), '.2f')}</td>"
        f"<td>{number(row.get('val_accuracy'), '.3f')}</td></tr>"
        for row in rows
        if isinstance(row, dict)
    )
    note = (
        f"The teacher, this student, and the same student trained on the task alone for "
        f"{_esc(table.get('steps', '?'))} steps with the same seed (distilled at "
        f"T={_esc(table.get('temperature', '?'))}, alpha={_esc(table.get('alpha', '?'))}). "
        "Step ms: median time of one forward pass over a batch."
    )
    return (
        f'<section id="compression"><h2>Compression</h2><p class="note">{note}</p>'
        f'<table class="predictions">{head}{body}</table></section>'
    )


def _figure_section(
    anchor: str,
    title: str,
    note: str,
    view: views.ViewData,
    steps: np.ndarray,
    frames: np.ndarray,
    ids: list[str],
    theme: Theme,
) -> str:
    # the timeline's frames are snapshot steps; a view over other steps (loss: every logged
    # step) follows it where it has every one of them, else it stays at its last step
    snapshots = [int(s) for s in np.asarray(steps)[frames]]
    mine = [int(i) for i in np.flatnonzero(np.isin(view.steps, snapshots))]
    if len(mine) != len(snapshots):
        mine = []
    shown = plotly.page_figures(view, mine, len(view.steps) - 1, theme)
    divs = []
    for number, figure in enumerate(shown):
        div_id = f"figure-{anchor}" + (f"-{number}" if number else "")
        # the lens's and the attribution's frames are positions, the neurons' layers: not steps
        if figure.get("frames") and not isinstance(
            view, views.LensData | views.AttributionData | views.NeuronData
        ):
            ids.append(div_id)
            # the page's timeline drives this figure: no slider or play button of its own
            figure["layout"] = {
                key: value
                for key, value in figure["layout"].items()
                if key not in ("sliders", "updatemenus")
            }
        divs.append(f'<div class="figure">{page.div(figure, div_id)}</div>')
    return (
        f'<section id="{anchor}"><h2>{_esc(title)}</h2><p class="note">{note}</p>'
        f"<div class=\"figures\">{''.join(divs)}</div></section>"
    )


def _heads_note(trace: Trace) -> str:
    """What the heads section shows, and the sentence naming each head that shows a pattern."""
    note = (
        "Four figures: how much each head matters (the gradient of the loss with respect to a "
        "gate on the head's output, Michel et al. 2019) and the pattern it shows at the chosen "
        "step; accuracy as heads are removed, least important first; how different the heads' "
        "final patterns are, alike heads next to each other; every head's score for the "
        "clearest pattern over training, a dot where it appeared."
        if views.trained(trace)
        else "Three figures: how much each head matters (the gradient of the loss with respect "
        "to a gate on the head's output, Michel et al. 2019) and the pattern it shows; accuracy "
        "as heads are removed, least important first; how different the heads' patterns are, "
        "alike heads next to each other."
    )
    try:
        lines = views.heads(trace).circuits
    except ValueError:
        return note
    if not isinstance(trace.meta.get("lab"), dict):
        note += " This trace has no lab record (explain.lab.record), so no importance."
    items = "".join(f"<li>{_esc(line)}</li>" for line in lines)
    return note + (f"<ul class=circuits>{items}</ul>" if items else "")


def build_report(trace: Trace, max_frames: int = MAX_FRAMES, theme: Theme | str = "light") -> str:
    """The report page as a string (a few MB: plotly.js is inlined), in ``theme``."""
    theme = as_theme(theme)
    if not isinstance(trace, Trace):
        raise ValueError(f"trace must be an explain.Trace; got {type(trace).__name__}")
    steps = trace.snapshot_steps
    frames = views.frame_indices(len(steps), max_frames) if len(steps) else np.zeros(0, int)
    task = trace.meta.get("task") if isinstance(trace.meta.get("task"), dict) else {}
    name = str(task.get("name", "")) or _hf_name(trace) or "trace"
    ids: list[str] = []
    sections: list[tuple[str, str, str]] = []  # anchor, heading, html

    def add(anchor: str, title: str, note: str, make_view) -> None:
        try:
            view = make_view()
        except ValueError as error:  # this trace lacks that view: say so, keep the rest
            log.info("report: no %s section: %s", anchor, error)
            return
        short = title.removeprefix("Attention: ").split(" (")[0]
        sections.append(
            (anchor, short, _figure_section(anchor, title, note, view, steps, frames, ids, theme))
        )

    if len(steps):
        parts = attention_parts(trace.attention_names())
        for part in sorted(parts, key=("self", "cross", "encoder", "decoder").index):
            note = (
                "One head's pattern (layer 0, head 0): row = the position looking (query), "
                "column = the position looked at (key); each row sums to 1. Beside it, every "
                "head of every layer in a grid, badged with what it does. "
                + (
                    "Drag the timeline at the top or press its ▶ to watch the patterns form. "
                    if len(steps) > 1
                    else ""
                )
                + _esc(HINTS.get(name, ""))
            )
            add(
                f"attention-{part}",
                f"Attention: {PART_TITLES.get(part, part)}",
                note,
                lambda part=part: views.attention(trace, part),
            )
        add(
            "heads",
            "Which heads matter",
            _heads_note(trace),
            lambda: views.heads(trace),
        )
        add(
            "lens",
            "Inside the prediction: logit lens, rollout, saliency",
            "Left: each layer's residual stream read as a prediction (the logit lens): the "
            "top token and its probability at every position, from the embedding to the output. "
            "Middle: attention rollout (Abnar and Zuidema 2020), how much each output position "
            "draws on each input through all layers. Right: which inputs the prediction at one "
            "position rests on (gradient x input; the slider picks the position).",
            lambda: views.lens(trace),
        )
        add(  # only where explain.lab.record measured it: views.attribution raises otherwise
            "attribution",
            "Follow one prediction: direct logit attribution",
            (
                "The logit of the right token at one answer position, split into what each part "
                "of the model adds to it: the token and position embeddings, every head (grouped "
                "by layer), every MLP and the biases; the grey bar is their sum, the model's "
                "logit. Beside it, the attention of the head that adds the most, the position's "
                "row outlined. The slider picks the answer position."
                if views.trained(trace)
                else "The logit of the text's next token at one position, split into what each "
                "part of the model adds to it: the token embedding (and the position embedding, "
                "where the model adds one), every head (grouped by layer), every MLP and the "
                "biases; the grey bar is their sum, the model's logit. Beside it, the attention "
                "of the head that adds the most, the position's row outlined. The slider picks "
                "the position."
            ),
            lambda: views.attribution(trace),
        )
        add(  # only where explain.lab.record measured it: views.neurons raises otherwise
            "neurons",
            "Follow one prediction: MLP neurons",
            "Every neuron of one layer's MLP in a grid, coloured by how much the held-out loss "
            "rises when that neuron is ablated (hover a cell for its numbers). For the outlined "
            "neuron, the one the model needs most: the places it fires most, each token on the "
            "colour of the neuron's activation there and the firing token outlined, and the "
            "tokens its output promotes and suppresses. The slider picks the layer.",
            lambda: views.neurons(trace),
        )
        add(  # only where explain.lab.record measured it: views.patching raises otherwise
            "patching",
            "Follow one prediction: activation and path patching",
            "The probe (clean) and its corrupted twin, the tokens that differ coloured. The model "
            "runs the corrupted input again with one activation put back from the clean run; "
            "each cell says how much of the clean answer comes back (1.0: as clean, 0.0: as "
            "corrupted). First every head, and beside it each earlier head restored only into "
            "one input (queries, keys or values) of the outlined receiver head (path patching); "
            "then the residual stream entering each block, restored at one position.",
            lambda: views.patching(trace),
        )
        add(
            "embeddings",
            "Token embeddings",
            "Every token's embedding vector, projected on the two directions that spread the "
            "embeddings most over all of training (one fixed PCA, so movement is real). Grey "
            "lines are the paths the tokens took; tokens the model must tell apart move apart.",
            lambda: views.embeddings(trace),
        )
        add(
            "positional",
            "Positional encoding",
            "The encoding table (the vector added for each position; rotary: the cos/sin "
            "table), its first dimensions as curves over position, and how similar positions "
            "are: neighbours look alike, far positions differ.",
            lambda: views.positional(trace),
        )
    add(
        "loss",
        "Loss and learning rate",
        "Training loss per step and validation loss and accuracy every few steps (top); the "
        "learning-rate schedule and the gradient norm before clipping (bottom). Zoom by "
        "dragging; double-click to reset.",
        lambda: views.loss(trace),
    )
    if len(steps):
        add(
            "token-loss",
            "Which tokens the model learns first",
            "The probe as text, each token coloured by the loss of predicting it from the tokens "
            "before it (dark: sure and right; the top of the scale: no better than a uniform "
            "guess). Grey tokens are not scored by the task. Play the timeline to watch the "
            "tokens darken; hover a token for the five the model found most likely.",
            lambda: views.token_loss(trace),
        )
        add(
            "optimizer",
            "Optimizer steps",
            "For one tracked matrix: its gradient norm and applied-update norm (top), the "
            "optimizer's running moments (middle) and the update relative to the weights "
            "(bottom) over training; on the right, the histogram of every weight's update at "
            "the chosen step.",
            lambda: views.optimizer(trace),
        )
    nav = "".join(f'<a href="#{anchor}">{_esc(short)}</a>' for anchor, short, _ in sections)
    timeline = _timeline([int(steps[i]) for i in frames], ids) if ids else ""
    description = _esc(task.get("description", "")) if task else ""
    compression = _compression(trace)
    # a model trained elsewhere (a HuggingFace model) has no probe predictions recorded
    shows_predictions = views.trained(trace) or "hook_logits" in trace.tensors
    predictions_link = '<a href="#predictions">Predictions</a>' if shows_predictions else ""
    predictions = (
        '<section id="predictions"><h2>Final predictions on the probe</h2>'
        f"{_predictions(trace)}</section>"
        if shows_predictions
        else ""
    )
    if compression:
        nav += '<a href="#compression">Compression</a>'
    body = "\n".join(
        [
            f'<header class="run"><h1>explain · {_esc(name)}</h1>'
            f'<p class="note">{description}</p>{_facts(trace)}{_probe(trace)}</header>',
            f"<nav>{nav}{predictions_link}</nav>",
            timeline,
            predictions,
            compression,
            *(section for _, _, section in sections),
            f"<script>{_timeline_js()}</script>" if ids else "",
        ]
    )
    title = f"explain report · {name}"
    return page.page(title, body, CSS + _colours(theme), bundle="cartesian")


def _colours(theme: Theme) -> str:
    """The page's colours in ``theme`` (the figures take theirs from the same theme)."""
    back, fore, line = theme.background, theme.foreground, theme.grid
    return (
        f"body {{ background: {back}; color: {fore}; }} #timeline {{ background: {back}; }}\n"
        f".tokens span {{ background: {back}; border-color: {line}; color: {fore}; }}\n"
        f".tokens span.answer {{ background: {line}; border-color: {theme.colorway[0]}; }}\n"
        f"table.predictions th, table.predictions td {{ border-color: {line}; }}\n"
        f".figure {{ border-color: {line}; }} nav a {{ color: {theme.colorway[0]}; }}\n"
        f"body {{ font-size: {theme.font_size + 4}px; }}\n"
    )


def save_report(
    trace: Trace,
    path: str | os.PathLike = "report.html",
    max_frames: int = MAX_FRAMES,
    theme: Theme | str = "light",
) -> Path:
    """Write :func:`build_report` to ``path`` atomically; returns the path."""
    text = build_report(trace, max_frames, theme)
    path = Path(path)
    with atomic_path(path) as temp:
        temp.write_text(text, encoding="utf-8")
    log.info("wrote %s", path)
    return path
