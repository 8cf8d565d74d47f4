"""explain.generate and GenerateView: distributions, greedy/sampled generation, attention rows."""

from __future__ import annotations

import html

import numpy as np
import pytest

from explain.generate import choose, generate, next_token_logits, next_token_probs, step
from explain.tasks import CharTokenizer, WordTokenizer
from widgets import View
from widgets.generate import GenerateView


def reference_probs(logits, temperature, top_k):
    """softmax(logits / T) over the top-k logits, renormalised; plain numpy, written out."""
    logits = np.asarray(logits, dtype=np.float64)
    keep = np.argsort(logits)[::-1][:top_k] if top_k else np.arange(logits.size)
    out = np.zeros_like(logits)
    e = np.exp(logits[keep] / temperature - np.max(logits[keep] / temperature))
    out[keep] = e / e.sum()
    return out


@pytest.fixture
def char_model(make_model):
    """An untrained 11-token char model (q/k/v scaled so attention is far from uniform)."""
    return make_model(), CharTokenizer.from_text("abcdefghijk")


@pytest.mark.parametrize("temperature", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("top_k", [None, 1, 3, 11])
def test_next_token_probs_is_softmax_over_top_k(temperature, top_k):
    logits = np.random.default_rng(7).normal(size=11) * 3
    probs = next_token_probs(logits, temperature, top_k)
    np.testing.assert_allclose(probs, reference_probs(logits, temperature, top_k), rtol=1e-12)
    assert (probs > 0).sum() == (top_k or 11) and probs.sum() == pytest.approx(1.0)


def test_temperature_zero_is_greedy_and_bad_settings_raise():
    logits = np.array([0.5, 3.0, -1.0, 2.9])
    assert next_token_probs(logits, 0.0).tolist() == [0.0, 1.0, 0.0, 0.0]
    assert choose(next_token_probs(logits, 0.0), 0.0, rng=None) == 1
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        next_token_probs(logits, -1.0)
    with pytest.raises(ValueError, match=r"top_k must be at most the vocabulary size 4"):
        next_token_probs(logits, 1.0, top_k=5)
    with pytest.raises(ValueError, match=r"logits must have shape \[vocab\]"):
        next_token_probs(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="NaN or inf"):
        next_token_probs(np.array([np.nan, 1.0]))


def test_greedy_generation_equals_argmax_of_the_models_forward(char_model):
    import torch

    model, _ = char_model
    generation = generate(model, [1, 2, 3], 6, temperature=0.0)
    ids = [1, 2, 3]
    with torch.no_grad():
        for _ in range(6):
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    assert generation.ids == ids and generation.new_ids == ids[3:]


def test_sampling_is_seeded_and_respects_top_k(char_model):
    model, _ = char_model
    a = generate(model, [1, 2], 8, temperature=1.5, seed=3)
    b = generate(model, [1, 2], 8, temperature=1.5, seed=3)
    assert a.ids == b.ids
    one = generate(model, [1, 2], 8, temperature=5.0, top_k=1, seed=1)
    assert one.ids == generate(model, [1, 2], 8, temperature=0.0).ids
    for s in a.steps:
        assert s.probs[s.token_id] > 0


def test_attention_rows_and_the_sliding_window(char_model):
    import torch

    model, _ = char_model
    ids = [1, 2, 3, 4]
    logits, attention, start = next_token_logits(model, ids)
    _, cache = model.run_with_cache(torch.tensor([ids]))
    np.testing.assert_allclose(logits, cache["hook_logits"][0, -1].numpy(), rtol=1e-6)
    for layer in range(2):
        name = f"blocks.{layer}.attn.hook_pattern"
        np.testing.assert_allclose(attention[name], cache[name][0, :, -1].numpy(), rtol=1e-6)
    assert start == 0
    long = generate(model, [1] * 11, 4, temperature=0.0)  # context_length is 12
    assert [s.window_start for s in long.steps] == [0, 0, 1, 2]
    assert long.steps[-1].attention["blocks.0.attn.hook_pattern"].shape == (2, 12)
    with pytest.raises(ValueError, match=r"expected ids in \[0, 10\]"):
        step(model, [11])


def test_view_probabilities_follow_temperature_and_top_k(char_model):
    import torch

    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc")
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode("abc")]))[0, -1].double().numpy()
    view.temperature, view.top_k = 0.7, 3
    expected = reference_probs(logits, 0.7, 3)
    np.testing.assert_allclose(view.probabilities(), expected, rtol=1e-6)
    bars = view.bars.figure.data
    order = np.argsort(-logits)[: view.top_n]
    np.testing.assert_allclose(bars[1].y, expected[order], rtol=1e-6)
    np.testing.assert_allclose(bars[0].y, reference_probs(logits, 1.0, None)[order], rtol=1e-6)
    assert "T = 0.7, top-k = 3" in view.bars.figure.layout.title.text
    view.top_k = 0
    np.testing.assert_allclose(view.probabilities(), reference_probs(logits, 0.7, None), rtol=1e-6)
    with pytest.raises(ValueError, match="top_k"):
        view.top_k = 12


def test_view_steps_show_each_new_tokens_attention(char_model):
    import torch

    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=0.0)
    view.layer_select.value, view.head_select.value = 1, 1
    token = view.step()
    ids = tokenizer.encode("abc")
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.tensor([ids]))
    assert token == tokenizer.vocab[int(cache["hook_logits"][0, -1].argmax())]
    pattern = cache["blocks.1.attn.hook_pattern"][0, 1, -1].numpy()
    z = np.asarray(view.attention.figure.data[0].z, dtype=float)
    assert z.shape == (1, 3)
    np.testing.assert_allclose(z[0], pattern, rtol=1e-6)
    added = view.generate(3)
    assert len(view.ids) == 7 and view.text == "abc" + token + added
    z = np.asarray(view.attention.figure.data[0].z, dtype=float)
    assert z.shape == (4, 6) and np.isnan(z[0, 3:]).all()
    assert view.attention.figure.layout.yaxis.ticktext[0] == f"c → {token}"
    view.reset()
    assert view.ids == ids and view.attention.figure.data[0].z is None


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "Type a prompt to start: it is empty."),
        ("abcdefghijkab", "The prompt has 13 tokens, but this model reads at most 12"),
        ("abXc!", "'X' at position 2, '!' at position 4"),
    ],
)
def test_bad_prompts_show_a_message_not_an_exception(char_model, prompt, message):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt=prompt)  # must not raise
    assert message in view.error and message in html.unescape(view.message.value)
    assert view.step_button.disabled and view.step() is None
    assert len(view.bars.figure.data[1].y) == 0
    with pytest.raises(ValueError, match="no next token to show"):
        view.probabilities()
    view.prompt = "ab"
    assert view.error == "" and not view.step_button.disabled


def shown(view):
    """What the view's text, bars and attention map show, as plain comparable values."""
    bars, attention = view.bars.figure, view.attention.figure
    return {
        "text": view.text_html.value,
        "bars": [np.asarray(bar.y, dtype=float).tolist() for bar in bars.data],
        "bars title": bars.layout.title.text,
        "z": np.nan_to_num(np.asarray(attention.data[0].z, dtype=float), nan=-1.0).tolist(),
        "rows": list(attention.layout.yaxis.ticktext),
        "columns": list(attention.layout.xaxis.ticktext),
        "attention title": attention.layout.title.text,
    }


@pytest.mark.parametrize("prompt", ["", "abcdefghijkab", "abXc!"])
def test_a_rejected_prompt_leaves_the_view_as_it_was(char_model, prompt):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="ab", temperature=1.5, seed=4)
    first = view.generate(3)
    before = shown(view)
    view.prompt = prompt  # rejected: the message, and nothing else changes
    assert view.error and html.escape(view.error) in view.message.value
    assert shown(view) == before and view.text == "ab" + first
    assert view.step_button.disabled and view.more_button.disabled and view.step() is None
    view.prompt = "ab"  # back: the same view, and generation carries on where it was
    assert view.error == "" and view.message.value == "" and shown(view) == before
    assert not view.step_button.disabled
    second = view.generate(3)
    uninterrupted = GenerateView(model, tokenizer, prompt="ab", temperature=1.5, seed=4)
    assert first + second == uninterrupted.generate(6)  # the sampler's state was kept
    assert shown(view) == shown(uninterrupted)


def test_a_new_valid_prompt_after_a_rejected_one_starts_over(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="ab", temperature=0.0)
    view.generate(2)
    view.prompt = "aZ"
    view.prompt = "abc"
    assert view.error == "" and view.ids == tokenizer.encode("abc")
    assert view.attention.figure.data[0].z is None


def test_view_rejects_what_it_cannot_use(char_model):
    model, tokenizer = char_model
    with pytest.raises(ValueError, match="needs a tokenizer"):
        GenerateView(model)
    with pytest.raises(ValueError, match="TinyTransformer"):
        GenerateView("model", tokenizer)
    with pytest.raises(ValueError, match="tokenizer has 12 symbols"):
        GenerateView(model, CharTokenizer.from_text("abcdefghijkl"))


def test_encoder_decoder_generates_from_bos_with_cross_attention(make_model):
    import torch

    model = make_model(kind="encoder-decoder")
    tokenizer = WordTokenizer(["<pad>", "<bos>", "<eos>", *"abcdefgh"])
    view = GenerateView(model, tokenizer, prompt="a b c d", temperature=0.0)
    assert view.ids == [1]
    assert (
        list(view.part_select.options) == ["decoder", "cross"] and view.part_select.value == "cross"
    )
    view.step()
    source = torch.tensor([tokenizer.encode("a b c d")])
    _, cache = model.run_with_cache(torch.tensor([[1]]), source=source)
    view.part_select.value, view.layer_select.value = "cross", 1
    z = np.asarray(view.attention.figure.data[0].z, dtype=float)
    expected = cache["decoder.blocks.1.cross.hook_pattern"][0, 0, -1].numpy()
    np.testing.assert_allclose(z[0], expected, rtol=1e-6)
    assert view.attention.figure.layout.xaxis.ticktext == ("a", "b", "c", "d")
    view.generate(20)
    # it reads at most 12 tokens (its context) and writes one more: <eos>, or a 12th word
    assert view.step_button.disabled and view.step() is None
    ends = view.ids[-1] == tokenizer.vocab.index("<eos>")
    assert len(view.ids) == 13 or (ends and len(view.ids) <= 13), view.ids
    assert all(step.window_start == 0 for step in view.generation.steps)  # nothing dropped
    view.prompt = "   "
    assert "Type a source sentence" in view.error


def test_view_from_a_run_uses_its_task(reverse_run_small):
    view = GenerateView(reverse_run_small)
    assert view.prompt == "3 1 4 1 5 9 >"
    view.generate(3)
    assert len(view.generation.new_ids) == 3


def test_is_a_view_whose_step_is_a_method_that_generates(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=0.0, theme="dark")
    assert isinstance(view, View) and view.trace is None and view.step_control is None
    assert view.bars.figure.layout.paper_bgcolor == "#111111"
    assert view.plots == [view.bars, view.attention]
    token = view.step()  # the method generates one token (no snapshot step here)
    assert token in tokenizer.vocab and view.ids == [*tokenizer.encode("abc"), view.ids[-1]]
    assert view.text == "abc" + token and view.step() is not None and len(view.ids) == 5
    view.step_button.click()  # what the button does
    assert len(view.ids) == 6 and len(view.attention.figure.data[0].z) == 3
    view.refresh()  # the base's refresh redraws without a trace
    assert len(view.ids) == 6


def test_presentation_theme_sets_every_figure(char_model):
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc")
    view.step()
    view.set_theme("presentation")
    for plot in (view.bars, view.attention):
        assert plot.figure.layout.font.size == 20
        assert plot.widget.fig_layout["font"]["size"] == 20
    assert [bar.marker.color for bar in view.bars.figure.data] == ["#BBBBBB", "#0072B2"]
    assert view.attention.figure.data[0].colorscale[0][1] == "#440154"  # viridis
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        view.set_theme("neon")
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        GenerateView(model, tokenizer, theme="")
    assert GenerateView(model, tokenizer, theme=None).theme.name == "light"  # the default


def test_blank_tokens_are_labelled_with_the_projects_glyphs(make_model):
    model = make_model()
    tokenizer = CharTokenizer.from_text("abcdefgh \t\n")
    view = GenerateView(model, tokenizer, prompt="a \n\t", temperature=0.0)
    labels = set(view.bars.figure.layout.xaxis.ticktext)
    assert {"␣", "↵", "⇥"} <= labels and "⏎" not in labels
    view.step()
    assert view.attention.figure.layout.xaxis.ticktext == ("a", "␣", "↵", "⇥")


@pytest.fixture(scope="module")
def reverse_run_small():
    import explain

    model_config = explain.ModelConfig(
        vocab_size=11, d_model=16, n_layers=1, n_heads=2, d_mlp=32, context_length=12
    )
    train_config = explain.TrainConfig(steps=2, batch_size=4, eval_every=2)
    return explain.train("reverse", model_config=model_config, train_config=train_config)


def test_a_page_view_that_missed_updates_gets_the_whole_figure_again(char_model):
    """Each plot view reports the revision it holds when rendered (widgets/plot.js); a view
    behind the kernel's figure gets the whole figure sent again, one that is current nothing."""
    model, tokenizer = char_model
    view = GenerateView(model, tokenizer, prompt="abc", temperature=0.0)
    view.generate(3)
    plot = view.attention
    sent = []  # what goes to the page over the widget's comm (no kernel in this test)
    plot.widget.comm.send = lambda data=None, buffers=None, **_: sent.append((data, buffers))
    plot._handle_message(plot.widget, {"event": "view", "revision": plot.widget.revision}, [])
    assert sent == []
    plot._handle_message(plot.widget, {"event": "view", "revision": 0}, [])
    assert len(sent) == 1
    message, buffers = sent[0]
    state = message["state"]
    assert message["method"] == "update" and state["revision"] == plot.widget.revision
    assert state["fig_layout"]["title"]["text"] == "self attention · layer 0 head 0"
    z = np.asarray(plot.figure.data[0].z, dtype=np.float32)  # float32, as the builder draws it
    assert any(bytes(buffer) == z.tobytes() for buffer in buffers)  # the map's weights
