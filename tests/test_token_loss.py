"""The probe's per-token loss over training: what the Recorder keeps at every snapshot, checked
against the model itself and against its stored logits; the token-loss view model, its figures,
exports, report section, widget and dashboard place; old traces without the arrays."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _export_traces import XSS, synthetic_trace
from _figures import assert_png_from_the_view_model, assert_same_figures
from _widget_traces import build_reverse_run

from explain import export, report, views
from explain.trace import TOKEN_TENSORS, TOKEN_TOP_K, Trace, load_trace
from widgets import Dashboard, TokenLossView

BOLD = "<b>"  # a token plotly would read as markup


def without_token_arrays(trace: Trace) -> Trace:
    """``trace`` as a trace recorded before the Recorder kept the per-token loss."""
    tensors = {k: v for k, v in trace.tensors.items() if k not in TOKEN_TENSORS}
    steps, scalars = trace.steps, trace.scalars
    return Trace.from_arrays(dict(trace.meta), steps, scalars, trace.snapshot_steps, tensors)


def assert_same_ranking(ids: np.ndarray, expected_ids: np.ndarray, probs: np.ndarray) -> None:
    """Top ids equal, except where two neighbouring probabilities tie to float rounding (their
    order is then rounding's choice)."""
    near = np.zeros(ids.shape, bool)
    close = np.abs(np.diff(probs, axis=-1)) < 1e-5  # [..., k - 1]
    near[..., :-1] |= close
    near[..., 1:] |= close
    np.testing.assert_array_equal(ids[~near], expected_ids[~near])


# -- what the Recorder keeps -----------------------------------------------------------------------
def test_the_recorder_keeps_the_arrays_with_their_dims_and_dtypes():
    trace = build_reverse_run().trace
    n_pos = len(trace.meta["probe"]["target_ids"])
    shapes = {"token_loss": (n_pos,), "token_prob": (n_pos,)}
    shapes |= {"token_top_ids": (n_pos, TOKEN_TOP_K), "token_top_probs": (n_pos, TOKEN_TOP_K)}
    for name, shape in shapes.items():
        array = trace.tensors[name]
        assert array.shape == (len(trace), *shape), name
        assert array.dtype == (np.int32 if name == "token_top_ids" else np.float32), name
        assert trace.meta["dims"][name] == list(TOKEN_TENSORS[name]), name


def test_per_token_loss_at_the_last_snapshot_is_the_models_cross_entropy():
    """Independent of the recorder: the trained model run on the probe, F.cross_entropy."""
    run = build_reverse_run()
    probe = run.task.probe()
    run.model.eval()
    with torch.no_grad():
        logits = run.model(torch.from_numpy(probe.inputs))[0].float()  # (T, V)
    targets = torch.from_numpy(probe.targets[0]).long()  # (T,)
    expected = F.cross_entropy(logits, targets, reduction="none").numpy()
    probs = logits.softmax(-1)
    top = torch.topk(probs, TOKEN_TOP_K, dim=-1)
    last = run.trace.at(int(run.trace.snapshot_steps[-1])).tensors
    assert int(run.trace.snapshot_steps[-1]) == run.trainer.step
    np.testing.assert_allclose(last["token_loss"], expected, rtol=1e-5, atol=1e-6)
    right = probs.gather(-1, targets[:, None])[:, 0].numpy()
    np.testing.assert_allclose(last["token_prob"], right, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(last["token_prob"], np.exp(-expected), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(last["token_top_probs"], top.values.numpy(), rtol=1e-5, atol=1e-7)
    assert_same_ranking(last["token_top_ids"], top.indices.numpy(), top.values.numpy())
    data = views.token_loss(run.trace)  # the view shows the recorded numbers
    assert data.recorded
    np.testing.assert_array_equal(data.loss[-1], last["token_loss"])


def test_every_snapshot_agrees_with_its_stored_logits():
    trace = build_reverse_run().trace
    logits = torch.from_numpy(np.array(trace.tensors["hook_logits"])).float()  # (S, T, V)
    targets = torch.tensor(trace.meta["probe"]["target_ids"]).long()  # (T,)
    expected = F.cross_entropy(
        logits.flatten(0, 1), targets.repeat(len(trace)), reduction="none"
    ).view(len(trace), -1)
    np.testing.assert_allclose(trace.tensors["token_loss"], expected.numpy(), rtol=1e-5, atol=1e-6)
    loss, prob = trace.tensors["token_loss"], trace.tensors["token_prob"]
    np.testing.assert_allclose(prob, np.exp(-loss.astype(np.float64)), rtol=1e-5, atol=1e-7)
    top = torch.topk(logits.softmax(-1), TOKEN_TOP_K, dim=-1)
    np.testing.assert_allclose(trace.tensors["token_top_probs"], top.values, rtol=1e-5, atol=1e-7)
    assert_same_ranking(trace.tensors["token_top_ids"], top.indices.numpy(), top.values.numpy())
    scored = np.asarray(trace.meta["probe"]["mask"])
    early, late = loss[0, scored].mean(), loss[-1, scored].mean()
    assert late < early  # training lowered it: the time-lapse has something to show


# -- files -----------------------------------------------------------------------------------------
def test_save_and_load_keep_the_arrays_exactly(tmp_path: Path):
    trace = build_reverse_run().trace
    loaded = load_trace(trace.save(tmp_path / "run.npz"))
    for name in TOKEN_TENSORS:
        assert loaded.tensors[name].dtype == trace.tensors[name].dtype, name
        np.testing.assert_array_equal(loaded.tensors[name], trace.tensors[name], err_msg=name)
    assert loaded.meta["dims"]["token_top_ids"] == ["snapshot", "pos", "rank"]


def test_an_old_trace_without_them_loads_and_the_view_computes_them_from_the_logits(tmp_path):
    recorded = build_reverse_run().trace
    old = load_trace(without_token_arrays(recorded).save(tmp_path / "old.npz"))
    assert not set(TOKEN_TENSORS) & set(old.tensors)
    computed, kept = views.token_loss(old), views.token_loss(recorded)
    assert not computed.recorded and kept.recorded
    np.testing.assert_allclose(computed.loss, kept.loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(computed.prob, kept.prob, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(computed.top_probs, kept.top_probs, rtol=1e-5, atol=1e-7)
    assert_same_ranking(computed.top_ids, kept.top_ids, kept.top_probs)
    view = TokenLossView(old)
    assert "computed from the probe's stored logits" in view.note.value


def test_a_trace_with_neither_says_what_is_missing():
    trace = synthetic_trace()
    tensors = {k: v for k, v in trace.tensors.items() if k != "hook_logits"}
    bare = Trace.from_arrays(trace.meta, trace.steps, {}, trace.snapshot_steps, tensors)
    with pytest.raises(ValueError, match=r"token_loss.*hook_logits.*holds: .*embed\.W_E"):
        views.token_loss(bare)
    no_probe = Trace.from_arrays({}, [0], {}, [0], {"hook_logits": np.zeros((1, 2, 3))})
    with pytest.raises(ValueError, match=r"target_ids"):
        views.token_loss(no_probe)


@pytest.mark.slow
def test_a_1000_step_trace_stays_within_10_mb(tmp_path: Path):
    """bench/trace_size.py's run (``explain train --task induction --steps 1000``), with the
    per-token loss: the file stays within its 10 MB budget."""
    from explain import cli

    argv = ["train", "--task", "induction", "--steps", "1000", "--out", str(tmp_path)]
    assert cli.main([*argv, "--no-report", "--quiet"]) == 0
    path = tmp_path / "trace.npz"
    trace = load_trace(path)
    assert trace.snapshot_steps[-1] == 1000 and set(TOKEN_TENSORS) <= set(trace.tensors)
    assert path.stat().st_size <= 10e6, path.stat().st_size


# -- the view model and its pictures ---------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile() -> Trace:
    """A synthetic trace (no torch) whose probe holds ``<b>``, a script tag and entities."""
    return synthetic_trace(tokens=["a", BOLD, "c", XSS, "&<>\"'", " ", "$x$"])


def test_the_view_model_holds_the_probe_as_text(hostile):
    data = views.token_loss(hostile)
    probe = hostile.meta["probe"]
    assert data.targets == probe["target_tokens"] and data.tokens == probe["tokens"]
    assert data.loss.shape == (len(hostile), len(data.targets))
    assert data.ceiling == pytest.approx(np.log(len(hostile.meta["vocab"])))
    expected = data.loss[2][np.asarray(probe["mask"])].mean()
    assert data.mean_loss(2) == pytest.approx(expected, rel=1e-6)
    assert data.top_tokens(0, 0)[0] == data.vocab[int(data.top_ids[0, 0, 0])]


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_every_export_format_writes_a_file(hostile, tmp_path, fmt):
    extra = {"max_frames": 3} if fmt in export.ANIMATED else {}
    path = export.save(hostile, tmp_path / f"token_loss.{fmt}", what="token_loss", **extra)
    assert path.stat().st_size > 100


def test_json_and_csv_hold_the_numbers(hostile, tmp_path):
    data = views.token_loss(hostile)
    saved = json.loads(export.save(hostile, tmp_path / "t.json", what="token_loss").read_text())
    assert saved["what"] == "token_loss" and saved["targets"] == data.targets
    np.testing.assert_allclose(saved["loss"], data.loss, rtol=1e-7)
    assert saved["top_ids"] == data.top_ids.tolist()
    text = export.save(hostile, tmp_path / "t.csv", what="token_loss", step=4).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(data.targets) and {r["step"] for r in rows} == {"4"}
    index = data.index(4)
    for p, row in enumerate(rows):
        assert row["target"] == data.targets[p]
        assert float(row["loss"]) == pytest.approx(float(data.loss[index, p]), rel=1e-7)
        assert row["top1_token"] == data.top_tokens(index, p)[0]


def test_tokens_are_escaped_in_the_figure_and_the_svg(hostile, tmp_path):
    figure = export.interactive(hostile, "token_loss")
    text = json.dumps(figure, default=str, ensure_ascii=False)
    assert BOLD not in text and "<script" not in text
    cells = [t for row in figure["data"][0]["text"] + figure["data"][1]["text"] for t in row]
    assert "&lt;b&gt;" in cells and "&lt;script…" in cells  # long tokens cut short in a cell
    assert "→ &lt;b&gt;" in text  # the hover of the position that predicts it: whole
    assert "→ &lt;script&gt;alert(1)&lt;/script&gt;" in text
    svg = export.save(hostile, tmp_path / "t.svg", what="token_loss").read_text()
    assert BOLD not in svg and "&lt;b&gt;" in svg
    page = export.save(hostile, tmp_path / "t.html", what="token_loss").read_text()
    ours = re.sub(r"<script>/\*\*\s*\n?\s*\* plotly\.js .*?</script>", "", page, flags=re.S)
    assert BOLD not in ours and "<script>alert(1)" not in ours


def test_the_page_has_a_frame_per_snapshot_that_recolours_the_text(hostile):
    figure = export.interactive(hostile, "token_loss", step=0)
    frames = figure["frames"]
    assert [f["name"] for f in frames] == [str(s) for s in hostile.snapshot_steps]
    first, last = (np.asarray(f["data"][0]["z"], np.float64) for f in (frames[0], frames[-1]))
    assert not np.allclose(first, last, equal_nan=True)
    assert frames[-1]["layout"]["title"]["text"].startswith("per-token loss · task synthetic")
    assert "step 16" in frames[-1]["layout"]["title"]["text"]


def fonts(value: object):
    """Every font size a figure dict sets, less transparent text (the slider's hidden labels)."""
    if isinstance(value, dict):
        for key, item in value.items():
            hidden = "rgba(0,0,0,0)" in str(item.get("color", "")) if isinstance(item, dict) else 0
            if key.endswith("font") and isinstance(item, dict) and "size" in item and not hidden:
                yield float(item["size"])
            yield from fonts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from fonts(item)


def test_no_text_under_16_px_in_presentation():
    trace = build_reverse_run().trace
    figure = export.interactive(trace, "token_loss", theme="presentation")
    sizes = list(fonts(figure))
    assert sizes and min(sizes) >= 16, sorted(sizes)[:5]


# -- the widget, the dashboard, the report ---------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_the_widget_opens_at_the_last_step_and_recolours_when_the_step_moves(theme):
    trace = build_reverse_run().trace
    view = TokenLossView(trace, theme=theme)
    last = int(trace.snapshot_steps[-1])
    assert view.step == last and f"step {last}" in view.figure.layout.title.text
    shown = np.asarray(view.figure.data[0].z, np.float64)
    assert_same_figures(view.figures(), export.interactive(trace, "token_loss", theme=theme))
    view.step = int(trace.snapshot_steps[1])
    moved = np.asarray(view.figure.data[0].z, np.float64)
    assert not np.allclose(shown, moved, equal_nan=True)
    assert "step 1<br>" in view.figure.layout.title.text
    assert_same_figures(
        view.figures(), export.interactive(trace, "token_loss", step=view.step, theme=theme)
    )
    assert_png_from_the_view_model(view, view.step, marker=False)
    assert "recorded at every snapshot" in view.note.value


def test_the_dashboard_has_the_view_on_its_shared_step():
    trace = build_reverse_run().trace
    dashboard = Dashboard(trace)
    assert isinstance(dashboard.token_loss, TokenLossView)
    dashboard.step = 7
    assert dashboard.token_loss.step == 7
    assert "step 7<br>" in dashboard.token_loss.figure.layout.title.text


def test_the_report_has_a_token_loss_section(hostile):
    page = report.build_report(hostile)
    section = page[page.index('<section id="token-loss">') :]
    section = section[: section.index("</section>")]
    assert 'id="figure-token-loss"' in section and "Plotly.newPlot(" in section
    assert '<a href="#token-loss">' in page
    assert BOLD not in section
