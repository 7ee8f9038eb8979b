"""A real uvicorn server on a free port (in a thread) and Debian's Chromium via Playwright."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("DFEW_CHROMIUM", "/usr/bin/chromium"))
# Screenshots of every page state, for a person to look at (not committed).
SHOTS = Path(os.environ.get("DFEW_SHOTS", Path(tempfile.gettempdir()) / "dfew-shots"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """uvicorn serving an app in a background thread; `log` holds the access-log lines."""

    def __init__(self, app):
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[str] = []
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="info",
                                access_log=True, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.handler = _ListHandler(self.log)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        # uvicorn configures its loggers at start-up; listen afterwards.
        logging.getLogger("uvicorn.access").addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        logging.getLogger("uvicorn.access").removeHandler(self.handler)
        self.server.should_exit = True
        self.thread.join(timeout=10)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        message = (f"browser tests need Chromium at {CHROMIUM}; install it with "
                   "`bash .ci/install-browser.sh`")
        # CI installs it and sets DFEW_TEST_REQUIRE_BROWSER, so there a missing browser fails
        # instead of silently skipping the web form's only end-to-end check.
        if os.environ.get("DFEW_TEST_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def _require(message: str):
    """Skip locally, fail in CI (DFEW_TEST_REQUIRE_BROWSER) where the tool must be there."""
    if os.environ.get("DFEW_TEST_REQUIRE_BROWSER"):
        pytest.fail(message)
    pytest.skip(message)


AXE_CANDIDATES = (os.environ.get("DFEW_AXE_JS", ""),
                  str(Path.home() / ".cache/dfew-build/axe-core/node_modules/axe-core/axe.min.js"))


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's source (installed from npm by .ci/install-browser.sh, outside the repo)."""
    for candidate in AXE_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(encoding="utf-8")
    _require("the accessibility scan needs axe-core; install it with "
             "`bash .ci/install-browser.sh` (npm install axe-core@4) or set DFEW_AXE_JS")


@pytest.fixture
def new_page(chromium):
    contexts = []

    def make(**options):
        """A page in a new context; options go to new_context (viewport, has_touch,
        java_script_enabled, ...)."""
        context = chromium.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
