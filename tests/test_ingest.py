"""Ingest of station drops and labelled datasets: records, rejections, duplicates, labels, subsets."""

from __future__ import annotations

import hashlib

import pytest

from models.ingest import MEDIA_FIELDS, ingest_labelled, ingest_stations
from models.media.errors import CatalogueError
from models.media.tables import read_csv, write_csv
from models.taxonomy.catalogue import Catalogue

DEPLOYMENT_HEADER = ["deploymentID", "stationID", "timezone", "licence", "attribution", "source_repo"]
MANIFEST_HEADER = ["file", "scientific_name", "station_hint", "datetime", "licence", "attribution", "source_repo"]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


@pytest.fixture()
def drop(tmp_path, media, write_csv):
    """A station drop: two deployment folder layouts, a corrupt file, an empty file, a copy, a stray file."""
    root = tmp_path / "stations"
    write_csv(root / "deployments.csv", DEPLOYMENT_HEADER, [
        ["st1-cam", "st1", "Asia/Shanghai", "CC-BY-4.0", "Team A", "repo-a"],
        ["st1-rec", "st1", "Asia/Shanghai", "", "", ""],
        ["st2-cam", "st2", "", "", "", ""],
        ["st3-cam", "st3", "", "", "", ""],  # no folder: logged, not fatal
    ])
    cam = root / "st1" / "cam"
    cam.mkdir(parents=True)
    first = media.exif_jpeg(64, 48, rgb=(10, 20, 30), taken="2024:05:01 08:00:00")
    (cam / "IMG_0001.JPG").write_bytes(first)
    (cam / "IMG_0002.JPG").write_bytes(media.jpeg(40, 30, rgb=(90, 90, 90)))
    noisy = media.jpeg(256, 256, noise_seed=3)
    (cam / "broken.jpg").write_bytes(noisy[: int(len(noisy) * 0.7)])
    (cam / "copy.JPG").write_bytes(first)
    (cam / "empty.wav").write_bytes(b"")
    (cam / "notes.txt").write_text("sidecar, not media")
    media.wav(root / "st1" / "rec" / "S4A01_20240601_053000.wav", 2.0)
    (root / "st2-cam").mkdir()
    (root / "st2-cam" / "IMG_0001.JPG").write_bytes(
        media.exif_jpeg(32, 32, rgb=(200, 0, 0), taken="2024:03:10 10:00:00", offset="-05:00"))
    (root / "stray").mkdir()
    (root / "stray" / "IMG_0009.JPG").write_bytes(media.jpeg(16, 16, rgb=(1, 2, 3)))
    return root


def test_station_drop_records_and_rejections(drop):
    records, rejected = ingest_stations(drop)
    by_path = {r.filePath: r for r in records}
    assert sorted(by_path) == ["st1/cam/IMG_0001.JPG", "st1/cam/IMG_0002.JPG", "st1/rec/S4A01_20240601_053000.wav",
                               "st2-cam/IMG_0001.JPG"]
    assert {(r.filePath, r.reason) for r in rejected} == {
        ("st1/cam/broken.jpg", "truncated"), ("st1/cam/empty.wav", "corrupt"),
        ("stray/IMG_0009.JPG", "unknown_deployment"), ("st1/cam/copy.JPG", "duplicate")}
    dup = next(r for r in rejected if r.reason == "duplicate")
    assert "st1/cam/IMG_0001.JPG" in dup.detail

    img = by_path["st1/cam/IMG_0001.JPG"]
    sha = hashlib.sha256((drop / img.filePath).read_bytes()).hexdigest()
    assert (img.sha256, img.mediaID, img.bytes) == (sha, sha[:16], (drop / img.filePath).stat().st_size)
    assert (img.deploymentID, img.stationID, img.modality, img.fileMediatype) == ("st1-cam", "st1", "image",
                                                                                  "image/jpeg")
    assert (img.width_px, img.height_px, img.fileName) == (64, 48, "IMG_0001.JPG")
    assert (img.timestamp, img.timestampIssues, img.timestampSource) == ("2024-05-01T08:00:00+08:00", "", "exif")
    assert (img.licence, img.attribution, img.source, img.label) == ("CC-BY-4.0", "Team A", "repo-a", "")

    no_exif = by_path["st1/cam/IMG_0002.JPG"]
    # never the ingestion time
    assert (no_exif.timestamp, no_exif.timestampIssues, no_exif.timestampSource) == ("", "missing", "missing")

    rec = by_path["st1/rec/S4A01_20240601_053000.wav"]
    assert (rec.modality, rec.fileMediatype, rec.sample_rate_hz, rec.channels, rec.duration_s) == (
        "audio", "audio/wav", 8000, 1, 2.0)
    assert (rec.timestamp, rec.deploymentID, rec.timestampSource) == ("2024-06-01T05:30:00+08:00", "st1-rec",
                                                                      "filename")
    assert rec.width_px is None

    other = by_path["st2-cam/IMG_0001.JPG"]  # folder named after the deploymentID; device offset, no zone
    assert (other.deploymentID, other.stationID) == ("st2-cam", "st2")
    assert (other.timestamp, other.timestampIssues) == ("2024-03-10T10:00:00-05:00", "")


def test_station_drop_needs_deployments_csv(tmp_path):
    with pytest.raises(FileNotFoundError):
        ingest_stations(tmp_path)


def test_ingest_is_idempotent(drop):
    first, _ = ingest_stations(drop)
    second, _ = ingest_stations(drop)
    assert [r.mediaID for r in first] == [r.mediaID for r in second]


def test_csv_round_trip(tmp_path, drop):
    records, _ = ingest_stations(drop)
    write_csv(tmp_path / "out" / "media.csv", records, MEDIA_FIELDS)
    rows = read_csv(tmp_path / "out" / "media.csv")
    assert list(rows[0]) == MEDIA_FIELDS
    assert len(rows) == 4
    audio = next(r for r in rows if r["modality"] == "audio")
    assert audio["width_px"] == "" and audio["duration_s"] == "2.0"


@pytest.fixture()
def labelled(tmp_path, media, write_csv):
    root = tmp_path / "camera_traps"
    (root / "img").mkdir(parents=True)
    files = {
        "img/boar1.jpg": media.exif_jpeg(32, 32, rgb=(100, 50, 0), taken="2023:08:01 21:15:00"),
        "img/boar2.jpg": media.jpeg(32, 32, noise_seed=1),
        "img/boar3.jpg": media.jpeg(32, 32, noise_seed=2),
        "img/frog1.jpg": media.jpeg(32, 32, noise_seed=3),
        "img/frog2.jpg": media.jpeg(32, 32, noise_seed=4),
        "img/empty1.jpg": media.jpeg(32, 32, noise_seed=5),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "img/bad.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    write_csv(root / "manifest.csv", MANIFEST_HEADER, [
        ["img/bad.jpg", "Sus scrofa", "S1", "", "", "", ""],
        ["img/boar1.jpg", "sus scrofa", "S1", "2000-01-01T00:00:00", "CC0", "Alice", "lila"],
        ["img/boar2.jpg", " Sus  Scrofa ", "S1", "2023-08-01T21:15:05-04:00", "CC0", "Alice", "lila"],
        ["img/frog1.jpg", "Lithobates catesbeianus", "", "", "", "", ""],
        ["img/boar3.jpg", "Sus scrofa", "S2", "", "", "", ""],
        ["img/frog2.jpg", "LITHOBATES CATESBEIANUS", "", "", "", "", ""],
        ["img/empty1.jpg", "", "S1", "", "", "", ""],
    ])
    return root


def test_labelled_dataset(labelled, catalogue):
    records, rejected = ingest_labelled(labelled, catalogue)
    assert [(r.filePath, r.reason) for r in rejected] == [("img/bad.jpg", "corrupt")]
    by = {r.filePath: r for r in records}
    assert [by[f].label for f in ("img/boar1.jpg", "img/boar2.jpg", "img/frog2.jpg", "img/empty1.jpg")] == [
        "Sus scrofa", "Sus scrofa", "Lithobates catesbeianus", "blank"]
    boar1, boar2 = by["img/boar1.jpg"], by["img/boar2.jpg"]
    assert (boar1.deploymentID, boar1.stationID, boar1.licence, boar1.attribution, boar1.source) == (
        "S1", "S1", "CC0", "Alice", "lila")
    # EXIF wins over the manifest's datetime; without EXIF the manifest's datetime is used as written
    assert (boar1.timestamp, boar1.timestampIssues) == ("2023-08-01T21:15:00", "no_timezone")
    assert (boar2.timestamp, boar2.timestampIssues) == ("2023-08-01T21:15:05-04:00", "")
    assert (boar1.timestampSource, boar2.timestampSource) == ("exif", "manifest")
    assert (by["img/frog1.jpg"].timestamp, by["img/frog1.jpg"].timestampIssues) == ("", "missing")
    assert by["img/frog1.jpg"].timestampSource == "missing"
    assert by["img/frog1.jpg"].deploymentID == ""


def test_limit_per_label_counts_only_usable_files(labelled, catalogue):
    records, rejected = ingest_labelled(labelled, catalogue, limit_per_label=1)
    # bad.jpg (first Sus scrofa row) is rejected, so boar1 is the one Sus scrofa kept
    assert [r.filePath for r in records] == ["img/boar1.jpg", "img/frog1.jpg", "img/empty1.jpg"]
    assert [r.reason for r in rejected] == ["corrupt"]


def test_unknown_label_stops_ingest_and_names_label_and_line(labelled, catalogue, write_csv):
    write_csv(labelled / "manifest.csv", MANIFEST_HEADER, [
        ["img/boar1.jpg", "Sus scrofa", "", "", "", "", ""],
        ["img/boar2.jpg", "Sus scrofa", "", "", "", "", ""],
        ["img/frog1.jpg", " Panthera  tigris ", "", "", "", "", ""],
    ])
    with pytest.raises(CatalogueError) as exc:
        ingest_labelled(labelled, catalogue)
    assert "'Panthera tigris'" in str(exc.value)
    assert "camera_traps/manifest.csv line 4" in str(exc.value)


def test_labelled_duplicates(labelled, catalogue, write_csv):
    (labelled / "img" / "boar1_copy.jpg").write_bytes((labelled / "img" / "boar1.jpg").read_bytes())
    write_csv(labelled / "manifest.csv", MANIFEST_HEADER, [
        ["img/boar1.jpg", "Sus scrofa", "", "", "", "", ""],
        ["img/boar1_copy.jpg", "Sus scrofa", "", "", "", "", ""],
    ])
    records, rejected = ingest_labelled(labelled, catalogue)
    assert [r.filePath for r in records] == ["img/boar1.jpg"]
    assert [(r.filePath, r.reason) for r in rejected] == [("img/boar1_copy.jpg", "duplicate")]
