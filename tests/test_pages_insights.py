"""The insight pages (/stations, /species, /species/{name}, /statistics, /progress) on the hand-checkable history of
``tests.data_helpers`` with five reviews (:func:`tests.data_helpers.seed_reviews`): real counts per bin, SVG bars
and points, the confirmed share per band, the public view and bad input."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models.store.db import make_engine
from models.store.keys import create_key
from serve.app import create_app
from tests.data_helpers import seed_reviews


@pytest.fixture()
def app(settings):
    seed_reviews(settings.database_url)
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        token = create_key(s, "reviewer", "Li Wei").token
    engine.dispose()
    with TestClient(create_app(settings)) as c:
        yield c, {"X-API-Key": token}


def _figure(html: str, fid: str) -> str:
    m = re.search(rf'<figure class="chart" id="{fid}".*?</figure>', html, flags=re.S)
    assert m, f"no figure {fid}"
    return m.group(0)


def _rows(html: str) -> list[list[str]]:
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S):
        cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            out.append(cells)
    return out


def test_stations_table_timeline_and_map(app):
    c, reviewer = app
    html = c.get("/stations?lang=en").text
    rows = {r[1]: r for r in _rows(html.split("<h2>")[0])}
    assert set(rows) == {"S1-cam", "S1-rec", "S2-cam"}
    # S1-cam: 8 media (c1-c8); 9 detections, 7 in the public view (c7 shows a person)
    assert rows["S1-cam"][7] == "8" and rows["S1-cam"][8] == "7"
    assert rows["S1-cam"][5:7] == ["2024-04-30", "2024-06-30"]  # deploymentStart / End
    assert rows["S1-rec"][5:7] == ["2024-05-01", "2024-05-01"]  # no recorded period: first to last media
    assert rows["S2-cam"][3].startswith("31.5000, 121.0000") and "generalised" in rows["S2-cam"][3]
    assert _figure(html, "timeline").count('id="timeline-bar-') == 3
    assert _figure(html, "map").count('id="map-point-') == 3 and "km</text>" in _figure(html, "map")
    inner = c.get("/stations?lang=en", headers=reviewer).text
    assert "31.5432, 120.9876" in inner and "generalised (" not in inner.split("<h2>")[0]
    assert {r[1]: r[8] for r in _rows(inner.split("<h2>")[0])}["S1-cam"] == "9"


def test_species_list_search_and_languages(app):
    c, _ = app
    rows = _rows(c.get("/species?lang=en").text)
    boar = next(r for r in rows if r[0] == "Sus scrofa")
    assert boar[2] == "Wild boar" and boar[4] == "4"  # a1, a3 (corrected to a boar), a4, n1; h2 is private
    assert rows[0][0] == "Sus scrofa"  # most detected first
    frog = next(r for r in rows if r[0] == "Lithobates catesbeianus")
    assert frog[3] == "invasive" and frog[1] == "牛蛙"
    found = _rows(c.get("/species", params={"q": "海狸", "lang": "zh"}).text)
    assert [r[0] for r in found] == ["Myocastor coypus"]
    zh = c.get("/species?lang=zh").text
    assert "入侵物种" in zh and "学名" in zh and 'lang="zh-CN"' in zh
    assert "没有符合条件的物种" in c.get("/species", params={"q": "zzzz", "lang": "zh"}).text


def test_species_page_counts_diel_and_trust(app):
    c, reviewer = app
    html = c.get("/species/Sus%20scrofa?lang=en").text
    # public: a1 (05-01), a3 (05-02) in ISO week 18, a4 (05-08) in week 19; n1 has no time
    assert _rows(_figure(html, "over-time")) == [["2024-W18", "2"], ["2024-W19", "1"]]
    assert _figure(html, "over-time").count('id="time-bar-0-') == 2
    diel = _rows(_figure(html, "diel"))
    assert len(diel) == 24 and diel[0][1] == "1" and diel[6][1] == "2" and sum(int(r[1]) for r in diel) == 3
    assert _figure(html, "diel").count('id="diel-bar-0-') == 24
    trust = _rows(_figure(html, "trust"))  # band, reviewed, confirmed, corrected, share
    assert trust == [["0.8–0.9", "1", "0", "1", "0 %"], ["0.9–1.0", "2", "2", "0", "100 %"]]
    assert "/v1/media/c1/thumbnail?size=320" in html and "/v1/media/c7/" not in html  # c7 shows a person
    assert 'href="/detections?stationID=S1&amp;scientificName=Sus+scrofa&amp;lang=en"' in html
    inner = c.get("/species/Sus%20scrofa?lang=en", headers=reviewer).text
    assert _rows(_figure(inner, "over-time"))[0] == ["2024-W18", "3"]  # + h2
    assert ["0.5–0.6", "1", "1", "0", "100 %"] in _rows(_figure(inner, "trust"))
    assert "/v1/media/c7/thumbnail" in inner
    month = c.get("/species/sus scrofa", params={"interval": "month", "lang": "zh"}).text
    assert _rows(_figure(month, "over-time")) == [["2024-05", "3"]] and "野猪" in month and "昼夜活动节律" in month


def test_species_page_bad_input(app):
    c, _ = app
    r = c.get("/species/Nothing%20here?lang=en")
    assert r.status_code == 404 and "No species of this name" in r.text
    bad = c.get("/species/Sus%20scrofa", params={"interval": "fortnight", "lang": "en"})
    assert bad.status_code == 200 and "interval='fortnight'" in unescape(bad.text) and "2024-W18" in bad.text
    empty = c.get("/species/Myocastor%20coypus?lang=en").text  # no reviews of coypus: a "no data" message
    assert "No data for this selection yet." in _figure(empty, "trust")


def test_statistics_page_counts_diel_accumulation_and_indices(app):
    c, reviewer = app
    html = c.get("/statistics", params={"stationID": "S1", "interval": "month", "index": "ACI", "lang": "en"}).text
    counts = _rows(_figure(html, "counts"))  # period, then one column per species (most detected first)
    heads = re.findall(r'<th scope="col">(.*?)</th>', _figure(html, "counts"))
    assert heads[1:4] == ["Wild boar", "American bullfrog", "Coypu"]
    assert counts == [["2024-05", "3", "2", "1"], ["2024-06", "0", "0", "1"]]
    assert _figure(html, "counts").count('id="counts-bar-') == 6  # 3 species x 2 months
    diel = [int(r[1]) for r in _rows(_figure(html, "diel"))]
    assert diel[0] == 1 and diel[6] == 2 and diel[12] == 1 and diel[20] == 2 and diel[23] == 1 and sum(diel) == 7
    assert "Chao2: <strong>3.00</strong> (4 Sampling days)" in html
    assert [r[2] for r in _rows(_figure(html, "accumulation"))] == ["3", "3", "3", "3"]
    assert _rows(_figure(html, "indices")) == [["2024-05-01 12:00:00", "1"], ["2024-05-01 12:00:03", "2"],
                                               ["2024-05-01 12:00:06", "3"]]
    assert 'id="index-line-0"' in html
    reviewed = c.get("/statistics", params={"stationID": "S1", "interval": "month", "reviewed": "1"}).text
    assert _rows(_figure(reviewed, "counts")) == [["2024-05", "3", "1"]]  # a1, a3, a4 boars; a2 coypu
    inner = c.get("/statistics", params={"stationID": "S1", "interval": "month", "reviewed": "1"},
                  headers=reviewer).text
    assert _rows(_figure(inner, "counts")) == [["2024-05", "4", "1"]]  # + h2, on the image with a person
    zh = c.get("/statistics", params={"stationID": "S2", "lang": "zh"}).text
    assert "物种累积曲线" in zh and "此选择暂无数据" in _figure(zh, "indices")


def test_statistics_bad_values_are_named_not_500(app):
    c, _ = app
    r = c.get("/statistics", params={"interval": "year", "index": "XYZ", "reviewed": "maybe", "lang": "en"})
    assert r.status_code == 200
    text = unescape(r.text)
    assert "interval='year'" in text and "index='XYZ'" in text and "reviewed='maybe'" in text
    assert 'id="counts"' in r.text  # the page still shows the first station's figures
    unknown = c.get("/statistics", params={"stationID": "nowhere", "lang": "en"})
    assert unknown.status_code == 404 and "Unknown station: 'nowhere'" in unescape(unknown.text)


def test_progress_needs_a_reviewer_and_counts_reviews(app):
    c, reviewer = app
    r = c.get("/progress", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    html = c.get("/progress?lang=en", headers=reviewer).text
    sections = html.split("<h2>")
    species = {r[0]: r[1:] for r in _rows(sections[1])}
    assert species["Wild boar Sus scrofa"][:2] == ["5", "4"]  # a1 a3 a4 h2 reviewed, n1 not; names in both forms
    stations = {r[0]: r[1:] for r in _rows(sections[2])}
    assert stations["S1"][:2] == ["11", "5"] and stations["S2"][:2] == ["1", "0"]
    assert _rows(sections[3]) == [["alice", "3", "3", "2", "1"], ["bob", "2", "2", "1", "1"]]
    boar, coypu = "Wild boar Sus scrofa", "Coypu Myocastor coypus"
    bullfrog = "American bullfrog Lithobates catesbeianus"
    assert _rows(sections[4]) == [[boar, "same", "3"], [bullfrog, boar, "1"], [boar, coypu, "1"]]
    assert _figure(html, "share").count('id="share-bar-') == len(species)
    zh = c.get("/progress?lang=zh", headers=reviewer).text
    assert "审核进度" in zh and "野猪" in zh


def test_pages_load_nothing_from_another_host(app):
    c, _ = app
    for path in ("/stations", "/species/Sus%20scrofa", "/statistics"):
        html = c.get(path).text
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert refs and all(not re.match(r"^[a-z]+://", u) and not u.startswith("//") for u in refs), (path, refs)
        assert "<path" in html and "<text" in html  # charts drawn inline, their text kept as text
