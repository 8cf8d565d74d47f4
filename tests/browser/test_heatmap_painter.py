"""The one heatmap painter (explain/_render/js/heatmap.js) paints what plotly draws, pixel for
pixel, in both places that use it: the report's timeline and the notebook widget's module.

Each check plays steps whose heatmap z, title text and annotations change, reads what the page
shows at the instant a step was painted without plotly (the image's pixels, the title's text,
the annotations' texts), then lets plotly draw the same step itself and compares. The heatmaps
are the ones the painter gets wrong most easily: a reversed colour scale (``reversescale``) and
NaN gaps (transparent cells) under a y axis drawn top to bottom.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from _chromium import READ_PIXELS
from _export_traces import OfflinePage

from explain import report
from explain._render import page as pages

pytestmark = pytest.mark.browser

STEPS = [0, 10, 20, 30, 40]
HEIGHT = 300  # both figures in view (the timeline paints only those)
RNG = np.random.default_rng(5)
# z per step: a reversed diverging scale over random cells
REVERSED = RNG.random((len(STEPS), 6, 8)).astype(np.float32)
# z per step: causal attention (NaN above the diagonal) with one more NaN row each step
GAPS = RNG.random((len(STEPS), 7, 7)).astype(np.float32)
GAPS[:, np.triu(np.ones((7, 7), bool), 1)] = np.nan
for _i in range(len(STEPS)):
    GAPS[_i, _i + 1] = np.nan


def reversed_figure() -> dict:
    """Title and z change per step (no annotations: the painter needs no relayout)."""
    return {
        "data": [{"type": "heatmap", "z": REVERSED[-1], "zmin": 0.0, "zmax": 1.0,
                  "colorscale": "RdBu", "reversescale": True}],
        "layout": {"title": {"text": f"reversed, step {STEPS[-1]}"}, "height": HEIGHT,
                   "width": 600, "margin": {"t": 60, "b": 30}},
        "frames": [{"name": str(step), "traces": [0], "data": [{"z": REVERSED[i]}],
                    "layout": {"title": {"text": f"reversed, step {step}"}}}
                   for i, step in enumerate(STEPS)],
    }  # fmt: skip


def annotations(i: int) -> list[dict]:
    return [{"x": i, "y": i, "text": f"row {i}", "showarrow": False, "font": {"color": "red"}}]


def gaps_figure() -> dict:
    """NaN gaps, y reversed; title, z and annotations change per step (plotly lays out the
    annotations, the painter paints the rest)."""
    return {
        "data": [{"type": "heatmap", "z": GAPS[-1], "zmin": 0.0, "zmax": 1.0,
                  "colorscale": "Viridis"}],
        "layout": {"title": {"text": f"gaps, step {STEPS[-1]}"}, "height": HEIGHT, "width": 600,
                   "margin": {"t": 60, "b": 30}, "yaxis": {"autorange": "reversed"},
                   "annotations": annotations(len(STEPS) - 1)},
        "frames": [{"name": str(step), "traces": [0], "data": [{"z": GAPS[i]}],
                    "layout": {"title": {"text": f"gaps, step {step}"},
                               "annotations": annotations(i)}}
                   for i, step in enumerate(STEPS)],
    }  # fmt: skip


FIGURES = {"figure-reversed": reversed_figure, "figure-gaps": gaps_figure}

# What figure `id` shows now, read in one task: its heatmap image (href), title and annotation
# texts, and the title plotly holds (another than the one shown: painted, not drawn by plotly).
SHOWN = """(id) => {
  const host = document.getElementById(id);
  const div = host.closest(".js-plotly-plot") || host.querySelector(".js-plotly-plot");
  const image = div.querySelector("g.hm image");
  return {href: image.getAttributeNS("http://www.w3.org/1999/xlink", "href")
            || image.getAttribute("href"),
          title: (div.querySelector(".gtitle") || {}).textContent || "",
          annotations: Array.from(div.querySelectorAll(".annotation-text"), (a) => a.textContent),
          held: div.layout.title.text};
}"""
# Play from the first step to the end; what each figure showed at each step, as it was painted.
PLAY_AND_RECORD = """([ids, read]) => new Promise((resolve) => {
  read = eval(read);
  const bar = document.getElementById("timeline");
  const seen = {};
  let last = bar.dataset.step;
  const observer = new MutationObserver(() => {
    if (bar.dataset.step !== last && bar.dataset.playing === "true") {
      last = bar.dataset.step;
      seen[last] = Object.fromEntries(ids.map((id) => [id, read(id)]));
    }
    if (bar.dataset.playing === "false") { observer.disconnect(); resolve(seen); }
  });
  observer.observe(bar, {attributes: true});
  document.getElementById("timeline-play").click();
})"""


def pixels(page: Any, href: str) -> np.ndarray:
    picture = page.evaluate(READ_PIXELS, href)
    return np.asarray(picture["pixels"], int).reshape(picture["height"], picture["width"], 4)


def check_same(page: Any, painted: dict, drawn: dict, what: str) -> None:
    """The painted instant shows exactly what plotly draws for that step."""
    assert painted["held"] != painted["title"], f"{what}: drawn by plotly, not painted"
    assert painted["title"] == drawn["title"], what
    assert painted["annotations"] == drawn["annotations"], what
    ours, theirs = pixels(page, painted["href"]), pixels(page, drawn["href"])
    assert ours.shape == theirs.shape, f"{what}: {ours.shape} pixels, plotly drew {theirs.shape}"
    wrong = np.argwhere(np.abs(ours - theirs).max(axis=-1) > 0)
    assert not len(wrong), (
        f"{what}: {len(wrong)} pixels differ from plotly's drawing, first at row, col "
        f"{tuple(wrong[0])}: {ours[tuple(wrong[0])]} instead of {theirs[tuple(wrong[0])]}"
    )


def test_the_report_timeline_paints_reversed_scales_and_gaps_as_plotly_draws_them(
    browser: Any, tmp_path: Any
) -> None:
    ids = list(FIGURES)
    body = (
        report._timeline(STEPS, ids)
        + "".join(pages.div(make(), fid) for fid, make in FIGURES.items())
        + f"<script>{report._timeline_js()}</script>"
    )
    path = tmp_path / "painter.html"
    path.write_text(pages.page("painter", body, bundle="cartesian"), encoding="utf-8")
    offline = OfflinePage(browser)
    try:
        offline.open(path)
        page = offline.page
        page.wait_for_function(
            "(ids) => ids.every((id) => (document.getElementById(id)._fullData || []).length)",
            arg=ids,
        )
        drawn = {}  # step -> figure -> what plotly drew (the slider: plotly draws every figure)
        for index, step in enumerate(STEPS):
            page.evaluate(
                "(i) => { const s = document.getElementById('timeline-step');"
                " s.value = i; s.dispatchEvent(new Event('input')); }",
                index,
            )
            page.wait_for_function(
                "(s) => { const b = document.getElementById('timeline');"
                " return b.dataset.step === s && b.dataset.idle === 'true'; }",
                arg=str(step),
            )
            drawn[step] = {fid: page.evaluate(SHOWN, fid) for fid in ids}
            assert all(d["held"] == d["title"] for d in drawn[step].values())
        assert drawn[STEPS[1]]["figure-gaps"]["annotations"] == ["row 1"]

        page.evaluate(
            "() => { const s = document.getElementById('timeline-step');"
            " s.value = 0; s.dispatchEvent(new Event('input')); }"
        )
        page.wait_for_function(
            "() => document.getElementById('timeline').dataset.idle === 'true'"
            " && document.getElementById('timeline').dataset.step === '0'"
        )
        seen = page.evaluate(PLAY_AND_RECORD, [ids, SHOWN])
        assert sorted(seen, key=int) == [str(s) for s in STEPS[1:]], seen.keys()
        for step in STEPS[1:]:
            for fid in ids:
                check_same(page, seen[str(step)][fid], drawn[step][fid], f"{fid} step {step}")
        assert offline.errors == [] and offline.blocked == []
    finally:
        offline.close()


# -- the widget's module, with a stand-in for its anywidget model ------------------------------
# The module PlotWidget ships (heatmap.js + widgets/plot.js) rendered into a page with a model
# that holds fig_data / fig_layout as the kernel syncs them (z as binary float32 buffers).
WIDGET = """async ([code, figure]) => {
  globalThis.__explainPlotly = Plotly;
  const url = URL.createObjectURL(new Blob([code], {type: "text/javascript"}));
  const module = await import(url);
  const state = {fig_data: [], fig_layout: {}, fig_config: {}, revision: 0, min_font: 0,
                 frames_key: "", frame: 0, playing: false};
  const listeners = {};
  const model = {
    get: (key) => state[key],
    on: (event, listener) => { (listeners[event] = listeners[event] || []).push(listener); },
    off: () => {},
    send: () => {},
  };
  const encode = (z) => ({__ndarray__: true, dtype: "float32", shape: [z.length, z[0].length],
    buffer: new DataView(new Float32Array(z.flat().map((v) => (v === null ? NaN : v))).buffer)});
  globalThis.showStep = (z, title, annotations) => {  // as the kernel's update of one step
    state.fig_data = [{...figure.data[0], z: encode(z)}];
    state.fig_layout = {...figure.layout, title: {text: title}};
    if (annotations) state.fig_layout.annotations = annotations;
    state.revision += 1;
    for (const listener of listeners["change:fig_data"] || []) listener();
    return String(state.revision);
  };
  const el = document.createElement("div");
  el.id = "widget";
  document.body.appendChild(el);
  module.default.render({model, el});
}"""
# Show a step; resolves with what the widget shows the instant it was painted, or null where
# plotly drew it instead.
PAINT_STEP = """([z, title, annotations, read]) => new Promise((resolve) => {
  read = eval(read);
  const el = document.getElementById("widget");
  let revision = null;
  const observer = new MutationObserver(() => {
    if (el.dataset.painted === revision) { observer.disconnect(); resolve(read("widget")); }
    if (el.dataset.revision === revision) { observer.disconnect(); resolve(null); }
  });
  observer.observe(el, {attributes: true, attributeFilter: ["data-painted", "data-revision"]});
  revision = showStep(z, title, annotations);
})"""
SETTLED = """(revision) => { const el = document.getElementById("widget");
  return el.dataset.revision === revision && !el.dataset.busy; }"""


@pytest.mark.parametrize("make", [reversed_figure, gaps_figure], ids=["reversescale", "gaps"])
def test_the_widget_paints_reversed_scales_and_gaps_as_plotly_draws_them(
    browser: Any, tmp_path: Any, make: Any
) -> None:
    import widgets._plot

    figure = make()
    frames = figure.pop("frames")
    figure["data"][0].pop("z")
    path = tmp_path / "widget.html"
    path.write_text(pages.page("widget", "", bundle="cartesian"), encoding="utf-8")
    offline = OfflinePage(browser)
    try:
        offline.page.goto(f"file://{path}")
        page = offline.page
        page.evaluate(WIDGET, [widgets._plot.PlotWidget._esm, json.loads(json.dumps(figure))])

        def step(i: int) -> list:
            cells = frames[i]["data"][0]["z"]
            z = [[None if np.isnan(v) else float(v) for v in row] for row in cells]
            layout = frames[i]["layout"]
            return [z, layout["title"]["text"], layout.get("annotations")]

        first = page.evaluate("(a) => showStep(...a)", step(0))
        page.wait_for_function(SETTLED, arg=first)
        # steps 1.. one after another, each as soon as the last was painted (plotly draws
        # nothing in between), then plotly's own drawing of each
        painted = [page.evaluate(PAINT_STEP, [*step(i), SHOWN]) for i in range(1, len(STEPS))]
        page.evaluate("() => { globalThis.__explainFullDraws = true; }")
        assert all(painted), f"steps drawn by plotly, not painted: {painted}"
        for i, shown in enumerate(painted, start=1):
            revision = page.evaluate("(a) => showStep(...a)", step(i))
            page.wait_for_function(SETTLED, arg=revision)
            check_same(page, shown, page.evaluate(SHOWN, "widget"), f"widget step {STEPS[i]}")
        assert offline.errors == [] and offline.blocked == []
    finally:
        offline.close()
