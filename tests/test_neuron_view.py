"""The neuron view: explain.views.neurons, its two builders, its files, NeuronView and the
record that explain.lab.neurons.probe_neurons writes.

Each number is checked against a computation that does not go through the view: a fresh
explain.lab.neurons.neurons call on the model, the model's own ``blocks.{i}.mlp.hook_post``
from ``run_with_cache`` on held-out batches drawn here, and the direct effect from the weights.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _export_traces import neurons_record, synthetic_trace
from _figures import as_json, assert_png_from_the_view_model, assert_same_figures
from _no_torch import run_without_torch
from _same import same
from test_one_figure_presentation import MIN_PX, fonts, overlapping

import explain
from explain import export, report, views
from explain._render import matplotlib as mpl
from explain._render.plotly import neurons as builder
from explain._render.rules import mpl_text
from explain.batches import model_inputs, to_torch
from explain.lab.neurons import neurons, probe_neurons
from explain.run import default_model_config
from explain.style import theme as as_theme
from explain.trace import Trace
from widgets import Dashboard, NeuronView

TINY = dict(d_model=16, n_heads=2, n_layers=2, d_mlp=32)  # a task's model, small and fast
TOP, K = 5, 5  # probe_neurons' defaults: examples a neuron, tokens promoted and suppressed
BOLD = re.compile(r"^<b>(.*)</b>$")


def tiny_run(name: str):
    """``name`` trained 20 steps on a tiny model (~1 s), its neurons stored as
    explain.lab.record will store them."""
    task = explain.tasks.get(name)
    config = default_model_config(task, **TINY)
    train = explain.TrainConfig(steps=20, batch_size=16, eval_every=10, seed=0)
    run = explain.train(task, config, train)
    run.trace.meta.setdefault("lab", {})["neurons"] = probe_neurons(run)
    return run


@pytest.fixture(scope="module")
def run():
    return tiny_run("sort")  # sort's MLPs matter (reverse's barely: tests/test_lab_neurons.py)


@pytest.fixture(scope="module")
def fresh(run):
    """The neurons measured again from the model, as the lab measures them."""
    return neurons(run.model, run.task, top=TOP, k=K)


@pytest.fixture(scope="module")
def held_out(run):
    """(tokens [seq, pos], {layer: hook_post [seq, pos, neuron]}) of the held-out batch the lab
    scores on (Trainer.evaluate's first "val" batch), from run_with_cache."""
    rng = np.random.default_rng(10_000)  # Trainer.evaluate's generator for seed 0
    batch = run.task.batch(explain.TrainConfig().batch_size, rng, split="val")
    names = [f"blocks.{layer}.mlp.hook_post" for layer in range(TINY["n_layers"])]
    run.model.eval()
    with torch.no_grad():
        tensors = to_torch(batch, run.model.device, run.task)
        _, cache = run.model.run_with_cache(**model_inputs(tensors), names=names)
    return batch.inputs, {i: cache[name].double().numpy() for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def view(run):
    return NeuronView(run.trace)


def click(view: NeuronView, curve: int, x: float, y: float) -> None:
    """What plot.js sends for a click on a cell (column ``x``, row ``y``) of trace ``curve``."""
    point = {"curve": curve, "x": x, "y": y, "index": [int(y), int(x)]}
    view.figure_plot.widget._handle_custom_msg({"event": "click", "points": [point]}, [])


def without_record(trace: Trace) -> Trace:
    meta = {**trace.meta, "lab": {k: v for k, v in trace.meta["lab"].items() if k != "neurons"}}
    steps = trace.snapshot_steps
    return Trace.from_arrays(meta, steps, {}, steps, dict(trace.tensors))


def grid_values(figure) -> np.ndarray:
    """The grid's cells as drawn, in neuron order (NaN past the last neuron)."""
    return np.asarray(figure.data[builder.GRID].z, np.float64).ravel()


def example_tokens(figure) -> list[list[str]]:
    """The examples' cell texts as a reader sees them: the firing token's bold tags taken off,
    HTML entities read."""
    text = figure.data[builder.EXAMPLES].text
    return [[html.unescape(BOLD.sub(r"\1", cell)) for cell in row] for row in text]


# ------------------------------------------------------------------------ the lab's record


def test_the_record_is_json_and_the_lab_s_numbers(run, fresh):
    record = run.trace.meta["lab"]["neurons"]
    json.dumps(record, allow_nan=False)  # plain JSON, as trace meta must be
    assert record["step"] == 20 and record["mode"] == "zero" and record["layers"] == [0, 1]
    assert record["hooks"] == ["blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"]
    np.testing.assert_allclose(record["loss_rise"], fresh.loss_rise, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(record["top_act"], fresh.top_act, rtol=1e-6)
    np.testing.assert_array_equal(record["top_seq"], fresh.top_seq)
    np.testing.assert_array_equal(record["top_pos"], fresh.top_pos)
    assert record["contexts"] == fresh.contexts
    for ours, theirs in zip(record["context_acts"], fresh.context_acts, strict=True):
        for rows, fresh_rows in zip(ours, theirs, strict=True):
            for acts, fresh_acts in zip(rows, fresh_rows, strict=True):
                np.testing.assert_allclose(acts, fresh_acts, rtol=1e-3, atol=1e-6)
    assert record["promotes"] == fresh.promotes.tolist()
    np.testing.assert_allclose(record["suppresses_values"], fresh.suppresses_values, rtol=1e-6)


def test_a_run_measures_again_when_the_record_is_older_than_its_model(run, fresh):
    lab = run.trace.meta["lab"]
    kept = lab["neurons"]
    try:
        lab["neurons"] = {**kept, "step": 3, "loss_rise": np.zeros((2, 32)).tolist()}
        view = NeuronView(run)
        assert lab["neurons"]["step"] == 20 and view.data.measured == 20
        np.testing.assert_allclose(grid_values(view.figure), fresh.loss_rise[0], rtol=1e-6)
        assert "measured from the run's model" in view.note.value
    finally:
        lab["neurons"] = kept


def test_the_default_reverse_model_s_record_stays_under_a_megabyte():
    task = explain.tasks.get("reverse")
    model = explain.TinyTransformer(default_model_config(task))  # 2 layers x 256 neurons
    stand_in = SimpleNamespace(model=model, task=task, trace=Trace.from_arrays({}, [0], {}, [], {}))
    record = probe_neurons(stand_in)
    size = len(json.dumps(record, allow_nan=False))
    assert 100_000 < size < 1_000_000, size  # measured: ~0.4 MB
    assert np.shape(record["loss_rise"]) == (2, 256) and record["step"] == -1


# ------------------------------------------------------------------------ what the figure shows


def test_grid_and_examples_are_the_model_s(run, view, fresh, held_out):
    tokens, cache = held_out
    vocab = run.task.vocab
    for layer in (0, 1):
        view.layer = layer
        acts = cache[layer]  # [seq, pos, neuron]
        shown = grid_values(view.figure)
        np.testing.assert_allclose(shown[: acts.shape[2]], fresh.loss_rise[layer], rtol=1e-6)
        assert np.isnan(shown[acts.shape[2] :]).all()
        strongest = int(np.argmax(fresh.loss_rise[layer]))
        assert view.neuron == strongest  # the neuron the loss needs most, at first
        for neuron in (strongest, 3):
            view.neuron = neuron
            figure = view.figure
            # the top examples: the largest activations, each at its (seq, pos)
            best = np.sort(acts[..., neuron].ravel())[::-1][:TOP]
            labels = [float(t) for t in figure.layout.yaxis3.ticktext]
            np.testing.assert_allclose(labels, best, rtol=5e-3)  # written to 3 digits
            z = np.asarray(figure.data[builder.EXAMPLES].z, np.float64)  # [top, column]
            text = example_tokens(figure)
            before, after = view.data.window()
            assert (before, after) == (4, 2)  # the lab's window: 4 tokens before, 2 after
            for row, example in enumerate(view.data.examples()):
                seq, pos = example.seq, example.pos
                assert acts[seq, pos, neuron] == pytest.approx(best[row], rel=1e-6)
                for column in range(before + 1 + after):
                    at = pos + column - before  # the position this column shows
                    if not 0 <= at < tokens.shape[1]:  # past a sequence's end: no token
                        assert np.isnan(z[row, column]) and text[row][column] == ""
                        continue
                    expected = acts[seq, at, neuron]
                    assert z[row, column] == pytest.approx(expected, rel=1e-3, abs=1e-5)
                    assert text[row][column] == vocab[tokens[seq, at]]
                assert BOLD.match(figure.data[builder.EXAMPLES].text[row][before])
            # the bars: the direct effect of the neuron's output column, from the weights
            W_U = run.model.unembed.weight.detach().double().numpy()  # (V, d)
            gain = run.model.ln_final.weight.detach().double().numpy()  # (d,)
            w = run.model.blocks[layer].mlp.W_out.weight.detach().double().numpy()[:, neuron]
            effect = W_U @ (gain * (w - w.mean()))  # (V,)
            order = np.argsort(effect)
            expected = [*effect[order[::-1][:K]], *effect[order[:K]]]
            np.testing.assert_allclose(figure.data[builder.BARS].x, expected, rtol=1e-6)
            names = [vocab[i] for i in [*order[::-1][:K], *order[:K]]]
            assert [html.unescape(t) for t in figure.layout.yaxis2.ticktext] == names
            title = figure.layout.title.text
            assert f"layer {layer} · cells: loss rise when a neuron is zeroed" in title
            rise = fresh.loss_rise[layer, neuron]
            assert f"neuron {neuron} (outlined): loss rise {rise:+.3g}" in title
    view.layer = 0


def test_the_picture_shows_the_same_numbers_and_labels(view):
    data = view.data
    for neuron in (data.neuron, 7):
        figure = as_json(builder.figure(data, 0, as_theme("light"), neuron))
        with mpl.style(as_theme("light")):
            drawn = mpl.draw(data, 0, neuron=neuron)
        grid_ax, bars_ax, examples_ax = drawn.figure.axes[:3]
        np.testing.assert_array_equal(
            np.ma.filled(grid_ax.images[0].get_array(), np.nan),
            np.array(figure["data"][0]["z"], np.float64),
        )
        widths = [bar.get_width() for bars in bars_ax.containers for bar in bars]
        np.testing.assert_allclose(widths, figure["data"][1]["x"])
        labels = [label.get_text() for label in bars_ax.get_yticklabels()]
        assert labels == [html.unescape(t) for t in figure["layout"]["yaxis2"]["ticktext"]]
        # the examples' texts, cell by cell, the firing ones bold
        drawn_text = [t.get_text() for t in examples_ax.texts]
        cells = figure["data"][2]["text"]
        shown = [html.unescape(BOLD.sub(r"\1", c)) for row in cells for c in row if c]
        assert drawn_text == shown
        bold = [t.get_text() for t in examples_ax.texts if t.get_fontweight() == "bold"]
        assert bold == [html.unescape(BOLD.sub(r"\1", row[data.window()[0]])) for row in cells]
        rows = [label.get_text() for label in examples_ax.get_yticklabels()]
        assert rows == figure["layout"]["yaxis3"]["ticktext"]
        # the plotly title's text, with matplotlib's text rules (no HTML escapes, "$" literal)
        assert drawn.figure._suptitle.get_text() == builder.heading(data, 0, neuron, mpl_text, "\n")
        assert figure["layout"]["title"]["text"] == builder.heading(data, 0, neuron)


def test_a_click_on_a_cell_selects_that_neuron(view):
    columns = builder.grid_shape(view.data.width)[1]  # 32 neurons: 4 rows of 8
    assert columns == 8
    click(view, builder.GRID, 5, 2)
    assert view.neuron == 2 * columns + 5 == view.data.neuron
    outline = view.figure.layout.shapes[0]
    assert (outline.x0, outline.y0) == (4.5, 1.5)
    assert "neuron 21 (outlined)" in view.figure.layout.title.text
    labels = [float(t) for t in view.figure.layout.yaxis3.ticktext]
    np.testing.assert_allclose(labels, view.data.top_act[0, 21], rtol=5e-3)
    click(view, builder.BARS, 0.1, 3)  # the bars and the examples pick nothing
    click(view, builder.EXAMPLES, 2, 1)
    assert view.neuron == 21
    with pytest.raises(ValueError, match=r"neuron must be an int in \[0, 31\]; got 32"):
        view.neuron = 32


def test_a_click_past_the_last_neuron_selects_nothing():
    trace = synthetic_trace()
    trace.meta["lab"]["neurons"] = neurons_record(trace.meta["vocab"], 2, width=20)
    view = NeuronView(trace)  # 20 neurons: 3 rows of 8, the last half empty
    before = view.neuron
    click(view, builder.GRID, 7, 2)
    assert view.neuron == before
    click(view, builder.GRID, 3, 2)
    assert view.neuron == 19


def test_the_layer_selector_switches_the_grid(view, fresh):
    assert [value for _, value in view.layer_select.options] == [0, 1]
    view.layer_select.value = 0
    layer0 = grid_values(view.figure)
    view.layer_select.value = 1
    assert view.layer == view.data.layer == 1
    np.testing.assert_allclose(grid_values(view.figure), fresh.loss_rise[1], rtol=1e-6)
    assert not np.allclose(grid_values(view.figure), layer0)
    assert view.neuron == int(np.argmax(fresh.loss_rise[1]))
    assert "layer 1 · cells" in view.figure.layout.title.text
    with pytest.raises(ValueError, match="layer 2 has no neuron record; expected one of 0, 1"):
        view.layer = 2
    view.layer = 0


# ------------------------------------------------------------------------ one figure, files


def test_the_widget_shows_the_exported_figure(view):
    view.layer = 1
    view.neuron = 6
    assert_same_figures(view.figures(), export.interactive(view.data, "neurons", **view.state))
    assert_png_from_the_view_model(view, None, marker=False, **view.state)
    view.layer = 0


def test_the_page_has_a_slider_over_layers(run, fresh):
    page = export.interactive(run.trace, "neurons")
    assert [frame["name"] for frame in page["frames"]] == ["0", "1"]
    assert page["layout"]["sliders"][0]["currentvalue"]["prefix"] == "layer "
    for layer, frame in enumerate(page["frames"]):
        z = np.array(frame["data"][0]["z"], np.float64).ravel()
        np.testing.assert_allclose(z, fresh.loss_rise[layer], rtol=1e-6)
        assert f"layer {layer} · cells" in frame["layout"]["title"]["text"]
    layer1 = export.interactive(run.trace, "neurons", layer=1)  # the layer as a selection
    assert layer1["layout"]["sliders"][0]["active"] == 1


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf", "html", "json", "csv"])
def test_every_format_is_written(run, tmp_path, fmt):
    path = export.save(run.trace, tmp_path / f"neurons.{fmt}", what="neurons")
    assert path.stat().st_size > 100
    data = views.neurons(run.trace)
    if fmt == "json":
        written = json.loads(path.read_text())
        assert list(written) == ["what", *data.FIELDS] and written["what"] == "neurons"
        for name in data.FIELDS:
            same(written[name], views.jsonable(getattr(data, name)), name)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert len(rows) == 2 * data.width * (TOP + 2 * K)
        mine = [r for r in rows if (r["layer"], r["neuron"]) == ("1", "4")]
        assert [r["what"] for r in mine] == ["example"] * TOP + ["promotes"] * K + [
            "suppresses"
        ] * K
        assert float(mine[0]["loss_rise"]) == pytest.approx(data.loss_rise[1, 4], rel=1e-6)
        examples = data.examples(1, 4)
        assert [float(r["value"]) for r in mine[:TOP]] == pytest.approx(
            [e.activation for e in examples]
        )
        assert [r["token"] for r in mine[:TOP]] == [e.tokens[e.index] for e in examples]
        assert mine[0]["context"] == " ".join(examples[0].tokens)
        assert [r["token"] for r in mine[TOP : TOP + K]] == data.promotes[1][4]


def test_saved_and_loaded_the_view_opens_with_no_torch(run, view, tmp_path):
    path = run.trace.save(tmp_path / "run.npz")
    loaded = explain.load_trace(path)
    assert loaded.meta["lab"]["neurons"] == run.trace.meta["lab"]["neurons"]
    again = NeuronView(loaded, layer=view.layer, neuron=view.neuron)
    assert_same_figures(again.figures(), view.figures())
    run_without_torch(
        """
        view = widgets.NeuronView(trace, layer=1)
        view.figure_plot.widget._handle_custom_msg(
            {"event": "click", "points": [{"curve": 0, "x": 2, "y": 1, "index": [1, 2]}]}, [])
        assert view.neuron == 10, view.neuron
        record = trace.meta["lab"]["neurons"]
        z = np.asarray(view.figure.data[0].z, float).ravel()
        assert np.allclose(z, record["loss_rise"][1])
        """,
        path,
    )


def test_without_the_record_the_error_says_to_run_the_lab(run):
    bare = without_record(run.trace)
    for make in (
        lambda: views.neurons(bare),
        lambda: views.view(bare, "neurons"),
        lambda: NeuronView(bare),
        lambda: export.save(bare, "never.png", what="neurons"),
    ):
        with pytest.raises(ValueError, match=r"run explain\.lab\.record\(run\) first"):
            make()
    # the dashboard and the report leave it out, with no note of it
    dashboard = Dashboard(bare)
    assert "neurons" not in dashboard.views and "neurons" not in dashboard.missing
    assert 'id="neurons"' not in report.build_report(bare)


def test_the_dashboard_and_the_report_show_it_where_the_record_is():
    trace = synthetic_trace()
    dashboard = Dashboard(trace)
    assert "neurons" in dashboard.views and "neurons" not in dashboard.missing
    children = dashboard.widget.children
    attribution = children.index(dashboard.attribution.widget)
    assert children[attribution + 1] is dashboard.neurons.widget  # after the attribution
    dashboard.step = 4  # a shared step: the neurons keep their one frame
    assert dashboard.neurons.figure.data[0].z is not None
    page = report.build_report(trace)
    assert 'id="neurons"' in page and 'id="figure-neurons"' in page
    # its frames are layers, so it keeps its own slider; the page's timeline moves the others
    timeline = re.search(r'id="timeline-data">(.*?)</script>', page).group(1)
    driven = json.loads(timeline)["figures"]
    assert "figure-neurons" not in driven and "figure-attention-self" in driven


def test_an_encoder_decoder_s_decoder_neurons():
    task = explain.tasks.get("translate")
    model = explain.TinyTransformer(default_model_config(task, **TINY))
    stand_in = SimpleNamespace(model=model, task=task, trace=Trace.from_arrays({}, [0], {}, [], {}))
    record = probe_neurons(stand_in, top=2)
    assert record["hooks"] == ["decoder.blocks.0.mlp.hook_post", "decoder.blocks.1.mlp.hook_post"]
    trace = Trace.from_arrays({"lab": {"neurons": record}}, [0], {}, [0], {})
    view = NeuronView(trace)
    assert [label for label, _ in view.layer_select.options] == ["0 (decoder)", "1 (decoder)"]
    np.testing.assert_allclose(grid_values(view.figure)[:32], record["loss_rise"][0])


# ------------------------------------------------------------------------ text and theme


def hostile_trace() -> tuple[Trace, int]:
    """The synthetic trace with the token ``<b>`` as the shown neuron's first example's firing
    token and first promoted token."""
    trace = synthetic_trace(tokens=["a", "b", "c", "<b>", "e", "f"])
    record = trace.meta["lab"]["neurons"]
    n = int(np.argmax(record["loss_rise"][0]))
    record["promotes"][0][n][0] = "<b>"
    record["contexts"][0][n][0][record["context_index"][0][n][0]] = "<b>"
    return trace, n


def test_tokens_are_escaped_in_every_text():
    trace, n = hostile_trace()
    page = export.interactive(trace, "neurons")
    examples = page["data"][2]["text"]
    assert examples[0][views.neurons(trace).window()[0]] == "<b>&lt;b&gt;</b>"  # bold, escaped
    rest = []  # the figure and its frames (the layers), less the examples' text
    for shown in [page, *page["frames"]]:
        for row in shown["data"][2]["text"]:  # the only tags are the firing tokens' bold
            for cell in row:
                assert "<" not in BOLD.sub(r"\1", cell), cell
        rest.append({**shown, "data": [{k: v for k, v in t.items() if k != "text"}
                                       for t in shown["data"]]})  # fmt: skip
    rest[0].pop("frames")
    text = json.dumps(rest, default=str)
    assert "<b>" not in text.replace("<b>neuron", "") and "&lt;b&gt;" in text
    assert page["layout"]["yaxis2"]["ticktext"][0] == "&lt;b&gt;"
    view = NeuronView(trace)
    assert view.neuron == n
    assert "promotes &lt;b&gt;" in view.note.value and "<b>neuron" in view.note.value
    assert view.note.value.count("<b>") == 1  # the note's own bold only


def test_svg_keeps_tokens_as_escaped_text(tmp_path):
    trace, _ = hostile_trace()
    svg = export.save(trace, tmp_path / "a.svg", what="neurons").read_text(encoding="utf-8")
    assert "&lt;b&gt;" in svg and "<b>" not in svg


@pytest.mark.parametrize("source", ["run", "synthetic"])
def test_presentation_text_is_16_px_or_more_and_does_not_overlap(run, source):
    trace = run.trace if source == "run" else hostile_trace()[0]
    page = export.interactive(trace, "neurons", theme="presentation")
    small = [(where, size) for where, size in fonts(page) if size < MIN_PX]
    small += [(f"frames{w}", s) for w, s in fonts(page.get("frames", [])) if s < MIN_PX]
    assert not small, small
    layout, font = page["layout"], page["layout"]["font"]["size"]
    assert font >= 20
    plot_h = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
    plot_w = layout["width"] - layout["margin"]["l"] - layout["margin"]["r"]
    data = views.neurons(trace)
    rows, columns = builder.grid_shape(data.width)
    cell_h = plot_h * np.diff(layout["yaxis"]["domain"])[0] / rows
    cell_w = plot_w * np.diff(layout["xaxis"]["domain"])[0] / columns
    every_y = np.diff(layout["yaxis"]["tickvals"][:2])[0] if rows > 1 else rows
    assert every_y * cell_h >= 1.25 * font  # a row label and a gap per labelled row
    every_x = np.diff(layout["xaxis"]["tickvals"][:2])[0]
    widest = max(len(t) for t in layout["xaxis"]["ticktext"])
    assert every_x * cell_w >= 0.62 * font * widest + 4  # "+12" beside "+8"
    k = data.promotes_values.shape[2]
    bars = plot_h * np.diff(layout["yaxis2"]["domain"])[0] / (2 * k + 1)
    assert bars >= 1.25 * font  # a line of text and a gap per bar
    examples = plot_h * np.diff(layout["yaxis3"]["domain"])[0] / data.top_act.shape[2]
    assert examples >= 1.5 * font
    theme = as_theme("presentation")
    with mpl.style(theme):
        drawn = mpl.draw(data, 0, theme=theme)
        figure = drawn.figure
        renderer = figure.canvas.get_renderer()
        figure.draw(renderer)
        for ax in figure.axes[:3]:
            for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                shown = [t for t in labels if t.get_text()]
                boxes = [t.get_window_extent(renderer) for t in shown]
                assert not overlapping(shown, boxes), ax
        texts = figure.axes[2].texts  # the examples' tokens stay apart
        assert not overlapping(texts, [t.get_window_extent(renderer) for t in texts])
