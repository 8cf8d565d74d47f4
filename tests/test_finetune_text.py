"""The text-generation project: pre-train on the corpus, fine-tune on food sentences, and see
the greedy completion of "I love to eat " change (explain/tasks.py: TextTask, food_sentences)."""

from __future__ import annotations

import re

import pytest

import explain
from explain import TrainConfig
from explain.generate import generate
from explain.tasks import TextTask, corpus, food_sentences

PROMPT = "I love to eat "


def _greedy(run: explain.Run, new_characters: int = 30) -> str:
    tokenizer = run.task.tokenizer
    generation = generate(run.model, tokenizer.encode(PROMPT), new_characters, temperature=0)
    return tokenizer.decode(generation.ids)[len(PROMPT) :]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{3,}", text.lower()))


@pytest.fixture(scope="module")
def runs() -> tuple[explain.Run, explain.Run]:
    # The recipe of food_sentences(): ~30 s on one CPU thread together.
    base = TextTask(context_length=32)
    pre = explain.train(base, train_config=TrainConfig(steps=300, seed=0))
    food = TextTask(context_length=32, text=food_sentences(), vocab=base.vocab)
    tuned = explain.train(food, train_config=TrainConfig(steps=200, seed=0), init=pre)
    return pre, tuned


def test_food_sentences_fit_the_corpus_vocabulary():
    assert set(food_sentences()) <= set(TextTask().vocab)
    assert len(food_sentences().splitlines()) >= 12


def test_a_text_outside_the_given_vocabulary_names_the_missing_characters():
    with pytest.raises(ValueError, match=r"characters \['X', 'Z'\] that the given vocabulary"):
        TextTask(context_length=4, text="Zebra and Xmas cake " * 3, vocab=TextTask().vocab)


@pytest.mark.slow
def test_fine_tuning_on_food_changes_the_greedy_completion(runs):
    pre, tuned = runs
    before, after = _greedy(pre), _greedy(tuned)
    assert before != after
    food_only = _words(food_sentences()) - _words(corpus())  # words only the food text has
    assert _words(after) & food_only, (before, after)
    assert [phase["name"] for phase in tuned.trace.meta["phases"]] == [
        "pre-training",
        "fine-tuning",
    ]
    assert tuned.trace.meta["phases"][1]["first_step"] == 300


@pytest.mark.slow
def test_generate_view_completes_the_prompt_with_the_fine_tuned_run(runs):
    from widgets import GenerateView

    view = GenerateView(runs[1], prompt=PROMPT, temperature=0.0)
    for _ in range(5):
        view.step()
    assert view.text.startswith(PROMPT)
    assert len(view.text) == len(PROMPT) + 5
    assert view.text[len(PROMPT) :] == _greedy(runs[1], 5)
