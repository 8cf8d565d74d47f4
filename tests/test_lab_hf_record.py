"""explain.lab.record_hf: a wrapped HuggingFace model studied into a trace, whose heads, lens and
pruning views open from the saved file with no model and no torch.

The references are direct calls of the lab functions on the same wrapped model (each checked
against the model's own numbers in test_lab_hf.py) and ``explain.adapters.from_hf`` for the
attention; the record holds them as the trace holds every number, to 9 significant digits
(``views.jsonable``), and must equal them so rounded. Models are tiny random-init ones from
test_lab_hf (nothing is downloaded).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when transformers is imported: never download
transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
torch = pytest.importorskip("torch")

from _no_torch import run_without_torch  # noqa: E402
from test_lab_hf import SPECIALS, WORDS, data, hf_model, wrapped  # noqa: E402

import explain  # noqa: E402
from explain import lab, views  # noqa: E402
from explain.adapters import from_hf  # noqa: E402
from explain.lab.hf_record import LENS_FULL_VOCAB, LENS_TOP  # noqa: E402

ARCHS = ["gpt2", "bert", "bart"]  # a decoder, an encoder, an encoder-decoder


def stored(value):
    """``value`` as the trace's metadata holds it: floats to 9 significant digits."""
    return views.jsonable(np.asarray(value) if isinstance(value, list) else value)


@pytest.mark.parametrize("arch", ARCHS)
def test_the_record_holds_what_the_lab_functions_return(arch):
    model, wrapper = wrapped(arch)
    texts = data(arch)
    trace = lab.record_hf(wrapper, texts, batch_size=2)
    record = trace.meta["lab"]
    kw = {"batch_size": 2}
    base = lab.evaluate(wrapper, texts, **kw)
    assert record["baseline"] == stored(base)
    gradient = lab.head_importance(wrapper, texts, **kw)
    assert record["importance"] == stored(gradient)
    ablation = lab.head_importance(wrapper, texts, "ablation", **kw)
    rise = np.asarray(record["ablation"]["loss"]) - record["baseline"]["loss"]
    np.testing.assert_allclose(rise, ablation, rtol=0, atol=1e-8)  # each rounded to 9 digits
    assert ablation.std() > 1e-4  # heads differ: a mix-up of two would show
    curve = lab.prune_curve(wrapper, texts, **kw)
    assert [tuple(pair) for pair in record["prune"]["order"]] == list(curve.order)
    assert record["prune"]["loss"] == stored(curve.loss)
    assert record["prune"]["accuracy"] == stored(curve.accuracy)
    assert (record["part"], record["texts"], record["batch_size"]) == (
        "decoder" if arch == "bart" else "self", len(texts), 2)  # fmt: skip
    first = texts[0] if arch != "bart" else texts[0][0]
    target = {"target_text": texts[0][1]} if arch == "bart" else {}
    direct = from_hf(model, wrapper.tokenizer, first, **target)
    assert sorted(trace.tensors) == sorted(direct.tensors)
    for name in direct.tensors:
        np.testing.assert_array_equal(trace.tensors[name], direct.tensors[name])
    if arch != "gpt2":  # attribution splits pre-norm decoders (post-LN BERT and BART: not sums)
        assert record["attribution"] is None
    else:  # every next token of the first text, as lab.attribute splits it
        ids = wrapper.encode(first)
        attribution = record["attribution"]
        assert attribution["positions"] == list(range(len(ids) - 1))
        names = wrapper.tokenizer.convert_ids_to_tokens(ids)
        assert attribution["tokens"] == names and attribution["targets"] == names[1:]
        for row, position in enumerate(attribution["positions"]):
            direct = lab.attribute(wrapper, ids, position, target=ids[position + 1])
            assert attribution["names"] == direct.names
            assert attribution["values"][row] == stored(direct.values)
            assert attribution["logits"][row] == stored(direct.logit)
            assert abs(sum(attribution["values"][row]) - direct.logit) < 1e-6
    if arch == "bart":
        assert record["lens"] is None  # the lens reads decoder-only and BERT models
        return
    lens = record["lens"]
    ids = wrapper.encode(first)
    assert lens["probs"] == stored(lab.logit_lens(wrapper, first))
    rows = [lab.saliency(wrapper, ids, p) for p in range(len(ids))]
    assert lens["saliency"] == stored(np.stack(rows))
    assert np.abs(lens["saliency"]).max() > 1e-3
    tokens = wrapper.tokenizer.convert_ids_to_tokens(ids)
    assert lens["tokens"] == tokens and lens["columns"] == list(range(wrapper.config.vocab_size))
    if arch == "gpt2":  # next token; the last position has none
        assert lens["targets"] == tokens[1:] + [""] and lens["mask"] == [True] * 8 + [False]
    else:  # BERT: each position's own token, [CLS] and [SEP] left out
        assert lens["targets"] == tokens and lens["mask"] == [False] + [True] * 9 + [False]


def test_a_large_vocabulary_keeps_the_columns_the_lens_shows():
    from tokenizers import Tokenizer, models, pre_tokenizers

    size = LENS_FULL_VOCAB + 100
    words = WORDS + [f"w{i}" for i in range(size - len(SPECIALS) - len(WORDS))]
    inner = Tokenizer(models.WordLevel({w: i for i, w in enumerate(SPECIALS + words)}, "[UNK]"))
    inner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=inner, unk_token="[UNK]",
                                               pad_token="[PAD]")  # fmt: skip
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, n_positions=32,
                                     vocab_size=size, initializer_range=0.3, bos_token_id=None,
                                     eos_token_id=None)  # fmt: skip
    wrapper = lab.wrap(transformers.GPT2LMHeadModel(config).double().eval(), tok)
    text = "the cat sat on the mat"
    trace = lab.record_hf(wrapper, [text, "a big red dog"])
    lens = trace.meta["lab"]["lens"]
    full = lab.logit_lens(wrapper, text)  # [layer + 1, pos, vocab]
    columns = np.asarray(lens["columns"])
    top = np.argsort(-full, axis=-1, kind="stable")[..., :LENS_TOP]
    assert set(top.ravel()) | set(wrapper.encode(text)[1:]) == set(columns)
    assert len(columns) < size / 4  # what the record saves
    assert lens["probs"] == stored(full[..., columns])
    assert lens["vocab"] == tok.convert_ids_to_tokens(columns.tolist())
    shown = views.lens(trace)
    best = full.argmax(-1)  # [layer + 1, pos]: the token each cell shows
    assert shown.top_token == [[tok.convert_ids_to_tokens(int(i)) for i in row] for row in best]
    np.testing.assert_allclose(shown.top_prob, full.max(-1), rtol=1e-8)  # 9 digits


def test_the_views_open_from_the_saved_trace_with_no_torch(tmp_path):
    _, gpt2 = wrapped("gpt2")
    trace = lab.record_hf(gpt2, data("gpt2"))
    path = trace.save(tmp_path / "gpt2.npz")
    _, bart = wrapped("bart")
    seq2seq = lab.record_hf(bart, data("bart")).save(tmp_path / "bart.npz")
    loaded = explain.load_trace(path)
    assert loaded.meta["lab"] == trace.meta["lab"]
    run_without_torch(
        """
        record = trace.meta["lab"]
        heads = widgets.HeadsView(trace)
        assert np.array_equal(heads.data.importance, np.asarray(record["importance"]))
        assert np.array_equal(heads.data.prune_loss, np.asarray(record["prune"]["loss"]))
        assert len(heads.data.roles) == 2 and heads.data.part == "self"
        lens = widgets.LensView(trace)
        assert np.array_equal(lens.data.probs, np.asarray(record["lens"]["probs"]))
        assert lens.data.tokens == record["lens"]["tokens"]
        assert lens.data.vocab[5:8] == ["the", "cat", "sat"], lens.data.vocab
        assert explain.views.pruning(trace).loss.tolist() == record["prune"]["loss"]
        def _shown(box):  # the widgets on screen: those under no display "none"
            found = [box]
            for child in getattr(box, "children", ()):
                if child.layout.display != "none":
                    found += _shown(child)
            return found

        # a model trained elsewhere: its one snapshot is no training step, so nothing names
        # "step 0" and the heads' scores over training (one point) are not shown
        assert heads.data.heading(0) == heads.data.title == "which heads matter"
        assert heads.step_control.only.layout.display == "none", heads.step_control.only.value
        assert lens.step_control.only.layout.display == "none", lens.step_control.only.value
        assert heads.scores is None and heads.pattern_select not in _shown(heads.widget)
        assert heads.grid.widget in _shown(heads.widget)
        assert len(explain.export.interactive(heads.data, "heads")) == 3  # no scores over time
        assert "lab.ablate(model" in heads.effect.value, heads.effect.value
        assert all("appeared at step" not in line for line in heads.data.circuits)
        attribution = widgets.AttributionView(trace)  # GPT-2's next tokens, split into parts
        assert np.allclose(attribution.data.bars().sum(), attribution.data.logit())
        assert "step" not in attribution.figures()[0]["layout"]["title"]["text"].split("<br>")[0]
        assert attribution.step_control.only.layout.display == "none"
        for view in (attribution, lens):  # the notes under them name no step either
            assert "step 0" not in view._note_html(), view._note_html()
        attention = widgets.AttentionView(trace)
        assert "step" not in attention.heatmap.figure.layout.title.text
        seq2seq = explain.load_trace(sys.argv[1].replace("gpt2", "bart"))
        assert widgets.HeadsView(seq2seq).data.part == "decoder"
        """,
        path,
    )
    assert seq2seq.exists()


def test_an_attribution_that_cannot_be_made_leaves_the_rest_of_the_record(monkeypatch, caplog):
    """A text of one token has no next token to split; a split that fails (a bfloat16 model's
    parts can miss its stream) is logged and leaves the heads and the lens measured."""
    from explain.lab import hf_record

    _, gpt2 = wrapped("gpt2")
    assert hf_record.text_attribution(gpt2, "cat") is None

    def fails(*args, **kwargs):
        raise RuntimeError("the parts miss the stream by 0.05")

    monkeypatch.setattr(hf_record, "text_attribution", fails)
    record = lab.record_hf(gpt2, data("gpt2")).meta["lab"]
    assert record["attribution"] is None and record["lens"] is not None
    assert len(record["importance"]) == 2
    assert "no attribution of GPT2LMHeadModel: the parts miss the stream" in caplog.text


def test_bad_input_is_refused_naming_it():
    _, gpt2 = wrapped("gpt2")
    with pytest.raises(ValueError, match="texts must hold at least one of the strings; got none"):
        lab.record_hf(gpt2, [])
    with pytest.raises(ValueError, match=r"texts\[0\] has 40 tokens; GPT2LMHeadModel reads at"):
        lab.record_hf(gpt2, [" ".join(["the"] * 40)])
    with pytest.raises(TypeError, match="record_hf records a HuggingFace model wrapped by "):
        lab.record_hf(hf_model("gpt2"), ["the cat sat"])
    with pytest.raises(ValueError, match=r"texts\[0\] must be a \(source, target\) pair"):
        lab.record_hf(wrapped("bart")[1], ["the cat sat"])
