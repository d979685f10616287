"""Stage ``publish``: write stations, deployments, media and detections into the database.

Any SQLAlchemy URL works (``publish.database_url``; SQLite file by default). Rows are keyed by
``stationID``, ``deploymentID``, ``mediaID`` (content hash) and a deterministic ``detectionID``,
and written in one transaction, so a re-run updates instead of duplicating and a failure leaves
the database as it was. Writes ``reports/publish.json`` (rows written and rows in the database).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import delete, func, select
from sqlalchemy.engine.url import make_url
from sqlalchemy.orm import Session

from models.media.tables import read_csv
from models.store.alerts import record_alerts
from models.store.db import (
    AcousticIndex,
    Deployment,
    Detection,
    Event,
    Media,
    Station,
    create_schema,
    detection_row,
    make_engine,
    to_utc,
    upsert,
)
from models.store.review import human_windows
from pipeline.common import setup_logging, write_json
from pipeline.params import load_params

log = logging.getLogger(__name__)

_FLOAT = {"latitude", "longitude", "coordinateUncertainty_m"}
_DEPLOYMENT_COLS = set(Deployment.__table__.columns.keys())
_MEDIA_COLS = set(Media.__table__.columns.keys())


def _num(v: str, kind=float):
    return kind(v) if v not in ("", None) else None


def deployment_rows(rows: list[dict]) -> list[dict]:
    """``deployments.csv`` rows -> ``deployments`` table rows (unknown columns dropped, blanks as NULL)."""
    out = []
    for r in rows:
        d = {k: v for k, v in r.items() if k in _DEPLOYMENT_COLS}
        for k in _FLOAT & d.keys():
            d[k] = _num(d[k])
        out.append(d)
    return out


def media_rows(rows: list[dict]) -> list[dict]:
    """Media index rows -> ``media`` table rows, with UTC time and typed numbers."""
    out = []
    for r in rows:
        d = {k: v for k, v in r.items() if k in _MEDIA_COLS}
        d.update(width_px=_num(r["width_px"], int), height_px=_num(r["height_px"], int),
                 duration_s=_num(r["duration_s"]), sample_rate_hz=_num(r["sample_rate_hz"], int),
                 channels=_num(r["channels"], int), bytes=int(r["bytes"]), timestampUTC=to_utc(r["timestamp"]),
                 origin="station_drop")
        out.append(d)
    return out


def event_rows(events: list[dict], classified_at: datetime | None = None) -> list[dict]:
    """Rows of the predict stage's ``events.csv`` (``models.inference.events.EventRecord``) -> ``events`` table rows
    (camera-trap events: ``mediaID`` NULL, times also as naive UTC, blank species as NULL)."""
    stamp = (classified_at or datetime.now(UTC)).isoformat(timespec="seconds")
    return [{
        "eventID": e["eventID"], "deploymentID": e["deploymentID"], "stationID": e.get("stationID", ""),
        "modality": e["modality"], "mediaID": None, "mediaCount": int(e["mediaCount"]), "start_s": None,
        "end_s": None, "eventStart": e["eventStart"], "eventEnd": e["eventEnd"],
        "eventStartUTC": to_utc(e["eventStart"]), "eventEndUTC": to_utc(e["eventEnd"]),
        "observationType": e["observationType"], "scientificName": e["scientificName"] or None,
        "classificationProbability": float(e["classificationProbability"]),
        "isInvasive": str(e["isInvasive"]).lower() in ("true", "1"), "topK": json.loads(e["topK"]),
        "modelVersion": e["modelVersion"], "classificationMethod": "machine", "classifiedBy": e["modelVersion"],
        "classificationTimestamp": stamp, "taxonRank": e.get("taxonRank") or None,
        "classificationSource": e.get("classificationSource") or "model"} for e in events]


def _as_bool(v: object) -> bool:
    return v if isinstance(v, bool) else str(v).strip().lower() in {"true", "1", "yes"}


def audio_event_row(e: dict, classified_at: str) -> dict:
    """An ``events.csv`` row of ``predict_audio`` -> ``events`` table row (modality ``audio``,
    ``mediaID`` = the recording, offsets ``start_s``/``end_s``, ``mediaCount`` = windows merged)."""
    ch = e.get("channel", "")
    return {"eventID": e["eventID"], "deploymentID": e.get("deploymentID", ""), "stationID": e.get("stationID", ""),
            "modality": "audio", "mediaID": e["mediaID"], "mediaCount": int(e["windowCount"]),
            "start_s": float(e["start_s"]), "end_s": float(e["end_s"]), "eventStart": e.get("eventStart", ""),
            "eventEnd": e.get("eventEnd", ""), "eventStartUTC": to_utc(e.get("eventStart")),
            "eventEndUTC": to_utc(e.get("eventEnd")), "observationType": "animal",
            "scientificName": e["scientificName"], "classificationProbability": float(e["classificationProbability"]),
            "isInvasive": _as_bool(e["isInvasive"]), "topK": [[e["scientificName"],
                                                               float(e["classificationProbability"])]],
            "modelVersion": e["modelVersion"], "classificationMethod": "machine", "classifiedBy": e["modelVersion"],
            "classificationTimestamp": classified_at, "channel": None if ch in ("", None) else int(ch),
            "taxonRank": e.get("taxonRank") or None, "classificationSource": e.get("classificationSource") or "model"}


def index_row(r: dict) -> dict:
    """An ``indices.csv`` row of ``predict_audio`` -> ``acoustic_indices`` table row (empty cells NULL)."""
    d = {k: r[k] for k in ("indexID", "mediaID", "deploymentID", "stationID", "segmentStart")}
    d.update(start_s=float(r["start_s"]), end_s=float(r["end_s"]), sample_rate_hz=int(r["sample_rate_hz"]),
             segmentStartUTC=to_utc(r["segmentStart"]),
             **{k: _num(r.get(k, "")) for k in ("ACI", "NDSI", "ADI", "AEI", "BI", "H", "Ht", "Hf")})
    return d


def _publish_audio(session: Session, audio: dict) -> dict:
    """Replace the audio results of the analysed recordings: detected windows (as detections linked to
    their event), windows of people talking, detection events and acoustic indices. Windows below
    threshold are not published."""
    from datetime import UTC, datetime

    windows = audio.get("windows", [])
    ids = {w["mediaID"] for w in windows} | {r["mediaID"] for r in audio.get("indices", [])}
    if ids:
        session.execute(delete(Detection).where(Detection.mediaID.in_(ids), Detection.modality == "audio",
                                                Detection.classificationMethod == "machine"))
        session.execute(delete(Event).where(Event.mediaID.in_(ids), Event.modality == "audio",
                                            Event.classificationMethod == "machine"))
        session.execute(delete(AcousticIndex).where(AcousticIndex.mediaID.in_(ids)))
    reviewed = human_windows(session, ids)  # a human classification is never overwritten by a model
    # people (speech) are published too, so the privacy rule hides their recording from the public
    detected = [w for w in windows if (_as_bool(w["detected"]) or w["observationType"] in ("human", "vehicle"))
                and (w["mediaID"], round(float(w["start_s"]), 3)) not in reviewed]
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "audio_events": upsert(session, Event, (audio_event_row(e, now) for e in audio.get("events", []))),
        "audio_detections": upsert(session, Detection, (detection_row(w) for w in detected)),
        "acoustic_indices": upsert(session, AcousticIndex, (index_row(r) for r in audio.get("indices", []))),
    }


def run(database_url: str, stations: list[dict], deployments: list[dict], media: list[dict],
        predictions: list[dict], events: list[dict] | None = None, audio: dict | None = None) -> dict:
    """Upsert everything in one transaction; returns rows written and totals in the database.

    ``predictions`` are rows of the predict stage's ``detections.csv`` (or ``Prediction`` dicts).
    A media item that was first uploaded through the service keeps its record (deployment, stored
    file, ``origin``): a drop that holds the same bytes only adds the drop's detections.
    Publishing is additive: media removed from a drop stay in the database (long-term record).
    A retrained model's detections replace the machine detections that earlier model versions made
    for the same media (their runs and bundles stay in MLflow), so queries never mix versions.
    ``events`` are the camera-trap events (``events.csv``); a camera event that the published
    media pointed to before and that is no longer produced (regrouped) is removed.

    ``audio`` holds the ``predict_audio`` stage's rows (``windows``, ``events``, ``indices``): for each
    analysed recording its earlier audio detections, events and indices are replaced by the detected
    windows (linked to their event by ``eventID``), the events and the indices.
    """
    url = make_url(database_url)
    if url.drivername.startswith("sqlite") and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(database_url)
    create_schema(engine)
    with Session(engine) as session, session.begin():
        ids = [m["mediaID"] for m in media]
        uploaded = set(session.scalars(select(Media.mediaID).where(Media.mediaID.in_(ids),
                                                                   Media.origin == "upload")))
        if uploaded:
            log.info("%d media were uploaded before; their upload records are kept", len(uploaded))
        media = [m for m in media if m["mediaID"] not in uploaded]
        reviewed = human_windows(session, {p["mediaID"] for p in predictions})
        if reviewed:  # a human classification is never overwritten by a model, old or retrained
            predictions = [p for p in predictions if (p["mediaID"], round(float(p["start_s"]), 3)) not in reviewed]
            log.info("kept %d human-reviewed detections", len(reviewed))
        versions = {p["modelVersion"] for p in predictions}
        replaced = session.execute(delete(Detection).where(
            Detection.mediaID.in_({p["mediaID"] for p in predictions}), Detection.classificationMethod == "machine",
            Detection.modelVersion.not_in(versions))).rowcount
        if replaced:
            log.info("replaced %d detections of earlier model versions", replaced)
        stale = set(session.scalars(select(Detection.eventID).where(
            Detection.mediaID.in_({p["mediaID"] for p in predictions}), Detection.eventID.is_not(None),
            Detection.modality.in_(("image", "video"))))) - {e["eventID"] for e in events or []}
        if stale:
            session.execute(delete(Event).where(Event.eventID.in_(stale), Event.mediaID.is_(None)))
        written = {
            "stations": upsert(session, Station, ({k: r.get(k, "") for k in ("stationID", "stationName", "note")}
                                                  for r in stations)),
            "deployments": upsert(session, Deployment, deployment_rows(deployments)),
            "media": upsert(session, Media, media_rows(media)),
            "detections": upsert(session, Detection, (detection_row(p) for p in predictions)),
        }
        if events is not None:
            written["events"] = upsert(session, Event, event_rows(events))
        if audio:
            written.update(_publish_audio(session, audio))
        session.flush()
        alerts = record_alerts(session)  # same transaction: no invasive detection lands without its alert
        if alerts:
            log.info("%d new invasive-species alerts", alerts)
    with Session(engine) as session:
        totals = {name: session.scalar(select(func.count()).select_from(model))
                  for name, model in (("stations", Station), ("deployments", Deployment), ("media", Media),
                                      ("detections", Detection))}
        if events is not None:
            totals["events"] = session.scalar(select(func.count()).select_from(Event))
    engine.dispose()
    return {"written": written, "in_database": totals}


def main(params: Path = Path("params.yaml"), raw: Path = Path("data/raw/stations"),
         media: Path = Path("data/interim/stations/media.csv"),
         predictions: Path = Path("data/predictions/detections.csv"),
         audio: Path = Path("data/predictions/audio"),
         events: Path = Path("data/predictions/events.csv"),
         report: Path = Path("reports/publish.json")) -> None:
    """Publish the station detections (images and recordings) to ``publish.database_url``."""
    setup_logging()
    url = load_params(params).publish.database_url
    audio_rows = {name: read_csv(audio / f"{name}.csv") for name in ("windows", "events", "indices")}
    summary = run(url, read_csv(raw / "stations.csv"), read_csv(raw / "deployments.csv"), read_csv(media),
                  read_csv(predictions), read_csv(events) if events.is_file() else [], audio_rows)
    log.info("published to %s: %s", make_url(url).render_as_string(hide_password=True), summary)
    write_json(report, {"written": summary["written"]})


if __name__ == "__main__":
    typer.run(main)
