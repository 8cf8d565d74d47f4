"""Real-browser harness: JupyterLab and Voila on 127.0.0.1, driven by a headless chromium.

Servers run with their own Jupyter config, data, runtime and IPython dirs (so nothing of the
user's setup leaks in), no token, and a kernelspec that runs this interpreter with the repository
on PYTHONPATH. The notebooks under ``notebooks/`` are copied to a temporary root next to a small
trace trained here (``trace.npz``), so the test reads its expected numbers from the very file the
kernel shows. Chromium may only reach 127.0.0.1/localhost: every other request is blocked and
listed at the end of the run. Screenshots go to ``test-artifacts/`` in the repository.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _chromium import require_chromium

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
TRACE_FILE = "trace.npz"
# no token or password, no news feed, update check or PyPI extension manager
LAB_FLAGS = (
    "--no-browser --allow-root --ServerApp.ip=127.0.0.1 --ServerApp.port_retries=0 "
    "--IdentityProvider.token= --ServerApp.password= --ServerApp.disable_check_xsrf=True "
    "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "
    "--LabApp.extension_manager=readonly"
).split()
VOILA_FLAGS = "--no-browser --Voila.ip=127.0.0.1 --Voila.port_retries=0 --show_tracebacks=True"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The trace the notebooks load: 2 layers x 4 heads, every step 0..40 a snapshot.
MODEL = dict(vocab_size=11, d_model=16, n_layers=2, n_heads=4, d_mlp=32, context_length=12)
STEPS = 40
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "file", "about"}

# test node id -> what its page did (blocked URLs and uncaught errors; printed in the summary)
PAGE_LOGS: dict[str, PageLog] = {}


def is_local(url: str) -> bool:
    """True for URLs that stay on this machine (loopback hosts, data:, blob:, file:)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname in LOCAL_HOSTS


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- servers ---------------------------------------------------------------------------------
@dataclass
class Server:
    """A Jupyter-family server started by a fixture; ``url`` ends without a slash."""

    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self, tail: int = 8000) -> str:
        """The last ``tail`` characters of the server's combined stdout/stderr."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"<no log: {error}>"
        return text[-tail:]

    def stop(self) -> None:
        """SIGTERM (the server shuts its kernels down), then SIGKILL its group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_S)


def _answered(url: str, need_ok: bool) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError as error:  # the server is up, the path is not a page
        return not need_ok and error.code < 500
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve(
    name: str, argv: list[str], root: Path, env: dict[str, str], port: int, any_answer: bool = False
) -> Iterator[Server]:
    """Run ``argv`` in ``root`` until the block ends; first wait (at most START_TIMEOUT_S) until
    ``/api/status`` answers 200, or with ``any_answer`` (Voila, whose only pages start a kernel)
    anything at all. If it never does, the error holds the server's log."""
    log_path = root.parent / f"{name}-{port}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a hung one can be killed whole
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        url, deadline = server.url + "/api/status", time.monotonic() + START_TIMEOUT_S
        while not _answered(url, need_ok=not any_answer):
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}); log:\n{server.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not answer {url} in {START_TIMEOUT_S:.0f} s; log:\n{server.log()}"
                )
            time.sleep(0.25)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def notebook_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary copy of ``notebooks/*.ipynb`` plus ``trace.npz``, a small trained trace."""

    import explain

    root = tmp_path_factory.mktemp("notebooks")
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        shutil.copy2(notebook, root / notebook.name)
    run = explain.train("reverse", explain.ModelConfig(**MODEL), explain.TrainConfig(steps=STEPS))
    run.trace.save(root / TRACE_FILE)
    return root


@pytest.fixture(scope="session")
def notebook_trace(notebook_root: Path) -> Any:
    """The trace the notebooks load, read back from the same file (expected values come from it)."""
    import explain

    return explain.load_trace(notebook_root / TRACE_FILE)


LAB_SETTINGS = {
    # attach every cell to the DOM, so an output below the fold is still rendered and readable
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # no news feed, no update check: nothing to fetch from outside
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for an isolated Jupyter server whose python3 kernel is this interpreter."""
    require_chromium()  # checked before any server starts: without a browser they serve nobody
    home = tmp_path_factory.mktemp("jupyter")
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "IPYTHONDIR": home / "ipython",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "lab-workspaces",
    }
    for path in dirs.values():
        path.mkdir(parents=True)
    kernel_dir = dirs["JUPYTER_DATA_DIR"] / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    kernelspec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (explain tests)",
        "language": "python",
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(kernelspec, indent=1))
    for name, settings in LAB_SETTINGS.items():
        path = dirs["JUPYTERLAB_SETTINGS_DIR"] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if k not in {"JUPYTER_PATH", "JUPYTER_TOKEN"}}
    env.update({name: str(path) for name, path in dirs.items()})
    pythonpath = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(pythonpath))
    env["JUPYTER_PREFER_ENV_PATH"] = "0"  # our data dir (and its kernelspec) before the venv's
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets debugpy's frozen-modules warning
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _tool(name: str) -> str:
    """The console script ``name`` beside this interpreter (the venv's), else on PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed next to {sys.executable}: pip install {name}")
    return found


@pytest.fixture(scope="session")
def lab_server(jupyter_env: dict[str, str], notebook_root: Path) -> Iterator[Server]:
    """JupyterLab serving ``notebook_root`` on 127.0.0.1, no token; stopped at session end."""
    port = free_port()
    argv = [
        _tool("jupyter-lab"),
        *LAB_FLAGS,
        f"--port={port}",
        f"--ServerApp.root_dir={notebook_root}",
    ]
    with serve("jupyterlab", argv, notebook_root, jupyter_env, port) as server:
        yield server


@pytest.fixture(scope="session")
def voila_server(jupyter_env: dict[str, str], notebook_root: Path) -> Iterator[Server]:
    """Voila serving ``dashboard.ipynb`` on 127.0.0.1 (each page load runs it in a new kernel)."""
    port = free_port()
    argv = [_tool("voila"), "dashboard.ipynb", *VOILA_FLAGS.split(), f"--port={port}"]
    with serve("voila", argv, notebook_root, jupyter_env, port, any_answer=True) as server:
        yield server


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

    def route(route: Any) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            page_log.blocked.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", route)

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
        PAGE_LOGS[request.node.nodeid] = page_log
        try:
            ARTIFACTS.mkdir(exist_ok=True)
            new_page.screenshot(
                path=str(ARTIFACTS / f"{request.node.name}-last.png"), timeout=10_000
            )
        except Exception as error:  # a screenshot is a diagnostic; never mask the test's result
            print(f"could not save the last screenshot: {error}")
        context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List what each page tried to fetch from outside this machine (all of it was blocked)
    and the uncaught script errors it raised."""
    if not PAGE_LOGS:
        return
    terminalreporter.section("browser: blocked non-local requests, uncaught page errors")
    for nodeid, log in PAGE_LOGS.items():
        blocked = ", ".join(sorted(set(log.blocked))) or "none"
        terminalreporter.write_line(f"{nodeid}\n  blocked: {blocked}")
        for error in dict.fromkeys(log.uncaught):
            terminalreporter.write_line(f"  page error: {error}")


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
