"""Fixtures of the real-browser tests: a live seeded server, a session-scoped headless Chromium (Playwright,
Debian's ``/usr/bin/chromium``: ``playwright install`` is never needed) and pages that fail the test on any
console error, uncaught page error or request to a host other than the server.

A missing Chromium (or Playwright) skips these tests with the reason, unless ``BIODIV_REQUIRE_BROWSER=1``
(CI sets it), which makes it a failure. ``BIODIV_CHROMIUM`` names another Chromium binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import pytest

from tests.browser.site import CHROMIUM_ARGS, chromium_path, live_server, seed_site


def _missing(reason: str):
    if os.environ.get("BIODIV_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BIODIV_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser tests: {reason} (apt-get install chromium, pip install playwright; "
                "or set BIODIV_CHROMIUM)")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Path of the Chromium binary; skips (or fails under ``BIODIV_REQUIRE_BROWSER=1``) when there is none."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the Python package playwright is not installed")
    path = chromium_path()
    if path is None:
        _missing(f"no Chromium at {os.environ.get('BIODIV_CHROMIUM', '/usr/bin/chromium')}")
    return path


@dataclass(frozen=True)
class Site:
    """The live server: its base URL and the time its seeded rows were counted back from."""

    base: str
    seeded_at: datetime

    def url(self, path: str, **params: str) -> str:
        """Absolute URL of ``path`` with extra query parameters (e.g. ``lang="zh"``)."""
        from urllib.parse import urlencode

        if not params:
            return self.base + path
        return self.base + path + ("&" if "?" in path else "?") + urlencode(params)


@pytest.fixture(scope="session")
def site(chromium_executable, tmp_path_factory) -> Iterator[Site]:
    """uvicorn on 127.0.0.1 (a free port) serving a temporary SQLite database seeded with
    ``tests.browser.site.SEED`` (stations, deployments, media incl. people and vehicles, image and audio
    detections, reviewed and unreviewed rows, invasive-species alerts)."""
    folder = tmp_path_factory.mktemp("browser-site")
    url = f"sqlite:///{folder / 'biodiv.db'}"
    seeded_at = seed_site(url)
    with live_server(url, folder / "media", stats_cache_s="0") as base:
        yield Site(base, seeded_at)


@pytest.fixture(scope="session")
def browser(chromium_executable):
    """One headless Chromium for the session (a fresh temporary profile, no calls home)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class BrowserLog:
    """What a page did that a test must not tolerate, recorded as it happens."""

    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every recorded problem, one line each (empty: clean)."""
        return ([f"request to another host: {u}" for u in self.external]
                + [f"console error: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors])


def _watch(context, page, base: str, log: BrowserLog) -> None:
    server = urlsplit(base).netloc

    def foreign(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme not in ("data", "blob", "about") and parts.netloc != server

    def refuse(route) -> None:  # recorded and aborted: a test never waits on the network
        log.external.append(route.request.url)
        route.abort()

    context.route(foreign, refuse)
    page.on("console", lambda msg: log.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))


@pytest.fixture()
def open_page(browser, site) -> Iterator[Callable[..., tuple]]:
    """``open_page(locale="en-US")``: a new 1280x800 browser context and page, watched; returns
    ``(page, log)``. At the end of the test any request to another host, console error or page error
    fails it."""
    opened: list[tuple] = []

    def make(locale: str = "en-US", **context_args):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale, **context_args)
        context.set_default_timeout(10_000)
        page = context.new_page()
        log = BrowserLog()
        _watch(context, page, site.base, log)
        opened.append((context, log))
        return page, log

    yield make
    problems = [p for _, log in opened for p in log.problems()]
    for context, _ in opened:
        context.close()
    if problems:
        pytest.fail("the page misbehaved:\n" + "\n".join(problems))


@pytest.fixture()
def page(open_page):
    """A watched page (English browser, 1280x800); see :func:`open_page`."""
    return open_page()[0]


# Sign-in with an API key is being built separately; when it lands, add a ``sign_in(page, key)`` helper here
# and test the reviewer's view (people and vehicles shown) next to the public one in test_privacy.py.
