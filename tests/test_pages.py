"""The first web pages (serve/pages.py): overview and detections list, zh / en, the public view, offline."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from tests.serve_helpers import seed_database


@pytest.fixture()
def pages(settings):
    ids = seed_database(settings.database_url)
    with TestClient(create_app(settings)) as c:
        yield c, ids


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    cells = [[re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)]
             for r in rows]
    return [[" ".join(c) for c in row] for row in cells if row]


def test_overview_counts_per_station_and_links_to_the_detections(pages):
    c, _ = pages
    r = c.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    rows = _cells(r.text)
    # S1: 3 detections, 2 species, 2 invasive alerts; S2: 2 detections (one blank), 1 species
    assert [row[0] for row in rows] == ["Wetland S1", "Forest S2"]
    assert [row[1] for row in rows] == ["3", "2"] and [row[3] for row in rows] == ["2", "1"]
    assert 'href="/detections?stationID=S1&amp;lang=en"' in r.text
    assert "Overview" in r.text and 'lang="en"' in r.text


def test_language_by_header_and_switch(pages):
    c, _ = pages
    zh = c.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "概览" in zh.text and 'lang="zh-CN"' in zh.text and ">English<" in zh.text
    assert "Overview" in c.get("/?lang=en", headers={"Accept-Language": "zh-CN"}).text
    d = c.get("/detections?lang=zh&stationID=S1")
    assert "牛蛙" in d.text  # the catalogue's Chinese name of Lithobates catesbeianus
    assert 'href="/detections?stationID=S1&amp;lang=en"' in d.text  # the switch keeps the filters


def test_detections_page_filters_like_the_api(pages):
    c, ids = pages
    html = c.get("/detections", params={"stationID": "S1", "lang": "en"}).text
    rows = _cells(html)
    assert len(rows) == 3 and {r[2] for r in rows} == {"S1"}
    assert all("Lithobates catesbeianus" in r[3] or "Wild boar" in r[3] for r in rows)
    api = c.get("/v1/detections", params={"stationID": "S1"}).json()["items"]
    assert len(api) == len(rows)
    assert len(_cells(c.get("/detections", params={"min_probability": "0.8"}).text)) == 2  # 0.91 and 0.88
    bad = c.get("/detections", params={"min_probability": "x"})
    assert bad.status_code == 200 and "min_probability" in bad.text  # the error is shown, the page still works


def test_pages_load_nothing_from_another_host(pages):
    c, _ = pages
    for path in ("/", "/detections"):
        html = c.get(path).text
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert refs and all(not re.match(r"^[a-z]+://", u) and not u.startswith("//") for u in refs), refs
    assert c.get("/static/htmx/htmx.min.js").status_code == 200


def test_the_public_view_hides_media_with_people(settings):
    from sqlalchemy.orm import Session

    from models.store.db import make_engine
    from tests.serve_helpers import _det

    seed_database(settings.database_url)
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        person = _det("m1", "image", None, 0.7, False, "2024-05-01T08:00:00+08:00", deployment="S1-cam", station="S1",
                      start_s=1.0)
        person.observationType = "human"
        s.add(person)
        s.commit()
    engine.dispose()
    with TestClient(create_app(settings)) as c:
        html = c.get("/detections", params={"stationID": "S1", "lang": "en"}).text
        assert "Public view" in html and "human" not in "".join(r[4] for r in _cells(html))
        assert len(_cells(html)) == 2  # m1's bullfrog and its person are both hidden: the frame shows a person
        assert _cells(c.get("/").text)[0][1] == "2"


def test_species_by_vernacular_name_dates_hours_and_review_status(pages):
    c, ids = pages
    zh = _cells(c.get("/detections", params={"scientificName": "牛蛙", "lang": "zh"}).text)
    assert len(zh) == 2 and all("Lithobates catesbeianus" in r[3] for r in zh)  # d1 (image) and d2 (audio)
    boar = _cells(c.get("/detections", params={"scientificName": "wild boar"}).text)
    assert len(boar) == 2 and all("Sus scrofa" in r[3] for r in boar)
    # calendar dates in Asia/Shanghai: d1 is 2024-05-01 08:00 +08:00, d2/d3 2024-05-02 20:00 +08:00
    may1 = _cells(c.get("/detections", params={"date_from": "2024-05-01", "date_to": "2024-05-01"}).text)
    assert [r[1] for r in may1] == ["2024-05-01T08:00:00+08:00"]
    evening = _cells(c.get("/detections", params={"hour_from": "19", "hour_to": "5"}).text)  # wraps midnight
    assert sorted(r[1] for r in evening) == ["2024-05-02T20:00:00+08:00", "2024-05-02T20:00:03+08:00"]
    band = _cells(c.get("/detections", params={"min_probability": "0.5", "max_probability": "0.8"}).text)
    assert sorted(r[5] for r in band) == ["0.55", "0.77"]
    assert len(_cells(c.get("/detections", params={"reviewed": "true"}).text)) == 1  # "none" row only
    assert "No detections match." in c.get("/detections", params={"reviewed": "true"}).text
    bad = c.get("/detections", params={"date_from": "2024-13-01"})
    assert bad.status_code == 200 and "YYYY-MM-DD" in bad.text


def test_export_links_carry_the_selection(pages):
    c, ids = pages
    html = c.get("/detections", params={"stationID": "S1", "modality": "audio"}).text
    link = re.search(r'href="(/v1/export/detections\?[^"]+)"', html).group(1).replace("&amp;", "&")
    rows = c.get(link).text.strip().splitlines()
    assert rows[0].startswith("detectionID,") and len(rows) == 3  # header + d2 + d3
    assert {ids["d2"], ids["d3"]} == {r.split(",")[0] for r in rows[1:]}
    dwc = c.get(re.search(r'href="(/v1/export/dwc\?[^"]+)"', html).group(1).replace("&amp;", "&"))
    assert dwc.status_code == 200
