"""The alerts desk (/alerts) and the upload page (/upload): signed in through /signin, the workflow recorded
with who and when, one-click review through review_detection, uploads taking the very path of POST /v1/media."""

from __future__ import annotations

import html
import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models.media.hashing import media_id, sha256_bytes
from models.store.alerts import record_alerts
from models.store.db import Alert, Detection, Job, Media
from models.store.keys import create_key
from serve.app import create_app
from tests.serve_helpers import csrf_of as _csrf
from tests.serve_helpers import jpeg_bytes, jpeg_with_exif_time, seed_database, sign_in, wav_bytes


@pytest.fixture()
def desk(settings, db):
    """A started app on the seeded database with the invasive detections' alerts recorded (d1 image, d2 audio)."""
    ids = seed_database(settings.database_url)
    record_alerts(db)
    db.commit()
    with TestClient(create_app(settings)) as c:
        yield c, db, ids



def _alert(db, detection_id: str) -> Alert:
    db.expire_all()
    return db.scalars(select(Alert).where(Alert.detectionID == detection_id)).one()


def _section(html: str, name: str) -> str:
    """The HTML of one section of the alerts page."""
    m = re.search(rf'<section class="alerts" id="sec-{name}".*?</section>', html, flags=re.S)
    return m.group(0)


def _counts(db) -> tuple[int, int]:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Media)), db.scalar(select(func.count()).select_from(Detection))


# --- alerts ---------------------------------------------------------------------------------------------------


def test_alerts_page_lists_open_alerts_with_their_evidence(desk):
    c, db, ids = desk
    sign_in(c, db, "reviewer", "Li Wei")
    r = c.get("/alerts?lang=en")
    assert r.status_code == 200
    machine = _section(r.text, "machine")
    image, audio = _alert(db, ids["d1"]), _alert(db, ids["d2"])
    assert f'id="alert-{image.alertID}"' in machine and f'id="alert-{audio.alertID}"' in machine
    assert 'src="/v1/media/m1/thumbnail?size=320"' in machine  # the image's evidence
    assert f'src="/v1/detections/{ids["d2"]}/spectrogram"' in machine  # the recording's
    assert f'src="/v1/detections/{ids["d2"]}/clip?pad_s=2"' in machine
    assert "American bullfrog" in machine and "牛蛙" in machine and "Lithobates catesbeianus" in machine
    assert "91 %" in machine and "55 %" in machine  # how sure the model was
    assert "S1 · Wetland" in machine and "S1-cam" in machine and "2024-05-01T08:00:00+08:00" in machine
    assert "No alerts here." in _section(r.text, "confirmed") and "No alerts here." in _section(r.text, "withdrawn")
    assert f'action="/alerts/{image.alertID}/acknowledge"' in machine
    zh = c.get("/alerts?lang=zh").text
    assert "入侵物种警报" in zh and "牛蛙 <span class=\"other\">American bullfrog</span>" in zh


def test_acknowledge_then_resolve_are_recorded_and_invalid_steps_refused(desk):
    c, db, ids = desk
    csrf = sign_in(c, db, "reviewer", "Li Wei")
    alert_id = _alert(db, ids["d1"]).alertID
    r = c.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 409 and "is open; resolve needs an alert that is acknowledged" in r.text
    assert _alert(db, ids["d1"]).status == "open"
    assert c.post(f"/alerts/{alert_id}/acknowledge", data={}, follow_redirects=False).status_code == 403  # no token
    assert _alert(db, ids["d1"]).status == "open"
    r = c.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf, "lang": "en"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"#alert-{alert_id}")
    a = _alert(db, ids["d1"])
    assert (a.status, a.acknowledgedBy, a.resolved) == ("acknowledged", "Li Wei", None)
    assert abs((a.acknowledged - a.created).total_seconds()) < 120
    again = c.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.status_code == 409
    page = c.get(r.headers["location"]).text
    assert "Alert acknowledged." in page and "acknowledged: Li Wei" in page
    assert c.post(f"/alerts/{alert_id}/resolve", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    a = _alert(db, ids["d1"])
    assert (a.status, a.acknowledgedBy, a.resolvedBy) == ("resolved", "Li Wei", "Li Wei")
    assert a.resolved >= a.acknowledged
    assert f'id="alert-{alert_id}"' in _section(c.get("/alerts").text, "resolved")
    # the JSON API shows the same states
    items = {i["alertID"]: i for i in c.get("/v1/alerts").json()["items"]}
    assert (items[alert_id]["status"], items[alert_id]["acknowledgedBy"], items[alert_id]["resolvedBy"]) == (
        "resolved", "Li Wei", "Li Wei")
    assert items[alert_id]["resolved"].endswith("Z")
    assert c.post("/alerts/999999/acknowledge", data={"csrf_token": csrf}, follow_redirects=False).status_code == 404


def test_json_workflow_steps_need_a_reviewer_key(desk):
    c, db, ids = desk
    alert_id = _alert(db, ids["d2"]).alertID
    uploader = {"X-API-Key": create_key(db, "uploader", "crew").token}
    reviewer = {"X-API-Key": create_key(db, "reviewer", "Wang Fang").token}
    assert c.post(f"/v1/alerts/{alert_id}/acknowledge").status_code == 401
    assert c.post(f"/v1/alerts/{alert_id}/acknowledge", headers=uploader).status_code == 403
    assert c.post(f"/v1/alerts/{alert_id}/resolve", headers=reviewer).status_code == 409
    r = c.post(f"/v1/alerts/{alert_id}/acknowledge", headers=reviewer)
    assert r.status_code == 200 and (r.json()["status"], r.json()["acknowledgedBy"]) == ("acknowledged", "Wang Fang")


def test_one_click_not_this_species_withdraws_and_confirm_moves_to_confirmed(desk):
    c, db, ids = desk
    csrf = sign_in(c, db, "reviewer", "Li Wei")
    image, audio = _alert(db, ids["d1"]).alertID, _alert(db, ids["d2"]).alertID
    r = c.post(f"/alerts/{image}/review", data={"csrf_token": csrf, "action": "correct", "correct_to": "unknown"},
               follow_redirects=False)
    assert r.status_code == 303
    db.expire_all()
    det = db.get(Detection, ids["d1"])
    assert (det.observationType, det.scientificName, det.isInvasive, det.classificationMethod, det.classifiedBy) == (
        "unknown", None, False, "human", "Li Wei")
    a = _alert(db, ids["d1"])
    assert a.status == "withdrawn" and a.withdrawn is not None and "Li Wei" in a.withdrawnReason
    r = c.post(f"/alerts/{audio}/review", data={"csrf_token": csrf, "action": "confirm"}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get("/alerts").text
    assert f'id="alert-{image}"' in _section(page, "withdrawn") and f'id="alert-{audio}"' in _section(page, "confirmed")
    assert _alert(db, ids["d2"]).status == "open" and db.get(Detection, ids["d2"]).classificationMethod == "human"
    bad = c.post(f"/alerts/{audio}/review", data={"csrf_token": csrf, "action": "correct", "correct_to": "Nope nope"},
                 follow_redirects=False)
    assert bad.status_code == 422 and "not in the species catalogue" in bad.text
    assert db.get(Detection, ids["d2"]).scientificName == "Lithobates catesbeianus"  # nothing half-written


def test_uploader_cannot_see_alerts_and_the_public_is_sent_to_sign_in(desk):
    c, db, ids = desk
    r = c.get("/upload", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=%2Fupload")
    assert c.get("/alerts", follow_redirects=False).headers["location"].startswith("/signin?next=%2Falerts")
    csrf = sign_in(c, db, "uploader", "Station crew")
    assert c.get("/upload").status_code == 200
    r = c.get("/alerts", follow_redirects=False)
    assert r.status_code == 303 and "role=reviewer" in r.headers["location"]
    alert_id = _alert(db, ids["d1"]).alertID
    assert c.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": csrf}).status_code == 403
    assert _alert(db, ids["d1"]).status == "open"
    assert 'href="/alerts' not in c.get("/upload").text  # not in the navigation either


# --- upload ---------------------------------------------------------------------------------------------------


def _page_upload(c: TestClient, csrf: str | None, data: bytes, name: str = "IMG_0001.JPG",
                 deployment: str = "S1-cam"):
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    return c.post("/upload/file", files={"file": (name, data, "application/octet-stream")},
                  data={"deploymentID": deployment, "lang": "en"}, headers=headers)


def test_upload_page_offers_the_deployments_and_a_keyboard_file_input(desk):
    c, db, _ = desk
    sign_in(c, db, "uploader", "Station crew")
    page = c.get("/upload?lang=en").text
    assert [m for m in re.findall(r'<option value="([^"]*)"', page)] == ["", "S1-cam", "S1-rec", "S2-cam"]
    assert '<input type="file" id="files" name="file" multiple' in page and '<label for="files">' in page
    assert "upload.onprogress" in page and "LIMIT = 2" in page and "X-CSRF-Token" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another host


def test_page_upload_stores_exactly_what_the_api_stores_and_reports_duplicates(desk, settings):
    c, db, _ = desk
    csrf = sign_in(c, db, "uploader", "Station crew")
    data = jpeg_with_exif_time("2024:05:01 08:00:00", seed=3)
    r = _page_upload(c, csrf, data)
    assert r.status_code == 200 and r.headers["X-Upload-Status"] == "201", r.text
    mid = media_id(sha256_bytes(data))
    assert 'data-kind="stored"' in r.text and mid in r.text and "2024-05-01T08:00:00+08:00" in r.text
    row = db.get(Media, mid)
    assert (row.origin, row.deploymentID, row.stationID, row.fileName) == ("upload", "S1-cam", "S1", "IMG_0001.JPG")
    dets = db.scalars(select(Detection).where(Detection.mediaID == mid)).all()
    assert len(dets) == 1 and dets[0].classificationProbability > 0
    # the API sees the page's upload as its own: the same media row and detections, a duplicate
    api = c.post("/v1/media", files={"file": ("x.jpg", data, "image/jpeg")}, data={"deploymentID": "S2-cam"},
                 headers={"X-API-Key": create_key(db, "uploader", "api").token})
    assert api.status_code == 200 and api.json()["duplicate"] is True
    assert api.json()["media"]["mediaID"] == mid and api.json()["media"]["deploymentID"] == "S1-cam"
    assert [d["detectionID"] for d in api.json()["detections"]] == [dets[0].detectionID]
    # and the other way round: bytes the API stored come back as a duplicate linking to the existing media
    other = jpeg_bytes(11)
    first = c.post("/v1/media", files={"file": ("y.jpg", other, "image/jpeg")}, data={"deploymentID": "S1-cam"},
                   headers={"X-API-Key": create_key(db, "uploader", "api2").token}).json()
    again = _page_upload(c, csrf, other, "copy.jpg", "S2-cam")
    assert again.headers["X-Upload-Status"] == "200" and 'data-kind="duplicate"' in again.text
    assert f'href="/v1/media/{first["media"]["mediaID"]}/file"' in again.text
    assert first["detections"][0]["classificationSource"] in again.text
    assert _counts(db) == (6, 7)  # 4 seeded media + 2 uploads; 5 seeded detections + 2


def test_page_upload_refusals_carry_the_api_reasons_and_store_nothing(desk, settings):
    c, db, _ = desk
    csrf = sign_in(c, db, "uploader", "Station crew")
    api = {"X-API-Key": create_key(db, "uploader", "api").token}
    cases = [(jpeg_bytes(5)[:300], "S1-cam", "422", "corrupt"), (b"just some text", "S1-cam", "415",
                                                                   "unsupported_format"),
             (jpeg_bytes(6), "no-such-deployment", "422", "unknown_deployment")]
    for data, deployment, status, reason in cases:
        r = _page_upload(c, csrf, data, "bad.jpg", deployment)
        assert r.headers["X-Upload-Status"] == status and 'data-kind="rejected"' in r.text
        ref = c.post("/v1/media", files={"file": ("bad.jpg", data, "image/jpeg")}, data={"deploymentID": deployment},
                     headers=api)
        assert str(ref.status_code) == status and ref.json()["detail"]["reason"] == reason
        assert f"<code>{reason}</code>: {ref.json()['detail']['message']}" in html.unescape(r.text)
    assert _counts(db) == (4, 5)
    assert not settings.media_root.exists() or not [p for p in settings.media_root.rglob("*") if p.is_file()]


def test_page_upload_without_csrf_token_is_403_and_stores_nothing(desk, settings):
    c, db, _ = desk
    sign_in(c, db, "uploader", "Station crew")
    r = _page_upload(c, None, jpeg_bytes(7))
    assert r.status_code == 403 and r.json()["detail"]["reason"] == "csrf_failed"
    r = _page_upload(c, "forged-token", jpeg_bytes(7))
    assert r.status_code == 403
    assert _counts(db) == (4, 5)
    c.post("/signout", data={"csrf_token": _csrf(c.get("/").text)})
    public = _page_upload(c, _csrf(c.get("/signin").text), jpeg_bytes(7))  # a valid token but no uploader role
    assert public.status_code == 403 and _counts(db) == (4, 5)


def test_long_recording_becomes_a_job_that_the_page_follows_until_its_detections(settings, db):
    seed_database(settings.database_url)
    with TestClient(create_app(settings.model_copy(update={"background_audio_s": 1.0}))) as c:
        csrf = sign_in(c, db, "uploader", "Station crew")
        r = _page_upload(c, csrf, wav_bytes(2.5), "long.wav", "S1-rec")
        assert r.headers["X-Upload-Status"] == "202", r.text
        job_id = db.scalars(select(Job.jobID)).one()
        assert f'hx-get="/upload/jobs/{job_id}?lang=en" hx-trigger="every 2s"' in r.text
        deadline = time.monotonic() + 60
        while 'hx-trigger="every 2s"' in (page := c.get(f"/upload/jobs/{job_id}?lang=en").text):
            assert time.monotonic() < deadline, "job did not finish"
            time.sleep(0.2)
        db.expire_all()
        job = db.get(Job, job_id)
        assert job.state == "done" and 'data-kind="stored"' in page and job.mediaID in page
        windows = re.findall(r"(\d+\.\d)–(\d+\.\d) s", page)
        assert windows and windows[0] == ("0.0", "1.0") and len(windows) == job.detections
        assert c.get("/upload/jobs/nope?lang=en").headers["X-Upload-Status"] == "404"
