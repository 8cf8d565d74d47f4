"""A lecture notebook converted by ``jupyter nbconvert --to html`` shows every view offline.

Notebooks 01 (two ByHandViews, an AttentionView) and 08 (an AttentionView, two HeadsViews) are
executed once each by the real ``jupyter nbconvert --execute``, which saves the widget state in
the notebook, and converted twice: as executed (with widget state: nbconvert renders each widget
output as a script that loads its manager from a CDN, blank offline) and with the state removed
(what JupyterLab saves by default). Displaying a view makes two outputs, the widget and its
static pictures (widgets/_static.py), so both pages must show each view's pictures exactly once
in a headless chromium that may fetch nothing. A notebook with a Dashboard saved from JupyterLab
with its widget state is checked in tests/browser/test_static_pictures.py, with the live case.
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
from _chromium import FILE_SCHEMES, block_others
from _kernel import write_kernelspec

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {  # notebook -> the views it displays, in order
    "01_self_attention_by_hand.ipynb": ["ByHandView()", "ByHandView()", "AttentionView"],
    "08_redundancy_and_pruning.ipynb": ["AttentionView", "HeadsView", "HeadsView"],
}
WIDGET = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"
KERNEL = "explain-notebook-html"
ARTIFACTS = ROOT / "test-artifacts"
CELL_TIMEOUT_S = 120  # as tests/test_notebooks.py
OURS = re.compile(r"(\w+View|OptimizerPlayground|Dashboard)\((step \d+)?\)")  # their text/plain
STATIC = re.compile(r'<div class="explain-static-for-([0-9a-f]+)">')

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def nbconvert(*args: str, cwd: Path, env: dict[str, str]) -> None:
    """``jupyter nbconvert ARGS`` in ``cwd``; fails the test with its stderr if it fails."""
    # ``python -m jupyter`` finds ``jupyter-nbconvert`` on PATH: this interpreter's first
    path = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**env, "PATH": path},
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory) -> Path:
    """A JUPYTER_PATH with a kernelspec running this interpreter with the repo importable."""
    return write_kernelspec(tmp_path_factory.mktemp("jupyter"), KERNEL)


@pytest.fixture(scope="module", params=sorted(NOTEBOOKS), ids=lambda name: name[:2])
def converted(request, kernel_path, tmp_path_factory) -> dict:
    """One ``nbconvert --execute`` of the notebook, then ``--to html`` with and without its
    widget state: {"name", "notebook" (executed), "with_state", "without_state" (pages)}."""
    name = request.param
    work = tmp_path_factory.mktemp(name[:2])
    (work / name).write_bytes((ROOT / "notebooks" / name).read_bytes())  # cwd: exports land here
    env = {**os.environ, "JUPYTER_PATH": str(kernel_path)}
    nbconvert(
        "--execute",
        "--to",
        "notebook",
        f"--ExecutePreprocessor.kernel_name={KERNEL}",
        f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}",
        "--output",
        "with_state.ipynb",
        name,
        cwd=work,
        env=env,
    )
    notebook = nbformat.read(work / "with_state.ipynb", as_version=4)
    assert STATE in notebook.metadata.get("widgets", {}), "nbconvert --execute saved no state"
    bare = nbformat.read(work / "with_state.ipynb", as_version=4)
    del bare.metadata["widgets"]
    nbformat.write(bare, work / "without_state.ipynb")
    for stem in ("with_state", "without_state"):
        nbconvert("--to", "html", f"{stem}.ipynb", cwd=work, env=env)
    return {
        "name": name,
        "notebook": notebook,
        "with_state": work / "with_state.html",
        "without_state": work / "without_state.html",
    }


def views_and_pictures(notebook: nbformat.NotebookNode) -> list[tuple[dict, dict | None]]:
    """(widget output of one of our views, the output right after it) for every view shown."""
    pairs = []
    for cell in notebook.cells:
        outputs = [output for output in cell.get("outputs", []) if "data" in output]
        for index, output in enumerate(outputs):
            if WIDGET in output.data and OURS.fullmatch(output.data.get("text/plain", "")):
                following = outputs[index + 1].data if index + 1 < len(outputs) else None
                pairs.append((output.data, following))
    return pairs


def test_each_view_is_a_widget_output_then_its_pictures(converted):
    notebook = converted["notebook"]
    pairs = views_and_pictures(notebook)
    expected = NOTEBOOKS[converted["name"]]
    assert [data["text/plain"].split("(step")[0] for data, _ in pairs] == expected
    state = notebook.metadata.widgets[STATE]["state"]
    for widget, pictures in pairs:
        name = widget["text/plain"]
        assert "text/html" not in widget, f"{name}: pictures in the widget's own output"
        assert pictures is not None and WIDGET not in pictures, f"{name}: no picture output"
        match = STATIC.search(pictures["text/html"])
        assert match, name
        token = match.group(1)
        # hidden only where the live widget, whose root carries the token's class, is drawn
        assert (
            f"body:has(.explain-live-{token}) .explain-static-for-{token}" in pictures["text/html"]
        )
        classes = state[widget[WIDGET]["model_id"]]["state"]["_dom_classes"]
        assert f"explain-live-{token}" in classes and "explain-view" in classes, name
        images = re.findall(
            r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', pictures["text/html"]
        )
        assert images and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images), name
        assert "<script" not in pictures["text/html"].lower()


# Page function: every static block with whether it is drawn, and its pictures' sizes.
READ_STATIC = """() => Array.from(document.querySelectorAll('[class^="explain-static-for-"]'),
  (block) => ({
    shown: block.getBoundingClientRect().height > 0 && getComputedStyle(block).display !== "none",
    images: Array.from(block.querySelectorAll("img"),
      (img) => [img.complete, img.naturalWidth, img.naturalHeight, img.alt]),
  }))"""


@pytest.mark.browser
@pytest.mark.parametrize("which", ["with_state", "without_state"])
def test_converted_page_shows_each_view_once_offline(converted, which, chromium):
    page_path: Path = converted[which]
    text = page_path.read_text(encoding="utf-8")
    # the page really is the case named: nbconvert chose the widget where the state is saved
    assert (f'type="{WIDGET}"' in text) == (which == "with_state")
    context = chromium.new_context(viewport={"width": 1300, "height": 1000})
    blocked: list[str] = []

    # a file:// page: anything else (CDN scripts, fonts) is blocked
    block_others(context, lambda url: url.startswith(FILE_SCHEMES), blocked)
    page = context.new_page()
    try:
        page.goto(page_path.as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_timeout(500)  # the blocked widget manager script fails after load
        blocks = page.evaluate(READ_STATIC)
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / f"static-{page_path.parent.name[:2]}-{which}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    views = NOTEBOOKS[converted["name"]]
    assert len(blocks) == len(views), f"{len(blocks)} picture blocks for {len(views)} views"
    for block, view in zip(blocks, views, strict=True):
        assert block["shown"], f"the pictures of the {view} are hidden"
        assert block["images"], view
        for complete, width, height, alt in block["images"]:
            assert complete and width > 100 and height > 100 and alt, (view, width, height, alt)
    # what the page asked of the network is nbconvert's template's (MathJax, require.js and,
    # with widget state, the widget manager), never anything of the views
    template = ("mathjax", "require", "@jupyter-widgets/html-manager")
    assert all(any(part in url.lower() for part in template) for url in blocked), blocked
