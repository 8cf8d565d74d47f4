"""Tests for explain/tasks.py: tokenizers, batches, held-out splits, probes, accuracy."""

from __future__ import annotations

import subprocess
import sys
import zlib
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explain import tasks
from explain.tasks import Batch, CharTokenizer, WordTokenizer

ALL_TASKS = ["copy", "reverse", "sort", "induction", "text", "translate"]
DIGIT_TASKS = ["copy", "reverse", "sort"]
HASHED_TASKS = ["copy", "reverse", "sort", "induction", "translate"]
CORPUS_VOCAB = sorted(set(tasks.corpus()))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def crc_is_val(rows: np.ndarray) -> np.ndarray:
    """Independent reference for the split: crc32 of each int64 row, % 5 == 0 is val."""
    rows = np.asarray(rows, dtype=np.int64)
    return np.array([zlib.crc32(np.ascontiguousarray(r).tobytes()) % 5 == 0 for r in rows])


# --- tokenizers -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(CORPUS_VOCAB), max_size=200))
def test_char_tokenizer_round_trips_text_from_its_vocab(text: str) -> None:
    tok = CharTokenizer.from_text(tasks.corpus())
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["the", "cat", "sees", "a", "dog"]), max_size=20),
    st.sampled_from([" ", "  ", "\n", "\t "]),
)
def test_word_tokenizer_round_trips_up_to_whitespace(words: list[str], gap: str) -> None:
    tok = WordTokenizer.from_text("the cat sees a dog")
    assert tok.decode(tok.encode(gap.join(words))) == " ".join(words)


def test_from_text_puts_specials_first_then_sorted_symbols() -> None:
    tok = CharTokenizer.from_text("banana", specials=["<pad>"])
    assert tok.vocab == ["<pad>", "a", "b", "n"]
    assert tok.vocab_size == 4
    assert tok.encode("nab") == [3, 1, 2]
    words = WordTokenizer.from_text("b a c a", specials=["<bos>"])
    assert words.vocab == ["<bos>", "a", "b", "c"]


def test_unknown_character_error_names_symbol_position_and_vocab() -> None:
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="'z' at position 2") as info:
        tok.encode("abzc")
    assert "'a', 'b', 'c'" in str(info.value)
    assert "3 symbols" in str(info.value)


def test_unknown_word_error_names_word_and_word_position() -> None:
    tok = WordTokenizer.from_text("the cat sees a dog")
    with pytest.raises(ValueError, match="'bird' at position 3"):
        tok.encode("the cat sees bird")


def test_unknown_error_abbreviates_a_long_vocabulary() -> None:
    tok = CharTokenizer.from_text(tasks.corpus())
    with pytest.raises(ValueError, match=r"\.\.\.") as info:
        tok.encode("~")
    assert "'~'" in str(info.value)
    assert len(str(info.value)) < 300


def test_unk_maps_unknown_symbols_to_its_id() -> None:
    tok = CharTokenizer(list("abc"), unk="<unk>")
    assert tok.vocab == ["a", "b", "c", "<unk>"]
    assert tok.encode("azb?") == [0, 3, 1, 3]
    assert tok.decode(tok.encode("axc")) == "a<unk>c"
    words = WordTokenizer.from_text("the cat", specials=["<unk>"], unk="<unk>")
    assert words.encode("the bird") == [words.vocab.index("the"), words.vocab.index("<unk>")]


def test_decode_rejects_ids_outside_the_vocabulary() -> None:
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[7\]"):
        CharTokenizer(list("abc")).decode([0, 7])


def test_repeated_vocab_symbols_are_an_error() -> None:
    with pytest.raises(ValueError, match="'a'"):
        CharTokenizer(["a", "b", "a"])


# --- every task -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_TASKS)
def test_batch_shapes_dtypes_and_id_range(name: str) -> None:
    task = tasks.get(name)
    for split in ("train", "val"):
        b = task.batch(16, rng(), split=split)
        shape = (16, task.context_length)
        assert b.inputs.shape == b.targets.shape == b.mask.shape == shape
        assert b.inputs.dtype == b.targets.dtype == np.int64
        assert b.mask.dtype == np.bool_
        assert b.mask.any(axis=1).all()
        for ids in (b.inputs, b.targets):
            assert ids.min() >= 0 and ids.max() < task.vocab_size
        if task.kind == "encoder-decoder":
            assert b.source is not None and b.source.dtype == np.int64
            assert b.source.shape == (16, task.source_length)
        else:
            assert b.source is None and task.source_length is None
    assert task.vocab == task.tokenizer.vocab
    assert task.vocab_size == len(task.vocab)
    assert task.kind in ("decoder", "encoder-decoder")
    assert task.has_metric is True
    assert task.description.endswith(".") and task.description.count(". ") == 0


@pytest.mark.parametrize("name", [n for n in ALL_TASKS if n != "translate"])
def test_decoder_targets_are_inputs_shifted_by_one(name: str) -> None:
    task = tasks.get(name)
    b = task.batch(64, rng(1))
    full = np.concatenate([b.inputs, b.targets[:, -1:]], axis=1)  # the whole sequence
    np.testing.assert_array_equal(full[:, :-1], b.inputs)
    np.testing.assert_array_equal(full[:, 1:], b.targets)
    np.testing.assert_array_equal(b.inputs[:, 1:], b.targets[:, :-1])


@pytest.mark.parametrize("name", ALL_TASKS)
def test_same_seed_same_batches_and_other_seed_differs(name: str) -> None:
    task = tasks.get(name)
    for split in ("train", "val"):
        first, again = task.batch(32, rng(7), split), task.batch(32, rng(7), split)
        other = task.batch(32, rng(8), split)
        for field in ("inputs", "targets", "mask"):
            np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
        assert not np.array_equal(first.inputs, other.inputs)
    # consecutive draws from one generator move on
    g = rng(3)
    assert not np.array_equal(task.batch(8, g).inputs, task.batch(8, g).inputs)


@pytest.mark.parametrize("name", ALL_TASKS)
def test_probe_is_fixed_batch_of_one(name: str) -> None:
    task = tasks.get(name)
    first, again, fresh = task.probe(), task.probe(), tasks.get(name).probe()
    assert first.inputs.shape == (1, task.context_length)
    for field in ("inputs", "targets", "mask"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
        np.testing.assert_array_equal(getattr(first, field), getattr(fresh, field))
    assert task.probe_tokens() == [task.vocab[i] for i in first.inputs[0]]
    assert task.accuracy(first.targets, first) == 1.0


@pytest.mark.parametrize("name", ALL_TASKS)
def test_accuracy_counts_only_masked_positions(name: str) -> None:
    task = tasks.get(name)
    b = task.batch(10, rng(2))
    assert task.accuracy(b.targets.copy(), b) == 1.0

    wrong_masked = b.targets.copy()
    row, col = 3, int(np.flatnonzero(b.mask[3])[-1])
    wrong_masked[row, col] = (wrong_masked[row, col] + 1) % task.vocab_size
    expected = 1 - 1 / b.mask.sum() if name == "text" else 0.9  # per position vs exact match
    assert task.accuracy(wrong_masked, b) == pytest.approx(expected)

    if (~b.mask).any():
        wrong_unmasked = b.targets.copy()
        r, c = np.argwhere(~b.mask)[0]
        wrong_unmasked[r, c] = (wrong_unmasked[r, c] + 1) % task.vocab_size
        assert task.accuracy(wrong_unmasked, b) == 1.0

    with pytest.raises(ValueError, match=r"shape"):
        task.accuracy(b.targets[:, :-1], b)


def test_accuracy_is_exact_match_not_per_position() -> None:
    task = tasks.get("reverse")
    b = task.batch(4, rng())
    predictions = b.targets.copy()
    predictions[:, -1] = (predictions[:, -1] + 1) % task.vocab_size  # one digit wrong per row
    assert task.accuracy(predictions, b) == 0.0


# --- digit tasks ------------------------------------------------------------------------------


REFERENCE_ANSWER = {
    "copy": lambda xs: list(xs),
    "reverse": lambda xs: list(reversed(xs)),
    "sort": lambda xs: sorted(xs),
}


@pytest.mark.parametrize("name", DIGIT_TASKS)
@pytest.mark.parametrize("length", [2, 6, 9])
def test_digit_targets_are_really_copied_reversed_or_sorted(name: str, length: int) -> None:
    task = tasks.get(name, length=length)
    assert task.context_length == 2 * length
    b = task.batch(50, rng(length))
    for inputs, targets, mask in zip(b.inputs, b.targets, b.mask, strict=True):
        text = task.tokenizer.decode([*inputs, targets[-1]])
        before, after = text.split(" > ")
        xs, ys = [int(d) for d in before.split()], [int(d) for d in after.split()]
        assert len(xs) == len(ys) == length
        assert ys == REFERENCE_ANSWER[name](xs)
        # mask is True exactly where the target is one of y1..yn
        sep = list(inputs).index(task.vocab.index(">"))
        assert mask.tolist() == [j >= sep for j in range(len(mask))]
        assert [task.vocab[t] for t in targets[mask]] == [str(y) for y in ys]


@pytest.mark.parametrize("name", DIGIT_TASKS)
def test_digit_probe_reads_as_pi(name: str) -> None:
    task = tasks.get(name)
    probe = task.probe()
    full = task.tokenizer.decode([*probe.inputs[0], probe.targets[0, -1]])
    expected = {"copy": "3 1 4 1 5 9", "reverse": "9 5 1 4 1 3", "sort": "1 1 3 4 5 9"}[name]
    assert full == f"3 1 4 1 5 9 > {expected}"
    assert task.probe_source_tokens() is None


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "6", True])
def test_digit_task_rejects_bad_length(bad: object) -> None:
    with pytest.raises(ValueError, match=f"length must be.*got {bad!r}"):
        tasks.get("copy", length=bad)


# --- held-out split ---------------------------------------------------------------------------


def split_key(name: str, b: Batch) -> np.ndarray:
    """The sequence the split hashes, recovered from a batch."""
    if name == "translate":
        assert b.source is not None
        return b.source
    if name == "induction":  # the whole sequence: <bos>, the letters, the last target
        return np.concatenate([b.inputs, b.targets[:, -1:]], axis=1)
    return b.inputs[:, : tasks.get(name).context_length // 2]


@pytest.mark.parametrize("name", HASHED_TASKS)
def test_train_and_val_are_disjoint_by_hash(name: str) -> None:
    task = tasks.get(name)
    train, val = task.batch(2000, rng(11), "train"), task.batch(2000, rng(12), "val")
    assert not crc_is_val(split_key(name, train)).any()
    assert crc_is_val(split_key(name, val)).all()
    seen = {tuple(r) for r in split_key(name, train)}
    assert seen.isdisjoint(tuple(r) for r in split_key(name, val))
    # whole examples differ too, and val is not one repeated sequence
    train_rows = {r.tobytes() for r in train.inputs}
    if name != "translate":
        assert train_rows.isdisjoint(r.tobytes() for r in val.inputs)
    assert len({r.tobytes() for r in split_key(name, val)}) > 100


def test_text_val_windows_come_from_the_last_tenth() -> None:
    task = tasks.get("text")
    text = tasks.corpus()
    cut = int(len(text) * 0.9)
    for split, part in (("train", text[:cut]), ("val", text[cut:])):
        b = task.batch(200, rng(4), split)
        for inputs, targets in zip(b.inputs, b.targets, strict=True):
            window = task.tokenizer.decode([*inputs, targets[-1]])
            assert len(window) == task.context_length + 1
            assert window in part


def test_bad_split_and_batch_size_are_errors() -> None:
    task = tasks.get("copy")
    with pytest.raises(ValueError, match="'test'"):
        task.batch(4, rng(), split="test")
    with pytest.raises(ValueError, match="batch_size must be.*got 0"):
        task.batch(0, rng())


# --- induction --------------------------------------------------------------------------------


def find_run(sequence: list[int]) -> tuple[int, int]:
    """(start, n) of the repeated run in an induction sequence, by brute force: the letters seen
    twice, where their first copy begins (counted after <bos>)."""
    twice = [t for t in sequence if sequence.count(t) == 2]
    n = len(twice) // 2
    return sequence.index(twice[0]) - 1, n


def test_induction_repeats_a_run_at_a_random_place_and_masks_only_its_second_copy() -> None:
    task = tasks.get("induction")
    assert (task.context_length, task.vocab_size) == (20, 27)
    b = task.batch(500, rng(5))
    layouts = set()
    for inputs, targets, mask in zip(b.inputs, b.targets, b.mask, strict=True):
        full = [int(t) for t in [*inputs, targets[-1]]]  # <bos> + 20 letters
        assert task.vocab[full[0]] == "<bos>" and 0 not in full[1:]
        assert (
            max(full.count(t) for t in full) <= 2
        )  # a letter appears once, or twice if in the run
        start, n = find_run(full)
        assert 3 <= n <= 8
        first = full[1 + start : 1 + start + n]
        assert full[1 + start + n : 1 + start + 2 * n] == first  # the run again, right after
        assert len(set(full)) == len(full) - n  # every other letter is new
        # predictable: input positions of the second copy whose target is in it too
        second = range(1 + start + n, 1 + start + 2 * n - 1)
        assert mask.tolist() == [q in second for q in range(task.context_length)]
        for q in second:
            assert targets[q] == full[full.index(inputs[q]) + 1]  # what followed it before
        layouts.add((start, n))
    # the run's length and place vary, so its distance back is no fixed number of positions
    assert {n for _, n in layouts} == set(range(3, 9))
    assert {start for start, n in layouts if n == 3} == set(range(15))  # 0..20 - 2 * 3
    assert len(layouts) > 40


def test_induction_probe_is_readable() -> None:
    task = tasks.get("induction")
    probe = task.probe()
    tokens = task.probe_tokens()
    assert tokens[0] == "<bos>" and "".join(tokens[1:]) == "quickmaplemaplebrow"
    assert task.vocab[probe.targets[0, -1]] == "n"  # ... brown
    # the second "m a p l" predict "a p l e"; its "e" predicts the new "b"
    assert [tokens[q] for q in np.flatnonzero(probe.mask[0])] == list("mapl")
    assert [task.vocab[t] for t in probe.targets[0][probe.mask[0]]] == list("aple")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_length": 1}, r"min_length must be an int in \[2, 26\]; got 1"),
        ({"max_length": 2}, r"max_length must be an int in \[3, 14\]; got 2"),
        ({"context_length": 15}, r"context_length .* must be an int in \[16, 29\]; got 15"),
        ({"context_length": 30}, r"context_length .* must be an int in \[16, 29\]; got 30"),
    ],
)
def test_induction_rejects_lengths_that_do_not_fit(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tasks.get("induction", **kwargs)


@pytest.mark.parametrize(
    ("context_length", "min_length", "max_length"), [(6, 2, 3), (29, 3, 8), (32, 6, 10)]
)
def test_induction_other_sizes_still_repeat_one_run(
    context_length: int, min_length: int, max_length: int
) -> None:
    task = tasks.get(
        "induction", context_length=context_length, min_length=min_length, max_length=max_length
    )
    for b in (task.batch(200, rng(6)), task.probe()):
        assert b.inputs.shape[1] == context_length
        for inputs, targets in zip(b.inputs, b.targets, strict=True):
            full = [int(t) for t in [*inputs, targets[-1]]]
            start, n = find_run(full)
            assert min_length <= n <= max_length
            assert full[1 + start : 1 + start + n] == full[1 + start + n : 1 + start + 2 * n]


# --- text -------------------------------------------------------------------------------------


def test_corpus_files_ship_and_are_big_enough() -> None:
    data = resources.files("explain").joinpath("data")
    shakespeare = data.joinpath("shakespeare.txt").read_text(encoding="utf-8")
    assert len(shakespeare.encode("utf-8")) >= 20_000
    assert shakespeare.startswith("First Citizen:")
    pizza = data.joinpath("pizza.txt").read_text(encoding="utf-8")
    assert "I love to eat pizza." in pizza
    assert tasks.corpus().startswith(pizza)


def test_text_task_masks_everything_and_probes_the_pizza_sentence() -> None:
    task = tasks.get("text")
    assert task.context_length == 64
    assert task.batch(8, rng()).mask.all()
    probe = "".join(task.probe_tokens())
    assert probe.startswith("I love to eat pizza. Pizza is my favorite food.")


def test_text_task_takes_a_custom_text_and_checks_the_length() -> None:
    task = tasks.get("text", context_length=4, text="abcdefghij" * 10)
    assert task.vocab == list("abcdefghij")
    assert task.tokenizer.decode(task.batch(3, rng()).inputs[0]) in "abcdefghij" * 2
    with pytest.raises(ValueError, match="context_length.*got 500"):
        tasks.get("text", context_length=500, text="abcdefghij" * 10)


# --- translate --------------------------------------------------------------------------------

FRENCH = {"the": ("le", "la"), "a": ("un", "une"), "cat": "chat", "dog": "chien",
          "horse": "cheval", "duck": "canard", "rabbit": "lapin", "mouse": "souris",
          "cow": "vache", "hen": "poule", "sees": "voit", "eats": "mange", "likes": "aime",
          "chases": "chasse", "follows": "suit", "finds": "trouve", "red": ("rouge", "rouge"),
          "black": ("noir", "noire"), "green": ("vert", "verte"), "white": ("blanc", "blanche"),
          "blue": ("bleu", "bleue"), "grey": ("gris", "grise")}  # fmt: skip
FEMININE = {"mouse", "cow", "hen"}
ADJECTIVES = {"red", "black", "green", "white", "blue", "grey"}


def reference_french(english: list[str]) -> list[str]:
    """Word-by-word translation, moving each adjective after its noun with agreement."""
    out, i = [], 0
    while i < len(english):
        word = english[i]
        if word in ("the", "a"):
            has_adj = english[i + 1] in ADJECTIVES
            noun = english[i + 1 + has_adj]
            gender = int(noun in FEMININE)
            out += [FRENCH[word][gender], FRENCH[noun]]
            out += [FRENCH[english[i + 1]][gender]] if has_adj else []
            i += 2 + has_adj
        else:
            out.append(FRENCH[word])
            i += 1
    return out


def test_translate_matches_a_reference_translation_with_adjectives_after_nouns() -> None:
    task = tasks.get("translate")
    assert task.kind == "encoder-decoder"
    pad, eos, bos = (task.vocab.index(t) for t in ("<pad>", "<eos>", "<bos>"))
    b = task.batch(300, rng(9))
    assert b.source is not None
    swapped = 0
    for source, inputs, targets, mask in zip(b.source, b.inputs, b.targets, b.mask, strict=True):
        english = [task.vocab[i] for i in source if i != pad]
        assert list(source[len(english) :]) == [pad] * (len(source) - len(english))
        french = reference_french(english)
        assert [task.vocab[i] for i in targets[mask]] == [*french, "<eos>"]
        assert list(targets[~mask]) == [pad] * int((~mask).sum())
        assert mask.tolist() == [j <= len(french) for j in range(task.context_length)]
        assert inputs[0] == bos and list(inputs[1 : len(french) + 1]) == list(targets[mask][:-1])
        assert eos not in inputs
        for k, word in enumerate(english[:-1]):
            if word in ADJECTIVES:  # English "adj noun" becomes French "noun adj"
                noun, forms = FRENCH[english[k + 1]], FRENCH[word]
                pairs = list(zip(french, french[1:], strict=False))
                assert any(n == noun and f in forms for n, f in pairs)
                assert not any(f in forms and n == noun for f, n in pairs)
                swapped += 1
    assert swapped > 100


def test_translate_probe_is_a_fixed_readable_sentence() -> None:
    task = tasks.get("translate")
    assert task.probe_source_tokens() == "the black cat chases a white mouse".split()
    probe = task.probe()
    french = [task.vocab[i] for i in probe.targets[0][probe.mask[0]]]
    assert french == "le chat noir chasse une souris blanche <eos>".split()
    assert task.probe_tokens()[0] == "<bos>"


# --- registry ---------------------------------------------------------------------------------


def test_available_lists_every_builtin_task() -> None:
    assert set(ALL_TASKS) <= set(tasks.available())
    assert tasks.available() == sorted(tasks.available())
    for name in ALL_TASKS:
        assert tasks.get(name).name == name


def test_unknown_task_error_lists_available_names() -> None:
    with pytest.raises(ValueError, match="'nope'") as info:
        tasks.get("nope")
    for name in ALL_TASKS:
        assert name in str(info.value)


def test_register_adds_a_task_and_refuses_silent_replacement() -> None:
    tasks.register("copy3-test", lambda: tasks.CopyTask(length=3), overwrite=True)
    assert tasks.get("copy3-test").context_length == 6
    with pytest.raises(ValueError, match="'copy3-test'.*already"):
        tasks.register("copy3-test", lambda: tasks.CopyTask(length=4))


def test_tasks_module_does_not_import_torch() -> None:
    code = "import sys, explain.tasks; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_without_a_train_config_takes_the_tasks_recommended_training() -> None:
    import explain
    from explain.run import default_train_config

    induction = tasks.get("induction")
    recommended = explain.TrainConfig(steps=500, batch_size=128, lr=1e-2)
    assert default_train_config(induction) == recommended
    assert default_train_config(induction, lr=5e-3, seed=13).lr == 5e-3  # what is given wins
    assert default_train_config(tasks.get("copy")) == explain.TrainConfig()  # none recommended

    class Short(type(tasks.get("copy"))):
        recommended_train = {"steps": 3, "batch_size": 8}

    run = explain.train(Short())
    assert run.trainer.step == 3
    assert run.trace.meta["train_config"]["batch_size"] == 8
    given = explain.train(Short(), train_config=explain.TrainConfig(steps=2))  # used as it is
    assert given.trainer.step == 2 and given.trace.meta["train_config"]["batch_size"] == 64
