"""Shared field-failure cases (``shared/cases``, see its cases.json) exercised through the upload API."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models.store.db import Media
from serve.app import create_app
from tests.serve_helpers import LABELS

#: Every test uploads to ``CASE-dep``, a deployment seeded in its database (no station, no time zone).
pytestmark = pytest.mark.usefixtures("deployments")


def upload(client: TestClient, path: Path, name: str | None = None, deployment: str = "CASE-dep"):
    """Upload a case file under its own (or the given) name."""
    return client.post("/v1/media", files={"file": (path.name if name is None else name, path.read_bytes())},
                       data={"deploymentID": deployment})


@pytest.fixture()
def client(client, uploader_headers):
    """The app's client, sending an uploader key (uploads need one)."""
    client.headers.update(uploader_headers)
    return client


def media_count(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Media))


def test_br22_duplicate_and_same_name_uploads(client, db, cases):
    folder = cases / "BR-22"
    r1, r2, r3 = (upload(client, folder / f"upload_{i}" / "IMG_0001.JPG") for i in (1, 2, 3))
    assert (r1.status_code, r2.status_code, r3.status_code) == (201, 200, 201)
    first, again, other = r1.json(), r2.json(), r3.json()
    assert again["duplicate"] is True and again["media"]["mediaID"] == first["media"]["mediaID"]
    assert again["detections"] == first["detections"]
    assert other["duplicate"] is False and other["media"]["mediaID"] != first["media"]["mediaID"]
    assert media_count(db) == 2
    detections = client.get("/v1/detections", params={"include_total": True}).json()
    assert detections["total"] == 2
    assert {d["mediaID"] for d in detections["items"]} == {first["media"]["mediaID"], other["media"]["mediaID"]}
    # the first file is not overwritten by the second one with the same name
    stored = {m: client.app.state.settings.media_root / r["media"]["filePath"] for m, r in (("a", first), ("b", other))}
    assert stored["a"].read_bytes() == (folder / "upload_1" / "IMG_0001.JPG").read_bytes()
    assert stored["b"].read_bytes() == (folder / "upload_3" / "IMG_0001.JPG").read_bytes()


@pytest.mark.parametrize("index", range(9))
def test_br24_hostile_names(settings, tmp_path, cases, index, uploader_headers):
    names = json.loads((cases / "BR-24" / "names.json").read_text())
    assert len(names) == 9
    name = names[index]
    payload = cases / "BR-24" / "payload.jpg"
    with TestClient(create_app(settings), headers=uploader_headers) as client:
        r = upload(client, payload, name)
    root = settings.media_root.resolve()
    if name == "":
        assert r.status_code == 422 and r.json()["detail"]["reason"] == "missing_filename"
    else:
        assert r.status_code == 201, r.text
        media = r.json()["media"]
        assert "/" not in media["fileName"] and "\\" not in media["fileName"] and "\x00" not in media["fileName"]
        stored = root / media["filePath"]
        assert stored.resolve().is_relative_to(root) and stored.read_bytes() == payload.read_bytes()
    for marker in (str(tmp_path), str(root), str(Path.cwd()), "/etc/", "/tmp/", "C:\\\\"):
        assert marker not in r.text
    assert not any(tmp_path.rglob("evil_upload*"))
    assert not Path("/tmp/evil_upload.jpg").exists() and not Path("/etc/cron.d/evil_upload.jpg").exists()
    assert not (Path.cwd().parent / "evil_upload.jpg").exists()


def test_br01_truncated_jpeg(client, db, settings, cases):
    good = [upload(client, cases / "BR-01" / n) for n in ("good_1.jpg", "good_2.jpg")]
    bad = upload(client, cases / "BR-01" / "trunc_70pct.jpg")
    assert [r.status_code for r in good] == [201, 201]
    assert bad.status_code == 422 and bad.json()["detail"]["reason"] == "truncated"
    assert media_count(db) == 2
    assert len([p for p in settings.media_root.rglob("*") if p.is_file()]) == 2


def test_br08_huge_image_rejected_normal_one_processed(client, db, cases):
    huge = upload(client, cases / "BR-08" / "huge_12000x16000.png")
    assert huge.status_code == 413 and huge.json()["detail"]["reason"] == "image_too_large"
    assert upload(client, cases / "BR-08" / "normal.jpg").status_code == 201
    assert media_count(db) == 1


def test_br02_exif_orientation_gives_displayed_size(client, cases):
    media = upload(client, cases / "BR-02.jpg").json()["media"]
    assert (media["width_px"], media["height_px"]) == (120, 320)


def test_br03_missing_timestamp_is_not_now(client, cases):
    r = upload(client, cases / "BR-03.jpg")
    media, (det,) = r.json()["media"], r.json()["detections"]
    assert media["timestamp"] == "" and media["timestampIssues"] == "missing" and det["eventStart"] == ""
    in_range = client.get("/v1/detections", params={"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z",
                                                    "include_total": True})
    assert in_range.json()["total"] == 0


@pytest.mark.parametrize("name", ["BR-05.jpg", "BR-06.png"])
def test_br05_br06_greyscale_and_alpha_images_are_classified(client, cases, name):
    r = upload(client, cases / name)
    assert r.status_code == 201, r.text
    (det,) = r.json()["detections"]
    assert det["scientificName"] in (*LABELS[:2], None)


def test_br14_stereo_recording(client, cases):
    r = upload(client, cases / "BR-14.wav")
    assert r.status_code == 201, r.text
    media, dets = r.json()["media"], r.json()["detections"]
    assert media["channels"] == 2 and media["sample_rate_hz"] == 48000 and media["duration_s"] == pytest.approx(5.0)
    assert [(d["start_s"], d["end_s"]) for d in dets] == [(float(i), float(i + 1)) for i in range(5)]


def test_br16_empty_and_silent_recordings(client, db, cases):
    empty = upload(client, cases / "BR-16" / "empty_0s.wav")
    assert empty.status_code == 422 and empty.json()["detail"]["reason"] == "empty_audio"
    silent = upload(client, cases / "BR-16" / "silent_10s.wav")
    assert silent.status_code == 201
    probs = [d["classificationProbability"] for d in silent.json()["detections"]]
    assert len(probs) == 10 and all(math.isfinite(p) and 0 <= p <= 1 for p in probs)
    assert media_count(db) == 1


def test_br13_audiomoth_upload_keeps_the_recorders_utc_offset(client, cases):
    r = upload(client, cases / "BR-13" / "20201214_192255.WAV")
    assert r.status_code == 201, r.text
    media = r.json()["media"]
    assert (media["timestamp"], media["timestampSource"], media["timestampIssues"]) == (
        "2020-12-14T19:22:55-05:00", "audiomoth", "")
    assert [d["eventStart"] for d in r.json()["detections"]] == ["2020-12-14T19:22:55-05:00"]
