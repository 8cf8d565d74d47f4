"""One figure per view, for the lab's views: what HeadsView and LensView show is what
``explain.export.interactive`` gives for the same step and state (less the page's slider), their
PNG is drawn from the same view model by the view's one matplotlib builder, and the scores and
pruning exports are the figure and panel HeadsView shows (the checks live in tests/_figures.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from _export_traces import synthetic_trace
from _figures import as_json, assert_png_from_the_view_model, assert_same_figures

from explain import export, views
from widgets import HeadsView, LensView


@pytest.fixture(scope="module")
def trace():
    """2 layers x 2 heads, 5 snapshots, a made-up lab record with a lens: no model."""
    return synthetic_trace()


def titles(figure: dict) -> list[str]:
    """A plotly figure's title and its panels' titles (annotations), as text."""
    layout = as_json(figure)["layout"]
    return [layout["title"]["text"], *(a["text"] for a in layout.get("annotations", []))]


# -- heads -----------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_heads_view_shows_the_exported_figures(trace, theme):
    view = HeadsView(trace, theme=theme, step=int(trace.snapshot_steps[1]))
    assert len(view.figures()) == 4  # three panels (a narrow output wraps them), the scores
    for step in (int(trace.snapshot_steps[1]), int(trace.snapshot_steps[-1])):
        view.step = step  # the second step: changed in place (Plot.show)
        exported = export.interactive(trace, "heads", step=step, theme=theme)
        assert_same_figures(view.figures(), exported)
        assert_png_from_the_view_model(view, step, **view.state)
    grid, _, similar, _ = view.figures()
    assert f"step {view.step}<br>" in grid["layout"]["title"]["text"]
    assert titles(similar)[0] == "how different (JS distance)"


def test_heads_view_state_is_what_the_export_draws(trace):
    view = HeadsView(trace)
    other = next(p for p in view.data.patterns if p != view.pattern)
    view.pattern_select.value = other  # a selection changed after construction
    view.step = int(trace.snapshot_steps[2])
    exported = export.interactive(view.data, "heads", step=view.step, **view.state)
    assert_same_figures(view.figures(), exported)
    assert (
        view.figures()[3]["layout"]["title"]["text"]
        == f"{other.replace('_', ' ')} score of every head"
    )
    # heads off and what they cost (a Run measures it; here the state is given)
    state = {"off": [(1, 0)], "result": {"loss": 1.25, "accuracy": 0.5}, "pattern": other}
    off = export.interactive(view.data, "heads", step=view.step, **state)[0]
    assert off["data"][0]["text"][1][0] == "off"
    assert off["layout"]["shapes"][0]["x0"] == -0.45  # crossed out
    cost = titles(off)[0].split("<br>")[-1]  # the title's second line
    assert cost == "heads off: L1H0 · loss 0.050 → 1.250 · accuracy 1.00 → 0.50"
    with pytest.raises(ValueError, match=r"head \(2, 0\) is out of range"):
        export.interactive(view.data, "heads", off=[(2, 0)])
    with pytest.raises(ValueError, match="unknown pattern 'nope'"):
        export.interactive(view.data, "heads", pattern="nope")


def test_heads_view_follows_a_theme_change_like_the_export(trace):
    view = HeadsView(trace)
    view.set_theme("presentation")
    exported = export.interactive(trace, "heads", step=view.step, theme="presentation")
    assert_same_figures(view.figures(), exported)


def test_the_heads_page_moves_the_badges_and_the_step_marker(trace):
    panels, pruned, similar, scores = export.interactive(
        trace, "heads", step=int(trace.snapshot_steps[0])
    )
    assert "frames" not in pruned and "frames" not in similar  # they do not change
    assert [frame["name"] for frame in panels["frames"]] == [str(s) for s in trace.snapshot_steps]
    assert panels["frames"][0]["traces"] == [0]  # the badges
    assert set(panels["frames"][0]["layout"]) == {"title"}
    assert set(scores["frames"][-1]["layout"]) == {"shapes"}  # the step marker


def test_the_heads_picture_has_the_plotly_panels(trace):
    view = views.heads(trace)
    panels, pruned, similar, scores = export.interactive(view, "heads")
    figure = export.figure(trace, "heads")
    shown = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert shown == [titles(pruned)[0], titles(similar)[0], titles(scores)[0]]
    top = figure.subfigs[0]  # the panels; the scores under them
    assert top.texts[-1].get_text() == titles(panels)[0].split("<br>")[-1]  # the heads off


# -- scores and pruning: HeadsView's figure and panel ----------------------------------------
def test_scores_export_is_the_heads_views_scores_figure(trace):
    view = HeadsView(trace)
    for pattern in view.data.patterns[:2]:
        view.pattern_select.value = pattern
        exported = export.interactive(trace, "scores", step=view.step, pattern=pattern)
        assert_same_figures(view.figures()[3:], exported)
    every = export.interactive(trace, "scores")
    assert [titles(f)[0] for f in every] == [
        f"{p.replace('_', ' ')} score of every head" for p in view.data.patterns
    ]
    figure = export.figure(trace, "scores")
    assert [ax.get_title() for ax in figure.axes] == [titles(f)[0] for f in every]


def test_pruning_export_draws_the_heads_views_pruning_panel(trace):
    view = HeadsView(trace)
    panel = [as_json(view.figures()[1])["data"][i] for i in (0, 1)]
    exported = as_json(export.interactive(trace, "pruning"))
    for ours, theirs in zip(panel, exported["data"][:2], strict=True):
        for key in ("x", "y", "name", "mode", "line", "marker", "hovertemplate"):
            assert ours[key] == theirs[key], key
    assert len(exported["data"]) == 4  # and the weights zeroed, beside it
    figure = export.figure(trace, "pruning")
    assert [ax.get_title() for ax in figure.axes if ax.get_title()] == titles(exported)[1:]
    assert titles(exported)[0] == views.pruning(trace).title


# -- lens ------------------------------------------------------------------------------------
@pytest.mark.parametrize("theme", ["light", "presentation"])
def test_lens_view_shows_the_exported_figure(trace, theme):
    view = LensView(trace, theme=theme, position=2)
    last = len(view.data.tokens) - 1
    for position in (2, last):
        view.position = position  # the second: changed in place (Plot.show)
        exported = export.interactive(trace, "lens", position=position, theme=theme)
        assert_same_figures(view.figures(), exported)
        assert_png_from_the_view_model(view, None, marker=False, position=position)
        assert as_json(view.figures()[0])["data"][3]["x"] == pytest.approx(
            view.data.saliency[position].tolist()
        )
    # the view model holds the position too: exporting it draws what the widget shows
    assert_same_figures(view.figures(), export.interactive(view.data, "lens", theme=theme))


def test_the_lens_page_has_a_slider_over_positions(trace):
    data = views.lens(trace)
    page = export.interactive(trace, "lens")
    assert [frame["name"] for frame in page["frames"]] == [str(p) for p in range(len(data.tokens))]
    slider = page["layout"]["sliders"][0]
    assert slider["active"] == data.position and slider["currentvalue"]["prefix"] != "step "
    frame = page["frames"][1]
    np.testing.assert_allclose(frame["data"][0]["x"], data.saliency[1])
    assert "position 1" in frame["layout"]["xaxis3"]["title"]["text"]
    with pytest.raises(ValueError, match="position 99 is out of range"):
        export.interactive(trace, "lens", position=99)


def test_the_lens_picture_has_the_plotly_panels(trace):
    page = as_json(export.interactive(trace, "lens", position=1))
    figure = export.figure(trace, "lens")
    table, rollout, bars = figure.axes[:3]
    layout = page["layout"]
    assert table.get_xlabel() == layout["xaxis"]["title"]["text"].replace("<br>", "\n")
    assert rollout.get_title() == titles(page)[1] == "attention rollout"
    position = views.lens(trace).position
    assert f"saliency of position {position}" in bars.get_xlabel()
    assert bars.xaxis.get_label_position() == layout["xaxis3"]["side"] == "top"


def test_heads_switched_off_by_a_run_are_what_the_export_draws():
    import explain

    model_config = explain.ModelConfig(
        vocab_size=11, d_model=16, n_layers=2, n_heads=4, d_mlp=32, context_length=16
    )
    train_config = explain.TrainConfig(steps=20, batch_size=8, eval_every=10, seed=0)
    run = explain.train("reverse", model_config=model_config, train_config=train_config)
    view = HeadsView(run)  # measures the heads first (explain.lab.record)
    result = view.toggle(1, 2)
    assert view.state["off"] == [(1, 2)] and view.state["result"] == result
    exported = export.interactive(view.data, "heads", step=view.step, **view.state)
    assert_same_figures(view.figures(), exported)
    assert titles(view.figures()[0])[0].split("<br>")[-1].startswith("heads off: L1H2 · loss ")
    assert_png_from_the_view_model(view, view.step, **view.state)
    view.toggle(1, 2)
    assert view.state["off"] == [] and view.state["result"] is None
    assert_same_figures(view.figures(), export.interactive(view.data, "heads", step=view.step))
