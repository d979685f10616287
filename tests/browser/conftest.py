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
from pathlib import Path
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
    """The live server: its base URL, the time its seeded rows were counted back from, one API key per role
    and where its station files lie."""

    base: str
    seeded_at: datetime
    keys: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    database_url: str = ""

    def url(self, path: str, **params: str) -> str:
        """Absolute URL of ``path`` with extra query parameters (e.g. ``lang="zh"``)."""
        from urllib.parse import urlencode

        if not params:
            return self.base + path
        return self.base + path + ("&" if "?" in path else "?") + urlencode(params)


@pytest.fixture(scope="session")
def seeded(chromium_executable, tmp_path_factory) -> tuple[Path, object]:
    """A folder with the seeded database ``biodiv.db`` and its station files (``stations/``), made once and
    copied for each server; and what :func:`seed_site` returned."""
    folder = tmp_path_factory.mktemp("seeded")
    return folder, seed_site(f"sqlite:///{folder / 'biodiv.db'}", folder / "stations")


def _start(tmp_path_factory, seeded, name: str, **env: str) -> Iterator[Site]:
    import shutil

    template, made = seeded
    folder = tmp_path_factory.mktemp(name)
    shutil.copy(template / "biodiv.db", folder / "biodiv.db")
    shutil.copytree(template / "stations", folder / "stations")
    url = f"sqlite:///{folder / 'biodiv.db'}"
    with live_server(url, folder, stats_cache_s="0", **env) as base:
        yield Site(base, made.now, made.keys, folder, url)


@pytest.fixture(scope="session")
def site(seeded, tmp_path_factory) -> Iterator[Site]:
    """uvicorn on 127.0.0.1 (a free port) serving a temporary SQLite database seeded with
    ``tests.browser.site.SEED`` (stations, deployments, media files incl. people and vehicles, image and audio
    detections, camera events, reviewed and unreviewed rows, alerts, acoustic indices, one key per role).
    Tests on it only read: what they see is what the seed says."""
    yield from _start(tmp_path_factory, seeded, "browser-site")


@pytest.fixture(scope="session")
def scratch(seeded, tmp_path_factory) -> Iterator[Site]:
    """A second seeded server for the tests that change data (review, bulk confirm, upload), with tiny real
    model bundles (random weights) so uploads are classified. Its tests touch disjoint rows."""
    from tests.serve_helpers import make_bundle

    bundles = tmp_path_factory.mktemp("bundles")
    for modality in ("image", "audio"):
        make_bundle(bundles / modality, modality)
    yield from _start(tmp_path_factory, seeded, "browser-scratch", image_bundle=str(bundles / "image"),
                      audio_bundle=str(bundles / "audio"))


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


@pytest.fixture(scope="session")
def signed_in_state(browser, site) -> Callable[[str | None], dict | None]:
    """``signed_in_state(role)``: the cookies of a browser signed in on :func:`site` with the seeded key of
    ``role`` through the real ``/signin`` form (done once per role); None for the public."""
    states: dict[str, dict] = {}

    def get(role: str | None) -> dict | None:
        if role is None:
            return None
        if role not in states:
            context = browser.new_context()
            page = context.new_page()
            sign_in(page, site, role)
            states[role] = context.storage_state()
            context.close()
        return states[role]

    return get


@pytest.fixture()
def open_page(browser, site, signed_in_state) -> Iterator[Callable[..., tuple]]:
    """``open_page(locale="en-US", role=None)``: a new 1280x800 browser context and page, watched, signed in
    with ``role``'s key (on :func:`site`); returns ``(page, log)``. At the end of the test any request to
    another host, console error or page error fails it. ``base=`` watches another server (the scratch one)."""
    opened: list[tuple] = []

    def make(locale: str = "en-US", role: str | None = None, base: str | None = None, **context_args):
        state = signed_in_state(role) if base is None else None
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale, storage_state=state,
                                      **context_args)
        context.set_default_timeout(10_000)
        page = context.new_page()
        log = BrowserLog()
        _watch(context, page, base or site.base, log)
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
    """A watched page (English browser, 1280x800, the public); see :func:`open_page`."""
    return open_page()[0]


def sign_in(page, site: Site, role: str) -> None:
    """Sign ``page`` in on ``site`` with the seeded key of ``role`` through the ``/signin`` form (what a
    person does: paste the key, press the button); waits for the redirect back."""
    page.goto(site.url("/signin", lang="en"))
    page.fill("input[name=api_key]", site.keys[role])
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert "/signin" not in page.url, f"sign-in as {role} failed"
