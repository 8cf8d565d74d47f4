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


# Test files that take longest, longest first, by the seconds they took in one full run (2 cores,
# 2026-12-07, --durations). pytest-xdist hands each worker whole files (--dist loadfile) in
# collection order (--no-loadscope-reorder: by default it sends the files with most tests first,
# which put every lecture, four tests each, at the end: one worker ran the last lectures alone).
# Longest first lets the short files fill in behind; the order changes nothing else. Not the
# playback tests (130 s): they time a play against clicks, and beside the lectures' start they
# failed once in three full runs (the play ran to its end before the pause landed).
LONGEST_FIRST = [
    "browser/test_layout.py",  # 370 s
    "test_notebook_html.py",  # 184 s
    "browser/test_lab.py",  # 184 s
    "test_notebook_10.py",  # 144 s
    "test_notebook_03.py",  # 118 s
    "test_notebook_11.py",  # 111 s
    "test_cli.py",  # 97 s
    "test_notebook_08.py",  # 96 s
    "browser/test_static_pictures.py",  # 96 s
    "test_notebook_05.py",  # 94 s
    "test_notebook_09.py",  # 94 s
    "test_analysis_heads.py",  # 85 s
    "test_memory_cap.py",  # 75 s
    "test_notebook_02.py",  # 74 s
    "test_notebook_07.py",  # 69 s
    "test_lab_patching.py",  # 66 s
    "test_handout.py",  # 66 s
    "test_notebook_04.py",  # 64 s
    "test_one_figure_presentation.py",  # 60 s
    "test_notebook_01.py",  # 57 s
    "test_token_loss.py",  # 56 s
    "browser/test_voila.py",  # 55 s
    "test_notebook_06.py",  # 54 s
    "test_notebook_12.py",  # 50 s
    "test_static.py",  # 54 s
    "test_determinism.py",  # 53 s
    "browser/test_notebook7.py",  # 50 s
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first, in that order; every other file after, as collected."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}

    def place(item: pytest.Item) -> int:
        relative = item.nodeid.split("::", 1)[0].removeprefix("tests/")
        return rank.get(relative, len(rank))

    items.sort(key=place)  # stable: tests keep their order inside a file


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
