"""Camtrap DP in (``models.ingest_camtrap_dp``, ``biodiv import camtrap-dp``): our export read back, human labels."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from models.ingest import ingest_labelled, ingest_stations
from models.ingest_camtrap_dp import human_labels, read_camtrap_dp
from models.media.errors import BiodivError
from models.store.db import Detection, Event, make_engine
from models.store.export import export_camtrap_dp
from models.taxonomy.catalogue import Catalogue
from pipeline import cli
from tests.data_helpers import seed_history

runner = CliRunner()


def test_our_export_read_back_gives_the_same_observations(tmp_path):
    """Export the seeded history, import the package: every exported detection and event comes back with its
    media, type, name, method and probability; the ones the export left out (no time) are the only ones missing."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    seed_history(url)
    engine = make_engine(url)
    with Session(engine) as s:
        report = export_camtrap_dp(s, tmp_path / "pkg", Catalogue.load(), public=False)
        left_out = {w["id"] for w in report.warnings if w["table"] == "observations"}
        expected = {(d.detectionID, d.mediaID, d.observationType, d.scientificName or "", d.classificationMethod,
                     round(d.classificationProbability, 6)) for d in s.scalars(select(Detection))
                    if d.detectionID not in left_out}
        expected |= {(f"event-{e.eventID}", e.mediaID or "", e.observationType, e.scientificName or "",
                      e.classificationMethod, round(e.classificationProbability, 6))
                     for e in s.scalars(select(Event)) if e.eventID not in left_out}
    engine.dispose()
    assert len(expected) == report.rows["observations"] >= 10
    pkg = read_camtrap_dp(tmp_path / "pkg")
    got = {(o.observationID, o.mediaID, o.observationType, o.scientificName, o.classificationMethod,
            round(o.classificationProbability, 6)) for o in pkg.observations}
    assert got == expected
    assert {d["deploymentID"] for d in pkg.deployments} == {"S1-cam", "S1-rec", "S2-cam"}
    s1 = next(d for d in pkg.deployments if d["deploymentID"] == "S1-cam")
    assert (s1["latitude"], s1["longitude"]) == (31.23456, 120.67891)


def test_not_a_package(tmp_path):
    with pytest.raises(BiodivError, match="datapackage.json"):
        read_camtrap_dp(tmp_path)
    (tmp_path / "x.zip").write_text("not a zip")
    with pytest.raises(BiodivError, match="not a zip"):
        read_camtrap_dp(tmp_path / "x.zip")


def _set_human(path: Path, labels: dict[str, tuple[str, str]]) -> None:
    """Turn the media-level observations of the given mediaIDs into human ones (type, name)."""
    rows = list(csv.DictReader(open(path, newline="")))
    for r in rows:
        if r["observationLevel"] == "media" and r["mediaID"] in labels:
            r["classificationMethod"] = "human"
            r["observationType"], r["scientificName"] = labels[r["mediaID"]]
            r["classificationProbability"] = ""
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_import_a_package_as_a_drop_with_human_labels(tmp_path, media, bundles):
    """biodiv classify -> Camtrap DP; a reviewer marks two images; biodiv import adds the deployment and media
    to a drop (ingestible as one) and the two human labels to a training set (ingestible as one)."""
    drop = tmp_path / "drop"
    (drop / "st-1" / "cam").mkdir(parents=True)
    (drop / "deployments.csv").write_text(
        "deploymentID,stationID,latitude,longitude,timezone,deploymentStart,deploymentEnd\n"
        "st-1-cam,st-1,31.3,120.6,Asia/Shanghai,2024-05-01T00:00:00+08:00,2024-05-31T00:00:00+08:00\n")
    for i in range(3):
        (drop / "st-1" / "cam" / f"IMG_{i}.JPG").write_bytes(
            media.exif_jpeg(rgb=(40 * i, 100, 30), taken=f"2024:05:02 0{i}:00:00"))
    pkg = tmp_path / "pkg"
    res = runner.invoke(cli.app, ["classify", str(drop), "--out", str(pkg), "--bundle", str(bundles["image"][0])])
    assert res.exit_code == 0, res.output
    ids = {m["filePath"]: m["mediaID"] for m in csv.DictReader(open(pkg / "media.csv"))}
    _set_human(pkg / "observations.csv", {ids["st-1/cam/IMG_0.JPG"]: ("animal", "Sus scrofa"),
                                          ids["st-1/cam/IMG_1.JPG"]: ("blank", "")})
    labels, rejected = human_labels(read_camtrap_dp(pkg), Catalogue.load())
    assert labels == {ids["st-1/cam/IMG_0.JPG"]: "Sus scrofa", ids["st-1/cam/IMG_1.JPG"]: "blank"}
    assert rejected == []

    new_drop, lab = tmp_path / "stations", tmp_path / "reviewed"
    res = runner.invoke(cli.app, ["import", "camtrap-dp", str(pkg), "--to", str(new_drop), "--media-root", str(drop),
                                  "--labels", str(lab)])
    assert res.exit_code == 0, res.output
    assert "1 deployments and 3 media" in res.output and "2 human labels" in res.output
    dep = next(csv.DictReader(open(new_drop / "deployments.csv")))
    assert (dep["deploymentID"], dep["stationID"], float(dep["latitude"])) == ("st-1-cam", "st-1", 31.3)
    records, rej = ingest_stations(new_drop)
    assert rej == [] and len(records) == 3
    assert sorted(r.timestamp for r in records) == [f"2024-05-02T0{i}:00:00+08:00" for i in range(3)]
    assert {r.deploymentID for r in records} == {"st-1-cam"}
    train, rej = ingest_labelled(lab, Catalogue.load())
    assert rej == [] and sorted(r.label for r in train) == ["Sus scrofa", "blank"]
    # a second import adds nothing twice
    res = runner.invoke(cli.app, ["import", "camtrap-dp", str(pkg), "--to", str(new_drop), "--media-root", str(drop),
                                  "--labels", str(lab)])
    assert "0 deployments" in res.output
    assert len(list(csv.DictReader(open(lab / "manifest.csv")))) == 2
    # media missing: a rejection with the reason, exit status 1
    res = runner.invoke(cli.app, ["import", "camtrap-dp", str(pkg), "--to", str(tmp_path / "x")])
    assert res.exit_code == cli.EXIT_REJECTED and "rejected missing_file: 3" in res.output


def test_two_species_on_one_image_is_no_training_label(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    seed_history(url)
    engine = make_engine(url)
    with Session(engine) as s:
        export_camtrap_dp(s, tmp_path / "pkg", Catalogue.load(), public=False)
    engine.dispose()
    rows = list(csv.DictReader(open(tmp_path / "pkg" / "observations.csv")))
    c1 = [r for r in rows if r["mediaID"] == "c1" and r["observationLevel"] == "media"][0]
    extra = dict(c1, observationID="extra", scientificName="Myocastor coypus", classificationMethod="human")
    for r in rows:
        if r is c1:
            r["classificationMethod"] = "human"
    with open(tmp_path / "pkg" / "observations.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, list(rows[0]))
        w.writeheader()
        w.writerows(rows + [extra])
    labels, rejected = human_labels(read_camtrap_dp(tmp_path / "pkg"), Catalogue.load())
    assert "c1" not in labels
    assert [(r.reason, r.filePath) for r in rejected if r.reason == "several_species"] == [
        ("several_species", "S1-cam/c1.jpg")]
