"""What a visitor does on the pages, in a real browser: overview figures lead to their detections, the filters
and the next page change the rows, the language switch translates species names and keeps the filters, the
public view hides people and vehicles, the keyboard alone can filter, and /docs works offline."""

from __future__ import annotations

import pytest

from tests.browser.conftest import BrowserLog, _watch
from tests.browser.helpers import detection_rows, query, table_rows
from tests.browser.site import INVASIVE, SEED, overview_figures, species_counts

pytestmark = pytest.mark.browser
PAGE_SIZE = 50
EN_NAMES = {"Sus scrofa": "Wild boar", "Lithobates catesbeianus": "American bullfrog"}


def _all_pages(page) -> list[dict[str, str]]:
    """Rows of this and every following page (clicking "Next page" until there is none)."""
    rows = detection_rows(page)
    while page.locator("a", has_text="Next page").count():
        with page.expect_navigation():
            page.locator("a", has_text="Next page").click()
        rows += detection_rows(page)
    return rows


def test_overview_figures_match_the_seed_and_link_to_their_detections(page, site):
    page.goto(site.url("/", lang="en"))
    expected = overview_figures()
    rows = table_rows(page)
    assert [r[0] for r in rows] == [f"{SEED.stations[st]} {st}" for st in sorted(expected)]
    for row, st in zip(rows, sorted(expected), strict=True):
        e = expected[st]
        assert row[1:] == [str(e["total"]), str(e["week"]), str(e["species"]), str(e["alerts"]),
                           str(e["backlog"])], st

    with page.expect_navigation():
        page.locator("main table tr", has_text="S1").locator("a").first.click()  # S1's all-time total
    assert query(page.url)["stationID"] == "S1"
    assert page.locator("select[name=stationID]").input_value() == "S1"
    first = detection_rows(page)
    assert len(first) == PAGE_SIZE and {r["station"] for r in first} == {"S1"}

    page.go_back()
    with page.expect_navigation():
        page.locator("main table tr", has_text="S3").locator("a.invasive").click()  # S3's open alerts
    rows = detection_rows(page)
    assert len(rows) == expected["S3"]["alerts"] == 3
    assert {r["station"] for r in rows} == {"S3"} and all("invasive" in r["species"] for r in rows)
    assert all("Red swamp crayfish" in r["species"] for r in rows)


def test_filters_change_the_rows(page, site):
    page.goto(site.url("/detections", lang="en"))
    assert len(detection_rows(page)) == PAGE_SIZE
    public = SEED.public_rows()

    page.select_option("select[name=stationID]", "S2")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    rows = detection_rows(page)
    assert query(page.url)["stationID"] == "S2"
    assert len(rows) == sum(1 for r in public if r.station == "S2") == 10 and {r["station"] for r in rows} == {"S2"}

    page.fill("input[name=min_probability]", "0.8")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    rows = detection_rows(page)
    assert len(rows) == sum(1 for r in public if r.station == "S2" and r.prob >= 0.8) == 5
    assert all(float(r["probability"]) >= 0.8 for r in rows) and {r["station"] for r in rows} == {"S2"}

    page.select_option("select[name=stationID]", "")
    page.fill("input[name=min_probability]", "")
    page.fill("input[name=scientificName]", "sus scrofa")  # the API's match ignores case
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    rows = detection_rows(page)
    assert len(rows) == species_counts()["Sus scrofa"] == 21
    assert all(r["species"] == "Wild boar Sus scrofa" for r in rows)
    assert {r["station"] for r in rows} == {"S1", "S2"}
    assert rows[-1]["time"] == "time unknown"  # the untimed image sorts last

    page.goto(site.url("/detections", min_probability="x", lang="en"))  # a number field refuses "x"; a URL may not
    assert "min_probability" in page.locator("p.error").inner_text()


def test_next_page_continues_where_the_first_stopped(page, site):
    page.goto(site.url("/detections", stationID="S1", lang="en"))
    first = detection_rows(page)
    assert len(first) == PAGE_SIZE
    with page.expect_navigation():
        page.locator("a", has_text="Next page").click()
    assert query(page.url)["stationID"] == "S1" and query(page.url)["cursor"]
    second = detection_rows(page)
    assert len(second) == overview_figures()["S1"]["total"] - PAGE_SIZE == 14
    assert page.locator("a", has_text="Next page").count() == 0
    assert {r["station"] for r in second} == {"S1"}
    keys = [tuple(r.values()) for r in first + second]
    assert len(set(keys)) == len(keys), "a row shows on both pages"
    times = [r["time"] for r in first + second]
    assert times == sorted(times, reverse=True), "not newest first across the pages"


def test_language_switch_translates_names_and_keeps_the_filters(page, site):
    page.goto(site.url("/detections", stationID="S1", scientificName="Sus scrofa", lang="en"))
    en = detection_rows(page)
    assert en and all(r["species"].startswith("Wild boar") for r in en)
    with page.expect_navigation():
        page.locator("header a.lang").click()
    zh = detection_rows(page)
    assert len(zh) == len(en) == species_counts("S1")["Sus scrofa"]
    assert all(r["species"] == "野猪 Sus scrofa" for r in zh)
    assert page.locator("select[name=stationID]").input_value() == "S1"
    assert page.locator("input[name=scientificName]").input_value() == "Sus scrofa"
    assert page.locator("main form button[type=submit]").inner_text() == "筛选"
    page.goto(site.url("/detections", stationID="S1", lang="zh"))
    assert any(r["species"].startswith("牛蛙") and "入侵物种" in r["species"] for r in detection_rows(page))
    assert page.locator("a", has_text="下一页").count() == 1


def test_public_view_hides_people_and_vehicles(open_page, site):
    page, _ = open_page()
    media_requests: list[str] = []
    page.on("request", lambda r: media_requests.append(r.url) if "/v1/media" in r.url else None)
    page.goto(site.url("/detections", lang="en"))
    assert "people or vehicles are hidden" in page.locator("p.note").first.inner_text()
    rows = _all_pages(page)
    assert len(rows) == len(SEED.public_rows()) == 80
    assert not {r["observation"] for r in rows} & {"human", "vehicle"}
    assert not any("Homo sapiens" in r["species"] for r in rows)
    # the wild boar on the frame with a person is hidden too: S1's boars are the camera's 16 public ones
    assert sum(1 for r in rows if r["station"] == "S1" and "Sus scrofa" in r["species"]) == 16
    for kind in ("human", "vehicle"):
        page.goto(site.url("/detections", observationType=kind, lang="en"))
        assert table_rows(page) == [] and "No detections match." in page.locator("main table").inner_text()
    html = page.goto(site.url("/detections", stationID="S2", lang="en")).text()
    assert not any(m in html for m in SEED.private_media())
    assert not any(m in u for u in media_requests for m in SEED.private_media())
    page.goto(site.url("/", lang="en"))
    s2 = next(r for r in table_rows(page) if r[0].endswith("S2"))
    assert s2[1] == "10" and sum(1 for r in SEED.rows if r.station == "S2") == 12


def test_invasive_species_are_marked(page, site):
    page.goto(site.url("/detections", invasive="true", lang="en"))
    rows = _all_pages(page)
    assert len(rows) == sum(1 for r in SEED.public_rows() if r.name in INVASIVE) == 23
    assert all(r["species"].endswith("invasive") for r in rows)
    assert page.locator("span.invasive").count() > 0


def test_the_keyboard_alone_can_filter(page, site):
    page.goto(site.url("/detections", lang="en"))
    page.focus("select[name=stationID]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # "any", S1, S2
    assert page.locator("select[name=stationID]").input_value() == "S2"
    page.keyboard.press("Tab")  # the deployment, then the species field
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "scientificName"
    page.keyboard.type("Cervus canadensis")
    page.keyboard.press("Escape")  # closes the suggestions (datalist); Enter then submits the form
    with page.expect_navigation():
        page.keyboard.press("Enter")
    rows = detection_rows(page)
    assert query(page.url)["stationID"] == "S2"
    assert len(rows) == species_counts("S2")["Cervus canadensis"] == 4
    assert all(r["species"] == "Wapiti (elk) Cervus canadensis" for r in rows)


def test_docs_render_offline(open_page, site):
    page, log = open_page()
    served: list[str] = []
    page.on("response", lambda r: served.append(f"{r.status} {r.url}"))
    page.goto(site.url("/docs"))
    page.wait_for_selector(".swagger-ui .info .title")
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("biodiv-obs")
    page.wait_for_selector(".opblock")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.replace("\u200b", "") == "/v1/detections" for p in paths), paths[:5]
    assert len(paths) > 10
    page.wait_for_load_state("networkidle")
    assert f"200 {site.base}/openapi.json" in served
    assert not log.external, log.external


def test_the_watch_records_foreign_requests_and_errors(browser, site):
    """The harness itself: a request to another host is refused and recorded, a console error and an
    uncaught exception are recorded (so the ``open_page`` checks can fail)."""
    context = browser.new_context()
    page = context.new_page()
    log = BrowserLog()
    _watch(context, page, site.base, log)
    page.goto(site.url("/", lang="en"))
    page.evaluate("""() => { const s = document.createElement('img'); s.src = 'https://cdn.example.org/x.png';
                             document.body.append(s); console.error('boom');
                             setTimeout(() => { throw new Error('bang') }); }""")
    page.wait_for_timeout(500)
    context.close()
    assert log.external == ["https://cdn.example.org/x.png"]
    assert any(m.startswith("boom") for m in log.console_errors)
    assert any("bang" in m for m in log.page_errors)
