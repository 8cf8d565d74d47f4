"""Debian's headless chromium, shared by every browser test (one Playwright per session)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


FILE_SCHEMES = ("file:", "data:", "about:", "blob:")  # what a page opened from disk may load


def block_others(context: Any, allowed: Callable[[str], bool], blocked: list[str]) -> None:
    """Route every request of the browser ``context``: an ``allowed`` URL goes on, any other is
    aborted and appended to ``blocked`` (tests assert on it: nothing may need a network)."""

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if allowed(url):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort("blockedbyclient")

    context.route("**/*", route)


# Page function: decode an image URL (a data: URL from a plotly heatmap) and read its pixels
# back through a canvas -> {width, height, pixels: [r, g, b, a, ...] row by row}.
READ_PIXELS = """async (href) => {
  const picture = new Image();
  picture.src = href;
  await picture.decode();
  const canvas = document.createElement("canvas");
  canvas.width = picture.naturalWidth;
  canvas.height = picture.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  return {width: canvas.width, height: canvas.height, pixels: Array.from(pixels)};
}"""
