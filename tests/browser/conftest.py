"""Real-browser harness: JupyterLab and Voila on 127.0.0.1, driven by a headless chromium.

The servers and their isolated Jupyter setup are tests/_jupyter.py's (registered by
tests/conftest.py). Chromium may only reach 127.0.0.1/localhost: every other request is blocked
and listed at the end of the run. Screenshots go to ``test-artifacts/`` in the repository.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _chromium import block_others
from _jupyter import (
    ARTIFACTS,
    LAB_FLAGS,
    TRACE_FILE,
    VOILA_FLAGS,
    Server,
    _tool,
    free_port,
    is_local,
    serve,
    shut_down_kernels,
)


@pytest.fixture(scope="session")
def notebook_trace(notebook_root: Path) -> Any:
    """The trace the notebooks load, read back from the same file (expected values come from it)."""
    import explain

    return explain.load_trace(notebook_root / TRACE_FILE)


@pytest.fixture(scope="session")
def voila_server(jupyter_env: dict[str, str], notebook_root: Path) -> Iterator[Server]:
    """Voila serving ``dashboard.ipynb`` on 127.0.0.1 (each page load runs it in a new kernel)."""
    port = free_port()
    argv = [_tool("voila"), "dashboard.ipynb", *VOILA_FLAGS.split(), f"--port={port}"]
    with serve("voila", argv, notebook_root, jupyter_env, port, any_answer=True) as server:
        yield server


@pytest.fixture(scope="session")
def notebook7_server(jupyter_env: dict[str, str], notebook_root: Path) -> Iterator[Server]:
    """Jupyter Notebook 7 serving ``notebook_root`` on 127.0.0.1, no token (JupyterLab's flags:
    it is a JupyterLab application)."""
    port = free_port()
    argv = [_tool("jupyter-notebook"), *LAB_FLAGS, f"--port={port}"]
    argv.append(f"--ServerApp.root_dir={notebook_root}")
    with serve("notebook7", argv, notebook_root, jupyter_env, port) as server:
        yield server


@pytest.fixture(autouse=True)
def _kernels_shut_down(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, the kernels its notebooks started are shut down (see shut_down_kernels)."""
    yield
    for name in ("lab_server", "notebook7_server"):
        if name in request.fixturenames:
            shut_down_kernels(request.getfixturevalue(name))


@dataclass
class PageLog:
    """What a page did besides rendering: requests blocked, console errors, page errors."""

    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    uncaught: list[str] = field(default_factory=list)  # uncaught exceptions only

    def report(self) -> str:
        blocked = "\n  ".join(self.blocked) or "none"
        errors = "\n  ".join(self.errors[-20:]) or "none"
        return f"blocked requests:\n  {blocked}\nconsole/page errors:\n  {errors}"


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(chromium: Any, page_log: PageLog, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page that may reach only this machine; its last state is saved as a screenshot."""
    context = chromium.new_context(viewport={"width": 1500, "height": 1100})
    context.set_default_timeout(30_000)

    block_others(context, is_local, page_log.blocked)

    def on_console(message: Any) -> None:
        if message.type == "error":
            page_log.errors.append(message.text[:300])

    def on_page_error(error: Any) -> None:
        page_log.errors.append(f"pageerror: {error}"[:300])
        page_log.uncaught.append(str(error)[:300])

    new_page = context.new_page()
    new_page.on("console", on_console)
    new_page.on("pageerror", on_page_error)
    try:
        yield new_page
    finally:
        # listed at the end of the run (tests/conftest.py), from any pytest-xdist worker
        seen = {"blocked": page_log.blocked, "uncaught": page_log.uncaught}
        request.node.user_properties.append(("page_log", seen))
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            new_page.screenshot(
                path=str(ARTIFACTS / f"{request.node.name}-last.png"), timeout=10_000
            )
        except Exception as error:  # a screenshot is a diagnostic; never mask the test's result
            print(f"could not save the last screenshot: {error}")
        context.close()


# -- reading the dashboard from the DOM ------------------------------------------------------
SCOPE = ".explain-dashboard"  # the dashboard's root box (widgets/dashboard.py lists its hooks)
HEATMAP = ".explain-attention .explain-attention-heatmap"

# The plotly graph div of the heatmap widget: the widget's element itself (FigureWidget) or a
# child of it (an anywidget that draws into a div); null until plotly has drawn data into it.
_PLOT = """(selector) => {
  const host = document.querySelector(selector);
  if (!host) return null;
  const plot = host.classList.contains("js-plotly-plot")
    ? host
    : host.querySelector(".js-plotly-plot");
  return plot && plot.data && plot.data.length && plot.data[0].z ? plot : null;
}"""
_READ_Z = f"""(selector) => {{
  const plot = ({_PLOT})(selector);
  return plot ? Array.from(plot.data[0].z, (row) => Array.from(row, Number)) : null;
}}"""


class Dom:
    """Reads and waits on the dashboard as chromium shows it."""

    def __init__(self, page: Any, log: PageLog, trace: Any, scope: str = SCOPE) -> None:
        self.page = page
        self.log = log
        self.trace = trace
        self.scope = scope

    def find(self, selector: str) -> Any:
        return self.page.locator(f"{self.scope} {selector}")

    def wait_rendered(self, timeout_s: float = 90.0) -> None:
        """Wait until the heatmap is drawn; on timeout fail with what was blocked and logged."""
        try:
            self.page.wait_for_function(
                f"(selector) => ({_PLOT})(selector) !== null",
                arg=f"{self.scope} {HEATMAP}",
                timeout=timeout_s * 1000,
            )
        except Exception as error:
            pytest.fail(
                f"the dashboard heatmap did not render within {timeout_s:.0f} s ({error}).\n"
                f"{self.log.report()}"
            )

    def heatmap_z(self) -> np.ndarray | None:
        """The z matrix plotly holds for the attention heatmap (None before the first draw)."""
        value = self.page.evaluate(_READ_Z, f"{self.scope} {HEATMAP}")
        return None if value is None else np.asarray(value, dtype=np.float64)

    def wait_for_z(self, expected: np.ndarray, what: str, timeout_s: float = 20.0) -> None:
        """Poll until the heatmap shows ``expected`` (float32 precision); fail naming ``what``."""
        expected = np.asarray(expected, dtype=np.float64)
        deadline = time.monotonic() + timeout_s
        shown = None
        while time.monotonic() < deadline:
            shown = self.heatmap_z()
            if shown is not None and shown.shape == expected.shape:
                if np.allclose(shown, expected, rtol=0, atol=1e-6):
                    return
            self.page.wait_for_timeout(100)
        detail = "nothing" if shown is None else f"shape {shown.shape}"
        if shown is not None and shown.shape == expected.shape:
            detail += f", max |difference| {np.abs(shown - expected).max():.3g}"
            detail += f", equal to {self.identify(shown)}"
        pytest.fail(
            f"after {timeout_s:.0f} s the heatmap in the browser does not show {what}: "
            f"it holds {detail}; expected shape {expected.shape}\n{self.log.report()}"
        )

    def identify(self, shown: np.ndarray) -> str:
        """Which (step, layer, head) of the trace ``shown`` equals, for failure messages."""
        matches = [
            f"step {step} layer {layer} head {head}"
            for step in self.trace.snapshot_steps.tolist()
            for layer in range(self.trace.n_layers)
            for head in range(self.trace.n_heads)
            if np.allclose(shown, attention(self.trace, step, layer, head), rtol=0, atol=1e-6)
        ]
        return " or ".join(matches[:3]) if matches else "no snapshot of the trace"

    def step(self) -> int:
        """The step the step slider's readout shows."""
        return int(self.find(".explain-step-slider .widget-readout").first.inner_text().strip())

    def dropdown(self, name: str) -> Any:
        """The attention view's ``<select>`` of ``explain-{name}-select`` (layer, head)."""
        return self.find(f".explain-attention .explain-{name}-select select").first

    def selected(self, name: str) -> int:
        """The option shown by dropdown ``name``, as an int."""
        return int(self.dropdown(name).evaluate("(el) => el.options[el.selectedIndex].text"))

    def press_slider(self, key: str, times: int) -> None:
        """Focus the step slider's handle and press ``key`` ``times`` times."""
        handle = self.find(".explain-step-slider .noUi-handle").first
        handle.focus()
        for _ in range(times):
            handle.press(key)

    def arrow_to_step(
        self, key: str, times: int, step: int, before: int, layer: int, head: int
    ) -> None:
        """Press ``key`` ``times`` times on the step slider's handle to move it from step
        ``before`` to ``step`` (whose patterns differ); wait until readout and heatmap show it."""
        from playwright.sync_api import expect

        shown = attention(self.trace, step, layer, head)
        assert not np.allclose(shown, attention(self.trace, before, layer, head))
        self.press_slider(key, times)
        expect(self.find(".explain-step-slider .widget-readout").first).to_have_text(str(step))
        self.wait_for_z(shown, f"step {step} after arrow keys")

    def pick_head(self, step: int, layer: int, head: int, new_head: int) -> None:
        """Pick ``new_head`` in the head dropdown (its pattern differs from ``head``'s at
        ``step``) and wait until the heatmap shows it."""
        shown = attention(self.trace, step, layer, new_head)
        assert not np.allclose(shown, attention(self.trace, step, layer, head))
        self.dropdown("head").select_option(label=str(new_head))
        self.wait_for_z(shown, f"head {new_head} at step {step}")

    def title(self) -> Any:
        """The heatmap's title as drawn (an SVG text), e.g. "... layer 0 head 1 · step 20"."""
        return self.find(f"{HEATMAP} .gtitle").first

    def play_to_the_end(self, layer: int, head: int) -> None:
        """Press play: the page asks for every frame once and plays them in the page (no kernel
        round trip per step), to the last step, whose pattern plotly then draws."""
        import re

        from playwright.sync_api import expect

        last = int(self.trace.snapshot_steps[-1])
        self.find(".explain-play button").first.click()
        expect(self.title()).to_have_text(re.compile(rf"step {last}$"), timeout=60_000)
        frames = str(len(self.trace.snapshot_steps))
        expect(self.find(".explain-attention-heatmap").first).to_have_attribute(
            "data-frames", frames
        )
        self.wait_for_z(attention(self.trace, last, layer, head), f"step {last} after playing")

    def screenshot(self, name: str) -> Path:
        """Scroll the dashboard's top into view and save the page as test-artifacts/NAME.png."""
        self.page.locator(self.scope).first.evaluate("(el) => el.scrollIntoView({block: 'start'})")
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def attention(trace: Any, step: int, layer: int, head: int) -> np.ndarray:
    """What the heatmap must show: the trace's pattern [q_pos, k_pos] at that snapshot."""
    snapshot = trace.at(step)
    assert snapshot.step == step, f"the trace has no snapshot at step {step}"
    return snapshot.tensors[f"blocks.{layer}.attn.hook_pattern"][head]


@pytest.fixture
def dom(page: Any, page_log: PageLog, notebook_trace: Any) -> Dom:
    return Dom(page, page_log, notebook_trace)


@pytest.fixture
def expected_attention(notebook_trace: Any) -> Any:
    """``expected_attention(step, layer, head)`` -> the pattern the heatmap must show."""
    return lambda step, layer, head: attention(notebook_trace, step, layer, head)
