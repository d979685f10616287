"""Invasive-species alerts: an append-only feed with an opaque cursor, and a webhook outbox.

Every invasive detection (``detections.isInvasive``) gets one row in ``alerts`` when it is first
written: :func:`record_alerts` runs inside the transaction that writes detections (uploads, upload
jobs, publish, reviews), so a detection never lands without its alert. An alert is keyed by what was
seen (media, window start, species: :func:`alert_key`), so a retrained model that re-publishes the
same observation under a new ``detectionID`` does not alert again.

Ordering: ``alertID`` increases in commit order. SQLite serialises writers, and on PostgreSQL
:func:`record_alerts` takes a transaction-scoped advisory lock, so no transaction can commit a
smaller ``alertID`` after a reader has seen a larger one (the transactional-outbox pattern).

Webhook delivery state lives on the same row (``delivery``, ``attempts``, ``nextAttempt``,
``lastError``, ``delivered``): a worker claims due alerts with a compare-and-set update (a lease),
posts them, and marks them delivered or schedules a retry with exponential backoff, so a restart
neither loses nor re-sends an alert that was confirmed delivered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from models.db import Alert, Detection

#: Key of the PostgreSQL advisory lock that serialises alert writers (any constant works).
_PG_LOCK = 0x62696F64  # "biod"
_CURSOR_PREFIX = "alerts:"
#: Longest retry delay (s) of the webhook backoff.
MAX_BACKOFF_S = 3600.0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def alert_key(media_id: str, start_s: float, scientific_name: str | None) -> str:
    """SHA-256 of ``mediaID|start_s|scientificName`` (32 hex digits): one alert per observation."""
    return hashlib.sha256(f"{media_id}|{start_s:.3f}|{scientific_name or ''}".encode()).hexdigest()[:32]


def alert_payload(det: Detection) -> dict:
    """The JSON body of an alert (Camtrap DP / Darwin Core terms; no coordinates, no file path)."""
    return {
        "detectionID": det.detectionID, "mediaID": det.mediaID, "deploymentID": det.deploymentID,
        "stationID": det.stationID, "modality": det.modality, "start_s": det.start_s, "end_s": det.end_s,
        "eventStart": det.eventStart, "scientificName": det.scientificName,
        "classificationProbability": det.classificationProbability, "classificationMethod": det.classificationMethod,
        "classifiedBy": det.classifiedBy, "modelVersion": det.modelVersion,
    }


def record_alerts(session: Session) -> int:
    """Add an alert for every invasive detection (flushed in this session) that has none; no commit.

    Call it inside the transaction that writes the detections. Returns the number of new alerts.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    new = session.scalars(
        select(Detection).outerjoin(Alert, Alert.detectionID == Detection.detectionID)
        .where(Detection.isInvasive.is_(True), Alert.alertID.is_(None))
        .order_by(Detection.eventStartUTC, Detection.mediaID, Detection.start_s)).all()
    if not new:
        return 0
    keys = {alert_key(d.mediaID, d.start_s, d.scientificName): d for d in new}
    existing = {a.alertKey: a for a in session.scalars(select(Alert).where(Alert.alertKey.in_(keys)))}
    added = 0
    now = _now()
    for key, det in keys.items():
        old = existing.get(key)
        if old is not None:  # the same observation re-published (new model version): follow it, no new alert
            if session.get(Detection, old.detectionID) is None:
                old.detectionID = det.detectionID
            continue
        session.add(Alert(alertKey=key, detectionID=det.detectionID, payload=alert_payload(det), created=now,
                          delivery="pending", attempts=0, nextAttempt=now, lastError=""))
        added += 1
    session.flush()
    return added


def encode_cursor(alert_id: int) -> str:
    """Opaque cursor for "after alert ``alert_id``" (URL-safe base64, no padding)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The alertID a cursor points after.

    Raises:
        ValueError: not a cursor this service issued.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a valid alerts cursor") from exc
    if not raw.startswith(_CURSOR_PREFIX) or not raw[len(_CURSOR_PREFIX):].isdigit():
        raise ValueError("not a valid alerts cursor")
    return int(raw[len(_CURSOR_PREFIX):])


def feed(session: Session, after_id: int, limit: int) -> list[Alert]:
    """Alerts with ``alertID > after_id`` in feed order, at most ``limit``."""
    return list(session.scalars(select(Alert).where(Alert.alertID > after_id).order_by(Alert.alertID).limit(limit)))


def claim_due(session: Session, lease_s: float, limit: int = 20, now: datetime | None = None) -> list[Alert]:
    """Claim pending alerts whose next attempt is due: each one's ``nextAttempt`` is moved ``lease_s``
    ahead with a compare-and-set update, so two workers never post the same alert at once; commits.

    Returns:
        The claimed alerts, oldest first.
    """
    now = now or _now()
    due = session.execute(select(Alert.alertID, Alert.nextAttempt).where(
        Alert.delivery == "pending", Alert.nextAttempt <= now).order_by(Alert.alertID).limit(limit)).all()
    claimed = []
    for alert_id, when in due:
        res = session.execute(update(Alert).where(Alert.alertID == alert_id, Alert.delivery == "pending",
                                                  Alert.nextAttempt == when)
                              .values(nextAttempt=now + timedelta(seconds=lease_s)))
        if res.rowcount == 1:
            claimed.append(alert_id)
    session.commit()
    return [session.get(Alert, i) for i in claimed]


def backoff_s(attempts: int, base_s: float) -> float:
    """Delay before retry number ``attempts`` (1-based): ``base_s * 2**(attempts-1)``, at most one hour."""
    return min(base_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)


def mark_delivered(session: Session, alert: Alert, now: datetime | None = None) -> None:
    """Record a successful delivery (commits)."""
    alert.attempts += 1
    alert.delivery, alert.delivered, alert.nextAttempt, alert.lastError = "delivered", now or _now(), None, ""
    session.commit()


def mark_failed_attempt(session: Session, alert: Alert, error: str, max_attempts: int, base_backoff_s: float,
                        now: datetime | None = None) -> None:
    """Record a failed delivery: retry after :func:`backoff_s`, or ``failed`` after ``max_attempts`` (commits)."""
    alert.attempts += 1
    alert.lastError = error[:1024]
    if alert.attempts >= max_attempts:
        alert.delivery, alert.nextAttempt = "failed", None
    else:
        alert.nextAttempt = (now or _now()) + timedelta(seconds=backoff_s(alert.attempts, base_backoff_s))
    session.commit()
