"""The dashboard in JupyterLab, in headless chromium: run the cell, then drive it by UI and code.

Every check reads the heatmap's numbers from plotly's graph div in the page and compares them
with the trace file the kernel loaded, at the step and head the controls show.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "dashboard.ipynb"
CELL_STEP = 20  # what the notebook's second cell sets


def run_cell(page: Any, index: int) -> None:
    """Put the cursor in code cell ``index`` and press Shift+Enter, as a user runs it."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


@pytest.mark.timeout(120)
def test_lab_kernel_is_this_interpreter(lab_server: Any) -> None:
    """The isolated kernelspec wins over the environment's: the kernel runs sys.executable."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(lab_server.url + "/api/kernelspecs", timeout=10) as response:
        specs = json.load(response)
    assert specs["kernelspecs"]["python3"]["spec"]["argv"][0] == sys.executable


@pytest.mark.timeout(180)
def test_lab_dashboard_follows_slider_head_and_code(
    lab_server: Any, page: Any, dom: Any, expected_attention: Any
) -> None:
    # ?reset: a workspace of only this notebook (a restored one made another tab current)
    page.goto(f"{lab_server.url}/lab/tree/{NOTEBOOK}?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    run_cell(page, 0)
    dom.wait_rendered()
    readout = dom.find(".explain-step-slider .widget-readout").first

    # 1. as first shown: the heatmap is the pattern at the step, layer and head the controls say
    step, layer, head = dom.step(), dom.selected("layer"), dom.selected("head")
    dom.wait_for_z(expected_attention(step, layer, head), f"step {step} layer {layer} head {head}")
    expect(dom.title()).to_contain_text(f"layer {layer} head {head} · step {step}")
    dom.screenshot("lab-1-first")

    # 2. real keyboard input on the slider's handle: three snapshots back
    back = step - 3
    dom.arrow_to_step("ArrowLeft", 3, back, step, layer, head)

    # 3. another head from the dropdown
    new_head = (head + 1) % dom.trace.n_heads
    dom.pick_head(back, layer, head, new_head)
    expect(dom.title()).to_contain_text(f"layer {layer} head {new_head} · step {back}")
    dom.screenshot("lab-2-slider-head")

    # 4. code: the notebook's second cell sets dash.step = 20; the page follows
    run_cell(page, 1)
    expect(readout).to_have_text(str(CELL_STEP), timeout=30_000)
    dom.wait_for_z(
        expected_attention(CELL_STEP, layer, new_head), f"step {CELL_STEP} set from a cell"
    )
    assert dom.selected("head") == new_head
    expect(dom.title()).to_contain_text(f"layer {layer} head {new_head} · step {CELL_STEP}")
    dom.screenshot("lab-3-cell-step20")

    # 5. the presentation theme from the dashboard's dropdown: the browser's figures get 20 px
    #    text and the heatmap keeps the one colour scale of attention weights
    page.locator(".explain-theme-select select").first.select_option(label="presentation")
    page.wait_for_function(
        "(s) => { const el = document.querySelector(s);"
        " return el && el.layout && el.layout.font && el.layout.font.size === 20; }",
        arg=".explain-attention-heatmap .js-plotly-plot",
        timeout=20_000,
    )
    scale = page.evaluate(
        "(s) => document.querySelector(s).data[0].colorscale.map((stop) => stop[1])",
        ".explain-attention-heatmap .js-plotly-plot",
    )
    assert scale[0] == "#440154" and scale[-1] == "#fde725"  # viridis, as in the exports
    dom.wait_for_z(expected_attention(CELL_STEP, layer, new_head), "the same head after a theme")
    dom.screenshot("lab-4-presentation")


# anywidget drops, for good, every kernel message of a model whose module took over 2 s to
# load (a page busy drawing, as in Run All of a notebook with a dashboard). This makes each
# PlotWidget module take 2.5 s, with the real anywidget and ipywidgets code around it: the
# module awaits a timer before it runs (widgets/plot.js defines explainHeatmap).
SLOW_PLOT_MODULES = """(() => {
  const NativeBlob = globalThis.Blob;
  globalThis.Blob = class extends NativeBlob {
    constructor(parts, options) {
      if (options && options.type === "text/javascript" && parts && parts.length === 1
          && typeof parts[0] === "string" && parts[0].includes("explainHeatmap")) {
        parts = ["await new Promise((done) => setTimeout(done, 2500));\\n" + parts[0]];
        globalThis.__explainSlowModules = (globalThis.__explainSlowModules || 0) + 1;
      }
      super(parts, options);
    }
  };
})();"""


@pytest.mark.timeout(240)
def test_lab_plots_follow_their_view_when_their_module_loads_late(
    lab_server: Any,
    notebook_root: Path,
    page: Any,
    page_log: Any,
    dom: Any,
    expected_attention: Any,
) -> None:
    """A plot whose module loaded after anywidget gave up on it (2 s) still shows its figure,
    follows the slider and raises no error in the page."""
    # a notebook of its own, so a kernel of its own, and a fresh workspace (?reset): a page
    # restores every widget its kernels hold, and the other test's would load late here too
    shutil.copy2(notebook_root / NOTEBOOK, notebook_root / "late_modules.ipynb")
    page.add_init_script(SLOW_PLOT_MODULES)
    page.goto(f"{lab_server.url}/lab/tree/late_modules.ipynb?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    run_cell(page, 0)
    dom.wait_rendered()
    assert page.evaluate("() => globalThis.__explainSlowModules || 0") >= 10  # every plot's
    step, layer, head = dom.step(), dom.selected("layer"), dom.selected("head")
    dom.wait_for_z(expected_attention(step, layer, head), f"step {step} as first shown")
    dom.arrow_to_step("ArrowLeft", 2, step - 2, step, layer, head)
    expect(dom.title()).to_contain_text(f"layer {layer} head {head} · step {step - 2}")
    page.wait_for_function(  # every plot drew the revision its kernel side holds
        "() => [...document.querySelectorAll('.explain-dashboard .explain-plot')].every("
        "(el) => el.dataset.revision !== undefined && !el.dataset.busy)",
        timeout=30_000,
    )
    assert page_log.uncaught == [], page_log.report()


@pytest.mark.timeout(240)
def test_lab_by_hand_applies_what_is_typed_and_enter(
    lab_server: Any, notebook_root: Path, page: Any, page_log: Any
) -> None:
    """Notebook 01's "then press Enter": typing into Q recomputes the scores the page shows
    (Enter only added a newline, and an edit applied on a click elsewhere), and a matrix row
    is one line of its box."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata = nbformat.read(notebook_root / NOTEBOOK, as_version=4).metadata  # kernel
    source = "import widgets\nview = widgets.ByHandView()\nview"
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(notebook, notebook_root / "by_hand.ipynb")
    page.goto(f"{lab_server.url}/lab/tree/by_hand.ipynb?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    run_cell(page, 0)
    scores = ".explain-byhand-scores .js-plotly-plot"
    read = f"() => {{ const p = document.querySelector('{scores}');" \
        " return p && p.data ? Array.from(p.data[0].z[2], Number) : null; }"  # fmt: skip
    page.wait_for_function(f"() => ({read})() !== null", timeout=90_000)
    q_box = page.locator(".explain-matrix-text textarea").first
    assert q_box.evaluate("(el) => getComputedStyle(el).whiteSpace") == "pre"
    q_box.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("1 0 0 1")
    page.keyboard.press("Enter")
    page.keyboard.type("1 0 1 1")
    page.keyboard.press("Enter")
    page.keyboard.type("2 0 0 0")  # the last row sees every key (causal mask)
    page.keyboard.press("Enter")
    # K's rows [2 3 1 0], [0.6 1 2 1], [1 1 2 1]: the last row is 2 * K[:, 0] / √4
    page.wait_for_function(
        f"() => {{ const z = ({read})(); return z && Math.abs(z[0] - 2) < 1e-6"
        " && Math.abs(z[1] - 0.6) < 1e-6 && Math.abs(z[2] - 1) < 1e-6; }",
        timeout=30_000,
    )
    assert q_box.input_value().splitlines()[:3] == ["1 0 0 1", "1 0 1 1", "2 0 0 0"]
    assert page_log.uncaught == [], page_log.report()


@pytest.mark.timeout(240)
def test_lab_set_theme_enlarges_printed_text_and_markdown(
    lab_server: Any, notebook_root: Path, page: Any
) -> None:
    """widgets.set_theme("presentation") as a cell's value: the notebook's printed text and its
    markdown get the theme's text size in JupyterLab (views alone were large before)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata = nbformat.read(notebook_root / NOTEBOOK, as_version=4).metadata
    notebook.cells = [
        nbformat.v4.new_markdown_cell("Some words of the lecture."),
        nbformat.v4.new_code_cell('import widgets\nwidgets.set_theme("presentation")'),
        nbformat.v4.new_code_cell('print("a printed line")'),
    ]
    nbformat.write(notebook, notebook_root / "theme.ipynb")
    page.goto(f"{lab_server.url}/lab/tree/theme.ipynb?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    printed = page.locator(".jp-OutputArea-output pre", has_text="a printed line")
    words = page.locator(".jp-RenderedMarkdown p", has_text="Some words").first
    before = words.evaluate("(el) => getComputedStyle(el).fontSize")
    run_cell(page, 0)
    run_cell(page, 1)
    expect(printed).to_have_count(1, timeout=60_000)
    assert printed.evaluate("(el) => getComputedStyle(el).fontSize") == "18px"
    assert words.evaluate("(el) => getComputedStyle(el).fontSize") == "18px" != before


def menu(page: Any, *path: str) -> None:
    """Click through JupyterLab's menu bar, e.g. ``menu(page, "Settings", "Theme", "JupyterLab
    Dark")``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=path[0]).first.click()
    for label in path[1:]:
        exact = re.compile(rf"^{re.escape(label)}$")  # "Theme", not "Text Editor Theme"
        item = page.locator(".lm-Menu .lm-Menu-itemLabel").filter(has_text=exact).last
        item.hover()
        item.click()


# the paper colour and font size the dashboard's heatmap is drawn with, in the page
DRAWN = """(s) => { const gd = document.querySelector(s);
  return gd && gd.layout ? [gd.layout.paper_bgcolor, gd.layout.font.size] : null; }"""


@pytest.mark.timeout(240)
def test_lab_views_follow_jupyterlab_dark_theme_and_presentation_mode(
    lab_server: Any, page: Any, dom: Any
) -> None:
    """A view made without a theme follows JupyterLab's theme (Settings → Theme) and its
    Presentation Mode (View → Appearance): the figures the page draws change, no cell is run."""
    from explain.style import DARK, LIGHT, PRESENTATION

    heatmap = ".explain-attention-heatmap .js-plotly-plot"
    page.goto(f"{lab_server.url}/lab/tree/{NOTEBOOK}?reset", timeout=60_000)
    expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
    run_cell(page, 0)
    dom.wait_rendered()
    assert page.evaluate(DRAWN, heatmap) == [LIGHT.background, LIGHT.font_size]
    try:
        menu(page, "Settings", "Theme", "JupyterLab Dark")
        page.wait_for_function(f"(s) => ({DRAWN})(s)[0] === {DARK.background!r}", arg=heatmap)
        root = page.locator(".jp-OutputArea .explain-dashboard").first
        expect(root).to_have_class(re.compile(r"\bexplain-dark\b"))
        dom.screenshot("lab-follows-dark")
        menu(page, "View", "Appearance", "Presentation Mode")
        page.wait_for_function(f"(s) => ({DRAWN})(s)[1] === {PRESENTATION.font_size}", arg=heatmap)
        assert page.evaluate(DRAWN, heatmap) == [DARK.background, PRESENTATION.font_size]
        dom.screenshot("lab-follows-dark-presentation")
    finally:  # the server's settings outlive the page: back to JupyterLab's defaults
        if page.evaluate("() => !!document.querySelector('.jp-mod-presentationMode')"):
            menu(page, "View", "Appearance", "Presentation Mode")
        menu(page, "Settings", "Theme", "JupyterLab Light")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
    page.wait_for_function(f"(s) => ({DRAWN})(s)[0] === {LIGHT.background!r}", arg=heatmap)
