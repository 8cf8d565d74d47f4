"""``explain lab --hf DIR_OR_NAME --text FILE``: a HuggingFace model's heads measured into one
offline HTML report, loaded from a local copy with nothing fetched.

Models are tiny ones written with save_pretrained into a temporary directory: a random GPT-2
and BART (test_lab_hf's) and a reverse run exported with to_hf (GPT-NeoX: rope). The command
runs in-process through ``explain.cli.main`` (as test_cli.py runs it) with every socket
blocked; the report's importance grid must hold what ``lab.record_hf`` measures on the model
loaded back.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when transformers is imported: never download
transformers = pytest.importorskip("transformers", reason="transformers is a test extra")
torch = pytest.importorskip("torch")

from _export_traces import OfflinePage  # noqa: E402
from test_cli import run  # noqa: E402
from test_lab_hf import PAIRS, TEXTS, hf_model, tokenizer  # noqa: E402

import explain  # noqa: E402
from explain import TrainConfig, lab  # noqa: E402
from explain.adapters import hf_tokenizer, to_hf  # noqa: E402
from explain.run import default_model_config  # noqa: E402

REVERSE = ["3 1 4 1 5 9 > 9 5 1 4 1", "2 7 1 8 2 8 > 8 2 8 1 7", "1 2 3 4 5 6 > 6 5 4 3 2"]


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection fails, so a command that tried to fetch anything would fail."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (directory, text file): tiny models and their tokenizers, save_pretrained."""
    root = tmp_path_factory.mktemp("models")
    task = explain.tasks.get("reverse")
    config = default_model_config(task, positional="rope", d_model=32, n_heads=4, d_mlp=48)
    run = explain.train(task, config, TrainConfig(steps=30, lr=1e-2, eval_every=30,
                                                  eval_batches=1))  # fmt: skip
    models = {
        "gpt2": (hf_model("gpt2"), tokenizer(), TEXTS),
        "bart": (hf_model("bart"), tokenizer(), ["\t".join(pair) for pair in PAIRS]),
        "reverse": (to_hf(run), hf_tokenizer(run), REVERSE),
    }
    found = {}
    for name, (model, tok, lines) in models.items():
        directory = root / name
        model.save_pretrained(directory)
        tok.save_pretrained(directory)
        text = root / f"{name}.txt"
        text.write_text("\n\n".join(f"  {line} " for line in lines) + "\n", encoding="utf-8")
        found[name] = directory, text
    return found


def figure_data(page: str, div_id: str) -> list:
    """The traces of one figure of a page, its typed arrays decoded to numpy."""
    start = re.search(rf'Plotly\.newPlot\(\s*"{div_id}",\s*', page).end()
    data, _ = json.JSONDecoder().raw_decode(page, start)

    def decoded(value):
        if isinstance(value, dict) and {"dtype", "bdata"} <= set(value):
            array = np.frombuffer(base64.b64decode(value["bdata"]), np.dtype(value["dtype"]))
            shape = [int(n) for n in str(value.get("shape", len(array))).split(",")]
            return array.reshape(shape)
        if isinstance(value, dict):
            return {key: decoded(item) for key, item in value.items()}
        return [decoded(item) for item in value] if isinstance(value, list) else value

    return decoded(data)


def fetches_nothing(page: str) -> None:
    """No element loads anything from a network (plotly.js is inlined; the URLs inside its
    source are strings, never requested)."""
    remote = re.findall(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//",
                        page)  # fmt: skip
    assert remote == []
    assert page.count("<script src") == 0


@pytest.mark.parametrize("name", ["gpt2", "reverse"])
def test_the_report_names_the_model_and_shows_its_measured_heads(capsys, saved, tmp_path,
                                                                 no_network, name):  # fmt: skip
    directory, text = saved[name]
    out = tmp_path / "heads.html"
    code, stdout, stderr = run(capsys, "lab", "--hf", directory, "--text", text, "--out", out,
                               "--quiet")  # fmt: skip
    assert code == 0, stderr
    page = out.read_text(encoding="utf-8")
    model = transformers.AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)
    architecture = type(model).__name__
    assert architecture == {"gpt2": "GPT2LMHeadModel", "reverse": "GPTNeoXForCausalLM"}[name]
    assert f"<h1>explain · {directory}</h1>" in page and f"{architecture} (decoder)" in page
    assert f"measured {architecture} ({directory}) on 3 texts" in stdout
    wrapped = lab.wrap(model, transformers.AutoTokenizer.from_pretrained(directory))
    texts = [line.strip() for line in text.read_text().splitlines() if line.strip()]
    record = lab.record_hf(wrapped, texts).meta["lab"]
    grid = figure_data(page, "figure-heads")[0]  # the importance grid [layer, head]
    assert grid["type"] == "heatmap"
    np.testing.assert_array_equal(grid["z"], np.asarray(record["importance"], np.float32))
    curve = np.asarray(record["prune"]["accuracy"], np.float32)
    assert any(np.array_equal(np.asarray(trace.get("y"), np.float32), curve)
               for trace in figure_data(page, "figure-heads-1"))  # fmt: skip
    for section in ("attention-self", "heads", "lens"):
        assert f'<section id="{section}">' in page
    # a model trained elsewhere: no training step, scores over training or probe predictions
    assert 'id="figure-heads-3"' not in page and "Three figures" in page
    assert "no probe logits" not in page and 'href="#predictions"' not in page
    assert "appeared at step" not in page and "· step 0" not in page
    assert "Drag the timeline" not in page and "snapshots (" not in page
    assert "the input the views below show" in page
    fetches_nothing(page)


def test_an_encoder_decoder_reads_source_tab_target_lines(capsys, saved, tmp_path, no_network):
    directory, text = saved["bart"]
    out = tmp_path / "bart.html"
    code, stdout, stderr = run(capsys, "lab", "--hf", directory, "--text", text, "--out", out,
                               "--trace", tmp_path / "bart.npz", "--quiet")  # fmt: skip
    assert code == 0, stderr
    page = out.read_text(encoding="utf-8")
    assert "BartForConditionalGeneration (encoder-decoder)" in page
    for section in ("attention-cross", "attention-decoder", "heads"):
        assert f'<section id="{section}">' in page
    assert '<section id="lens">' not in page  # the lens reads decoder-only and BERT models
    trace = explain.load_trace(tmp_path / "bart.npz")
    assert trace.meta["lab"]["texts"] == len(PAIRS) and trace.meta["lab"]["part"] == "decoder"
    text.with_name("untabbed.txt").write_text("the cat sat\n", encoding="utf-8")
    code, _, stderr = run(capsys, "lab", "--hf", directory, "--text",
                          text.with_name("untabbed.txt"), "--out", out)  # fmt: skip
    assert code == 2
    assert "text 1 of" in stderr and "must be SOURCE<TAB>TARGET for BartForConditionalGen" in stderr


@pytest.mark.parametrize("where", ["a name", "a directory"])
def test_a_model_with_no_local_copy_exits_2_with_one_line(capsys, saved, tmp_path, no_network,
                                                          monkeypatch, where):  # fmt: skip
    _, text = saved["gpt2"]
    seen = []
    original = transformers.AutoConfig.from_pretrained.__func__

    def spy(cls, name, **kwargs):  # how the command asks for the config
        seen.append((kwargs.get("local_files_only"), os.environ.get("HF_HUB_OFFLINE")))
        return original(cls, name, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", classmethod(spy))
    monkeypatch.delenv("HF_HUB_OFFLINE")  # the command sets it for the load, then restores it
    missing = "explain-tests/no-such-model" if where == "a name" else str(tmp_path)
    code, stdout, stderr = run(capsys, "lab", "--hf", missing, "--text", text,
                               "--out", tmp_path / "r.html")  # fmt: skip
    assert code == 2 and stdout == "" and seen == [(True, "1")]
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    if where == "a name":
        first = "explain lab: error: no local copy of 'explain-tests/no-such-model' (nothing is"
        assert stderr.startswith(first)
        assert "`hf download explain-tests/no-such-model`" in stderr
        assert "huggingface-cli download" in stderr and "save_pretrained" in stderr
    else:
        expected = f"{tmp_path} has no config.json: pass a directory written by save_pretrained"
        assert expected in stderr
    assert not (tmp_path / "r.html").exists() and "HF_HUB_OFFLINE" not in os.environ


@pytest.mark.parametrize("config, expected", [
    (lambda: transformers.GPT2Config(), "AutoModelForCausalLM"),
    (lambda: transformers.GPTNeoXConfig(architectures=["GPTNeoXForCausalLM"]),
     "AutoModelForCausalLM"),
    (lambda: transformers.BertConfig(architectures=["BertForMaskedLM"]), "AutoModelForMaskedLM"),
    (lambda: transformers.BertConfig(), "AutoModelForMaskedLM"),  # not BertLMHeadModel
    (lambda: transformers.T5Config(architectures=["T5ForConditionalGeneration"]),
     "AutoModelForSeq2SeqLM"),
    (lambda: transformers.BartConfig(), "AutoModelForSeq2SeqLM"),
])  # fmt: skip
def test_the_model_class_is_the_one_the_config_names(config, expected):
    from explain._hf_load import model_class

    assert model_class(config()) == expected


def test_a_text_file_without_text_or_missing_exits_2(capsys, saved, tmp_path):
    directory, _ = saved["gpt2"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n   \n", encoding="utf-8")
    code, _, stderr = run(capsys, "lab", "--hf", directory, "--text", empty)
    assert code == 2 and f"{empty} holds no text: write one text per line" in stderr
    code, _, stderr = run(capsys, "lab", "--hf", directory, "--text", tmp_path / "none.txt")
    assert code == 2 and "none.txt: No such file or directory" in stderr


def test_help_says_one_text_per_line(capsys):
    code, out, _ = run(capsys, "lab", "--help")
    assert code == 0 and out.startswith("usage: explain lab")
    assert "one text per non-empty line" in out and "SOURCE<TAB>TARGET" in out
    assert "nothing is downloaded" in out


@pytest.mark.browser
def test_the_report_opens_offline_in_a_browser(capsys, saved, tmp_path, browser):
    directory, text = saved["gpt2"]
    out = tmp_path / "heads.html"
    assert run(capsys, "lab", "--hf", directory, "--text", text, "--out", out, "--quiet")[0] == 0
    page = OfflinePage(browser)
    try:
        page.open(out)
        page.page.wait_for_function("() => document.querySelectorAll('.main-svg').length >= 4")
        assert page.dialogs == [] and page.blocked == [] and page.errors == []
    finally:
        page.close()
