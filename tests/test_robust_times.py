"""Local times that do not exist or happen twice, camera clocks outside their deployment, and deployment
metadata validated at ingest (issue 14 items 1 and 7 "camera clocks")."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models.ingest import ingest_stations, validate_deployments
from models.media.timestamps import dst_issue, localise, resolve_repeated_hour, usable_time
from models.store.db import Deployment
from tests.serve_helpers import jpeg_with_exif_time

NY = "America/New_York"  # 2024: spring gap 03-10 02:00-03:00, repeated hour 11-03 01:00-02:00
BERLIN = "Europe/Berlin"  # 2024: gap 03-31 02:00-03:00, repeated 10-27 02:00-03:00
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("naive", "tz", "issue"), [
    (datetime(2024, 3, 10, 2, 30), NY, "dst_nonexistent"),
    (datetime(2024, 3, 10, 2, 0), NY, "dst_nonexistent"),
    (datetime(2024, 3, 10, 3, 0), NY, ""),
    (datetime(2024, 11, 3, 1, 0), NY, "dst_ambiguous"),
    (datetime(2024, 11, 3, 1, 59, 59), NY, "dst_ambiguous"),
    (datetime(2024, 11, 3, 2, 0), NY, ""),
    (datetime(2024, 10, 27, 2, 30), BERLIN, "dst_ambiguous"),
    (datetime(2024, 3, 31, 2, 30), BERLIN, "dst_nonexistent"),
    (datetime(2024, 7, 1, 12, 0), BERLIN, ""),
    (datetime(2024, 11, 3, 1, 30), "Asia/Shanghai", ""),
])
def test_dst_issue(naive, tz, issue):
    assert dst_issue(naive, ZoneInfo(tz)) == issue
    stamp, issues = localise(naive, tz_name=tz, now=NOW)
    assert (issue in issues.split(";")) if issue else issues == ""
    assert usable_time(stamp, issues) == (issue == "")


def test_device_offset_is_never_a_dst_problem():
    stamp, issues = localise(datetime(2024, 11, 3, 1, 30), "-05:00", NY, now=NOW)
    assert stamp == "2024-11-03T01:30:00-05:00" and issues == ""


zones = st.sampled_from([NY, BERLIN, "Australia/Sydney", "America/Santiago", "Europe/London", "Asia/Shanghai"])


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2024, 12, 31)), zones)
@settings(max_examples=600, deadline=None)
def test_never_an_instant_off_without_a_flag(naive, tz_name):
    """Whenever localise gives an unflagged time, it is the one and only instant showing that wall time."""
    stamp, issues = localise(naive, tz_name=tz_name, now=NOW)
    tz = ZoneInfo(tz_name)
    aware = datetime.fromisoformat(stamp)
    if "dst_ambiguous" in issues or "dst_nonexistent" in issues:
        assert not usable_time(stamp, issues)
        return
    assert issues == ""
    assert aware.astimezone(tz).replace(tzinfo=None) == naive  # exists, and reads back as written
    other = naive.replace(tzinfo=tz, fold=1 - naive.fold)
    assert other.astimezone(UTC) == aware.astimezone(UTC)  # and happens only once


def _stamps(walls: list[datetime], tz: str = NY) -> list[tuple[str, str]]:
    return [localise(w, tz_name=tz, now=NOW) for w in walls]


def test_burst_across_the_fall_back_is_resolved_by_order():
    walls = [datetime(2024, 11, 3, 0, 59, 58), datetime(2024, 11, 3, 1, 59, 58), datetime(2024, 11, 3, 1, 59, 59),
             datetime(2024, 11, 3, 1, 0, 0), datetime(2024, 11, 3, 1, 0, 1), datetime(2024, 11, 3, 2, 0, 5)]
    out = resolve_repeated_hour(_stamps(walls), NY)
    assert [s for s, _ in out] == ["2024-11-03T00:59:58-04:00", "2024-11-03T01:59:58-04:00",
                                   "2024-11-03T01:59:59-04:00", "2024-11-03T01:00:00-05:00",
                                   "2024-11-03T01:00:01-05:00", "2024-11-03T02:00:05-05:00"]
    assert [i for _, i in out] == ["", "dst_resolved", "dst_resolved", "dst_resolved", "dst_resolved", ""]
    instants = [datetime.fromisoformat(s) for s, _ in out]
    assert instants == sorted(instants) and instants[3] - instants[2] == timedelta(seconds=1)
    assert all(usable_time(*x) for x in out)


@pytest.mark.parametrize("walls", [
    [datetime(2024, 11, 3, 1, 30)],  # alone: either hour fits
    [datetime(2024, 11, 3, 0, 50), datetime(2024, 11, 3, 1, 10), datetime(2024, 11, 3, 1, 20),
     datetime(2024, 11, 3, 2, 10)],  # never runs backwards: both hours fit
])
def test_repeated_hour_without_evidence_stays_unusable(walls):
    out = resolve_repeated_hour(_stamps(walls), NY)
    for (stamp, issues), wall in zip(out, walls, strict=True):
        if dst_issue(wall, ZoneInfo(NY)):
            assert "dst_ambiguous" in issues and not usable_time(stamp, issues)


def test_contradictory_order_stays_unusable():
    """Neighbours that no choice of hour can put in order: nothing is resolved."""
    walls = [datetime(2024, 11, 3, 3, 0), datetime(2024, 11, 3, 1, 30), datetime(2024, 11, 3, 0, 30)]
    out = resolve_repeated_hour(_stamps(walls), NY)
    assert out[1][1] == "dst_ambiguous"


def test_outside_deployment_and_implausible_both_flagged():
    window = ("2024-04-01T00:00:00+08:00", "2024-06-01T00:00:00+08:00")
    _, issues = localise(datetime(1995, 1, 1), tz_name="Asia/Shanghai", now=NOW, window=window)
    assert set(issues.split(";")) == {"implausible", "outside_deployment"}
    _, issues = localise(datetime(2024, 9, 1), tz_name="Asia/Shanghai", now=NOW, window=window)
    assert issues == "outside_deployment"
    _, issues = localise(datetime(2024, 5, 1), tz_name="Asia/Shanghai", now=NOW, window=window)
    assert issues == ""


# --- station drops ----------------------------------------------------------------------------------------

def _write_deployments(root: Path, rows: list[dict]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    fields = ["deploymentID", "stationID", "timezone", "latitude", "longitude", "deploymentStart", "deploymentEnd"]
    with open(root / "deployments.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def test_drop_resolves_a_fall_back_burst_and_flags_a_lone_one(tmp_path):
    root = tmp_path / "drop"
    _write_deployments(root, [{"deploymentID": "cam", "timezone": NY}, {"deploymentID": "lone", "timezone": NY}])
    for i, stamp in enumerate(["2024:11:03 01:59:58", "2024:11:03 01:59:59", "2024:11:03 01:00:00",
                               "2024:11:03 01:00:01"], start=1):
        (root / "cam").mkdir(exist_ok=True)
        (root / "cam" / f"IMG_{i:04d}.JPG").write_bytes(jpeg_with_exif_time(stamp, seed=i))
    (root / "lone").mkdir()
    (root / "lone" / "IMG_0001.JPG").write_bytes(jpeg_with_exif_time("2024:11:03 01:30:00", seed=9))
    (root / "lone" / "IMG_0002.JPG").write_bytes(jpeg_with_exif_time("2024:03:10 02:30:00", seed=10))
    records, rejections = ingest_stations(root)
    assert rejections == []
    got = {r.filePath: (r.timestamp, r.timestampIssues) for r in records}
    assert got["cam/IMG_0002.JPG"] == ("2024-11-03T01:59:59-04:00", "dst_resolved")
    assert got["cam/IMG_0003.JPG"] == ("2024-11-03T01:00:00-05:00", "dst_resolved")
    assert got["lone/IMG_0001.JPG"][1] == "dst_ambiguous"
    assert got["lone/IMG_0002.JPG"][1] == "dst_nonexistent"


@pytest.mark.parametrize(("row", "reason"), [
    ({"deploymentID": "a", "deploymentStart": "2024-06-01T00:00:00+08:00",
      "deploymentEnd": "2024-05-01T00:00:00+08:00"}, "end_before_start"),
    ({"deploymentID": "a", "timezone": "China/Beijing"}, "unknown_timezone"),
    ({"deploymentID": "a", "timezone": "Mars/Olympus"}, "unknown_timezone"),
    ({"deploymentID": "a", "latitude": "91", "longitude": "10"}, "invalid_coordinates"),
    ({"deploymentID": "a", "latitude": "10", "longitude": "-180.5"}, "invalid_coordinates"),
    ({"deploymentID": "a", "latitude": "nan", "longitude": "10"}, "invalid_coordinates"),
    ({"deploymentID": "a", "latitude": "north", "longitude": "10"}, "invalid_coordinates"),
    ({"deploymentID": "a", "latitude": "10"}, "invalid_coordinates"),
    ({"deploymentID": "a", "deploymentStart": "yesterday"}, "invalid_deployment_time"),
    ({"deploymentID": ""}, "missing_deployment_id"),
])
def test_bad_deployment_rows_are_rejections_with_reasons(row, reason):
    valid, rejections = validate_deployments([row, {"deploymentID": "ok", "timezone": "Asia/Shanghai"}])
    assert [d["deploymentID"] for d in valid] == ["ok"]
    assert [r.reason for r in rejections] == [reason] and rejections[0].filePath == "deployments.csv line 2"
    assert rejections[0].detail


def test_duplicate_ids_rejected_overlapping_and_open_ended_valid():
    rows = [{"deploymentID": "d1", "deploymentStart": "2024-01-01T00:00:00+08:00",
             "deploymentEnd": "2024-06-01T00:00:00+08:00", "latitude": "-33.5", "longitude": "-70.2"},
            {"deploymentID": "d2", "deploymentStart": "2024-03-01T00:00:00+08:00"},  # overlaps d1, open-ended
            {"deploymentID": "dup", "timezone": "Asia/Shanghai"}, {"deploymentID": "dup", "timezone": "UTC"}]
    valid, rejections = validate_deployments(rows)
    assert [d["deploymentID"] for d in valid] == ["d1", "d2"]
    assert [(r.filePath, r.reason) for r in rejections] == [("deployments.csv line 4", "duplicate_deployment"),
                                                            ("deployments.csv line 5", "duplicate_deployment")]


def test_files_of_a_rejected_deployment_are_rejected_not_ingested(tmp_path):
    root = tmp_path / "drop"
    _write_deployments(root, [{"deploymentID": "bad", "timezone": "Asia/Beijing"},
                              {"deploymentID": "good", "timezone": "Asia/Shanghai"}])
    for dep in ("bad", "good"):
        (root / dep).mkdir()
        (root / dep / "IMG_0001.JPG").write_bytes(jpeg_with_exif_time("2024:05:01 08:00:00", seed=len(dep)))
    records, rejections = ingest_stations(root)
    assert [r.filePath for r in records] == ["good/IMG_0001.JPG"]
    assert sorted((r.filePath, r.reason) for r in rejections) == [
        ("bad/IMG_0001.JPG", "invalid_deployment"), ("deployments.csv line 2", "unknown_timezone")]


def test_drop_camera_reset_flagged_outside_deployment_and_implausible(tmp_path):
    root = tmp_path / "drop"
    _write_deployments(root, [{"deploymentID": "cam", "timezone": "Asia/Shanghai",
                               "deploymentStart": "2024-04-01T00:00:00+08:00",
                               "deploymentEnd": "2024-06-01T00:00:00+08:00"}])
    (root / "cam").mkdir()
    (root / "cam" / "IMG_0001.JPG").write_bytes(jpeg_with_exif_time("1995:01:01 00:00:00"))
    (record,), _ = ingest_stations(root)
    assert set(record.timestampIssues.split(";")) == {"implausible", "outside_deployment"}


def test_upload_applies_the_deployment_window_like_a_drop(client, db, deployments, uploader_headers):
    dep = db.scalar(select(Deployment).where(Deployment.deploymentID == "S1-cam"))
    dep.deploymentStart, dep.deploymentEnd = "2024-04-01T00:00:00+08:00", "2024-06-01T00:00:00+08:00"
    db.commit()
    cases = [("1995:01:01 00:00:00", {"implausible", "outside_deployment"}), ("2024:09:01 08:00:00",
                                                                              {"outside_deployment"}),
             ("2024:05:01 08:00:00", set())]
    for seed, (stamp, expected) in enumerate(cases):
        r = client.post("/v1/media", files={"file": (f"IMG_{seed}.JPG", jpeg_with_exif_time(stamp, seed=seed),
                                                     "image/jpeg")},
                        data={"deploymentID": "S1-cam"}, headers=uploader_headers)
        assert r.status_code == 201, r.text
        media = r.json()["media"]
        assert set(filter(None, media["timestampIssues"].split(";"))) == expected, stamp
        assert (r.json()["detections"][0]["eventStart"] == "") == bool(expected)


def test_upload_in_the_repeated_hour_is_flagged_and_not_an_event_time(client, db, deployments, uploader_headers):
    dep = db.scalar(select(Deployment).where(Deployment.deploymentID == "S1-cam"))
    dep.timezone = NY
    db.commit()
    r = client.post("/v1/media", files={"file": ("IMG_1.JPG", jpeg_with_exif_time("2024:11:03 01:30:00"),
                                                 "image/jpeg")},
                    data={"deploymentID": "S1-cam"}, headers=uploader_headers)
    assert r.status_code == 201, r.text
    assert r.json()["media"]["timestampIssues"] == "dst_ambiguous"
    assert r.json()["detections"][0]["eventStart"] == ""
