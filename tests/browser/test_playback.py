"""Playing the AttentionView in JupyterLab: what the page draws is the step the widget shows.

While playing, widgets/plot.js repaints the heatmaps' images itself (no plotly redraw) from the
frames the kernel sent once when play started (no round trip per step), and plotly draws the
whole figure once updates stop. These checks read the image drawn in the page
(its pixels) with the title drawn in the same instant, and after pausing plotly's own data, and
compare both with the trace file the kernel loaded: a stale or wrong repaint fails them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from _chromium import READ_PIXELS
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRACE = "playback-trace.npz"
# frames: the page plays the frames the kernel sent; kernel: none sent (over the byte budget),
# every step goes through the kernel (the path of a time-lapse too long to send)
MODES = {"frames": None, "kernel": 0}
CELL = (
    "import explain, widgets, widgets._plot\n"
    "{budget}"
    f"view = widgets.AttentionView(explain.load_trace('{TRACE}'), layer=1, head=2)\n"
    "view.step = 0\n"
    "view"
)
LAYER, HEAD = 1, 2
HEATMAP = ".explain-attention .explain-attention-heatmap"
GRID = ".explain-attention .explain-attention-grid"
TOLERANCE = 2  # colour channels: float32 values, rounding

# One instant of plots: the heatmap's title and the image in each plot's heatmap layer (read in
# the same task, so they belong together), those images' pixels, and the plots' draw marks.
SNAPSHOT = f"""async (selectors) => {{
  const hosts = selectors.map((selector) => document.querySelector(selector));
  const images = hosts.map((host) => host && host.querySelector("g.hm image"));
  if (!images.every(Boolean)) return null;
  const title = (hosts[0].querySelector(".gtitle") || {{}}).textContent || "";
  const hrefs = images.map((image) => image.getAttributeNS("http://www.w3.org/1999/xlink", "href")
    || image.getAttribute("href"));
  const marks = hosts.map((host) => ({{painted: host.dataset.painted || null,
    frame: host.dataset.frame || null, frames: host.dataset.frames || null}}));
  const pictures = await Promise.all(hrefs.map({READ_PIXELS}));
  return pictures.map((picture, i) => ({{...picture, ...marks[i], title}}));
}}"""
# plotly's own state of the plot's first trace: z, and the colour scale it maps z with
PLOTLY_STATE = """(selector) => {
  const gd = document.querySelector(selector + " .js-plotly-plot");
  const full = gd._fullData[0];
  return {z: Array.from(gd.data[0].z, (row) => Array.from(row, (v) => (v === null ? NaN : v))),
          colorscale: full.colorscale, reversescale: Boolean(full.reversescale),
          zmin: full.zmin, zmax: full.zmax};
}"""


def parse_colour(colour: str) -> np.ndarray:
    """'#rrggbb', 'rgb(r, g, b)' or 'rgba(r, g, b, a)' as [r, g, b, a] in 0..255."""
    colour = colour.strip()
    if colour.startswith("#") and len(colour) == 7:
        return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)] + [255], float)
    match = re.fullmatch(r"rgba?\(([^)]*)\)", colour)
    assert match, f"a colour scale entry this test cannot read: {colour!r}"
    parts = [float(p) for p in match.group(1).split(",")]
    alpha = parts[3] * 255 if len(parts) == 4 else 255.0
    return np.array([*parts[:3], alpha], float)


def expected_pixels(z: np.ndarray, state: dict) -> np.ndarray:
    """[rows, cols, 4] RGBA of z under plotly's colour scale (linear between stops, clamped),
    computed here from the scale's numbers; NaN cells transparent."""
    scale = state["colorscale"]
    if state["reversescale"]:
        scale = [[1 - at, colour] for at, colour in reversed(scale)]
    stops = np.array([at for at, _ in scale], float)
    colours = np.stack([parse_colour(colour) for _, colour in scale])  # (stops, 4)
    t = np.clip((z - state["zmin"]) / (state["zmax"] - state["zmin"]), 0, 1)
    out = np.stack([np.interp(np.nan_to_num(t), stops, colours[:, c]) for c in range(4)], -1)
    out[np.isnan(z)] = 0
    return np.round(out)


def random_trace(snapshots: int = 30, layers: int = 2, heads: int = 4, tokens: int = 8) -> Any:
    """Causal softmax attention with random scores at every snapshot: each step's picture is
    far from the one before, so a stale repaint cannot pass for the step shown."""
    from explain.trace import Trace

    rng = np.random.default_rng(11)
    mask = np.tril(np.ones((tokens, tokens), bool))
    tensors = {}
    for layer in range(layers):
        scores = np.where(mask, rng.normal(size=(snapshots, heads, tokens, tokens)) * 3, -np.inf)
        weights = np.exp(scores)  # (S, H, T, T)
        tensors[f"blocks.{layer}.attn.hook_pattern"] = (
            weights / weights.sum(-1, keepdims=True)
        ).astype(np.float32)
    letters = [chr(ord("a") + i) for i in range(tokens)]
    meta = {"model_config": {"n_layers": layers, "n_heads": heads, "d_model": 16},
            "probe": {"tokens": letters}, "vocab": letters}  # fmt: skip
    steps = np.arange(snapshots)
    return Trace.from_arrays(meta, steps, {"loss": np.ones(snapshots)}, steps, tensors)


def mosaic(trace: Any, step: int) -> np.ndarray:
    """The grid's picture: every layer x head pattern tiled, one NaN row/column between."""
    patterns = [
        trace.at(step).tensors[f"blocks.{i}.attn.hook_pattern"] for i in range(trace.n_layers)
    ]
    heads, rows, cols = patterns[0].shape
    out = np.full((len(patterns) * (rows + 1) - 1, heads * (cols + 1) - 1), np.nan)
    for layer, pattern in enumerate(patterns):
        for head in range(heads):
            top, left = layer * (rows + 1), head * (cols + 1)
            out[top : top + rows, left : left + cols] = pattern[head]
    return out


def shown_step(title: str) -> int:
    match = re.search(r"step (\d+)$", title)
    assert match, f"the heatmap's title names no step: {title!r}"
    return int(match.group(1))


def check_picture(snapshot: dict, z: np.ndarray, state: dict, what: str) -> None:
    """The snapshot's pixels are z under the colour scale (a cell per pixel, row 0 on top)."""
    assert (snapshot["height"], snapshot["width"]) == z.shape, (
        f"{what}: the image has {snapshot['height']} x {snapshot['width']} pixels; "
        f"expected one per cell, {z.shape}"
    )
    shown = np.asarray(snapshot["pixels"], float).reshape(*z.shape, 4)
    difference = np.abs(shown - expected_pixels(z, state)).max(axis=-1)
    wrong = np.argwhere(difference > TOLERANCE)
    assert not len(wrong), (
        f"{what}: {len(wrong)} of {z.size} cells drawn in another colour than the trace's value "
        f"(first at row, col {tuple(wrong[0])}: off by {difference[tuple(wrong[0])]:.0f})"
    )


def open_view(page: Any, url: str, mode: str) -> None:
    """Open the mode's notebook in a workspace of its own, run its cell, wait for step 0."""
    page.goto(f"{url}/lab/workspaces/{mode}/tree/{mode}.ipynb?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "(s) => / step 0$/.test((document.querySelector(s + ' .gtitle') || {}).textContent || '')",
        arg=HEATMAP,
        timeout=90_000,
    )


def wait_settled(page: Any) -> None:
    """Until no plot of the view is busy: plotly itself has drawn the latest state."""
    page.wait_for_function(
        "() => !document.querySelector('.explain-attention .explain-plot[data-busy]')",
        timeout=30_000,
    )


@pytest.fixture
def playback_trace(notebook_root: Any) -> Any:
    """The notebook and its trace in the Lab's root; the trace as read back from its file."""
    import explain

    random_trace().save(notebook_root / TRACE)
    for mode, budget in MODES.items():
        line = "" if budget is None else f"widgets._plot.FRAMES_MAX_BYTES = {budget}\n"
        notebook = {
            "cells": [{"cell_type": "code", "metadata": {}, "source": CELL.format(budget=line),
                       "outputs": [], "execution_count": None}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5,
        }  # fmt: skip
        (notebook_root / f"{mode}.ipynb").write_text(json.dumps(notebook))
    return explain.load_trace(notebook_root / TRACE)


def check_settled(page: Any, trace: Any, what: str) -> int:
    """After updates stopped: plotly's z, the title, the slider and both images agree with the
    trace at the step the slider shows; returns that step."""
    wait_settled(page)
    step = int(page.locator(".explain-step-slider .widget-readout").first.inner_text().strip())
    heatmap, grid = page.evaluate(SNAPSHOT, [HEATMAP, GRID])
    title = heatmap["title"]
    assert shown_step(title) == step, f"{what}: the title is {title!r}, the slider shows {step}"
    expected = trace.at(step).tensors[f"blocks.{LAYER}.attn.hook_pattern"][HEAD]
    state = page.evaluate(PLOTLY_STATE, HEATMAP)
    np.testing.assert_allclose(state["z"], expected, rtol=0, atol=1e-6, err_msg=what)
    check_picture(heatmap, expected, state, f"{what}, heatmap")
    grid_state = page.evaluate(PLOTLY_STATE, GRID)
    np.testing.assert_allclose(grid_state["z"], mosaic(trace, step), rtol=0, atol=1e-6)
    check_picture(grid, mosaic(trace, step), grid_state, f"{what}, grid")
    return step


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", list(MODES))
def test_playing_draws_the_step_shown(
    lab_server: Any, page: Any, playback_trace: Any, mode: str
) -> None:
    trace = playback_trace
    open_view(page, lab_server.url, mode)
    wait_settled(page)
    state = page.evaluate(PLOTLY_STATE, HEATMAP)  # the colour scale (fixed while playing)
    grid_state = page.evaluate(PLOTLY_STATE, GRID)
    last = int(trace.snapshot_steps[-1])

    # 1. playing: each instant's picture is the pattern at the step its title names
    play_pause = page.locator(".explain-play button").first  # one button: play, then pause
    play_pause.click()
    samples, steps, from_frames = 0, set(), set()  # until it showed four steps from frames
    while True:
        heatmap = page.evaluate(SNAPSHOT, [HEATMAP])[0]
        step = shown_step(heatmap["title"])
        if heatmap["frame"] is not None:
            from_frames.add(step)
        pattern = trace.at(step).tensors[f"blocks.{LAYER}.attn.hook_pattern"][HEAD]
        check_picture(heatmap, pattern, state, f"playing, heatmap titled step {step}")
        samples += 1
        steps.add(step)
        shown = from_frames if mode == "frames" else steps
        if len(shown) == 4 or step == last or samples == 400:
            play_pause.click()
            break
    assert len(shown) == 4, (
        f"the heatmap showed steps {sorted(steps)} in {samples} samples, of which "
        f"{sorted(from_frames)} from the frames the page holds"
    )
    held = page.evaluate(SNAPSHOT, [HEATMAP, GRID])
    expected_frames = str(len(trace.snapshot_steps)) if mode == "frames" else "0"
    assert [h["frames"] for h in held] == [expected_frames] * 2, (
        f"the page holds {[h['frames'] for h in held]} frames (heatmap, grid); expected "
        f"{expected_frames}"
    )
    if mode == "kernel":
        assert not from_frames, f"steps {sorted(from_frames)} drawn from frames never sent"
    painted = page.locator(HEATMAP).first.get_attribute("data-painted")
    assert painted is not None, "plot.js never repainted while playing: nothing fast was tested"

    # 2. paused: plotly's own draw of the step the slider shows
    paused = check_settled(page, trace, "paused")
    assert 0 < paused < last, f"paused at step {paused}; expected mid-way (0 < step < {last})"

    # 3. playing on to the end, the grid sampled too; then plotly's draw of the last step
    play_pause.click()
    while True:
        heatmap, grid = page.evaluate(SNAPSHOT, [HEATMAP, GRID])
        step = shown_step(heatmap["title"])
        pattern = trace.at(step).tensors[f"blocks.{LAYER}.attn.hook_pattern"][HEAD]
        check_picture(heatmap, pattern, state, f"playing on, heatmap titled step {step}")
        # the grid is drawn in its own frame: it shows this step, or the one before or after;
        # through the kernel (a step every 30 ms) it may fall a few steps behind the heatmap
        shown = np.asarray(grid["pixels"], float).reshape(*mosaic(trace, step).shape, 4)
        behind = 1 if mode == "frames" else 6
        near = [s for s in range(step - behind, step + 2) if paused <= s <= last]
        matches = [
            s for s in trace.snapshot_steps.tolist()
            if np.abs(shown - expected_pixels(mosaic(trace, s), grid_state)).max() <= TOLERANCE
        ]  # fmt: skip
        assert set(near) & set(matches), (
            f"playing on, heatmap at step {step}: the grid's picture is none of steps {near}; "
            f"it is that of steps {matches or 'none'}"
        )
        if step == last:
            break
    assert check_settled(page, trace, "played to the end") == last
