"""Checks every page of ``tests.browser.site.PAGES`` gets: it renders in both languages, the switch leads to the
other language with the same filters, ``Accept-Language`` picks the language, Tab reaches the main controls
with a visible focus, nothing overflows at 1280 px, and (the ``open_page`` fixture) no console error and no
request to another host."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.helpers import focus_is_visible, query, tab_through
from tests.browser.site import KEY_NAMES, LANGS, PAGES

pytestmark = pytest.mark.browser
HTML_LANG = {"en": "en", "zh": "zh-CN"}
HEADER = ("header a[href^='/?']", "header a[href^='/detections']", "header a.lang")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("p", PAGES, ids=[p.name for p in PAGES])
def test_page_renders_and_switches_language(open_page, site, p, lang):
    page, log = open_page(role=p.role)
    response = page.goto(site.url(p.path, lang=lang))
    assert response.status == 200 and urlsplit(page.url).path == urlsplit(p.path).path, page.url
    page.wait_for_load_state("networkidle")
    if p.role:
        assert f"Signed in as {KEY_NAMES[p.role]}" in page.locator("header").inner_text() or lang == "zh"
    assert page.locator("html").get_attribute("lang") == HTML_LANG[lang]
    assert page.locator("h1").inner_text() == p.heading[lang]
    assert page.title().endswith({"en": "biodiv-obs observatory", "zh": "生物多样性观测站"}[lang]), page.title()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, "the page overflows 1280 px"
    text = page.locator("body").inner_text()
    for leak in ("built-in method", " object at 0x", "Traceback", "{{", "{%", "undefined"):
        assert leak not in text, f"template leak {leak!r} on the page"  # e.g. t.clear is dict.clear in Jinja
    if os.environ.get("BIODIV_BROWSER_ARTIFACTS"):  # CI keeps them to look at a failure
        shot = page.screenshot(full_page=True)
        assert _png_size(shot)[0] == 1280
        out = Path(os.environ["BIODIV_BROWSER_ARTIFACTS"])
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{p.name}-{lang}.png").write_bytes(shot)

    before = query(page.url)
    with page.expect_navigation():
        page.locator("header a.lang").click()
    page.wait_for_load_state("load")
    other = "zh" if lang == "en" else "en"
    assert page.locator("html").get_attribute("lang") == HTML_LANG[other]
    assert page.locator("h1").inner_text() == p.heading[other]
    assert urlsplit(page.url).path == urlsplit(p.path).path
    after = query(page.url)
    assert after.pop("lang") == other and before.pop("lang") == lang
    assert after == before, "the language switch dropped or changed the filters"
    assert not log.problems()


@pytest.mark.parametrize("p", PAGES, ids=[p.name for p in PAGES])
def test_accept_language_picks_the_language(open_page, site, p):
    for locale, lang in (("zh-CN", "zh"), ("en-GB", "en"), ("fr-FR", "en")):
        page, _ = open_page(locale=locale, role=p.role)
        page.goto(site.url(p.path), wait_until="domcontentloaded")
        assert page.locator("html").get_attribute("lang") == HTML_LANG[lang], locale
        assert page.locator("h1").inner_text() == p.heading[lang], locale
    page, _ = open_page(locale="zh-CN", role=p.role)
    page.goto(site.url(p.path, lang="en"), wait_until="domcontentloaded")  # ?lang= wins over the browser's language
    assert page.locator("h1").inner_text() == p.heading["en"]


@pytest.mark.parametrize("p", PAGES, ids=[p.name for p in PAGES])
def test_keyboard_reaches_the_controls_with_a_visible_focus(open_page, site, p):
    page, _ = open_page(role=p.role)
    page.goto(site.url(p.path, lang="en"))
    wanted = list(HEADER) + list(p.controls)
    reached, seen = tab_through(page, wanted)
    assert reached == set(wanted), f"Tab never reached {sorted(set(wanted) - reached)}"
    hidden = [s for s in seen if not focus_is_visible(s)]
    assert not hidden, f"focus not visible on {hidden}"
