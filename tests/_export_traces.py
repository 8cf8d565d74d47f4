"""Traces for the export, report and CLI tests.

`synthetic_trace` builds one with `Trace.from_arrays` (no torch, milliseconds) whose probe
tokens are hostile on purpose: HTML, entities, quotes, matplotlib math and whitespace.
`real_trace` trains the real model briefly (torch; cached for the session).
"""

from __future__ import annotations

import functools

import numpy as np

from explain.trace import Trace

XSS = "<script>alert(1)</script>"
TOKENS = ["a", "b", XSS, "&<>\"'", "$x$", " ", "c"]
SOURCE = ["un", "<b>deux</b>", "trois"]
SNAPSHOT_STEPS = [0, 2, 4, 8, 16]
TRACKED = "embed.W_E.weight"


def _softmax(scores: np.ndarray, causal: bool) -> np.ndarray:
    if causal:
        q, k = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((q, k), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def _patterns(rng: np.random.Generator, heads: int, q: int, k: int, causal: bool) -> np.ndarray:
    """[snapshot, head, q, k] that sharpen over the snapshots, so frames differ."""
    base = rng.normal(size=(heads, q, k))
    sharpness = np.linspace(0.1, 4.0, len(SNAPSHOT_STEPS))[:, None, None, None]
    return _softmax(sharpness * base[None], causal).astype(np.float32)


def synthetic_trace(
    tokens: list[str] | None = None,
    encoder_decoder: bool = False,
    n_layers: int = 2,
    n_heads: int = 2,
    positional: bool = True,
    seed: int = 0,
) -> Trace:
    """A small complete trace: 2 layers x 2 heads, steps 0..16, snapshots at 0, 2, 4, 8, 16."""
    rng = np.random.default_rng(seed)
    tokens = list(TOKENS if tokens is None else tokens)
    vocab = list(dict.fromkeys([*tokens, *(SOURCE if encoder_decoder else [])]))
    n_snap, pos, d_model = len(SNAPSHOT_STEPS), len(tokens), 8
    steps = np.arange(17)
    loss = 2.0 * np.exp(-steps / 6.0) + 0.01
    loss[0] = np.nan
    evaluated = np.isin(steps, [0, 8, 16])
    scalars = {
        "loss": loss,
        "lr": np.where(steps > 0, 1e-3, np.nan),
        "grad_norm": np.where(steps > 0, 1.0 / (1 + steps), np.nan),
        "val_loss": np.where(evaluated, 2.0 * np.exp(-steps / 7.0), np.nan),
        "val_accuracy": np.where(evaluated, steps / 16.0, np.nan),
        f"update_ratio/{TRACKED}": np.where(steps > 0, 1e-3 / (1 + steps), np.nan),
        "update_ratio/blocks.0.attn.W_o.weight": np.where(steps > 0, 2e-3, np.nan),
        f"grad_norm/{TRACKED}": np.where(steps > 0, 0.5, np.nan),
    }
    tensors: dict[str, np.ndarray] = {}
    if encoder_decoder:
        src = len(SOURCE)
        for i in range(n_layers):
            tensors[f"encoder.blocks.{i}.attn.hook_pattern"] = _patterns(
                rng, n_heads, src, src, False
            )
            tensors[f"decoder.blocks.{i}.attn.hook_pattern"] = _patterns(
                rng, n_heads, pos, pos, True
            )
            tensors[f"decoder.blocks.{i}.cross.hook_pattern"] = _patterns(
                rng, n_heads, pos, src, False
            )
        for stack in ("encoder.", "decoder."):
            tensors[f"{stack}embed.W_E"] = rng.normal(size=(n_snap, len(vocab), d_model))
    else:
        for i in range(n_layers):
            tensors[f"blocks.{i}.attn.hook_pattern"] = _patterns(rng, n_heads, pos, pos, True)
        tensors["embed.W_E"] = rng.normal(size=(n_snap, len(vocab), d_model))
    tensors["hook_logits"] = rng.normal(size=(n_snap, pos, len(vocab)))
    if positional:
        tensors["positional"] = rng.normal(size=(n_snap, pos, d_model))
    tracked = ("decoder." if encoder_decoder else "") + TRACKED
    scalars = {k.replace(TRACKED, tracked): v for k, v in scalars.items()}
    for kind in ("grad", "update", "exp_avg"):
        tensors[f"{kind}/{tracked}"] = rng.normal(size=(n_snap, len(vocab), d_model)) * 1e-3
    tensors[f"exp_avg_sq/{tracked}"] = rng.random((n_snap, len(vocab), d_model)) * 1e-6
    ids = [vocab.index(t) for t in tokens]
    meta = {
        "model_config": {
            "n_layers": n_layers,
            "n_heads": n_heads,
            "d_model": d_model,
            "d_mlp": 32,
            "positional": "learned" if positional else "none",
            "kind": "encoder-decoder" if encoder_decoder else "decoder",
        },
        "train_config": {
            "steps": 16,
            "optimizer": "adamw",
            "lr": 1e-3,
            "batch_size": 4,
            "seed": seed,
        },
        "task": {"name": "synthetic", "kind": "decoder", "description": "made up <i>safe</i>"},
        "vocab": vocab,
        "probe": {
            "ids": ids,
            "tokens": tokens,
            "target_ids": ids[1:] + ids[:1],
            "target_tokens": tokens[1:] + tokens[:1],
            "mask": [i >= pos // 2 for i in range(pos)],
        },
        "tracked_parameters": [tracked],
        "status": "complete",
        "last_step": 16,
    }
    if encoder_decoder:
        meta["probe"]["source_tokens"] = list(SOURCE)
        meta["probe"]["source_ids"] = [vocab.index(t) for t in SOURCE]
    meta["lab"] = lab_record(n_layers, n_heads, "decoder" if encoder_decoder else "self")
    meta["lab"]["lens"] = lens_record(meta["probe"], vocab, n_layers, seed)
    meta["lab"]["attribution"] = attribution_record(
        meta["probe"], n_layers, n_heads, encoder_decoder, positional, seed
    )
    meta["lab"]["neurons"] = neurons_record(vocab, n_layers, seed)
    if not encoder_decoder:  # patching has no encoder-decoder record (lab.patching)
        meta["lab"]["patching"] = patching_record(meta["probe"], n_layers, n_heads, seed)
    return Trace.from_arrays(meta, steps, scalars, SNAPSHOT_STEPS, tensors)


def patching_record(probe: dict, n_layers: int, n_heads: int, seed: int = 0) -> dict:
    """Activation and path patching as explain.lab.patching.probe_patching records it, made up:
    the corrupted prompt is the probe reversed; heads the receiver cannot hear from are None."""
    rng = np.random.default_rng(seed + 3)
    tokens = list(probe["tokens"])
    corrupt, length = tokens[::-1], len(tokens)
    answers = [p for p, scored in enumerate(probe["mask"]) if scored][:3]
    path = {
        part: [
            row if layer < 1 else [None] * n_heads
            for layer, row in enumerate(rng.normal(0, 0.3, (n_layers, n_heads)).tolist())
        ]
        for part in "qkv"
    }
    return {
        "step": SNAPSHOT_STEPS[-1],
        "tokens": tokens,
        "corrupt_tokens": corrupt,
        "answer_positions": answers,
        "clean_answers": [probe["target_tokens"][p] for p in answers],
        "corrupt_answers": [corrupt[p] for p in answers],
        "metric": "logit difference",
        "clean_metric": 2.0,
        "corrupt_metric": -1.0,
        "heads": rng.normal(0.2, 0.3, (n_layers, n_heads)).tolist(),
        "head_pos": rng.normal(0, 0.2, (n_layers, n_heads, length)).tolist(),
        "resid": rng.normal(0.3, 0.4, (n_layers, length)).tolist(),
        "mlp": rng.normal(0, 0.2, (n_layers, length)).tolist(),
        "path": {"receiver": [1, 0], **path} if n_layers > 1 else None,
    }


def lens_record(probe: dict, vocab: list[str], n_layers: int, seed: int = 0) -> dict:
    """The probe's logit lens and saliency as explain.lab.record writes them, made up."""
    rng = np.random.default_rng(seed + 1)
    pos = len(probe["tokens"])
    probs = rng.random((n_layers + 1, pos, len(vocab)))  # [layer + 1, pos, vocab]
    return {
        "step": SNAPSHOT_STEPS[-1],
        "tokens": list(probe["tokens"]),
        "source": probe.get("source_tokens"),
        "targets": list(probe["target_tokens"]),
        "mask": list(probe["mask"]),
        "probs": (probs / probs.sum(-1, keepdims=True)).tolist(),
        "saliency": np.tril(rng.normal(size=(pos, pos))).tolist(),  # [pos, pos], causal
    }


def attribution_record(
    probe: dict,
    n_layers: int,
    n_heads: int,
    encoder_decoder: bool = False,
    positional: bool = True,
    seed: int = 0,
) -> dict:
    """The probe's direct logit attribution as explain.lab.record writes it, made up: the parts
    of explain.lab.attribution.part_names, each answer's values summing to its logit."""
    rng = np.random.default_rng(seed + 2)
    names = ["embed", *(["pos"] if positional else [])]
    for layer in range(n_layers):
        names += [f"L{layer}H{head}" for head in range(n_heads)]
        if encoder_decoder:
            names += [f"L{layer}X{head}" for head in range(n_heads)]
        names.append(f"L{layer}.mlp")
    names.append("bias")
    positions = [p for p, scored in enumerate(probe["mask"]) if scored]
    values = rng.normal(size=(len(positions), len(names)))  # [answer, parts]
    targets = [probe["target_tokens"][p] for p in positions]
    return {
        "step": SNAPSHOT_STEPS[-1],
        "tokens": list(probe["tokens"]),
        "source": probe.get("source_tokens"),
        "positions": positions,
        "targets": targets,
        "names": names,
        "values": values.tolist(),
        "logits": values.sum(axis=1).tolist(),
        "predicted": targets[:1] + targets[:-1],  # some right, some wrong
    }


def neurons_record(
    vocab: list[str], n_layers: int, seed: int = 0, width: int = 32, top: int = 3, k: int = 3
) -> dict:
    """Every MLP neuron as explain.lab.neurons.probe_neurons records it, made up: ``width``
    neurons a layer, ``top`` examples each (contexts of up to 4 tokens, some clipped at a
    sequence's start), the firing activation the largest of its context."""
    rng = np.random.default_rng(seed + 3)
    shape = (n_layers, width, top)
    top_act = -np.sort(-rng.random(shape) * 3.0, axis=-1)  # best first
    index = rng.integers(0, 3, size=shape)  # the firing token: 0..2 tokens in
    contexts, context_acts = [], []
    for layer in range(n_layers):
        contexts.append([]), context_acts.append([])
        for n in range(width):
            tokens, acts = [], []
            for i in range(top):
                length = index[layer, n, i] + 2  # one token after the firing one
                tokens.append([vocab[j] for j in rng.integers(0, len(vocab), size=length)])
                values = rng.random(length) * top_act[layer, n, i]
                values[index[layer, n, i]] = top_act[layer, n, i]
                acts.append(values.tolist())
            contexts[-1].append(tokens), context_acts[-1].append(acts)
    effect = rng.normal(size=(n_layers, width, len(vocab)))
    order = np.argsort(-effect, axis=-1)
    names = np.array(vocab, dtype=object)
    return {
        "step": SNAPSHOT_STEPS[-1],
        "hooks": [f"blocks.{layer}.mlp.hook_post" for layer in range(n_layers)],
        "mode": "zero",
        "loss_clean": 0.5,
        "layers": list(range(n_layers)),
        "loss_rise": (rng.normal(size=(n_layers, width)) * 0.01).tolist(),
        "activation_max": top_act[..., 0].tolist(),
        "top_seq": rng.integers(0, 16, size=shape).tolist(),
        "top_pos": (index + rng.integers(0, 4, size=shape)).tolist(),
        "top_act": top_act.tolist(),
        "context_index": index.tolist(),
        "contexts": contexts,
        "context_acts": context_acts,
        "promotes": names[order[..., :k]].tolist(),
        "promotes_values": np.take_along_axis(effect, order[..., :k], -1).tolist(),
        "suppresses": names[order[..., ::-1][..., :k]].tolist(),
        "suppresses_values": np.take_along_axis(effect, order[..., ::-1][..., :k], -1).tolist(),
    }


def lab_record(n_layers: int, n_heads: int, part: str = "self") -> dict:
    """What explain.lab.record writes, with made-up numbers (no model here)."""
    heads = n_layers * n_heads
    order = [[layer, head] for layer in range(n_layers) for head in range(n_heads)]
    importance = (np.arange(heads).reshape(n_layers, n_heads) + 1) / heads
    return {
        "part": part,
        "baseline": {"loss": 0.05, "accuracy": 1.0},
        "importance": importance.tolist(),
        "ablation": {
            "loss": (0.05 + importance).tolist(),
            "accuracy": (1.0 - importance / 2).tolist(),
        },
        "prune": {
            "fractions": np.linspace(0, 1, heads + 1).tolist(),
            "loss": np.linspace(0.05, 3.0, heads + 1).tolist(),
            "accuracy": np.linspace(1.0, 0.0, heads + 1).tolist(),
            "order": order,
        },
        "sparsity": {"levels": [0, 0.5, 0.9], "loss": [0.05, 0.1, 2.0], "accuracy": [1, 1, 0.2]},
        "spearman": 0.9,
    }


@functools.cache
def real_trace() -> Trace:
    """``reverse`` trained for 30 steps by the real trainer, measured by the lab (the heads,
    pruning and lens views read its record)."""
    import explain

    run = explain.train("reverse", train_config=explain.TrainConfig(steps=30))
    explain.lab.record(run)
    return run.trace


# -- a headless chromium that may only read files ---------------------------------------------
class OfflinePage:
    """A page that aborts every request not for file:/data:/blob: and records what it saw."""

    def __init__(self, browser, width: int = 1280, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)

    def _route(self, route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path) -> None:
        """Load ``path`` and wait until plotly has drawn its first figure."""
        self.page.goto(f"file://{path}")
        self.page.wait_for_selector(".plot-container .main-svg", timeout=30_000)

    def close(self) -> None:
        self.page.close()
