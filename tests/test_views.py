"""One view model, two renderers: a widget's ``data`` is what the export writes.

For every view kind, on a decoder trace, an encoder-decoder trace and a trace made by
``explain.adapters.from_attentions``, the numbers in ``widget.data`` equal the JSON that
``explain.export.save(trace, "x.json", what=...)`` writes (to 1e-6), with the same colour scale,
and the widget's figures draw with that scale. Views a trace lacks fail the same way in both.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from _same import same
from _widget_traces import get_reverse_trace, get_translate_trace

import widgets
from explain import export, names, style, views
from explain.adapters import from_attentions

WIDGETS = {
    "attention": lambda trace, **kw: widgets.AttentionView(trace, **kw),
    "embeddings": lambda trace, **kw: widgets.EmbeddingView(trace, **kw),
    "positional": lambda trace, **kw: widgets.PositionalView(trace, **kw),
    "loss": lambda trace, **kw: widgets.LossView(trace, **kw),
    "optimizer": lambda trace, **kw: widgets.OptimizerView(trace, playground=False, **kw),
    "heads": lambda trace, **kw: widgets.HeadsView(trace, **kw),
    "lens": lambda trace, **kw: widgets.LensView(trace, **kw),
}


def attentions_trace():
    rng = np.random.default_rng(0)
    raw = rng.random((3, 1, 2, 5, 5)) + 1e-3  # [layer, batch, head, q, k]
    layers = [np.tril(x) / np.tril(x).sum(axis=-1, keepdims=True) for x in raw]
    return from_attentions(layers, ["The", " cat", "<b>", "\n", "sat"])


TRACES = {
    "decoder": get_reverse_trace,
    "encoder-decoder": get_translate_trace,
    "from_attentions": attentions_trace,
}


@pytest.mark.parametrize("source", list(TRACES))
@pytest.mark.parametrize("what", list(WIDGETS))
def test_widget_data_is_what_the_json_export_writes(source, what, tmp_path):
    trace = TRACES[source]()
    try:
        expected_model = views.view(trace, what)
    except ValueError as missing:  # the trace has no such view: both renderers say so
        with pytest.raises(ValueError) as from_widget:
            WIDGETS[what](trace)
        with pytest.raises(ValueError) as from_export:
            export.save(trace, tmp_path / "x.json", what=what)
        assert str(from_export.value) == str(missing)
        assert from_widget.value is not None
        assert not (tmp_path / "x.json").exists()  # a refused export writes nothing
        return
    view = WIDGETS[what](trace)
    written = json.loads(export.save(trace, tmp_path / "x.json", what=what).read_text("utf-8"))
    assert written["what"] == what and list(written) == ["what", *view.data.FIELDS]
    for name in view.data.FIELDS:
        same(written[name], views.jsonable(getattr(view.data, name)), name)
    assert written["colorscale"] == view.data.colorscale == expected_model.colorscale
    stops = style.colorscale(view.data.colorscale) if view.data.colorscale else None
    heatmaps = [t for plot in view.plots for t in plot.figure.data if t.type == "heatmap"]
    for heat in heatmaps:  # every heatmap draws with the scale of its quantity
        scale = [[p, c] for p, c in heat.colorscale]
        assert scale == style.colorscale("puor" if heat.zmid is not None else "viridis")
    if what in ("attention", "embeddings", "positional"):
        assert [[p, c] for p, c in heatmaps[-1].colorscale] == stops


def test_encoder_decoder_parts_agree():
    trace = get_translate_trace()
    view = widgets.AttentionView(trace)
    assert view.data.part == export.data(trace, "attention")["part"] == "cross"
    for part in ("encoder", "decoder", "cross"):
        view.part_select.value = part
        written = export.data(trace, "attention", part=part)
        assert written["query_tokens"] == view.data.query_tokens
        assert written["key_tokens"] == view.data.key_tokens
        np.testing.assert_allclose(np.array(written["patterns"]), view.data.patterns, atol=1e-6)
        view.open_head(1, 1)
        step = int(view.data.steps[-1])
        name = names.attention_name(1, part)
        np.testing.assert_array_equal(view.heatmap.figure.data[0].z, trace.tensor(name, step)[1])
        np.testing.assert_array_equal(view.data.at(-1)[1, 1], trace.tensor(name, step)[1])


def test_the_widget_draws_its_model_at_every_step():
    trace = get_reverse_trace()
    view = widgets.EmbeddingView(trace)
    loss = widgets.LossView(trace, step_control=view.step_control)
    for step in (0, 13, 40):
        view.step = step
        index = view.data.index(step)
        scatter = view.scatter.figure.data[1]
        np.testing.assert_allclose(scatter.x, view.data.coords[index, :, 0])
        np.testing.assert_allclose(view.similarity.figure.data[0].z, view.data.similarity[index])
        assert loss.figure.layout.shapes[0].x0 == step
    # the glyph rule is one rule: a newline token is "↵" in the widget and in the exports
    assert style.visible("\n") == "↵"
    attention = widgets.AttentionView(attentions_trace())
    assert "↵" in attention.heatmap.figure.layout.xaxis.ticktext
    assert "&lt;b&gt;" in attention.heatmap.figure.layout.xaxis.ticktext
    svg = export.figure(attentions_trace(), layer=0, head=0)
    labels = [t.get_text() for t in svg.axes[0].get_xticklabels()]
    assert "↵" in labels
