"""PositionalView: the formula's sliders recompute explain.positional.sinusoidal; traces show
the encoding actually used."""

from __future__ import annotations

import numpy as np
import pytest
from _widget_traces import get_reverse_trace

from explain.positional import rope_table, sinusoidal
from explain.trace import Trace
from widgets import PositionalView


def test_formula_sliders_recompute():
    view = PositionalView()
    np.testing.assert_allclose(view.heatmap.figure.data[0].z, sinusoidal(64, 64), atol=1e-6)
    view.d_model_slider.value = 32
    view.length_slider.value = 20
    table = sinusoidal(20, 32)
    np.testing.assert_allclose(view.heatmap.figure.data[0].z, table, atol=1e-6)
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    np.testing.assert_allclose(view.similarity.figure.data[0].z, unit @ unit.T, atol=1e-5)
    assert view.data.kind == "sinusoidal (formula)" and view.data.colorscale == "puor"
    view.dims_select.value = (1, 6)
    curves = [c for c in view.curves.figure.data if c.visible]
    assert [c.name for c in curves] == ["dim 1", "dim 6"]
    np.testing.assert_allclose(curves[1].y, table[:, 6])
    assert view.heatmap.figure.layout.yaxis.autorange == "reversed"


def test_trace_shows_the_encoding_used():
    reverse_trace = get_reverse_trace()
    view = PositionalView(reverse_trace, step=10)
    expected = reverse_trace.tensor("positional", 10)
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, expected)
    np.testing.assert_allclose(expected, sinusoidal(*expected.shape), atol=1e-6)  # sinusoidal
    view.source_toggle.value = "formula"
    assert view.heatmap.figure.data[0].z.shape == (64, 64)
    view.source_toggle.value = "trace"
    view.step = 30
    np.testing.assert_array_equal(
        view.heatmap.figure.data[0].z, reverse_trace.tensor("positional", 30)
    )


def test_learned_and_rope_tables():
    learned = np.random.default_rng(0).normal(size=(2, 8, 6)).astype(np.float32)
    trace = Trace.from_arrays(
        {"model_config": {"positional": "learned"}}, [0, 5], {}, [0, 5], {"positional": learned}
    )
    view = PositionalView(trace, step=5)
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, learned[1])
    assert "learned" in view.heatmap.figure.layout.title.text
    rope = rope_table(8, 4)[None].astype(np.float32)
    trace = Trace.from_arrays(
        {"model_config": {"positional": "rope"}}, [0], {}, [0], {"positional": rope}
    )
    view = PositionalView(trace)
    np.testing.assert_array_equal(view.heatmap.figure.data[0].z, rope[0])


def test_bad_input():
    with pytest.raises(ValueError, match=r"d_model must be an integer in \[2, 512\]"):
        PositionalView(d_model=1)
    none = Trace.from_arrays(
        {"model_config": {"positional": "none"}}, [0], {}, [0], {"w": np.ones((1, 2))}
    )
    with pytest.raises(ValueError, match="positional='none'"):
        PositionalView(none)
    missing = Trace.from_arrays({}, [0], {}, [0], {"w": np.ones((1, 2))})
    with pytest.raises(ValueError, match="no 'positional' tensor"):
        PositionalView(missing)
