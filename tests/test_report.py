"""Tests for explain/report.py: one offline page that shows a whole run."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from _export_traces import XSS, OfflinePage, real_trace, synthetic_trace

from explain import report, views
from explain._render import plotly as _plotly_views
from explain.names import attention_parts
from explain.style import LIGHT
from explain.trace import Trace

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
VENDOR = ROOT / "explain" / "_vendor"


def _report_views(trace: Trace) -> list:
    """Every view model the report draws for ``trace``."""
    parts = attention_parts(trace.attention_names())
    made = [views.attention(trace, part) for part in parts]
    for make in (views.heads, views.lens, views.embeddings, views.positional, views.loss,
                 views.token_loss, views.optimizer):  # fmt: skip
        try:
            made.append(make(trace))
        except ValueError:  # the report leaves that section out too
            pass
    return made


@pytest.fixture(scope="module")
def trace():
    return synthetic_trace()


@pytest.fixture(scope="module")
def page_text(trace):
    return report.build_report(trace)


def test_every_section_is_there(page_text):
    for anchor in (
        "predictions",
        "attention-self",
        "heads",
        "lens",
        "embeddings",
        "positional",
        "loss",
        "token-loss",
        "optimizer",
    ):
        assert f'id="{anchor}"' in page_text, anchor
    # every figure of every section drawn (attention: the head and the grid; heads: its panels)
    figures = page_text.count('<div class="figure">')
    assert page_text.count("Plotly.newPlot(") == figures >= 8
    # one copy of plotly.js for all figures: the vendored cartesian bundle, not the full one
    assert page_text.count("plotly.js (cartesian - minified) v") == 1
    assert not re.search(r"plotly\.js v\d", page_text)
    assert not re.search(r"<script[^>]+src=", page_text)


def _bundle_trace_types() -> set[str]:
    """The trace types the vendored bundle registers, read from its own code."""
    code = (VENDOR / "plotly-cartesian.min.js").read_text(encoding="utf-8")
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', code))


def test_the_cartesian_bundle_is_the_plotly_packages_version_and_intact():
    from plotly.offline import get_plotlyjs

    code = (VENDOR / "plotly-cartesian.min.js").read_bytes()
    full = re.search(r"plotly\.js v([\d.]+)", get_plotlyjs()[:500]).group(1)
    assert re.search(rb"plotly\.js \(cartesian - minified\) v([\d.]+)", code[:300]).group(1) == (
        full.encode()
    )  # the figures' typed arrays and attributes are read by the same plotly.js version
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if "plotly-cartesian.min.js" in line)
    assert hashlib.sha256(code).hexdigest() in row
    assert "MIT License" in (VENDOR / "plotly.LICENSE").read_text(encoding="utf-8")


def test_an_unknown_bundle_is_named():
    from explain._render import page as _plotly

    expected = r"bundle must be one of \('full', 'cartesian'\); got 'tiny'"
    with pytest.raises(ValueError, match=expected):
        _plotly.plotly_js("tiny")


@pytest.mark.parametrize("encoder_decoder", [False, True])
def test_every_trace_type_of_the_report_is_in_the_bundle(encoder_decoder):
    trace = synthetic_trace(encoder_decoder=encoder_decoder)
    figures = [
        figure
        for view in _report_views(trace)
        for figure in _plotly_views.page_figures(
            view, range(len(view.steps)), len(view.steps) - 1, LIGHT
        )
    ]
    used = {t.get("type", "scatter") for f in figures for t in f["data"]}  # plotly's default
    assert {"heatmap", "scatter"} <= used
    assert used <= _bundle_trace_types(), used - _bundle_trace_types()


def test_tokens_are_escaped_everywhere(page_text):
    assert "<script>alert(1)" not in page_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_text  # probe chips and table
    assert "<i>safe</i>" not in page_text and "&lt;i&gt;safe&lt;/i&gt;" in page_text


def test_predictions_table_matches_the_logits(trace, page_text):
    logits = np.asarray(trace.tensors["hook_logits"][-1], np.float64)
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    vocab, probe = trace.meta["vocab"], trace.meta["probe"]
    table = page_text.split('<table class="predictions">')[1].split("</table>")[0]
    rows = re.findall(r"<tr class=\"(\w+)\">(.*?)</tr>", table)
    assert len(rows) == len(probe["tokens"])
    right = 0
    for pos, (kind, row) in enumerate(rows):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        guess = int(probs[pos].argmax())
        assert cells[3] == report._esc(report.visible(vocab[guess]))
        assert float(cells[4]) == pytest.approx(probs[pos, guess], abs=0.005)
        assert kind == ("answer" if probe["mask"][pos] else "context")
        right += probe["mask"][pos] and vocab[guess] == probe["target_tokens"][pos]
    answered = sum(probe["mask"])
    assert f"gets {right} of {answered} answer positions right" in page_text


def test_timeline_drives_the_figures_with_frames(page_text):
    data = re.search(
        r'<script type="application/json" id="timeline-data">(.*?)</script>', page_text
    ).group(1)
    timeline = json.loads(data)
    assert timeline["steps"] == [0, 2, 4, 8, 16]
    # every figure that changes with the step follows it, each view's figures as its widget
    # shows them; positional is learned here (it changes), so it animates too
    assert timeline["figures"] == [
        "figure-attention-self",  # the head
        "figure-attention-self-1",  # the grid of every head, badged
        "figure-heads",  # the role badges follow the step
        "figure-heads-3",  # the pattern scores, the step marked (after pruning, similarity)
        "figure-embeddings",
        "figure-embeddings-1",  # cosine similarity
        "figure-positional",
        "figure-positional-1",  # the first dimensions as curves
        "figure-positional-2",  # similarity of positions
        "figure-loss",  # the step marked
        "figure-token-loss",  # the probe's tokens recoloured
        "figure-optimizer",
    ]
    # the timeline is the only step control: the figures it drives have no slider or play
    # button; the lens keeps its slider over positions
    layouts = {
        div_id: json.loads(layout)
        for div_id, layout in re.findall(
            r'Plotly\.newPlot\(\s*"([\w-]+)",\s*\[.*?\],\s*(\{.*?\}),\s*\{"displaylogo"',
            page_text,
            flags=re.S,
        )
    }
    assert set(timeline["figures"]) < set(layouts)
    for div_id in timeline["figures"]:
        assert "sliders" not in layouts[div_id] and "updatemenus" not in layouts[div_id], div_id
    assert layouts["figure-lens"]["sliders"][0]["currentvalue"]["prefix"] != "step "


def test_encoder_decoder_report_has_each_attention_part():
    text = report.build_report(synthetic_trace(encoder_decoder=True))
    for part in ("cross", "encoder", "decoder"):
        assert f'id="attention-{part}"' in text
    assert "source (encoder input)" in text and "&lt;b&gt;deux&lt;/b&gt;" in text


def test_a_trace_with_only_a_loss_still_reports():
    bare = Trace.from_arrays({}, [0, 1, 2], {"loss": [2.0, 1.0, 0.5]}, [], {})
    text = report.build_report(bare)
    assert 'id="loss"' in text and 'id="attention' not in text
    assert "no probe logits" in text and "timeline-data" not in text


def test_a_compression_table_in_the_meta_gets_an_escaped_section():
    rows = [
        {"model": "teacher", "trained": "teacher", "parameters": 104331, "step_ms": 1.234,
         "val_accuracy": 1.0},
        {"model": f"d_model=32 {XSS}", "trained": "<i>distilled</i>", "parameters": 27019,
         "step_ms": 0.5, "val_accuracy": 0.875},
    ]  # fmt: skip
    meta = {"compression": {"task": "reverse", "steps": 40, "temperature": 2.0, "alpha": 0.5,
                            "rows": rows}}  # fmt: skip
    text = report.build_report(Trace.from_arrays(meta, [0, 1], {"loss": [2.0, 1.0]}, [], {}))
    section = text[text.index('<section id="compression">') :]
    section = section[: section.index("</section>")]
    assert '<a href="#compression">Compression</a>' in text
    for cell in ("teacher", "104,331", "1.23", "27,019", "0.875", "40 steps", "T=2.0"):
        assert cell in section, cell
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "<i>distilled" not in text and "&lt;i&gt;distilled&lt;/i&gt;" in section
    for header in ("model", "trained", "parameters", "step ms", "val accuracy"):
        assert f"<th>{header}</th>" in section


@pytest.mark.parametrize(
    ("stopped", "shown"),
    [
        ({"step": 120, "reason": "val_loss did not improve for 5 evaluations"},
         "stopped at step 120: val_loss did not improve for 5 evaluations"),
        ({"step": 7, "reason": f"patience {XSS}"},
         "stopped at step 7: patience &lt;script&gt;alert(1)&lt;/script&gt;"),
        ({"step": 3}, "stopped at step 3"),
    ],
)  # fmt: skip
def test_an_early_stop_is_in_the_summary(stopped, shown):
    meta = {"stopped": stopped, "status": "stopped"}
    text = report.build_report(Trace.from_arrays(meta, [0, 1], {"loss": [2.0, 1.0]}, [], {}))
    facts = text[text.index('<table class="facts">') :]
    facts = facts[: facts.index("</table>")]
    assert f"<td>{shown}</td>" in facts
    assert "<script>alert(1)" not in text


@pytest.mark.parametrize("stopped", [None, "early", {"reason": "x"}, {"step": True}])
def test_no_early_stop_line_without_a_stop_record(stopped):
    meta = {} if stopped is None else {"stopped": stopped}
    text = report.build_report(Trace.from_arrays(meta, [0, 1], {"loss": [2.0, 1.0]}, [], {}))
    assert "stopped at step" not in text


def test_no_compression_section_without_the_table(page_text):
    assert 'id="compression"' not in page_text


def test_save_report_is_atomic(trace, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="must be an explain.Trace"):
        report.build_report("trace.npz")
    path = report.save_report(trace, tmp_path / "r.html")
    before = path.read_bytes()
    assert before.startswith(b"<!doctype html>")

    def half_then_fail(self, text, *args, **kwargs):
        Path.write_bytes(self, text[: len(text) // 2].encode())
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        report.save_report(trace, tmp_path / "r.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    assert path.read_bytes() == before


# a figure's first heatmap as plotly holds it now (decoded from the typed array)
Z = (
    "id => JSON.stringify(Array.from(document.getElementById(id)._fullData"
    ".find(t => t.type === 'heatmap').z, row => Array.from(row)))"
)


@pytest.mark.browser
def test_report_renders_offline_and_the_timeline_moves_every_figure(trace, tmp_path, browser):
    path = report.save_report(trace, tmp_path / "report.html")
    page = OfflinePage(browser)
    try:
        page.open(path)
        page.page.wait_for_function("() => document.querySelectorAll('.main-svg').length >= 10")
        plots = page.page.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")
        assert plots == path.read_text(encoding="utf-8").count('<div class="figure">')
        heatmaps = page.page.evaluate(
            "() => ['figure-attention-self', 'figure-attention-self-1'].map(id => document"
            ".getElementById(id).data.filter(t => t.type === 'heatmap').length)"
        )
        assert heatmaps == [1, 1]  # the head, and the grid of every head
        before = {
            fid: page.page.evaluate(Z, fid)
            for fid in ("figure-attention-self", "figure-positional")
        }
        page.page.evaluate("""() => { const s = document.getElementById('timeline-step');
                                       s.value = 0; s.dispatchEvent(new Event('input')); }""")
        assert page.page.locator("#timeline-label").inner_text() == "step 0"
        for fid, z in before.items():
            page.page.wait_for_function(f"() => ({Z})('{fid}') !== {z!r}")
        first = np.array(json.loads(page.page.evaluate(Z, "figure-attention-self")))
        expected = np.asarray(trace.tensors["blocks.0.attn.hook_pattern"][0, 0])
        np.testing.assert_allclose(first, expected, atol=1e-6)
        assert XSS in page.page.locator("#predictions").inner_text()  # shown, not run
        assert page.dialogs == [] and page.blocked == [] and page.errors == []
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_report_of_a_real_run_screenshot(tmp_path, browser):
    """Renders a real run's report and saves a screenshot to test-artifacts/ to look at."""
    path = report.save_report(real_trace(), tmp_path / "report.html")
    page = OfflinePage(browser, height=1100)
    try:
        page.open(path)
        page.page.wait_for_function("() => document.querySelectorAll('.main-svg').length >= 10")
        ARTIFACTS.mkdir(exist_ok=True)
        page.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        assert page.blocked == [] and page.errors == [] and page.dialogs == []
    finally:
        page.close()
