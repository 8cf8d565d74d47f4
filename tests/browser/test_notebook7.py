"""The dashboard in Jupyter Notebook 7, in headless chromium: run the cell, the slider, play.

Notebook 7 is JupyterLab's notebook in its own single-document page, so the same widgets render
through the same widget manager; this checks that they do: the heatmap the page draws is the
trace's attention at the step the slider shows, an arrow key on the slider moves it, and the
play button plays every frame in the page to the last step.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "dashboard.ipynb"


@pytest.mark.timeout(240)
def test_notebook7_dashboard_renders_follows_the_slider_and_plays(
    notebook7_server: Any, page: Any, dom: Any, expected_attention: Any
) -> None:
    page.goto(f"{notebook7_server.url}/notebooks/{NOTEBOOK}", timeout=90_000)
    expect(page.locator(".jp-Notebook .jp-CodeCell").first).to_be_visible(timeout=90_000)
    # Shift+Enter before the kernel is connected runs nothing: press it until the cell runs
    cell = page.locator(".jp-Notebook .jp-CodeCell").first
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(30):
        cell.locator(".jp-InputArea-editor").click(timeout=90_000)  # a busy machine: slow to settle
        page.keyboard.press("Shift+Enter")
        page.wait_for_timeout(2000)
        if re.search(r"[*\d]", prompt.inner_text()):
            break
    dom.wait_rendered()

    # 1. as first shown: the pattern at the step, layer and head the controls say
    step, layer, head = dom.step(), dom.selected("layer"), dom.selected("head")
    dom.wait_for_z(expected_attention(step, layer, head), f"step {step} layer {layer} head {head}")
    expect(dom.title()).to_contain_text(f"layer {layer} head {head} · step {step}")
    dom.screenshot("notebook7-1-first")

    # 2. the slider's handle dragged with the mouse to the track's left end: step 0
    handle = dom.find(".explain-step-slider .noUi-handle").first
    track = dom.find(".explain-step-slider .noUi-target").first.bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] - 20, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    first = int(dom.trace.snapshot_steps[0])
    expect(dom.find(".explain-step-slider .widget-readout").first).to_have_text(str(first))
    dom.wait_for_z(expected_attention(first, layer, head), f"step {first} after the drag")
    dom.screenshot("notebook7-2-slider")

    # 3. the play button plays every frame in the page, to the last step
    dom.play_to_the_end(layer, head)
    dom.screenshot("notebook7-3-played")
