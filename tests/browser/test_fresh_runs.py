"""Every plot receives its data, every time: notebooks 6 and 7, Run All from a fresh kernel.

A teacher saw the attention panel of notebook 7's GenerateView come up blank (empty axes, no
title) after one Run All in four: the browser never drew what the Python side held. Here each
notebook is opened in JupyterLab and run five times, each time in a new kernel and a new page.
After the run, one extra cell (appended to the served copy) prints what Python holds for every
plot: its CSS classes, title, and which of x/y/z each trace fills; the page must then draw every
``explain-plot`` with the same title and non-empty arrays where Python has them.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LECTURES = ["06_generation.ipynb", "07_encoder_decoder.ipynb"]
RUNS = 5
MARK = "EXPLAIN-PLOTS:"
# What Python holds: every Plot of this kernel (views keep theirs; nothing else makes one).
REPORT_CELL = f"""
import gc as _gc, json as _json
from widgets._plot import Plot as _Plot


def _filled(trace):
    arrays = [getattr(trace, name, None) for name in ("x", "y", "z")]  # a bar has no z
    return [v is not None and len(v) > 0 for v in arrays]


_held = [
    {{"classes": sorted(c for c in p.widget._dom_classes if c.startswith("explain-")),
      "title": p.figure.layout.title.text or "",
      "traces": [_filled(t) for t in p.figure.data]}}
    for p in _gc.get_objects() if type(p) is _Plot
]
print({MARK!r} + _json.dumps(_held))
"""

# What the page draws: each explain-plot's plotly div, its title and which arrays hold data.
READ_PLOTS = r"""() => Array.from(document.querySelectorAll(".explain-plot")).map((el) => {
  const gd = el.querySelector(".js-plotly-plot");
  const size = (v) => (v && v.length ? v.length : 0);
  const title = gd && gd.layout && gd.layout.title;
  return {
    classes: Array.from(el.classList)
      .filter((c) => c.startsWith("explain-") && c !== "explain-plot")
      .sort(),
    // the text as Python set it: the page wraps long titles with <br> to fit the width
    title: (title ? (typeof title === "string" ? title : title.text || "") : "")
      .replace(/<br\s*\/?>/gi, " "),
    traces: gd && gd.data
      ? gd.data.map((t) => [size(t.x) > 0, size(t.y) > 0, size(t.z) > 0])
      : null,
    revision: el.dataset.revision || null,
  };
})"""


def serve_lecture(root: Path, name: str) -> None:
    """The lecture notebook, as committed (no outputs), with the reporting cell appended, written
    into the served root (again before each run: Lab may have autosaved the last one's outputs)."""
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT_CELL.strip()))
    nbformat.write(notebook, root / name)


def _api(server: Any, path: str, method: str = "GET", body: Any = None) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with opener.open(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


TRACKER = "/lab/api/settings/@jupyterlab/notebook-extension:tracker"


@pytest.fixture
def lab_default_windowing(lab_server: Any) -> Iterator[None]:
    """JupyterLab's own notebook windowing (off-screen cells skip rendering) for this test: a
    teacher's Lab renders that way. The harness's setting (every cell drawn) comes back after."""
    before = _api(lab_server, TRACKER)["raw"]
    _api(lab_server, TRACKER, "PUT", {"raw": json.dumps({"windowingMode": "contentVisibility"})})
    try:
        yield
    finally:
        _api(lab_server, TRACKER, "PUT", {"raw": before})


def shut_down_kernels(server: Any) -> None:
    """End every session (and its kernel), so the next page starts a fresh one."""
    for session in _api(server, "/api/sessions"):
        _api(server, f"/api/sessions/{session['id']}", method="DELETE")


def local_only(route: Any, server_url: str) -> None:
    """Let the page reach the Lab server (and data:/blob: URLs), nothing else."""
    url = route.request.url
    if url.startswith(server_url) or url.split(":", 1)[0] in {"data", "blob", "about"}:
        route.continue_()
    else:
        route.abort("blockedbyclient")


def screenshot(page: Any, name: str) -> None:
    """The page as it is now, in test-artifacts/NAME.png (a diagnostic: never fails)."""
    try:
        (REPO / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "test-artifacts" / f"{name}.png"), full_page=True)
    except Exception as error:
        print(f"could not save a screenshot: {error}")


def run_all(page: Any) -> None:
    """Run → Run All Cells from the menu bar, as a teacher does."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def held_by_python(page: Any, timeout_s: float) -> list[dict]:
    """The reporting cell's line, once the whole notebook ran (fails on a cell error)."""
    output = page.locator(".jp-OutputArea-output", has_text=MARK)
    try:
        expect(output).to_have_count(1, timeout=timeout_s * 1000)
    except AssertionError:
        last = page.locator(".jp-Notebook .jp-Cell").last
        shows = last.inner_text()[-1500:]
        raise AssertionError(f"no report from the last cell; it shows: {shows}") from None
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    text = output.inner_text()
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first
    assert "Traceback" not in notebook.inner_text(), errors.all_inner_texts()
    return json.loads(text[text.index(MARK) + len(MARK) :].strip().splitlines()[0])


def missing(held: list[dict], drawn: list[dict]) -> list[str]:
    """What the page does not show of what Python holds ([] when every plot is drawn)."""
    problems = []
    shown = Counter(json.dumps(d["classes"]) for d in drawn)
    wanted = Counter(json.dumps(h["classes"]) for h in held)
    if shown != wanted:
        problems.append(f"plots in the page {dict(shown)} != plots in Python {dict(wanted)}")
    for plot in held:
        same = [d for d in drawn if d["classes"] == plot["classes"]]
        if not any(
            d["traces"] is not None
            and d["title"] == plot["title"]
            and len(d["traces"]) == len(plot["traces"])
            and all(
                shown or not want
                for dt, ht in zip(d["traces"], plot["traces"], strict=True)
                for shown, want in zip(dt, ht, strict=True)
            )
            for d in same
        ):
            problems.append(f"{plot} is not drawn; the page has {same}")
    return problems


@pytest.mark.timeout(RUNS * 2 * 240 + 120)
@pytest.mark.parametrize("name", LECTURES)
def test_every_plot_gets_its_data_in_five_fresh_runs(
    name: str,
    lab_server: Any,
    notebook_root: Path,
    chromium: Any,
    page_log: Any,
    lab_default_windowing: None,
) -> None:
    results = []
    for run in range(RUNS):
        shut_down_kernels(lab_server)
        serve_lecture(notebook_root, name)
        context = chromium.new_context(viewport={"width": 1500, "height": 1100})
        context.route("**/*", lambda route: local_only(route, lab_server.url))
        page = context.new_page()
        page.on("pageerror", lambda error: page_log.errors.append(f"pageerror: {error}"[:300]))
        try:
            # a workspace of its own, reset: only this notebook open, nothing restored
            url = f"{lab_server.url}/lab/workspaces/fresh-{run}/tree/{name}?reset"
            page.goto(url, timeout=60_000)
            expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=60_000)
            run_all(page)
            held = held_by_python(page, timeout_s=200)
            assert held, "the reporting cell found no plot"
            problems = missing(held, page.evaluate(READ_PLOTS))
            for _ in range(100):  # let the last frames draw (plotly draws on animation frames)
                if not problems:
                    break
                page.wait_for_timeout(100)
                problems = missing(held, page.evaluate(READ_PLOTS))
            results.append(problems)
            if problems:
                screenshot(page, f"fresh-{name}-{run}")
        except Exception:
            screenshot(page, f"fresh-{name}-{run}-error")
            raise
        finally:
            context.close()
    failed = [(run, problems) for run, problems in enumerate(results) if problems]
    assert not failed, f"{len(failed)} of {RUNS} fresh runs left plots without data: {failed}"
