"""Reviewed detections exported as training labels, and read back by the ingest stage."""

from __future__ import annotations

import csv

import soundfile as sf
from typer.testing import CliRunner

from models.store.review import REVIEWED_DIR
from models.taxonomy.catalogue import Catalogue
from pipeline.stages import ingest
from serve.__main__ import cli
from tests.serve_helpers import jpeg_bytes, wav_bytes


def _review(client, detection_id, body, headers):
    r = client.post(f"/v1/detections/{detection_id}/review", json=body, headers=headers)
    assert r.status_code == 200, r.text


def test_reviewed_labels_export_and_ingest(client, api_key, settings, deployments, tmp_path):
    up, reviewer = api_key("uploader"), api_key("reviewer", "Dr Chen")
    image = jpeg_bytes(70)
    img = client.post("/v1/media", files={"file": ("boar.jpg", image)}, data={"deploymentID": "S1-cam"},
                      headers=up).json()
    rec = client.post("/v1/media", files={"file": ("frogs.wav", wav_bytes(2.5))}, data={"deploymentID": "S1-rec"},
                      headers=up).json()
    unreviewed = client.post("/v1/media", files={"file": ("other.jpg", jpeg_bytes(71))},
                             data={"deploymentID": "S1-cam"}, headers=up).json()
    _review(client, img["detections"][0]["detectionID"], {"action": "correct", "scientificName": "Sus scrofa"},
            reviewer)
    window = rec["detections"][1]  # 1.0 .. 2.0 s
    _review(client, window["detectionID"], {"action": "correct", "scientificName": "Lithobates catesbeianus"},
            reviewer)
    _review(client, rec["detections"][0]["detectionID"], {"action": "correct", "observationType": "human"},
            reviewer)
    raw = tmp_path / "raw"
    r = CliRunner().invoke(cli, ["labels", "export", "--raw", str(raw), "--media-root", str(settings.media_root),
                                 "--database-url", settings.database_url])
    assert r.exit_code == 0, r.output
    assert "camera_traps: 1 reviewed labels" in r.stdout and "acoustic: 1 reviewed labels" in r.stdout
    assert "observationType human is not a training class" in r.output
    with open(raw / "camera_traps" / REVIEWED_DIR / "manifest.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    sha = img["media"]["sha256"]
    assert (row["file"], row["scientific_name"], row["classifiedBy"], row["station_hint"]) == (
        f"{sha[:2]}/{sha}.jpg", "Sus scrofa", "Dr Chen", "S1-cam")
    assert (raw / "camera_traps" / REVIEWED_DIR / row["file"]).read_bytes() == image
    assert unreviewed["media"]["sha256"] not in row["file"]
    with open(raw / "acoustic" / REVIEWED_DIR / "manifest.csv", newline="") as fh:
        (arow,) = list(csv.DictReader(fh))
    clip = raw / "acoustic" / REVIEWED_DIR / arow["file"]
    assert arow["file"] == f"{window['detectionID']}.wav" and arow["scientific_name"] == "Lithobates catesbeianus"
    info = sf.info(str(clip))
    assert (info.samplerate, info.frames) == (8000, 8000)  # the 1.0-2.0 s window at the native rate

    # ingest adds them to the labelled datasets, paths relative to the dataset root
    records, rejected = ingest.with_reviewed(raw / "camera_traps", [], [], Catalogue.load(), 10**8)
    assert rejected == [] and [(m.filePath, m.label) for m in records] == [
        (f"{REVIEWED_DIR}/{row['file']}", "Sus scrofa")]
    records, _ = ingest.with_reviewed(raw / "acoustic", [], [], Catalogue.load(), 10**8)
    assert [(m.filePath, m.label, m.duration_s) for m in records] == [
        (f"{REVIEWED_DIR}/{arow['file']}", "Lithobates catesbeianus", 1.0)]
    assert ingest.REVIEWED == REVIEWED_DIR
    # nothing to add when no review was exported
    assert ingest.with_reviewed(tmp_path / "empty", ["x"], [], Catalogue.load(), 10**8) == (["x"], [])
    # a second export rewrites the manifests (no duplicates)
    CliRunner().invoke(cli, ["labels", "export", "--raw", str(raw), "--media-root", str(settings.media_root),
                             "--database-url", settings.database_url])
    assert len((raw / "camera_traps" / REVIEWED_DIR / "manifest.csv").read_text().splitlines()) == 2
