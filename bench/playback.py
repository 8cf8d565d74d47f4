"""Benchmark: how smoothly the attention time-lapse plays in a real browser (headless chromium).

    python bench/playback.py                 # report.html and JupyterLab, both sizes
    python bench/playback.py --skip-lab      # report.html only
    python bench/playback.py --repeats 5
    python bench/playback.py --demo-trace explain-demo/trace.npz   # + that report's size

Target (issue 11): >= 20 frames a second for 2 layers x 4 heads x 12 tokens and for 4 x 4 x 32
(128 snapshots, like the demo run), in ``report.html`` (the page's timeline) and in JupyterLab's
``AttentionView`` (its play button); the demo run's ``report.html`` <= 3 MB (``--demo-trace``).

How frames are counted: a MutationObserver on the attention figure marks it changed, and a
requestAnimationFrame loop counts the animation frames in which it changed (frames painted with
something new); the steps shown are counted too (the report's ``#timeline[data-step]``, the
widget's heatmap title). fps = min(frames, steps) / seconds from pressing play until the last
step is drawn; the median of ``--repeats`` plays is printed with its ratio to the target. The
report is also played unpaced (no wait between steps), which shows the headroom. In JupyterLab
each play is measured twice, side by side (two notebooks open at once, plays alternating): as
shipped (the page paints the frames the kernel sent once when play started, widgets/plot.js)
and through the kernel (``widgets._plot.FRAMES_MAX_BYTES = 0``: a round trip per step, the page
repainting the heatmap images the kernel sends); the ratio of the two is printed. The play
button waits ``interval`` ms (StepControl) after the page handled a step before the next, so
1000 / interval fps is the ceiling. A Dashboard of the small trace is played too (its attention's
fps; no target: its other views follow a play once a second through the kernel). The
kernel's messages per step are sized too (Python side).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from _chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from _common import training_scalars  # noqa: E402

from explain import report  # noqa: E402
from explain.trace import Trace  # noqa: E402

TARGET_FPS = 20.0
TARGET_MB = 3.0
SIZES = ((2, 4, 12), (4, 4, 32))  # layers, heads, tokens
SNAPSHOTS = 128  # the demo run: 250 steps, a snapshot about every other step
TRACKED = "embed.W_E.weight"

# Counts, from now on, animation frames in which the element at `selector` changed, and the
# changes of `step` (a JS expression, read whenever `selector` or `stepRoot` changes);
# window.__playback holds the counts.
COUNTER = """([selector, step, stepRoot]) => {
  const root = document.querySelector(selector);
  const readStep = new Function("return " + step);
  const state = {frames: 0, steps: 0, changed: false, last: readStep(), running: true};
  const seen = () => {
    const now = readStep();
    if (now !== state.last) { state.steps += 1; state.last = now; }
  };
  const options = {subtree: true, childList: true, attributes: true, characterData: true};
  new MutationObserver(() => { state.changed = true; seen(); }).observe(root, options);
  new MutationObserver(seen).observe(document.querySelector(stepRoot), options);
  const loop = () => {
    if (state.changed) { state.frames += 1; state.changed = false; }
    if (state.running) requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  window.__playback = state;
}"""
STOP_COUNTER = "() => { window.__playback.running = false; return window.__playback; }"


def demo_like_trace(layers: int, heads: int, tokens: int) -> Trace:
    """Softmax attention, embeddings, positions and optimizer state shaped like the demo run's
    (vocab 11, d_model 64, sinusoidal positions, the optimizer tracking the embedding), at
    SNAPSHOTS snapshots."""
    rng = np.random.default_rng(0)
    snapshot_steps = np.arange(SNAPSHOTS) * 2
    steps = np.arange(snapshot_steps[-1] + 1)
    vocab, d_model = [str(i) for i in range(10)] + [">"], 64
    mask = np.tril(np.ones((tokens, tokens), bool))
    tensors: dict[str, np.ndarray] = {}
    for layer in range(layers):
        scores = rng.normal(size=(SNAPSHOTS, heads, tokens, tokens)) * 3
        pattern = np.exp(np.where(mask, scores, -np.inf))
        tensors[f"blocks.{layer}.attn.hook_pattern"] = (
            pattern / pattern.sum(-1, keepdims=True)
        ).astype(np.float32)  # (S, H, T, T)
    tensors["embed.W_E"] = rng.normal(size=(SNAPSHOTS, len(vocab), d_model)).astype(np.float32)
    table = rng.normal(size=(tokens, d_model)).astype(np.float32)  # fixed, like sinusoidal
    tensors["positional"] = np.repeat(table[None], SNAPSHOTS, axis=0)  # (S, T, d)
    for kind in ("grad", "update", "exp_avg", "exp_avg_sq"):
        values = rng.normal(size=(SNAPSHOTS, len(vocab), d_model)).astype(np.float32)
        tensors[f"{kind}/{TRACKED}"] = np.abs(values) if kind == "exp_avg_sq" else values
    scalars = training_scalars(steps, loss=2.4, floor=0.01, decay_steps=60, eval_every=25)
    scalars[f"update_ratio/{TRACKED}"] = 1e-3 * scalars["grad_norm"] + 1e-5
    meta = {
        "model_config": {"n_layers": layers, "n_heads": heads, "d_model": d_model,
                         "positional": "sinusoidal"},
        "probe": {"tokens": [vocab[i % len(vocab)] for i in range(tokens)]},
        "vocab": vocab,
        "task": {"name": "synthetic"},
    }  # fmt: skip
    return Trace.from_arrays(meta, steps, scalars, snapshot_steps, tensors)


def fps_of(counts: dict, seconds: float) -> float:
    return min(counts["frames"], counts["steps"]) / seconds


def line(name: str, values: list[float]) -> float:
    """Print the median fps of ``values`` with its ratio to the target; returns the median."""
    median = statistics.median(values)
    ok = "ok" if median >= TARGET_FPS else "UNDER"
    runs = ", ".join(f"{v:.1f}" for v in values)
    print(
        f"  {name:<46} {median:6.1f} fps  target {TARGET_FPS:.0f}  "
        f"ratio {median / TARGET_FPS:5.2f}  {ok}   (runs: {runs})"
    )
    return median


# -- report.html -----------------------------------------------------------------------------
def play_report(page: Any, steps: int) -> float:
    """Press the timeline's play from the first step; fps until the last step is drawn."""
    page.evaluate(
        "() => { const s = document.getElementById('timeline-step');"
        " s.value = 0; s.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_function(
        "() => { const b = document.getElementById('timeline');"
        " return b.dataset.step === '0' && b.dataset.idle === 'true'; }"
    )
    step = "document.getElementById('timeline').dataset.step"
    page.evaluate(COUNTER, ["#figure-attention-self", step, "#timeline"])
    start = time.perf_counter()
    page.click("#timeline-play")
    page.wait_for_function(
        "() => document.getElementById('timeline').dataset.playing === 'false'",
        timeout=300_000,
        polling=5,
    )
    seconds = time.perf_counter() - start
    counts = page.evaluate(STOP_COUNTER)
    if counts["steps"] != steps - 1:
        raise RuntimeError(f"the timeline showed {counts['steps']} steps, expected {steps - 1}")
    return fps_of(counts, seconds)


def demo_size(path: Path) -> None:
    """The size of the report of a recorded run (``explain demo``'s trace.npz), vs the target."""
    import explain

    size = report.save_report(explain.load_trace(path), path.with_suffix(".bench.html"))
    megabytes = size.stat().st_size / 1e6
    size.unlink()
    mark = "ok" if megabytes <= TARGET_MB else "OVER"
    print(f"  report.html of {path}: {megabytes:.2f} MB  target {TARGET_MB:.0f} MB  {mark}")


def bench_report(browser: Any, repeats: int, out: Path) -> None:
    print("report.html (the page's timeline; chromium, offline)")
    for layers, heads, tokens in SIZES:
        trace = demo_like_trace(layers, heads, tokens)
        path = report.save_report(trace, out / f"report-{layers}x{heads}x{tokens}.html")
        text = path.read_text(encoding="utf-8")
        size = path.stat().st_size / 1e6
        print(f"  {layers}x{heads}x{tokens}: report.html {size:.2f} MB (synthetic arrays)")
        timeline = text.split('id="timeline-data">')[1].split("</script>")[0]
        frames = len(json.loads(timeline)["steps"])
        unpaced = out / f"unpaced-{layers}x{heads}x{tokens}.html"
        unpaced.write_text(text.replace("var FRAME_MS = 35;", "var FRAME_MS = 0;"), "utf-8")
        for name, file in (("paced (as shipped)", path), ("unpaced (headroom)", unpaced)):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(
                ("file:", "data:", "blob:", "about:")) else r.abort())  # fmt: skip
            try:
                page.goto(file.as_uri())
                page.wait_for_selector("#figure-attention-self .main-svg", timeout=60_000)
                page.locator("#figure-attention-self").scroll_into_view_if_needed()
                runs = [play_report(page, frames) for _ in range(repeats)]
            finally:
                page.close()
            line(f"{layers}x{heads}x{tokens} {frames} steps, {name}", runs)


# -- JupyterLab ------------------------------------------------------------------------------
NOTEBOOK_CELL = (
    "import explain, widgets, widgets._plot\n"
    "widgets._plot.FRAMES_MAX_BYTES = {budget}\n"
    "view = widgets.AttentionView(explain.load_trace('{name}'))\n"
    "view.step = int(view.trace.snapshot_steps[0])\n"
    "view"
)
DASHBOARD_CELL = (
    "import explain, widgets\n"
    "view = widgets.Dashboard(explain.load_trace('{name}'))\n"
    "view.step = int(view.trace.snapshot_steps[0])\n"
    "view"
)
HEATMAP = ".explain-attention .explain-attention-heatmap"
TITLE = f"(document.querySelector('{HEATMAP} .gtitle') || {{}}).textContent"


class _Factory:
    """The bit of pytest's tmp_path_factory that the browser tests' jupyter_env uses."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


def bench_lab(browser: Any, repeats: int, out: Path) -> None:
    import inspect

    from browser.conftest import LAB_FLAGS, _tool, free_port, jupyter_env, serve

    from widgets._base import StepControl
    from widgets._plot import FRAMES_MAX_BYTES

    interval = inspect.signature(StepControl).parameters["interval_ms"].default
    print("JupyterLab AttentionView (its play button; kernel and browser on this machine)")
    print(f"  the play button waits {interval} ms between steps: at most {1000 / interval:.0f} fps")
    root = out / "lab"
    root.mkdir()
    for layers, heads, tokens in SIZES:
        name = f"trace-{layers}x{heads}x{tokens}.npz"
        demo_like_trace(layers, heads, tokens).save(root / name)
        for mode, budget in (("play", FRAMES_MAX_BYTES), ("kernel", 0)):
            cell = NOTEBOOK_CELL.format(name=name, budget=budget)
            notebook = {
                "cells": [{"cell_type": "code", "metadata": {}, "source": cell, "outputs": [],
                           "execution_count": None}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5,
            }  # fmt: skip
            notebook_path = root / f"{mode}-{layers}x{heads}x{tokens}.ipynb"
            notebook_path.write_text(json.dumps(notebook))
    dashboard = json.loads((root / "play-2x4x12.ipynb").read_text())  # every view, one button
    dashboard["cells"][0]["source"] = DASHBOARD_CELL.format(name="trace-2x4x12.npz")
    (root / "dashboard-2x4x12.ipynb").write_text(json.dumps(dashboard))
    env = jupyter_env.__wrapped__(_Factory(out))  # the browser tests' isolated Jupyter setup
    port = free_port()
    argv = [_tool("jupyter-lab"), *LAB_FLAGS, f"--port={port}", f"--ServerApp.root_dir={root}"]
    with serve("jupyterlab", argv, root, env, port) as server:
        for layers, heads, tokens in SIZES:
            size = f"{layers}x{heads}x{tokens}"
            fast, slow = play_lab(browser, server.url, size, repeats)
            name = f"{size} {SNAPSHOTS} steps, AttentionView play"
            shipped = line(f"{name} (frames)", fast)
            kernel = line(f"{name} (kernel)", slow)
            print(f"  {'':<46} frames in the page / through the kernel: {shipped / kernel:5.2f}x")
        page = open_lab(browser, server.url, "dashboard-2x4x12.ipynb")
        try:
            runs = [play_once(page) for _ in range(repeats)]
        finally:
            page.close()
        print(
            f"  {f'2x4x12 {SNAPSHOTS} steps, Dashboard attention':<46} "
            f"{statistics.median(runs):6.1f} fps  (no target: the other views follow once a "
            f"second; runs: {', '.join(f'{v:.1f}' for v in runs)})"
        )
    message_sizes()


def message_sizes() -> None:
    """What the kernel sends per step (the traits that change), split into z and the rest."""
    import widgets

    print("kernel -> page per step (AttentionView; traits that change, binary z buffers)")
    for layers, heads, tokens in SIZES:
        view = widgets.AttentionView(demo_like_trace(layers, heads, tokens))
        view.step = int(view.trace.snapshot_steps[1])
        parts = []
        for plot in (view.heatmap, view.grid):
            z = sum(memoryview(t["z"]["buffer"]).nbytes for t in plot.widget.fig_data)
            rest = len(json.dumps(plot.widget.fig_data, default=lambda _: None))
            rest += len(json.dumps(plot.widget.fig_layout))
            parts.append(f"z {z / 1e3:.1f} kB + JSON {rest / 1e3:.1f} kB")
        print(f"  {layers}x{heads}x{tokens}: heatmap {parts[0]}; grid {parts[1]}")


def open_lab(browser: Any, url: str, notebook: str) -> Any:
    """A page with ``notebook`` open in a workspace of its own, its cell run, at step 0."""
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    # a workspace of its own: no other notebook restored in a hidden tab
    workspace = f"{url}/lab/workspaces/{Path(notebook).stem}"
    page.goto(f"{workspace}/tree/{notebook}?reset", timeout=60_000)
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => (document.querySelector('#jp-main-statusbar') || {}).textContent"
        "?.includes('Idle')",
        timeout=60_000,
    )
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(f"() => /step 0$/.test({TITLE} || '')", timeout=90_000)
    return page


def play_once(page: Any) -> float:
    """Press play at step 0; fps until the last step is drawn; then back to step 0."""
    last = f"step {2 * (SNAPSHOTS - 1)}"
    page.bring_to_front()
    page.evaluate(COUNTER, [HEATMAP, TITLE, HEATMAP])
    start = time.perf_counter()
    page.locator(".explain-play button").first.click()  # the play button
    page.wait_for_function(
        f"(last) => ({TITLE} || '').endsWith(last)", arg=last, timeout=300_000, polling=5
    )
    seconds = time.perf_counter() - start
    counts = page.evaluate(STOP_COUNTER)
    reset_to_first(page)
    return fps_of(counts, seconds)


def play_lab(browser: Any, url: str, size: str, repeats: int) -> tuple[list, list]:
    """fps of ``repeats`` plays as shipped and as many through the kernel, alternating."""
    pages = [open_lab(browser, url, f"{mode}-{size}.ipynb") for mode in ("play", "kernel")]
    try:
        runs: list[list[float]] = [[], []]
        for run in range(2 * repeats):  # alternating, so both see the same machine load
            runs[run % 2].append(play_once(pages[run % 2]))
        return runs[0], runs[1]
    finally:
        for page in pages:
            page.close()


def reset_to_first(page: Any) -> None:
    """Back to step 0 with the slider's Home key, and wait for the heatmap to show it."""
    handle = page.locator(".explain-step-slider .noUi-handle").first
    handle.focus()
    handle.press("Home")
    page.wait_for_function(f"() => /step 0$/.test({TITLE} || '')", timeout=60_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="plays per measurement (3)")
    parser.add_argument("--skip-lab", action="store_true", help="report.html only")
    parser.add_argument("--skip-report", action="store_true", help="JupyterLab only")
    parser.add_argument(
        "--demo-trace", type=Path, help="a recorded run's trace.npz: check its report's size"
    )
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as temp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            if args.demo_trace:
                demo_size(args.demo_trace)
            if not args.skip_report:
                bench_report(browser, args.repeats, Path(temp))
            if not args.skip_lab:
                bench_lab(browser, args.repeats, Path(temp))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
