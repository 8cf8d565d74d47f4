"""ByHandView: the classic example, each step against an independent computation, a model's head."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from widgets import View
from widgets.by_hand import (
    DEFAULT_K,
    DEFAULT_Q,
    DEFAULT_V,
    ByHandView,
    attention_by_hand,
    parse_matrix,
)


def reference_attention(q, k, v, causal):
    """Attention with plain Python loops and math.exp (no numpy broadcasting, no softmax helper)."""
    n_q, n_k, d = len(q), len(k), len(q[0])
    out, weights = [], []
    for i in range(n_q):
        scores = []
        for j in range(n_k):
            if causal and j > i + (n_k - n_q):
                continue
            scores.append((j, sum(q[i][c] * k[j][c] for c in range(d)) / math.sqrt(d)))
        total = sum(math.exp(s) for _, s in scores)
        row = [0.0] * n_k
        for j, s in scores:
            row[j] = math.exp(s) / total
        weights.append(row)
        out.append([sum(row[j] * v[j][c] for j in range(n_k)) for c in range(len(v[0]))])
    return np.array(weights), np.array(out)


def test_classic_example_gives_080_009_011():
    result = attention_by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V)
    last = result.weights[-1]
    np.testing.assert_allclose(result.scaled[-1], [4.5, 2.3, 2.5], atol=1e-12)
    # independent: softmax of the three scores written out
    exps = [math.exp(s) for s in (4.5, 2.3, 2.5)]
    np.testing.assert_allclose(last, [e / sum(exps) for e in exps], rtol=1e-12)
    assert last.round(2).tolist() == [0.80, 0.09, 0.11]
    assert not np.allclose(last, [0.62, 0.32, 0.06], atol=0.02)  # the common wrong answer


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("shape", [(3, 4, 2), (5, 2, 3), (1, 3, 3)])
def test_every_step_matches_a_loop_reference(causal, shape):
    n, d, d_v = shape
    rng = np.random.default_rng(n * 10 + d)
    q, k, v = rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=(n, d_v))
    result = attention_by_hand(q, k, v, causal=causal)
    weights, out = reference_attention(q.tolist(), k.tolist(), v.tolist(), causal)
    np.testing.assert_allclose(result.weights, weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(result.output, out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.scores, q @ k.T)
    np.testing.assert_allclose(result.weights.sum(axis=1), 1.0)
    if causal:
        assert not result.mask[0, 1:].any() and result.mask[-1].all()


def test_view_shows_the_default_numbers_and_formulas():
    view = ByHandView()
    assert view.tokens == ["I", "love", "pizza"] and view.query == 2
    np.testing.assert_allclose(view.weights_plot.figure.data[0].z, view.result.weights)
    scores = np.array(view.scores_plot.figure.data[0].z, dtype=float)
    assert np.isnan(scores[0, 1]) and view.scores_plot.figure.data[0].text[0][1] == "−∞"
    np.testing.assert_allclose(scores[2], [4.5, 2.3, 2.5])
    text = view.formulas.value
    for piece in ("1×2 + 2×3 + 1×1 + 0×0 = <b>9</b>", "9 / 2 = <b>4.50</b>", "<b>0.80</b>"):
        assert piece in text
    assert "<b>0.09</b>" in text and "<b>0.11</b>" in text
    view.query = 0
    assert "Query row 0" in view.formulas.value and "<i>love</i>" in view.formulas.value
    with pytest.raises(ValueError, match="query must be a row index"):
        view.query = 3


def test_editing_the_text_recomputes_and_bad_text_shows_a_message():
    view = ByHandView()
    view.k_text.value = "1 0 0 0\n0 1 0 0\n0 0 1 0"
    expected, _ = reference_attention(
        DEFAULT_Q.tolist(), np.eye(3, 4).tolist(), DEFAULT_V.tolist(), True
    )
    np.testing.assert_allclose(view.result.weights, expected, rtol=1e-12)
    np.testing.assert_allclose(view.weights_plot.figure.data[0].z, expected, rtol=1e-12)
    before = view.result
    view.v_text.value = "1 2\n3 x\n5 6"
    assert "V row 2" in view.message.value and "numbers only" in view.message.value
    assert view.result is before  # the last valid vectors stay, and the message says so
    view.v_text.value = "1 2\n3 4\n5 6"
    assert view.message.value == "" and view.result.v.shape == (3, 2)
    view.q_text.value = "1 2 3\n1 2 3\n1 2 3"
    assert "same width d" in view.message.value
    view.q_text.value = "1 2 3 4\n1 2 3 4\n1 2 3 4"
    view.causal_box.value = False
    assert view.result.mask.all() and view.message.value == ""


def test_what_is_typed_applies_at_once_and_stays_as_typed():
    """Each key applies (Enter too: it recomputed nothing when edits applied on blur only), a
    half-typed number stays in the box, and a matrix row is one line of its box."""
    view = ByHandView()
    assert all(box.continuous_update for box in (view.q_text, view.k_text, view.v_text))
    assert all("explain-matrix-text" in box._dom_classes for box in (view.q_text, view.k_text))
    typed = "1 0 0 0\n0 1 0 0\n0 0 0 1."  # the user is typing "1.5" at the end
    view.k_text.value = typed
    assert view.message.value == "" and view.k_text.value == typed  # not rewritten to "1"
    np.testing.assert_array_equal(view.result.k, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    view.k_text.value = typed + "5\n"  # then Enter: a blank line, the same matrix
    assert view.result.k[2, 3] == 1.5 and view.message.value == ""
    np.testing.assert_allclose(view.scores_plot.figure.data[0].z[2][2], view.result.scaled[2, 2])


def test_the_scores_title_names_the_mask_only_when_it_hides_a_cell():
    view = ByHandView()
    assert view.figures()[0]["layout"]["title"]["text"].endswith("(masked: −∞)")
    view.causal_box.value = False
    assert view.figures()[0]["layout"]["title"]["text"] == "scaled scores q·k/√d"
    from matplotlib.text import Text

    from explain._render import matplotlib as drawn  # what "export this view" draws

    texts = [t.get_text() for t in drawn.draw(view.data, 0).figure.findobj(Text)]
    assert "scaled scores q·k/√d" in texts and not any("masked" in t for t in texts), texts


def test_bad_input_raises_value_errors_naming_what_was_expected():
    with pytest.raises(ValueError, match="give all of q, k and v"):
        ByHandView(q=DEFAULT_Q)
    with pytest.raises(ValueError, match=r"q must be a 2-D array \[tokens, dim\]"):
        attention_by_hand(np.ones(3), DEFAULT_K, DEFAULT_V)
    with pytest.raises(ValueError, match="NaN or inf"):
        attention_by_hand(np.full((3, 4), np.nan), DEFAULT_K, DEFAULT_V)
    with pytest.raises(ValueError, match="k and v must have one row per token"):
        attention_by_hand(DEFAULT_Q, DEFAULT_K, DEFAULT_V[:2])
    with pytest.raises(ValueError, match="got 2 tokens for 3 rows"):
        ByHandView(DEFAULT_Q, DEFAULT_K, DEFAULT_V, tokens=["a", "b"])
    with pytest.raises(ValueError, match="same length"):
        parse_matrix("Q", "1 2\n3")
    assert parse_matrix("Q", "[1, 2]; [3, 4]").tolist() == [[1, 2], [3, 4]]


def test_tokens_are_escaped_in_html():
    view = ByHandView(DEFAULT_Q, DEFAULT_K, DEFAULT_V, tokens=["<b>", "a&b", " "])
    assert "&lt;b&gt;" in view.formulas.value and "<b>&" not in view.formulas.value
    assert view.weights_plot.figure.layout.xaxis.ticktext == ("&lt;b&gt;", "a&amp;b", "␣")


def test_is_a_view_with_the_bases_theme():
    view = ByHandView(theme="dark")
    assert isinstance(view, View) and view.trace is None and view.step_control is None
    assert view.plots == [view.scores_plot, view.weights_plot]
    assert view.scores_plot.figure.layout.paper_bgcolor == "#111111"
    view.set_theme("presentation")
    for plot in view.plots:
        assert plot.figure.layout.font.size == 20
        assert plot.widget.fig_layout["font"]["size"] == 20
    np.testing.assert_allclose(view.weights_plot.figure.data[0].z, view.result.weights)
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        view.set_theme("neon")
    with pytest.raises(ValueError, match="theme must be one of 'light', 'dark', 'presentation'"):
        ByHandView(theme="Dark")
    with pytest.raises(ValueError, match="has no step"):
        view.step  # noqa: B018  (no trace, so no snapshot step)


def test_scores_are_signed_and_weights_are_probabilities():
    view = ByHandView(theme="presentation")
    scores, weights = view.scores_plot.figure.data[0], view.weights_plot.figure.data[0]
    assert scores.zmid == 0 and scores.colorscale[0][1] == "rgb(127,59,8)"  # PuOr
    assert (weights.zmin, weights.zmax) == (0, 1) and weights.colorscale[0][1] == "#440154"


def test_token_labels_use_the_projects_glyphs():
    view = ByHandView(DEFAULT_Q, DEFAULT_K, DEFAULT_V, tokens=["a", "\n", "\t"])
    assert view.scores_plot.figure.layout.yaxis.ticktext == ("a", "↵", "⇥")
    assert "<i>↵</i>" in view.formulas.value
    assert [label for label, _ in view.query_select.options] == ["0: a", "1: ↵", "2: ⇥"]


def test_importing_the_view_does_not_import_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from widgets.by_hand import ByHandView; ByHandView()\n"
        "from widgets.compare import CompareView\n"
        "import widgets.generate\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the model's real q, k, v ------------------------------------------------------------------
@pytest.mark.parametrize("positional", ["sinusoidal", "rope"])
def test_from_model_equals_the_models_pattern_and_z(make_model, positional):
    import torch
    import torch.nn.functional as F

    from explain.tasks import CharTokenizer

    model = make_model(positional=positional)
    tokenizer = CharTokenizer.from_text("abcdefghijk")
    layer, head = 1, 1
    view = ByHandView.from_model(model, "badcafe", layer, head, tokenizer=tokenizer)
    ids = torch.tensor([tokenizer.encode("badcafe")])
    prefix = f"blocks.{layer}.attn."
    _, cache = model.run_with_cache(ids, names=[prefix + "hook_pattern", prefix + "hook_z"])
    pattern = cache[prefix + "hook_pattern"][0, head].double().numpy()
    z = cache[prefix + "hook_z"][0, head].double().numpy()
    np.testing.assert_allclose(view.result.weights, pattern, atol=1e-5)
    np.testing.assert_allclose(view.result.output, z, atol=1e-5)
    assert pattern.max() > 0.5  # not near-uniform, so a mixed-up head would fail
    q, k, v = (torch.tensor(m)[None, None] for m in (view.result.q, view.result.k, view.result.v))
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)[0, 0].numpy()
    np.testing.assert_allclose(view.result.output, fused, atol=1e-10)
    assert view.tokens == list("badcafe")
    assert "equal to the model" in view.formulas.value and "NOT" not in view.formulas.value
    view.k_text.value = "\n".join("1 " * 8 for _ in range(7))
    assert "no longer the model" in view.formulas.value


def test_from_model_accepts_ids_and_checks_its_arguments(make_model):
    model = make_model()
    view = ByHandView.from_model(model, [1, 2, 3], layer=0, head=0)
    assert view.tokens == ["1", "2", "3"] and view.result.q.shape == (3, 8)
    with pytest.raises(ValueError, match=r"layer 2 is out of range; expected 0..1"):
        ByHandView.from_model(model, [1, 2], layer=2, head=0)
    with pytest.raises(ValueError, match="tokens is text"):
        ByHandView.from_model(model, "abc")
    with pytest.raises(ValueError, match=r"got 13 tokens; expected 1..12"):
        ByHandView.from_model(model, [1] * 13)
    with pytest.raises(ValueError, match="decoder-only"):
        ByHandView.from_model(make_model(kind="encoder-decoder"), [1, 2])
    with pytest.raises(ValueError, match="TinyTransformer or a Run"):
        ByHandView.from_model(object(), [1, 2])
