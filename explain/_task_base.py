"""What every task is made of: tokenizers, the batch of token ids, and the Task base.

A task turns token sequences into next-token batches split by a hash of the sequence into
"train" and "val", and has a fixed probe to watch while a model learns. The tasks themselves and
their registry are in :mod:`explain.tasks`, which re-exports everything here.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

SPLITS = ("train", "val")
_TokenizerT = TypeVar("_TokenizerT", bound="_Tokenizer")


class _Tokenizer:
    """Maps symbols to ids (id = index in ``vocab``); subclasses say what a symbol is."""

    def __init__(self, vocab: Sequence[str], unk: str | None = None) -> None:
        vocab = list(vocab)
        if unk is not None and unk not in vocab:
            vocab.append(unk)
        duplicates = sorted(s for s, count in Counter(vocab).items() if count > 1)
        if duplicates:
            raise ValueError(f"vocabulary must not repeat symbols; got {duplicates} twice")
        self.vocab: list[str] = vocab
        self.unk = unk
        self._ids = {s: i for i, s in enumerate(vocab)}

    _split: Callable[[str], list[str]]  # text -> symbols
    _join: Callable[[Iterable[str]], str]  # symbols -> text

    @classmethod
    def from_text(
        cls: type[_TokenizerT], text: str, specials: Sequence[str] = (), unk: str | None = None
    ) -> _TokenizerT:
        """Vocabulary = ``specials`` (in order), then every other symbol of ``text``, sorted."""
        rest = sorted(set(cls._split(text)) - set(specials) - {unk})
        return cls([*specials, *rest], unk=unk)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        symbols = self._split(text)
        unknown = [(i, s) for i, s in enumerate(symbols) if s not in self._ids]
        if unknown and self.unk is None:
            where = ", ".join(f"{s!r} at position {i}" for i, s in unknown[:5])
            more = f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
            held = ", ".join(map(repr, self.vocab[:12])) + (", ..." * (self.vocab_size > 12))
            raise ValueError(
                f"unknown symbol(s) {where}{more}; the vocabulary holds {self.vocab_size} "
                f"symbols: {held}. Pass unk='<unk>' to map unknowns instead"
            )
        unk_id = self._ids.get(self.unk, -1) if self.unk is not None else -1
        return [self._ids.get(s, unk_id) for s in symbols]

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids must be in [0, {self.vocab_size}); got {bad[:5]}")
        return self._join(self.vocab[i] for i in ids)


class CharTokenizer(_Tokenizer):
    """One token per character; ``decode(encode(text)) == text``.

    A character outside the vocabulary raises ``ValueError`` naming it and its position,
    unless ``unk`` (e.g. ``"<unk>"``) was given: then it maps to the ``unk`` id (``unk`` is
    appended to the vocabulary if missing).

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.vocab, tok.encode("hole")
    (['e', 'h', 'l', 'o'], [1, 3, 2, 0])
    """

    _split = staticmethod(list)
    _join = staticmethod("".join)


class WordTokenizer(_Tokenizer):
    """One token per whitespace-separated word; decoding joins words with single spaces.

    Unknown words raise ``ValueError`` (naming the word and its word position) unless ``unk``
    was given, in which case they map to the ``unk`` id (appended to the vocabulary if missing).

    >>> tok = WordTokenizer.from_text("the cat sees the dog", specials=["<pad>"])
    >>> tok.decode(tok.encode("the  dog sees\\nthe cat"))
    'the dog sees the cat'
    """

    _split = staticmethod(str.split)
    _join = staticmethod(" ".join)


@dataclass(frozen=True)
class Batch:
    """Token ids for one step of next-token training."""

    inputs: np.ndarray  # int64 [batch, pos]     decoder input tokens
    targets: np.ndarray  # int64 [batch, pos]    next-token targets
    mask: np.ndarray  # bool [batch, pos]        positions that count for loss and accuracy
    source: np.ndarray | None = None  # int64 [batch, src_pos], encoder input (enc-dec only)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int if it is one in [low, high]; else a ValueError naming it."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):  # type: ignore[operator]
        wanted = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
        raise ValueError(f"{name} must be {wanted}; got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _check_predictions(predictions: np.ndarray, batch: Batch) -> np.ndarray:
    predictions = np.asarray(predictions)
    if predictions.shape != batch.targets.shape:
        raise ValueError(
            f"predictions must be argmax ids of shape [batch, pos] = {batch.targets.shape}; "
            f"got shape {predictions.shape}"
        )
    return predictions


def _in_split(rows: np.ndarray, split: str) -> np.ndarray:
    """Bool [rows]: which sequences belong to ``split`` (crc32 of the int64 row bytes)."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    hashes = np.fromiter((zlib.crc32(r.tobytes()) for r in rows), np.int64, len(rows))
    return (hashes % 5 == 0) == (split == "val")


class Task:
    """A tiny supervised task: sample batches, show a probe, score predictions."""

    name: str = ""
    kind: str = "decoder"  # "decoder" or "encoder-decoder"
    description: str = ""
    has_metric: bool = True
    context_length: int = 0  # length of Batch.inputs
    source_length: int | None = None  # length of Batch.source (encoder-decoder only)
    tokenizer: _Tokenizer

    @property
    def vocab(self) -> list[str]:
        return self.tokenizer.vocab

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def batch(self, batch_size: int, rng: np.random.Generator, split: str = "train") -> Batch:
        """``batch_size`` sequences of ``split`` ("train" or "val"), deterministic given ``rng``."""
        batch_size = _check_int("batch_size", batch_size, 1)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}; got {split!r}")
        return self._make_batch(self._draw_split(batch_size, rng, split))

    def _draw_split(self, n: int, rng: np.random.Generator, split: str) -> np.ndarray:
        # Draw extra rows and keep the split's own; ~80% / ~20% survive, so this rarely loops.
        kept: list[np.ndarray] = []
        for _ in range(200):
            rows = self._draw(max(2 * n, 16) if split == "train" else max(8 * n, 64), rng)
            kept.append(rows[_in_split(self._split_key(rows), split)])
            if sum(len(k) for k in kept) >= n:
                return np.concatenate(kept)[:n]
        raise RuntimeError(f"task {self.name!r} could not find {n} {split!r} sequences")

    def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """[count, ...] int64 rows, each determining one example."""
        raise NotImplementedError

    def _split_key(self, rows: np.ndarray) -> np.ndarray:
        """The input sequences [count, pos] whose hash decides the split of each row."""
        return rows

    def _make_batch(self, rows: np.ndarray) -> Batch:
        raise NotImplementedError

    def probe(self) -> Batch:
        """A fixed, human-readable example with batch size 1, the same on every call."""
        raise NotImplementedError

    def trace_meta(self) -> dict[str, str]:
        """What a trace says of the task (``trace.meta["task"]``): name, kind, description."""
        return {"name": self.name, "kind": self.kind, "description": self.description}

    def probe_tokens(self) -> list[str]:
        """Token strings of ``probe().inputs[0]``."""
        return [self.vocab[i] for i in self.probe().inputs[0]]

    def probe_source_tokens(self) -> list[str] | None:
        """Token strings of ``probe().source[0]``, or None for decoder-only tasks."""
        source = self.probe().source
        return None if source is None else [self.vocab[i] for i in source[0]]

    def corrupt(
        self, ids: Sequence[int] | np.ndarray, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """The standard corrupted twin of one sequence ``ids`` [pos]: int64 ids of the same
        length that break what the task's circuit reads, so the answers change (the clean run
        for activation patching is ``ids``, the corrupted run this; see
        :mod:`explain.lab.patching`). ``ids`` are the decoder's input (``probe().inputs[0]``),
        or, for an encoder-decoder task, the source (``probe().source[0]``). ``rng``: a numpy
        Generator or a seed (None: seed 0), so the twin is the same for the same seed. Each task
        says what it changes in its ``_corrupt``.

        >>> from explain.tasks import get
        >>> task = get("reverse")
        >>> " ".join(task.vocab[i] for i in task.corrupt(task.probe().inputs[0]))
        '1 4 9 5 3 1 > 1 3 5 9 4'
        """
        array = np.asarray(ids)
        if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
            raise ValueError(
                f"ids must be one sequence of integer token ids [pos]; got shape {array.shape} "
                f"and dtype {array.dtype}"
            )
        bad = array[(array < 0) | (array >= self.vocab_size)]
        if bad.size:
            raise ValueError(
                f"ids hold {bad[:5].tolist()}; task {self.name!r} has ids 0..{self.vocab_size - 1}"
            )
        if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
            rng = np.random.default_rng(0 if rng is None else int(rng))
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng must be a numpy Generator, an int seed or None; got {rng!r}")
        twin = np.asarray(self._corrupt(array.astype(np.int64), rng), dtype=np.int64)
        if twin.shape != array.shape:  # a subclass broke the promise: say so here
            raise RuntimeError(
                f"task {self.name!r} made a twin of shape {twin.shape}; expected {array.shape}"
            )
        return twin

    def _corrupt(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The corrupted twin of checked int64 ``ids`` [pos]; a task that has one overrides this."""
        raise NotImplementedError(
            f"task {self.name!r} ({type(self).__name__}) has no corrupted twin: define "
            f"{type(self).__name__}._corrupt(ids, rng) to say what breaks its circuit"
        )

    def accuracy(self, predictions: np.ndarray, batch: Batch) -> float:
        """Fraction of sequences whose masked positions are all predicted right (exact match).

        ``predictions`` are argmax ids [batch, pos]. Under teacher forcing, every masked position
        right is the same as greedy generation producing the exact answer, so this is a true
        exact-match score.

        >>> from explain.tasks import get
        >>> task = get("copy")
        >>> b = task.probe()
        >>> task.accuracy(b.targets, b)
        1.0
        """
        predictions = _check_predictions(predictions, batch)
        right = (predictions == batch.targets) | ~batch.mask  # [batch, pos]
        return float(right.all(axis=1).mean())


def _decoder_batch(sequences: np.ndarray, mask: np.ndarray) -> Batch:
    """Next-token batch from full sequences [batch, pos + 1]; ``mask`` is over targets."""
    sequences = sequences.astype(np.int64)
    return Batch(sequences[:, :-1].copy(), sequences[:, 1:].copy(), mask.astype(bool))
