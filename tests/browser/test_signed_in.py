"""What signed-in people do on the pages, in a real browser: sign in and out (the session cookie stays out of
reach of scripts), review an event with the keyboard, bulk-confirm, play the audio windows, upload files and
watch each one, and see what the public may not.

The tests that change data run on the ``scratch`` server (its own seeded database, tiny real models) and
touch disjoint rows; they read the outcome in the database as well as on the page.
"""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.browser.conftest import sign_in
from tests.browser.helpers import detection_rows, query
from tests.browser.media import corrupt_jpeg, jpeg, wav
from tests.browser.site import KEY_NAMES, SEED, event_ids

pytestmark = pytest.mark.browser


def _db(site) -> sqlite3.Connection:
    return sqlite3.connect(site.database_url.removeprefix("sqlite:///"))


def _review_of(site, media: str) -> tuple:
    """(classificationMethod, observationType, scientificName, reviews recorded) of ``media``'s detection."""
    with _db(site) as con:
        method, obs, name, det = con.execute(
            "SELECT classificationMethod, observationType, scientificName, detectionID FROM detections "
            "WHERE mediaID = ?", (media,)).fetchone()
        n = con.execute("SELECT count(*) FROM detection_reviews WHERE detectionID = ?", (det,)).fetchone()[0]
    return method, obs, name, n


# --- sign-in -----------------------------------------------------------------------------------------------

def test_sign_in_refuses_a_wrong_key_then_signs_in_and_out(open_page, site):
    page, log = open_page()
    page.goto(site.url("/review", lang="en"))  # a reviewer page sends the public to the sign-in form
    assert page.url.startswith(site.url("/signin")) and query(page.url)["next"].startswith("/review")
    page.fill("input[name=api_key]", "biodiv_notakey.0123456789")
    with page.expect_navigation() as nav:
        page.click("main form button[type=submit]")
    assert nav.value.status == 401
    page.wait_for_load_state("load")
    expected = [m for m in log.console_errors if "status of 401" in m and "/signin" in m]
    assert len(expected) == 1  # Chromium logs the refused form's 401 answer; nothing else may be logged
    log.console_errors.remove(expected[0])
    assert page.locator("p.error").inner_text() == "This key is unknown or revoked."
    assert "Sign in" in page.locator("header").inner_text()

    page.fill("input[name=api_key]", site.keys["reviewer"])
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert page.url.startswith(site.url("/review"))  # back where the visitor wanted to go
    header = page.locator("header").inner_text()
    assert f"Signed in as {KEY_NAMES['reviewer']} (reviewer)" in header
    assert "Review" in header and "Upload" in header
    cookie = next(c for c in page.context.cookies() if c["name"] == "biodiv_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "biodiv_session" not in page.evaluate("document.cookie")  # scripts cannot read the session

    with page.expect_navigation():
        page.click("header form button[type=submit]")  # sign out
    assert page.url.startswith(site.url("/"))
    assert "Signed in as" not in page.locator("header").inner_text()
    assert page.locator("header a", has_text="Sign in").count() == 1
    assert page.locator("header nav a", has_text="Review").count() == 0
    page.goto(site.url("/review", lang="en"))
    assert page.url.startswith(site.url("/signin"))


@pytest.mark.parametrize("role, allowed, refused", [("uploader", "/upload", "/review"),
                                                    ("admin", "/review", None)])
def test_each_role_sees_its_pages(open_page, site, role, allowed, refused):
    page, _ = open_page(role=role)
    page.goto(site.url(allowed, lang="zh"))
    assert page.url.startswith(site.url(allowed)) and KEY_NAMES[role] in page.locator("header").inner_text()
    if refused:
        page.goto(site.url(refused, lang="en"))
        assert page.url.startswith(site.url("/signin")) and query(page.url)["role"] == "reviewer"


# --- the public view and the reviewer's ---------------------------------------------------------------------

def test_people_are_hidden_from_the_public_and_shown_to_a_reviewer(open_page, site):
    person = "s1c-person"
    public, _ = open_page()
    public.goto(site.url("/detections", stationID="S1", observationType="human", lang="en"))
    assert detection_rows(public) == []
    thumb = site.url(f"/v1/media/{person}/thumbnail", size="160")
    assert public.request.get(thumb).status == 404
    assert public.request.get(site.url(f"/v1/media/{person}/file")).status == 404

    reviewer, _ = open_page(role="reviewer")
    reviewer.goto(site.url("/detections", stationID="S1", observationType="human", lang="en"))
    rows = detection_rows(reviewer)
    assert len(rows) == sum(1 for r in SEED.rows if r.station == "S1" and r.observation == "human") == 1
    assert reviewer.locator(f"img[src*='{person}']").count() >= 1
    response = reviewer.request.get(thumb)
    assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
    assert "people or vehicles are hidden" not in reviewer.locator("main").inner_text()


# --- image review with the keyboard ------------------------------------------------------------------------

def _signed_in(open_page, scratch, role="reviewer"):
    page, log = open_page(base=scratch.base)
    sign_in(page, scratch, role)
    return page


def _frame(page) -> int:
    return int(query(page.url).get("frame", "0"))


def test_keyboard_review_of_an_event(open_page, scratch):
    event = event_ids()[0]
    frames = [r.media for r in SEED.rows if r.event == event]
    assert len(frames) == 4 and all(_review_of(scratch, m)[3] == 0 for m in frames)
    page = _signed_in(open_page, scratch)
    page.goto(scratch.url(f"/review/event/{event}", lang="en"))
    assert page.locator(".filmstrip li").count() == 4

    with page.expect_navigation():
        page.keyboard.press("c")  # confirm frame 1, then the page shows frame 2
    assert _review_of(scratch, frames[0])[0::3] == ("human", 1)
    assert _frame(page) == 1
    assert "reviewed" in page.locator(".filmstrip li").nth(0).inner_text()

    with page.expect_navigation():
        page.keyboard.press("j")  # next frame, nothing reviewed
    assert _frame(page) == 2 and _review_of(scratch, frames[1])[3] == 0
    with page.expect_navigation():
        page.keyboard.press("k")
    assert _frame(page) == 1
    with page.expect_navigation():
        page.keyboard.press("j")

    with page.expect_navigation():
        page.keyboard.press("b")  # frame 3 is blank
    assert _review_of(scratch, frames[2])[1:] == ("blank", None, 1)
    assert _frame(page) == 3

    current = _review_of(scratch, frames[3])[2]
    quick = {}
    for button in page.locator("button[data-key][data-scope=frame]").all():
        digit = button.get_attribute("data-key")
        if digit.isdigit():
            quick[digit] = button.locator("xpath=..").locator("input[name=scientificName]").get_attribute("value")
    assert len(quick) >= 3, quick  # the event's top-K alternatives
    digit, name = next((d, n) for d, n in sorted(quick.items()) if n != current)
    page.keyboard.press("e")  # to the species box: keys are text there, not commands
    assert page.evaluate("document.activeElement.id") == "species-frame"
    page.keyboard.type("cbj1")
    page.wait_for_timeout(300)
    assert page.locator("#species-frame").input_value() == "cbj1" and _frame(page) == 3
    assert _review_of(scratch, frames[3])[3] == 0
    page.locator("#species-frame").fill("")
    page.evaluate("document.activeElement.blur()")
    with page.expect_navigation():
        page.keyboard.press(digit)  # a quick species other than the machine's label
    assert _review_of(scratch, frames[3])[2:] == (name, 1)


def test_shift_key_reviews_the_whole_event(open_page, scratch):
    event = event_ids()[1]
    frames = [r.media for r in SEED.rows if r.event == event]
    page = _signed_in(open_page, scratch)
    page.goto(scratch.url(f"/review/event/{event}", lang="zh"))
    with page.expect_navigation():
        page.keyboard.press("Shift+C")
    assert all(_review_of(scratch, m)[0::3] == ("human", 1) for m in frames)
    assert "/review/event/" in page.url and event not in page.url  # on to the next event


# --- bulk confirm ------------------------------------------------------------------------------------------

def test_bulk_confirm_counts_then_confirms_exactly_those(open_page, scratch):
    species, floor = "Cervus canadensis", 0.8
    chosen = [r.media for r in SEED.rows if r.name == species and not r.reviewed and r.prob >= floor]
    left = [r.media for r in SEED.rows if r.name == species and not r.reviewed and r.prob < floor]
    assert len(chosen) == 2 and len(left) == 1
    page = _signed_in(open_page, scratch)
    page.goto(scratch.url("/review", lang="en"))
    page.select_option("select[name=bulk_species]", species)
    page.fill("input[name=bulk_min_probability]", str(floor))
    page.click("section.bulk form button[type=submit]")  # htmx: the count comes into the page
    status = page.locator("#bulk-result p[role=status]")
    status.wait_for()
    assert status.inner_text().startswith("2 unreviewed detections of Wapiti (elk) with probability ≥ 0.8")
    assert all(_review_of(scratch, m)[3] == 0 for m in chosen)
    page.locator("#bulk-result button", has_text="Confirm all 2").click()
    page.locator("#bulk-result", has_text="Confirmed 2 detections").wait_for()
    assert all(_review_of(scratch, m)[0::3] == ("human", 1) for m in chosen)
    assert _review_of(scratch, left[0])[3] == 0
    page.click("section.bulk form button[type=submit]")  # counted again: nothing left
    page.locator("#bulk-result", has_text="Nothing to confirm.").wait_for()


# --- audio -------------------------------------------------------------------------------------------------

LOAD_JS = """async (index) => {
  const a = document.querySelectorAll('article.audio-item audio')[index];
  a.preload = 'metadata';
  await new Promise((ok, fail) => { a.addEventListener('loadedmetadata', ok, {once: true});
                                    a.addEventListener('error', () => fail(new Error('audio error')), {once: true});
                                    a.load(); });
  const d = a.duration;
  a.currentTime = Math.min(d - 0.5, 2.0);
  await new Promise(ok => a.addEventListener('seeked', ok, {once: true}));
  return {duration: d, time: a.currentTime, src: a.currentSrc};
}"""


def test_audio_windows_play_and_seek(open_page, site):
    page, _ = open_page(role="reviewer")
    clips: list[tuple[int, str | None]] = []
    page.on("response", lambda r: clips.append((r.status, r.request.headers.get("range")))
            if "/clip" in r.url else None)
    page.goto(site.url("/review/audio", species="Lithobates catesbeianus", lang="en"))
    first = page.locator("article.audio-item").first
    first.locator("img").wait_for()
    assert first.locator("img").evaluate("i => i.complete && i.naturalWidth > 0"), "no spectrogram"
    window = re.search(r"window ([0-9.]+)–([0-9.]+) s", first.locator("h2").inner_text(), re.I)
    start, end = float(window.group(1)), float(window.group(2))
    plain = page.evaluate(LOAD_JS, 0)
    assert abs(plain["duration"] - (end - start)) < 0.05, (plain, window)
    assert abs(plain["time"] - 2.0) < 0.1
    padded = page.evaluate(LOAD_JS, 1)
    assert abs(padded["duration"] - (min(end + 2, 8.0) - max(start - 2, 0.0))) < 0.05, padded
    assert clips and all(s in (200, 206) for s, _ in clips)
    assert any(s == 206 and rng for s, rng in clips), f"no Range request answered 206: {clips}"


def test_audio_review_through_htmx(open_page, scratch):
    species = "Anaxyrus americanus"
    page = _signed_in(open_page, scratch)
    page.goto(scratch.url("/review/audio", species=species, lang="en"))
    items = page.locator("article.audio-item")
    n = items.count()
    assert n == sum(1 for r in SEED.rows if r.name == species and not r.reviewed) == 3
    first_id = items.first.get_attribute("id").removeprefix("item-")
    items.first.locator("button", has_text="Confirm").click()
    page.locator(f"#item-{first_id} p.result").wait_for()
    assert page.locator(f"#item-{first_id} p.result").inner_text() == \
        f"Reviewed by {KEY_NAMES['reviewer']}: Confirm: American toad"
    second = items.nth(1)
    second_id = second.get_attribute("id").removeprefix("item-")
    second.locator("input[name=scientificName]").fill("not a species")
    second.locator("button", has_text="Correct").click()
    page.locator(f"#item-{second_id} p.error").wait_for()
    assert second.locator("input[name=scientificName]").input_value() == "not a species"
    with _db(scratch) as con:
        reviews = dict(con.execute("SELECT detectionID, count(*) FROM detection_reviews WHERE detectionID IN "
                                   "(?, ?) GROUP BY detectionID", (first_id, second_id)).fetchall())
    assert reviews == {first_id: 1}


# --- upload ------------------------------------------------------------------------------------------------

def _rows_done(page, n: int) -> list[dict]:
    page.wait_for_function(f"document.querySelectorAll('#results .result').length >= {n}", timeout=60_000)
    return page.eval_on_selector_all("#results > li", """lis => lis.map(li => ({
        name: li.querySelector('.fname').innerText, kind: li.querySelector('.result')?.dataset.kind,
        status: li.querySelector('.result')?.dataset.status, text: li.innerText,
        value: li.querySelector('progress').value, max: li.querySelector('progress').max}))""")


def test_upload_many_files_with_progress(open_page, scratch, tmp_path):
    good, call, broken = tmp_path / "boar.jpg", tmp_path / "frog call.wav", tmp_path / "broken.jpg"
    good.write_bytes(jpeg("upload-boar"))
    call.write_bytes(wav("upload-frog", duration_s=4.0))
    broken.write_bytes(corrupt_jpeg())
    page = _signed_in(open_page, scratch, "uploader")
    page.goto(scratch.url("/upload", lang="en"))
    page.select_option("select[name=deploymentID]", "S2-cam")
    page.set_input_files("input[type=file]", [str(good), str(call), str(broken)])
    rows = {r["name"]: r for r in _rows_done(page, 3)}
    assert set(rows) == {"boar.jpg", "frog call.wav", "broken.jpg"}
    assert rows["boar.jpg"]["kind"] == "stored" and rows["boar.jpg"]["status"] == "201"
    assert rows["frog call.wav"]["kind"] == "stored", rows["frog call.wav"]["text"]
    assert rows["broken.jpg"]["kind"] == "rejected" and rows["broken.jpg"]["status"] == "422"
    assert "corrupt" in rows["broken.jpg"]["text"], rows["broken.jpg"]["text"]
    assert all(r["value"] == r["max"] and r["max"] > 0 for r in rows.values()), "a bar stopped short of 100 %"
    assert "Probability" in rows["boar.jpg"]["text"]  # the stored image's detections are listed

    page.set_input_files("input[type=file]", [str(good)])  # the same file again
    again = _rows_done(page, 4)[-1]
    assert again["name"] == "boar.jpg" and again["kind"] == "duplicate" and again["status"] == "200"
    with _db(scratch) as con:
        assert con.execute("SELECT count(*) FROM media WHERE fileName = 'boar.jpg'").fetchone()[0] == 1
        assert con.execute("SELECT count(*) FROM media WHERE fileName = 'broken.jpg'").fetchone()[0] == 0
