"""The generate view model: a prompt, the tokens generated after it, the next-token
distribution of every step (the model's own and the one sampled from) and where each new token
looked. No torch: it reads the numbers :mod:`explain.generate` returned.

Its frame axis counts generated tokens: frame ``i`` is the view after ``i`` tokens, so
``steps`` is ``0 .. n`` and the last frame shows the distribution the next token will be drawn
from. Bars at each frame are the ``top_n`` tokens by logit (an order that stays put as
temperature and top-k change); the attention map holds one row per generated token, for the
chosen part, layer and head::

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> looked = {"blocks.0.attn.hook_pattern": np.array([[0.25, 0.75]])}  # [head, k_pos]
    >>> first = SimpleNamespace(token_id=2, logits=np.array([0.0, 1.0, 2.0]),
    ...                         probs=np.array([0.0, 0.0, 1.0]), attention=looked, window_start=0)
    >>> generated = SimpleNamespace(prompt_ids=[0, 1], steps=[first], source_ids=None)
    >>> data = generation(["a", "b", "c"], generated, np.array([2.0, 0.0, 0.0]), top_n=2)
    >>> data.steps.tolist(), data.bar_ids.tolist(), data.text
    ([0, 1], [[2, 1], [0, 1]], 'abc')
    >>> data.attention.tolist(), data.rows, data.columns
    ([[0.25, 0.75]], ['b → c'], ['a', 'b'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..generate import check_temperature, check_top_k, next_token_probs
from ..names import attention_name
from ._common import ViewModel, check_integer


@dataclass(frozen=True)
class GenerateData(ViewModel):
    """What the generate view shows after each generated token (see the module docstring)."""

    what: ClassVar[str] = "generate"
    FIELDS: ClassVar = tuple(
        "title steps vocab prompt_ids new_ids source_ids bar_ids model_probs sampled_probs "
        "temperature top_k part layer head columns rows attention".split()
    )
    FRAMED: ClassVar = ("bar_ids", "model_probs", "sampled_probs", "temperature", "top_k")

    steps: np.ndarray  # int64 [frames]: tokens generated before each frame, 0 .. n
    vocab: list[str]  # [vocab] token strings by id
    prompt_ids: list[int]  # what generation starts from (<bos> for encoder-decoder); [] if none
    new_ids: list[int]  # [n] the generated tokens
    source_ids: list[int] | None  # the encoder's input (encoder-decoder), else None
    bar_ids: np.ndarray  # int64 [frames, bars]: the top_n next tokens by logit, most likely first
    model_probs: np.ndarray  # float64 [frames, bars]: softmax of the logits (T = 1, all tokens)
    sampled_probs: np.ndarray  # float64 [frames, bars]: what is drawn from (temperature, top-k)
    temperature: np.ndarray  # float64 [frames]: the temperature of each frame's draw
    top_k: np.ndarray  # int64 [frames]: its top-k, 0 = all tokens
    part: str  # the attention shown: "self", or "decoder"/"cross" for encoder-decoder
    layer: int
    head: int
    columns: list[str]  # [columns] what the rows look at: the source (cross) or ids[:-1]
    attention: np.ndarray  # float32 [n, columns]: row r, the weights of generated token r
    title: str = "next token"

    @property
    def ids(self) -> list[int]:
        """Prompt ids, then the generated ones."""
        return [*self.prompt_ids, *self.new_ids]

    @property
    def text(self) -> str:
        """The tokens of :attr:`ids` joined as they are."""
        return "".join(self.vocab[i] for i in self.ids)

    def index(self, step: int | None) -> int:
        """Index of ``step`` (a number of generated tokens) on the frame axis (None: last)."""
        if step is None:
            return len(self.steps) - 1
        check_integer("step", step)
        if not 0 <= step < len(self.steps):
            raise ValueError(
                f"step {step} is not a count of generated tokens here; expected 0..{len(self) - 1}"
            )
        return int(step)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def rows(self) -> list[str]:
        """[n] "token it read → token it wrote", one per row of :attr:`attention`."""
        return [" → ".join(self.row_tokens(r)) for r in range(len(self.new_ids))]

    def row_tokens(self, row: int) -> tuple[str, str]:
        """(the token generated token ``row`` was written after, that token)."""
        ids = self.ids
        return self.vocab[ids[len(self.prompt_ids) - 1 + row]], self.vocab[self.new_ids[row]]

    def visible_columns(self, index: int) -> int:
        """How many of :attr:`columns` frame ``index`` shows (self-attention grows with it)."""
        if self.part == "cross":
            return len(self.columns)
        return max(0, len(self.prompt_ids) - 1 + index)


def _per_frame(name: str, value: Any, frames: int) -> list:
    values = list(value) if isinstance(value, Sequence | np.ndarray) else [value] * frames
    if len(values) != frames:
        raise ValueError(f"{name} needs one value per frame ({frames}); got {len(values)}")
    return values


def generation(
    vocab: Sequence[str],
    generated: Any,
    next_logits: np.ndarray | None = None,
    *,
    temperature: float | Sequence[float] = 1.0,
    top_k: int | Sequence[int] = 0,
    top_n: int = 15,
    part: str = "self",
    layer: int = 0,
    head: int = 0,
) -> GenerateData:
    """The generate view model of ``generated`` (an :class:`explain.generate.Generation`:
    ``prompt_ids``, ``steps``, ``source_ids``; None while there is no valid prompt).

    ``next_logits`` [vocab]: the model's logits for the token after the last one (the last
    frame's bars). ``temperature`` and ``top_k`` (0 = all) are what each frame was drawn with:
    one value for all, or one per frame; each step's ``probs`` is what it was drawn from, the
    next token's comes from the last frame's settings. ``top_n`` bars per frame; ``part``,
    ``layer`` and ``head`` pick the attention map.
    """
    vocab = [str(t) for t in vocab]
    if isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or top_n < 1:
        raise ValueError(f"top_n must be an int >= 1; got {top_n!r}")
    check_integer("layer", layer)
    check_integer("head", head)
    name = attention_name(int(layer), part)
    if generated is None:
        return _empty(vocab, part, int(layer), int(head))
    if next_logits is None:
        raise ValueError("next_logits is needed: the model's logits for the token after the last")
    prompt = [int(i) for i in generated.prompt_ids]
    steps = list(generated.steps)
    source = None if generated.source_ids is None else [int(i) for i in generated.source_ids]
    new = [int(s.token_id) for s in steps]
    frames = len(steps) + 1
    temperatures = [check_temperature(t) for t in _per_frame("temperature", temperature, frames)]
    top_ks = [check_top_k(int(k), len(vocab)) or 0 for k in _per_frame("top_k", top_k, frames)]
    logits = np.stack([np.asarray(s.logits, np.float64) for s in steps] + [next_logits])
    bars = min(int(top_n), logits.shape[1])
    order = np.argsort(-logits, axis=1, kind="stable")[:, :bars]  # [frames, bars]
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    model = weights / weights.sum(axis=1, keepdims=True)  # [frames, vocab] softmax at T = 1
    # what each token was drawn from, as recorded; the next one's from the current settings
    upcoming = next_token_probs(next_logits, temperatures[-1], top_ks[-1] or None)
    drawn = np.stack([np.asarray(s.probs, np.float64) for s in steps] + [upcoming])
    ids = [*prompt, *new]
    columns = [vocab[i] for i in (source if part == "cross" else ids[:-1]) or []]
    attention = np.full((len(steps), len(columns)), np.nan, np.float32)
    for r, chosen in enumerate(steps):
        if name not in chosen.attention:
            raise ValueError(
                f"no attention {name!r} in generated step {r}; it holds "
                f"{', '.join(sorted(chosen.attention)) or 'none'}"
            )
        row = np.asarray(chosen.attention[name])[head]  # [k_pos] within the window
        start = 0 if part == "cross" else int(chosen.window_start)
        attention[r, start : start + len(row)] = row
    return GenerateData(
        steps=np.arange(frames, dtype=np.int64),
        vocab=vocab,
        prompt_ids=prompt,
        new_ids=new,
        source_ids=source,
        bar_ids=order.astype(np.int64),
        model_probs=np.take_along_axis(model, order, axis=1),
        sampled_probs=np.take_along_axis(drawn, order, axis=1),
        temperature=np.asarray(temperatures, np.float64),
        top_k=np.asarray(top_ks, np.int64),
        part=part,
        layer=int(layer),
        head=int(head),
        columns=columns,
        attention=attention,
    )


def _empty(vocab: list[str], part: str, layer: int, head: int) -> GenerateData:
    """No valid prompt: one frame with no bars and no attention."""
    return GenerateData(
        steps=np.zeros(1, np.int64),
        vocab=vocab,
        prompt_ids=[],
        new_ids=[],
        source_ids=None,
        bar_ids=np.zeros((1, 0), np.int64),
        model_probs=np.zeros((1, 0)),
        sampled_probs=np.zeros((1, 0)),
        temperature=np.ones(1),
        top_k=np.zeros(1, np.int64),
        part=part,
        layer=layer,
        head=head,
        columns=[],
        attention=np.zeros((0, 0), np.float32),
    )
