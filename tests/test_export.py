"""Camtrap DP 1.0.2 and Darwin Core exports (models.store.export): content, privacy, BR-03, frictionless validation."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from models.store.db import make_engine
from models.store.export import CAMTRAP_DP_PROFILE, export_camtrap_dp, export_dwc_occurrences, validate_package
from models.taxonomy.catalogue import Catalogue
from tests.data_helpers import seed_history


@pytest.fixture()
def seeded(db_url):
    ids = seed_history(db_url)
    engine = make_engine(db_url)
    with Session(engine) as s:
        yield s, ids
    engine.dispose()


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_public_package_content_and_validation(seeded, tmp_path):
    session, ids = seeded
    report = export_camtrap_dp(session, tmp_path / "pkg", Catalogue.load(), precision_deg=0.1)
    pkg = tmp_path / "pkg"
    assert validate_package(pkg) == []
    assert report.rows == {"deployments": 3, "media": 8, "observations": 11, "warnings": 2}
    assert report.withheld == {"media": 1, "observations": 3}  # c7 (a person), its 2 detections and event e3
    deps = {d["deploymentID"]: d for d in rows(pkg / "deployments.csv")}
    assert (deps["S2-cam"]["latitude"], deps["S2-cam"]["longitude"], deps["S2-cam"]["coordinateUncertainty"]) == (
        "31.5", "121.0", "7873")
    assert (deps["S1-cam"]["latitude"], deps["S1-cam"]["coordinateUncertainty"]) == ("31.23456", "30")
    assert deps["S1-cam"]["deploymentStart"] == "2024-04-30T12:00:00+08:00"
    assert deps["S1-rec"]["deploymentStart"] == "2024-05-01T12:00:00+00:00"  # from its media (UTC)
    assert deps["S1-cam"]["locationID"] == "S1" and deps["S1-cam"]["locationName"] == "Wetland"
    assert deps["S1-cam"]["timestampIssues"] == "true"  # c8 has no time
    media = {m["mediaID"]: m for m in rows(pkg / "media.csv")}
    assert set(media) == {"c1", "c2", "c3", "c4", "c5", "c6", "w1", "c9"}
    assert media["w1"]["fileMediatype"] == "audio/wav" and media["c1"]["timestamp"] == "2024-05-01T06:10:00+08:00"
    obs = {o["observationID"]: o for o in rows(pkg / "observations.csv")}
    r2 = obs[ids["r2"]]
    assert (r2["observationLevel"], r2["eventStart"], r2["eventEnd"], r2["eventID"], r2["mediaID"]) == (
        "media", "2024-05-01T20:00:03+08:00", "2024-05-01T20:00:06+08:00", "e1", "w1")
    assert (r2["classificationMethod"], r2["classificationProbability"], r2["scientificName"]) == (
        "machine", "0.75", "Lithobates catesbeianus")
    ev = obs["event-e1"]
    assert (ev["observationLevel"], ev["eventEnd"], ev["mediaID"]) == ("event", "2024-05-01T20:00:06+08:00", "w1")
    assert obs[ids["b1"]]["observationType"] == "blank" and obs[ids["b1"]]["scientificName"] == ""
    desc = json.loads((pkg / "datapackage.json").read_text())
    assert [r["name"] for r in desc["resources"]] == ["deployments", "media", "observations"]
    assert desc["coordinatePrecision"] == 0.1 and desc["project"]["observationLevel"] == ["media", "event"]
    assert desc["temporal"] == {"start": "2024-04-30", "end": "2024-06-30"}
    assert {t["scientificName"] for t in desc["taxonomic"]} == {
        "Lithobates catesbeianus", "Myocastor coypus", "Prionailurus bengalensis", "Sus scrofa"}
    assert desc["biodiv:camtrapDP"] == {"version": "1.0.2", "profile": CAMTRAP_DP_PROFILE}


def test_br03_media_without_time_is_rejected_naming_the_file(seeded, tmp_path):
    """BR-03: a Camtrap DP export rejects the row with a message naming the file (warnings section)."""
    session, ids = seeded
    report = export_camtrap_dp(session, tmp_path / "pkg", Catalogue.load())
    media_warning, obs_warning = report.warnings
    assert (media_warning["table"], media_warning["id"], media_warning["file"]) == ("media", "c8", "c8.jpg")
    assert media_warning["reason"].startswith("no capture timestamp (timestampIssues=missing; stored as S1-cam/c8.jpg)")
    assert (obs_warning["table"], obs_warning["id"]) == ("observations", ids["n1"])
    assert rows(tmp_path / "pkg" / "warnings.csv") == report.warnings
    assert "c8" not in {m["mediaID"] for m in rows(tmp_path / "pkg" / "media.csv")}
    dwc = export_dwc_occurrences(session, tmp_path / "occ.csv", Catalogue.load(), level="media")
    assert [(w["table"], w["id"]) for w in dwc.warnings] == [("occurrences", ids["n1"])]


def test_full_package_keeps_people_and_exact_coordinates(seeded, tmp_path):
    session, ids = seeded
    report = export_camtrap_dp(session, tmp_path / "pkg", Catalogue.load(), public=False)
    assert validate_package(tmp_path / "pkg") == []
    assert report.rows["media"] == 9 and report.rows["observations"] == 14 and report.generalised == []
    deps = {d["deploymentID"]: d for d in rows(tmp_path / "pkg" / "deployments.csv")}
    assert (deps["S2-cam"]["latitude"], deps["S2-cam"]["longitude"]) == ("31.5432", "120.9876")
    obs = {o["observationID"]: o for o in rows(tmp_path / "pkg" / "observations.csv")}
    assert obs[ids["h1"]]["observationType"] == "human" and "coordinatePrecision" not in json.loads(
        (tmp_path / "pkg" / "datapackage.json").read_text())


def test_validation_catches_a_broken_row(seeded, tmp_path):
    session, _ = seeded
    export_camtrap_dp(session, tmp_path / "pkg", Catalogue.load())
    obs = tmp_path / "pkg" / "observations.csv"
    obs.write_text(obs.read_text().replace(",media,animal,", ",media,dragon,", 1))
    errors = validate_package(tmp_path / "pkg")
    assert len(errors) == 1 and "enum" in errors[0]


def test_darwin_core_media_level(seeded, tmp_path):
    session, ids = seeded
    report = export_dwc_occurrences(session, tmp_path / "occ.csv", Catalogue.load(), level="media")
    occ = {o["occurrenceID"]: o for o in rows(tmp_path / "occ.csv")}
    by_key = {k: ids[k] for k in ("a1", "a2", "a3", "a4", "a5", "r1", "r2", "l1")}
    assert set(occ) == set(by_key.values()) and report.withheld == {"occurrences": 1}  # h2: on a person's photo
    cat = occ[ids["l1"]]
    assert (cat["scientificName"], cat["decimalLatitude"], cat["decimalLongitude"]) == (
        "Prionailurus bengalensis", "31.5", "121.0")
    assert cat["coordinateUncertaintyInMeters"] == "7873" and cat["coordinatePrecision"] == "0.1"
    assert cat["dataGeneralizations"].startswith("Coordinates generalised to a 0.1 degree grid")
    boar = occ[ids["a1"]]
    assert (boar["basisOfRecord"], boar["eventDate"], boar["samplingProtocol"], boar["kingdom"], boar["family"]) == (
        "MachineObservation", "2024-05-01T06:10:00+08:00", "camera trap", "Animalia", "Suidae")
    assert (boar["decimalLatitude"], boar["geodeticDatum"], boar["dataGeneralizations"]) == ("31.23456", "WGS84", "")
    assert occ[ids["r1"]]["samplingProtocol"] == "acoustic recorder"


def test_cli_writes_and_validates_a_package(db_url, tmp_path):
    from pipeline.export import app

    seed_history(db_url)
    out = tmp_path / "cli-pkg"
    result = CliRunner().invoke(app, ["camtrap-dp", str(out), "--database-url", db_url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.splitlines()[0])
    assert summary["rows"]["media"] == 8 and summary["generalised"] == ["S2-cam"]
    assert "frictionless: valid" in result.output
    result = CliRunner().invoke(app, ["dwc", str(tmp_path / "occ.csv"), "--database-url", db_url])
    assert result.exit_code == 0 and len(rows(tmp_path / "occ.csv")) == 2
    # and the frictionless command line agrees (what CI and data users run)
    exe = shutil.which("frictionless", path=str(Path(sys.executable).parent))
    assert exe, "frictionless CLI not installed"
    done = subprocess.run([exe, "validate", str(out / "datapackage.json")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
