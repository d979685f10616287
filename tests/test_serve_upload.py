"""POST /v1/media: classification, idempotency, content checks, storage and atomicity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from models.media.hashing import media_id, sha256_bytes
from models.store.db import Detection, Media
from serve import uploads
from serve.app import create_app
from serve.settings import Settings
from tests.serve_helpers import LABELS, jpeg_bytes, jpeg_with_exif_time, wav_bytes

#: Every test uploads to deployments seeded in its database (``S1-cam``, ``S1-rec``, ``S2-cam``, ``d``, ...).
pytestmark = pytest.mark.usefixtures("deployments")

UNSUPPORTED = ("content is neither a supported image (JPEG, PNG, TIFF, BMP, WebP) nor a decodable audio "
               "recording (WAV, FLAC, MP3, OGG, AIFF)")


def post(client: TestClient, data: bytes, name: str = "IMG_0001.JPG", deployment: str = "S1-cam",
         mime: str = "application/octet-stream"):
    """Upload ``data`` as ``name``."""
    return client.post("/v1/media", files={"file": (name, data, mime)}, data={"deploymentID": deployment})


@pytest.fixture()
def client(client, uploader_headers):
    """The app's client, sending an uploader key (uploads need one)."""
    client.headers.update(uploader_headers)
    return client


def counts(db: Session) -> tuple[int, int]:
    """(media rows, detection rows)."""
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Media)), db.scalar(select(func.count()).select_from(Detection))


def leftovers(settings: Settings) -> list[Path]:
    """Anything (files or folders) under the media root."""
    root = Path(settings.media_root)
    return sorted(root.rglob("*")) if root.exists() else []


def stored_files(settings: Settings) -> list[Path]:
    """Every file under the media root (temporary ones included)."""
    root = Path(settings.media_root)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_image_upload_creates_media_and_one_detection(client, settings, bundles, db):
    data = jpeg_bytes(1)
    r = post(client, data, "camera/IMG_0001.JPG", mime="image/jpeg")
    assert r.status_code == 201, r.text
    body = r.json()
    sha = sha256_bytes(data)
    assert body["duplicate"] is False
    media = body["media"]
    assert media["mediaID"] == media_id(sha) and media["sha256"] == sha
    assert (media["modality"], media["fileMediatype"], media["width_px"], media["height_px"]) == (
        "image", "image/jpeg", 64, 48)
    assert media["fileName"] == "IMG_0001.JPG" and media["origin"] == "upload" and media["bytes"] == len(data)
    assert media["filePath"] == f"{sha[:2]}/{sha}.jpg"
    assert media["timestamp"] == "" and media["timestampIssues"] == "missing"  # no EXIF time: never "now"
    assert media["created"].endswith("Z")  # when it was stored (UTC), kept apart from the capture time
    (det,) = body["detections"]
    assert det["mediaID"] == media["mediaID"] and det["modality"] == "image"
    # the one decision path (models.inference.decision): a species, a roll-up, unknown or blank
    assert det["classificationSource"] in ("model", "rollup", "threshold-unknown")
    assert (det["scientificName"] is None) == (det["observationType"] in ("blank", "unknown"))
    assert (det["observationType"] == "unknown") == (det["classificationSource"] == "threshold-unknown")
    assert 0.0 <= det["classificationProbability"] <= 1.0
    assert det["modelVersion"] == bundles["image"][1].model_version == det["classifiedBy"]
    assert det["isInvasive"] == (det["scientificName"] == "Lithobates catesbeianus"
                                 and det["classificationProbability"] >= 0.5)  # Catalogue.invasive_detection
    assert len(det["topK"]) == 3 and {n for n, _ in det["topK"]} == set(LABELS)
    if det["classificationSource"] == "model":
        assert det["scientificName"] in (LABELS[0], LABELS[1], None)
        assert det["topK"][0][1] == pytest.approx(det["classificationProbability"], abs=1e-6)
        assert det["topK"][0][0] == (det["scientificName"] or "blank")
    assert sum(p for _, p in det["topK"]) == pytest.approx(1.0, abs=1e-4)
    assert (det["start_s"], det["end_s"], det["eventStart"]) == (0.0, 0.0, "")
    # stored content-addressed, byte for byte, and visible through the query API
    assert stored_files(settings) == [settings.media_root / sha[:2] / f"{sha}.jpg"]
    assert stored_files(settings)[0].read_bytes() == data
    assert counts(db) == (1, 1)
    listed = client.get("/v1/detections", params={"mediaID": media["mediaID"], "include_total": True}).json()
    assert listed["total"] == 1 and listed["items"][0] == det


def test_same_bytes_twice_is_a_duplicate(client, settings, db):
    data = jpeg_bytes(2)
    first = post(client, data)
    assert first.status_code == 201
    # duplicates are answered before the deployment is checked: this one is not in ``deployments``
    second = post(client, data, "other_name.jpg", deployment="another-deployment")
    assert second.status_code == 200
    body = second.json()
    assert body["duplicate"] is True
    assert body["media"] == first.json()["media"]
    assert body["detections"] == first.json()["detections"]
    assert counts(db) == (1, 1)
    assert len(stored_files(settings)) == 1


def test_same_bytes_under_another_known_deployment_keeps_the_first(client, settings, db):
    data = jpeg_bytes(15)
    first = post(client, data, deployment="S1-cam")
    assert first.status_code == 201, first.text
    second = post(client, data, "copy.jpg", deployment="S2-cam")
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["duplicate"] is True and body["media"] == first.json()["media"]
    assert (body["media"]["deploymentID"], body["media"]["stationID"]) == ("S1-cam", "S1")
    assert [d["deploymentID"] for d in body["detections"]] == ["S1-cam"]
    assert counts(db) == (1, 1) and len(stored_files(settings)) == 1


def test_different_bytes_same_name_is_a_new_record(client, settings, db):
    a, b = post(client, jpeg_bytes(3)), post(client, jpeg_bytes(4))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["media"]["mediaID"] != b.json()["media"]["mediaID"]
    assert a.json()["media"]["fileName"] == b.json()["media"]["fileName"] == "IMG_0001.JPG"
    assert counts(db) == (2, 2)
    assert len(stored_files(settings)) == 2


def test_exif_time_localised_with_deployment_zone(client, db):
    r = post(client, jpeg_with_exif_time("2024:05:01 08:00:00"), deployment="S1-cam")
    assert r.status_code == 201, r.text
    media, (det,) = r.json()["media"], r.json()["detections"]
    assert media["timestamp"] == "2024-05-01T08:00:00+08:00" and media["timestampIssues"] == ""
    assert media["stationID"] == "S1" and det["stationID"] == "S1" and det["deploymentID"] == "S1-cam"
    assert det["eventStart"] == "2024-05-01T08:00:00+08:00"
    hit = client.get("/v1/detections", params={"start": "2024-05-01T00:00:00Z", "end": "2024-05-01T00:00:00Z",
                                               "include_total": True})
    assert hit.json()["total"] == 1
    assert client.get("/v1/stations").json()[0]["detections"] == 1


def test_unknown_deployment_is_422_and_stores_nothing(client, settings, db):
    r = post(client, jpeg_with_exif_time("2024:05:01 08:00:00", seed=5), deployment="  new-dep ")
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == {
        "reason": "unknown_deployment",
        "message": "deploymentID 'new-dep' is not a known deployment; known deployments are listed at /v1/stations"}
    assert counts(db) == (0, 0)
    assert leftovers(settings) == []


def test_unknown_deployment_is_checked_before_staging_content_type_and_model(client, settings, db, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("an upload to an unknown deployment must not be staged or classified")

    monkeypatch.setattr(uploads, "_stage", never)
    monkeypatch.setattr(uploads, "_probe", never)
    monkeypatch.setattr(uploads, "_classify", never)
    for data in (jpeg_bytes(16), b"plain text, not media " * 20, b""):
        r = post(client, data, deployment="new-dep")
        assert r.status_code == 422 and r.json()["detail"]["reason"] == "unknown_deployment", r.text
    assert counts(db) == (0, 0) and leftovers(settings) == []


def test_deployment_without_zone_keeps_time_without_offset(client):
    r = post(client, jpeg_with_exif_time("2024:05:01 08:00:00", seed=5), deployment="  d ")
    assert r.status_code == 201, r.text
    media = r.json()["media"]
    assert (media["deploymentID"], media["stationID"]) == ("d", "")
    assert media["timestamp"] == "2024-05-01T08:00:00" and media["timestampIssues"] == "no_timezone"


def test_audio_upload_one_detection_per_window(client, settings, bundles, db):
    data = wav_bytes(2.5, 8000)
    r = post(client, data, "S1REC_20240601_053000.wav", deployment="S1-rec")
    assert r.status_code == 201, r.text
    media, dets = r.json()["media"], r.json()["detections"]
    assert (media["modality"], media["fileMediatype"], media["sample_rate_hz"], media["channels"]) == (
        "audio", "audio/wav", 8000, 1)
    assert media["duration_s"] == pytest.approx(2.5)
    assert media["filePath"].endswith(".wav") and media["timestamp"] == "2024-06-01T05:30:00+08:00"
    assert [(d["start_s"], d["end_s"]) for d in dets] == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    assert [d["eventStart"] for d in dets] == ["2024-06-01T05:30:00+08:00", "2024-06-01T05:30:01+08:00",
                                               "2024-06-01T05:30:02+08:00"]
    assert {d["modelVersion"] for d in dets} == {bundles["audio"][1].model_version}
    assert all(0.0 <= d["classificationProbability"] <= 1.0 for d in dets)
    assert len({d["detectionID"] for d in dets}) == 3
    assert counts(db) == (1, 3)
    page = client.get("/v1/detections", params={"modality": "audio"}).json()
    assert [i["start_s"] for i in page["items"]] == [0.0, 1.0, 2.0]


def test_truncated_jpeg_is_422_and_leaves_nothing(client, settings, db):
    data = jpeg_bytes(6)
    r = post(client, data[: int(len(data) * 0.7)])
    assert r.status_code == 422
    assert r.json()["detail"]["reason"] == "truncated"
    assert counts(db) == (0, 0)
    assert leftovers(settings) == []


@pytest.mark.parametrize(("data", "status", "reason"), [
    (b"%PDF-1.4\n" + b"0" * 400, 415, "unsupported_format"),
    (b"plain text, not media " * 20, 415, "unsupported_format"),
    (b"GIF89a" + b"\x00" * 300, 415, "unsupported_format"),
    (b"", 422, "corrupt"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 200 + b"\xff\xd9", 422, "corrupt"),
    (wav_bytes(0.0), 422, "empty_audio"),
])
def test_bad_content_is_rejected_without_leftovers(client, settings, db, data, status, reason):
    r = post(client, data, "looks_fine.jpg")
    assert r.status_code == status, r.text
    assert r.json()["detail"]["reason"] == reason
    if status == 415:  # the sniffed format is named (PDF, GIF), then the formats accepted
        assert r.json()["detail"]["message"].endswith(UNSUPPORTED)
    assert str(settings.media_root.resolve()) not in r.text and ".part" not in r.text
    assert "looks_fine" not in r.text
    assert counts(db) == (0, 0)
    assert leftovers(settings) == []


def test_text_file_named_jpg_is_415_without_file_name_or_decoder_text(client, settings, db):
    r = post(client, b"field notes: two wild boar at the wallow, 06:40\n" * 10, "notes.jpg", mime="image/jpeg")
    assert r.status_code == 415, r.text
    assert r.json()["detail"] == {"reason": "unsupported_format", "message": UNSUPPORTED}
    for leak in ("notes", ".jpg", "libsndfile", "Error opening", "Format not recognised", "audio file ("):
        assert leak not in r.text, leak
    assert counts(db) == (0, 0)
    assert leftovers(settings) == []


def test_oversize_upload_to_unknown_deployment_is_413(settings, db, uploader_headers):
    data = jpeg_bytes(17)
    small = settings.model_copy(update={"max_upload_bytes": len(data) - 1})
    with TestClient(create_app(small), headers=uploader_headers) as c:
        r = post(c, data, deployment="new-dep")
    assert r.status_code == 413 and r.json()["detail"]["reason"] == "upload_too_large"
    assert counts(db) == (0, 0) and leftovers(settings) == []


def test_oversize_upload_is_413(tmp_path, settings, db, uploader_headers):
    data = jpeg_bytes(7)
    small = settings.model_copy(update={"max_upload_bytes": len(data) - 1})
    with TestClient(create_app(small), headers=uploader_headers) as c:
        r = post(c, data)
        assert r.status_code == 413 and r.json()["detail"]["reason"] == "upload_too_large"
        assert post(c, data[: len(data) - 1]).status_code == 422  # exactly at the limit is read (then truncated)
    assert counts(db) == (0, 0) and leftovers(settings) == []


def test_image_above_pixel_limit_is_413(tmp_path, bundles, db, settings, uploader_headers):
    import json
    import shutil

    small = tmp_path / "small_image_model"
    shutil.copytree(bundles["image"][0], small)
    meta = json.loads((small / "bundle.json").read_text())
    meta["preprocessing"]["max_pixels"] = 1000
    (small / "bundle.json").write_text(json.dumps(meta))
    with TestClient(create_app(settings.model_copy(update={"image_bundle": small})), headers=uploader_headers) as c:
        r = post(c, jpeg_bytes(8))
    assert r.status_code == 413 and r.json()["detail"]["reason"] == "image_too_large"
    assert counts(db) == (0, 0) and leftovers(settings) == []


def test_missing_bundle_is_503_for_that_modality_only(settings, db, uploader_headers):
    no_image = settings.model_copy(update={"image_bundle": settings.media_root.parent / "absent"})
    with TestClient(create_app(no_image), headers=uploader_headers) as c:
        health = c.get("/health").json()
        assert health["models"]["image"] is None and health["models"]["audio"] is not None
        r = post(c, jpeg_bytes(9))
        assert r.status_code == 503
        assert r.json()["detail"] == {"reason": "model_unavailable",
                                      "message": "no image model is installed on this server"}
        assert "absent" not in r.text
        assert post(c, wav_bytes(1.0), "rec.wav").status_code == 201
    assert counts(db) == (1, 1)


@pytest.mark.parametrize("deployment", ["", "   "])
def test_blank_deployment_is_422(client, db, deployment):
    assert post(client, jpeg_bytes(10), deployment=deployment).status_code == 422
    assert counts(db) == (0, 0)


def test_missing_fields_are_422(client):
    assert client.post("/v1/media", data={"deploymentID": "d"}).status_code == 422
    assert client.post("/v1/media", files={"file": ("a.jpg", jpeg_bytes(11))}).status_code == 422


def test_failed_commit_removes_the_stored_file(settings, db, monkeypatch, uploader_headers):
    def fail(self):
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Session, "commit", fail)
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=uploader_headers) as c:
        r = post(c, jpeg_bytes(12))
    assert r.status_code == 500
    monkeypatch.undo()
    assert counts(db) == (0, 0)
    assert leftovers(settings) == []


def test_concurrent_duplicate_keeps_the_winner(client, settings, db, monkeypatch):
    """Two uploads of the same bytes race: the loser's commit fails, it reports the winner's record."""
    data = jpeg_bytes(13)
    first = post(client, data).json()
    real = uploads.media_by_sha
    calls = []

    def miss_first(session, sha):  # the loser checked before the winner committed
        calls.append(sha)
        return None if len(calls) == 1 else real(session, sha)

    monkeypatch.setattr(uploads, "media_by_sha", miss_first)
    r = post(client, data)
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert r.json()["media"]["mediaID"] == first["media"]["mediaID"]
    assert counts(db) == (1, 1)
    assert [p.name for p in stored_files(settings)] == [Path(first["media"]["filePath"]).name]


def test_storage_is_atomic_rename(client, settings, monkeypatch):
    """The file appears by ``os.replace`` of a temporary in the same folder, never written in place."""
    moves = []
    real = os.replace

    def spy(src, dst):
        moves.append((Path(src), Path(dst)))
        real(src, dst)

    monkeypatch.setattr(uploads.os, "replace", spy)
    r = post(client, jpeg_bytes(14))
    assert r.status_code == 201
    ((src, dst),) = moves
    assert src.parent == dst.parent and src.name.startswith(".") and src.suffix == ".part"
    assert dst == settings.media_root.resolve() / r.json()["media"]["filePath"]


def test_video_upload_is_415_saying_video_is_not_processed_yet(client, settings, db, cases):
    data = (cases / "BR-12" / "IMAG0003.AVI").read_bytes()
    r = post(client, data, "IMAG0003.AVI")
    assert r.status_code == 415
    assert r.json()["detail"] == {"reason": "unsupported_format",
                                  "message": f"video (video/x-msvideo) is not processed yet; {UNSUPPORTED}"}
    assert db.query(Media).count() == 0
    assert not settings.media_root.exists() or not any(p.is_file() for p in settings.media_root.rglob("*"))
