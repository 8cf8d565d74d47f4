"""``explain handout``: a notebook run and written as one offline page (explain/handout.py), and
what a view publishes when it is displayed (widgets/_base.py, widgets/_static.py).

Notebook 08 is run once by the real command (``python -m explain handout``); chromium opens the
page from disk and may fetch nothing: every view is a plotly figure whose step slider moves it,
formulas are MathML, not ``$...$``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from _chromium import FILE_SCHEMES, block_others
from _figures import assert_same_figures
from _widget_traces import get_reverse_trace, synthetic_attention_trace

import widgets
from explain import cli, handout
from explain._render import page as pages
from explain.trace import Trace

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "08_redundancy_and_pruning.ipynb"
VIEWS_08 = 3  # an AttentionView and two HeadsViews
WIDGET = "application/vnd.jupyter.widget-view+json"
HOSTILE = ["<script>alert(1)</script>", "$x$", "a&b", "ok"]


# -- what a displayed view publishes -----------------------------------------------------------
@pytest.fixture
def shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def displayed(view: Any) -> list[dict]:
    """The outputs ``display(view)`` publishes, as their mime bundles."""
    from IPython.display import display
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        display(view)
    return [output.data for output in captured.outputs]


def test_a_view_is_a_widget_output_then_a_picture_output_it_hides_when_live(shell, monkeypatch):
    monkeypatch.delenv(handout.ENV, raising=False)
    view = widgets.AttentionView(synthetic_attention_trace(), step=10)
    widget, pictures = displayed(view)
    assert WIDGET in widget and "text/html" not in widget
    assert widget["text/plain"] == "AttentionView(step 10)"
    token = re.search(r'class="explain-static-for-([0-9a-f]+)"', pictures["text/html"]).group(1)
    assert f"explain-live-{token}" in view.widget._dom_classes  # the live root names its pictures
    assert f"body:has(.explain-live-{token}) .explain-static-for-{token}" in pictures["text/html"]
    assert pictures["text/html"].count("<img") == 1 and WIDGET not in pictures
    assert pictures["text/plain"].startswith("A static picture of the AttentionView at step 10")
    again, _ = displayed(view)  # shown twice: one token, both pictures hidden by one live root
    assert again[WIDGET]["model_id"] == widget[WIDGET]["model_id"]
    assert sum(c.startswith("explain-live-") for c in view.widget._dom_classes) == 1


def test_in_a_handout_run_a_view_carries_its_page_figures_instead(shell, monkeypatch):
    monkeypatch.setenv(handout.ENV, "1")
    trace = synthetic_attention_trace(layers=1, heads=2, tokens=len(HOSTILE))
    meta = {**trace.meta, "probe": {"tokens": HOSTILE}, "vocab": HOSTILE}
    tensors = {name: trace.tensors[name] for name in trace.tensors}
    hostile = Trace.from_arrays(meta, trace.snapshot_steps, {}, trace.snapshot_steps, tensors)
    (output,) = displayed(widgets.AttentionView(hostile, step=10))
    part = output[handout.MIME]
    assert WIDGET in output and part["traces"] == ["heatmap"]
    assert part["html"].count('class="plotly-graph-div"') == 2  # the head and the grid
    assert "<script>alert" not in part["html"] and "&lt;script&gt;alert" in part["html"]


def test_page_figures_are_the_figures_shown_with_a_slider():
    trace = get_reverse_trace()
    dashboard = widgets.Dashboard(trace)
    dashboard.step = int(trace.snapshot_steps[5])
    shown = dashboard.page_figures()
    assert_same_figures(dashboard.figures(), shown)  # less the slider, the same figures
    assert sum("sliders" in figure["layout"] for figure in shown) >= len(dashboard.views)
    by_hand = widgets.ByHandView()  # no trace, no step: its figures as shown
    assert_same_figures(by_hand.figures(), by_hand.page_figures())


def test_markdown_formulas_become_mathml_and_code_keeps_its_dollars():
    text = handout.markdown("If $d = 4$ then\n\n$$\\sqrt{d} = 2$$\n\n`$HOME` and $\\text{<b>}$")
    assert text.count("<math") == 3 and 'display="block"' in text
    assert "<code>$HOME</code>" in text and "&lt;b&gt;" in text and "<b>" not in text


# -- user mistakes -----------------------------------------------------------------------------
def fails(capsys, *argv: str) -> str:
    """Run ``explain ARGV``; it must exit with 2; returns what it printed on stderr."""
    assert cli.main(list(argv)) == 2
    return capsys.readouterr().err


def test_a_missing_file_or_not_a_notebook_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "page.html"
    assert "no such notebook" in fails(
        capsys, "handout", str(tmp_path / "gone.ipynb"), "--out", str(out)
    )
    (tmp_path / "text.ipynb").write_text("hello")
    assert "is not a Jupyter notebook" in fails(
        capsys, "handout", str(tmp_path / "text.ipynb"), "--out", str(out)
    )
    assert "is a directory" in fails(capsys, "handout", str(tmp_path), "--out", str(out))
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_cell_error_or_unknown_kernel_exits_2_and_keeps_the_old_page(tmp_path, capsys):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("print('fine')"),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    nbformat.write(notebook, tmp_path / "broken.ipynb")
    out = tmp_path / "page.html"
    out.write_text("the old page")
    error = fails(capsys, "handout", str(tmp_path / "broken.ipynb"), "--out", str(out))
    assert "broken.ipynb: code cell 2 raised ZeroDivisionError" in error
    error = fails(
        capsys, "handout", str(tmp_path / "broken.ipynb"), "--out", str(out), "--kernel", "nope"
    )
    assert "no Jupyter kernel named 'nope'" in error
    assert out.read_text() == "the old page"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broken.ipynb", "page.html"]


# -- notebook 08 as a handout ------------------------------------------------------------------
@pytest.fixture(scope="module")
def page_08(tmp_path_factory) -> Path:
    """``explain handout notebooks/08_redundancy_and_pruning.ipynb --out 08.html``, run once."""
    work = tmp_path_factory.mktemp("handout")
    out = work / "08.html"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "explain", "handout", str(NOTEBOOK), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # tiny models: one thread is fastest
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {out}" in result.stdout
    size = out.stat().st_size
    print(f"handout of 08: {time.monotonic() - started:.0f} s, {size / 1e6:.2f} MB")
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_page_inlines_plotly_once_and_links_nothing(page_08):
    text = page_08.read_text(encoding="utf-8")
    assert text.count(pages.plotly_js("cartesian")[:300]) == 1
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", text)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code" and cell.source.strip()]
    assert text.count('<div class="cell code">') == len(code)


# Page function: each view's figures: [{id, traces, slider}], once plotly has drawn them all.
READ_VIEWS = """() => Array.from(document.querySelectorAll(".output > .figures"), (view) =>
  Array.from(view.querySelectorAll(".js-plotly-plot"), (gd) => ({
    id: gd.id,
    traces: (gd.data || []).length,
    slider: Boolean(gd.layout.sliders && gd.layout.sliders.length),
  })))"""
# Page function: what figure ``id`` shows now: its slider position, title, pictures, data.
READ_SHOWN = """(id) => {
  const gd = document.getElementById(id);
  let total = 0, count = 0;  // a position-weighted sum: attention rows always sum to 1
  const add = (value) => {
    if (value == null) return;
    if (typeof value === "number") {
      count += 1;
      if (Number.isFinite(value)) total += value * ((count % 97) + 1);
      return;
    }
    if (typeof value === "object" && "length" in value) {
      for (let i = 0; i < value.length; i += 1) add(value[i]);
    }
  };
  // _fullData: the arrays decoded (the page sends them as base64 typed arrays)
  gd._fullData.forEach((trace) => { add(trace.x); add(trace.y); add(trace.z); });
  const title = gd.layout.title;
  // the attention grid is drawn as pictures (layout.images), not as trace data
  const images = (gd.layout.images || []).map((image) => String(image.source || "")).join();
  // a marker of the step (a line, a label) moves as a shape or an annotation
  const marks = JSON.stringify([gd.layout.shapes || [], gd.layout.annotations || []]);
  return {active: gd.layout.sliders[0].active, images, marks,
          title: typeof title === "string" ? title : (title && title.text) || "", total};
}"""


@contextlib.contextmanager
def offline(chromium: Any, path: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    """``path`` opened from disk in chromium, every non-file request blocked and listed:
    (page, blocked URLs, uncaught errors), once plotly has drawn every figure."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []
    errors: list[str] = []

    block_others(context, lambda url: url.startswith(FILE_SCHEMES), blocked)
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".every((gd) => gd._fullLayout)",
            timeout=60_000,
        )
        yield page, blocked, errors
    finally:
        context.close()


@pytest.fixture(scope="module")
def opened(page_08, chromium) -> Iterator[tuple[Any, list[str], list[str]]]:
    with offline(chromium, page_08) as shown:
        yield shown


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(900)
def test_every_view_is_an_interactive_figure_its_slider_moves(opened):
    page, blocked, errors = opened
    views = page.evaluate(READ_VIEWS)
    assert len(views) == VIEWS_08, views
    for figures in views:
        assert figures and all(figure["traces"] > 0 for figure in figures), figures
        assert any(figure["slider"] for figure in figures), figures
    for figure in [figure for figures in views for figure in figures if figure["slider"]]:
        before = page.evaluate(READ_SHOWN, figure["id"])
        rail = page.locator(f"#{figure['id']} .slider-rail-touch-rect").first
        box = rail.bounding_box()
        rail.click(position={"x": 0.15 * box["width"], "y": box["height"] / 2})
        page.wait_for_function(
            f"() => ({READ_SHOWN})({figure['id']!r}).active !== {before['active']}",
            timeout=10_000,
        )
        page.wait_for_timeout(100)  # the frame is drawn
        after = page.evaluate(READ_SHOWN, figure["id"])
        moved = any(after[key] != before[key] for key in ("total", "title", "images", "marks"))
        assert moved, (figure["id"], before["active"], after["active"], after["title"])
    page.screenshot(path=str(ROOT / "test-artifacts" / "handout-08.png"), full_page=True)
    assert blocked == [] and errors == [], (blocked, errors)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_formulas_are_drawn_as_mathml_not_dollars(tmp_path, chromium):
    """Notebook 01's text (08 has no formula), as a handout: every formula is drawn."""
    lecture = nbformat.read(ROOT / "notebooks" / "01_self_attention_by_hand.ipynb", as_version=4)
    notebook = nbformat.v4.new_notebook(metadata=lecture.metadata)
    notebook.cells = [cell for cell in lecture.cells if cell.cell_type == "markdown"]
    notebook.cells.append(nbformat.v4.new_code_cell("print('$x$ <b>printed</b>')"))
    nbformat.write(notebook, tmp_path / "text.ipynb")
    dollars = sum(cell.source.count("$") for cell in notebook.cells[:-1])
    handout.write(tmp_path / "text.ipynb", tmp_path / "text.html", progress=False)
    with offline(chromium, tmp_path / "text.html") as (page, blocked, errors):
        widths = page.evaluate(
            """() => Array.from(document.querySelectorAll('.markdown math'),
                 (math) => math.getBoundingClientRect().width)"""
        )
        text = page.evaluate(
            "() => Array.from(document.querySelectorAll('.cell.markdown'), (c) => c.innerText)"
        )
        printed = page.evaluate("() => document.querySelector('.output pre').innerText")
        page.screenshot(path=str(ROOT / "test-artifacts" / "handout-formulas.png"), full_page=True)
    assert dollars > 20 and len(widths) >= 10 and all(width > 0 for width in widths), widths
    assert not any("$" in cell for cell in text)
    assert printed.strip() == "$x$ <b>printed</b>"  # printed text stays text
    assert blocked == [] and errors == []
