"""The attribution view: explain.views.attribution, its two builders, its files, AttributionView
and the record that explain.lab.attribution.probe_attribution writes.

Each number is checked against a computation that does not go through the view: the model's
own logits from a plain forward pass, explain.lab.attribute called position by position on the
model, and the attention patterns the trace stored at its last snapshot.
"""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest
import torch
from _export_traces import synthetic_trace
from _figures import as_json, assert_png_from_the_view_model, assert_same_figures
from _no_torch import run_without_torch
from _same import same
from test_one_figure_presentation import MIN_PX, fonts, overlapping

import explain
from explain import export, report, views
from explain._render import matplotlib as mpl
from explain._render.plotly import attribution as builder
from explain._render.rules import label, mpl_text
from explain.lab.attribution import attribute, part_names, probe_attribution
from explain.run import default_model_config
from explain.style import theme as as_theme
from explain.trace import Trace
from widgets import AttributionView, Dashboard

TINY = dict(d_model=16, n_heads=2, n_layers=2, d_mlp=32)  # a task's model, small and fast


def tiny_run(name: str):
    """``name`` trained 20 steps on a tiny model (~1 s), its attribution stored as
    explain.lab.record will store it."""
    task = explain.tasks.get(name)
    config = default_model_config(task, **TINY)
    train = explain.TrainConfig(steps=20, batch_size=16, eval_every=10, seed=0)
    run = explain.train(task, config, train)
    run.trace.meta["lab"] = {"attribution": probe_attribution(run)}
    return run


@pytest.fixture(scope="module")
def run():
    return tiny_run("reverse")


@pytest.fixture(scope="module")
def cross_run():
    """An encoder-decoder run: its parts include cross-attention heads ("L0X1")."""
    return tiny_run("translate")


@pytest.fixture(scope="module")
def view(run):
    return AttributionView(run.trace)


def probe_of(run) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """The probe's ids [pos], source ids (or None), targets [pos] and answer positions."""
    probe = run.task.probe()
    source = None if probe.source is None else probe.source[0]
    return probe.inputs[0], source, probe.targets[0], np.flatnonzero(probe.mask[0])


def own_logits(run) -> np.ndarray:
    """[pos, vocab] the model's logits for the probe from a plain forward pass (no hooks)."""
    ids, source, _, _ = probe_of(run)
    kwargs = {} if source is None else {"source": torch.tensor(source[None])}
    run.model.eval()
    with torch.no_grad():
        return run.model(torch.tensor(ids[None]), **kwargs)[0].double().numpy()


def last_pattern(trace: Trace, hook: str, head: int) -> np.ndarray:
    """The stored pattern [q_pos, k_pos] of ``head`` at the trace's last snapshot."""
    return trace.tensor(hook, int(trace.snapshot_steps[-1]))[head]


def click(view: AttributionView, curve: int, index: int) -> None:
    """What plot.js sends for a click on point ``index`` of trace ``curve``."""
    message = {"event": "click", "points": [{"curve": curve, "x": 0.1, "y": 0, "index": index}]}
    view.figure_plot.widget._handle_custom_msg(message, [])


def without_record(trace: Trace) -> Trace:
    meta = {**trace.meta, "lab": {k: v for k, v in trace.meta["lab"].items() if k != "attribution"}}
    steps = trace.snapshot_steps
    return Trace.from_arrays(meta, steps, {}, steps, dict(trace.tensors))


# ------------------------------------------------------------------------ the lab's record


def test_the_record_is_each_answers_logit_split_into_parts(run):
    record = run.trace.meta["lab"]["attribution"]
    json.dumps(record, allow_nan=False)  # plain JSON, as trace meta must be
    ids, _, targets, answers = probe_of(run)
    logits = own_logits(run)  # [pos, vocab]
    vocab = run.task.vocab
    assert record["positions"] == answers.tolist()
    assert record["tokens"] == [vocab[i] for i in ids] and record["source"] is None
    assert record["targets"] == [vocab[targets[p]] for p in answers]
    assert record["predicted"] == [vocab[logits[p].argmax()] for p in answers]
    assert record["names"] == part_names(run.model) and record["step"] == 20
    right = logits[answers, targets[answers]]  # the model's own logit of each right token
    np.testing.assert_allclose(record["logits"], right, atol=1e-5)
    np.testing.assert_allclose(np.sum(record["values"], axis=1), right, atol=1e-4)


def test_a_run_measures_again_when_the_record_is_older_than_its_model(run):
    lab = run.trace.meta["lab"]
    kept = lab["attribution"]
    try:
        lab["attribution"] = {**kept, "step": 3, "logits": [0.0] * len(kept["logits"])}
        view = AttributionView(run)
        assert lab["attribution"]["step"] == 20 and view.data.measured == 20
        np.testing.assert_allclose(view.data.logits, kept["logits"])
        assert "measured from the run's model" in view.note.value
    finally:
        lab["attribution"] = kept


# ------------------------------------------------------------------------ what the bars show


def test_bars_are_the_attribution_recomputed_from_the_model(run, view):
    ids, _, targets, answers = probe_of(run)
    logits = own_logits(run)
    for position in answers.tolist():
        view.position = position
        bars, total, _ = view.figure.data
        expected = attribute(run.model, ids, position, target=int(targets[position]))
        np.testing.assert_allclose(bars.x, expected.values, rtol=1e-6, atol=1e-7)
        # they sum to the model's own logit, which the grey bar shows
        own = logits[position, targets[position]]
        assert np.sum(bars.x) == pytest.approx(own, abs=1e-4)
        assert total.x[0] == pytest.approx(own, abs=1e-5)
        assert list(view.figure.layout.yaxis.ticktext) == [*part_names(run.model), "sum"]
        title = view.figure.layout.title.text
        token, target = (label(run.task.vocab[i]) for i in (ids[position], targets[position]))
        assert f"position {position} '{token}' → '{target}': logit {own:.3g}" in title
        assert "= sum of the parts" in title


def test_the_picture_shows_the_same_numbers_and_labels(run, view):
    data = view.data
    for position in data.positions[[0, -1]].tolist():
        figure = as_json(builder.figure(data, 0, as_theme("light"), position))
        with mpl.style(as_theme("light")):
            drawn = mpl.draw(data, 0, position=position)
        bars_ax, heat_ax = drawn.figure.axes[:2]
        widths = [bar.get_width() for bars in bars_ax.containers for bar in bars]
        np.testing.assert_allclose(widths, [*figure["data"][0]["x"], *figure["data"][1]["x"]])
        labels = [label.get_text() for label in bars_ax.get_yticklabels()]
        assert labels == figure["layout"]["yaxis"]["ticktext"]
        # the plotly title's text, with matplotlib's text rules (no HTML escapes, "$" literal)
        title = builder.heading(data, 0, position, mpl_text, "\n")
        assert drawn.figure._suptitle.get_text() == title
        assert figure["layout"]["title"]["text"] == builder.heading(data, 0, position)
        head = builder.opened_head(data, position, None)
        np.testing.assert_array_equal(heat_ax.images[0].get_array(), data.patterns[head])
        assert heat_ax.get_title() == builder.head_title(data, head, position, newline="\n")


def test_the_position_selector_changes_the_bars(run, view):
    data = view.data
    first, last = data.positions[0], data.positions[-1]
    tokens = [run.task.vocab[i] for i in probe_of(run)[0]]
    assert [value for _, value in view.position_select.options] == data.positions.tolist()
    assert view.position_select.options[0][0] == f"{first}: {tokens[first]} → {data.targets[0]}"
    view.position_select.value = int(first)
    before = np.array(view.figure.data[0].x)
    view.position_select.value = int(last)
    assert view.position == last and view.data.position == last
    np.testing.assert_array_equal(view.figure.data[0].x, data.values[-1])
    assert not np.array_equal(view.figure.data[0].x, before)
    assert f"position {last} " in view.figure.layout.title.text
    outline = view.figure.layout.shapes[-1]
    assert (outline.y0, outline.y1) == (last - 0.5, last + 0.5)
    with pytest.raises(ValueError, match="position 0 is not an attributed answer position"):
        view.position = 0


def test_a_click_on_a_heads_bar_shows_its_stored_pattern(run, view):
    names = view.data.names
    view.position = int(view.data.positions[0])
    click(view, 0, names.index("L1H0"))
    assert view.opened == "L1H0"
    np.testing.assert_array_equal(
        view.figure.data[2].z, last_pattern(run.trace, "blocks.1.attn.hook_pattern", 0)
    )
    assert view.figure.layout.annotations[0].text.startswith("L1H0: layer 1 head 0 attention")
    click(view, 0, names.index("L0H1"))
    np.testing.assert_array_equal(
        view.figure.data[2].z, last_pattern(run.trace, "blocks.0.attn.hook_pattern", 1)
    )
    # the head stays open while the position changes; other bars and the sum open nothing
    view.position = int(view.data.positions[-1])
    click(view, 0, names.index("L0.mlp"))
    click(view, 1, 0)
    assert view.opened == "L0H1"
    np.testing.assert_array_equal(
        view.figure.data[2].z, last_pattern(run.trace, "blocks.0.attn.hook_pattern", 1)
    )
    with pytest.raises(ValueError, match="no attention pattern of 'L9H9'.*L0H0, L0H1"):
        view.open_head("L9H9")


def test_a_cross_heads_pattern_reads_the_source(cross_run):
    view = AttributionView(cross_run.trace)
    names = view.data.names
    ids, source, targets, answers = probe_of(cross_run)
    assert "L0X1" in names and view.data.source == [cross_run.task.vocab[i] for i in source]
    click(view, 0, names.index("L0X1"))
    np.testing.assert_array_equal(
        view.figure.data[2].z,
        last_pattern(cross_run.trace, "decoder.blocks.0.cross.hook_pattern", 1),
    )
    assert "cross-attention" in view.figure.layout.annotations[0].text
    shown = list(view.figure.layout.xaxis2.ticktext)
    assert shown == [view.data.source[i] for i in view.figure.layout.xaxis2.tickvals]
    click(view, 0, names.index("L1H0"))  # a decoder self-attention head
    np.testing.assert_array_equal(
        view.figure.data[2].z,
        last_pattern(cross_run.trace, "decoder.blocks.1.attn.hook_pattern", 0),
    )
    for position in answers[:2].tolist():
        view.position = position
        expected = attribute(cross_run.model, ids, position, int(targets[position]), source=source)
        np.testing.assert_allclose(view.figure.data[0].x, expected.values, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------ one figure, files


def test_the_widget_shows_the_exported_figure(view):
    view.position = int(view.data.positions[1])
    view.open_head("L1H1")
    assert_same_figures(view.figures(), export.interactive(view.data, "attribution", **view.state))
    assert_png_from_the_view_model(view, None, marker=False, **view.state)


def test_the_page_has_a_slider_over_answer_positions(run):
    data = views.attribution(run.trace)
    page = export.interactive(run.trace, "attribution")
    assert [frame["name"] for frame in page["frames"]] == [str(p) for p in data.positions]
    assert page["layout"]["sliders"][0]["currentvalue"]["prefix"] == "position "
    for row, frame in enumerate(page["frames"]):
        np.testing.assert_allclose(frame["data"][0]["x"], data.values[row])
        np.testing.assert_allclose(frame["data"][1]["x"], [data.logits[row]])
    with pytest.raises(ValueError, match="position 99 is not an attributed answer position"):
        export.interactive(run.trace, "attribution", position=99)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf", "html", "json", "csv"])
def test_every_format_is_written(run, tmp_path, fmt):
    path = export.save(run.trace, tmp_path / f"attribution.{fmt}", what="attribution")
    assert path.stat().st_size > 100
    data = views.attribution(run.trace)
    if fmt == "json":
        written = json.loads(path.read_text())
        assert list(written) == ["what", *data.FIELDS] and written["what"] == "attribution"
        for name in data.FIELDS:
            same(written[name], views.jsonable(getattr(data, name)), name)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(rows) == data.values.size
        for row, position in enumerate(data.positions.tolist()):
            mine = [r for r in rows if int(r["position"]) == position]
            assert [r["part"] for r in mine] == data.names
            total = sum(float(r["value"]) for r in mine)
            assert total == pytest.approx(float(mine[0]["logit"]), abs=1e-5)
            assert float(mine[0]["logit"]) == pytest.approx(data.logits[row], abs=1e-6)


def test_saved_and_loaded_the_view_opens_with_no_torch(run, view, tmp_path):
    path = run.trace.save(tmp_path / "run.npz")
    loaded = explain.load_trace(path)
    assert loaded.meta["lab"]["attribution"] == run.trace.meta["lab"]["attribution"]
    again = AttributionView(loaded, position=view.position)
    again.open_head(view.opened)
    assert_same_figures(again.figures(), view.figures())
    run_without_torch(
        """
        view = widgets.AttributionView(trace)
        view.open_head("L1H0")
        z = view.figure.data[2].z
        assert np.array_equal(z, trace.tensor("blocks.1.attn.hook_pattern")[-1][0])
        row = trace.meta["lab"]["attribution"]["values"][0]
        assert np.allclose(view.figure.data[0].x, row)
        """,
        path,
    )


def test_without_the_record_the_error_says_to_run_the_lab(run):
    bare = without_record(run.trace)
    for make in (
        lambda: views.attribution(bare),
        lambda: views.view(bare, "attribution"),
        lambda: AttributionView(bare),
        lambda: export.save(bare, "never.png", what="attribution"),
    ):
        with pytest.raises(ValueError, match=r"run explain\.lab\.record\(run\) first"):
            make()
    # the dashboard and the report leave it out, with no note of it
    assert "attribution" not in Dashboard(bare).views
    assert 'id="attribution"' not in report.build_report(bare)


def test_the_dashboard_and_the_report_show_it_where_the_record_is():
    trace = synthetic_trace()
    dashboard = Dashboard(trace)
    assert "attribution" in dashboard.views and "attribution" not in dashboard.missing
    children = dashboard.widget.children
    heads = children.index(dashboard.heads.widget)
    assert children[heads + 1] is dashboard.attribution.widget  # next to the heads
    dashboard.step = 4  # a shared step: the attribution keeps its one frame
    assert dashboard.attribution.figure.data[0].x is not None
    page = report.build_report(trace)
    assert 'id="attribution"' in page and 'id="figure-attribution"' in page
    # its frames are positions, so it keeps its own slider; the page's timeline moves the others
    timeline = re.search(r'id="timeline-data">(.*?)</script>', page).group(1)
    driven = json.loads(timeline)["figures"]
    assert "figure-attribution" not in driven and "figure-attention-self" in driven


# ------------------------------------------------------------------------ text and theme


def test_tokens_are_escaped_in_every_text():
    trace = synthetic_trace(tokens=["a", "b", "c", "<b>", "e", "f"], encoder_decoder=True)
    data = views.attribution(trace)
    assert data.position == 3 and data.tokens[3] == "<b>"
    page = export.interactive(trace, "attribution")
    text = json.dumps(page, default=str)
    assert "<b>" not in text and "&lt;b&gt;" in text
    assert "'&lt;b&gt;' →" in page["layout"]["title"]["text"]
    cross = export.interactive(data, "attribution", opened="L0X0")
    assert "&lt;b&gt;deux…" in cross["layout"]["xaxis2"]["ticktext"]  # shortened on the axis
    view = AttributionView(trace)
    assert "<b>" not in json.dumps(view.figures(), default=str)
    assert view.position_select.options[0][0] == "3: <b> → e"  # a select's text, not HTML


def test_svg_keeps_tokens_as_escaped_text(tmp_path):
    trace = synthetic_trace(tokens=["a", "b", "c", "<b>", "e", "f"])
    svg = export.save(trace, tmp_path / "a.svg", what="attribution").read_text(encoding="utf-8")
    assert "&lt;b&gt;" in svg and "<b>" not in svg


def test_presentation_text_is_16_px_or_more_and_does_not_overlap(run):
    page = export.interactive(run.trace, "attribution", theme="presentation")
    small = [(where, size) for where, size in fonts(page) if size < MIN_PX]
    assert not small, small
    layout = page["layout"]
    rows = len(layout["yaxis"]["ticktext"]) + 3 * builder.GAP  # the gaps between groups
    room = (layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]) / rows
    assert room >= 1.25 * layout["font"]["size"]  # a line of text and a gap per bar
    theme = as_theme("presentation")
    with mpl.style(theme):
        drawn = mpl.draw(views.attribution(run.trace), 0, theme=theme)
        figure = drawn.figure
        renderer = figure.canvas.get_renderer()
        figure.draw(renderer)
        for ax in figure.axes[:2]:
            for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                shown = [t for t in labels if t.get_text()]
                boxes = [t.get_window_extent(renderer) for t in shown]
                assert not overlapping(shown, boxes), ax
