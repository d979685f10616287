"""Exports that cannot attack their readers (issue 14 item 5): text a user or a file name controls never
starts a spreadsheet formula in any CSV the product writes; numbers stay numbers; key names are validated."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from models.media.tables import read_csv, restore_cell, safe_cell, write_csv
from models.store.db import Deployment, Detection, Media, Station, create_schema, detection_id, make_engine, to_utc
from models.store.export import export_camtrap_dp, export_dwc_occurrences
from models.store.keys import ApiKeyError, create_key
from models.taxonomy.catalogue import Catalogue

HOSTILE = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "=1", "'=1", "''+x"]


def _is_formula(cell: str) -> bool:
    """Would a spreadsheet evaluate this cell (and not show it as text or a number)?"""
    if not cell or cell[0] not in "=+-@\t\r":
        return False
    try:
        float(cell)
        return False
    except ValueError:
        return True


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_cell_neutralises_formula_text(text):
    out = safe_cell(text)
    assert out.startswith("'") and out[1:] == text and not _is_formula(out)
    assert restore_cell(out) == text


@pytest.mark.parametrize("value", ["-3.5", "+12", "-1e-3", ".5", "-0", "plain", "", "中文", "a=b", "2024-05-01"])
def test_numbers_and_plain_text_unchanged(value):
    assert safe_cell(value) == value and restore_cell(value) == value


@pytest.mark.parametrize("value", [-3.5, -7, 0, None, True])
def test_non_text_values_unchanged(value):
    assert safe_cell(value) is value


@given(st.text(max_size=30))
@settings(max_examples=500, deadline=None)
def test_escape_is_safe_and_reversible(text):
    out = safe_cell(text)
    assert not _is_formula(out)
    assert restore_cell(out) == text


def test_write_csv_round_trip_keeps_file_names(tmp_path):
    rows = [{"filePath": name, "n": -4, "x": "-4.25"} for name in HOSTILE]
    write_csv(tmp_path / "t.csv", rows, ["filePath", "n", "x"])
    with open(tmp_path / "t.csv", newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    assert all(not _is_formula(c) for r in raw for c in r.values())
    assert [r["n"] for r in raw] == ["-4"] * len(HOSTILE) and raw[0]["x"] == "-4.25"
    assert [r["filePath"] for r in read_csv(tmp_path / "t.csv")] == HOSTILE


@pytest.mark.parametrize("name", ["=cmd", "+x", "-x", "@x", "x\ty", "a\nb", "a\rb", "x\x00y", "<script>", "a" * 129,
                                  "", "   ", "_x"])
def test_bad_key_names_are_refused(db_backend, tmp_path, name):
    from tests.conftest import fresh_database_url

    engine = make_engine(fresh_database_url(db_backend, tmp_path))
    create_schema(engine)
    with Session(engine) as s, pytest.raises(ApiKeyError, match="name"):
        create_key(s, "reviewer", name)
    engine.dispose()


@pytest.mark.parametrize("name", ["station-1", "Li Wei (review)", "王小明", "ops@park.cn", "A. O'Neil", "2nd cam"])
def test_good_key_names_are_kept(db_backend, tmp_path, name):
    from tests.conftest import fresh_database_url

    engine = make_engine(fresh_database_url(db_backend, tmp_path))
    create_schema(engine)
    with Session(engine) as s:
        assert create_key(s, "reviewer", f"  {name} ").name == name
    engine.dispose()


def test_api_refuses_formula_key_name(client, api_key):
    admin = api_key("admin", "root")
    r = client.post("/v1/keys", json={"role": "reviewer", "name": "=HYPERLINK(1)"}, headers=admin)
    assert r.status_code == 422 and "letter or digit" in r.text
    r = client.post("/v1/keys", json={"role": "reviewer", "name": "审核员 1"}, headers=admin)
    assert r.status_code == 201


def _hostile_database(url: str) -> None:
    """A station whose IDs, file names and classifiedBy are formulas; a negative longitude."""
    engine = make_engine(url)
    create_schema(engine)
    event = "2024-05-01T08:00:00+08:00"
    with Session(engine) as s:
        s.add(Station(stationID="=st", stationName="@name"))
        s.add(Deployment(deploymentID="-dep+1", stationID="=st", deviceType="camera", timezone="Asia/Shanghai",
                         latitude=-33.5, longitude=-70.25, deploymentStart="2024-04-01T00:00:00+08:00",
                         deploymentEnd="2024-06-01T00:00:00+08:00"))
        s.add(Media(mediaID="m1", sha256="a" * 64, deploymentID="-dep+1", stationID="=st", modality="image",
                    filePath="=cmd|' /C calc'!A0.jpg", fileName="+evil.jpg", fileMediatype="image/jpeg",
                    timestamp=event, timestampUTC=to_utc(event), created=datetime(2024, 7, 1)))
        s.flush()
        s.add(Detection(detectionID=detection_id("m1", 0.0, "seed/1"), mediaID="m1", deploymentID="-dep+1",
                        stationID="=st", modality="image", start_s=0.0, end_s=0.0, eventStart=event,
                        eventStartUTC=to_utc(event), observationType="animal", scientificName="Sus scrofa",
                        classificationProbability=0.8, isInvasive=False, topK=[["Sus scrofa", 0.8]],
                        modelVersion="seed/1", classificationMethod="human", classifiedBy="@reviewer",
                        classificationTimestamp="2024-07-01T00:00:00+00:00"))
        s.commit()
    engine.dispose()


def _cells(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_camtrap_dp_and_dwc_exports_have_no_formulas(db_backend, tmp_path):
    from tests.conftest import fresh_database_url

    url = fresh_database_url(db_backend, tmp_path / "db")
    _hostile_database(url)
    engine = make_engine(url)
    with Session(engine) as s:
        export_camtrap_dp(s, tmp_path / "dp", Catalogue.load(), public=False)
        export_dwc_occurrences(s, tmp_path / "occurrence.csv", Catalogue.load(), public=False)
    engine.dispose()
    tables = {name: _cells(tmp_path / "dp" / f"{name}.csv") for name in ("deployments", "media", "observations")}
    tables["occurrence"] = _cells(tmp_path / "occurrence.csv")
    for name, rows in tables.items():
        assert rows, name
        for row in rows:
            bad = {k: v for k, v in row.items() if _is_formula(v)}
            assert not bad, (name, bad)
    dep = tables["deployments"][0]
    assert dep["deploymentID"] == "'-dep+1" and float(dep["longitude"]) == -70.25 and float(dep["latitude"]) == -33.5
    media = tables["media"][0]
    assert media["fileName"] == "'+evil.jpg" and media["filePath"].startswith("'=")
    assert tables["observations"][0]["classifiedBy"] == "'@reviewer"


def test_api_csv_replies_have_no_formulas(settings, client, api_key):
    _hostile_database(settings.database_url)
    admin = api_key("admin", "root")
    for path in ("/v1/detections", "/v1/events"):
        r = client.get(path, params={"format": "csv"}, headers=admin)
        assert r.status_code == 200
        rows = list(csv.DictReader(io.StringIO(r.text)))
        for row in rows:
            assert not {k: v for k, v in row.items() if _is_formula(v)}, row
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/detections", params={"format": "csv"},
                                                      headers=admin).text)))
    assert rows[0]["deploymentID"] == "'-dep+1" and rows[0]["classifiedBy"] == "'@reviewer"
    assert float(rows[0]["classificationProbability"]) == 0.8
