"""Debian's headless chromium, shared by every browser test (one Playwright per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless --no-sandbox --disable-gpu --disable-background-networking "
    "--disable-component-update --disable-sync --no-first-run --disable-quic "
    "--no-proxy-server"  # a proxy from the environment must not reroute 127.0.0.1
).split()


def require_chromium() -> None:
    """Skip without /usr/bin/chromium, but fail under CI=true: CI must run these tests."""
    if CHROMIUM.exists():
        return
    message = f"chromium not installed at {CHROMIUM}: apt-get install -y chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: the browser tests must run, not skip)")
    pytest.skip(message)
