"""A real ``chromalab serve`` on 127.0.0.1 and a real browser, for the tests that meet the web app as a user
does: the installed command in its own process, and Debian's chromium driven by Playwright (never a
downloaded browser)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CHROMALAB

CHROMIUM = Path("/usr/bin/chromium")
# this machine's network is closed: ask for nothing
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(*args: str, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``chromalab serve --port P ARGS`` in its own process, once /api/health answers: (url, process); its
    output goes to ``log``. Stopped (terminated) at the end if it still runs."""
    if not CHROMALAB.is_file():
        pytest.skip(f"console script not installed at {CHROMALAB}")
    port = free_port()
    with open(log, "w") as output:
        process = subprocess.Popen(
            [str(CHROMALAB), "serve", "--port", str(port), *args], stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as answer:
                assert json.load(answer)["status"] == "ok"
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the server did not start: {log.read_text()}")
            time.sleep(0.2)
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def watch(page, problems: list[str]) -> None:  # page: playwright.sync_api.Page
    """Collect the page's console errors, uncaught exceptions and failed requests into ``problems``."""
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"{request.url}: {request.failure}"))
