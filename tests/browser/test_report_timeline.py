"""The report's one timeline in headless chromium: play, pause and the slider move every figure,
and each figure then shows the frame of the step the page's header names.

A figure's state is read from plotly's ``_fullData`` (what it draws) and compared with the frame
of that step as the page handed it to plotly (``Plotly.addFrames``), decoded here in Python; the
attention heatmap is also compared with the trace's own pattern.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import numpy as np
import pytest
from _export_traces import OfflinePage, synthetic_trace

from explain import report

pytestmark = pytest.mark.browser

# What each traced figure draws now, for the keys its frames set: {id: {trace: {key: value}}}
READ_FIGURES = """(keys) => {
  const plain = (v) => (v && typeof v === "object" && typeof v.length === "number")
    ? Array.from(v, plain) : v;
  const out = {};
  for (const [id, traces] of Object.entries(keys)) {
    const div = document.getElementById(id);
    out[id] = {};
    for (const [index, names] of Object.entries(traces)) {
      const full = div._fullData.find((t) => t.index === Number(index));
      out[id][index] = Object.fromEntries(names.map((name) => [name, plain(full[name])]));
    }
  }
  return out;
}"""
HEADER = """() => ({label: document.getElementById("timeline-label").textContent,
  drawn: document.getElementById("timeline").dataset.step,
  playing: document.getElementById("timeline").dataset.playing,
  slider: Number(document.getElementById("timeline-step").value)})"""
# Press play and pause as soon as the figures have drawn ``arg``; resolves with every step drawn.
PLAY_THEN_PAUSE = """(pauseAt) => new Promise((resolve) => {
  const bar = document.getElementById("timeline");
  const drawn = [];
  let last = bar.dataset.step;
  const observer = new MutationObserver(() => {
    if (bar.dataset.step !== last) { last = bar.dataset.step; drawn.push(last); }
    if (bar.dataset.step === pauseAt && bar.dataset.playing === "true") {
      document.getElementById("timeline-play").click();
    }
    if (bar.dataset.playing === "false") { observer.disconnect(); resolve(drawn); }
  });
  observer.observe(bar, {attributes: true});
  document.getElementById("timeline-play").click();
})"""


# The pixels of every heatmap image in figure `id` (PNG data URLs decoded by the browser).
IMAGES = """async (id) => Promise.all(Array.from(
  document.getElementById(id).querySelectorAll("g.hm image"), async (image) => {
    const source = new Image();
    source.src = image.getAttribute("href") || image.getAttributeNS(
      "http://www.w3.org/1999/xlink", "href");
    await source.decode();
    const canvas = document.createElement("canvas");
    canvas.width = source.width; canvas.height = source.height;
    const context = canvas.getContext("2d");
    context.drawImage(source, 0, 0);
    return [source.width, source.height,
            Array.from(context.getImageData(0, 0, source.width, source.height).data)];
  }))"""
PAINTED = "() => document.getElementById('timeline').dataset.painted || '0'"
# Play; as soon as `arg` is shown, read the heatmap images of figure-attention-self, then pause.
PLAY_AND_READ = """async (stopAt) => {
  const bar = document.getElementById("timeline");
  await new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (bar.dataset.step === stopAt) { observer.disconnect(); resolve(); }
    });
    observer.observe(bar, {attributes: true, attributeFilter: ["data-step"]});
    document.getElementById("timeline-play").click();
  });
  const pixels = await (IMAGES)("figure-attention-self");
  document.getElementById("timeline-play").click();
  return pixels;
}"""


def _decode(value: Any) -> Any:
    """A frame value as numbers: plotly's typed-array spec becomes a float array of its shape."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype="<f4")
        shape = [int(n) for n in str(value.get("shape", len(flat))).split(",")]
        return flat.reshape(shape).astype(np.float64)
    return value


def _frames(text: str) -> dict[str, dict[str, list[dict]]]:
    """{figure id: {frame name: [{"trace": index, key: value}, ...]}} from the page's addFrames."""
    decoder, found = json.JSONDecoder(), {}
    for match in re.finditer(r"Plotly\.addFrames\('([\w-]+)', ", text):
        frames, _ = decoder.raw_decode(text, match.end())
        found[match.group(1)] = {
            frame["name"]: [
                {"trace": index, **{k: _decode(v) for k, v in data.items()}}
                for index, data in zip(frame["traces"], frame["data"], strict=True)
            ]
            for frame in frames
        }
    return found


class ReportPage:
    """A report open in chromium, with its frames and timeline read from the written file."""

    def __init__(self, browser: Any, trace: Any, path: Any) -> None:
        text = report.save_report(trace, path).read_text(encoding="utf-8")
        data = re.search(r'id="timeline-data">(.*?)</script>', text).group(1)
        timeline = json.loads(data)
        self.trace = trace
        self.steps = [str(step) for step in timeline["steps"]]
        self.figures = timeline["figures"]
        self.frames = _frames(text)
        self.keys = {
            fid: {
                str(entry["trace"]): [k for k in entry if k != "trace"]
                for entry in self.frames[fid][self.steps[0]]
            }
            for fid in self.figures
        }
        self.offline = OfflinePage(browser)
        self.page = self.offline.page
        self.offline.open(path)
        self.page.wait_for_function(
            "(ids) => ids.every((id) => { const d = document.getElementById(id);"
            " return d && d._fullData && d._fullData.length > 0; })",
            arg=self.figures,
        )

    def header(self) -> dict:
        return self.page.evaluate(HEADER)

    def wait_drawn(self, step: str) -> None:
        """Until plotly has drawn ``step`` in every figure and the timeline is idle."""
        self.page.wait_for_function(
            "(s) => { const b = document.getElementById('timeline');"
            " return b.dataset.step === s && b.dataset.idle === 'true'; }",
            arg=step,
        )

    def move_slider(self, index: int) -> None:
        self.page.evaluate(
            "(i) => { const s = document.getElementById('timeline-step');"
            " s.value = i; s.dispatchEvent(new Event('input')); }",
            index,
        )

    def check_all_show_the_header_step(self) -> str:
        """Every figure draws the frame of the header's step; returns that step."""
        header = self.header()
        step = header["drawn"]
        assert header["label"] == f"step {step}", header
        assert self.steps[header["slider"]] == step, header
        shown = self.page.evaluate(READ_FIGURES, self.keys)
        for fid in self.figures:
            for entry in self.frames[fid][step]:
                now = shown[fid][str(entry["trace"])]
                for key, expected in entry.items():
                    if key == "trace":
                        continue
                    where = f"{fid} trace {entry['trace']} {key} at step {step}"
                    if isinstance(expected, np.ndarray):
                        got = np.asarray(now[key], np.float64)
                        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=where)
                    else:
                        assert now[key] == expected, where
        pattern = self.trace.at(int(step)).tensors["blocks.0.attn.hook_pattern"][0]
        first = np.asarray(shown["figure-attention-self"]["0"]["z"], np.float64)
        np.testing.assert_allclose(first, pattern, atol=1e-6)  # layer 0 head 0, from the trace
        return step


@pytest.fixture
def report_page(browser: Any, tmp_path: Any) -> Any:
    page = ReportPage(browser, synthetic_trace(n_heads=3), tmp_path / "report.html")
    yield page
    page.offline.close()


def test_play_pause_and_slider_keep_every_figure_on_the_header_step(report_page: Any) -> None:
    page = report_page
    steps = page.steps
    assert len(steps) >= 5 and len(page.figures) >= 4
    # distinct frames: a figure stuck on another step would be caught
    for fid in ("figure-attention-self", "figure-attention-self-1"):  # the head, the grid
        z = [page.frames[fid][s][0]["z"] for s in steps]
        assert all(not np.allclose(a, b) for a, b in zip(z[:-1], z[1:], strict=True)), fid

    page.wait_drawn(steps[-1])  # as opened: the last step
    assert page.check_all_show_the_header_step() == steps[-1]

    page.move_slider(1)  # the slider moves every figure
    page.wait_drawn(steps[1])
    assert page.check_all_show_the_header_step() == steps[1]

    # play from there, pause as soon as steps[3] is drawn: nothing skipped, all on one step
    drawn = page.page.evaluate(PLAY_THEN_PAUSE, steps[3])
    assert drawn[: len(steps[2:4])] == steps[2:4], drawn
    page.wait_drawn(drawn[-1])
    assert page.check_all_show_the_header_step() == steps[3]
    assert page.header()["label"] == f"step {steps[3]}"

    # play on to the end: it stops by itself on the last step
    drawn = page.page.evaluate(PLAY_THEN_PAUSE, "never")
    assert drawn == steps[4:], drawn
    page.wait_drawn(steps[-1])
    assert page.check_all_show_the_header_step() == steps[-1]

    # play at the end starts again from the first step
    drawn = page.page.evaluate(PLAY_THEN_PAUSE, steps[1])
    assert drawn[:2] == steps[:2], drawn
    assert page.check_all_show_the_header_step() == steps[1]
    assert page.offline.errors == [] and page.offline.blocked == []


def test_playing_paints_the_heatmaps_exactly_as_plotly_draws_them(report_page: Any) -> None:
    """While playing, the attention heatmaps are painted without plotly; the pixels are the
    ones plotly draws for that step (orientation, colour scale, one pixel per cell)."""
    page, steps = report_page, report_page.steps
    page.page.locator("#figure-attention-self").scroll_into_view_if_needed()
    page.move_slider(2)
    page.wait_drawn(steps[2])
    by_plotly = page.page.evaluate(IMAGES, "figure-attention-self")
    tokens = len(page.trace.meta["probe"]["tokens"])
    assert len(by_plotly) == 1 and by_plotly[0][:2] == [tokens, tokens]  # the head: a pixel a cell
    page.move_slider(1)
    page.wait_drawn(steps[1])
    before = int(page.page.evaluate(PAINTED))
    painted = page.page.evaluate(PLAY_AND_READ.replace("(IMAGES)", f"({IMAGES})"), steps[2])
    assert int(page.page.evaluate(PAINTED)) > before  # the step was painted, not drawn by plotly
    assert [p[:2] for p in painted] == [p[:2] for p in by_plotly]
    for ours, theirs in zip(painted, by_plotly, strict=True):
        difference = np.abs(np.array(ours[2], int) - np.array(theirs[2], int)).max()
        assert difference <= 1
    page.wait_drawn(steps[2])
    assert page.check_all_show_the_header_step() == steps[2]
    assert page.offline.errors == []


@pytest.mark.parametrize("encoder_decoder", [False, True])
def test_every_figure_draws_offline_with_the_cartesian_bundle(
    browser: Any, tmp_path: Any, encoder_decoder: bool
) -> None:
    trace = synthetic_trace(encoder_decoder=encoder_decoder)
    path = report.save_report(trace, tmp_path / "report.html")
    page = OfflinePage(browser)
    try:
        page.open(path)
        expected = page.page.evaluate("() => document.querySelectorAll('.plotly-graph-div').length")
        assert expected >= 7
        page.page.wait_for_function(
            "(n) => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=expected,
        )
        empty = page.page.evaluate(
            "() => Array.from(document.querySelectorAll('.plotly-graph-div'))"
            ".filter((d) => !(d.data && d.data.length && d._fullLayout)).map((d) => d.id)"
        )
        assert empty == []
        assert page.page.evaluate("() => typeof Plotly.version") == "string"
        assert page.errors == [] and page.blocked == [] and page.dialogs == []
    finally:
        page.close()
