"""JupyterLab for the tests: an isolated server on 127.0.0.1 whose kernel is this interpreter.

Servers run with their own Jupyter config, data, runtime and IPython dirs (so nothing of the
user's setup leaks in), no token, and a kernelspec that runs this interpreter with the repository
on PYTHONPATH. The notebooks under ``tests/browser/notebooks/`` are copied to a temporary root next
to a small trace trained here (``trace.npz``), so a test reads its expected numbers from the very
file the kernel shows. The fixtures are registered by tests/conftest.py: the browser tests and the
lecture notebooks' run (tests/_lectures.py) share one server.
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
from dataclasses import dataclass
from pathlib import Path

import pytest
from _chromium import require_chromium

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "tests" / "browser" / "notebooks"
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


def shut_down_kernels(server: Server) -> int:
    """Shut down every kernel ``server`` runs; returns how many. A notebook's kernel outlives
    its closed page (as in a teacher's Lab): left running, the suite's kernels held ~450 MB each
    and kept the 2 cores busy with their views' timers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    with opener.open(f"{server.url}/api/kernels", timeout=10) as response:
        kernels = json.load(response)
    for kernel in kernels:
        url = f"{server.url}/api/kernels/{kernel['id']}"
        opener.open(urllib.request.Request(url, method="DELETE"), timeout=60).close()
    return len(kernels)


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


LAB_SETTINGS = {
    # attach every cell to the DOM, so an output below the fold is still rendered and readable
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "recordTiming": True,  # each cell's start and end in its metadata, as nbclient records
    },
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
        # one torch thread: the models are tiny, and on a busy 2-core machine (the page draws
        # while the kernel trains) more threads wait on each other rather than help
        "env": {"OMP_NUM_THREADS": "1"},
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
