"""GenerateView: type a prompt, see the next-token distribution, generate token by token.

Temperature and top-k reshape the distribution the next token is drawn from (the grey bars are
the model's own probabilities, the coloured ones what is sampled from). Each generated token
adds a row to the attention map: where the model looked when it chose that token::

    >>> import explain, widgets                                          # doctest: +SKIP
    >>> run = explain.train("text", train_config=explain.TrainConfig(steps=200))  # doctest: +SKIP
    >>> view = GenerateView(run, prompt="I love ")                       # doctest: +SKIP
    >>> view.temperature = 0.5; view.step(); view.text                   # doctest: +SKIP

Importing this module does not import torch; building a view does (it runs the model).
Encoder-decoder models (``translate``) take the prompt as the source sentence and generate the
target from ``<bos>``; their attention map can show the cross-attention over the source.

Both plots are the generate view's one plotly builder (``explain._render.plotly.generate``)
drawing ``view.data`` (:class:`explain.views.GenerateData`), so
``explain.export.interactive(view.data)`` is the same figures with a slider over the generated
tokens, and the static picture is its matplotlib builder.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets
import numpy as np

from explain import export, views
from explain._render import plotly as builders
from explain._render.plotly.generate import bars_title
from explain.names import default_part

from ._base import View
from .theme import Theme

__all__ = ["GenerateView"]

_ERROR = "<b style='color:#D55E00'>{}</b>"


def _resolve(model_or_run: Any, tokenizer: Any) -> tuple[Any, Any, Any]:
    """(model, tokenizer, task or None) from a Run or a model plus tokenizer."""
    task = None
    model = model_or_run
    if hasattr(model_or_run, "model") and hasattr(model_or_run, "task"):  # a Run
        model, task = model_or_run.model, model_or_run.task
        tokenizer = tokenizer if tokenizer is not None else task.tokenizer
    if not hasattr(model, "run_with_cache") or not hasattr(model, "config"):
        raise ValueError(
            "GenerateView needs an explain TinyTransformer (with tokenizer=...) or a Run from "
            f"explain.train(...); got {type(model_or_run).__name__}"
        )
    if tokenizer is None or not hasattr(tokenizer, "encode") or not hasattr(tokenizer, "vocab"):
        raise ValueError(
            "GenerateView needs a tokenizer with encode/decode and vocab (a Run brings its "
            f"task's); got {type(tokenizer).__name__}"
        )
    if len(tokenizer.vocab) > model.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer.vocab)} symbols but the model only "
            f"{model.config.vocab_size} token ids; expected a tokenizer of the model's task"
        )
    return model, tokenizer, task


def _default_prompt(task: Any, tokenizer: Any, encoder_decoder: bool) -> str:
    if task is None:
        return ""
    probe = task.probe()
    if encoder_decoder and probe.source is not None:
        ids = [int(i) for i in probe.source[0] if int(i) != getattr(task, "pad", -1)]
    else:
        ids = [int(i) for i in probe.inputs[0][: task.context_length // 2 + 1]]
    return tokenizer.decode(ids)


class GenerateView(View):
    """Prompt box, next-token bars, temperature/top-k sliders, step buttons, attention map.

    Programmatic use mirrors the controls: ``prompt``, ``temperature``, ``top_k`` (0 = all),
    ``step()``, ``generate(n)``, ``reset()``; ``probabilities()`` is the distribution sampled
    from next and ``error`` the message shown for a prompt that cannot run ("" when fine).
    Plots: ``bars`` (next-token probabilities, top ``top_n`` tokens by logit) and ``attention``
    (one row per generated token, selected part/layer/head), both drawn from ``data`` (the view
    model, :func:`explain.views.generation`) at its last frame.

    This view runs a model rather than reading a trace, so it has no trace, no step control and
    no snapshot step: ``step`` is overridden by the *method* ``step()``, which generates one
    token (the base's ``step`` property would only raise here).
    """

    css_class = "explain-generate"
    trace_optional = True  # it shows the model running now, not a recorded trace

    def __init__(
        self,
        model_or_run: Any,
        tokenizer: Any = None,
        *,
        prompt: str | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
        top_n: int = 15,
        theme: Theme | str | None = None,
    ) -> None:
        super().__init__(None, theme=theme)
        from explain import generate as gen  # torch is imported from here on

        self._gen = gen
        self.model, self.tokenizer, self.task = _resolve(model_or_run, tokenizer)
        cfg = self.model.config
        self.encoder_decoder = cfg.kind == "encoder-decoder"
        self.vocab = list(self.tokenizer.vocab) + [
            f"<id {i}>" for i in range(len(self.tokenizer.vocab), cfg.vocab_size)
        ]
        self._bos = self._eos = None
        if self.encoder_decoder:
            for name in ("<bos>", "<eos>"):
                if name not in self.vocab:
                    raise ValueError(f"an encoder-decoder model needs {name!r} in the vocabulary")
            self._bos, self._eos = self.vocab.index("<bos>"), self.vocab.index("<eos>")
        if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
            raise ValueError(f"top_n must be an int >= 1; got {top_n!r}")
        self.top_n = min(top_n, cfg.vocab_size)
        gen.check_top_k(top_k, cfg.vocab_size)
        self.generation: Any = None  # explain.generate.Generation, None while the prompt is bad
        self._next: tuple[np.ndarray, dict[str, np.ndarray], int] | None = None
        self._source_ids: list[int] | None = None
        self._error = ""
        self._settings: list[tuple[float, int]] = []  # (temperature, top-k) of each drawn token

        self.prompt_text = ipywidgets.Text(
            description="source" if self.encoder_decoder else "prompt",
            continuous_update=False,
            layout=ipywidgets.Layout(width="520px"),
        )
        self.temperature_slider = ipywidgets.FloatSlider(
            value=gen.check_temperature(temperature), min=0.0, max=3.0, step=0.05,
            description="temperature", continuous_update=False,
            style={"description_width": "initial"},
        )  # fmt: skip
        self.top_k_slider = ipywidgets.IntSlider(
            value=top_k, min=0, max=cfg.vocab_size, description="top-k (0 = all)",
            continuous_update=False, style={"description_width": "initial"},
        )  # fmt: skip
        self.seed_box = ipywidgets.IntText(
            value=int(seed), description="seed", layout={"width": "160px"}
        )
        self.step_button = ipywidgets.Button(description="next token", icon="step-forward")
        self.more_button = ipywidgets.Button(description="+10 tokens", icon="fast-forward")
        self.reset_button = ipywidgets.Button(description="reset", icon="undo")
        # What a new token looks at: its decoder's self-attention, and (encoder-decoder) the
        # cross-attention over the source.
        parts = ["decoder", "cross"] if self.encoder_decoder else ["self"]
        self.part_select = ipywidgets.Dropdown(
            options=parts, value=default_part(parts), description="attention"
        )
        self.layer_select = ipywidgets.Dropdown(
            options=list(range(cfg.n_layers)), value=0, description="layer"
        )
        self.head_select = ipywidgets.Dropdown(
            options=list(range(cfg.n_heads)), value=0, description="head"
        )
        for control in (self.part_select, self.layer_select, self.head_select):
            control.layout.width = "180px"
        self.message = ipywidgets.HTML()
        self.text_html = ipywidgets.HTML()
        self.prompt_text.value = (
            _default_prompt(self.task, self.tokenizer, self.encoder_decoder)
            if prompt is None
            else str(prompt)
        )
        self._restart()
        bars, attention = self._figures()
        self.bars = self._plot(bars, "explain-generate-bars")
        self.attention = self._plot(attention, "explain-generate-attention")

        self.prompt_text.observe(lambda _: self._prompt_changed(), names="value")
        self.seed_box.observe(lambda _: self.reset(), names="value")
        for control in (
            self.temperature_slider,
            self.top_k_slider,
            self.part_select,
            self.layer_select,
            self.head_select,
        ):
            control.observe(lambda _: self._draw(), names="value")
        self.step_button.on_click(lambda _: self.step())
        self.more_button.on_click(lambda _: self.generate(10))
        self.reset_button.on_click(lambda _: self.reset())

        selectors = [self.layer_select, self.head_select]
        if self.encoder_decoder:
            selectors.insert(0, self.part_select)
        self.widget = self._root(
            [
                self.prompt_text,
                ipywidgets.HBox([self.temperature_slider, self.top_k_slider, self.seed_box]),
                ipywidgets.HBox([self.step_button, self.more_button, self.reset_button]),
                self.message,
                self.text_html,
                ipywidgets.HBox(selectors),
                ipywidgets.HBox([self.bars.widget, self.attention.widget]),
            ],
            "explain-view",
        )
        self._ready()

    # -- public --------------------------------------------------------------------------------
    @property
    def prompt(self) -> str:
        return str(self.prompt_text.value)

    @prompt.setter
    def prompt(self, text: str) -> None:
        self.prompt_text.value = str(text)  # observed: see _prompt_changed

    @property
    def temperature(self) -> float:
        return float(self.temperature_slider.value)

    @temperature.setter
    def temperature(self, value: float) -> None:
        value = self._gen.check_temperature(value)
        if value > self.temperature_slider.max:
            raise ValueError(
                f"temperature must be at most {self.temperature_slider.max}; got {value}"
            )
        self.temperature_slider.value = value

    @property
    def top_k(self) -> int:
        return int(self.top_k_slider.value)

    @top_k.setter
    def top_k(self, value: int) -> None:
        self._gen.check_top_k(value, self.model.config.vocab_size)
        self.top_k_slider.value = int(value)

    @property
    def error(self) -> str:
        """The message about the prompt ("" when it runs)."""
        return self._error

    def logits(self) -> np.ndarray:
        """The model's next-token logits [vocab] (ValueError while the prompt is invalid)."""
        if self._next is None:
            raise ValueError(f"no next token to show: {self._error}")
        return self._next[0]

    def probabilities(self) -> np.ndarray:
        """The distribution the next token is drawn from: temperature and top-k applied."""
        top_k = self.top_k if self.top_k > 0 else None
        return self._gen.next_token_probs(self.logits(), self.temperature, top_k)

    @property
    def ids(self) -> list[int]:
        """Prompt (decoder-only) or ``<bos>`` (encoder-decoder) ids, then the generated ones."""
        return [] if self.generation is None else self.generation.ids

    @property
    def text(self) -> str:
        return "" if self.generation is None else self.tokenizer.decode(self.generation.ids)

    @property
    def generated_text(self) -> str:
        return "" if self.generation is None else self.tokenizer.decode(self.generation.new_ids)

    def reset(self) -> None:
        """Back to the prompt: no generated tokens, the sampler re-seeded."""
        self._restart()
        self._update()

    def step(self) -> str | None:  # type: ignore[override]  # a method here: see the docstring
        """Draw one token with the current settings and append it; returns it (None if blocked)."""
        if not self._runnable() or self._finished():
            return None
        logits, attention, start = self._next
        probs = self.probabilities()
        token = self._gen.choose(probs, self.temperature, self._rng)
        self.generation.steps.append(
            self._gen.GenerationStep(token, logits, probs, attention, start)
        )
        self._settings.append((self.temperature, self.top_k))
        self._next = self._gen.next_token_logits(self.model, self.generation.ids, self._source_ids)
        self._update()
        return self.vocab[token]

    def generate(self, n: int) -> str:
        """Up to ``n`` more tokens (stops at ``<eos>``); returns the text they add."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0; got {n!r}")
        before = len(self.ids)
        for _ in range(n):
            if self.step() is None:
                break
        return self.tokenizer.decode(self.ids[before:]) if self.generation else ""

    # -- internals -----------------------------------------------------------------------------
    def _prompt_changed(self) -> None:
        """A new prompt in the box: start over from it; a rejected one only shows its message.

        A rejected prompt keeps what the view showed (generation, bars, attention, sampler) and
        blocks the step buttons; going back to the prompt of the kept generation continues it
        exactly where it was, so a cell that demonstrates an error leaves the view as it was.
        """
        try:
            key = self._encode(self.prompt)
        except ValueError as error:
            if self.generation is None:  # nothing to keep: show the message on an empty view
                self.reset()
                return
            self._error = str(error)
            self._update_message()
            return
        kept = self.generation
        if kept is not None and key == (kept.prompt_ids, self._source_ids) and self._error:
            self._error = ""  # back to the kept generation's prompt: carry on from it
            self._update_message()
            return
        self.reset()

    def _runnable(self) -> bool:
        """True when the prompt in the box is the one the shown generation continues."""
        return self.generation is not None and self._next is not None and not self._error

    def _restart(self) -> None:
        """The generation state for the prompt (drawn by ``_update``)."""
        self._rng = np.random.default_rng(int(self.seed_box.value))
        self.generation, self._next, self._error = None, None, ""
        self._settings = []
        try:
            prompt_ids, source = self._encode(self.prompt)
            self.generation = self._gen.Generation(prompt_ids, source_ids=source)
            self._source_ids = source
            self._next = self._gen.next_token_logits(self.model, prompt_ids, source)
        except ValueError as error:
            self._error = str(error)

    def _encode(self, text: str) -> tuple[list[int], list[int] | None]:
        """(decoder ids, source ids or None); ValueError with a message for the view."""
        context = self.model.config.context_length
        what = "source sentence" if self.encoder_decoder else "prompt"
        empty = not text.strip() if self.encoder_decoder else not text
        if empty:
            raise ValueError(f"Type a {what} to start: it is empty.")
        try:
            ids = [int(i) for i in self.tokenizer.encode(text)]
        except ValueError as error:  # the tokenizer names the unknown symbols and positions
            reason = str(error).split("; the vocabulary holds")[0]
            raise ValueError(
                f"The {what} holds symbols this model has no token for: {reason}. Its "
                f"vocabulary has {len(self.tokenizer.vocab)} symbols, from its training data."
            ) from None
        if not ids:
            raise ValueError(f"Type a {what} to start: it has no tokens.")
        if len(ids) > context:
            raise ValueError(
                f"The {what} has {len(ids)} tokens, but this model reads at most {context} "
                f"(its context_length). Shorten it."
            )
        if self.encoder_decoder:
            return [self._bos], ids
        return ids, None

    def _finished(self) -> bool:
        if self.generation is None:
            return True
        steps = self.generation.steps
        if self.encoder_decoder:
            # The decoder reads at most context_length tokens and writes the one after them
            # (translate: <bos> + 7 words in, <eos> out), so it stops once it wrote past that.
            done = bool(steps) and steps[-1].token_id == self._eos
            return done or len(self.generation.ids) > self.model.config.context_length
        return False

    def _update(self) -> None:
        self._update_message()
        self._update_text()
        self._draw()

    def _update_message(self) -> None:
        """The message line and the step buttons (blocked while the prompt cannot run)."""
        ok = self._runnable()
        self.message.value = _ERROR.format(html.escape(self._error)) if self._error else ""
        if ok and self._finished():
            self.message.value = "The sentence is complete (<b>&lt;eos&gt;</b> or context full)."
        elif ok and len(self.ids) >= self.model.config.context_length:
            self.message.value = (
                f"The context is full: the model now sees only the last "
                f"{self.model.config.context_length} tokens."
            )
        for button in (self.step_button, self.more_button):
            button.disabled = not ok or self._finished()

    def _update_text(self) -> None:
        if self.generation is None:
            self.text_html.value = ""
            return
        # Text as written (pre-wrap keeps blanks and line breaks); generated tokens highlighted.
        sep = " " if not self._char_level() else ""
        new = sep.join(
            f"<span style='background:#E69F00;color:#000'>{html.escape(self.vocab[i])}</span>"
            for i in self.generation.new_ids
        )
        prompt = sep.join(html.escape(self.vocab[i]) for i in self.generation.prompt_ids)
        source = ""
        if self._source_ids is not None:
            source = " ".join(html.escape(self.vocab[i]) for i in self._source_ids) + " ⟶ "
        style = "font-family:monospace;font-size:1.1em;white-space:pre-wrap"
        self.text_html.value = f"<div style='{style}'>{source}{prompt}{sep}{new}</div>"

    def _char_level(self) -> bool:
        return all(len(t) == 1 for t in self.tokenizer.vocab)

    def _view_model(self) -> views.GenerateData:
        """The view model of what is shown: the generation, each token's settings and the
        current ones for the next, the chosen attention."""
        settings = [*self._settings, (self.temperature, self.top_k)]
        return views.generation(
            self.vocab,
            self.generation if self._next is not None else None,
            None if self._next is None else self._next[0],
            temperature=[t for t, _ in settings],
            top_k=[k for _, k in settings],
            top_n=self.top_n,
            part=self.part_select.value,
            layer=self.layer_select.value,
            head=self.head_select.value,
        )

    def _figures(self) -> list[dict]:
        """``data`` made anew and the builder's figures of its last frame (bars, attention)."""
        self.data = self._view_model()
        return builders.figures(self.data, len(self.data.steps) - 1, self.theme)

    def _draw(self) -> None:
        bars, attention = self._figures()
        self.bars.show(bars)
        self.attention.show(attention)

    def _static_images(self) -> list[tuple[bytes, str]]:
        """Both plots as the builders draw ``data`` at its last frame, as the exports do."""
        step = int(self.data.steps[-1])
        picture = export.image(self.data, step, theme=self.theme)
        return [(picture, bars_title(self.data, len(self.data.steps) - 1))]
