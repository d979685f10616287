"""Events, station statistics, deployments/GeoJSON and public-read filtering over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import math
import zipfile

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.auth import Principal, Role, get_principal
from tests.data_helpers import ROWS, seed_history

L, S = "Lithobates catesbeianus", "Sus scrofa"


@pytest.fixture()
def app_ids(settings):
    ids = seed_history(settings.database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        yield app, client, ids


def as_role(app, role: Role) -> None:
    """Simulate an API key of ``role`` (the access helper verifies real keys behind ``get_principal``)."""
    app.dependency_overrides[get_principal] = lambda: Principal(role=role, key_id="k1", name=role.name)


def keys(items, ids):
    back = {v: k for k, v in ids.items()}
    return [back[i["detectionID"]] for i in items]


def test_public_reads_hide_media_of_people_and_everything_on_it(app_ids):
    app, client, ids = app_ids
    public = client.get("/v1/detections", params={"include_total": True}).json()
    assert public["total"] == 10
    assert not {"h1", "h2"} & set(keys(public["items"], ids))  # the boar on the person's photo is hidden too
    assert client.get("/v1/detections", params={"mediaID": "c7"}).json()["items"] == []
    assert client.get("/v1/detections", params={"observationType": "human"}).json()["items"] == []
    as_role(app, Role.uploader)
    assert client.get("/v1/detections", params={"include_total": True}).json()["total"] == 10
    as_role(app, Role.reviewer)
    full = client.get("/v1/detections", params={"mediaID": "c7"}).json()["items"]
    assert sorted(keys(full, ids)) == ["h1", "h2"]


def test_events_listing_filters_paging_and_privacy(app_ids):
    app, client, _ = app_ids
    page = client.get("/v1/events").json()
    assert [e["eventID"] for e in page["items"]] == ["e2", "e1"]  # by eventStart; e3 (a person) hidden
    assert page["items"][1]["mediaID"] == "w1" and page["items"][1]["end_s"] == 6.0
    assert page["items"][0]["vernacularNameEN"] == "Wild boar"
    first = client.get("/v1/events", params={"limit": 1}).json()
    second = client.get("/v1/events", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [e["eventID"] for e in first["items"] + second["items"]] == ["e2", "e1"] and second["next_cursor"] is None
    assert [e["eventID"] for e in client.get("/v1/events", params={"modality": "audio"}).json()["items"]] == ["e1"]
    assert client.get("/v1/events", params={"scientificName": " lithobates CATESBEIANUS"}).json()["items"][0][
        "eventID"] == "e1"
    as_role(app, Role.reviewer)
    assert [e["eventID"] for e in client.get("/v1/events").json()["items"]] == ["e2", "e1", "e3"]
    r = client.get("/v1/events", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["eventID"] for row in rows] == ["e2", "e1", "e3"] and rows[2]["observationType"] == "human"
    assert client.get("/v1/events", params={"bogus": 1}).status_code == 422


def test_station_statistics_endpoints(app_ids):
    app, client, _ = app_ids
    counts = client.get("/v1/stations/S1/stats/counts", params={"interval": "week"}).json()
    assert counts["interval"] == "week" and counts["level"] == "media"
    # the public figures leave out c7 (a person and a boar on one image: h1, h2), as the pages do
    assert [(c["period"], c["scientificName"], c["count"]) for c in counts["counts"]] == [
        ("2024-W18", L, 3), ("2024-W18", S, 2), ("2024-W19", S, 1), ("2024-W23", "Myocastor coypus", 1)]
    diel = client.get("/v1/stations/S1/stats/diel").json()
    assert diel["hours"][S][6] == 2 and diel["hours"][L][20] == 2 and diel["total"][9] == 0
    assert sum(diel["total"]) == 7 and diel["total"][20] == 2 and len(diel["total"]) == 24
    as_role(app, Role.reviewer)
    counts = client.get("/v1/stations/S1/stats/counts", params={"interval": "week"}).json()
    assert [(c["period"], c["scientificName"], c["count"]) for c in counts["counts"]] == [
        ("2024-W18", L, 3), ("2024-W18", S, 3), ("2024-W19", S, 1), ("2024-W23", "Myocastor coypus", 1)]
    diel = client.get("/v1/stations/S1/stats/diel").json()
    assert sum(diel["total"]) == 8 and diel["total"][9] == 1
    rich = client.get("/v1/stations/S1/stats/richness").json()
    assert rich["observedRichness"] == 3 and rich["collectorsCurve"] == [2, 2, 2, 3]
    assert rich["maoTau"] == pytest.approx([1.5, 2.3333, 2.75, 3.0], abs=1e-4)
    ev = client.get("/v1/stations/S1/stats/counts", params={"level": "event", "interval": "month"}).json()
    assert [(c["period"], c["count"]) for c in ev["counts"]] == [("2024-05", 1), ("2024-05", 1)]
    # a known station without records: 200 and empty; an unknown one: 404
    assert client.get("/v1/stations/S2/stats/counts", params={"start": "2030-01-01T00:00:00Z"}).json()["counts"] == []
    assert client.get("/v1/stations/nowhere/stats/diel").status_code == 404
    assert client.get("/v1/stations/S1/stats/counts", params={"interval": "year"}).status_code == 422


def test_deployments_generalise_sensitive_sites_for_the_public(app_ids, settings):
    app, client, _ = app_ids
    deps = {d["deploymentID"]: d for d in client.get("/v1/deployments").json()}
    s2 = deps["S2-cam"]  # the leopard cat (sensitive) was recorded here
    assert (s2["latitude"], s2["longitude"], s2["coordinatesGeneralised"]) == (31.5, 121.0, True)
    assert s2["coordinateUncertainty_m"] == math.ceil(10 + math.sqrt(2) / 2 * 0.1 * 111_195) == 7873
    s1 = deps["S1-cam"]
    assert (s1["latitude"], s1["longitude"], s1["coordinatesGeneralised"]) == (31.23456, 120.67891, False)
    stations = client.get("/v1/stations").json()
    assert stations[1]["deployments"][0]["latitude"] == 31.5
    as_role(app, Role.reviewer)
    exact = {d["deploymentID"]: d for d in client.get("/v1/deployments").json()}["S2-cam"]
    assert (exact["latitude"], exact["longitude"], exact["coordinatesGeneralised"]) == (31.5432, 120.9876, False)


def test_geojson_of_deployments_and_stations(app_ids):
    _, client, _ = app_ids
    r = client.get("/v1/deployments", params={"format": "geojson", "stationID": "S1"})
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and [f["id"] for f in fc["features"]] == ["S1-cam", "S1-rec"]
    assert fc["features"][0]["geometry"] == {"type": "Point", "coordinates": [120.67891, 31.23456]}
    st = client.get("/v1/stations", headers={"Accept": "application/geo+json"}).json()
    s2 = next(f for f in st["features"] if f["id"] == "S2")
    assert s2["geometry"] == {"type": "MultiPoint", "coordinates": [[121.0, 31.5]]}  # generalised
    assert s2["properties"]["deploymentIDs"] == ["S2-cam"]


def test_export_endpoints_public_and_reviewer(app_ids):
    app, client, _ = app_ids
    r = client.get("/v1/export/camtrap-dp")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.content))
    assert set(zf.namelist()) == {"datapackage.json", "deployments.csv", "media.csv", "observations.csv",
                                  "warnings.csv"}
    media = list(csv.DictReader(io.StringIO(zf.read("media.csv").decode())))
    assert "c7" not in {m["mediaID"] for m in media} and len(media) == 8
    warnings = list(csv.DictReader(io.StringIO(zf.read("warnings.csv").decode())))
    assert {"table": "media", "id": "c8", "file": "c8.jpg"}.items() <= warnings[0].items()
    occ = list(csv.DictReader(io.StringIO(client.get("/v1/export/dwc").text)))
    assert {o["occurrenceID"] for o in occ} == {"e1", "e2"}  # event-level: the database has events
    as_role(app, Role.reviewer)
    zf = zipfile.ZipFile(io.BytesIO(client.get("/v1/export/camtrap-dp").content))
    assert "c7" in {m["mediaID"] for m in csv.DictReader(io.StringIO(zf.read("media.csv").decode()))}


def test_untimed_detection_is_listed_but_never_in_time_ranges(app_ids):
    _, client, ids = app_ids
    assert keys(client.get("/v1/detections", params={"mediaID": "c8"}).json()["items"], ids) == ["n1"]
    ranged = client.get("/v1/detections", params={"start": "2000-01-01T00:00:00Z", "limit": 500}).json()["items"]
    assert "n1" not in keys(ranged, ids) and len(ranged) == 9
    assert ROWS["n1"][2] == ""


def test_statistics_are_computed_once_for_all_workers(settings, monkeypatch):
    """Two app instances (two uvicorn workers) on one database share computed statistics (stats_cache)."""
    from models.store import stats

    seed_history(settings.database_url)
    calls = []
    real = stats.diel_activity
    monkeypatch.setattr(stats, "diel_activity", lambda *a, **k: calls.append(1) or real(*a, **k))
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        a = first.get("/v1/stations/S1/stats/diel").json()
        b = second.get("/v1/stations/S1/stats/diel").json()
        assert a == b and a["hours"][S][6] == 2 and calls == [1]
        second.get("/v1/stations/S1/stats/diel", params={"level": "event"})
        assert calls == [1, 1]  # another query is another entry
    fresh = settings.model_copy(update={"stats_cache_s": 0.0})
    with TestClient(create_app(fresh)) as nocache:
        nocache.get("/v1/stations/S1/stats/diel")
        nocache.get("/v1/stations/S1/stats/diel")
    assert len(calls) == 4  # TTL 0: computed every time
