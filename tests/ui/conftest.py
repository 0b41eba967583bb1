"""Browser tests of the web console: `vectorgate serve` as a process, Debian's Chromium
driven by Playwright for Python (never a browser that Playwright downloads).

Screenshots go to ``$VECTORGATE_UI_ARTIFACTS`` (default: a fresh temporary directory)
and are listed at the end of the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import ServerProcess

CHROMIUM = os.environ.get("VECTORGATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MASTER_KEY = "sk-console-master-0123456789"

_SHOTS: list[Path] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _SHOTS:
        terminalreporter.write_sep("-", "console screenshots (test artifacts)")
        for path in _SHOTS:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    given = os.environ.get("VECTORGATE_UI_ARTIFACTS")
    path = Path(given) if given else Path(tempfile.mkdtemp(prefix="vectorgate-ui-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shoot(artifacts: Path, request: pytest.FixtureRequest) -> Any:
    """``shoot(page, "step")`` saves a full-page screenshot named after the test and step."""

    def take(page: Any, step: str) -> Path:
        path = artifacts / f"{request.node.name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        _SHOTS.append(path)
        return path

    return take


class Console:
    """A running `vectorgate serve` with a master key, and its HTTP API."""

    def __init__(self, proc: ServerProcess, data_dir: Path) -> None:
        self.proc = proc
        self.data_dir = data_dir
        self.base = f"http://127.0.0.1:{proc.http_port}"
        self.grpc_target = f"127.0.0.1:{proc.grpc_port}"

    def api(self, method: str, path: str, key: str = MASTER_KEY, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.request(method, self.base + path, headers=headers, timeout=60, **kw)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    proc = ServerProcess(
        ["serve", "--grpc-port", "0", "--http-port", "0", "--data-dir", str(data_dir)],
        env={"VECTORGATE_MASTER_KEY": MASTER_KEY},
    )
    try:
        proc.wait_ready()
        yield Console(proc, data_dir)
    finally:
        proc.terminate()
        proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one test module: Playwright's sync API runs an event loop in this
    thread while it is started, so it must stop before the suite's asyncio tests run."""
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh browser context (own session storage) on a 1280x900 viewport.

    Every request the page makes is recorded in ``page.requested`` and every console
    error (CSP violations included) in ``page.errors``.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=console.base)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.requested = []  # type: ignore[attr-defined]
    tab.errors = []  # type: ignore[attr-defined]
    tab.on("request", lambda r: tab.requested.append(r.url))  # type: ignore[attr-defined]
    tab.on(
        "console",
        lambda m: tab.errors.append(m.text) if m.type == "error" else None,  # type: ignore[attr-defined]
    )
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))  # type: ignore[attr-defined]
    try:
        yield tab
    finally:
        context.close()
