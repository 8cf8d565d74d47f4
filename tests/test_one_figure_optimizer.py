"""One figure per view, for the optimizer view and the optimizer playground: what the widget
shows is what ``explain.export.interactive`` gives for the same step and selection (less the
page's slider), its PNG is drawn from the same view model, and the matplotlib figure has the
plotly figures' panels, titles and legend (the shared checks live in tests/_figures.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from _figures import (
    as_json,
    assert_png_from_the_view_model,
    assert_same_figures,
    without_controls,
)
from _widget_traces import get_reverse_trace

from explain import export, views
from explain.playground import SURFACES, playground, trajectory
from widgets import OptimizerPlayground, OptimizerView

OTHER = "blocks.0.attn.W_o.weight"


def plain(text: str) -> str:
    import html

    return html.unescape(text)


# -- optimizer view --------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_optimizer_view_shows_the_exported_figures(theme):
    trace = get_reverse_trace()
    view = OptimizerView(trace, playground=False, theme=theme)
    for step in (int(trace.snapshot_steps[3]), int(trace.snapshot_steps[-1])):
        view.step = step  # the in-place path (Plot.show) after the first draw
        exported = export.interactive(trace, "optimizer", step=step, theme=theme)
        assert isinstance(exported, dict)  # one figure: history and histogram, one slider
        assert_same_figures(view.figures(), exported)
        assert_same_figures(view.figures(), export.interactive(view.data, step=step, theme=theme))
        assert_png_from_the_view_model(view, step)


def test_optimizer_view_follows_a_parameter_and_a_theme_change_like_the_export():
    trace = get_reverse_trace()
    view = OptimizerView(trace, playground=False, step=12)
    view.parameter_select.value = OTHER
    assert view.data.parameter == OTHER
    exported = export.interactive(trace, "optimizer", parameter=OTHER, step=12)
    assert_same_figures(view.figures(), exported)
    assert OTHER in view.figures()[0]["layout"]["title"]["text"]
    view.set_theme("presentation")
    exported = export.interactive(view.data, step=12, theme="presentation")
    assert_same_figures(view.figures(), exported)
    assert_png_from_the_view_model(view, 12)


def test_optimizer_page_moves_the_marker_and_the_histogram_together():
    trace = get_reverse_trace()
    page = export.interactive(trace, "optimizer", step=5)
    steps = [int(frame["name"]) for frame in page["frames"]]
    assert steps == [int(s) for s in trace.snapshot_steps]
    last = page["frames"][-1]
    assert last["traces"] == [0]  # the bars; the curves stay
    assert last["layout"]["shapes"][0]["x0"] == steps[-1]  # the step marker follows the slider
    np.testing.assert_array_equal(last["data"][0]["y"], views.optimizer(trace).histogram_counts[-1])
    assert last["layout"]["title"]["text"].endswith(f"step {steps[-1]}")


def test_matplotlib_draws_the_panels_titles_and_legend_of_the_plotly_figures():
    trace = get_reverse_trace()
    data = views.optimizer(trace)
    step = int(data.steps[7])
    layout = (page := export.interactive(data, step=step))["layout"]
    figure = export.figure(trace, "optimizer", step=step)
    keys = ("yaxis", "yaxis2", "yaxis3", "yaxis4")
    assert [ax.get_ylabel() for ax in figure.axes] == [layout[k]["title"]["text"] for k in keys]
    assert figure.axes[2].get_xlabel() == layout["xaxis"]["title"]["text"]
    assert figure.axes[3].get_xlabel() == layout["xaxis2"]["title"]["text"].replace("<br>", "\n")
    assert len(layout["annotations"]) == 1  # the optimizer's name; the histogram: its axis
    assert figure._suptitle.get_text() == plain(layout["title"]["text"])
    curves = [t for t in page["data"][1:] if t.get("visible", True)]
    (left, _) = figure.subfigs
    assert [t.get_text() for t in left.legends[0].get_texts()] == [plain(t["name"]) for t in curves]
    lines = [line for ax in figure.axes[:3] for line in ax.get_lines()]
    drawn = [line.get_color() for line in lines if not line.get_label().startswith("_")]
    assert [t["line"]["color"] for t in curves] == drawn  # the step markers are unlabelled
    bars = figure.axes[3].patches
    assert len(bars) == len(data.histogram_counts[7])
    assert [b.get_height() for b in bars] == data.histogram_counts[7].tolist()


# -- playground ------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_playground_shows_the_exported_figure(theme):
    view = OptimizerPlayground(theme=theme)
    assert_same_figures(view.figures(), export.interactive(view.data, theme=theme))
    assert_png_from_the_view_model(view, None, marker=False)
    # controls changed after the first draw: the in-place path (Plot.show)
    view.set_start(4.0, -2.0)
    view.lr_slider.value = 0.05
    view.surface_select.value = "bowl"
    view.steps_slider.value = 40
    assert view.data.surface == "bowl" and len(view.data.steps) == 41
    assert_same_figures(view.figures(), export.interactive(view.data, theme=theme))
    assert_png_from_the_view_model(view, None, marker=False)


def test_playground_view_model_is_the_settings():
    view = OptimizerPlayground("rosenbrock")
    view.set_start(0.5, -0.5)
    data = view.data
    assert data == data  # frozen dataclass: a value
    assert (data.surface, data.start, data.lr) == ("rosenbrock", (0.5, -0.5), view.lr_slider.value)
    for name, path in data.paths.items():
        np.testing.assert_array_equal(
            path, trajectory("rosenbrock", name, (0.5, -0.5), view.lr_slider.value, 100)
        )
    again = playground("rosenbrock", (0.5, -0.5), view.lr_slider.value)
    np.testing.assert_array_equal(again.z, data.z)
    assert data.index(None) == 100 and data.index(30) == 30


def test_playground_page_races_the_optimizers_step_by_step():
    data = playground("valley", steps=20)
    page = export.interactive(data, step=5)
    lines = as_json(without_controls(page))["data"][1:4]
    assert all(len(line["x"]) == 6 for line in lines)  # each path up to update 5
    assert [int(frame["name"]) for frame in page["frames"]] == list(range(21))
    last = page["frames"][-1]
    assert all(len(trace["x"]) == 21 for trace in last["data"])
    assert export.image(data, 5) != export.image(data, 20)


def test_playground_diverged_path_is_named_in_both_renderers():
    data = playground("bowl", start=(1.0, 1.0), lr=1.0, steps=200)  # GD: |1 - 5| = 4 a step
    figure = export.interactive(data)
    names = [plain(trace["name"]) for trace in figure["data"][1:]]
    assert names[0].startswith("gd (diverged at ")
    drawn = export.figure(data, "playground")
    legend = [t.get_text() for t in drawn.legends[0].get_texts()]
    assert legend == names
    assert drawn.axes[0].get_title(loc="left") == plain(figure["layout"]["title"]["text"])


def test_playground_names_stay_importable_from_the_widget():
    from widgets import playground as module

    assert module.SURFACES is SURFACES and module.trajectory is trajectory
