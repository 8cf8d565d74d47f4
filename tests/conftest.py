"""Small shared fixtures for the model-side tests (torch is imported lazily, on first use)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _jupyter import jupyter_env, lab_server, notebook_root  # noqa: F401 (fixtures)

# Small enough to build in milliseconds, big enough to have 2 heads and 2 layers.
SMALL = dict(vocab_size=11, d_model=16, n_layers=2, n_heads=2, d_mlp=32, context_length=12)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; on a shared machine, more threads spin-wait
    (measured: a 40-step run takes 0.6 s on 1 thread, 11-17 s on 2 under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's headless chromium through Playwright (never a downloaded browser build).

    One for the whole session: Playwright's sync API allows a single running instance.
    """
    from _chromium import CHROMIUM, CHROMIUM_ARGS, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser(chromium: Any) -> Any:
    """The session's chromium, under the name the export and adapter tests use."""
    return chromium


@pytest.fixture
def make_model() -> Callable[..., Any]:
    """``make_model(**overrides)`` -> an eval-mode TinyTransformer built from SMALL.

    Its q/k/v weights are scaled up 10x: at initialisation attention is almost uniform, which
    would let a test that mixes up two patterns pass by accident.
    """
    import torch

    from explain.config import ModelConfig
    from explain.model import TinyTransformer

    def make(**overrides: Any) -> TinyTransformer:
        model = TinyTransformer(ModelConfig(**{**SMALL, **overrides})).eval()
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.rsplit(".", 2)[-2] in ("W_qkv", "W_q", "W_kv"):
                    param.mul_(10.0)
        return model

    return make


@pytest.fixture(scope="session")
def lectures(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The lecture notebooks, each run once for every test that reads it (tests/_lectures.py)."""
    from _lectures import Lectures

    return Lectures(tmp_path_factory)


# test node id -> what its page did: blocked URLs and uncaught errors (tests/browser/conftest.py
# sends them as a user property, so the summary lists them from any pytest-xdist worker)
PAGE_LOGS: dict[str, dict[str, list[str]]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        for key, value in report.user_properties:
            if key == "page_log":
                PAGE_LOGS[report.nodeid] = value


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List what each page tried to fetch from outside this machine (all of it was blocked)
    and the uncaught script errors it raised."""
    if not PAGE_LOGS:
        return
    terminalreporter.section("browser: blocked non-local requests, uncaught page errors")
    for nodeid, log in PAGE_LOGS.items():
        blocked = ", ".join(sorted(set(log["blocked"]))) or "none"
        terminalreporter.write_line(f"{nodeid}\n  blocked: {blocked}")
        for error in dict.fromkeys(log["uncaught"]):
            terminalreporter.write_line(f"  page error: {error}")
