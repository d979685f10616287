"""Detections schema: migrations match the models, rows from predictions, idempotent upserts."""

from __future__ import annotations

from datetime import datetime

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from models.store.db import (
    MIGRATIONS,
    Base,
    Detection,
    Media,
    create_schema,
    detection_id,
    detection_row,
    make_engine,
    to_utc,
    upsert,
)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def test_migrations_build_exactly_the_model_schema(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    create_schema(engine)
    create_schema(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        versions = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
    assert diff == [], f"models/store/db.py and the migrations differ: {diff}"
    script = ScriptDirectory.from_config(_alembic_config())
    assert versions == set(script.get_heads()) and "0001" not in versions  # every branch applied
    assert {"stations", "deployments", "media", "detections", "events"} <= set(inspect(engine).get_table_names())


def test_detection_row_from_a_csv_row():
    row = {"mediaID": "m1", "deploymentID": "d1", "stationID": "s1", "modality": "audio", "start_s": "3.0",
           "end_s": "6.0", "eventStart": "2019-05-22T17:00:03+02:00", "observationType": "blank",
           "scientificName": "", "classificationProbability": "0.75", "isInvasive": "False",
           "topK": '[["blank", 0.75], ["Sus scrofa", 0.2]]', "modelVersion": "biodiv-audio-classifier/2",
           "filePath": "x.wav"}
    d = detection_row(row, classified_at=datetime(2026, 1, 2, 3, 4, 5))
    assert d["detectionID"] == detection_id("m1", 3.0, "biodiv-audio-classifier/2")
    assert (d["start_s"], d["end_s"], d["classificationProbability"]) == (3.0, 6.0, 0.75)
    assert d["scientificName"] is None and d["isInvasive"] is False
    assert d["topK"] == [["blank", 0.75], ["Sus scrofa", 0.2]]
    assert d["eventStartUTC"] == datetime(2019, 5, 22, 15, 0, 3)
    assert (d["classifiedBy"], d["classificationMethod"]) == ("biodiv-audio-classifier/2", "machine")
    assert d["classificationTimestamp"] == "2026-01-02T03:04:05"
    assert "filePath" not in d
    assert detection_row({**row, "isInvasive": True, "scientificName": "Lithobates catesbeianus"})["isInvasive"]


def test_detection_id_and_to_utc():
    assert detection_id("m", 1.0, "v/1") == detection_id("m", 1.0004, "v/1")  # ms resolution
    assert detection_id("m", 1.0, "v/1") != detection_id("m", 1.0, "v/2")
    assert len(detection_id("m", 0.0, "v")) == 32
    assert to_utc("2020-12-14T19:22:55-05:00") == datetime(2020, 12, 15, 0, 22, 55)
    assert to_utc("2020-12-14T19:22:55") is None and to_utc("") is None


def test_upsert_is_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    create_schema(engine)
    media = {"mediaID": "m1", "sha256": "a" * 64, "modality": "image"}
    det = {"detectionID": "x1", "mediaID": "m1", "modality": "image", "classificationProbability": 0.5,
           "modelVersion": "v/1", "topK": []}
    for prob in (0.5, 0.9):
        with Session(engine) as s, s.begin():
            assert upsert(s, Media, [media]) == 1
            assert upsert(s, Detection, [{**det, "classificationProbability": prob}]) == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Detection)) == 1
        assert s.scalar(select(Detection.classificationProbability)) == 0.9


def test_publish_keeps_an_upload_record_and_adds_the_drop_detections(tmp_path):
    from pipeline.stages import publish

    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as s, s.begin():
        s.add(Media(mediaID="m1", sha256="a" * 64, deploymentID="up-dep", modality="image", origin="upload",
                    filePath="aa/aaaa.jpg"))
    media = [{"mediaID": "m1", "sha256": "a" * 64, "deploymentID": "drop-dep", "stationID": "s", "filePath": "x.jpg",
              "fileName": "x.jpg", "fileMediatype": "image/jpeg", "modality": "image", "timestamp": "",
              "timestampIssues": "missing", "timestampSource": "missing", "bytes": "10", "width_px": "4",
              "height_px": "3", "duration_s": "", "sample_rate_hz": "", "channels": ""},
             {"mediaID": "m2", "sha256": "b" * 64, "deploymentID": "drop-dep", "stationID": "s", "filePath": "y.jpg",
              "fileName": "y.jpg", "fileMediatype": "image/jpeg", "modality": "image", "timestamp": "",
              "timestampIssues": "missing", "timestampSource": "missing", "bytes": "10", "width_px": "4",
              "height_px": "3", "duration_s": "", "sample_rate_hz": "", "channels": ""}]
    preds = [{"mediaID": m, "deploymentID": "drop-dep", "stationID": "s", "modality": "image", "start_s": "0.0",
              "end_s": "0.0", "eventStart": "", "observationType": "animal", "scientificName": "Sus scrofa",
              "classificationProbability": "0.8", "isInvasive": "False", "topK": "[]", "modelVersion": "v/1"}
             for m in ("m1", "m2")]
    out = publish.run(url, [{"stationID": "s"}], [{"deploymentID": "drop-dep", "stationID": "s"}], media, preds)
    assert out["written"] == {"stations": 1, "deployments": 1, "media": 1, "detections": 2}
    assert out["in_database"] == {"stations": 1, "deployments": 1, "media": 2, "detections": 2}
    with Session(engine) as s:
        kept = s.get(Media, "m1")
        assert (kept.origin, kept.deploymentID, kept.filePath) == ("upload", "up-dep", "aa/aaaa.jpg")
        assert s.get(Media, "m2").origin == "station_drop"


def test_publish_replaces_detections_of_earlier_model_versions(tmp_path):
    from pipeline.stages import publish

    url = f"sqlite:///{tmp_path / 'd.db'}"
    media = [{"mediaID": "m1", "sha256": "a" * 64, "deploymentID": "dep", "stationID": "s", "filePath": "x.wav",
              "fileName": "x.wav", "fileMediatype": "audio/wav", "modality": "audio", "timestamp": "",
              "timestampIssues": "missing", "timestampSource": "missing", "bytes": "10", "width_px": "",
              "height_px": "", "duration_s": "6.0", "sample_rate_hz": "8000", "channels": "1"}]

    def preds(version: str, starts: list[float]) -> list[dict]:
        return [{"mediaID": "m1", "deploymentID": "dep", "stationID": "s", "modality": "audio", "start_s": str(s),
                 "end_s": str(s + 3), "eventStart": "", "observationType": "animal", "scientificName": "Sus scrofa",
                 "classificationProbability": "0.5", "isInvasive": "False", "topK": "[]", "modelVersion": version}
                for s in starts]

    args = (url, [{"stationID": "s"}], [{"deploymentID": "dep", "stationID": "s"}], media)
    assert publish.run(*args, preds("m/1", [0.0, 3.0]))["in_database"]["detections"] == 2
    assert publish.run(*args, preds("m/1", [0.0, 3.0]))["in_database"]["detections"] == 2  # idempotent
    assert publish.run(*args, preds("m/2", [0.0, 3.0]))["in_database"]["detections"] == 2  # replaced
    with Session(make_engine(url)) as s:
        assert set(s.scalars(select(Detection.modelVersion))) == {"m/2"}
