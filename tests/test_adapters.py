"""Tests for explain/adapters.py: attention into traces, HuggingFace models, bertviz pages."""

from __future__ import annotations

import html.parser
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when transformers is imported: never download

from explain.adapters import from_attentions, from_hf, to_bertviz, write_bertviz_html
from explain.trace import Trace

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<script>alert(1)</script>"
TOKENS = ["The", "Ġcat", XSS, "sat", "&amp;", "</script><b>x"]


def attention(rng: np.random.Generator, heads: int, q: int, k: int, causal: bool = False):
    """Random attention weights [1, heads, q, k]: rows on the simplex, zero above the diagonal."""
    weights = rng.dirichlet(np.full(k, 0.4), size=(1, heads, q))
    if causal:
        weights = np.tril(weights)
        weights /= weights.sum(-1, keepdims=True)
    return weights.astype(np.float32)


def decoder_layers(seed: int = 0, n_layers: int = 3, heads: int = 2, causal: bool = True):
    rng = np.random.default_rng(seed)
    return [attention(rng, heads, len(TOKENS), len(TOKENS), causal) for _ in range(n_layers)]


def encoder_decoder(seed: int = 1):
    rng = np.random.default_rng(seed)
    source, target = ["a", "b", XSS, "d"], ["x", "<y>", "z"]
    return dict(
        attentions=[attention(rng, 2, 3, 3, True) for _ in range(2)],
        encoder_attentions=[attention(rng, 2, 4, 4) for _ in range(2)],
        cross_attentions=[attention(rng, 2, 3, 4) for _ in range(2)],
        tokens=target,
        source_tokens=source,
    )


# -- from_attentions / to_bertviz ----------------------------------------------------------------
def test_decoder_round_trip_is_exact_and_named_like_ours():
    layers = decoder_layers()
    trace = from_attentions(layers, TOKENS)
    assert trace.attention_names() == [f"blocks.{i}.attn.hook_pattern" for i in range(3)]
    assert (trace.n_layers, trace.n_heads, trace.probe_tokens) == (3, 2, TOKENS)
    assert trace.meta["model_config"]["kind"] == "decoder" and trace.meta["model_config"]["causal"]
    np.testing.assert_array_equal(trace.tensor("blocks.1.attn.hook_pattern", 0), layers[1][0])
    attn, tokens = to_bertviz(trace, tensors=False)
    assert tokens == TOKENS and len(attn) == 3
    for got, want in zip(attn, layers, strict=True):
        assert got.dtype == np.float32 and got.shape == (1, 2, 6, 6) and got.flags.writeable
        np.testing.assert_array_equal(got, want)


def test_to_bertviz_gives_torch_tensors_unless_told_otherwise():
    torch = pytest.importorskip("torch")
    layers = decoder_layers()
    attn, tokens = to_bertviz(from_attentions(layers, TOKENS))
    assert tokens == TOKENS and len(attn) == 3
    for got, want in zip(attn, layers, strict=True):
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
        assert tuple(got.shape) == (1, 2, 6, 6) and got.device.type == "cpu"
        np.testing.assert_array_equal(got.numpy(), want)
    parts = to_bertviz(from_attentions(**encoder_decoder()), part="cross")
    assert isinstance(parts["cross_attention"][0], torch.Tensor)
    with pytest.raises(TypeError, match=r"tensors must be True \(torch\) or False.*got 'numpy'"):
        to_bertviz(from_attentions(layers, TOKENS), tensors="numpy")


def test_to_bertviz_without_torch_says_to_pass_tensors_false():
    script = """
import sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
import numpy as np
from explain.adapters import from_attentions, to_bertviz
trace = from_attentions([np.full((1, 1, 2, 2), 0.5, np.float32)], ["a", "b"])
attention, tokens = to_bertviz(trace, tensors=False)
assert type(attention[0]) is np.ndarray and tokens == ["a", "b"]
try:
    to_bertviz(trace)
except ImportError as error:
    print("ImportError:", error)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "ImportError: to_bertviz returns torch tensors" in result.stdout
    assert "pass tensors=False for numpy arrays" in result.stdout


def test_bidirectional_attention_is_an_encoder_and_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    layers = decoder_layers(causal=False)
    trace = from_attentions([torch.from_numpy(a).requires_grad_() for a in layers], TOKENS)
    assert trace.meta["model_config"]["kind"] == "encoder"
    assert not trace.meta["model_config"]["causal"]
    np.testing.assert_array_equal(to_bertviz(trace)[0][2], layers[2])
    half = from_attentions([torch.from_numpy(a).to(torch.bfloat16) for a in layers], TOKENS)
    want = torch.from_numpy(layers[0]).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(to_bertviz(half)[0][0], want)


def test_encoder_decoder_round_trip_and_parts():
    parts = encoder_decoder()
    trace = from_attentions(**parts, meta={"note": "kept", "model_config": {"d_model": 8}})
    assert trace.meta["model_config"] == {
        "n_layers": 2, "n_heads": 2, "kind": "encoder-decoder", "causal": True,
        "n_encoder_layers": 2, "n_encoder_heads": 2, "d_model": 8,
    }  # fmt: skip
    assert trace.meta["note"] == "kept" and trace.meta["probe"]["source_tokens"][2] == XSS
    assert "decoder.blocks.1.cross.hook_pattern" in trace.attention_names()
    out = to_bertviz(trace)
    assert out["encoder_tokens"] == parts["source_tokens"]
    assert out["decoder_tokens"] == parts["tokens"]
    for key, given in [("encoder", "encoder_"), ("decoder", ""), ("cross", "cross_")]:
        for got, want in zip(out[f"{key}_attention"], parts[f"{given}attentions"], strict=True):
            np.testing.assert_array_equal(got, want)
    cross = to_bertviz(trace, part="cross")
    assert set(cross) == {"cross_attention", "encoder_tokens", "decoder_tokens"}
    assert set(to_bertviz(trace, part="encoder")) == {"encoder_attention", "encoder_tokens"}


def test_to_bertviz_picks_the_nearest_snapshot_of_a_recorded_trace():
    rng = np.random.default_rng(3)
    patterns = np.stack([attention(rng, 2, 4, 4, True)[0] for _ in range(3)])  # [snap, h, q, k]
    meta = {"probe": {"tokens": ["a", "b", "c", "d"]}, "model_config": {"n_layers": 1}}
    trace = Trace.from_arrays(
        meta, [0, 10, 20], {}, [0, 10, 20], {"blocks.0.attn.hook_pattern": patterns}
    )
    np.testing.assert_array_equal(to_bertviz(trace)[0][0][0], patterns[2])  # default: the last
    np.testing.assert_array_equal(to_bertviz(trace, step=12)[0][0][0], patterns[1])
    with pytest.raises(ValueError, match="only for encoder-decoder"):
        to_bertviz(trace, part="cross")
    with pytest.raises(ValueError, match="no attention patterns"):
        to_bertviz(Trace.from_arrays(meta, [0], {}, [0], {"w": np.zeros((1, 2))}))
    with pytest.raises(ValueError, match="probe.tokens"):
        to_bertviz(
            Trace.from_arrays({}, [0], {}, [0], {"blocks.0.attn.hook_pattern": patterns[:1]})
        )
    short = {"probe": {"tokens": ["a", "b"]}}
    with pytest.raises(ValueError, match=r"4 query x 4 key positions; expected 2 x 2"):
        to_bertviz(
            Trace.from_arrays(short, [0], {}, [0], {"blocks.0.attn.hook_pattern": patterns[:1]})
        )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ls, t: (ls[:1] + [ls[1][:, :1]] + ls[2:], t), r"attentions\[1\] has shape"),
        (lambda ls, t: (ls, t[:-1]), r"attentions\[0\] has shape \(1, 2, 6, 6\); expected \(1, "),
        (lambda ls, t: ([np.concatenate([ls[0]] * 2)], t), r"batch 1"),
        (lambda ls, t: ([ls[0] * 2], t), r"sum to 1"),
        (lambda ls, t: ([ls[0] - 0.5], t), r"min -0\.5"),
        (lambda ls, t: ([np.where(ls[0] > 0, np.nan, 0)], t), r"NaN"),
        (lambda ls, t: ([], t), r"non-empty sequence"),
        (lambda ls, t: (np.stack(ls)[:, 0], t), r"got shape \(3, 2, 6, 6\)"),
        (lambda ls, t: (ls, [*t[:-1], 5]), r"tokens\[5\] must be a string; got int"),
        (lambda ls, t: ([ls[0].astype(np.int64)], t), r"must hold floats"),
    ],
)
def test_bad_attention_is_a_value_error_naming_it(change, message):
    layers, tokens = change(decoder_layers(), list(TOKENS))
    with pytest.raises(ValueError, match=message):
        from_attentions(layers, tokens)


def test_bad_encoder_decoder_input_is_a_value_error():
    parts = encoder_decoder()
    with pytest.raises(ValueError, match=r"missing \['source_tokens'\]"):
        from_attentions(**{**parts, "source_tokens": None})
    bad_cross = [parts["cross_attentions"][0].transpose(0, 1, 3, 2)] * 2
    with pytest.raises(ValueError, match=r"cross_attentions\[0\] has shape \(1, 2, 4, 3\)"):
        from_attentions(**{**parts, "cross_attentions": bad_cross})
    with pytest.raises(ValueError, match="cross_attentions has 1 layers; expected 2"):
        from_attentions(**{**parts, "cross_attentions": parts["cross_attentions"][:1]})
    with pytest.raises(ValueError, match="source_tokens is only for an encoder-decoder"):
        from_attentions(parts["attentions"], parts["tokens"], source_tokens=["a"])


def test_adapters_import_neither_torch_nor_transformers():
    code = (
        "import sys, explain.adapters; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("task", ["reverse", "translate"])
def test_to_bertviz_reads_a_trace_recorded_by_training(tmp_path, task):
    import explain

    trace = explain.train(task, train_config=explain.TrainConfig(steps=4)).trace
    out = to_bertviz(trace, step=2)
    snapshot = trace.at(2)
    if task == "reverse":
        attention, tokens = out
        want = [snapshot.tensors[f"blocks.{i}.attn.hook_pattern"] for i in range(trace.n_layers)]
        assert tokens == trace.probe_tokens
    else:
        attention = out["cross_attention"]
        want = [snapshot.tensors[f"decoder.blocks.{i}.cross.hook_pattern"] for i in (0, 1)]
        assert out["encoder_tokens"] == trace.meta["probe"]["source_tokens"]
        assert out["decoder_tokens"] == trace.probe_tokens
    for got, pattern in zip(attention, want, strict=True):
        np.testing.assert_array_equal(got[0], pattern)
    page = write_bertviz_html(trace, tmp_path / "m.html", "model", step=2).read_text()
    assert f"bertviz model view: {task}, step 2" in page


# -- bertviz pages -------------------------------------------------------------------------------
class Tags(html.parser.HTMLParser):
    """Records the start tags of a page and their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, list]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen.append((tag, attrs))


def _params(page: str) -> dict:
    """The params object bertviz's JS gets, parsed out of a page."""
    return json.loads(re.search(r"const params = (\{.*?\}); // HACK", page).group(1))


@pytest.mark.parametrize("view", ["head", "model"])
@pytest.mark.parametrize("kind", ["decoder", "encoder-decoder"])
def test_page_params_equal_what_bertviz_itself_builds(tmp_path, view, kind):
    pytest.importorskip("torch")
    bertviz = pytest.importorskip("bertviz")
    show = getattr(bertviz, f"{view}_view")
    options = {"display_mode": "light"} if view == "model" else {}
    # bertviz takes what to_bertviz gives as it is: no conversion by the caller.
    if kind == "decoder":
        trace = from_attentions(decoder_layers(), TOKENS)
        theirs = show(*to_bertviz(trace), html_action="return", **options)
    else:
        trace = from_attentions(**encoder_decoder())
        theirs = show(**to_bertviz(trace), html_action="return", **options)
    theirs = _params(theirs.data)
    ours = _params(write_bertviz_html(trace, tmp_path / "p.html", view).read_text())
    assert ours.pop("root_div_id").startswith("bertviz-")
    theirs.pop("root_div_id")
    assert ours == theirs  # same numbers, tokens (prettified, "Ġcat" -> " cat") and options


def test_page_is_standalone_escaped_and_written_atomically(tmp_path):
    path = tmp_path / "head.html"
    path.write_text("old")
    out = write_bertviz_html(from_attentions(decoder_layers(), TOKENS), path, "head")
    page = out.read_text()
    assert out == path and sorted(p.name for p in tmp_path.iterdir()) == ["head.html"]
    assert XSS not in page and "<b>x" not in page and "\\u003cscript\\u003e" in page
    tags = Tags()
    tags.feed(page)  # how a browser splits it: a token cannot end a script or add a tag
    assert [t for t, _ in tags.seen] == [
        "html", "head", "meta", "meta", "title", "body", "p", "div", "span", "select", "div",
        *["script"] * 5,  # jQuery, d3, require.js, the AMD bridge, bertviz's head_view.js
    ]  # fmt: skip
    assert not [a for _, attrs in tags.seen for a, _ in attrs if a in ("src", "href")]
    assert "default-src 'none'" in page
    assert _params(page)["attention"][0]["left_text"] == ["The", " cat", *TOKENS[2:]]
    again = write_bertviz_html(from_attentions(decoder_layers(), TOKENS), tmp_path / "b.html")
    assert again.read_text() == page  # deterministic
    with pytest.raises(ValueError, match="view must be one of"):
        write_bertviz_html(from_attentions(decoder_layers(), TOKENS), path, "neuron")
    assert path.read_text() == page


# -- HuggingFace models --------------------------------------------------------------------------
WORDS = ["the", "cat", "sat", "on", "mat", "dog", XSS]


@pytest.fixture(scope="module")
def hf():
    """(transformers, torch, make_tokenizer) with tiny local tokenizers; nothing downloaded."""
    transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    def make_tokenizer(wrap: bool):
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        vocab = {w: i for i, w in enumerate(specials + WORDS)}
        tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        if wrap:
            tokenizer.post_processor = processors.TemplateProcessing(
                single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
            )
        return transformers.PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]"
        )

    return transformers, torch, make_tokenizer


def _model(hf, name: str, **attn):
    transformers, torch, _ = hf
    torch.manual_seed(0)
    size = dict(vocab_size=len(WORDS) + 4, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    if name == "gpt2":
        config = transformers.GPT2Config(
            n_layer=2, n_head=2, n_embd=16, n_positions=32, **size, **attn
        )
        return transformers.GPT2LMHeadModel(config).eval()
    if name == "bert":
        config = transformers.BertConfig(
            num_hidden_layers=2, num_attention_heads=2, hidden_size=16, intermediate_size=32,
            max_position_embeddings=32, **size, **attn,
        )  # fmt: skip
        return transformers.BertModel(config).eval()
    if name == "bart":
        config = transformers.BartConfig(
            d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
            max_position_embeddings=32, decoder_start_token_id=2, **size, **attn,
        )  # fmt: skip
        return transformers.BartForConditionalGeneration(config).eval()
    config = transformers.T5Config(
        d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, decoder_start_token_id=0,
        **size, **attn,
    )  # fmt: skip
    return transformers.T5ForConditionalGeneration(config).eval()


TEXT = f"the cat {XSS} sat on the mat"


@pytest.mark.parametrize("name, kind", [("gpt2", "decoder"), ("bert", "encoder")])
def test_from_hf_self_attention_equals_the_models_own(hf, name, kind):
    _, torch, make_tokenizer = hf
    model, tokenizer = _model(hf, name, attn_implementation="eager"), make_tokenizer(name == "bert")
    trace = from_hf(model, tokenizer, TEXT)
    ids = tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        want = model(**ids, output_attentions=True).attentions
    assert trace.meta["model_config"]["kind"] == kind and trace.meta["model_config"]["n_heads"] == 2
    assert trace.probe_tokens == tokenizer.convert_ids_to_tokens(ids["input_ids"][0])
    assert XSS in trace.probe_tokens and trace.n_layers == 2
    attn, _ = to_bertviz(trace)
    for got, layer in zip(attn, want, strict=True):
        np.testing.assert_array_equal(got, layer.numpy())


def test_from_hf_gpt2_matches_attention_computed_by_hand(hf):
    """Layer 0 of GPT-2 from its weights in float64 numpy: LN, QK^T/sqrt(d), causal softmax."""
    _, torch, make_tokenizer = hf
    model, tokenizer = _model(hf, "gpt2", attn_implementation="eager"), make_tokenizer(False)
    trace = from_hf(model, tokenizer, TEXT)
    params = {k: v.double().numpy() for k, v in model.state_dict().items()}
    ids = np.array(trace.meta["probe"]["ids"])
    seq, heads, d_head = len(ids), 2, 8
    x = params["transformer.wte.weight"][ids] + params["transformer.wpe.weight"][:seq]
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    x = x * params["transformer.h.0.ln_1.weight"] + params["transformer.h.0.ln_1.bias"]
    qkv = (
        x @ params["transformer.h.0.attn.c_attn.weight"]
        + params["transformer.h.0.attn.c_attn.bias"]
    )
    q, k = (
        qkv[:, i * 16 : (i + 1) * 16].reshape(seq, heads, d_head).transpose(1, 0, 2) for i in (0, 1)
    )
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(d_head)  # [head, q_pos, k_pos]
    scores = np.where(np.tril(np.ones((seq, seq), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(trace.tensor("blocks.0.attn.hook_pattern", 0), weights, atol=1e-6)


def test_from_hf_switches_an_sdpa_model_to_eager_and_back(hf):
    _, _, make_tokenizer = hf
    model = _model(hf, "gpt2").train()  # default kernel: sdpa, which returns no weights
    assert model.config._attn_implementation == "sdpa"
    trace = from_hf(model, make_tokenizer(False), TEXT)
    assert model.config._attn_implementation == "sdpa" and model.training
    eager = from_hf(_model(hf, "gpt2", attn_implementation="eager"), make_tokenizer(False), TEXT)
    for name in eager.attention_names():
        np.testing.assert_allclose(trace.tensor(name, 0), eager.tensor(name, 0), atol=1e-6)


@pytest.mark.parametrize("name", ["bart", "t5"])
def test_from_hf_encoder_decoder_equals_the_models_own(hf, name):
    _, torch, make_tokenizer = hf
    model, tokenizer = _model(hf, name, attn_implementation="eager"), make_tokenizer(True)
    trace = from_hf(model, tokenizer, TEXT, target_text="the dog sat")
    source = tokenizer(TEXT, return_tensors="pt")
    target = tokenizer(text_target="the dog sat", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        want = model(**source, decoder_input_ids=target, output_attentions=True)
    assert trace.meta["model_config"]["kind"] == "encoder-decoder"
    assert trace.probe_tokens == ["[CLS]", "the", "dog", "sat", "[SEP]"]
    assert trace.meta["probe"]["source_tokens"][3] == XSS
    out = to_bertviz(trace)
    for key, layers in [
        ("encoder_attention", want.encoder_attentions),
        ("decoder_attention", want.decoder_attentions),
        ("cross_attention", want.cross_attentions),
    ]:
        for got, layer in zip(out[key], layers, strict=True):
            np.testing.assert_array_equal(got, layer.numpy())
    with pytest.raises(ValueError, match="pass target_text"):
        from_hf(model, tokenizer, TEXT)


# -- the pages in a real browser, offline --------------------------------------------------------
def open_offline(browser, path: pathlib.Path):
    """The page at `path` with every non-file request aborted; returns (page, events)."""
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    events: dict[str, list] = {"requests": [], "errors": [], "dialogs": []}

    def route(route):
        if route.request.url.startswith(("file:", "data:")):
            return route.continue_()
        events["requests"].append(route.request.url)
        return route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and events["errors"].append(m.text))
    page.on("pageerror", lambda error: events["errors"].append(str(error)))
    page.on("dialog", lambda dialog: (events["dialogs"].append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("#vis svg text", timeout=10_000)
    return page, events


def drawn_lines(page) -> list:
    """What bertviz binds to each line of the picture, one attention weight each: [head, left
    token, right token]."""
    return page.evaluate("[...document.querySelectorAll('#attention line')].map(l => l.__data__)")


def close_offline(page, events: dict[str, list], screenshot: str) -> None:
    """Save the page as test-artifacts/``screenshot``.png, check it fetched nothing and raised
    nothing, and close it."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{screenshot}.png", full_page=True)
    assert events == {"requests": [], "errors": [], "dialogs": []}
    page.close()


@pytest.mark.browser
def test_head_view_renders_offline_with_the_trace_numbers(browser, tmp_path):
    layers = decoder_layers()
    path = write_bertviz_html(from_attentions(layers, TOKENS), tmp_path / "head.html", "head")
    page, events = open_offline(browser, path)
    drawn = drawn_lines(page)
    np.testing.assert_array_equal(np.array(drawn).reshape(2, 6, 6), layers[0][0])
    texts = page.locator("#vis svg text").all_text_contents()
    assert texts == ["The", " cat", *TOKENS[2:]] * 2  # the XSS token shows as text
    page.select_option("#layer", "2")
    drawn = drawn_lines(page)
    np.testing.assert_array_equal(np.array(drawn).reshape(2, 6, 6), layers[2][0])
    close_offline(page, events, "bertviz-head")


@pytest.mark.browser
def test_model_view_renders_offline(browser, tmp_path):
    trace = from_attentions(decoder_layers(), TOKENS)
    page, events = open_offline(browser, write_bertviz_html(trace, tmp_path / "m.html", "model"))
    assert page.locator(".attn_background").count() == 3 * 2  # one thumbnail per layer x head
    assert page.locator("#vis svg line").count() == 3 * 2 * 6 * 6
    page.locator(".attn_background").first.click(force=True)  # opens the detail with tokens
    page.wait_for_selector(f"#vis svg text >> text={XSS}")
    texts = page.locator("#vis svg text").all_text_contents()
    assert texts.count(XSS) == 2 and "Layer 0, Head 0" in texts
    close_offline(page, events, "bertviz-model")


@pytest.mark.browser
def test_encoder_decoder_head_view_switches_parts(browser, tmp_path):
    parts = encoder_decoder()
    path = write_bertviz_html(from_attentions(**parts), tmp_path / "ed.html", "head")
    page, events = open_offline(browser, path)
    assert page.locator("#filter option").all_text_contents() == ["Encoder", "Decoder", "Cross"]
    assert page.locator("#vis svg text").all_text_contents() == parts["source_tokens"] * 2
    page.select_option("#filter", "2")
    texts = page.locator("#vis svg text").all_text_contents()
    assert texts == parts["tokens"] + parts["source_tokens"]  # queries left, keys right
    drawn = drawn_lines(page)
    np.testing.assert_array_equal(np.array(drawn).reshape(2, 3, 4), parts["cross_attentions"][0][0])
    close_offline(page, events, "bertviz-head-cross")
