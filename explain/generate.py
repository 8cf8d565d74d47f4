"""Next-token sampling for a TinyTransformer: temperature, top-k, and the attention of each step.

The distribution a model samples from is ``softmax(logits / T)`` restricted to the ``k`` most
likely tokens and renormalised; ``T = 0`` means greedy (all the mass on the argmax). Each
generated token comes with the last row of every attention pattern, which says where the new
token looked::

    >>> import numpy as np
    >>> next_token_probs(np.array([2.0, 1.0, 0.0]), temperature=1.0, top_k=2).round(3).tolist()
    [0.731, 0.269, 0.0]
    >>> next_token_probs(np.array([2.0, 1.0, 0.0]), temperature=0.0).tolist()
    [1.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .names import parse_attention

__all__ = [
    "Generation",
    "GenerationStep",
    "check_top_k",
    "check_temperature",
    "choose",
    "generate",
    "next_token_logits",
    "next_token_probs",
    "step",
]


def check_temperature(temperature: object) -> float:
    """``temperature`` as a float if it is a finite number >= 0, else a ValueError."""
    ok = isinstance(temperature, int | float | np.floating | np.integer)
    if not ok or isinstance(temperature, bool) or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0 (0 = greedy); got {temperature!r}"
        )
    return float(temperature)  # type: ignore[arg-type]


def check_top_k(top_k: object, vocab_size: int) -> int | None:
    """``top_k`` as an int in [1, vocab_size], or None for "all tokens" (None or 0)."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 0:
        raise ValueError(
            f"top_k must be None or an int in [0, {vocab_size}] (0 = all); got {top_k!r}"
        )
    if top_k > vocab_size:
        raise ValueError(f"top_k must be at most the vocabulary size {vocab_size}; got {top_k}")
    return None if top_k == 0 else int(top_k)


def next_token_probs(logits: Any, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """Probabilities [vocab] (float64) to sample the next token from.

    ``softmax(logits / temperature)`` over the ``top_k`` largest logits (ties at the k-th value
    are all kept), zero elsewhere; ``temperature=0`` puts all the mass on the first argmax.
    ``logits`` is a [vocab] array or tensor.
    """
    if hasattr(logits, "detach"):
        logits = logits.detach().cpu().double().numpy()
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or logits.size == 0:
        raise ValueError(f"logits must have shape [vocab]; got {logits.shape}")
    if not np.isfinite(logits).all():
        raise ValueError("logits hold NaN or inf; expected finite numbers")
    temperature = check_temperature(temperature)
    top_k = check_top_k(top_k, logits.size)
    if temperature == 0.0:
        probs = np.zeros_like(logits)
        probs[int(np.argmax(logits))] = 1.0
        return probs
    keep = np.ones(logits.size, bool)
    if top_k is not None:
        kth = np.sort(logits)[::-1][top_k - 1]
        keep = logits >= kth
    scaled = np.where(keep, logits / temperature, -np.inf)
    scaled = scaled - scaled[keep].max()  # largest kept logit -> exp(0) = 1, no overflow
    weights = np.exp(scaled)
    return weights / weights.sum()


@dataclass(frozen=True)
class GenerationStep:
    """One generated token and what the model saw when it chose it."""

    token_id: int  # the chosen token
    logits: np.ndarray  # float64 [vocab], the model's raw next-token logits
    probs: np.ndarray  # float64 [vocab], the distribution it was drawn from
    attention: dict[str, np.ndarray]  # hook name -> [head, k_pos]: the last query row
    window_start: int  # position of the first token the model saw (> 0 once context is full)


@dataclass
class Generation:
    """Prompt ids, then one :class:`GenerationStep` per generated token."""

    prompt_ids: list[int]
    steps: list[GenerationStep] = field(default_factory=list)
    source_ids: list[int] | None = None  # encoder input (encoder-decoder models)

    @property
    def ids(self) -> list[int]:
        """Prompt ids followed by the generated ids."""
        return [*self.prompt_ids, *(s.token_id for s in self.steps)]

    @property
    def new_ids(self) -> list[int]:
        return [s.token_id for s in self.steps]


def _torch_ids(model: Any, ids: Sequence[int]) -> Any:
    import torch

    return torch.tensor([list(ids)], dtype=torch.long, device=model.device)


def _check_ids(model: Any, ids: Sequence[int], what: str) -> list[int]:
    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError(f"{what} must hold at least one token id; got none")
    vocab = model.config.vocab_size
    bad = [i for i in ids if not 0 <= i < vocab]
    if bad:
        raise ValueError(f"{what} holds ids {bad[:5]}; expected ids in [0, {vocab - 1}]")
    return ids


def next_token_logits(
    model: Any, ids: Sequence[int], source: Sequence[int] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Logits [vocab] for the token after ``ids``, the attention rows, and the window start.

    Only the last ``context_length`` ids are fed (a sliding window). The attention dict maps
    every decoder-side ``...hook_pattern`` name to its last query row ``[head, k_pos]``.
    """
    import torch

    ids = _check_ids(model, ids, "ids")
    context = model.config.context_length
    start = max(0, len(ids) - context)
    window = ids[start:]
    kwargs: dict[str, Any] = {}
    if model.config.kind == "encoder-decoder":
        if source is None:
            raise ValueError("an encoder-decoder model needs source ids (the encoder's input)")
        kwargs["source"] = _torch_ids(model, _check_ids(model, source, "source"))
    elif source is not None:
        raise ValueError("a decoder-only model takes no source ids")

    def wanted(name: str) -> bool:
        parsed = parse_attention(name)
        return parsed is not None and parsed[0] != "encoder"

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits, cache = model.run_with_cache(_torch_ids(model, window), names=wanted, **kwargs)
    finally:
        model.train(was_training)
    attention = {name: t[0, :, -1].double().cpu().numpy() for name, t in cache.items()}
    return logits[0, -1].double().cpu().numpy(), attention, start


def step(
    model: Any,
    ids: Sequence[int],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
    source: Sequence[int] | None = None,
) -> GenerationStep:
    """Choose the token after ``ids``: greedy at ``temperature=0``, else sampled with ``rng``."""
    temperature = check_temperature(temperature)
    logits, attention, start = next_token_logits(model, ids, source)
    probs = next_token_probs(logits, temperature, top_k)
    return GenerationStep(choose(probs, temperature, rng), logits, probs, attention, start)


def choose(probs: np.ndarray, temperature: float, rng: np.random.Generator | None = None) -> int:
    """The argmax at ``temperature=0`` (no randomness used), else a draw from ``probs``."""
    if check_temperature(temperature) == 0.0:
        return int(np.argmax(probs))
    rng = rng if rng is not None else np.random.default_rng()
    return int(rng.choice(len(probs), p=probs))


def generate(
    model: Any,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = 0,
    source: Sequence[int] | None = None,
    stop_id: int | None = None,
) -> Generation:
    """Generate up to ``max_new_tokens`` tokens after ``prompt_ids`` (stopping at ``stop_id``).

    Sampling is reproducible for a given ``seed`` (numpy's default generator).

    >>> import explain
    >>> from explain.generate import generate
    >>> model = explain.TinyTransformer(explain.ModelConfig(vocab_size=5, context_length=8))
    >>> len(generate(model, [1, 2], 3, temperature=0).ids)
    5
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int | np.integer):
        raise ValueError(f"max_new_tokens must be an int >= 0; got {max_new_tokens!r}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an int >= 0; got {max_new_tokens}")
    rng = np.random.default_rng(seed)
    generation = Generation(
        _check_ids(model, prompt_ids, "prompt_ids"),
        source_ids=None if source is None else [int(i) for i in source],
    )
    for _ in range(int(max_new_tokens)):
        chosen = step(
            model, generation.ids, temperature=temperature, top_k=top_k, rng=rng, source=source
        )
        generation.steps.append(chosen)
        if stop_id is not None and chosen.token_id == stop_id:
            break
    return generation
