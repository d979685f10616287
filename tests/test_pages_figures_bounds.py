"""Regressions found by the page benchmark at 1,000,000 detections: the statistics page survives a daily chart
longer than its 1,000-period limit, the diel activity is queried once per page, and the alerts page reads at
most its section limit."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from models.store import stats
from models.store.alerts import record_alerts
from models.store.db import Deployment, Media, Station, create_schema, make_engine
from serve.app import create_app
from tests.serve_helpers import _det

#: (media, species, local time): more than 1,000 days apart (``periods_between``'s limit for a daily chart).
ROWS = [("m1", "Passer domesticus", "2020-05-01T06:00:00+08:00"), ("m2", "Passer domesticus",
                                                                     "2024-05-03T07:00:00+08:00"),
        ("m3", "Sus scrofa", "2020-05-02T21:00:00+08:00"), ("m4", "Myocastor coypus", "2020-05-02T22:00:00+08:00"),
        ("m5", "Myocastor coypus", "2020-05-02T23:00:00+08:00"), ("m6", "Myocastor coypus",
                                                                  "2020-05-03T01:00:00+08:00")]


@pytest.fixture()
def client(settings):
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as s:
        s.add(Station(stationID="S9", stationName="Test"))
        s.add(Deployment(deploymentID="S9-cam", stationID="S9", deviceType="camera", timezone="Asia/Shanghai"))
        for mid, _, _stamp in ROWS:
            s.add(Media(mediaID=mid, sha256=mid * 32, deploymentID="S9-cam", stationID="S9", modality="image",
                        filePath=f"S9/{mid}.jpg", fileName=f"{mid}.jpg", created=datetime(2024, 7, 1)))
        s.flush()
        for mid, name, stamp in ROWS:
            s.add(_det(mid, "image", name, 0.9, name == "Myocastor coypus", stamp, deployment="S9-cam",
                       station="S9"))
        s.flush()
        record_alerts(s)
        s.commit()
    engine.dispose()
    with TestClient(create_app(settings)) as c:
        yield c


def test_statistics_daily_chart_past_the_period_limit(client):
    r = client.get("/statistics?stationID=S9&interval=day&lang=en")
    assert r.status_code == 200  # was 500: the 2024 row's day is past the first 1,000 days
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<tr><td>(20\d\d-\d\d-\d\d)</td>(.*?)</tr>", r.text)}
    assert len(rows) == 1000 and min(rows) == "2020-05-01" and "2024-05-03" not in rows
    cells = {day: sum(int(x) for x in re.findall(r'<td class="num">(\d+)</td>', html)) for day, html in rows.items()}
    assert {d: n for d, n in cells.items() if n} == {"2020-05-01": 1, "2020-05-02": 3, "2020-05-03": 1}
    weekly = client.get("/statistics?stationID=S9&interval=week&lang=en")
    assert weekly.status_code == 200 and "2024-W18" in weekly.text


def test_diel_activity_is_queried_once_per_page(client, monkeypatch):
    calls = []
    real = stats.diel_activity

    def counted(*args, **kwargs):
        calls.append(args[1] if len(args) > 1 else kwargs.get("station_id"))
        return real(*args, **kwargs)

    monkeypatch.setattr(stats, "diel_activity", counted)
    assert client.get("/species/Myocastor%20coypus?lang=en").status_code == 200
    assert calls == [None]
    assert client.get("/statistics?stationID=S9&lang=en").status_code == 200
    assert calls == [None, "S9"]


def test_alerts_page_shows_at_most_the_section_limit(client, monkeypatch, settings):
    from models.store.keys import create_key
    from serve.pages import alerts

    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        token = create_key(s, "reviewer", "Li Wei").token
    engine.dispose()
    monkeypatch.setattr(alerts, "SECTION_LIMIT", 2)
    html = client.get("/alerts?lang=en", headers={"X-API-Key": token}).text
    assert len(re.findall(r'id="alert-\d+"', html)) == 2  # three open machine alerts, two shown
    assert re.search(r"\(2\)", html)
