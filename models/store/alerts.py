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
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from models.store.db import Alert, Detection

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


#: Detection columns copied into an alert's payload.
PAYLOAD_COLUMNS = ("detectionID", "mediaID", "deploymentID", "stationID", "modality", "start_s", "end_s", "eventStart",
                   "scientificName", "classificationProbability", "classificationMethod", "classifiedBy",
                   "modelVersion")
_CHUNK = 500  # bound on bound parameters per IN (...) query (SQLite's limit is 999 on old builds)


def alert_payload(det: Detection) -> dict:
    """The JSON body of an alert (Camtrap DP / Darwin Core terms; no coordinates, no file path)."""
    return {c: getattr(det, c) for c in PAYLOAD_COLUMNS}


def record_alerts(session: Session, detection_ids: Iterable[str] | None = None) -> int:
    """Add an alert for every invasive detection (flushed in this session) that has none; no commit.

    Call it inside the transaction that writes the detections, with their IDs (a single upload or
    review then costs a few index look-ups), or without IDs for a full sweep (publish, startup).
    Columns are selected and alerts bulk-inserted in chunks. Measured with
    ``benchmarks/alerts_sweep.py`` on a busy 2-core machine, SQLite, 1,000,000 detections of which
    100,000 invasive: first full sweep 5.0 to 8.4 s, full sweep finding nothing new 0.24 to 0.43 s,
    sweep scoped to one upload's 10 detections 0.012 s.

    Returns:
        The number of new alerts.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    columns = [getattr(Detection, c) for c in PAYLOAD_COLUMNS]
    query = select(*columns).outerjoin(Alert, Alert.detectionID == Detection.detectionID).where(Alert.alertID.is_(None))
    order = (Detection.eventStartUTC.asc().nulls_last(), Detection.mediaID, Detection.start_s)  # same on every engine
    if detection_ids is None:
        new = session.execute(query.where(Detection.isInvasive.is_(True)).order_by(*order)).all()
    else:  # by primary key; the invasive flag is tested here so that no planner scans the isInvasive index
        ids = sorted(set(detection_ids))
        rows = [row for i in range(0, len(ids), _CHUNK) for row in session.execute(
            query.add_columns(Detection.isInvasive, Detection.eventStartUTC)
            .where(Detection.detectionID.in_(ids[i:i + _CHUNK])))]
        rows = sorted((r for r in rows if r.isInvasive),
                      key=lambda r: (r.eventStartUTC is None, r.eventStartUTC or 0, r.mediaID, r.start_s))
        new = [tuple(r)[:len(columns)] for r in rows]
    if not new:
        return 0
    by_key: dict[str, dict] = {}
    for row in new:
        payload = dict(zip(PAYLOAD_COLUMNS, row, strict=True))
        by_key.setdefault(alert_key(payload["mediaID"], payload["start_s"], payload["scientificName"]), payload)
    keys = list(by_key)
    existing: dict[str, tuple[int, str]] = {}
    for i in range(0, len(keys), _CHUNK):
        existing.update((k, (a, d)) for k, a, d in session.execute(
            select(Alert.alertKey, Alert.alertID, Alert.detectionID).where(Alert.alertKey.in_(keys[i:i + _CHUNK]))))
    # the same observation re-published under a new detectionID (retrained model): no new alert; the
    # alert follows the new detection once the old one is gone
    old_ids = list({old for _, old in existing.values()})
    present: set[str] = set()
    for i in range(0, len(old_ids), _CHUNK):
        present.update(session.scalars(select(Detection.detectionID)
                                       .where(Detection.detectionID.in_(old_ids[i:i + _CHUNK]))))
    for key, (alert_id, old) in existing.items():
        if old not in present:
            session.execute(update(Alert).where(Alert.alertID == alert_id)
                            .values(detectionID=by_key[key]["detectionID"]))
    now = _now()
    rows = [{"alertKey": k, "detectionID": p["detectionID"], "payload": p, "created": now, "delivery": "pending",
             "attempts": 0, "nextAttempt": now, "lastError": ""} for k, p in by_key.items() if k not in existing]
    for i in range(0, len(rows), _CHUNK):
        session.execute(insert(Alert), rows[i:i + _CHUNK])
    return len(rows)


#: Alert states: the workflow ``open`` -> ``acknowledged`` -> ``resolved``; ``withdrawn`` is set only by a review
#: that corrects the detection to something not invasive (:func:`withdraw_alerts`), from ``open`` or
#: ``acknowledged``.
ALERT_STATES = ("open", "acknowledged", "resolved", "withdrawn")
#: Workflow actions: ``action -> (state it starts from, state it leads to)``.
TRANSITIONS = {"acknowledge": ("open", "acknowledged"), "resolve": ("acknowledged", "resolved")}
#: States in which an alert still asks for attention (a review correcting it withdraws it).
ACTIVE_STATES = ("open", "acknowledged")


class AlertTransitionError(ValueError):
    """A workflow step that cannot be applied: ``status`` 404 (no such alert), 422 (unknown action) or 409
    (the alert is not in the state the action starts from)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def transition_alert(session: Session, alert_id: int, action: str, who: str, now: datetime | None = None) -> Alert:
    """Move an alert one step along the workflow (:data:`TRANSITIONS`) and record who did it and when;
    commits. A compare-and-set update on the current state, so of two reviewers acting at once only one
    succeeds and the other gets 409.

    Raises:
        AlertTransitionError: 404 unknown alert, 422 unknown action, 409 the alert is not in the state the
            action starts from (e.g. resolving an open alert, or acknowledging a withdrawn one).
    """
    if action not in TRANSITIONS:
        raise AlertTransitionError(422, f"unknown action {action!r}; expected one of {', '.join(TRANSITIONS)}")
    source, target = TRANSITIONS[action]
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertTransitionError(404, f"no alert with ID {alert_id}")
    stamp = (now or _now()).replace(tzinfo=None)
    values = ({"acknowledged": stamp, "acknowledgedBy": who[:256]} if target == "acknowledged"
              else {"resolved": stamp, "resolvedBy": who[:256]})
    n = session.execute(update(Alert).where(Alert.alertID == alert_id, Alert.status == source)
                        .values(status=target, **values)).rowcount
    if n != 1:
        session.rollback()
        current = session.get(Alert, alert_id)
        session.refresh(current)
        raise AlertTransitionError(409, f"alert {alert_id} is {current.status}; {action} needs an alert that is "
                                        f"{source}")
    session.commit()
    session.refresh(alert)
    return alert


def withdraw_alerts(session: Session, detection_id: str, reason: str, now: datetime | None = None) -> int:
    """Withdraw the open or acknowledged alerts of a detection that a reviewer corrected to something not
    invasive (in the caller's transaction): ``status`` becomes ``withdrawn`` with when and why, and a webhook
    delivery that has not happened yet is cancelled (``delivery`` ``cancelled``). A resolved alert stays
    resolved. Returns the number withdrawn. The alert stays in the feed (readers that saw it learn it was
    withdrawn)."""
    stamp = now or _now()
    n = session.execute(update(Alert).where(Alert.detectionID == detection_id, Alert.status.in_(ACTIVE_STATES))
                        .values(status="withdrawn", withdrawn=stamp, withdrawnReason=reason[:512])).rowcount
    session.execute(update(Alert).where(Alert.detectionID == detection_id, Alert.delivery == "pending")
                    .values(delivery="cancelled", nextAttempt=None))
    return int(n or 0)


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
