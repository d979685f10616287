"""Detections database schema (SQLAlchemy 2.0) and idempotent writes; SQLite by default, any URL works.

Tables follow Camtrap DP names: ``stations``, ``deployments``, ``media`` and ``detections``
(Camtrap DP ``observations`` made by a model: one row per image, or per audio window, with the
top-1 class; the top-k alternatives are kept as JSON). Times are stored twice: the ISO 8601 text
with the local offset as recorded, and a naive UTC ``DateTime`` for range queries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the detections schema."""


class Station(Base):
    """An observation station (a site holding one or more deployments)."""

    __tablename__ = "stations"
    stationID: Mapped[str] = mapped_column(String(64), primary_key=True)
    stationName: Mapped[str] = mapped_column(String(256), default="")
    note: Mapped[str] = mapped_column(String(1024), default="")


class Deployment(Base):
    """A device placed at a station for a period (Camtrap DP ``deployments``)."""

    __tablename__ = "deployments"
    deploymentID: Mapped[str] = mapped_column(String(128), primary_key=True)
    stationID: Mapped[str] = mapped_column(String(64), index=True, default="")
    deviceType: Mapped[str] = mapped_column(String(32), default="")
    deviceModel: Mapped[str] = mapped_column(String(256), default="")
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    coordinateUncertainty_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="")
    deploymentStart: Mapped[str] = mapped_column(String(40), default="")
    deploymentEnd: Mapped[str] = mapped_column(String(40), default="")
    licence: Mapped[str] = mapped_column(String(512), default="")
    attribution: Mapped[str] = mapped_column(String(512), default="")


class Media(Base):
    """One media file (Camtrap DP ``media``); ``mediaID`` derives from the SHA-256 of its bytes."""

    __tablename__ = "media"
    mediaID: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    deploymentID: Mapped[str] = mapped_column(String(128), index=True, default="")
    stationID: Mapped[str] = mapped_column(String(64), index=True, default="")
    filePath: Mapped[str] = mapped_column(String(1024), default="")
    fileName: Mapped[str] = mapped_column(String(512), default="")
    fileMediatype: Mapped[str] = mapped_column(String(64), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    timestamp: Mapped[str] = mapped_column(String(40), default="")
    timestampUTC: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    timestampIssues: Mapped[str] = mapped_column(String(128), default="")
    timestampSource: Mapped[str] = mapped_column(String(16), default="")
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    width_px: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height_px: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_rate_hz: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    origin: Mapped[str] = mapped_column(String(32), default="station_drop")
    created: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(UTC).replace(tzinfo=None))


class Classification:
    """Columns of a classification, shared by media-level (``detections``) and event-level (``events``)
    observations: Camtrap DP ``observationType``, ``scientificName``, ``classificationProbability``,
    ``classificationMethod``, ``classifiedBy`` and ``classificationTimestamp``, plus the invasive flag,
    the top-k alternatives, the model version, the Darwin Core ``taxonRank`` and the
    ``classificationSource`` (the decision rule behind the label)."""

    observationType: Mapped[str] = mapped_column(String(16), default="animal")
    scientificName: Mapped[str | None] = mapped_column(String(256), nullable=True, index=True)
    classificationProbability: Mapped[float] = mapped_column(Float)
    isInvasive: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    topK: Mapped[list] = mapped_column(JSON, default=list)
    modelVersion: Mapped[str] = mapped_column(String(128), index=True)
    classificationMethod: Mapped[str] = mapped_column(String(16), default="machine")
    classifiedBy: Mapped[str] = mapped_column(String(256), default="")
    classificationTimestamp: Mapped[str] = mapped_column(String(40), default="")
    #: Darwin Core ``taxonRank`` of ``scientificName`` (``species``, ``genus``, ... after a roll-up); NULL when none.
    taxonRank: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the rule that produced the label (``models.inference.decision.SOURCES``: model, privacy, rollup,
    #: region, threshold-unknown, silence; ``human`` for a reviewer's). Migration 0007.
    classificationSource: Mapped[str] = mapped_column(String(24), default="model", index=True)


class Detection(Classification, Base):
    """A machine classification of one image or one audio window (Camtrap DP observation).

    ``start_s``/``end_s`` are offsets in the media (0/0 for a still image); ``eventStart`` is the
    absolute time when the media's timestamp is known. ``scientificName`` is NULL for a blank.
    """

    __tablename__ = "detections"
    detectionID: Mapped[str] = mapped_column(String(64), primary_key=True)
    mediaID: Mapped[str] = mapped_column(ForeignKey("media.mediaID", ondelete="CASCADE"), index=True)
    deploymentID: Mapped[str] = mapped_column(String(128), index=True, default="")
    stationID: Mapped[str] = mapped_column(String(64), index=True, default="")
    modality: Mapped[str] = mapped_column(String(16), index=True)
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    end_s: Mapped[float] = mapped_column(Float, default=0.0)
    eventStart: Mapped[str] = mapped_column(String(40), default="")
    eventStartUTC: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    eventID: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    #: audio analysed per channel: the channel index (0 = left); NULL for images and mixed-down audio.
    channel: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ix_detections_species_prob", "scientificName", "classificationProbability"),
        # keyset pagination and statistics (migration 0005): (filter, sort key, id) range scans
        Index("ix_detections_time_id", "eventStartUTC", "detectionID"),
        Index("ix_detections_station_time", "stationID", "eventStartUTC", "detectionID"),
        Index("ix_detections_deployment_time", "deploymentID", "eventStartUTC", "detectionID"),
        Index("ix_detections_invasive_time", "isInvasive", "eventStartUTC", "detectionID"),
        Index("ix_detections_prob_id", "classificationProbability", "detectionID"),
        Index("ix_detections_media_private", "mediaID", "observationType", "scientificName"),  # migration 0005b
        Index("ix_detections_station_day", "stationID", "observationType", "scientificName", "eventStart"),
        Index("ix_detections_source_time", "classificationSource", "eventStartUTC", "detectionID"),  # migration 0009
        Index("ix_detections_type_time", "observationType", "eventStartUTC", "detectionID"),  # migration 0009
    )


class Event(Classification, Base):
    """An event-level observation (Camtrap DP ``observationLevel`` = ``event``).

    For camera traps an event is a sequence of media from one deployment closer than the sequence gap
    (``mediaID`` NULL, ``mediaCount`` frames); for acoustic recordings it is a detection event, i.e.
    consecutive windows of one recording with the same species (``mediaID`` = the recording,
    ``start_s``/``end_s`` its offsets in s). Media-level rows in ``detections`` point here through
    ``detections.eventID``. ``eventStart``/``eventEnd`` are ISO 8601 with offset when known.
    """

    __tablename__ = "events"
    eventID: Mapped[str] = mapped_column(String(64), primary_key=True)
    deploymentID: Mapped[str] = mapped_column(String(128), index=True, default="")
    stationID: Mapped[str] = mapped_column(String(64), index=True, default="")
    modality: Mapped[str] = mapped_column(String(16), index=True)
    mediaID: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    mediaCount: Mapped[int] = mapped_column(Integer, default=1)
    start_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    eventStart: Mapped[str] = mapped_column(String(40), default="")
    eventEnd: Mapped[str] = mapped_column(String(40), default="")
    eventStartUTC: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    eventEndUTC: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    channel: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ix_events_time_id", "eventStartUTC", "eventID"),
        Index("ix_events_station_time", "stationID", "eventStartUTC", "eventID"),
    )


class StatsCache(Base):
    """A computed statistic (serialised reply) shared by every service process; ``cacheKey`` is the
    SHA-256 of the query, ``computedUTC`` when it was computed (naive UTC). Migration 0005c."""

    __tablename__ = "stats_cache"
    cacheKey: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    computedUTC: Mapped[datetime] = mapped_column(DateTime)


class AcousticIndex(Base):
    """Acoustic (soundscape) indices of one segment of a recording (``models.inference.acoustic_indices``).

    ``start_s``/``end_s`` are offsets in the recording (s); ``segmentStart`` the absolute ISO 8601
    start when the recording's time is known. Index columns: ``ACI`` (Pieretti et al. 2011), ``NDSI``
    (Kasten et al. 2012), ``ADI`` and ``AEI`` (Villanueva-Rivera et al. 2011), ``BI`` (Boelman et al.
    2007), ``H`` = ``Ht`` x ``Hf`` (Sueur et al. 2008); NULL when undefined (e.g. digital silence).
    """

    __tablename__ = "acoustic_indices"
    indexID: Mapped[str] = mapped_column(String(64), primary_key=True)
    mediaID: Mapped[str] = mapped_column(ForeignKey("media.mediaID", ondelete="CASCADE"), index=True)
    deploymentID: Mapped[str] = mapped_column(String(128), index=True, default="")
    stationID: Mapped[str] = mapped_column(String(64), index=True, default="")
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    end_s: Mapped[float] = mapped_column(Float, default=0.0)
    segmentStart: Mapped[str] = mapped_column(String(40), default="")
    segmentStartUTC: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    sample_rate_hz: Mapped[int] = mapped_column(Integer, default=0)
    ACI: Mapped[float | None] = mapped_column(Float, nullable=True)
    NDSI: Mapped[float | None] = mapped_column(Float, nullable=True)
    ADI: Mapped[float | None] = mapped_column(Float, nullable=True)
    AEI: Mapped[float | None] = mapped_column(Float, nullable=True)
    BI: Mapped[float | None] = mapped_column(Float, nullable=True)
    H: Mapped[float | None] = mapped_column(Float, nullable=True)
    Ht: Mapped[float | None] = mapped_column(Float, nullable=True)
    Hf: Mapped[float | None] = mapped_column(Float, nullable=True)


# Case-insensitive species filters compare lower(scientificName): expression indexes (migration 0005).
Index("ix_detections_lname_time", func.lower(Detection.scientificName), Detection.eventStartUTC, Detection.detectionID)
Index("ix_events_lname_time", func.lower(Event.scientificName), Event.eventStartUTC, Event.eventID)


#: SQLSTATE codes of PostgreSQL errors that mean "another transaction holds what we need; try again":
#: lock_not_available (``lock_timeout``), serialization_failure, deadlock_detected, query_canceled
#: (``statement_timeout``). PostgreSQL manual, Appendix A "PostgreSQL Error Codes".
PG_CONTENTION_SQLSTATES = frozenset({"55P03", "40001", "40P01", "57014"})
#: SQLite messages of a write lock held past the busy timeout (``SQLITE_BUSY`` / ``SQLITE_LOCKED``).
SQLITE_CONTENTION_MESSAGES = ("database is locked", "database table is locked", "database is busy")


def _driver_error(exc: BaseException) -> tuple[str | None, bool, str]:
    """``(SQLSTATE, is the DB-API OperationalError, lower-case message)`` of a SQLAlchemy-wrapped (``exc.orig``)
    or raw driver error."""
    orig = getattr(exc, "orig", None) or exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code, type(orig).__name__ == "OperationalError", str(orig).lower()


def is_contention(exc: BaseException) -> bool:
    """True when a database error means the database was busy (a lock held by another writer past the
    busy / lock timeout, a serialization failure or deadlock), i.e. the same request can succeed later.

    Works on SQLAlchemy's wrapped errors (``exc.orig``) and on raw DB-API errors.
    """
    code, operational, text = _driver_error(exc)
    return code in PG_CONTENTION_SQLSTATES or operational and any(m in text for m in SQLITE_CONTENTION_MESSAGES)


def is_disk_full(exc: BaseException) -> bool:
    """True when a database error means the disk (or quota) is full: SQLite ``SQLITE_FULL`` ("database or
    disk is full"), PostgreSQL SQLSTATE 53100 ``disk_full``."""
    code, operational, text = _driver_error(exc)
    return code == "53100" or operational and "database or disk is full" in text


def make_engine(url: str, busy_timeout_s: float = 30.0) -> Engine:
    """Create an engine for ``url``.

    SQLite: foreign keys on, WAL journal (readers never block the writer nor it them) and a busy
    timeout of ``busy_timeout_s`` (how long a writer waits for another writer's lock before
    ``database is locked``). PostgreSQL: ``pool_pre_ping`` and ``lock_timeout`` = ``busy_timeout_s``
    (a statement waiting longer for a row or table lock fails with SQLSTATE 55P03). Either failure is
    recognised by :func:`is_contention` (the service answers it with 503 and ``Retry-After``).

    Raises:
        ValueError: ``busy_timeout_s`` is not positive.
    """
    if busy_timeout_s <= 0:
        raise ValueError(f"busy_timeout_s must be > 0, got {busy_timeout_s}")
    if url.startswith("sqlite"):
        kwargs: dict = {"connect_args": {"timeout": float(busy_timeout_s)}}
    else:
        kwargs = {"pool_pre_ping": True}
        if url.startswith(("postgresql", "postgres")):
            kwargs["connect_args"] = {"options": f"-c lock_timeout={int(busy_timeout_s * 1000)}"}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # reads through memory-mapped I/O (no read() syscall and copy per page) and a 32 MiB page
            # cache per connection: about 3x faster index lookups on a 1 GB database (benchmarks/api_load.py)
            cur.execute("PRAGMA mmap_size=1073741824")
            cur.execute("PRAGMA cache_size=-32768")
            cur.close()
    return engine


MIGRATIONS = Path(__file__).with_name("migrations")


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema with the Alembic migrations in ``models/store/migrations``
    (``upgrade heads``: each feature area may add its own branch of revisions off ``0001``;
    idempotent, the same on SQLite and PostgreSQL)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "heads")


def detection_id(media_id: str, start_s: float, model_version: str, channel: int | None = None) -> str:
    """Deterministic detection key: SHA-256 of ``mediaID|start_s|modelVersion`` (plus ``|ch<channel>``
    for audio analysed per channel), 32 hex digits.

    Re-publishing the same predictions therefore updates rows instead of adding new ones.
    """
    key = f"{media_id}|{start_s:.3f}|{model_version}" + ("" if channel is None else f"|ch{channel}")
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def to_utc(iso: str | None) -> datetime | None:
    """ISO 8601 with offset -> naive UTC ``datetime``; None when empty or without offset."""
    if not iso:
        return None
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None)


def _as_bool(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in {"true", "1", "yes"}


def detection_row(pred: Mapping, classified_at: datetime | None = None) -> dict:
    """A ``detections`` table row from a prediction (``models.inference.detect.Prediction`` as a dict, or a
    row of the predict stage's CSV, whose cells are strings).

    ``detectionID`` is deterministic (:func:`detection_id`), an empty ``scientificName`` becomes
    NULL (blank), ``topK`` is parsed from JSON, and ``classifiedBy`` is the model version. Audio
    window rows may carry ``channel`` (empty = mixed down) and ``eventID`` (their detection event).
    """
    start_s = float(pred["start_s"])
    top = pred["topK"]
    channel = pred.get("channel")
    channel = None if channel in (None, "") else int(channel)
    extra = {}
    if "eventID" in pred or channel is not None:
        extra = {"channel": channel, "eventID": pred.get("eventID") or None}
    return {
        **extra,
        "detectionID": detection_id(pred["mediaID"], start_s, pred["modelVersion"], channel),
        "mediaID": pred["mediaID"], "deploymentID": pred.get("deploymentID", ""),
        "stationID": pred.get("stationID", ""),
        "modality": pred["modality"], "start_s": start_s, "end_s": float(pred["end_s"]),
        "eventStart": pred.get("eventStart", ""), "eventStartUTC": to_utc(pred.get("eventStart")),
        "observationType": pred["observationType"], "scientificName": pred["scientificName"] or None,
        "classificationProbability": float(pred["classificationProbability"]),
        "isInvasive": _as_bool(pred["isInvasive"]), "topK": json.loads(top) if isinstance(top, str) else list(top),
        "modelVersion": pred["modelVersion"], "classificationMethod": "machine", "classifiedBy": pred["modelVersion"],
        "classificationTimestamp": (classified_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "eventID": pred.get("eventID") or None,
        "taxonRank": pred.get("taxonRank") or None, "classificationSource": pred.get("classificationSource") or "model",
    }


def upsert(session: Session, model: type[Base], rows: Iterable[dict]) -> int:
    """Insert or update rows by primary key (``Session.merge``, portable across SQLite/PostgreSQL).

    Returns:
        Number of rows written.
    """
    n = 0
    for row in rows:
        session.merge(model(**row))
        n += 1
    return n


def media_by_sha(session: Session, sha256: str) -> Media | None:
    """The media row holding these exact bytes, if any."""
    return session.scalars(select(Media).where(Media.sha256 == sha256)).first()


# --- Access, background jobs, reviews and alerts (issue 5, migration 0006) -------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ApiKey(Base):
    """An API key: a public ``key_id`` and the SHA-256 of its random secret (the secret is never stored).

    ``role`` is one of ``uploader``, ``reviewer``, ``admin``; a revoked key keeps its row (audit trail).
    """

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    revoked: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Job(Base):
    """A background job (long audio upload): ``state`` is ``queued``, ``running``, ``done`` or ``failed``.

    ``stagedPath`` is the uploaded file waiting under the media root (relative to it) until the job
    stores it content-addressed; ``reason`` says why a job failed; ``mediaID`` is set when done.
    """

    __tablename__ = "jobs"
    jobID: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="upload")
    state: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    reason: Mapped[str] = mapped_column(String(1024), default="")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    deploymentID: Mapped[str] = mapped_column(String(128), default="")
    fileName: Mapped[str] = mapped_column(String(512), default="")
    stagedPath: Mapped[str] = mapped_column(String(1024), default="")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    mediaID: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detections: Mapped[int | None] = mapped_column(Integer, nullable=True)
    submittedBy: Mapped[str] = mapped_column(String(256), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class DetectionReview(Base):
    """One human review of a detection, with the classification it replaced (``before``, JSON), so the
    machine prediction stays recoverable after any number of reviews. Rows are never updated."""

    __tablename__ = "detection_reviews"
    reviewID: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    detectionID: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    observationType: Mapped[str] = mapped_column(String(16))
    scientificName: Mapped[str | None] = mapped_column(String(256), nullable=True)
    classifiedBy: Mapped[str] = mapped_column(String(256))
    classificationTimestamp: Mapped[str] = mapped_column(String(40))
    comment: Mapped[str] = mapped_column(String(1024), default="")
    before: Mapped[dict] = mapped_column(JSON, default=dict)


class Alert(Base):
    """An invasive-species alert and its webhook delivery state (the outbox).

    ``alertID`` orders the feed (assigned in commit order, see ``models.store.alerts``); ``alertKey`` (what
    was seen: media, window start, species) makes each observation alert once, even when a retrained
    model re-publishes it under a new detectionID. ``payload`` is the detection as alerted.
    ``delivery`` is ``pending``, ``delivered`` or ``failed`` (gave up after the configured attempts).
    """

    __tablename__ = "alerts"
    alertID: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alertKey: Mapped[str] = mapped_column(String(64), unique=True)
    detectionID: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(DateTime, default=_utcnow)
    delivery: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    nextAttempt: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    lastError: Mapped[str] = mapped_column(String(1024), default="")
    delivered: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    #: ``open``, ``acknowledged``, ``resolved`` (the workflow, migration 0009), or ``withdrawn`` when a reviewer
    #: corrected the detection to something not invasive (migration 0008); see ``models.store.alerts.TRANSITIONS``
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    withdrawn: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    withdrawnReason: Mapped[str] = mapped_column(String(512), default="")
    #: when and by whom (key name) the alert was acknowledged / resolved (migration 0009)
    acknowledged: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    acknowledgedBy: Mapped[str] = mapped_column(String(256), default="")
    resolved: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    resolvedBy: Mapped[str] = mapped_column(String(256), default="")
