"""Tokenizers and tiny tasks whose solutions show clear attention patterns.

Every task yields :class:`Batch` es of token ids for next-token training and has a fixed,
human-readable :meth:`Task.probe` example to look at while the model learns::

    >>> import numpy as np
    >>> task = get("reverse")
    >>> task.probe_tokens()
    ['3', '1', '4', '1', '5', '9', '>', '9', '5', '1', '4', '1']
    >>> task.batch(32, np.random.default_rng(0)).inputs.shape
    (32, 12)

Validation sequences are held out by a hash of the sequence (``zlib.crc32 % 5 == 0`` goes to
"val"), so "train" and "val" never share a sequence. The ``text`` corpus bundles an excerpt of
*Coriolanus* by William Shakespeare, public domain; excerpt as collected in tinyshakespeare
(karpathy/char-rnn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import ClassVar

import numpy as np

from ._task_base import (
    SPLITS,
    Batch,
    CharTokenizer,
    Task,
    WordTokenizer,
    _check_int,
    _check_predictions,
    _decoder_batch,
)

__all__ = [
    "SPLITS",
    "Batch",
    "CharTokenizer",
    "CopyTask",
    "DigitTask",
    "InductionTask",
    "ReverseTask",
    "SortTask",
    "Task",
    "TextTask",
    "TranslateTask",
    "WordTokenizer",
    "available",
    "corpus",
    "food_sentences",
    "get",
    "register",
]

_PI_DIGITS = "31415926535897932384626433832795"


class DigitTask(Task):
    """``x1..xn > y1..yn`` over digits 0-9, where ``y`` is a function of ``x``."""

    separator = ">"

    def __init__(self, length: int = 6) -> None:
        self.length = length = _check_int("length", length, 2)
        self.context_length = 2 * length
        self.tokenizer = WordTokenizer([*"0123456789", self.separator])

    answer: Callable[[np.ndarray], np.ndarray]  # y from x: [batch, n] -> [batch, n]

    def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 10, size=(count, self.length), dtype=np.int64)

    def _make_batch(self, rows: np.ndarray) -> Batch:
        sep = np.full((len(rows), 1), self.vocab.index(self.separator), dtype=np.int64)
        sequences = np.concatenate([rows, sep, self.answer(rows)], axis=1)  # [batch, 2n + 1]
        mask = np.zeros((len(rows), self.context_length), dtype=bool)
        mask[:, self.length :] = True  # targets y1..yn
        return _decoder_batch(sequences, mask)

    def probe(self) -> Batch:
        digits = np.resize([int(d) for d in _PI_DIGITS], self.length)[None]  # [1, n]
        return self._make_batch(digits.astype(np.int64))

    corrupt_permutes = True  # False: the answer ignores the digits' order (sort)

    def _corrupt(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``x' > answer(x')`` for digits x' whose answer differs from ``answer(x)`` at every
        answer position. copy and reverse permute x (the model finds each digit by position,
        so a digit moved is a digit lost), sort draws new digits (its answer ignores order).
        Where no permutation changes every answer digit (one digit fills more than half of x)
        new digits are drawn too; failing that, one digit x lacks, repeated."""
        n, separator = self.length, self.vocab.index(self.separator)
        if len(ids) != 2 * n or ids[n] != separator or (ids[:n] > 9).any():
            raise ValueError(
                f"{self.name} ids must be {n} digits, {self.separator!r}, then {n - 1} digits "
                f"({2 * n} tokens); got {[self.vocab[i] for i in ids]}"
            )
        digits = ids[:n]
        clean = self.answer(digits[None])[0]  # [n]
        for attempt in range(1000):
            permute = self.corrupt_permutes and attempt < 100
            twin = rng.permutation(digits) if permute else rng.integers(0, 10, n)
            if (self.answer(twin[None])[0] != clean).all():
                return self._make_batch(twin[None]).inputs[0]
        missing = np.setdiff1d(np.arange(10), digits)
        if not missing.size:
            raise ValueError(f"found no digits whose {self.name} answer differs from {clean}")
        return self._make_batch(np.full((1, n), rng.choice(missing))).inputs[0]


class CopyTask(DigitTask):
    name = "copy"
    description = "After the '>', repeat the digits before it in the same order."

    answer = staticmethod(np.copy)


class ReverseTask(DigitTask):
    name = "reverse"
    description = "After the '>', write the digits before it in reverse order."

    answer = staticmethod(lambda digits: digits[:, ::-1].copy())


class SortTask(DigitTask):
    name = "sort"
    description = "After the '>', write the digits before it sorted from smallest to largest."

    answer = staticmethod(lambda digits: np.sort(digits, axis=1))
    corrupt_permutes = False  # a permutation has the same sorted answer


class InductionTask(Task):
    """``<bos> q u i c k m a p l e m a p l e b r o w n``: a run of letters appears twice, at a
    random place, among letters that appear once.

    In the second copy each next letter can be predicted, and only there (every other letter is
    new): find where the current letter appeared before and copy the letter that followed it.
    The loss and the accuracy count exactly those positions (``mask``). The run's length n
    (``min_length``..``max_length``) and its start are drawn anew for every sequence, so the
    letter to copy is no fixed number of positions back and no single head can find it by
    position. A two-layer model has to learn the circuit of Olsson et al. (2022), "In-context
    learning and induction heads": a *previous-token head* in layer 0 writes into every position
    which letter came before it, and an *induction head* in layer 1 attends from the current
    letter to the position whose previous letter matches it (key composition: its keys read
    what the layer-0 head wrote) and copies the letter found there. When the run always started
    right after ``<bos>``, a layer-0 head could look a fixed n - 1 positions back instead, and
    no previous-token head formed (measured: scores <= 0.25).

    Letters are drawn without repeats apart from the run, so the answer is never ambiguous;
    this needs ``context_length - min_length <= 26``.

    ``recommended_model`` (applied by :func:`explain.run.default_model_config`) and
    ``recommended_train`` (``TrainConfig(**task.recommended_train)``) learn the circuit: RoPE
    positions (relative, so one previous-token head serves every position), d_model 32, 4 heads,
    d_mlp 64; 500 steps of 128 sequences at lr 0.01. Measured for seeds 0-11: validation
    accuracy 1.0, best layer-0 previous-token score 0.93-0.98, best layer-1 induction score
    0.82-1.00; both heads appear together (:func:`explain.analysis.emergence`: steps 90-290)
    as the loss falls off its plateau, a phase change (seed 0: loss 1.8 at steps 220-240, 0.07
    at 320-340, heads from steps 280 and 288). About 12 s on one CPU thread. The same model
    with sinusoidal or learned positions mostly stays on the plateau for 500 steps; with 2
    heads per layer it solves the task another way, with no previous-token head (<= 0.09).

    >>> task = get("induction")
    >>> "".join(task.probe_tokens()[1:]), task.context_length
    ('quickmaplemaplebrow', 20)
    """

    name = "induction"
    description = (
        "A run of letters appears twice among letters seen once; in the second copy, predict "
        "each next letter by finding where the current letter appeared before and copying what "
        "followed it."
    )
    letters = "abcdefghijklmnopqrstuvwxyz"
    probe_letters = "maplequickbrowndfghjstvxyz"  # the probe's run first, then its other letters
    recommended_model: ClassVar[dict[str, object]] = {  # ModelConfig fields, see above
        "positional": "rope",
        "d_model": 32,
        "n_heads": 4,
        "d_mlp": 64,
    }
    recommended_train: ClassVar[dict[str, object]] = {"steps": 500, "batch_size": 128, "lr": 1e-2}

    def __init__(self, context_length: int = 20, min_length: int = 3, max_length: int = 8) -> None:
        letters = len(self.letters)
        self.min_length = _check_int("min_length", min_length, 2, letters)
        most = (letters + self.min_length) // 2  # two runs fit among the distinct letters
        self.max_length = _check_int("max_length", max_length, self.min_length, most)
        name = (
            f"context_length (two runs of up to max_length={self.max_length} letters, at most "
            f"{letters} different letters)"
        )
        self.context_length = _check_int(
            name, context_length, 2 * self.max_length, letters + self.min_length
        )
        self.tokenizer = WordTokenizer(["<bos>", *self.letters])

    def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        length = self.context_length
        n = rng.integers(self.min_length, self.max_length + 1, size=(count, 1))  # run length
        start = rng.integers(0, length - 2 * n + 1)  # [count, 1]: letters before the run
        order = rng.random((count, len(self.letters))).argsort(axis=1)  # letter order per row
        # order[:, :n] is the run; order[:, n:] the letters seen once, before and after it.
        j = np.arange(length)  # position after <bos>
        before, first, second = j < start, j < start + n, j < start + 2 * n  # [count, T]
        pick = np.select([before, first, second], [n + j, j - start, j - start - n], j - n)
        letters = np.take_along_axis(order, pick, axis=1) + 1  # ids 1..26 are the letters
        bos = np.zeros((count, 1), dtype=np.int64)
        return np.concatenate([bos, letters], axis=1).astype(np.int64)  # [count, T + 1]

    def _make_batch(self, rows: np.ndarray) -> Batch:
        inputs, targets = rows[:, :-1], rows[:, 1:]  # [batch, T]
        earlier = np.tril(inputs[:, :, None] == inputs[:, None, :], k=-1)  # [batch, q, p], p < q
        seen = earlier.any(axis=2)  # the current letter appeared before
        after = np.take_along_axis(rows, earlier.argmax(axis=2) + 1, axis=1)  # what followed it
        # The run's last letter in the second copy is followed by a new letter: not predictable.
        return _decoder_batch(rows, seen & (after == targets))

    def probe(self) -> Batch:
        room = self.context_length
        size = min(max(5, self.min_length), self.max_length)  # "maple" unless the run can't be
        run, others = self.probe_letters[:size], self.probe_letters[size:]
        before = others[: min(5, room - 2 * size)]  # "quick"
        after = others[len(before) : room - 2 * size]  # "brown"
        text = " ".join(["<bos>", *before, *run, *run, *after])
        return self._make_batch(np.array([self.tokenizer.encode(text)]))

    def _corrupt(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The first copy of the repeated run permuted so that each letter of the run is
        followed by another letter than in ``ids``: at every answer position of the second copy
        an induction head still finds the current letter earlier, but copies a different
        letter. The letters, the second copy and the letters around the run stay where they
        are. (Replacing the first copy by new letters would leave no letter to copy at all, so
        no "corrupted answer" to compare the clean one with.)"""
        earlier = np.tril(ids[:, None] == ids[None, :], k=-1)  # [q, p]: p < q, same letter
        repeats = np.flatnonzero(earlier.any(axis=1))
        letters = " ".join(self.vocab[i] for i in ids)
        if not repeats.size:
            raise ValueError(f"induction ids hold no repeated run of letters; got {letters!r}")
        second = int(repeats[0])  # the second copy starts here
        start = int(earlier[second].argmax())  # ... and the first one here
        run, shown = ids[start:second], min(second - start, len(ids) - second)  # [n]
        if len(run) < 2 or not np.array_equal(ids[second : second + shown], run[:shown]):
            raise ValueError(f"induction ids must repeat one run of >= 2 letters; got {letters!r}")
        order = np.arange(len(run))[::-1]  # reversed: always works, the fallback
        for _ in range(100):
            candidate = rng.permutation(len(run))
            first = run[candidate]  # [n], the permuted first copy
            follows = np.append(first[1:], ids[second])  # what follows each letter of it
            where = np.argsort(candidate)  # run[i] sits at first[where[i]]
            if (follows[where[:-1]] != run[1:]).all():
                order = candidate
                break
        twin = ids.copy()
        twin[start:second] = run[order]
        return twin


def _read_data(filename: str) -> str:
    data = resources.files("explain").joinpath("data")
    return data.joinpath(filename).read_text(encoding="utf-8")


def corpus() -> str:
    """The bundled text: the pizza sentences, a blank line, then the Shakespeare excerpt."""
    return _read_data("pizza.txt") + "\n" + _read_data("shakespeare.txt")


def food_sentences() -> str:
    """A dozen short sentences about food, for fine-tuning a model pre-trained on :func:`corpus`.

    Every character is in the corpus's vocabulary, so ``TextTask(text=food_sentences(),
    vocab=TextTask().vocab)`` numbers its characters as the pre-trained model does. Recipe
    (``tests/test_finetune_text.py``): pre-train ``TextTask(context_length=32)`` for 300 steps,
    then fine-tune on the food task (same context length, so the trace continues as a second
    phase) for 200 steps with ``init=`` the pre-trained run. The greedy completion of
    ``"I love to eat "`` goes from ``"the the the the"`` to ``"fresh bread and warm soup."``
    (seeds 0-2; measured 11-18 s + 7-14 s on one CPU thread, default model and TrainConfig).
    """
    return _read_data("food.txt")


class TextTask(Task):
    """Character-level next-character prediction on a corpus (default: :func:`corpus`).

    Windows of ``context_length + 1`` characters; "val" windows come from the last 10% of the
    corpus and "train" windows from the rest, so they never overlap.

    ``vocab`` fixes the characters and their ids (default: the sorted characters of ``text``).
    A fine-tuning task passes the pre-trained task's, so the ids mean the same characters:

    >>> base = TextTask(context_length=32)
    >>> food = TextTask(context_length=32, text=food_sentences(), vocab=base.vocab)
    >>> food.vocab == base.vocab
    True
    """

    name = "text"
    description = "Predict the next character of English text from the characters before it."

    def __init__(
        self, context_length: int = 64, text: str | None = None, vocab: Sequence[str] | None = None
    ) -> None:
        self.text = corpus() if text is None else text
        if vocab is None:
            self.tokenizer = CharTokenizer.from_text(self.text)
        else:
            self.tokenizer = CharTokenizer(vocab)
            missing = sorted(set(self.text) - set(self.tokenizer.vocab))
            if missing:
                raise ValueError(
                    f"the text has characters {missing} that the given vocabulary lacks; "
                    f"it holds {''.join(self.tokenizer.vocab)!r}"
                )
        self.data = np.array(self.tokenizer.encode(self.text), dtype=np.int64)  # [chars]
        self.val_start = int(len(self.data) * 0.9)
        shortest = min(self.val_start, len(self.data) - self.val_start)
        name = f"context_length (for {len(self.data)} characters, 10% of them val)"
        self.context_length = _check_int(name, context_length, 1, shortest - 1)

    def _draw_split(self, n: int, rng: np.random.Generator, split: str) -> np.ndarray:
        # Window starts [n]; every window lies wholly inside its split's part of the text.
        lo, hi = (0, self.val_start) if split == "train" else (self.val_start, len(self.data))
        return rng.integers(lo, hi - self.context_length, size=n)

    def _make_batch(self, rows: np.ndarray) -> Batch:
        windows = self.data[rows[:, None] + np.arange(self.context_length + 1)]  # [batch, L + 1]
        return _decoder_batch(windows, np.ones((len(rows), self.context_length), dtype=bool))

    def probe(self) -> Batch:
        return self._make_batch(np.array([0]))

    def _corrupt(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The same characters in another order (``rng``'s permutation): which characters occur
        stays, the context each prediction reads does not. Text has no single circuit to break;
        most next-character predictions change."""
        return rng.permutation(ids)

    def accuracy(self, predictions: np.ndarray, batch: Batch) -> float:
        """Mean next-character accuracy over masked positions (not exact match: text has no
        single right continuation).

        >>> task = get("text")
        >>> b = task.probe()
        >>> task.accuracy(b.targets, b)
        1.0
        """
        predictions = _check_predictions(predictions, batch)
        return float((predictions == batch.targets)[batch.mask].mean())


# Toy English -> French grammar. French puts colour adjectives after the noun and agrees them
# (and the article) with the noun's gender, so cross-attention is neither diagonal nor 1:1.
_DETERMINERS = {"the": ("le", "la"), "a": ("un", "une")}  # (masculine, feminine)
_NOUNS = {"cat": ("chat", 0), "dog": ("chien", 0), "horse": ("cheval", 0),
          "duck": ("canard", 0), "rabbit": ("lapin", 0), "mouse": ("souris", 1),
          "cow": ("vache", 1), "hen": ("poule", 1)}  # fmt: skip
_ADJECTIVES = {"red": ("rouge", "rouge"), "black": ("noir", "noire"), "green": ("vert", "verte"),
               "white": ("blanc", "blanche"), "blue": ("bleu", "bleue"),
               "grey": ("gris", "grise")}  # fmt: skip
_VERBS = {"sees": "voit", "eats": "mange", "likes": "aime", "chases": "chasse",
          "follows": "suit", "finds": "trouve"}  # fmt: skip


class TranslateTask(Task):
    """Encoder-decoder toy translation: ``det [adj] noun verb det [adj] noun`` into French.

    >>> task = get("translate")
    >>> " ".join(task.probe_source_tokens()).replace(" <pad>", "")
    'the black cat chases a white mouse'
    """

    name = "translate"
    kind = "encoder-decoder"
    description = (
        "Translate a short English sentence into French, where colour words move after the "
        "noun and change with its gender."
    )
    probe_sentence = "the black cat chases a white mouse"

    def __init__(self) -> None:
        french = {w for pair in _DETERMINERS.values() for w in pair}
        french |= {w for w, _ in _NOUNS.values()} | set(_VERBS.values())
        french |= {w for pair in _ADJECTIVES.values() for w in pair}
        english = [*_DETERMINERS, *_NOUNS, *_ADJECTIVES, *_VERBS]
        self.tokenizer = WordTokenizer(["<pad>", "<bos>", "<eos>", *sorted(set(english) | french)])
        self.pad, self.bos, self.eos = 0, 1, 2
        self.source_length = 7  # det adj noun verb det adj noun
        self.context_length = 8  # <bos> + up to 7 French words
        ids = {w: i for i, w in enumerate(self.tokenizer.vocab)}
        # Lookup tables indexed by choice (and gender); adjective choice 0 means "none" (pad).
        self._en_det = np.array([ids[w] for w in _DETERMINERS])
        self._fr_det = np.array([[ids[m], ids[f]] for m, f in _DETERMINERS.values()])
        self._en_noun = np.array([ids[w] for w in _NOUNS])
        self._fr_noun = np.array([ids[w] for w, _ in _NOUNS.values()])
        self._gender = np.array([g for _, g in _NOUNS.values()])
        self._en_adj = np.array([self.pad, *(ids[w] for w in _ADJECTIVES)])
        self._fr_adj = np.array([[self.pad, self.pad], *([ids[m], ids[f]]
                                 for m, f in _ADJECTIVES.values())])  # fmt: skip
        self._en_verb = np.array([ids[w] for w in _VERBS])
        self._fr_verb = np.array([ids[w] for w in _VERBS.values()])

    def _draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        # Choices [count, 7]: det, adj (0 = none), noun, verb, det, adj, noun.
        sizes = [len(_DETERMINERS), len(_ADJECTIVES) + 1, len(_NOUNS), len(_VERBS)]
        return np.stack([rng.integers(0, sizes[i], count) for i in (0, 1, 2, 3, 0, 1, 2)], 1)

    def _split_key(self, rows: np.ndarray) -> np.ndarray:
        return self._source(rows)

    def _source(self, choices: np.ndarray) -> np.ndarray:
        det1, adj1, noun1, verb, det2, adj2, noun2 = choices.T
        english = np.stack([self._en_det[det1], self._en_adj[adj1], self._en_noun[noun1],
                            self._en_verb[verb], self._en_det[det2], self._en_adj[adj2],
                            self._en_noun[noun2]], axis=1)  # fmt: skip
        return _pack_left(english, self.pad)  # [batch, 7], missing adjectives squeezed out

    def _make_batch(self, rows: np.ndarray) -> Batch:
        det1, adj1, noun1, verb, det2, adj2, noun2 = rows.T
        g1, g2 = self._gender[noun1], self._gender[noun2]
        french = np.stack([self._fr_det[det1, g1], self._fr_noun[noun1], self._fr_adj[adj1, g1],
                           self._fr_verb[verb], self._fr_det[det2, g2], self._fr_noun[noun2],
                           self._fr_adj[adj2, g2]], axis=1)  # fmt: skip
        french = _pack_left(french, self.pad)  # [batch, 7]
        lengths = (french != self.pad).sum(axis=1)  # [batch]
        bos = np.full((len(rows), 1), self.bos, dtype=np.int64)
        inputs = np.concatenate([bos, french], axis=1)  # [batch, 8]
        targets = np.concatenate([french, np.full_like(bos, self.pad)], axis=1)  # [batch, 8]
        targets[np.arange(len(rows)), lengths] = self.eos
        return Batch(inputs, targets, targets != self.pad, self._source(rows).astype(np.int64))

    def probe(self) -> Batch:
        # The probe sentence's words as choice indices, slot by slot (as _draw makes them).
        slots = [list(_DETERMINERS), ["", *_ADJECTIVES], list(_NOUNS), list(_VERBS)]
        words = self.probe_sentence.split()
        choices = [slots[s].index(w) for s, w in zip((0, 1, 2, 3, 0, 1, 2), words, strict=True)]
        return self._make_batch(np.array([choices]))

    def _corrupt(self, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``ids`` are the source (English): each noun replaced by one of the other gender
        (drawn with ``rng``), so the French noun changes and with it the article and adjective
        that agree with it; cross-attention must find the new noun to get them right."""
        nouns = np.flatnonzero(np.isin(ids, self._en_noun))
        if not nouns.size:
            english = " ".join(self.vocab[i] for i in ids)
            raise ValueError(f"translate ids are the English source; got no noun in {english!r}")
        twin = ids.copy()
        for i in nouns:
            gender = self._gender[np.flatnonzero(self._en_noun == ids[i])[0]]
            twin[i] = rng.choice(self._en_noun[self._gender != gender])
        return twin


def _pack_left(slots: np.ndarray, pad: int = 0) -> np.ndarray:
    """Move the ``pad`` entries of each row to its end, keeping the order of the rest."""
    order = np.argsort(slots == pad, axis=1, kind="stable")
    return np.take_along_axis(slots, order, axis=1)


_REGISTRY: dict[str, Callable[..., Task]] = {}


def register(name: str, factory: Callable[..., Task], overwrite: bool = False) -> None:
    """Make ``get(name, **kwargs)`` call ``factory(**kwargs)``.

    >>> register("copy8", lambda: CopyTask(length=8), overwrite=True)
    >>> get("copy8").context_length
    16
    """
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"task {name!r} is already registered; pass overwrite=True to replace")
    _REGISTRY[name] = factory


def available() -> list[str]:
    """Registered task names, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs: object) -> Task:
    """A new task by name, e.g. ``get("sort", length=8)``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](**kwargs)


for _cls in (CopyTask, ReverseTask, SortTask, InductionTask, TextTask, TranslateTask):
    register(_cls.name, _cls)
