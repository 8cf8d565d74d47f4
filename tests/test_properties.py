"""Properties that must hold for any input, checked with hypothesis on generated ones.

- a trace saved and loaded again is the same trace, bit for bit (explain/trace.py);
- every task's tokenizer round-trips its own token sequences and text (explain/tasks.py);
- every attention pattern of a random model on random input is row-stochastic, causal where it
  must be, zero on padding, and equal to softmax(q k^T / sqrt(d_head)) recomputed in numpy
  (explain/model.py);
- ``Trace.at(step)`` is the nearest snapshot, ties to the earlier one (explain/trace.py);
- exported HTML and SVG hold no element, script or comment that a hostile token wrote
  (explain/export.py, report.py, adapters.py).
"""

from __future__ import annotations

import html.parser
import json
import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _export_traces import synthetic_trace
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from explain.trace import Trace, load_trace

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- save / load -------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)
# "format" and "format_version" are the file's own keys: the writer sets them, the reader drops
META_KEYS = st.text(max_size=10).filter(lambda key: key not in ("format", "format_version"))
PHASES = st.lists(
    st.fixed_dictionaries(
        {"name": st.text(max_size=12), "task": st.text(max_size=8), "first_step": st.integers(0)}
    ),
    max_size=3,
)
# Names a zip can hold: no NUL (a member name ends there), no lone surrogate (not UTF-8)
NAME_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
NAMES = st.text(NAME_CHARACTERS, min_size=1, max_size=16)
DTYPES = st.sampled_from([np.float32, np.int64, np.int32, np.uint8, np.bool_])


def _increasing(max_size: int) -> st.SearchStrategy[np.ndarray]:
    steps = st.lists(st.integers(0, 10**9), unique=True, max_size=max_size)
    return steps.map(lambda values: np.array(sorted(values), np.int64))


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Any valid trace: JSON meta (with phases or not), NaN-holed scalars, tensors of any kind."""
    meta = draw(st.dictionaries(META_KEYS, JSON_VALUES, max_size=4))
    if draw(st.booleans()):
        meta["phases"] = draw(PHASES)
    steps, snapshot_steps = draw(_increasing(12)), draw(_increasing(5))
    scalar_values = hnp.arrays(np.float64, len(steps), elements=st.floats(width=64))
    scalars = draw(st.dictionaries(NAMES, scalar_values, max_size=3))
    tensors = {}
    for name in draw(st.lists(NAMES, unique=True, max_size=3)):
        shape = (len(snapshot_steps), *draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
        tensors[name] = draw(hnp.arrays(draw(DTYPES), shape))
    return Trace.from_arrays(meta, steps, scalars, snapshot_steps, tensors)


def _same_arrays(loaded: dict[str, np.ndarray], saved: dict[str, np.ndarray]) -> None:
    assert sorted(loaded) == sorted(saved)
    for name, array in saved.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape, name
        assert loaded[name].tobytes() == array.tobytes(), name  # NaN payloads and -0.0 too


@FAST
@given(trace=traces())
def test_save_then_load_gives_the_same_trace(trace: Trace, tmp_path_factory) -> None:
    path = trace.save(tmp_path_factory.mktemp("round-trip") / "t.npz")
    loaded = load_trace(path)
    # JSON text compares NaN equal to NaN and keeps key order out of it
    assert json.dumps(loaded.meta, sort_keys=True) == json.dumps(trace.meta, sort_keys=True)
    assert loaded.meta.get("phases") == trace.meta.get("phases")
    _same_arrays({"steps": loaded.steps}, {"steps": trace.steps})
    _same_arrays({"snaps": loaded.snapshot_steps}, {"snaps": trace.snapshot_steps})
    _same_arrays(loaded.scalars, trace.scalars)
    _same_arrays(loaded.tensors, trace.tensors)


# -- tokenizers --------------------------------------------------------------------------------
def _task_names() -> list[str]:
    from explain import tasks

    return tasks.available()


@pytest.mark.parametrize("name", _task_names())
@FAST
@given(data=st.data())
def test_every_tokenizer_round_trips_ids_and_text(name: str, data) -> None:
    from explain.tasks import CharTokenizer, get

    tokenizer = get(name).tokenizer
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=30))
    assert tokenizer.encode(tokenizer.decode(ids)) == ids
    symbols = data.draw(st.lists(st.sampled_from(tokenizer.vocab), max_size=30))
    if isinstance(tokenizer, CharTokenizer):
        text = "".join(symbols)
        assert tokenizer.decode(tokenizer.encode(text)) == text
    else:  # words with any whitespace between them; decoding puts single spaces
        gaps = data.draw(st.lists(st.sampled_from([" ", "  ", "\n", "\t "]), min_size=30))
        text = "".join(f"{gap}{word}" for gap, word in zip(gaps, symbols, strict=False))
        assert tokenizer.decode(tokenizer.encode(text)) == " ".join(symbols)


# -- attention ---------------------------------------------------------------------------------
@st.composite
def models_and_inputs(draw: st.DrawFn) -> tuple:
    """A random valid ModelConfig, a model with sharpened weights, and random inputs."""
    import torch

    from explain.config import POSITIONAL_KINDS, ModelConfig
    from explain.model import TinyTransformer

    positional = draw(st.sampled_from(POSITIONAL_KINDS))
    n_heads = draw(st.integers(1, 4))
    d_head = draw(st.sampled_from([2, 4, 6]) if positional == "rope" else st.integers(1, 6))
    config = ModelConfig(
        vocab_size=draw(st.integers(2, 20)),
        d_model=n_heads * d_head,
        n_layers=draw(st.integers(1, 3)),
        n_heads=n_heads,
        d_mlp=draw(st.integers(1, 16)),
        context_length=draw(st.integers(1, 12)),
        positional=positional,
        kind=draw(st.sampled_from(["decoder", "encoder-decoder"])),
        seed=draw(st.integers(0, 2**16)),
    )
    model = TinyTransformer(config).eval()
    scale = draw(st.floats(1.0, 10.0))  # sharper than at initialisation: far from uniform
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(scale)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch, length = draw(st.integers(1, 3)), draw(st.integers(1, config.context_length))
    inputs = {"tokens": torch.tensor(rng.integers(0, config.vocab_size, (batch, length)))}
    if config.kind == "encoder-decoder":
        source_length = draw(st.integers(1, config.context_length))
        inputs["source"] = torch.tensor(rng.integers(0, config.vocab_size, (batch, source_length)))
        if draw(st.booleans()):
            mask = rng.random((batch, source_length)) < 0.6
            mask[np.arange(batch), rng.integers(0, source_length, batch)] = True  # one real each
            inputs["source_mask"] = torch.tensor(mask)
    return model, inputs


def _softmax_reference(q: np.ndarray, k: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """softmax(q k^T / sqrt(d_head)) over allowed keys, in float64: [batch, head, q, k]."""
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    scores = np.where(allowed, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


@SLOW
@given(case=models_and_inputs())
def test_attention_is_row_stochastic_causal_and_softmax_of_scores(case: tuple) -> None:
    from explain.names import parse_attention

    model, inputs = case
    _, cache = model.run_with_cache(**inputs)
    patterns = {name: t for name, t in cache.items() if parse_attention(name)}
    assert len(patterns) == model.config.n_layers * (1 if model.config.kind == "decoder" else 3)
    mask = inputs.get("source_mask")
    for name, tensor in patterns.items():
        part, _ = parse_attention(name)
        pattern = tensor.double().numpy()  # [batch, head, q, k]
        batch, heads, q_len, k_len = pattern.shape
        assert heads == model.config.n_heads
        allowed = np.ones((batch, 1, q_len, k_len), bool)
        if part in ("self", "decoder"):
            allowed &= np.tril(np.ones((q_len, k_len), bool))
        if part in ("encoder", "cross") and mask is not None:
            allowed &= mask.numpy()[:, None, None, :]
        assert (pattern >= 0).all(), name
        np.testing.assert_allclose(pattern.sum(axis=-1), 1.0, atol=1e-5, err_msg=name)
        assert (pattern[~np.broadcast_to(allowed, pattern.shape)] == 0).all(), name
        prefix = name.removesuffix("hook_pattern")
        q = cache[prefix + "hook_q"].double().numpy()
        k = cache[prefix + "hook_k"].double().numpy()
        reference = _softmax_reference(q, k, allowed)
        # 1e-4: torch forms the scores in float32, and scaled-up weights make them large
        np.testing.assert_allclose(pattern, reference, atol=1e-4, err_msg=name)


# -- nearest snapshot --------------------------------------------------------------------------
@FAST
@given(snapshots=_increasing(20).filter(len), data=st.data())
def test_at_returns_the_nearest_snapshot(snapshots: np.ndarray, data) -> None:
    trace = Trace()
    for index, step in enumerate(snapshots):
        trace.add_snapshot(int(step), {"index": np.array([index])})
    step = data.draw(st.integers(int(snapshots[0]), int(snapshots[-1])))
    # independent: the smallest distance; among equals, the earliest step
    nearest = min(range(len(snapshots)), key=lambda i: (abs(int(snapshots[i]) - step), i))
    found = trace.at(step)
    assert (found.step, found.index) == (int(snapshots[nearest]), nearest)
    assert found.tensors["index"].tolist() == [nearest]
    outside = data.draw(st.sampled_from([int(snapshots[0]) - 1, int(snapshots[-1]) + 1]))
    with pytest.raises(ValueError, match="outside the recorded snapshots"):
        trace.at(outside)


# -- escaping ----------------------------------------------------------------------------------
HOSTILE = ['"', "'", "</script>", "<script>alert(1)</script>", "<!--", "-->", "<![CDATA[", "]]>"]
HOSTILE += ["\u202e", "\u200f", "\U0001f600", "\x00", "&amp;", "<b>", "\n", " ", "$x$", "\\"]
TOKEN = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=3), min_size=1, max_size=4).map(
    "".join
)
N_TOKENS = 5
PLAIN = [f"t{i}" for i in range(N_TOKENS)]
HTML_PAGES = ("html", "report", "bertviz")
SVG_VIEWS = ("attention", "embeddings")


class _Elements(html.parser.HTMLParser):
    """Counts start tags (by name), comments, declarations and processing instructions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: Counter = Counter()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen[tag] += 1

    def handle_comment(self, data: str) -> None:
        self.seen["<!-- comment"] += 1

    def handle_decl(self, decl: str) -> None:
        self.seen[f"<!{decl.split()[0].lower()}"] += 1

    def handle_pi(self, data: str) -> None:
        self.seen["<?pi"] += 1


def _html_elements(text: str) -> Counter:
    parser = _Elements()
    parser.feed(text)
    parser.close()
    return parser.seen


def _svg_elements(path: Path, tokens: list[str]) -> tuple[set[str], list[int]]:
    """The kinds of element (comments and PIs too) in an SVG, and how many <text> elements
    hold each token's label. Counts of other elements change with the layout (longer labels,
    fewer colour-bar ticks), so only the kinds are compared."""
    from explain.style import visible

    builder = ET.TreeBuilder(insert_comments=True, insert_pis=True)
    root = ET.parse(path, parser=ET.XMLParser(target=builder)).getroot()
    elements = list(root.iter())
    texts = [e.text or "" for e in elements if str(e.tag).endswith("}text")]
    shown = [sum(_shows(text, visible(token)) for text in texts) for token in tokens]
    return {str(e.tag) for e in elements}, shown


def _shows(text: str, label: str) -> bool:
    """Whether ``text`` is ``label``, whole or cut short with an ellipsis."""
    return text == label or (len(text) > 1 and text[-1] == "…" and label.startswith(text[:-1]))


def _pages(tokens: list[str], folder: Path) -> dict[str, object]:
    """What a parser finds in each HTML and SVG export of a trace with probe ``tokens``."""
    from explain import export, report
    from explain.adapters import write_bertviz_html

    trace = synthetic_trace(tokens=tokens)
    found: dict[str, object] = {
        "html": _html_elements(export.save(trace, folder / "a.html", layer=0, head=0).read_text()),
        "report": _html_elements(report.build_report(trace)),
        "bertviz": _html_elements(write_bertviz_html(trace, folder / "b.html").read_text()),
    }
    for what in SVG_VIEWS:
        options = {"layer": 0, "head": 0} if what == "attention" else {}
        path = export.save(trace, folder / "a.svg", what, **options)
        found[what] = _svg_elements(path, tokens)
    return found


@pytest.fixture(scope="module")
def plain_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _pages(PLAIN, tmp_path_factory.mktemp("plain"))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Glyph.*missing from font")
@SLOW
@given(tokens=st.lists(TOKEN, min_size=N_TOKENS, max_size=N_TOKENS, unique=True))
@example(tokens=["</script><!--", "<b>\x00", "\u202e\U0001f600", "$x$\"\'", "]]><?pi"])
def test_html_and_svg_hold_only_the_elements_we_wrote(
    tokens: list[str], plain_pages: dict[str, object], tmp_path_factory
) -> None:
    found = _pages(tokens, tmp_path_factory.mktemp("hostile"))
    for page in HTML_PAGES:
        extra = found[page] - plain_pages[page]  # type: ignore[operator]
        assert found[page] == plain_pages[page], f"{page} export: {extra or 'elements missing'}"
    for view in SVG_VIEWS:
        (kinds, labels), (plain_kinds, plain_labels) = found[view], plain_pages[view]
        assert kinds == plain_kinds, f"{view} SVG: new elements {kinds - plain_kinds}"
        # each token is text where a plain token is (a label may also equal a tick's text)
        assert all(n >= p for n, p in zip(labels, plain_labels, strict=True)), (view, labels)
