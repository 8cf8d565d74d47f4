"""The patching view: explain.lab.patching.probe_patching, explain.views.patching, its two
builders, its files, PatchingView and its place in the dashboard and the report.

Every number drawn is checked against explain.lab.patching.patch and path_patch called here on
the model, with the edited prompts' ids spelled out from the task's vocabulary (not through the
view or the task's tokenizer).
"""

from __future__ import annotations

import csv
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _figures import as_json, assert_png_from_the_view_model, assert_same_figures
from _no_torch import run_without_torch
from _same import same
from test_one_figure_presentation import MIN_PX, fonts, overlapping

import explain
from explain import export, report, views
from explain._render import matplotlib as mpl
from explain._render.plotly import patching as builder
from explain._render.rules import mpl_text, tick_label
from explain.lab.patching import corrupt, patch, path_patch, probe_patching
from explain.run import default_model_config
from explain.style import theme as as_theme
from explain.trace import Trace
from widgets import Dashboard, PatchingView
from widgets.dashboard import LAB_ONLY

# copy, 150 steps (~3 s): its heads' effects spread from 0.1 to 0.7 on the probe (measured;
# 20 steps of a smaller model left every head at 0.00, where a mixed-up head would pass)
SMALL = dict(d_model=32, n_heads=2, n_layers=2, d_mlp=64)
TWIN = "1 4 9 5 3 1 > 3 1 4 1 5"  # an edited corrupted prompt: its first half only permuted


@pytest.fixture(scope="module")
def run():
    task = explain.tasks.get("copy")
    train = explain.TrainConfig(steps=150, batch_size=32, eval_every=150, seed=0)
    run = explain.train(task, default_model_config(task, **SMALL), train)
    run.trace.meta.setdefault("lab", {})["patching"] = probe_patching(run)
    return run


@pytest.fixture(scope="module")
def view(run):
    return PatchingView(run.trace)


def probe(run) -> tuple[np.ndarray, np.ndarray]:
    """The probe's ids [pos] and its standard corrupted twin."""
    return run.task.probe().inputs[0], corrupt(run.task)


def ids_of(run, text: str) -> list[int]:
    """Space-separated tokens as ids, read off the task's vocabulary."""
    return [run.task.vocab.index(token) for token in text.split()]


def heads_z(view: PatchingView) -> tuple[np.ndarray, np.ndarray]:
    """The heads and the path heatmaps' z as the widget's figure holds them."""
    heads, paths = view.heads_plot.figure.data
    return np.asarray(heads.z, np.float64), np.asarray(paths.z, np.float64)


def click(view: PatchingView, curve: int, layer: int, head: int) -> None:
    """What plot.js sends for a click on a heatmap cell."""
    point = {"curve": curve, "x": head, "y": layer, "index": [layer, head]}
    view.heads_plot.widget._handle_custom_msg({"event": "click", "points": [point]}, [])


def without_record(trace: Trace) -> Trace:
    lab = {k: v for k, v in trace.meta["lab"].items() if k != "patching"}
    steps = trace.snapshot_steps
    return Trace.from_arrays({**trace.meta, "lab": lab}, steps, {}, steps, dict(trace.tensors))


def made_up_record(tokens, corrupt_tokens, n_layers=2, n_heads=2, seed=0) -> dict:
    """A record in probe_patching's form with made-up numbers (no model)."""
    rng = np.random.default_rng(seed)
    n_pos = len(tokens)
    path = {part: rng.normal(0, 0.3, (n_layers, n_heads)) for part in "qkv"}
    for values in path.values():
        values[1:] = np.nan  # the receiver is in layer 1
    return views.jsonable({
        "step": 30, "tokens": tokens, "corrupt_tokens": corrupt_tokens,
        "answer_positions": [n_pos - 1], "clean_answers": [tokens[0]],
        "corrupt_answers": [corrupt_tokens[0]], "metric": "logit difference",
        "clean_metric": 2.0, "corrupt_metric": -1.0,
        "heads": rng.normal(0.2, 0.3, (n_layers, n_heads)),
        "head_pos": rng.normal(0, 0.2, (n_layers, n_heads, n_pos)),
        "resid": rng.normal(0.3, 0.4, (n_layers, n_pos)),
        "mlp": rng.normal(0, 0.2, (n_layers, n_pos)),
        "path": None if n_layers < 2 else {"receiver": [1, 0], **path},
    })  # fmt: skip


def made_up_trace(record: dict) -> Trace:
    return Trace.from_arrays({"task": {"name": "made-up"}, "lab": {"patching": record}},
                             [30], {}, [30], {})  # fmt: skip


# ------------------------------------------------------------------------ the lab's record


def test_the_record_is_every_patch_of_the_probe(run):
    record = run.trace.meta["lab"]["patching"]
    json.dumps(record, allow_nan=False)  # plain JSON, as trace meta must be
    model, task = run.model, run.task
    clean, twin = probe(run)
    assert record["tokens"] == [task.vocab[i] for i in clean] and record["step"] == 150
    assert record["corrupt_tokens"] == [task.vocab[i] for i in twin]
    heads = patch(model, clean, twin, "heads", task=task)
    for where in ("heads", "head_pos", "resid", "mlp"):
        expected = patch(model, clean, twin, where, task=task).effect
        np.testing.assert_allclose(record[where], expected, rtol=1e-7, atol=1e-9)
    assert record["answer_positions"] == list(heads.answer_positions)
    assert record["clean_answers"] == heads.clean_answers
    assert record["corrupt_answers"] == heads.corrupt_answers
    assert record["clean_metric"] == pytest.approx(heads.clean_metric)
    # the default receiver: the layer-1 head whose output restores the most
    receiver = (1, int(np.argmax(heads.effect[1])))
    assert tuple(record["path"]["receiver"]) == receiver
    for part in "qkv":
        expected = path_patch(model, clean, twin, (*receiver, part), task=task).effect
        written = np.array(record["path"][part], dtype=np.float64)  # null: NaN
        np.testing.assert_allclose(written, expected, rtol=1e-7, atol=1e-9, equal_nan=True)
    assert np.ptp(heads.effect) > 0.1, heads.effect  # the heads differ: the checks can fail


def test_no_record_where_patching_cannot_run(make_model, run):
    translate = explain.tasks.get("translate")
    seq2seq = make_model(kind="encoder-decoder", vocab_size=translate.vocab_size)
    assert probe_patching(SimpleNamespace(model=seq2seq, task=translate, trace=run.trace)) is None
    with pytest.raises(ValueError, match="PatchingView needs a decoder-only model"):
        PatchingView(SimpleNamespace(model=seq2seq, task=translate, trace=run.trace))
    flat = make_model()  # every logit the same: no answer changes, nothing to normalise
    with torch.no_grad():
        flat.unembed.weight.zero_()
        if flat.unembed.bias is not None:
            flat.unembed.bias.zero_()
    reverse = explain.tasks.get("reverse")
    assert probe_patching(SimpleNamespace(model=flat, task=reverse, trace=run.trace)) is None


# ------------------------------------------------------------------------ what the heatmaps show


def test_the_heatmaps_are_patch_and_path_patch_recomputed(run):
    shown = PatchingView(run)
    model, task = run.model, run.task
    clean, twin = probe(run)
    heads, paths = heads_z(shown)
    np.testing.assert_allclose(heads, patch(model, clean, twin, "heads", task=task).effect,
                               rtol=1e-7, atol=1e-9)  # fmt: skip
    layer, head = shown.receiver
    for part in "qkv":
        shown.through = part
        _, paths = heads_z(shown)
        expected = path_patch(model, clean, twin, (layer, head, part), task=task).effect
        np.testing.assert_allclose(paths, expected, rtol=1e-7, atol=1e-9, equal_nan=True)
        assert f"into L{layer}H{head}'s" in shown.heads_plot.figure.layout.annotations[1].text
        assert f"({part})" in shown.heads_plot.figure.layout.annotations[1].text
    for where in ("resid", "mlp", "head_pos"):
        shown.where = where
        z = np.asarray(shown.positions_plot.figure.data[0].z, np.float64)
        expected = patch(model, clean, twin, where, task=task).effect
        np.testing.assert_allclose(z, expected.reshape(z.shape), rtol=1e-7, atol=1e-9)
    assert len(shown.positions_plot.figure.data[0].y) == 4  # head_pos: a row per head
    # the prompts: each token in its cell, the ones that differ coloured (z = 1)
    cells = shown.prompts_plot.figure.data[0]
    assert [list(row[:12]) for row in cells.text] == [[tick_label(task.vocab[i]) for i in ids]
                                                      for ids in (clean, twin)]  # fmt: skip
    np.testing.assert_array_equal(np.asarray(cells.z)[0], (clean != twin).astype(float))


def test_the_picture_shows_the_same_arrays_and_titles(view):
    data = view.data
    for where in ("resid", "mlp", "head_pos"):
        theme = as_theme("light")
        with mpl.style(theme):
            drawn = mpl.draw(data, 0, theme=theme, where=where, through="k")
        arrays = [ax.images[0].get_array() for ax in drawn.figure.axes if ax.images]
        _, heads, path, positions = arrays  # the prompts' cells first
        np.testing.assert_array_equal(heads, data.heads)
        np.testing.assert_array_equal(path.filled(np.nan), data.path["k"])
        np.testing.assert_array_equal(positions, data.positions(where)[0])
        shown = as_json(builder.figures(data, 0, theme, where=where, through="k")[2])
        np.testing.assert_allclose(shown["data"][0]["z"], positions)
        titles = [ax.get_title(loc) for ax in drawn.figure.axes for loc in ("center", "left")]
        assert builder.positions_title(where, "\n") in titles
        assert builder.path_title(data, "k", mpl_text, "\n") in titles
        prompts = drawn.figure.subfigs[0]._suptitle.get_text()
        assert prompts == builder.heading(data, 0, mpl_text, "\n")


# ------------------------------------------------------------------------ editing and clicking


def test_editing_the_corrupted_prompt_patches_it_again(run):
    shown = PatchingView(run)
    assert not shown.clean_text.disabled and shown.corrupt_text.value == "1 4 9 5 3 1 > 1 4 9 5 3"
    before, _ = heads_z(shown)
    shown.corrupt_text.value = TWIN
    assert shown.message.value == ""
    clean, twin = probe(run)[0], ids_of(run, TWIN)
    model, task = run.model, run.task
    heads, paths = heads_z(shown)
    expected = patch(model, clean, twin, "heads", task=task).effect
    np.testing.assert_allclose(heads, expected, rtol=1e-7, atol=1e-9)
    assert not np.allclose(heads, before, atol=1e-3)  # a new picture: the check can fail
    receiver = (*shown.receiver, shown.through)
    np.testing.assert_allclose(paths, path_patch(model, clean, twin, receiver, task=task).effect,
                               rtol=1e-7, atol=1e-9, equal_nan=True)  # fmt: skip
    positions = np.asarray(shown.positions_plot.figure.data[0].z)
    np.testing.assert_allclose(positions, patch(model, clean, twin, "resid", task=task).effect,
                               rtol=1e-7, atol=1e-9)  # fmt: skip
    assert list(shown.prompts_plot.figure.data[0].text[1][:12]) == [
        tick_label(token) for token in TWIN.split()
    ]


def test_a_bad_edit_says_why_and_keeps_the_pictures(run):
    shown = PatchingView(run)
    before = [figure for figure in shown.figures()]
    short = "1 4 9 5 3 1 > 1 4 9 5"
    shown.corrupt_text.value = short
    message = shown.message.value
    assert "the clean prompt has 12 tokens and the corrupted one 11" in message
    assert shown.corrupt_text.value == short  # what was typed stays in the box
    assert_same_figures(shown.figures(), before)
    shown.corrupt_text.value = "1 4 9 5 3 1 > 1 4 9 5 x"
    assert "the corrupted prompt: unknown symbol(s) &#x27;x&#x27; at position 11" in (
        shown.message.value
    )
    assert_same_figures(shown.figures(), before)
    with pytest.raises(ValueError, match="the clean prompt has 12 tokens and the corrupted one 11"):
        shown.set_prompts(shown.clean_text.value, short)
    shown.corrupt_text.value = TWIN  # a good edit: patched, the message gone
    assert shown.message.value == "" and shown.data.corrupt_tokens == TWIN.split()


def test_a_click_on_a_head_makes_it_the_receiver(run):
    shown = PatchingView(run)
    clean, twin = probe(run)
    other = 1 - shown.receiver[1]  # the other head of layer 1
    click(shown, 0, 1, other)
    assert shown.receiver == (1, other) and shown.message.value == ""
    assert (shown.layer_select.value, shown.head_select.value) == (1, other)
    _, paths = heads_z(shown)
    expected = path_patch(run.model, clean, twin, (1, other, shown.through), task=run.task).effect
    np.testing.assert_allclose(paths, expected, rtol=1e-7, atol=1e-9, equal_nan=True)
    outline = shown.heads_plot.figure.layout.shapes[0]
    assert (outline.x0, outline.y0) == (other - 0.5, 0.5)
    click(shown, 0, 0, 0)  # layer 0 reads no other head: said, nothing changes
    assert "L0H0 is in layer 0" in shown.message.value and shown.receiver == (1, other)
    click(shown, 1, 0, 1)  # the path heatmap picks nothing
    assert shown.receiver == (1, other)
    shown.head_select.value = 1 - other  # the dropdowns do what a click does
    assert shown.receiver == (1, 1 - other)
    # from a trace: the recorded receiver only, said where another is asked for
    replay = PatchingView(run.trace)
    assert replay.clean_text.disabled and replay.corrupt_text.disabled
    recorded = replay.receiver
    click(replay, 0, 1, 1 - recorded[1])
    assert replay.receiver == recorded and "needs the model" in replay.message.value
    replay.where = "mlp"  # what the trace holds still changes
    np.testing.assert_allclose(replay.positions_plot.figure.data[0].z, replay.data.mlp)


# ------------------------------------------------------------------------ one figure, files


def test_the_widget_shows_the_exported_figures(run):
    shown = PatchingView(run, where="head_pos", through="q")
    assert_same_figures(shown.figures(), export.interactive(shown.data, "patching", **shown.state))
    assert_png_from_the_view_model(shown, None, marker=False, **shown.state)
    assert shown.state == {"where": "head_pos", "through": "q"}


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf", "html", "json", "csv"])
def test_every_format_is_written(run, tmp_path, fmt):
    path = export.save(run.trace, tmp_path / f"patching.{fmt}", what="patching")
    assert path.stat().st_size > 100
    data = views.patching(run.trace)
    if fmt == "json":
        written = json.loads(path.read_text())
        assert list(written) == ["what", *data.FIELDS] and written["what"] == "patching"
        for name in data.FIELDS:
            same(written[name], views.jsonable(getattr(data, name)), name)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        sizes = [a.size for a in (data.heads, data.head_pos, data.resid, data.mlp)]
        assert len(rows) == sum(sizes) + 3 * data.heads.size
        heads = [float(r["effect"]) for r in rows if r["what"] == "heads"]
        np.testing.assert_allclose(heads, data.heads.ravel(), rtol=1e-8)
        mlp = [r for r in rows if r["what"] == "mlp" and r["layer"] == "1"]
        np.testing.assert_allclose([float(r["effect"]) for r in mlp], data.mlp[1], rtol=1e-8)
        assert [r["clean_token"] for r in mlp] == data.tokens
        paths = [r for r in rows if r["what"] == "path_v"]
        assert {r["receiver"] for r in paths} == {"L{}H{}".format(*data.receiver)}
        assert [r["effect"] == "" for r in paths] == np.isnan(data.path["v"]).ravel().tolist()


def test_saved_and_loaded_the_view_opens_with_no_model(run, tmp_path):
    path = run.trace.save(tmp_path / "run.npz")
    loaded = explain.load_trace(path)
    assert loaded.meta["lab"]["patching"] == run.trace.meta["lab"]["patching"]
    again = PatchingView(loaded, where="mlp", through="v")
    assert again.run is None and again.corrupt_text.disabled
    assert_same_figures(
        again.figures(), PatchingView(run.trace, where="mlp", through="v").figures()
    )
    run_without_torch(
        """
        view = widgets.PatchingView(trace, where="mlp")
        record = trace.meta["lab"]["patching"]
        assert np.allclose(view.heads_plot.figure.data[0].z, record["heads"])
        assert np.allclose(view.positions_plot.figure.data[0].z, record["mlp"])
        """,
        path,
    )


def test_without_the_record_the_error_says_to_run_the_lab(run):
    bare = without_record(run.trace)
    for make in (
        lambda: views.patching(bare),
        lambda: views.view(bare, "patching"),
        lambda: PatchingView(bare),
        lambda: export.save(bare, "never.png", what="patching"),
    ):
        with pytest.raises(ValueError, match=r"run explain\.lab\.record\(run\) first"):
            make()
    assert "patching" not in Dashboard(bare).views  # left out, with no note of it
    assert "patching" not in Dashboard(bare).missing
    assert 'id="patching"' not in report.build_report(bare)


def test_the_dashboard_and_the_report_show_it_where_the_record_is(run):
    dashboard = Dashboard(run.trace)
    assert "patching" in dashboard.views and not dashboard.missing
    children = list(dashboard.widget.children)
    heads, patching = (children.index(dashboard.views[n].widget) for n in ("heads", "patching"))
    lab = [view.widget for name, view in dashboard.views.items() if name in LAB_ONLY]
    assert heads < patching and all(w in lab for w in children[heads + 1 : patching])  # by them
    page = report.build_report(run.trace)
    assert 'id="patching"' in page and 'id="figure-patching-2"' in page


def test_a_bad_record_is_named():
    record = made_up_record(list("abc"), list("abd"))
    with pytest.raises(ValueError, match=r"'mlp' has shape \(2, 2\); expected \(2, 3\)"):
        views.patching(made_up_trace({**record, "mlp": [[0, 0], [0, 0]]}))
    with pytest.raises(ValueError, match="receiver \\(0, 0\\) is not a head of layers 1..1"):
        views.patching(made_up_trace({**record, "path": {**record["path"], "receiver": [0, 0]}}))
    with pytest.raises(ValueError, match="'corrupt_tokens' must list 3 tokens; got 2"):
        views.patching(made_up_trace({**record, "corrupt_tokens": ["a", "b"]}))
    one_layer = views.patching(made_up_trace(made_up_record(list("ab"), list("ac"), n_layers=1)))
    assert one_layer.receiver is None and one_layer.path == {}
    figures = builder.figures(one_layer, 0, as_theme("light"))
    assert "needs" in figures[1]["layout"]["annotations"][1]["text"]
    assert mpl.draw(one_layer, 0).figure is not None


# ------------------------------------------------------------------------ text and theme


def test_tokens_are_escaped_in_every_text(tmp_path):
    tokens = ["a", "<b>", "c", "&", "e"]
    trace = made_up_trace(made_up_record(tokens, ["a", "<i>", "c", "&", "f"]))
    shown = export.interactive(trace, "patching")
    text = json.dumps(shown, default=str)
    assert "<b>" not in text and "<i>" not in text and "&lt;b&gt;" in text and "&amp;" in text
    view = PatchingView(trace)
    assert "<b>" not in json.dumps(view.figures(), default=str)
    assert view.clean_text.value == "a <b> c & e"  # a text box's value: plain text, no HTML
    svg = export.save(trace, tmp_path / "p.svg", what="patching").read_text(encoding="utf-8")
    assert "&lt;b&gt;" in svg and "<b>" not in svg


def test_an_edit_is_escaped_in_the_message(run):
    shown = PatchingView(run)
    shown.corrupt_text.value = "1 4 9 5 3 1 > 1 4 9 5 <b>"
    assert "&lt;b&gt;" in shown.message.value and "'<b>'" not in shown.message.value


def test_presentation_text_is_16_px_or_more_and_does_not_overlap(run):
    for where in ("resid", "head_pos"):
        page = export.interactive(run.trace, "patching", theme="presentation", where=where)
        small = [(spot, size) for spot, size in fonts(page) if size < MIN_PX]
        assert not small, small
        for figure in page:
            layout = figure["layout"]
            assert layout["width"] <= 840, layout["width"]  # the notebook's output width
    theme = as_theme("presentation")
    with mpl.style(theme):
        figure = mpl.draw(views.patching(run.trace), 0, theme=theme, where="head_pos").figure
        renderer = figure.canvas.get_renderer()
        figure.draw(renderer)
        for ax in figure.axes:
            for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                shown = [t for t in labels if t.get_text()]
                boxes = [t.get_window_extent(renderer) for t in shown]
                assert not overlapping(shown, boxes), ax
