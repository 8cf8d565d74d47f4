"""A lecture notebook saved with its outputs still shows every view where no kernel runs.

The notebook is executed with nbclient and saved the way JupyterLab saves by default (no widget
state in its metadata), then converted by the real ``jupyter nbconvert --to html``. Each view's
output must come out as its static pictures (its ``text/html``), not as a widget script that
needs a kernel; a headless chromium then shows the page, and every picture must load.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _kernel import write_kernelspec

ROOT = Path(__file__).resolve().parent.parent
# 03 shows two Dashboards (live and replay: attention, loss, embeddings, positional, optimizer);
# 04 an OptimizerPlayground, a CompareView and an OptimizerView on their own
NOTEBOOKS = ["03_train_and_watch.ipynb", "04_loss_and_optimizers.ipynb"]
EXPECTED_VIEWS = {"03_train_and_watch.ipynb": 2, "04_loss_and_optimizers.ipynb": 3}
WIDGET = "application/vnd.jupyter.widget-view+json"
KERNEL = "explain-notebook-html"
ARTIFACTS = ROOT / "test-artifacts"
CELL_TIMEOUT_S = 120  # as tests/test_notebooks.py
OURS = re.compile(r"(\w+View|OptimizerPlayground|Dashboard)\((step \d+)?\)")  # their text/plain


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    """A JUPYTER_PATH with a kernelspec running this interpreter with the repo importable."""
    return write_kernelspec(tmp_path_factory.mktemp("jupyter"), KERNEL)


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=lambda name: name[:2])
def converted(request, kernel_path, tmp_path_factory) -> tuple[nbformat.NotebookNode, Path]:
    """(executed notebook, its HTML page from ``jupyter nbconvert --to html``)."""
    from nbclient import NotebookClient

    name = request.param
    work = tmp_path_factory.mktemp(name[:2])
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(kernel_path))
        NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT_S,
            kernel_name=KERNEL,
            resources={"metadata": {"path": str(work)}},  # cwd: exports land in work
            store_widget_state=False,  # what JupyterLab saves by default
        ).execute()
    assert "widgets" not in notebook.metadata
    saved = work / name
    nbformat.write(notebook, saved)
    # ``python -m jupyter`` finds ``jupyter-nbconvert`` on PATH: this interpreter's first
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(saved)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = saved.with_suffix(".html")
    assert page.exists(), result.stderr[-3000:]
    return notebook, page


def view_outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    """The outputs that display one of our views: a widget plus its static text/html."""
    return [
        output.data
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if WIDGET in output.get("data", {}) and "explain-static" in output.data.get("text/html", "")
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_saved_notebook_html_shows_every_view_as_pictures(converted):
    notebook, page = converted
    text = page.read_text(encoding="utf-8")
    outputs = view_outputs(notebook)
    assert len(outputs) == EXPECTED_VIEWS[page.with_suffix(".ipynb").name]
    for data in outputs:
        images = re.findall(
            r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', data["text/html"]
        )
        assert images, data["text/plain"]
        for image in images:
            assert base64.b64decode(image).startswith(b"\x89PNG")
            assert image in text, f"the picture of {data['text/plain']} is not in the page"
    # nothing left that needs a kernel or saved widget state to show
    assert f'type="{WIDGET}"' not in text
    assert "application/vnd.jupyter.widget-state+json" not in text
    # every widget output of the notebook that is one of ours carries its pictures
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            plain = output.get("data", {}).get("text/plain", "")
            if WIDGET in output.get("data", {}) and OURS.fullmatch(plain):
                assert "explain-static" in output.data.get("text/html", ""), plain


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(900)
def test_converted_page_shows_the_pictures_in_chromium(converted, chromium):
    _, page_path = converted
    context = chromium.new_context(viewport={"width": 1300, "height": 1000})
    blocked: list[str] = []

    def route(route):  # a file:// page: anything else (CDN scripts, fonts) is blocked
        if route.request.url.startswith(("file:", "data:", "about:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    try:
        page.goto(page_path.as_uri(), wait_until="load", timeout=60_000)
        sizes = page.evaluate(
            """() => Array.from(document.querySelectorAll('.explain-static img'),
                     (img) => [img.complete, img.naturalWidth, img.naturalHeight, img.alt])"""
        )
        assert sizes, "no static pictures on the page"
        for complete, width, height, alt in sizes:
            assert complete and width > 100 and height > 100 and alt, (width, height, alt)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"static-{page_path.stem}.png"), full_page=True)
    finally:
        context.close()
