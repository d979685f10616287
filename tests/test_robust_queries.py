"""No server error from any query input (issue 14 item 3): extreme dates, non-finite numbers and tampered
cursors are 422 with a message on every listing and statistics endpoint (SQLite and PostgreSQL), and the
query parsers hold as properties over generated input (hypothesis)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.orm import Session

from models.store.db import Detection, make_engine
from models.store.keys import create_key
from serve.app import create_app
from serve.paging import SortKey, decode_cursor, encode_cursor
from serve.schemas import TIME_MAX, TIME_MIN, DetectionQuery, StatsQuery, to_utc_instant
from serve.settings import Settings
from tests.conftest import fresh_database_url
from tests.serve_helpers import seed_database

ENDPOINTS = ["/v1/detections", "/v1/events", "/v1/stations/S1/stats/counts", "/v1/stations/S1/stats/diel",
             "/v1/stations/S1/stats/richness", "/v1/stations/S1/acoustic-indices"]
LISTINGS = ENDPOINTS[:2]
#: Times whose UTC instant does not exist as a ``datetime`` (500 before) or lies at the very edge.
EXTREME_TIMES = ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-05:00",
                 "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59.999999+00:00", "0001-01-01T00:00:00+23:59"]
NON_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400"]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, bundles, db_backend) -> Iterator[tuple[TestClient, dict, str]]:
    """App on a seeded database; yields (client, detection IDs by key, admin headers)."""
    root = tmp_path_factory.mktemp("robust_queries")
    url = fresh_database_url(db_backend, root)
    ids = seed_database(url)
    app = create_app(Settings(database_url=url, media_root=root / "media", image_bundle=bundles["image"][0],
                              audio_bundle=bundles["audio"][0]))
    engine = make_engine(url)
    with Session(engine) as s:
        token = create_key(s, "admin", "robust-queries").token
    engine.dispose()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, ids, {"X-API-Key": token}


def _cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _detail(r) -> str:
    return json.dumps(r.json()["detail"])


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("param", ["start", "end"])
@pytest.mark.parametrize("value", EXTREME_TIMES)
def test_extreme_times_are_422_with_a_message(seeded, path, param, value):
    client, _, admin = seeded
    for headers in ({}, admin):
        r = client.get(path, params={param: value}, headers=headers)
        assert r.status_code == 422, (path, param, value, r.status_code, r.text)
        assert "time out of range" in _detail(r) and param in _detail(r)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_times_just_inside_the_range_are_answered(seeded, path):
    client, _, admin = seeded
    r = client.get(path, params={"start": "0001-01-02T00:00:00+00:00", "end": "9999-12-29T09:59:59-14:00"},
                   headers=admin)
    assert r.status_code == 200, r.text
    if path in LISTINGS:
        assert len(r.json()["items"]) == (4 if path.endswith("detections") else 0)  # every timed detection


@pytest.mark.parametrize("path", [p for p in ENDPOINTS if "acoustic" not in p])
@pytest.mark.parametrize("value", NON_FINITE + ["-0.5", "1.5", "1e308"])
def test_non_finite_or_out_of_range_probability_is_422(seeded, path, value):
    client, _, _ = seeded
    r = client.get(path, params={"min_probability": value})
    assert r.status_code == 422, (path, value, r.text)
    assert "min_probability" in _detail(r)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_start_after_end_is_422(seeded, path):
    client, _, _ = seeded
    r = client.get(path, params={"start": "2024-06-01T00:00:00+00:00", "end": "2024-05-01T00:00:00+00:00"})
    assert r.status_code == 422 and "start is after end" in r.text


@pytest.mark.parametrize("params", [{"limit": "1" + "0" * 30}, {"limit": "1e400"}, {"offset": "9" * 30},
                                    {"offset": "-1"}, {"limit": "nan"}])
def test_huge_integers_are_422(seeded, params):
    client, _, _ = seeded
    for path in ("/v1/detections", "/v1/stations/S1/acoustic-indices"):
        if "offset" in params and path == "/v1/detections":
            continue
        r = client.get(path, params=params)
        assert r.status_code == 422, (path, params, r.text)


def _first_cursor(client, headers, sort="eventStart") -> dict:
    r = client.get("/v1/detections", params={"limit": 1, "sort": sort}, headers=headers)
    assert r.status_code == 200
    token = r.json()["next_cursor"]
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


TAMPERED = [
    {"k": "0001-01-01T00:00:00+05:00"}, {"k": "9999-12-31T23:59:59-14:00"}, {"k": 1e308}, {"k": None},
    {"k": ["a"]}, {"k": "not a time"}, {"i": {"a": 1}}, {"i": None}, {"i": 12}, {"p": 1e400}, {"p": 2},
    {"p": True}, {"p": "0"}, {"s": None}, {"f": None},
]


@pytest.mark.parametrize("change", TAMPERED)
@pytest.mark.parametrize("path", LISTINGS)
def test_tampered_time_cursors_are_422(seeded, change, path):
    client, _, admin = seeded
    data = {**_first_cursor(client, admin), **change}
    r = client.get(path, params={"cursor": _cursor(data)}, headers=admin)
    assert r.status_code == 422, (change, r.text)
    assert "invalid cursor" in r.text


@pytest.mark.parametrize("key", ["nan", "inf", "-Infinity", "abc", None, True, [1], 1e400])
def test_tampered_probability_cursors_are_422(seeded, key):
    client, _, admin = seeded
    raw = _first_cursor(client, admin, "classificationProbability")
    text = json.dumps({**raw, "k": key})  # 1e400 -> Infinity in JSON: non-finite too
    r = client.get("/v1/detections", params={"cursor": base64.urlsafe_b64encode(text.encode()).decode(),
                                              "sort": "classificationProbability"}, headers=admin)
    assert r.status_code == 422, (key, r.text)


@pytest.mark.parametrize("cursor", ["%%%", "a", "W10", _cursor([1, 2]), _cursor("x"), _cursor(1),
                                    _cursor({}), base64.urlsafe_b64encode(b"[" * 5000).decode(),
                                    base64.urlsafe_b64encode(b"\xff\xfe").decode(), "x" * 3000])
def test_malformed_cursors_are_422(seeded, cursor):
    client, _, _ = seeded
    for path in LISTINGS:
        r = client.get(path, params={"cursor": cursor})
        assert r.status_code == 422, (cursor[:40], r.text)


def test_valid_cursor_still_pages(seeded):
    client, ids, admin = seeded
    seen = []
    params = {"limit": 2}
    while True:
        page = client.get("/v1/detections", params=params, headers=admin).json()
        seen += [i["detectionID"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(ids.values())


def test_review_history_of_unknown_detection_is_404(seeded):
    client, ids, admin = seeded
    r = client.get("/v1/detections/no-such-detection/reviews", headers=admin)
    assert r.status_code == 404 and "unknown detection" in r.text
    r = client.get(f"/v1/detections/{ids['d1']}/reviews", headers=admin)
    assert r.status_code == 200 and r.json() == []


# --- properties of the parsers ---------------------------------------------------------------------------

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)), offsets)
@settings(max_examples=300, deadline=None)
def test_to_utc_instant_converts_or_refuses_with_value_error(naive, tz):
    value = naive.replace(tzinfo=tz)
    try:
        out = to_utc_instant(value)
    except ValueError as exc:
        assert "time out of range" in str(exc)
        naive_utc = naive - tz.utcoffset(None)  # exact arithmetic on the offset
        assert not TIME_MIN.replace(tzinfo=None) <= naive_utc <= TIME_MAX.replace(tzinfo=None)
    else:
        assert out.tzinfo is UTC and out == value and TIME_MIN <= out <= TIME_MAX


@given(st.dictionaries(st.sampled_from(["start", "end", "min_probability", "limit", "cursor", "sort", "level"]),
                       st.text(max_size=40)))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
def test_query_models_accept_or_raise_validation_error(params):
    for model in (DetectionQuery, StatsQuery):
        try:
            q = model(**{k: v for k, v in params.items() if k in model.model_fields})
        except ValidationError:
            continue
        for name in ("start", "end"):
            value = getattr(q, name)
            assert value is None or (value.tzinfo is UTC and TIME_MIN <= value <= TIME_MAX)
        p = q.min_probability
        assert p is None or 0.0 <= p <= 1.0


TIME_KEY = SortKey(Detection.eventStartUTC, Detection.detectionID, nullable=True, is_datetime=True)
NUM_KEY = SortKey(Detection.classificationProbability, Detection.detectionID, nullable=False)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                           max_leaves=10)


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: base64.urlsafe_b64encode(b).decode()),
                 st.fixed_dictionaries({"s": st.just("eventStart"), "p": json_values, "k": json_values,
                                        "i": json_values, "f": st.just("d")}).map(_cursor)))
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_decode_cursor_only_ever_raises_422(cursor):
    for key in (TIME_KEY, NUM_KEY):
        try:
            phase, value, last_id = decode_cursor(cursor, "eventStart", "d", key)
        except HTTPException as exc:
            assert exc.status_code == 422 and exc.detail.startswith("invalid cursor")
            continue
        assert phase in (0, 1) and isinstance(last_id, str)
        if phase == 0 and key is TIME_KEY:
            assert isinstance(value, datetime) and value.tzinfo is None
        elif phase == 0:
            assert isinstance(value, float) and value == value and abs(value) != float("inf")


@given(st.sampled_from([0, 1]), st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
       st.text(max_size=64), st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=200, deadline=None)
def test_cursor_round_trip(phase, when, last_id, number):
    got = decode_cursor(encode_cursor("eventStart", phase, when if phase == 0 else None, last_id, "d"),
                        "eventStart", "d", TIME_KEY)
    assert got == (phase, when if phase == 0 else None, last_id)
    got = decode_cursor(encode_cursor("eventStart", 0, number, last_id, "d"), "eventStart", "d", NUM_KEY)
    assert got == (0, number, last_id)
