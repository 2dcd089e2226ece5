"""Fixtures for tests in a real browser: Debian's Chromium driven by Playwright, against a
real JupyterLab server started from this virtualenv (tests/browser/setup installs Chromium).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.jupyter_servers import Server, jupyter

CHROMIUM = Path(os.environ.get("RV_CHROMIUM", "/usr/bin/chromium"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@contextmanager
def lab_server(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A JupyterLab server on loopback serving tmp_path/lab, with a token, a fresh
    workspace and no news toast; stopped when the block ends."""
    root = tmp_path / "lab"
    root.mkdir()
    args = ["--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # A fresh workspace and settings: Lab would otherwise restore the last test's
            # layout (scrolled away, another tab in front) from ~/.jupyter.
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}"]  # fmt: skip
    # No "get notified about Jupyter news?" toast over what the tests look at.
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    with jupyter("jupyterlab", root, tmp_path / "lab.log", args=args, env=env) as lab:
        yield lab


@pytest.fixture
def a_lab(tmp_path: Path) -> Iterator[Server]:
    """A JupyterLab server (lab_server) for one test."""
    with lab_server(tmp_path) as lab:
        yield lab


@pytest.fixture(scope="module")
def a_browser():  # type: ignore[no-untyped-def]
    """Headless Chromium (Debian's) under Playwright.

    Module-scoped: Playwright's sync API runs an event loop in this thread while it is
    open, and the async tests of other modules need the thread's loop to themselves.
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run tests/browser/setup (as root) first.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def a_page(a_browser):  # type: ignore[no-untyped-def]
    """A fresh page, big enough for Lab's notebook view."""
    context = a_browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test saves its screenshots: $RV_ARTIFACTS, else its tmp dir (never the
    checkout)."""
    where = Path(os.environ.get("RV_ARTIFACTS") or tmp_path / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    return where
