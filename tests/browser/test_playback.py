"""Playing the AttentionView in JupyterLab: what the page draws is the step the widget shows,
the slider and its readout show that step too, and the speed menu sets how fast it plays.

While playing, widgets/plot.js repaints the heatmaps' images itself (no plotly redraw) from the
frames the kernel sent once when play started (no round trip per step), and plotly draws the
whole figure once updates stop. These checks read the image drawn in the page
(its pixels) with the title drawn in the same instant, and after pausing plotly's own data, and
compare both with the trace file the kernel loaded: a stale or wrong repaint fails them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
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
# 1x of the paced notebook (ms a step): slower than a loaded 2-core machine draws a step (30 ms
# asked played at 10-20 steps a second), so the speeds' ratio is the waits', not the drawing's
PACED_MS = 120

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
        if mode == "frames":  # the same, 1x slower than the machine's drawing (test_..._speed)
            paced = CELL.format(budget="").removesuffix("view")
            notebook["cells"][0]["source"] = (
                f"{paced}view.step_control.interval_ms = {PACED_MS}\nview"
            )
            (notebook_root / "paced.ipynb").write_text(json.dumps(notebook))
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


# Every animation frame (what a screenshot would show): the time, the heatmap's title, the
# slider's readout and its handle's position (aria-valuenow: the snapshot index).
RECORD = """(selector) => {
  const rows = window.__explainRows = [];
  window.__explainRecording = true;
  const read = () => {
    const host = document.querySelector(selector);
    const title = ((host && host.querySelector(".gtitle")) || {}).textContent || "";
    const slider = document.querySelector(".explain-attention .explain-step-slider");
    const readout = slider.querySelector(".widget-readout").textContent.trim();
    const handle = slider.querySelector(".noUi-handle").getAttribute("aria-valuenow");
    rows.push({t: performance.now(), title, readout, handle, frame: host.dataset.frame,
      revision: host.dataset.revision, painted: host.dataset.painted});
    if (window.__explainRecording) requestAnimationFrame(read);
  };
  requestAnimationFrame(read);
}"""
STOP_RECORDING = "() => { window.__explainRecording = false; return window.__explainRows; }"
# One instant, read in one task: the title, the readout, the handle, and the heatmap's pixels.
SAMPLE = f"""async (selector) => {{
  const host = document.querySelector(selector);
  const image = host.querySelector("g.hm image");
  const slider = document.querySelector(".explain-attention .explain-step-slider");
  const seen = {{title: (host.querySelector(".gtitle") || {{}}).textContent || "",
    readout: slider.querySelector(".widget-readout").textContent.trim(),
    handle: slider.querySelector(".noUi-handle").getAttribute("aria-valuenow"),
    frame: host.dataset.frame || null}};
  const href = image.getAttributeNS("http://www.w3.org/1999/xlink", "href")
    || image.getAttribute("href");
  return {{...seen, ...(await ({READ_PIXELS})(href))}};
}}"""


def disagreements(rows: list[dict], steps: list[int]) -> list[str]:
    """Rows whose title, readout and slider handle name different steps."""
    wrong = []
    for row in rows:
        shown = (shown_step(row["title"]), int(row["readout"]), steps[round(float(row["handle"]))])
        if len(set(shown)) > 1:
            wrong.append(
                f"title {shown[0]}, readout {shown[1]}, handle {shown[2]} "
                f"(frame {row.get('frame')}, revision {row.get('revision')}, painted "
                f"{row.get('painted')})"
            )
    return wrong


def steps_per_second(rows: list[dict]) -> tuple[float, int]:
    """How many steps the title moved a second between its first and its last move, and how
    many moves that was."""
    moves = [b["t"] for a, b in zip(rows, rows[1:], strict=False) if a["title"] != b["title"]]
    if len(moves) < 2:
        return 0.0, len(moves)
    return (len(moves) - 1) / (moves[-1] - moves[0]) * 1000, len(moves)


def play_and_watch(
    page: Any, trace: Any, state: dict, until: int, samples: list | None
) -> list[dict]:
    """Play from the first step until the title reaches ``until`` (then pause): returns every
    animation frame's record. ``samples`` (unless None) gets instants read between them, each
    picture checked against the trace (a sampled play runs slower: the reads take the page's
    time)."""
    steps = trace.snapshot_steps.tolist()
    if page.locator(".explain-attention .explain-step-slider .widget-readout").inner_text() != "0":
        page.locator(".explain-attention .explain-step-slider .noUi-handle").first.focus()
        page.keyboard.press("Home")  # back to the first step
        page.wait_for_function(  # the kernel drew step 0 (the readout moved at the key press)
            "(s) => / step 0$/.test((document.querySelector(s + ' .gtitle') || {}).textContent)",
            arg=HEATMAP,
        )
        wait_settled(page)
    play_pause = page.locator(".explain-attention .explain-play button").first
    page.evaluate(RECORD, HEATMAP)
    play_pause.click()
    if samples is None:
        page.wait_for_function(
            "([s, until]) => { const m = / step (\\d+)$/"
            ".exec((document.querySelector(s + ' .gtitle') || {}).textContent || '');"
            " return m && Number(m[1]) >= until; }",
            arg=[HEATMAP, until],
            timeout=60_000,
            polling="raf",
        )
    while samples is not None:
        seen = page.evaluate(SAMPLE, HEATMAP)
        step = shown_step(seen["title"])
        samples.append(seen)
        pattern = trace.at(step).tensors[f"blocks.{LAYER}.attn.hook_pattern"][HEAD]
        check_picture(seen, pattern, state, f"playing, heatmap titled step {step}")
        if step >= until or len(samples) == 2000:
            break
    if until < steps[-1]:
        play_pause.click()
    return page.evaluate(STOP_RECORDING)


@pytest.mark.timeout(300)
def test_slider_readout_and_title_agree_while_playing_at_every_speed(
    lab_server: Any, page: Any, playback_trace: Any
) -> None:
    """While the page plays its frames, at every animation frame (what a screenshot shows) and
    at instants read between them, the title, the slider's readout and its handle name one step,
    and the picture is that step's. Played at 1x and at 0.25x (same page, same run), 0.25x moves
    fewer steps a second: about a quarter as many, loosely (the machine is noisy)."""
    trace = playback_trace
    steps = trace.snapshot_steps.tolist()
    open_view(page, lab_server.url, "paced")
    wait_settled(page)
    state = page.evaluate(PLOTLY_STATE, HEATMAP)
    speed = page.locator(".explain-attention .explain-speed select")
    assert speed.is_visible(), "no speed menu by the slider"
    rates, checked = {}, {}
    # unsampled plays at 1x and 0.25x (their rates), then one sampled at 1x
    for label, until, sampled in (("1×", steps[-1], False), ("0.25×", steps[8], False),
                                  ("1×", steps[-1], True)):  # fmt: skip
        speed.select_option(label=label)
        page.wait_for_timeout(500)  # the kernel sends the waits (a speed is picked before play)
        samples: list[dict] | None = [] if sampled else None
        rows = play_and_watch(page, trace, state, until, samples)
        playing = [r for r in rows if shown_step(r["title"]) > 0]
        wrong = disagreements(playing, steps) + disagreements(samples or [], steps)
        assert not wrong, f"{label}: {len(wrong)} instants disagree, e.g. {wrong[:5]}"
        rate, moves = steps_per_second(playing)
        if not sampled:  # reading the page between frames slows it
            rates[label] = rate
        checked[label + (" sampled" if sampled else "")] = (len(playing), len(samples or []), moves)
        if samples is not None:
            assert any(s["frame"] is not None for s in samples), "no step painted from frames"
            assert len(samples) >= 10, f"{len(samples)} instants read while playing"
        wait_settled(page)
    print(f"steps a second: {rates}; (frames, samples, moves) checked: {checked}")
    ratio = rates["1×"] / rates["0.25×"]  # 4 asked
    assert 2.5 < ratio < 6.0, (
        f"1x plays {ratio:.1f} times as many steps a second as 0.25x: {rates}; {checked}"
    )


# A lens (one step) and an attention view of an induction-like trace, in the presentation theme.
CONTROLS_CELL = """import explain, widgets
run = explain.train("reverse", explain.ModelConfig(vocab_size=11, d_model=16, n_layers=2,
    n_heads=4, d_mlp=32, context_length=12), explain.TrainConfig(steps=40))
display(widgets.LensView(run, theme="presentation"))
view = widgets.AttentionView(explain.load_trace('{trace}'), theme="presentation")
view.step_control.interval_ms = {paced}
view"""
# what a person sees of each part of the step controls: shown, its text and font size
CONTROLS = """(root) => Array.from(document.querySelectorAll(root + " .explain-step-control"),
  (control) => Object.fromEntries([["play", ".explain-play"], ["slider", ".explain-step-slider"],
    ["speed", ".explain-speed select"], ["slow", ".explain-slow"], ["only", ".explain-step-only"]]
    .map(([name, selector]) => {
      const el = control.querySelector(selector);
      const box = el && el.getBoundingClientRect();
      const shown = Boolean(box && box.width > 0 && box.height > 0);
      const text = el && el.tagName === "SELECT" ? el.selectedOptions[0].text
        : (el || {}).innerText;
      return [name, {shown, text: shown ? text.trim() : "",
        px: shown ? parseFloat(getComputedStyle(el).fontSize) : 0,
        right: shown ? box.right : 0, width: control.getBoundingClientRect().right}];
    })))"""


@pytest.mark.timeout(300)
def test_step_controls_in_the_presentation_theme(
    lab_server: Any, page: Any, notebook_root: Any
) -> None:
    """A LensView (one step, the end of training) says "step 40" and shows no slider, play
    button or speed (its slider sat at the left end while its readout said 500); an attention
    view of a trace where a head's pattern appears shows the speed menu and "slow around
    emergence" in 18 px text, inside the control's row. Ticked, the steps near the one where
    the pattern appears stay on screen about 4 times as long as the others."""
    from test_widgets_speed import APPEARS, appearing_trace

    from widgets._base import SLOW_AROUND

    trace = appearing_trace()
    trace.save(notebook_root / "appearing.npz")
    cell = CONTROLS_CELL.format(trace="appearing.npz", paced=PACED_MS // 2)
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "source": cell, "outputs": [],
                   "execution_count": None}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }  # fmt: skip
    (notebook_root / "controls.ipynb").write_text(json.dumps(notebook))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{lab_server.url}/lab/workspaces/controls/tree/controls.ipynb?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".explain-attention .explain-plot[data-revision]", timeout=120_000)
    page.wait_for_selector(".explain-lens .explain-plot[data-revision]", timeout=120_000)
    (lens,) = page.evaluate(CONTROLS, ".explain-lens")
    assert lens["only"] == {**lens["only"], "shown": True, "text": "step 40"}, lens["only"]
    hidden = [name for name in ("play", "slider", "speed", "slow") if lens[name]["shown"]]
    assert not hidden, f"the lens's one step shows {hidden}: {lens}"
    (attention,) = page.evaluate(CONTROLS, ".explain-attention")
    for name in ("play", "slider", "speed", "slow"):
        assert attention[name]["shown"], f"no {name} in the attention view's control"
    assert not attention["only"]["shown"]
    assert attention["speed"]["text"] == "1×", attention["speed"]
    assert attention["slow"]["text"] == "slow around emergence", attention["slow"]
    for name in ("speed", "slow"):
        part = attention[name]
        assert part["px"] >= 18, f"the {name} control's text is {part['px']} px; expected 18"
        assert part["right"] <= part["width"] + 1, f"the {name} control sticks out: {part}"
    artifacts = Path(__file__).resolve().parents[2] / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    page.locator(".explain-attention .explain-step-control").first.screenshot(
        path=str(artifacts / "step-control-presentation.png")
    )

    # slow around emergence: how long each step stays on screen, near the step and elsewhere
    page.locator(".explain-attention .explain-slow input").check()
    page.wait_for_timeout(500)  # the kernel sends the waits
    steps = trace.snapshot_steps.tolist()
    rows = play_and_watch(page, trace, {}, steps[-1], None)
    wrong = disagreements(rows, steps)
    assert not wrong, f"{len(wrong)} instants disagree, e.g. {wrong[:5]}"
    first: dict[int, float] = {}
    for row in rows:
        first.setdefault(shown_step(row["title"]), row["t"])
    shown = sorted(first)
    held = {a: first[b] - first[a] for a, b in zip(shown, shown[1:], strict=False) if b == a + 1}
    near = range(APPEARS - SLOW_AROUND, APPEARS + SLOW_AROUND + 1)  # the waits after these
    slow = [ms for step, ms in held.items() if step in near]
    fast = [ms for step, ms in held.items() if step > 0 and step not in near]
    assert len(slow) >= 5 and len(fast) >= 10, f"steps timed: {held}"
    ratio = float(np.median(slow) / np.median(fast))
    print(f"ms a step near emergence {np.median(slow):.0f}, elsewhere {np.median(fast):.0f}")
    assert 2.5 < ratio < 6.0, f"steps near emergence stay {ratio:.1f} times as long: {held}"
