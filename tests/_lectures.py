"""The lecture notebooks, each run once per test session, for every test that reads them.

One run of a notebook serves the three tests of its module tests/test_notebook_NN.py
(tests/_claims.py): it runs top to bottom in time, every sentence it quotes holds on the objects
the cells built, and the rehearsal (what a teacher sees at the projector). The run is a copy of
the notebook with cells appended: one that lists every plot Python holds, the claims' setup,
and one cell per claim.

With chromium (always under ``CI=true``) the run is the teacher's rehearsal: JupyterLab at
1280x720 with the file browser open, *Run All* from the menu, every screen of the lecture saved as
a screenshot (``test-artifacts/rehearsal/``), the page measured, then ``widgets.set_theme
("presentation")`` run in a new cell, as a teacher would before class, and everything measured and
saved again. Without chromium (a laptop with no browser) the same copy runs under nbclient.
"""

from __future__ import annotations

import importlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parent.parent
LECTURES = REPO / "notebooks"
SHOTS = REPO / "test-artifacts" / "rehearsal"
VIEWPORT = {"width": 1280, "height": 720}
CELL_TIMEOUT_S = 120
RUN_TIMEOUT_S = 420.0
THEMES = ("light", "presentation")
MARK = "EXPLAIN-PLOTS:"
KERNEL = "explain-lectures"

# Every Plot this kernel holds (views keep theirs; nothing else makes one), as Python sees it;
# the presentation cell calls the function again after the theme changed the figures.
REPORT_CELL = f"""
import gc as _gc, json as _json
from widgets._plot import Plot as _Plot


def _filled(trace):
    arrays = [getattr(trace, name, None) for name in ("x", "y", "z")]  # a bar has no z
    return [v is not None and len(v) > 0 for v in arrays]


def _report_plots():
    held = [
        {{"classes": sorted(c for c in p.widget._dom_classes if c.startswith("explain-")),
          "title": p.figure.layout.title.text or "",
          "traces": [_filled(t) for t in p.figure.data]}}
        for p in _gc.get_objects() if type(p) is _Plot
    ]
    print({MARK!r} + _json.dumps(held))


_report_plots()
"""
# typed into a new cell: the theme for every view, the plots again, the notebook's text larger
PRESENTATION_CELL = (
    'import widgets\n_style = widgets.set_theme("presentation")\n_report_plots()\n_style'
)

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

# The lecture's outputs (cells before ``n``) whose text, plots included, says "nan"
NAN_TEXT = r"""(n) => {
  const cells = Array.from(document.querySelectorAll(".jp-Notebook .jp-Cell")).slice(0, n);
  const found = [];
  cells.forEach((cell, index) => {
    cell.querySelectorAll(".jp-OutputArea-output").forEach((out) => {
      const texts = [out.innerText || ""];
      out.querySelectorAll("svg text").forEach((t) => texts.push(t.textContent || ""));
      const hit = texts.join("\n").match(/.{0,30}\bnan\b.{0,30}/i);
      if (hit) found.push(`cell ${index}: "${hit[0].trim()}"`);
    });
  });
  return found;
}"""

# The lecture's controls and labels (cells before ``n``) whose text is cut short ("explai...")
CUT_LABELS = r"""(n) => {
  const cells = Array.from(document.querySelectorAll(".jp-Notebook .jp-Cell")).slice(0, n);
  const found = [];
  cells.forEach((cell, index) => {
    cell.querySelectorAll(".jp-OutputArea-output label, .jp-OutputArea-output button, " +
        ".jp-OutputArea-output .widget-label, .jp-OutputArea-output .widget-readout, " +
        ".jp-OutputArea-output .widget-html-content, .jp-OutputArea-output th, " +
        ".jp-OutputArea-output td").forEach((el) => {
      if (el.closest(".js-plotly-plot") || !el.textContent.trim()) return;
      const s = getComputedStyle(el);
      if (s.display === "none" || s.visibility === "hidden") return;
      if (s.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1) {
        found.push(`cell ${index}: "${el.textContent.trim().slice(0, 40)}" is cut short ` +
                   `(${el.scrollWidth} px of text in ${el.clientWidth} px)`);
      }
    });
    // a menu shows its choice in its own box: the text, measured in its font, plus the arrow
    const pen = document.createElement("canvas").getContext("2d");
    cell.querySelectorAll(".jp-OutputArea-output select").forEach((el) => {
      const s = getComputedStyle(el), choice = el.options[el.selectedIndex];
      if (!choice || s.display === "none" || !el.offsetWidth) return;
      pen.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
      const need = pen.measureText(choice.text).width + 24;  // the arrow and padding
      if (need > el.clientWidth + 1) {
        found.push(`cell ${index}: the menu choice "${choice.text.slice(0, 40)}" is cut short ` +
                   `(${Math.round(need)} px in ${el.clientWidth} px)`);
      }
    });
  });
  return found;
}"""

# How far a run got: code cells waiting or running, error outputs, and whether cell ``n`` ran
PROGRESS = r"""(n) => {
  const prompts = Array.from(
    document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputPrompt"));
  const busy = prompts.filter((p) => p.textContent.includes("*")).length;
  const errors = document.querySelectorAll(
    ".jp-Notebook .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
  ).length;
  const cell = document.querySelectorAll(".jp-Notebook .jp-Cell")[n];
  const prompt = cell && cell.querySelector(".jp-InputPrompt");
  return {busy, errors, ran: !!prompt && /\d/.test(prompt.textContent)};
}"""

# Console errors known and harmless, each with why: nothing else may be logged.
KNOWN_CONSOLE = {
    # plotly.js 3 computes the axis line of a subplot whose traces are all empty at NaN (the
    # live dashboard's learning-rate and gradient-norm panels before the first step) and logs
    # the SVG error; the line is drawn once the panel has data, and nothing shows meanwhile
    '<path> attribute d: Expected number, "M': "an empty subplot's axis line (plotly.js)",
    # anywidget 0.11 rejects a model's `ready` promise when its module has not loaded within 2 s
    # (a fixed AbortSignal.timeout(2000)), yet still binds the module and renders its views once
    # it loads; a page busy drawing on a loaded machine hits it (CI, notebook 05). PlotWidget
    # copes with it (widgets/_plot.py) and the rehearsal still fails on any plot left blank
    "[anywidget] Failed to initialize model.": "anywidget's 2 s module timeout under load",
}

SCROLLER = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"


@dataclass
class Executed:
    """One run of a lecture notebook: what it saved, how long it took, what the page showed."""

    name: str
    notebook: nbformat.NotebookNode  # the copy as saved after the run: outputs and timings
    lecture_cells: int  # cells [0, lecture_cells) are the lecture's; the rest were appended
    seconds: float  # from the first lecture cell's start to the last one's reply
    browser: bool
    failure: str = ""  # why the run stopped (a cell's error, a timeout), "" when it ran through
    problems: dict[str, list[str]] = field(default_factory=dict)  # theme -> what the page showed
    shots: dict[str, list[Path]] = field(default_factory=dict)  # theme -> screenshots

    def check_ran(self) -> None:
        """Fail, with the reason, unless every cell ran without an error."""
        from _claims import errors_in

        assert not self.failure, f"{self.name}: {self.failure}"
        errors = [
            f"{e.get('ename')}: {e.get('evalue')}\n" + "\n".join(e.get("traceback", [])[-3:])
            for e in errors_in(self.notebook)
        ]
        assert not errors, f"{self.name}: a cell failed:\n" + "\n".join(errors)
        unrun = [
            index
            for index, cell in enumerate(self.notebook.cells)
            if cell.cell_type == "code" and cell.execution_count is None
        ]
        assert not unrun, f"{self.name}: cells {unrun} did not run"


def claims_of(name: str) -> tuple[str, list[tuple[str, str]]]:
    """(setup, claims) of a lecture, from its claims test module tests/test_notebook_NN.py."""
    module = importlib.import_module(f"test_notebook_{name[:2]}")
    return module.SETUP, module.CLAIMS


def rehearsal_copy(name: str) -> nbformat.NotebookNode:
    """The lecture with the plot report, the claims' setup and one cell per claim appended."""
    from _claims import flat

    notebook = nbformat.read(LECTURES / name, as_version=4)
    setup, claims = claims_of(name)
    extra = [REPORT_CELL, setup] + [f"# claim: {flat(c)!r}\n{check}" for c, check in claims]
    notebook.cells += [nbformat.v4.new_code_cell(source.strip()) for source in extra]
    return notebook


def lecture_seconds(notebook: nbformat.NotebookNode, cells: int) -> float:
    """Seconds from the first lecture cell's start to the last one's reply (cell timings)."""
    times = [
        cell.metadata.get("execution", {})
        for cell in notebook.cells[:cells]
        if cell.cell_type == "code"
    ]
    start = next((t.get("iopub.execute_input") or t.get("iopub.status.busy") for t in times), None)
    end = times[-1].get("shell.execute_reply") if times else None
    if not start or not end:
        return float("nan")
    from datetime import datetime

    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def _title(text: str) -> str:
    """A title as read: the page breaks long titles into lines (<br>) to fit its width."""
    return " ".join(re.sub(r"<br\s*/?>", " ", text).split())


def missing_plots(held: list[dict], drawn: list[dict]) -> list[str]:
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
            and _title(d["title"]) == _title(plot["title"])
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


def held_plots_in_page(page: Any, cell: int) -> list[dict]:
    """The plot report cell ``cell`` printed in the page."""
    text = page.locator(".jp-Notebook .jp-Cell").nth(cell).locator(".jp-OutputArea").inner_text()
    if MARK not in text:
        raise AssertionError(f"no plot report in the page; the cell shows: {text[-1500:]}")
    return json.loads(text[text.index(MARK) + len(MARK) :].strip().splitlines()[0])


# -- without a browser --------------------------------------------------------------------------
def run_nbclient(name: str, workdir: Path, kernel: str) -> Executed:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = rehearsal_copy(name)
    cells = len(nbformat.read(LECTURES / name, as_version=4).cells)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name=kernel,
        resources={"metadata": {"path": str(workdir)}},  # cwd: exports land in workdir
        record_timing=True,
    )
    failure = ""
    try:
        client.execute()
    except CellExecutionError as error:
        failure = str(error)[-3000:]
    return Executed(name, notebook, cells, lecture_seconds(notebook, cells), False, failure)


# -- in JupyterLab --------------------------------------------------------------------------
def _shots(page: Any, name: str, theme: str, cells: int) -> list[Path]:
    """The lecture screen by screen, as a teacher scrolls it (its appended cells left out)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob(f"{name[:2]}-{theme}-*.png"):
        old.unlink()
    end = page.evaluate(
        "([s, n]) => { const outer = document.querySelector(s);"
        " const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[n];"
        " return cell.getBoundingClientRect().top - outer.getBoundingClientRect().top"
        " + outer.scrollTop; }",
        [SCROLLER, cells],
    )
    height = page.evaluate("(s) => document.querySelector(s).clientHeight", SCROLLER)
    paths, top = [], 0
    while top < end:
        page.evaluate("([s, y]) => { document.querySelector(s).scrollTop = y; }", [SCROLLER, top])
        page.mouse.move(VIEWPORT["width"] - 1, 1)  # no hover label or toolbar in the picture
        page.wait_for_timeout(250)
        path = SHOTS / f"{name[:2]}-{theme}-{len(paths):02d}.png"
        page.screenshot(path=str(path))
        paths.append(path)
        top += max(height - 60, 200)  # screens overlap a little, as a teacher scrolls
    return paths


def _settle(page: Any) -> None:
    """Until every plot was drawn and none is being drawn (plot.js marks data-busy)."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea .explain-plot')]"
        ".every((p) => p.dataset.revision !== undefined && !p.dataset.busy)",
        timeout=60_000,
    )
    page.wait_for_timeout(800)  # resize observers and plotly's animation frames


def _wait_run(page: Any, cell: int, timeout_s: float) -> str:
    """Until no cell waits or runs and cell ``cell`` ran; "" or why the run stopped."""
    deadline, idle_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        state = page.evaluate(PROGRESS, cell)
        if state["busy"] == 0 and state["ran"]:
            return ""
        if state["busy"] == 0 and state["errors"]:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 3:
                return "a cell failed and the run stopped"
        else:
            idle_since = None
        page.wait_for_timeout(500)
    return f"the run did not finish in {timeout_s:.0f} s"


def _run_menu(page: Any, item: str, cell: int | None = None) -> None:
    """Select cell ``cell`` (if given), then Run → ``item`` from the menu bar."""
    if cell is not None:
        page.locator(".jp-Notebook .jp-Cell").nth(cell).locator(".jp-InputPrompt").click()
        page.keyboard.press("Escape")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _measure(page: Any, theme: str, cells: int, held: list[dict]) -> list[str]:
    """What the teacher would see wrong in ``theme`` (tests/_claims.py, the rehearsal)."""
    from browser.test_layout import MEASURE

    _settle(page)
    problems = list(page.evaluate(MEASURE, {"theme": theme, "forceModebar": False})["problems"])
    problems += [f"shows nan: {hit}" for hit in page.evaluate(NAN_TEXT, cells)]
    problems += page.evaluate(CUT_LABELS, cells)
    drawn = page.evaluate(READ_PLOTS)
    for _ in range(50):  # the last frames may still be on their way
        blank = missing_plots(held, drawn)
        if not blank:
            break
        page.wait_for_timeout(200)
        drawn = page.evaluate(READ_PLOTS)
    problems += blank
    wide = page.evaluate(
        "(s) => { const o = document.querySelector(s); return [o.scrollWidth, o.clientWidth]; }",
        SCROLLER,
    )
    if wide[0] > wide[1] + 1:
        problems.append(f"the notebook scrolls sideways ({wide[0]} > {wide[1]} px)")
    return problems


def _run_cell_below(page: Any, code: str) -> None:
    """Select the last cell, add a code cell below it, type ``code`` and run it in place
    (Ctrl+Enter: Shift+Enter on the last cell would add an empty one after it)."""
    page.locator(".jp-Notebook .jp-Cell").last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.locator(".jp-Notebook .jp-Cell").last.locator(".cm-content").click()
    for index, line in enumerate(code.splitlines()):
        if index:
            page.keyboard.press("Enter")
        page.keyboard.insert_text(line)
    page.keyboard.press("Control+Enter")


def rehearse(chromium: Any, server: Any, root: Path, path: Path) -> Executed:
    """Run All of the lecture copy written to ``path`` (under the server's ``root``) in
    JupyterLab; measure and screenshot it in both themes."""
    from playwright.sync_api import expect

    name = path.name
    notebook = rehearsal_copy(name)
    cells = len(nbformat.read(LECTURES / name, as_version=4).cells)
    nbformat.write(notebook, path)
    relative = path.relative_to(root).as_posix()
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    blocked: list[str] = []
    errors: list[str] = []

    from _chromium import block_others
    from _jupyter import is_local

    block_others(context, is_local, blocked)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text[:300]))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"[:300]))
    problems: dict[str, list[str]] = {}
    shots: dict[str, list[Path]] = {}
    try:
        # a workspace of its own, reset: the file browser open, only this notebook
        page.goto(f"{server.url}/lab/workspaces/rehearsal-{name[:2]}/tree/{relative}?reset")
        expect(page.locator("#jp-main-statusbar")).to_contain_text("| Idle", timeout=90_000)
        sidebar = page.evaluate(
            "() => { const s = document.querySelector('#jp-left-stack');"
            " return !!s && !s.classList.contains('lm-mod-hidden') && s.offsetWidth > 0; }"
        )
        # the lecture and the plot report, as Run All runs a lecture: the claims wait (they
        # move views, click curves), so the screens are measured as the lecture leaves them
        _run_menu(page, "Run All Above Selected Cell", cell=cells + 1)
        failure = _wait_run(page, cells, RUN_TIMEOUT_S)
        if not failure:
            held = held_plots_in_page(page, cells)
            for theme in THEMES:
                if theme != "light":
                    _run_cell_below(page, PRESENTATION_CELL)
                    failure = _wait_run(page, len(notebook.cells), RUN_TIMEOUT_S)
                    if failure:
                        break
                    held = held_plots_in_page(page, len(notebook.cells))
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('.explain-plot .js-plotly-plot')]"
                        ".every((gd) => gd.layout && gd.layout.font && gd.layout.font.size >= 16)",
                        timeout=60_000,
                    )
                found = [] if sidebar else ["the file browser was not open"]
                found += _measure(page, theme, cells, held)
                shots[theme] = _shots(page, name, theme, cells)
                problems[theme] = found
            unknown = [e for e in errors if not any(known in e for known in KNOWN_CONSOLE)]
            if unknown:
                problems["console"] = list(dict.fromkeys(unknown))
            if blocked:
                problems["network"] = list(dict.fromkeys(blocked))
            # then the claims' setup and every claim (and the theme cell again: harmless); the
            # last claim has not run before, so its prompt says when they all did
            if not failure:
                _run_menu(page, "Run Selected Cell and All Below", cell=cells + 1)
                failure = _wait_run(page, len(notebook.cells) - 1, RUN_TIMEOUT_S)
        page.keyboard.press("Control+s")  # the teacher's save: outputs and cell timings on disk
        dirty = page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")
        expect(dirty).to_have_count(0, timeout=30_000)
        saved = nbformat.read(path, as_version=4)
    finally:
        try:
            page.screenshot(path=str(SHOTS / f"{name[:2]}-last.png"))
        except Exception as error:  # a diagnostic; never mask the run's result
            print(f"could not save the last screenshot: {error}")
        context.close()
        from _jupyter import shut_down_kernels

        shut_down_kernels(server)  # its kernel is done: the next lecture gets the cores
    return Executed(
        name, saved, cells, lecture_seconds(saved, cells), True, failure, problems, shots
    )


class Lectures:
    """The session's runs of the lecture notebooks, each made on its first request."""

    def __init__(self, tmp_path_factory: Any) -> None:
        self._tmp = tmp_path_factory
        self._runs: dict[str, Executed | Exception] = {}
        self._kernels: Path | None = None

    @property
    def browser(self) -> bool:
        """Whether runs are rehearsals in JupyterLab (chromium is there) or nbclient runs."""
        from _chromium import CHROMIUM

        return CHROMIUM.exists()

    def get(self, name: str, request: Any) -> Executed:
        """The run of ``name``; ``request`` (the asking test's) gives the server and browser."""
        if name not in self._runs:
            try:
                self._runs[name] = self._run(name, request)
            except Exception as error:  # every reader of this run gets the same failure
                self._runs[name] = error
        run = self._runs[name]
        if isinstance(run, Exception):
            raise AssertionError(f"{name} could not be run: {run!r}") from run
        return run

    def _run(self, name: str, request: Any) -> Executed:
        if self.browser:
            server = request.getfixturevalue("lab_server")
            chromium = request.getfixturevalue("chromium")
            root = request.getfixturevalue("notebook_root")
            (root / "lectures").mkdir(exist_ok=True)
            return rehearse(chromium, server, root, root / "lectures" / name)
        from _kernel import write_kernelspec

        if self._kernels is None:
            self._kernels = write_kernelspec(self._tmp.mktemp("jupyter"), KERNEL)
        import os

        before = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = str(self._kernels)
        try:
            return run_nbclient(name, self._tmp.mktemp(name[:2]), KERNEL)
        finally:
            if before is None:
                del os.environ["JUPYTER_PATH"]
            else:
                os.environ["JUPYTER_PATH"] = before
