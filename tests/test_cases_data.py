"""Field cases of the data-sharing and query area (``../shared/cases``): BR-03 in the Camtrap DP export and
BR-20 (empty result sets) in the query and statistics API, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import zipfile

from fastapi.testclient import TestClient

from models.store.db import Deployment, Media
from serve.app import create_app
from tests.data_helpers import seed_history


def test_br03_export_rejects_the_untimed_upload_naming_the_file(settings, db, deployments, cases, uploader_headers):
    """BR-03: the image still gets detections, date-range queries leave it out, and the Camtrap DP export
    rejects its row with a message naming the file (warnings.csv) instead of inventing a time."""
    dep = db.get(Deployment, "S1-cam")
    dep.latitude, dep.longitude = 31.3, 120.6
    dep.deploymentStart, dep.deploymentEnd = "2024-05-01T00:00:00+08:00", "2024-06-01T00:00:00+08:00"
    db.commit()
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/media", files={"file": ("BR-03.jpg", (cases / "BR-03.jpg").read_bytes())},
                        data={"deploymentID": "S1-cam"}, headers=uploader_headers)
        assert r.status_code == 201, r.text
        media_id = r.json()["media"]["mediaID"]
        assert len(r.json()["detections"]) == 1
        listed = client.get("/v1/detections", params={"mediaID": media_id}).json()["items"]
        assert len(listed) == 1 and listed[0]["eventStart"] == ""
        ranged = client.get("/v1/detections", params={"start": "2000-01-01T00:00:00Z"}).json()["items"]
        assert media_id not in {d["mediaID"] for d in ranged}
        package = zipfile.ZipFile(io.BytesIO(client.get("/v1/export/camtrap-dp").content))
    warnings = list(csv.DictReader(io.StringIO(package.read("warnings.csv").decode())))
    media_warnings = [w for w in warnings if w["table"] == "media"]
    assert [(w["id"], w["file"]) for w in media_warnings] == [(media_id, "BR-03.jpg")]
    assert media_warnings[0]["reason"].startswith("no capture timestamp (timestampIssues=missing")
    assert media_id not in package.read("media.csv").decode()


def test_br20_recording_without_detections_and_species_without_records(settings, db):
    """BR-20: a recording with no detections answers 200 and [] (not 404/500); per-species counts and diel
    activity never hold a None/NA species; a species with no records is absent, not an error."""
    seed_history(settings.database_url)
    db.add(Media(mediaID="w2", sha256="w2" * 32, deploymentID="S1-rec", stationID="S1", modality="audio",
                 filePath="S1-rec/SITE01_20240601_060000.wav", fileName="SITE01_20240601_060000.wav",
                 fileMediatype="audio/wav", timestamp="2024-06-01T06:00:00+08:00"))
    db.commit()
    with TestClient(create_app(settings)) as client:
        r = client.get("/v1/detections", params={"mediaID": "w2"})
        assert r.status_code == 200 and r.json()["items"] == []
        r = client.get("/v1/events", params={"mediaID": "w2"})
        assert r.status_code == 200 and r.json()["items"] == []
        r = client.get("/v1/detections", params={"scientificName": "Lithobates clamitans"})
        assert r.status_code == 200 and r.json()["items"] == []
        counts = client.get("/v1/stations/S1/stats/counts").json()["counts"]
        assert counts and all(c["scientificName"] for c in counts)
        hours = client.get("/v1/stations/S1/stats/diel").json()["hours"]
        assert None not in hours and "None" not in hours and "" not in hours
        csv_rows = list(csv.DictReader(io.StringIO(client.get("/v1/detections", params={
            "mediaID": "w2", "format": "csv"}).text)))
        assert csv_rows == []
