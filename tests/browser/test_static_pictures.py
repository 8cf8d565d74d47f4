"""A view's static pictures (widgets/_static.py) in JupyterLab and after it.

Displaying a view makes two outputs, the live widget and its pictures; a ``<style>`` hides the
pictures while the live widget is on the page. In JupyterLab a Dashboard and an AttentionView
must show no picture beside them. Saved by JupyterLab with its widget state (its setting
``saveState``), the notebook converted by ``jupyter nbconvert --to html`` must show each view's
pictures once, in a chromium that may fetch nothing (nbconvert's widget manager comes from a CDN).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NOTEBOOK = "static_pictures.ipynb"
TRACE_FILE = "trace.npz"  # the trace the harness trains into the notebooks' folder
SOURCES = [
    f"import explain\nimport widgets\n\ntrace = explain.load_trace({TRACE_FILE!r})\n"
    "widgets.Dashboard(trace)",
    "widgets.AttentionView(trace, layer=1, head=2)",
]
VIEWS = ["Dashboard", "AttentionView"]
STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_SETTINGS = "@jupyter-widgets/jupyterlab-manager:plugin"

# Page function: each static block: whether it is drawn, and its pictures' sizes.
READ_STATIC = """() => Array.from(document.querySelectorAll('[class^="explain-static-for-"]'),
  (block) => ({
    shown: block.getBoundingClientRect().height > 0 && getComputedStyle(block).display !== "none",
    images: Array.from(block.querySelectorAll("img"), (img) => [img.complete, img.naturalWidth]),
  }))"""
# Page function: how many live views are drawn: a root naming its pictures, a plot drawn in it.
LIVE_DRAWN = """() => Array.from(document.querySelectorAll('[class*="explain-live-"]'))
  .filter((root) => root.getBoundingClientRect().height > 0 &&
    Array.from(root.querySelectorAll(".js-plotly-plot")).some((gd) => gd.data && gd.data.length))
  .length"""


def save_widget_state(lab_url: str) -> None:
    """Turn on JupyterLab's "Save Jupyter widget state in notebooks" (off by default)."""
    request = urllib.request.Request(
        f"{lab_url}/lab/api/settings/{WIDGET_SETTINGS}",
        data=json.dumps({"raw": json.dumps({"saveState": True})}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        assert response.status in (200, 204)


def run_cell(page: Any, index: int) -> None:
    """Put the cursor in code cell ``index`` and press Shift+Enter, as a user runs it."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


@pytest.mark.timeout(600)
def test_lab_shows_live_views_without_pictures_and_saves_them_for_nbconvert(
    lab_server: Any, notebook_root: Path, jupyter_env: dict, page: Any, chromium: Any
) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = nbformat.read(notebook_root / "dashboard.ipynb", as_version=4).metadata
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in SOURCES]
    path = notebook_root / NOTEBOOK
    nbformat.write(notebook, path)
    save_widget_state(lab_server.url)

    # 1. live: both views drawn, both picture outputs in the page but not shown
    page.goto(f"{lab_server.url}/lab/tree/{NOTEBOOK}?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    for index in range(len(SOURCES)):
        run_cell(page, index)
    page.wait_for_function(f"() => ({LIVE_DRAWN})() === {len(VIEWS)}", timeout=120_000)
    page.wait_for_function(
        f"() => ({READ_STATIC})().filter((block) => block.images.length).length === {len(VIEWS)}",
        timeout=30_000,
    )
    blocks = page.evaluate(READ_STATIC)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "static-pictures-lab.png"), full_page=True)
    assert len(blocks) == len(VIEWS), blocks  # published, as a notebook saves them
    assert not any(block["shown"] for block in blocks), "a picture beside a live view"

    # 2. saved by JupyterLab with the widget state
    page.keyboard.press("Escape")  # command mode: the shortcut goes to the notebook
    page.keyboard.press("Control+s")
    # the widget state of every plot is collected in the page first: slow on a busy machine
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Saving completed", timeout=180_000)
    saved = nbformat.read(path, as_version=4)
    assert STATE in saved.metadata.get("widgets", {}), "JupyterLab saved no widget state"

    # 3. nbconvert's page of it, offline: each view's pictures, once
    work = path.parent
    path_list = [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    env = {**jupyter_env, "PATH": os.pathsep.join(path_list)}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html_page = path.with_suffix(".html")
    assert 'type="application/vnd.jupyter.widget-view+json"' in html_page.read_text("utf-8")
    context = chromium.new_context(viewport={"width": 1300, "height": 1000})
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:", "about:"))
            else route.abort("blockedbyclient")
        ),
    )
    try:
        offline = context.new_page()
        offline.goto(html_page.as_uri(), wait_until="load", timeout=60_000)
        offline.wait_for_timeout(500)
        blocks = offline.evaluate(READ_STATIC)
        offline.screenshot(
            path=str(ARTIFACTS / "static-pictures-saved-from-lab.png"), full_page=True
        )
    finally:
        context.close()
    assert len(blocks) == len(VIEWS), blocks
    for block, view in zip(blocks, VIEWS, strict=True):
        assert block["shown"] and block["images"], view
        assert all(complete and width > 100 for complete, width in block["images"]), view


@pytest.mark.timeout(300)
def test_voila_shows_the_live_dashboard_without_its_pictures(voila_server: Any, page: Any) -> None:
    """Voila renders the picture output as HTML beside the live widget: it must stay hidden."""
    page.goto(voila_server.url + "/", timeout=120_000)
    page.wait_for_function(f"() => ({LIVE_DRAWN})() === 1", timeout=120_000)
    page.wait_for_function(
        f"() => ({READ_STATIC})().filter((block) => block.images.length).length === 1",
        timeout=30_000,
    )
    page.screenshot(path=str(ARTIFACTS / "static-pictures-voila.png"), full_page=True)
    (block,) = page.evaluate(READ_STATIC)
    assert not block["shown"], "a picture beside the live dashboard"
