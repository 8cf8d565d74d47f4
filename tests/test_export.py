"""Tests for explain/export.py: every view in every format, checked against the trace itself."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _export_traces import SOURCE, TOKENS, TRACKED, XSS, real_trace, synthetic_trace

from explain import export
from explain.export import ANIMATED, FORMATS, STATIC, WHATS
from explain.style import short

ROOT = Path(__file__).resolve().parents[1]
PNG, PDF, GIF = b"\x89PNG\r\n\x1a\n", b"%PDF", b"GIF89a"


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace()


@pytest.fixture(scope="module")
def encdec():
    return synthetic_trace(encoder_decoder=True)


def pattern(trace, name: str, step: int) -> np.ndarray:
    """[head, q, k] straight from the trace's arrays (the independent reference)."""
    index = list(trace.snapshot_steps).index(step)
    return np.asarray(trace.tensors[name][index], np.float64)


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- numbers ---------------------------------------------------------------------------------
def test_attention_json_holds_every_snapshot_exactly(trace, tmp_path):
    path = export.save(trace, tmp_path / "a.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["steps"] == list(trace.snapshot_steps)
    assert data["query_tokens"] == TOKENS and data["key_tokens"] == TOKENS
    assert data["what"] == "attention" and data["colorscale"] == "viridis"
    values = np.array(data["patterns"])  # [step, layer, head, q, k]
    assert values.shape == (5, 2, 2, 7, 7)
    for layer in range(2):
        expected = trace.tensors[f"blocks.{layer}.attn.hook_pattern"]
        np.testing.assert_array_equal(values[:, layer].astype(np.float32), expected)
    np.testing.assert_allclose(values.sum(axis=-1), 1.0, atol=1e-6)  # rows still sum to 1


def test_one_head_at_one_step_as_csv(trace, tmp_path):
    path = export.save(trace, tmp_path / "h.csv", layer=1, head=0, step=8)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == 7 * 7
    assert {r["step"] for r in rows} == {"8"} and {r["layer"] for r in rows} == {"1"}
    expected = pattern(trace, "blocks.1.attn.hook_pattern", 8)[0]
    for row in rows:
        q, k = int(row["query_pos"]), int(row["key_pos"])
        assert row["query_token"] == TOKENS[q] and row["key_token"] == TOKENS[k]
        assert float(row["weight"]) == pytest.approx(expected[q, k], abs=1e-8)


def test_loss_json_and_csv_match_the_scalars(trace, tmp_path):
    data = json.loads(export.save(trace, tmp_path / "l.json", what="loss").read_text())
    for name in ("loss", "val_loss", "val_accuracy", "lr", "grad_norm"):
        steps, values = trace.scalar(name)
        assert data["curves"][name]["steps"] == steps.tolist()
        np.testing.assert_allclose(data["curves"][name]["values"], values, rtol=1e-8)
    rows = list(
        csv.DictReader(io.StringIO(export.save(trace, tmp_path / "l.csv", what="loss").read_text()))
    )
    assert [int(r["step"]) for r in rows] == list(range(17))
    assert rows[0]["loss"] == "" and float(rows[3]["loss"]) == pytest.approx(
        2 * np.exp(-0.5) + 0.01
    )
    assert rows[8]["val_loss"] != "" and rows[9]["val_loss"] == ""


def test_embeddings_pca_is_one_basis_fit_on_every_snapshot(trace):
    data = export.data(trace, "embeddings")
    vectors = np.asarray(trace.tensors["embed.W_E"], np.float64)  # [snap, vocab, d]
    pooled = vectors.reshape(-1, vectors.shape[-1])
    mean = pooled.mean(axis=0)
    _, singular, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    coords = np.array(data["coords"])  # [snap, vocab, 3]
    # same axes up to sign: compare absolute projections of every snapshot
    expected = (vectors - mean) @ vt[:3].T
    np.testing.assert_allclose(np.abs(coords), np.abs(expected), rtol=1e-6, atol=1e-6)
    ratio = singular[:3] ** 2 / (singular**2).sum()
    np.testing.assert_allclose(data["explained"], ratio, rtol=1e-6)
    assert data["tokens"] == trace.meta["vocab"]
    unit = vectors[0] / np.linalg.norm(vectors[0], axis=1, keepdims=True)
    np.testing.assert_allclose(data["similarity"][0], unit @ unit.T, atol=1e-6)


def test_optimizer_and_positional_data(trace):
    optimizer = export.data(trace, "optimizer", step=4)
    assert optimizer["parameter"] == TRACKED and optimizer["steps"] == [4]
    v = np.asarray(trace.tensors[f"exp_avg_sq/{TRACKED}"][2], np.float64)
    np.testing.assert_allclose(optimizer["tensors"]["exp_avg_sq"][0], np.sqrt(v), rtol=1e-6)
    update = np.asarray(trace.tensors[f"update/{TRACKED}"][2], np.float64)
    assert optimizer["norms"]["update"][0] == pytest.approx(np.linalg.norm(update), rel=1e-6)
    assert sum(optimizer["histogram_counts"][0]) == update.size
    assert optimizer["update_ratio"][TRACKED][0] is None  # step 0 has no update: null, not NaN
    positional = export.data(trace, "positional", step=16)
    table = np.asarray(trace.tensors["positional"][-1], np.float64)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    np.testing.assert_allclose(positional["similarity"][0], unit @ unit.T, atol=1e-6)


def test_encoder_decoder_cross_attention_by_default(encdec, tmp_path):
    data = export.data(encdec, "attention")
    assert data["part"] == "cross"
    assert data["query_tokens"] == TOKENS and data["key_tokens"] == SOURCE
    np.testing.assert_array_equal(
        np.array(data["patterns"])[:, 1].astype(np.float32),
        encdec.tensors["decoder.blocks.1.cross.hook_pattern"],
    )
    encoder = export.data(encdec, "attention", part="encoder", layer=0, step=2)
    assert encoder["query_tokens"] == SOURCE and encoder["key_tokens"] == SOURCE
    decoder = export.data(encdec, "attention", part="decoder")
    assert decoder["key_tokens"] == TOKENS
    assert export.data(encdec, "embeddings")["tensor"] == "decoder.embed.W_E"
    assert export.data(encdec, "embeddings", part="encoder")["tensor"] == "encoder.embed.W_E"


# -- images ----------------------------------------------------------------------------------
def test_heatmap_row_zero_on_top_with_tokens_on_both_axes(trace):
    figure = export.figure(trace, "attention", layer=0, head=1, step=4)
    heatmaps = [ax for ax in figure.axes if ax.images]
    assert len(heatmaps) == 2  # the head chosen, then the grid of every head (as the widget)
    ax = heatmaps[0]
    np.testing.assert_array_equal(
        ax.images[0].get_array(),
        pattern(trace, "blocks.0.attn.hook_pattern", 4)[1].astype(np.float32),
    )
    assert ax.yaxis_inverted()  # row 0 (query 0) at the top
    shown = ["␣" if t == " " else t.replace("$", r"\$") for t in TOKENS]
    assert [t.get_text() for t in ax.get_xticklabels()] == shown
    assert [t.get_text() for t in ax.get_yticklabels()] == shown


def test_grid_of_every_layer_and_head(trace):
    figure = export.figure(trace, step=4)
    grid = [ax for ax in figure.axes if ax.images][1]
    mosaic = grid.images[0].get_array()
    q = len(TOKENS)  # under 32 tokens: a thumbnail is the pattern itself
    assert mosaic.shape == (2 * (q + 1) - 1, 2 * (q + 1) - 1)  # 2 layers x 2 heads, gaps between
    for layer in (0, 1):
        for head in (0, 1):
            cell = mosaic[
                layer * (q + 1) : layer * (q + 1) + q, head * (q + 1) : head * (q + 1) + q
            ]
            expected = pattern(trace, f"blocks.{layer}.attn.hook_pattern", 4)[head]
            np.testing.assert_allclose(cell, expected, atol=1e-6)


@pytest.mark.parametrize("what", WHATS)
@pytest.mark.parametrize("fmt", STATIC)
def test_static_images_of_every_view(trace, tmp_path, what, fmt):
    path = export.save(trace, tmp_path / f"{what}.{fmt}", what=what)
    head = path.read_bytes()[:8]
    assert {
        "png": head == PNG,
        "pdf": head.startswith(PDF),
        "svg": b"<?xml" in path.read_bytes()[:100],
    }[fmt]
    assert files_in(tmp_path) == [path.name]  # no temp file left behind


def test_svg_escapes_tokens_and_keeps_them_as_text(trace, tmp_path):
    svg = export.save(trace, tmp_path / "a.svg", layer=0, head=0).read_text(encoding="utf-8")
    assert "<script" not in svg.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg  # shown as text, escaped
    assert "&amp;&lt;&gt;" in svg and "$x$" in svg  # entities escaped; "$" not parsed as math


def test_png_depends_on_step_and_is_reproducible(trace, tmp_path):
    first = export.save(trace, tmp_path / "0.png", step=0).read_bytes()
    again = export.save(trace, tmp_path / "0b.png", step=0).read_bytes()
    later = export.save(trace, tmp_path / "16.png", step=16).read_bytes()
    assert first == again and first != later


def test_gif_has_one_frame_per_snapshot_and_they_change(trace, tmp_path):
    from PIL import Image

    path = export.save(trace, tmp_path / "a.gif")
    assert path.read_bytes()[:6] == GIF
    with Image.open(path) as gif:
        assert gif.n_frames == len(trace.snapshot_steps)
        frames = []
        for number in (0, gif.n_frames - 1):
            gif.seek(number)
            frames.append(np.asarray(gif.convert("RGB"), np.int16))
    assert np.abs(frames[0] - frames[1]).mean() > 0.5  # attention sharpens between them


def test_gif_frames_are_capped(trace, tmp_path):
    from PIL import Image

    with Image.open(export.save(trace, tmp_path / "a.gif", max_frames=3)) as gif:
        assert gif.n_frames == 3


def test_mp4_is_h264_with_every_frame(trace, tmp_path):
    import imageio_ffmpeg

    path = export.save(trace, tmp_path / "a.mp4", what="embeddings", fps=10)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp" and b"avc1" in data[:4096]
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert frames == 5 + 15 - 1  # 5 snapshots, the last held 1.5 s at 10 fps
    assert files_in(tmp_path) == ["a.mp4"]


def test_save_animation_writes_gif_and_mp4_from_one_rendering(trace, tmp_path):
    paths = export.save_animation(trace, [tmp_path / "a.gif", tmp_path / "a.mp4"], layer=1)
    assert [p.name for p in paths] == ["a.gif", "a.mp4"] and files_in(tmp_path) == [
        "a.gif",
        "a.mp4",
    ]
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        export.save_animation(trace, [tmp_path / "a.png"])
    with pytest.raises(TypeError, match=r"step.*it takes part, layer"):
        export.save_animation(trace, [tmp_path / "b.gif"], step=0)
    with pytest.raises(ValueError, match="fps"):
        export.save_animation(trace, [tmp_path / "b.gif"], fps=0)
    assert files_in(tmp_path) == ["a.gif", "a.mp4"]


def test_save_writes_an_animation_whose_format_is_given_not_named(trace, tmp_path):
    path = export.save(trace, tmp_path / "training.bin", format="gif", max_frames=2)
    assert path.read_bytes()[:6] == b"GIF89a" and files_in(tmp_path) == ["training.bin"]


def test_an_interrupted_save_animation_leaves_no_file_from_either_writer(
    trace, tmp_path, monkeypatch
):
    """Ctrl-C reaches only the calling thread: the writer still encoding must not rename its
    file into place afterwards. Here the GIF writer is interrupted at once while the MP4 one is
    still writing; neither file appears, and no temporary file is left."""
    import time

    def write_frames(temp, format, images, fps):
        if format == "gif":
            raise KeyboardInterrupt
        time.sleep(0.5)
        Path(temp).write_bytes(b"a whole mp4")

    monkeypatch.setattr(export, "_write_frames", write_frames)
    with pytest.raises(KeyboardInterrupt):
        export.save_animation(trace, [tmp_path / "a.gif", tmp_path / "a.mp4"])
    assert files_in(tmp_path) == []


# -- html ------------------------------------------------------------------------------------
@pytest.mark.parametrize("what", WHATS)
def test_html_is_offline_with_one_plotly_and_escaped_tokens(trace, tmp_path, what):
    text = export.save(trace, tmp_path / f"{what}.html", what=what).read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)  # nothing loaded from anywhere
    figures = export.interactive(trace, what)
    count = len(figures) if isinstance(figures, list) else 1  # attention: the head and the grid
    assert text.count("Plotly.newPlot(") == count + text.count("Plotly.newPlot=")
    assert len(re.findall(r"plotly\.js (?:\([^)]*\) )?v\d", text)) == 1  # plotly.js inlined once
    assert "<script>alert(1)" not in text
    ours = re.sub(r"<script>/\*\*\s*\n?\s*\* plotly\.js .*?</script>", "", text, flags=re.S)
    assert len(ours) < len(text) - 1_000_000  # the bundle was found and cut out
    # no URL outside plotly.js (an XML namespace name, never fetched, is not one)
    ours = ours.replace('"http://www.w3.org/1999/xlink"', "")
    assert "http://" not in ours and "https://" not in ours


def test_html_figure_frames_follow_the_snapshots(trace):
    heatmap, grid = export.interactive(trace, "attention", step=4)
    for figure in (heatmap, grid):
        assert [f["name"] for f in figure["frames"]] == [str(s) for s in trace.snapshot_steps]
        assert figure["layout"]["sliders"][0]["active"] == 2
        assert [d["type"] for d in figure["data"]] == ["heatmap"]
        assert figure["layout"]["yaxis"]["autorange"] == "reversed"
    frame = heatmap["frames"][0]
    np.testing.assert_array_equal(  # a frame is that step's head, the title says the step
        frame["data"][0]["z"], pattern(trace, "blocks.0.attn.hook_pattern", 0)[0]
    )
    assert frame["layout"]["title"]["text"].endswith("layer 0 head 0 · step 0")
    assert XSS not in json.dumps(heatmap, default=str)  # tokens reach plotly escaped


# -- choices and errors ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(what="weights"), "expected one of attention, embeddings"),
        (dict(format="jpeg"), "expected one of png, svg"),
        (dict(layer=2), r"layer 2 .*available: 0, 1"),
        (dict(head=5), r"head 5 .*available: 0, 1"),
        (dict(layer=-1), r"layer -1 .*available: 0, 1"),
        (dict(part="cross"), "part 'cross' is not in this trace; available: self"),
        (dict(step=3), r"step 3 has no snapshot .*nearest: 2, 4"),
        (dict(step=99), r"step 99 .*nearest: 16"),
        (dict(what="loss", head=0), "head cannot be used with what='loss'"),
        (dict(what="optimizer", parameter="w"), r"parameter 'w' .*available: embed.W_E.weight"),
    ],
)
def test_bad_choices_name_what_is_available(trace, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export.save(trace, tmp_path / "x.png", **kwargs)
    assert files_in(tmp_path) == []


def test_format_comes_from_the_suffix_or_must_be_given(trace, tmp_path):
    with pytest.raises(ValueError, match=r"cannot tell the format from 'x\.jpg'"):
        export.save(trace, tmp_path / "x.jpg")
    path = export.save(trace, tmp_path / "x.data", format="json")
    assert json.loads(path.read_text())["what"] == "attention"


def test_an_animation_cannot_take_a_step(trace, tmp_path):
    with pytest.raises(ValueError, match="animation shows every snapshot"):
        export.save(trace, tmp_path / "x.gif", step=2)


def test_missing_views_are_named(tmp_path):
    no_positional = synthetic_trace(positional=False)
    with pytest.raises(
        ValueError, match=r"no 'positional' tensor \(the model used positional='none'"
    ):
        export.save(no_positional, tmp_path / "p.png", what="positional")
    from explain.trace import Trace

    bare = Trace.from_arrays({}, [0, 1], {"loss": [1.0, 0.5]}, [], {})
    with pytest.raises(ValueError, match="no attention patterns"):
        export.save(bare, tmp_path / "a.png")
    assert export.data(bare, "loss")["curves"]["loss"]["values"] == [1.0, 0.5]


# -- files -----------------------------------------------------------------------------------
def test_a_failing_writer_leaves_no_file_and_no_temp(trace, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def half_then_fail(self, fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise RuntimeError("disk unplugged")

    monkeypatch.setattr(Figure, "savefig", half_then_fail)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        export.save(trace, tmp_path / "a.png")
    assert files_in(tmp_path) == []


def test_an_interrupted_export_keeps_the_old_file(trace, tmp_path, monkeypatch):
    from explain._render import animate as _animate

    old = export.save(trace, tmp_path / "a.gif", max_frames=2)
    before = old.read_bytes()

    def interrupted(file, frames, fps=8):
        file.write(b"GIF89a partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_animate, "write_gif", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.save(trace, tmp_path / "a.gif")
    assert old.read_bytes() == before and files_in(tmp_path) == ["a.gif"]


def test_unwritable_path_is_a_clear_error(trace, tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(NotADirectoryError, match=r"cannot write .*file/a\.png: .*is a file"):
        export.save(trace, tmp_path / "file" / "a.png")


def test_missing_directories_are_created(trace, tmp_path):
    path = export.save(trace, tmp_path / "new" / "dir" / "a.csv", what="loss")
    assert path.exists()


def test_export_and_report_never_import_torch(tmp_path):
    script = f"""
import sys
sys.modules["torch"] = None  # any "import torch" now raises ImportError
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "tests")!r}]
from _export_traces import synthetic_trace
from explain import export, report
trace = synthetic_trace()
for name in ("a.png", "a.svg", "a.html", "a.json", "a.csv", "a.gif"):
    export.save(trace, {str(tmp_path)!r} + "/" + name)
report.save_report(trace, {str(tmp_path)!r} + "/r.html")
print("ok", "torch" in sys.modules and sys.modules["torch"] is not None)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "False"]


# -- a real trace ----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("what", WHATS)
def test_every_format_of_a_real_trace(tmp_path, what):
    trace = real_trace()
    for fmt in FORMATS:
        kwargs = {"max_frames": 4} if fmt in ANIMATED else {}
        path = export.save(trace, tmp_path / f"{what}.{fmt}", what=what, **kwargs)
        assert path.stat().st_size > 100, (what, fmt)
    assert len(os.listdir(tmp_path)) == len(FORMATS)


# -- in a browser ----------------------------------------------------------------------------
# the first heatmap's values as plotly holds them now (decoded from the typed array)
FIRST_Z = (
    "() => JSON.stringify(Array.from(document.querySelector('.js-plotly-plot')._fullData"
    ".find(t => t.type === 'heatmap').z, row => Array.from(row)))"
)


# every figure title's lines that lie outside their plot's div: [title, px above, px below]
TITLES_OUTSIDE = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(div => {
  const box = div.getBoundingClientRect(), title = div.querySelector('.gtitle');
  if (!title) return [];
  const lines = title.querySelectorAll('tspan.line');
  return Array.from(lines.length ? lines : [title]).map(line => {
    const r = line.getBoundingClientRect();
    return [line.textContent, Math.round(box.top - r.top), Math.round(r.bottom - box.bottom)];
  }).filter(([, above, below]) => above > 0 || below > 0);
})"""


@pytest.mark.browser
@pytest.mark.parametrize("what", WHATS)
def test_exported_html_renders_offline(trace, tmp_path, browser, what):
    from _export_traces import OfflinePage

    path = export.save(trace, tmp_path / f"{what}.html", what=what)
    page = OfflinePage(browser)
    try:
        page.open(path)
        kinds = page.page.evaluate(
            "() => document.querySelector('.js-plotly-plot').data.map(t => t.type)"
        )
        expected = {
            "embeddings": "scatter",
            "loss": "scatter",
            "optimizer": "scatter",
            "scores": "scatter",
            "pruning": "scatter",
        }.get(what, "heatmap")
        assert kinds.count(expected) > 0, kinds
        assert page.page.locator(".main-svg").count() > 0
        # every line of every title in sight (a two-line title's first line sat above the
        # heads grid, out of the figure, in every page)
        try:
            page.page.wait_for_function(f"() => ({TITLES_OUTSIDE})().length === 0", timeout=5000)
        except Exception:
            pass  # the assertion below says which
        assert page.page.evaluate(TITLES_OUTSIDE) == []
        assert page.blocked == [] and page.errors == [] and page.dialogs == []
    finally:
        page.close()


@pytest.mark.browser
def test_exported_html_slider_moves_the_heatmap_and_shows_tokens_as_text(trace, tmp_path, browser):
    from _export_traces import OfflinePage

    path = export.save(trace, tmp_path / "attention.html", layer=0, head=1)
    page = OfflinePage(browser)
    try:
        page.open(path)
        before = page.page.evaluate(FIRST_Z)
        assert "step 16" in page.page.locator(".slider-label").first.text_content()
        rail = page.page.locator(".slider-rail-rect").first.bounding_box()  # the head's figure
        page.page.mouse.click(rail["x"] + 2, rail["y"] + rail["height"] / 2)  # to step 0
        page.page.wait_for_function(f"() => ({FIRST_Z})() !== {json.dumps(before)}")
        assert "step 0" in page.page.locator(".slider-label").first.text_content()
        expected = pattern(trace, "blocks.0.attn.hook_pattern", 0)[1]
        np.testing.assert_allclose(json.loads(page.page.evaluate(FIRST_Z)), expected, atol=1e-6)
        ticks = page.page.locator(".xtick text").all_text_contents()
        assert short(XSS) in ticks and "&<>\"'" in ticks  # shown literally, as text, shortened
        hover = page.page.evaluate(  # the whole token on hover, as the widget shows it
            "() => document.querySelector('.js-plotly-plot').data[0].customdata"
        )
        assert [html.escape(XSS, quote=False)] * 2 in [cell for row in hover for cell in row]
        assert page.dialogs == [] and page.blocked == [] and page.errors == []
    finally:
        page.close()


def test_a_figure_shows_in_a_notebook_without_pyplot(trace):
    """export.figure's Figure is a cell's picture (IPython asks it for PNG) with no pyplot."""
    from IPython.core.formatters import PNGFormatter

    png = PNGFormatter()(export.figure(trace, "scores"))
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
