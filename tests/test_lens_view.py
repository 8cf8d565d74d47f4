"""The lens view: explain.views.lens, its figures and files, LensView, and the lens that
explain.lab.record writes.

Each number is checked against a computation that does not go through the view: the model's
own forward pass (its argmax and softmax), the attention rollout multiplied out by hand in
numpy from the recorded patterns, and explain.lab.saliency called position by position.
"""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from _same import same

import explain
import widgets
from explain import export, views
from explain.trace import Trace


@pytest.fixture(scope="module")
def run():
    """``reverse`` trained 300 steps: its answers are right, so the lens has a story to tell.
    ~10 s on a shared core, so the tests that use it are marked slow."""
    return explain.train("reverse", train_config=explain.TrainConfig(steps=300, seed=0))


@pytest.fixture(scope="module")
def view(run):
    return widgets.LensView(run)


def probe_logits(run, source: bool = False) -> np.ndarray:
    """[pos, vocab] the model's logits for the task's probe, straight from its forward pass."""
    import torch

    probe = run.task.probe()
    kwargs = {}
    if source:
        kwargs["source"] = torch.tensor(probe.source)
    run.model.eval()
    with torch.no_grad():
        return run.model(torch.tensor(probe.inputs), **kwargs)[0].double().numpy()


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def lens_trace(tokens: list[str], vocab: list[str], seed: int = 0) -> Trace:
    """A two-layer trace with a hand-made lab lens record: no model, no torch."""
    rng = np.random.default_rng(seed)
    n, v = len(tokens), len(vocab)
    tensors = {}
    for layer in range(2):
        raw = np.tril(rng.random((1, 2, n, n)) + 1e-3)  # [snapshot, head, q, k]
        tensors[f"blocks.{layer}.attn.hook_pattern"] = raw / raw.sum(-1, keepdims=True)
    probs = rng.random((3, n, v))
    lens = {
        "step": 7,
        "tokens": tokens,
        "targets": tokens[1:] + tokens[:1],
        "mask": [False] * (n // 2) + [True] * (n - n // 2),
        "probs": (probs / probs.sum(-1, keepdims=True)).tolist(),
        "saliency": np.tril(rng.normal(size=(n, n))).tolist(),
    }
    meta = {"vocab": vocab, "task": {"name": "toy"}, "lab": {"lens": lens}}
    return Trace.from_arrays(meta, [7], {}, [7], tensors)


# ------------------------------------------------------------------------ the view model


@pytest.mark.slow
def test_widget_data_is_what_the_json_export_writes(run, view, tmp_path):
    written = json.loads(export.save(run.trace, tmp_path / "x.json", what="lens").read_text())
    assert list(written) == ["what", *view.data.FIELDS] and written["what"] == "lens"
    for name in view.data.FIELDS:
        same(written[name], views.jsonable(getattr(view.data, name)), name)
    assert written["colorscale"] == "viridis"
    assert written["steps"] == [300] and view.data.index(300) == 0
    with pytest.raises(ValueError, match="step 200 has no snapshot"):
        view.data.index(200)


@pytest.mark.slow
def test_the_output_row_is_the_models_own_prediction(run, view):
    logits = probe_logits(run)  # [pos, vocab]
    data = view.data
    np.testing.assert_array_equal(data.top_id[-1], logits.argmax(-1))
    assert data.top_token[-1] == [run.task.vocab[i] for i in logits.argmax(-1)]
    np.testing.assert_allclose(data.probs[-1], softmax(logits), atol=1e-6)
    np.testing.assert_allclose(data.top_prob[-1], softmax(logits).max(-1), atol=1e-6)
    # and what the recorder saw at the last snapshot, the same model
    recorded = run.trace.tensor("hook_logits", 300)  # [pos, vocab]
    np.testing.assert_array_equal(data.top_id[-1], recorded.argmax(-1))
    assert data.layers == ["embed", "after block 0", "after block 1"]
    assert data.tokens == run.task.probe_tokens()
    answer = run.task.probe().mask[0]
    assert data.position == int(np.flatnonzero(answer)[0])  # the first answer position
    assert all(data.top_token[-1][p] == data.targets[p] for p in np.flatnonzero(answer))


@pytest.mark.slow
def test_rollout_multiplies_the_recorded_attention_by_hand(run, view):
    size = len(view.data.tokens)
    rollout = np.eye(size)
    for layer in range(2):
        pattern = run.trace.tensor(f"blocks.{layer}.attn.hook_pattern", 300)  # [head, q, k]
        mixed = pattern.mean(axis=0) + np.eye(size)  # heads averaged, plus the residual
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rollout = mixed @ rollout
    np.testing.assert_allclose(view.data.rollout, rollout, atol=1e-6)
    stacked = np.stack([run.trace.tensor(f"blocks.{i}.attn.hook_pattern", 300) for i in range(2)])
    np.testing.assert_allclose(
        view.data.rollout, explain.analysis.attention_rollout(stacked), atol=1e-12
    )


@pytest.mark.slow
def test_saliency_rows_are_each_positions_own_prediction(run, view):
    ids = run.task.probe().inputs[0]
    for position in (0, view.data.position, len(ids) - 1):
        expected = explain.lab.saliency(run.model, ids, position)
        np.testing.assert_allclose(view.data.saliency[position], expected, rtol=1e-5, atol=1e-9)
    assert not np.triu(view.data.saliency, k=1).any()  # causal: nothing from later tokens


@pytest.mark.slow
def test_record_keeps_the_lens_and_remeasures_a_stale_one(run):
    lab = explain.lab.record(run)
    assert set(lab["lens"]) == {"step", "tokens", "source", "targets", "mask", "probs", "saliency"}
    assert lab["lens"]["step"] == run.trainer.step == 300
    lab["lens"]["step"] = 3  # as if measured before training went on
    fresh = widgets.LensView(run)
    assert run.trace.meta["lab"]["lens"]["step"] == 300
    np.testing.assert_array_equal(fresh.data.top_id[-1], probe_logits(run).argmax(-1))


def test_an_encoder_decoder_lens_reads_the_decoder_with_its_source():
    small = explain.train("translate", train_config=explain.TrainConfig(steps=5, seed=0))
    lens = explain.lab.record(small)["lens"]
    assert lens["source"] == small.task.probe_source_tokens()
    data = views.lens(small.trace)
    assert data.part == "decoder" and data.tokens == small.task.probe_tokens()
    np.testing.assert_array_equal(data.top_id[-1], probe_logits(small, source=True).argmax(-1))


def test_the_docstring_example_runs():
    from explain.views import _lens

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert doctest.testmod(_lens, optionflags=flags).failed == 0


# ------------------------------------------------------------------------ files and figures


@pytest.mark.slow
@pytest.mark.parametrize("format", ["png", "svg", "pdf", "html", "csv"])
def test_every_format_writes(run, view, format, tmp_path):
    path = export.save(run.trace, tmp_path / f"lens.{format}", what="lens")
    content = path.read_bytes()
    data = view.data
    if format == "png":
        assert content.startswith(b"\x89PNG")
    elif format == "svg":
        assert b"what each layer predicts" in content and b"attention rollout" in content
    elif format == "pdf":
        assert content.startswith(b"%PDF")
    elif format == "html":
        assert b"attention rollout" in content and b"saliency of position" in content
    else:
        rows = content.decode().splitlines()
        assert rows[0] == "layer,position,token,target,top_token,top_prob"
        assert len(rows) == 1 + len(data.layers) * len(data.tokens)
        last = [row.split(",") for row in rows[-len(data.tokens) :]]
        assert [row[4] for row in last] == data.top_token[-1]
        assert all(row[0] == "after block 1" for row in last)


@pytest.mark.slow
def test_the_matplotlib_figure_writes_each_top_token_in_its_cell(view):
    from explain._render import matplotlib as _draw

    drawn = _draw.draw(view.data, 0)
    table = drawn.figure.axes[0]
    cells = {(round(t.get_position()[0]), round(t.get_position()[1])): t for t in table.texts}
    for layer, row in enumerate(view.data.top_token):
        for position, token in enumerate(row):
            assert cells[(position, layer)].get_text() == token
    assert [t.get_text() for t in table.get_yticklabels()] == view.data.layers


@pytest.mark.slow
def test_the_interactive_figure_has_a_frame_per_position(view):
    from explain._render import plotly

    (figure,) = plotly.page_figures(view.data, [0], 0)
    assert [frame["name"] for frame in figure["frames"]] == [
        str(p) for p in range(len(view.data.tokens))
    ]
    np.testing.assert_allclose(figure["frames"][4]["data"][0]["x"], view.data.saliency[4])
    assert figure["layout"]["sliders"][0]["active"] == view.data.position


# ------------------------------------------------------------------------ the widget


@pytest.mark.slow
def test_the_position_dropdown_changes_the_bars(view):
    # one figure: the table (trace 0), the rollout (2) and the bars (3), as the page has them
    before = view.position
    bars = np.array(view.figure.data[3].x)
    np.testing.assert_allclose(bars, view.data.saliency[before], rtol=1e-6)
    chosen = len(view.data.tokens) - 1
    view.position_select.value = chosen
    after = np.array(view.figure.data[3].x)
    assert view.position == view.data.position == chosen
    np.testing.assert_allclose(after, view.data.saliency[chosen], rtol=1e-6)
    assert not np.allclose(after, bars)
    assert view.figure.layout.shapes[0].x0 == chosen - 0.5  # the column outlined
    assert view.figure.layout.shapes[1].y0 == chosen - 0.5  # and its rollout row
    assert f"position {chosen}" in view.figure.layout.xaxis3.title.text
    view.position = before
    assert view.position_select.value == before
    with pytest.raises(ValueError, match="position 99 is out of range"):
        view.position = 99


@pytest.mark.slow
def test_the_widget_shows_a_saved_trace_and_pictures_it(run, view, tmp_path):
    loaded = explain.load_trace(run.trace.save(tmp_path / "trace.npz"))
    replay = widgets.LensView(loaded, position=8)
    assert replay.run is None and replay.position == 8
    np.testing.assert_allclose(replay.data.probs, view.data.probs, atol=1e-6)
    np.testing.assert_allclose(replay.figure.data[0].z, view.data.top_prob, atol=1e-6)
    ((png, alt),) = replay._static_images()
    assert png.startswith(b"\x89PNG") and "position 8" in alt


def test_a_trace_without_a_lab_record_names_explain_lab_record(tmp_path):
    trace = lens_trace(["a", "b", "c"], ["a", "b", "c"])
    del trace.meta["lab"]
    with pytest.raises(ValueError, match=r"explain\.lab\.record\(run\)") as from_view:
        views.lens(trace)
    with pytest.raises(ValueError, match=r"explain\.lab\.record"):
        widgets.LensView(trace)
    with pytest.raises(ValueError) as from_export:
        export.save(trace, tmp_path / "lens.png", what="lens")
    assert str(from_export.value) == str(from_view.value)
    assert not (tmp_path / "lens.png").exists()


def test_tokens_like_html_tags_are_escaped(tmp_path):
    tokens = ["<b>", "x", "&", "\n", "<b>", "y"]
    trace = lens_trace(tokens, ["<b>", "x", "&", "\n", "y"])
    page = export.save(trace, tmp_path / "lens.html", what="lens").read_text("utf-8")
    assert "&lt;b&gt;" in page

    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list | tuple):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    shown = list(strings(export.interactive(trace, "lens")))
    assert not [s for s in shown if "<b>" in s or "\n" in s]
    assert any("&lt;b&gt;" in s for s in shown) and any("↵" in s for s in shown)
    lens_view = widgets.LensView(trace)
    figure = lens_view.figure
    assert "&lt;b&gt;" in figure.layout.xaxis.ticktext
    texts = [t for row in figure.data[0].text for t in row]
    assert "<b>" not in texts and "<b>" not in "".join(figure.layout.xaxis.ticktext)
    csv = export.save(trace, tmp_path / "lens.csv", what="lens").read_text("utf-8")
    assert "<b>" in csv  # data files keep tokens as they are
