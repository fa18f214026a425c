"""Browser harness: Debian chromium driven by Playwright against a live Vigil."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import IN_CI, test_settings
from tests.factories import Factory

CHROMIUM = os.environ.get("VIGIL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for the session; skipped (failed in CI) when unavailable."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class LiveServer:
    """A real HTTP server on a free local port, serving one test's app."""

    def __init__(self, app) -> None:
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=False)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_app(sqlite_template, tmp_path):
    """A Vigil app on a fresh SQLite copy (browser tests exercise the UI, not the backend)."""
    target = tmp_path / "vigil.db"
    shutil.copy(sqlite_template, target)
    app = create_app(test_settings(f"sqlite:///{target}", tmp_path))
    yield app
    app.extensions["vigil.engine"].dispose()


@pytest.fixture
def live_server(live_app):
    with LiveServer(live_app) as server:
        yield server


@pytest.fixture
def live_factory(live_app) -> Factory:
    return Factory(live_app)


@pytest.fixture
def page(browser, tmp_path):
    """A fresh browser context per test; CSP violations and JS errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    tab.screenshot_dir = tmp_path
    yield tab
    context.close()
    assert problems == [], problems


def sign_in(page, server: LiveServer, factory: Factory, user) -> None:
    """Sign in through the real forms, typing like a person."""
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factory.password)
    page.click("button[type=submit]")
    if page.url.endswith("/login/mfa"):
        page.fill("input[name=code]", factory.fresh_code(user))
        page.click("button[type=submit]")
