"""GET /v1/detections, /v1/species and /v1/stations against a seeded database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.taxonomy.catalogue import Catalogue
from serve.app import create_app
from serve.settings import Settings
from tests.conftest import fresh_database_url
from tests.serve_helpers import seed_database


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, bundles,
           db_backend) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """App on a database (SQLite, and PostgreSQL when available) holding the rows of :func:`seed_database`
    (read-only tests share it).

    Yields (client, detection IDs by key).
    """
    root = tmp_path_factory.mktemp("seeded")
    settings = Settings(database_url=fresh_database_url(db_backend, root), media_root=root / "media",
                        image_bundle=bundles["image"][0], audio_bundle=bundles["audio"][0])
    ids = seed_database(settings.database_url)
    with TestClient(create_app(settings)) as c:
        yield c, ids


def _get(client: TestClient, **params) -> dict:
    r = client.get("/v1/detections", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _keys(page: dict, ids: dict[str, str]) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    return [by_id[i["detectionID"]] for i in page["items"]]


def test_all_detections_ordered_by_time_untimed_last(seeded):
    client, ids = seeded
    page = _get(client)
    assert page["total"] is None and page["limit"] == 100 and page["next_cursor"] is None
    assert _keys(page, ids) == ["d1", "d2", "d3", "d5", "d4"]
    assert _get(client, include_total=True)["total"] == 5
    first = page["items"][0]
    assert first["eventStart"] == "2024-05-01T08:00:00+08:00"
    assert first["topK"] == [["Lithobates catesbeianus", 0.91]]
    assert "eventStartUTC" not in first


def test_scientific_name_is_trimmed_and_case_insensitive(seeded):
    client, ids = seeded
    page = _get(client, scientificName="  lithobates   CATESBEIANUS\t\r", include_total=True)
    assert page["total"] == 2
    assert _keys(page, ids) == ["d1", "d2"]
    assert [i["classificationProbability"] for i in page["items"]] == [0.91, 0.55]
    assert {i["scientificName"] for i in page["items"]} == {"Lithobates catesbeianus"}
    assert {(i["vernacularNameEN"], i["vernacularNameZH"]) for i in page["items"]} == {("American bullfrog", "牛蛙")}


def test_invasive_filter(seeded):
    client, ids = seeded
    assert _keys(_get(client, invasive="true"), ids) == ["d1", "d2"]
    assert all(i["isInvasive"] for i in _get(client, invasive=True)["items"])
    assert _keys(_get(client, invasive="false"), ids) == ["d3", "d5", "d4"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"modality": "audio"}, ["d2", "d3"]),
    ({"stationID": "S2"}, ["d5", "d4"]),
    ({"deploymentID": "S1-rec"}, ["d2", "d3"]),
    ({"mediaID": "m3"}, ["d4"]),
    ({"observationType": "blank"}, ["d5"]),
    ({"min_probability": 0.6}, ["d1", "d5", "d4"]),
    ({"min_probability": 0.91}, ["d1"]),
    ({"stationID": "S1", "modality": "image"}, ["d1"]),
])
def test_simple_filters(seeded, params, expected):
    client, ids = seeded
    page = _get(client, include_total=True, **params)
    assert page["total"] == len(expected)
    assert _keys(page, ids) == expected


def test_blank_detection_has_null_name_and_no_vernacular(seeded):
    client, _ = seeded
    (item,) = _get(client, observationType="blank")["items"]
    assert item["scientificName"] is None and item["vernacularNameEN"] is None and item["isInvasive"] is False


def test_time_range_uses_utc_and_excludes_untimed_rows(seeded):
    client, ids = seeded
    may = _get(client, start="2024-05-01T00:00:00+08:00", end="2024-05-31T23:59:59Z")
    assert _keys(may, ids) == ["d1", "d2", "d3"]
    # d2 is 2024-05-02T12:00:00Z: inclusive bounds, whatever offset the client uses.
    assert _keys(_get(client, start="2024-05-02T20:00:00+08:00", end="2024-05-02T12:00:00+00:00"), ids) == ["d2"]
    assert _keys(_get(client, start="2024-05-02T12:00:01Z"), ids) == ["d3", "d5"]
    assert _keys(_get(client, end="2024-05-01T00:00:00Z"), ids) == ["d1"]


def test_keyset_pagination_walks_every_row_once(seeded):
    client, ids = seeded
    everything = _keys(_get(client), ids)
    pages, cursor = [], None
    while True:
        page = _get(client, limit=2, include_total=True, **({"cursor": cursor} if cursor else {}))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert sum((_keys(p, ids) for p in pages), []) == everything
    assert _get(client, limit=500)["limit"] == 500


def test_keyset_pagination_descending_and_by_probability(seeded):
    client, ids = seeded
    assert _keys(_get(client, sort="-eventStart"), ids) == ["d5", "d3", "d2", "d1", "d4"]  # untimed still last
    first = _get(client, sort="-classificationProbability", limit=3)
    assert _keys(first, ids) == ["d1", "d5", "d4"]
    rest = _get(client, sort="-classificationProbability", limit=3, cursor=first["next_cursor"])
    assert _keys(rest, ids) == ["d2", "d3"] and rest["next_cursor"] is None
    # a cursor crossing from timed to untimed rows
    p1 = _get(client, limit=4)
    assert _keys(p1, ids) == ["d1", "d2", "d3", "d5"]
    assert _keys(_get(client, limit=4, cursor=p1["next_cursor"]), ids) == ["d4"]


def test_cursor_is_bound_to_its_filters_and_sort(seeded):
    client, _ = seeded
    cursor = _get(client, limit=1, stationID="S1")["next_cursor"]
    assert client.get("/v1/detections", params={"limit": 1, "stationID": "S2", "cursor": cursor}).status_code == 422
    assert client.get("/v1/detections", params={"limit": 1, "stationID": "S1", "cursor": cursor,
                                                "sort": "-eventStart"}).status_code == 422
    for junk in ("not-a-cursor", "e30", "!!!"):
        r = client.get("/v1/detections", params={"cursor": junk})
        assert r.status_code == 422 and "cursor" in r.text


def test_csv_by_parameter_and_by_accept_header(seeded):
    import csv
    import io

    client, ids = seeded
    r = client.get("/v1/detections", params={"format": "csv", "stationID": "S1", "limit": 2})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["detectionID"] for row in rows] == [ids["d1"], ids["d2"]]
    assert rows[0]["scientificName"] == "Lithobates catesbeianus" and rows[0]["classificationProbability"] == "0.91"
    assert rows[0]["topK"] == '[["Lithobates catesbeianus", 0.91]]'
    rest = client.get("/v1/detections", params={"format": "csv", "stationID": "S1", "limit": 2,
                                                "cursor": r.headers["X-Next-Cursor"]})
    assert [row["detectionID"] for row in csv.DictReader(io.StringIO(rest.text))] == [ids["d3"]]
    assert "X-Next-Cursor" not in rest.headers
    by_accept = client.get("/v1/detections", params={"observationType": "blank"}, headers={"Accept": "text/csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    (blank,) = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert blank["detectionID"] == ids["d5"] and blank["scientificName"] == ""


@pytest.mark.parametrize("params", [
    {"scientificName": "Lithobates clamitans"}, {"stationID": "nowhere"}, {"mediaID": "m1", "modality": "audio"},
    {"start": "2030-01-01T00:00:00Z"},
])
def test_no_match_is_an_empty_page(seeded, params):
    client, _ = seeded
    assert _get(client, **params) == {"total": None, "limit": 100, "next_cursor": None, "items": []}
    assert _get(client, include_total=True, **params)["total"] == 0


@pytest.mark.parametrize("params", [
    {"modality": "video"}, {"min_probability": 1.5}, {"min_probability": -0.1}, {"limit": 0}, {"limit": 501},
    {"offset": 10}, {"invasive": "maybe"}, {"sort": "detectionID"},
    {"format": "xml"}, {"start": "2024-05-01T00:00:00"}, {"start": "yesterday"},
    {"start": "2024-06-01T00:00:00Z", "end": "2024-05-01T00:00:00Z"}, {"scientificName": "  \t "},
    {"scientificname": "Sus scrofa"},
])
def test_invalid_parameters_are_422(seeded, params):
    client, _ = seeded
    assert client.get("/v1/detections", params=params).status_code == 422


def test_species_with_counts_and_invasive_filter(seeded):
    client, _ = seeded
    catalogue = Catalogue.load()
    everything = client.get("/v1/species").json()
    assert len(everything) == len(catalogue)
    counts = {s["scientificName"]: s["detections"] for s in everything}
    assert counts["Lithobates catesbeianus"] == 2 and counts["Sus scrofa"] == 2
    assert sum(counts.values()) == 4  # the blank is no species
    boar = next(s for s in everything if s["scientificName"] == "Sus scrofa")
    assert boar["class"] == "Mammalia" and boar["vernacularNameEN"] == "Wild boar" and boar["isInvasive"] is False
    invasive = client.get("/v1/species", params={"invasive": True}).json()
    assert {s["scientificName"] for s in invasive} == {sp.scientificName for sp in catalogue if sp.is_invasive}
    assert all(s["isInvasive"] and s["statusChina"] == "invasive" for s in invasive)
    native = client.get("/v1/species", params={"invasive": False}).json()
    assert len(native) + len(invasive) == len(catalogue)
    assert client.get("/v1/species", params={"invasive": "perhaps"}).status_code == 422


def test_species_without_detections_is_200_empty(seeded):
    """BR-20: a species with no detections gives 200 and an empty list, not 404."""
    client, _ = seeded
    counts = {s["scientificName"]: s["detections"] for s in client.get("/v1/species").json()}
    assert counts["Lithobates clamitans"] == 0
    r = client.get("/v1/detections", params={"scientificName": "Lithobates clamitans"})
    assert r.status_code == 200 and r.json()["items"] == []


def test_stations_with_deployments_and_counts(seeded):
    client, _ = seeded
    stations = client.get("/v1/stations").json()
    assert [s["stationID"] for s in stations] == ["S1", "S2"]
    s1, s2 = stations
    assert s1["stationName"] == "Wetland" and s1["detections"] == 3 and s2["detections"] == 2
    assert [(d["deploymentID"], d["detections"]) for d in s1["deployments"]] == [("S1-cam", 1), ("S1-rec", 2)]
    assert [(d["deploymentID"], d["timezone"]) for d in s2["deployments"]] == [("S2-cam", "Asia/Shanghai")]


def test_empty_database_lists_are_empty(client):
    assert client.get("/v1/stations").json() == []
    assert client.get("/v1/detections", params={"include_total": True}).json()["total"] == 0
    assert all(s["detections"] == 0 for s in client.get("/v1/species").json())
