"""ByHandView: self-attention worked by hand, each step with its formula and its numbers.

Dot products ``q_i · k_j``, scaling by ``√d``, the causal mask, softmax, and the weighted sum of
the values. The default example is the classic one worked on the board: three tokens whose last
query scores 4.5, 2.3 and 2.5 after scaling, which softmax turns into 0.80, 0.09 and 0.11. The
view computes every number; nothing is typed in::

    >>> steps = attention_by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V)
    >>> steps.scaled[2].round(2).tolist(), steps.weights[2].round(2).tolist()
    ([4.5, 2.3, 2.5], [0.8, 0.09, 0.11])

``ByHandView.from_model(model, tokens, layer, head)`` takes a model's real q, k and v for one
head instead (torch is imported only there) and checks the result against the model's own
``hook_pattern`` and ``hook_z``.

The view shows its view model ``view.data`` (:class:`explain.views.ByHandData`), drawn by the
by-hand view's one plotly builder (``explain.export.interactive(view.data)`` is the same two
figures) and its one matplotlib builder (the static picture, ``explain.export.image``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain._render.rules import label
from explain.by_hand import (
    DEFAULT_K,
    DEFAULT_Q,
    DEFAULT_TOKENS,
    DEFAULT_V,
    EXPAND_DIM,
    MAX_TOKENS,
    AttentionByHand,
    attention_by_hand,
    matrix_text,
    number_text,
    parse_matrix,
)
from explain.names import attention_name
from explain.style import visible

from ._base import View
from .theme import Theme

__all__ = [
    "DEFAULT_K",
    "DEFAULT_Q",
    "DEFAULT_V",
    "AttentionByHand",
    "ByHandView",
    "attention_by_hand",
    "parse_matrix",
]


# -- the view --------------------------------------------------------------------------------
class ByHandView(View):
    """Self-attention by hand: edit q, k, v (one line per token) and follow every step.

    ``view.data`` is the view model shown (:class:`explain.views.ByHandData`), ``view.result``
    its :class:`AttentionByHand`; ``query_select`` picks the row whose arithmetic is written out
    (outlined in both matrices); ``scores_plot`` (signed scores, diverging scale centred on 0)
    and ``weights_plot`` (weights in [0, 1]) hold the matrices. Bad text in a box shows a
    message in the view; :meth:`set_vectors` raises ValueError. It shows numbers, not a trace,
    so it has no step.
    """

    css_class = "explain-byhand"
    trace_optional = True  # q, k and v come from text boxes or a model, not a trace

    def __init__(
        self,
        q: Any = None,
        k: Any = None,
        v: Any = None,
        *,
        tokens: Sequence[str] | str | None = None,
        causal: bool = True,
        query: int | None = None,
        theme: Theme | str | None = None,
    ) -> None:
        super().__init__(None, theme=theme)
        given = [x is not None for x in (q, k, v)]
        if any(given) and not all(given):
            raise ValueError("give all of q, k and v, or none of them for the classic example")
        if not any(given):
            q, k, v = DEFAULT_Q, DEFAULT_K, DEFAULT_V
            tokens = DEFAULT_TOKENS if tokens is None else tokens
        self.model_pattern: np.ndarray | None = None  # [q_pos, k_pos] the model's hook_pattern
        self.model_z: np.ndarray | None = None  # [q_pos, d_head] the model's hook_z
        self._hold = False
        # the three boxes share the row (230 px each at least); one matrix row per line
        layout = ipywidgets.Layout(flex="1 1 230px", min_width="230px", height="120px")
        self.q_text = ipywidgets.Textarea(description="Q", layout=layout)
        self.k_text = ipywidgets.Textarea(description="K", layout=layout)
        self.v_text = ipywidgets.Textarea(description="V", layout=layout)
        for box in (self.q_text, self.k_text, self.v_text):
            box.add_class("explain-matrix-text")
        self.tokens_text = ipywidgets.Text(description="tokens")
        self.causal_box = ipywidgets.Checkbox(value=bool(causal), description="causal mask")
        self.query_select = ipywidgets.Dropdown(description="explain row")
        self.message = ipywidgets.HTML()
        self.formulas = ipywidgets.HTML()
        self._set(q, k, v, tokens=tokens, causal=None, query=query)
        scores, weights = builders.figures(self.data, 0, self.theme)
        self.scores_plot = self._plot(scores, "explain-byhand-scores")
        self.weights_plot = self._plot(weights, "explain-byhand-weights")
        # Every edit applies as it is typed, Enter too (a Textarea that updates on blur only
        # took Enter as a newline and recomputed nothing); an unfinished row shows its error and
        # keeps the last valid vectors
        for control in (self.q_text, self.k_text, self.v_text, self.tokens_text):
            control.continuous_update = True
            control.observe(self._on_text, names="value")
        self.causal_box.observe(self._on_text, names="value")
        self.query_select.observe(self._on_query, names="value")
        inputs = ipywidgets.HBox([self.q_text, self.k_text, self.v_text])
        controls = ipywidgets.HBox([self.tokens_text, self.causal_box, self.query_select])
        plots = ipywidgets.HBox([self.scores_plot.widget, self.weights_plot.widget])
        self.widget = self._root(
            [inputs, controls, self.message, plots, self.formulas], "explain-view"
        )
        self._ready()

    # -- construction from a model -------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: Any,
        tokens: Any,
        layer: int = 0,
        head: int = 0,
        *,
        tokenizer: Any = None,
        query: int | None = None,
        theme: Theme | str | None = None,
    ) -> ByHandView:
        """The model's real q, k and v of ``head`` in ``layer`` for ``tokens``.

        ``model`` is a decoder-only TinyTransformer or a Run (``explain.train(...)``);
        ``tokens`` is a list of ids, or a string when a tokenizer is given (a Run brings its
        task's). The result is checked against the model's ``hook_pattern`` and ``hook_z``.
        """
        model, labels, found = _head_qkv(model, tokens, layer, head, tokenizer)
        q, k, v = found["hook_q"], found["hook_k"], found["hook_v"]
        view = cls(q, k, v, tokens=labels, causal=True, query=query, theme=theme)
        view.model_pattern, view.model_z = found["hook_pattern"], found["hook_z"]
        rotary = " (q and k after rotary)" if model.config.positional == "rope" else ""
        view.source = f"the model's layer {layer}, head {head}{rotary}"
        view._update()
        return view

    # -- public --------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """Where the vectors came from ("the model's layer 0, head 1", ...)."""
        return self.data.source

    @source.setter
    def source(self, text: str) -> None:
        self.data = replace(self.data, source=str(text))

    @property
    def tokens(self) -> list[str]:
        return self.data.tokens

    @property
    def query(self) -> int:
        """The row whose arithmetic is written out."""
        return int(self.query_select.value)

    @query.setter
    def query(self, row: int) -> None:
        self.query_select.value = self.data.with_query(row).query  # ValueError outside the rows

    def set_vectors(
        self,
        q: Any,
        k: Any,
        v: Any,
        *,
        tokens: Sequence[str] | str | None = None,
        causal: bool | None = None,
        query: int | None = None,
    ) -> AttentionByHand:
        """Show new q, k, v (arrays [tokens, dim]); ValueError names what is wrong."""
        result = self._set(q, k, v, tokens=tokens, causal=causal, query=query)
        self._update()
        return result

    # -- internals -----------------------------------------------------------------------------
    def _set(
        self,
        q: Any,
        k: Any,
        v: Any,
        *,
        tokens: Sequence[str] | str | None,
        causal: bool | None,
        query: int | None,
        typed: bool = False,
    ) -> AttentionByHand:
        """Compute and hold new vectors, and write them in the boxes (drawn by ``_update``);
        ``typed``: they come from the boxes as the user types, whose text stays as typed."""
        causal = self.causal_box.value if causal is None else bool(causal)
        keep = self.query_select.value if self.query_select.options else None
        source = self.data.source if hasattr(self, "data") else ""
        data = views.by_hand(q, k, v, tokens=tokens, causal=causal, query=query, source=source)
        n = len(data.tokens)
        if query is None and keep is not None and keep < n:
            data = data.with_query(keep)  # the row explained stays, if it still exists
        self.data, self.result = data, data.result
        result, labels = self.result, data.tokens
        self._hold = True
        try:
            if not typed:  # rewriting while typing would eat a half-typed "1." or token
                self.q_text.value = matrix_text(result.q)
                self.k_text.value = matrix_text(result.k)
                self.v_text.value = matrix_text(result.v)
                self.tokens_text.value = " ".join(labels)
            self.causal_box.value = causal
            # Option labels are plain text (not HTML): glyphs, no escaping.
            options = [(f"{i}: {visible(t)}", i) for i, t in enumerate(labels)]
            self.query_select.options = options
            self.query_select.value = data.query
        finally:
            self._hold = False
        self.message.value = ""
        return result

    def _on_text(self, change: dict) -> None:
        if self._hold:
            return
        try:
            q = parse_matrix("Q", self.q_text.value)
            k = parse_matrix("K", self.k_text.value)
            v = parse_matrix("V", self.v_text.value)
            tokens = self.tokens_text.value.split()
            if len(tokens) != q.shape[0]:
                tokens = None  # edited rows: number the tokens rather than fail
            edited = self.model_pattern is not None
            self._set(q, k, v, tokens=tokens, causal=self.causal_box.value, query=None, typed=True)
            if edited:
                self.model_pattern = self.model_z = None
                self.source = "edited by hand (no longer the model's vectors)"
            self._update()
        except ValueError as error:
            self.message.value = (
                f"<b style='color:#D55E00'>{html.escape(str(error))}</b> "
                "(still showing the last valid vectors)"
            )

    def _on_query(self, change: dict) -> None:
        if not self._hold:
            self._update()

    def _update(self) -> None:
        if self.data.query != self.query:  # the dropdown moved: the row outlined follows
            self.data = self.data.with_query(self.query)
        for plot, figure in zip(
            self.plots, builders.figures(self.data, 0, self.theme), strict=True
        ):
            plot.show(figure)
        self.formulas.value = _formulas(self.result, self.tokens, self.query, self._check_text())

    def _static_images(self) -> list[tuple[bytes, str]]:
        """Both matrices, drawn from the view model as the exports do."""
        row = self.data.query
        alt = f"{self.data.title}: scores and weights, query row {row} ({self.tokens[row]})"
        return [(export.image(self.data, None, theme=self.theme, marker=True), alt)]

    def _check_text(self) -> str:
        if self.model_pattern is None or self.model_z is None:
            return html.escape(self.source)
        diff_w = float(np.abs(self.result.weights - self.model_pattern).max())
        diff_z = float(np.abs(self.result.output - self.model_z).max())
        ok = max(diff_w, diff_z) < 1e-5
        verdict = "equal to" if ok else "<b style='color:#D55E00'>NOT equal to</b>"
        return (
            f"{html.escape(self.source)}: weights and output are {verdict} the model's own "
            f"hook_pattern and hook_z (largest differences {diff_w:.1e} and {diff_z:.1e})"
        )


def _vector(values: np.ndarray) -> str:
    return "[" + ", ".join(number_text(float(x)) for x in values) + "]"


def _formulas(r: AttentionByHand, tokens: list[str], i: int, note: str) -> str:
    """The five steps for query row ``i``, as HTML."""
    d, n_k = r.d, r.k.shape[0]
    name = [f"<i>{label(t)}</i>" for t in tokens]
    root = math.sqrt(d)
    lines = [f"<p>{note}</p>" if note else ""]
    lines.append(f"<h4>Query row {i} ({name[i]}): q = {_vector(r.q[i])}, d = {d}</h4><ol>")
    dots = []
    for j in range(n_k):
        terms = ""
        if d <= EXPAND_DIM:
            terms = " + ".join(
                f"{number_text(a)}×{number_text(b)}" for a, b in zip(r.q[i], r.k[j], strict=True)
            )
            terms += " = "
        dots.append(f"q·k<sub>{j}</sub> ({name[j]}) = {terms}<b>{number_text(r.scores[i, j])}</b>")
    lines.append("<li><b>Dot products</b> q·k<sub>j</sub> = Σ q<sub>d</sub>k<sub>j,d</sub>:<br>")
    lines.append("<br>".join(dots) + "</li>")
    scaled = [
        f"{number_text(r.scores[i, j])} / {number_text(root)} = <b>{r.scaled[i, j]:.2f}</b>"
        for j in range(n_k)
    ]
    lines.append(
        f"<li><b>Scale</b> by √d = √{d} = {number_text(root)}: " + "; ".join(scaled) + "</li>"
    )
    hidden = [name[j] for j in range(n_k) if not r.mask[i, j]]
    if not r.causal:
        lines.append("<li><b>Mask</b>: none (every query sees every key)</li>")
    elif hidden:
        lines.append(
            "<li><b>Causal mask</b>: keys after the query cannot be seen; their score becomes −∞ "
            f"(weight 0): {', '.join(hidden)}</li>"
        )
    else:
        lines.append("<li><b>Causal mask</b>: this query is last, so it sees every key</li>")
    allowed = [j for j in range(n_k) if r.mask[i, j]]
    exps = {j: math.exp(r.scaled[i, j]) for j in allowed}
    total = sum(exps.values())
    exp_text = ", ".join(f"e<sup>{r.scaled[i, j]:.2f}</sup> = {exps[j]:.4g}" for j in allowed)
    weights = ", ".join(
        f"{exps[j]:.4g} / {total:.4g} = <b>{r.weights[i, j]:.2f}</b>" for j in allowed
    )
    lines.append(
        "<li><b>Softmax</b> w<sub>j</sub> = e<sup>s<sub>j</sub></sup> / Σ e<sup>s</sup>: "
        f"{exp_text}; sum = {total:.4g}; weights: {weights}</li>"
    )
    terms = " + ".join(f"{r.weights[i, j]:.2f}×{_vector(r.v[j])}" for j in allowed)
    lines.append(
        f"<li><b>Weighted sum</b> z = Σ w<sub>j</sub> v<sub>j</sub> = {terms} ≈ "
        f"<b>{_vector(r.output[i])}</b></li></ol>"
    )
    return "\n".join(lines)


# -- a model's real q, k, v (torch imported here only) ---------------------------------------
def _head_qkv(model: Any, tokens: Any, layer: int, head: int, tokenizer: Any) -> tuple:
    """(model, labels, {hook: [pos, ...]}) with the head's q, k, v, pattern and z (float64)."""
    if hasattr(model, "model") and hasattr(model, "task"):  # a Run
        tokenizer = tokenizer if tokenizer is not None else model.task.tokenizer
        model = model.model
    if not hasattr(model, "run_with_cache") or not hasattr(model, "config"):
        raise ValueError(
            f"model must be an explain TinyTransformer or a Run; got {type(model).__name__}"
        )
    cfg = model.config
    if cfg.kind != "decoder":
        raise ValueError(f"from_model needs a decoder-only model; got kind={cfg.kind!r}")
    for what, value, count in (("layer", layer, cfg.n_layers), ("head", head, cfg.n_heads)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{what} must be an int in [0, {count - 1}]; got {value!r}")
        if not 0 <= value < count:
            raise ValueError(f"{what} {value} is out of range; expected 0..{count - 1}")
    if isinstance(tokens, str) and tokenizer is None:
        raise ValueError("tokens is text: pass tokenizer=..., or token ids instead")
    if hasattr(tokens, "detach"):
        tokens = tokens.detach().cpu().reshape(-1).tolist()
    ids = tokenizer.encode(tokens) if isinstance(tokens, str) else [int(t) for t in tokens]
    most = min(cfg.context_length, MAX_TOKENS)
    if not 1 <= len(ids) <= most:
        raise ValueError(f"got {len(ids)} tokens; expected 1..{most}")
    labels = [str(i) if tokenizer is None else tokenizer.decode([i]) for i in ids]

    import torch

    # The head's q, k, v and z hooks share its pattern hook's prefix (names live in explain.names).
    prefix = attention_name(int(layer)).removesuffix("hook_pattern")
    names = [prefix + n for n in ("hook_q", "hook_k", "hook_v", "hook_pattern", "hook_z")]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            batch = torch.tensor([ids], dtype=torch.long, device=model.device)
            _, cache = model.run_with_cache(batch, names=names)
    finally:
        model.train(was_training)
    return (
        model,
        labels,
        {n[len(prefix) :]: cache[n][0, head].double().cpu().numpy() for n in names},
    )
