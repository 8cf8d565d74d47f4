"""The dashboard under Voila, in headless chromium: state set from code, then real UI input.

Voila runs the whole notebook before the page's widget manager connects, so the page draws every
figure from its synced widget state, not from the update messages sent while the cells ran. The
notebook's second cell moves the dashboard to step 20 after it was displayed; a figure whose
synced state stayed at its first frame (plotly's FigureWidget nested in a box) shows the last
step here and fails the first assertion.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELL_STEP = 20  # what the notebook's second cell sets


@pytest.mark.timeout(180)
def test_voila_dashboard_shows_code_changes_and_follows_the_ui(
    voila_server: Any, page: Any, dom: Any, expected_attention: Any
) -> None:
    page.goto(voila_server.url + "/", timeout=120_000)
    dom.wait_rendered()
    layer, head = dom.selected("layer"), dom.selected("head")

    # 1. the step the second cell set, drawn from the widget state the page fetched
    expect(dom.find(".explain-step-slider .widget-readout").first).to_have_text(str(CELL_STEP))
    dom.wait_for_z(
        expected_attention(CELL_STEP, layer, head),
        f"step {CELL_STEP} (set by the notebook after display), layer {layer} head {head}",
    )
    expect(dom.title()).to_contain_text(f"layer {layer} head {head} · step {CELL_STEP}")
    dom.screenshot("voila-1-step20")

    # 2. two presses of the right arrow on the slider's handle: the step moves on by two
    step = CELL_STEP + 2
    dom.arrow_to_step("ArrowRight", 2, step, CELL_STEP, layer, head)

    # 3. another head from the dropdown
    new_head = (head + 2) % dom.trace.n_heads
    dom.pick_head(step, layer, head, new_head)
    assert dom.selected("head") == new_head
    expect(dom.title()).to_contain_text(f"layer {layer} head {new_head} · step {step}")
    dom.screenshot("voila-2-step22-head")

    # 4. the play button: the page asks for every frame once and plays them (Voila passes the
    # kernel's custom messages as JupyterLab does), then plotly draws the last step
    dom.play_to_the_end(layer, new_head)
    dom.screenshot("voila-3-played")
