"""Webhook delivery of invasive-species alerts (the outbox in ``models.store.alerts``), on a worker thread.

Each alert is POSTed as JSON to ``Settings.alert_webhook_url`` with the headers
``X-Biodiv-Alert-ID`` / ``Idempotency-Key`` (the alert's cursor; a receiver that dedupes on it sees
each alert once even if a crash falls between its 2xx and our commit) and, when a secret is set,
``X-Biodiv-Signature: sha256=<hex HMAC-SHA256 of the body>`` (the GitHub webhook convention).
A 2xx answer marks it delivered; anything else is retried with exponential backoff
(``alert_webhook_backoff_s`` doubling, capped at one hour) up to ``alert_webhook_max_attempts``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from models.store.alerts import claim_due, encode_cursor, mark_delivered, mark_failed_attempt, record_alerts
from models.store.db import Alert
from serve.settings import Settings

log = logging.getLogger(__name__)
#: Seconds between the worker's full sweeps for alerts missing because detections were written
#: outside the service (a safety net; a full sweep over 1,000,000 detections takes about 0.3 s).
SWEEP_EVERY_S = 300.0


def alert_body(alert: Alert) -> dict:
    """The JSON document posted for an alert."""
    created = alert.created.replace(tzinfo=UTC).isoformat() if alert.created else None
    return {"type": "invasive_species_detection", "cursor": encode_cursor(alert.alertID), "created": created,
            "detection": alert.payload}


class WebhookWorker:
    """Sweeps new alerts and delivers due ones every ``alert_poll_s`` seconds until stopped.

    Args:
        sessions: session factory of the service database.
        settings: webhook URL, secret, attempts, backoff, timeout and poll interval.
        transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``); default: real HTTP.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 transport: httpx.BaseTransport | None = None) -> None:
        if settings.alert_webhook_url is None:
            raise ValueError("alert_webhook_url is not set")
        self._sessions, self._s = sessions, settings
        self._url = str(settings.alert_webhook_url)
        self._client = httpx.Client(timeout=settings.alert_webhook_timeout_s, transport=transport)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _post(self, alert: Alert) -> str | None:
        """POST one alert; None on a 2xx answer, else the error in words."""
        body = json.dumps(alert_body(alert), separators=(",", ":")).encode()
        cursor = encode_cursor(alert.alertID)
        headers = {"Content-Type": "application/json", "X-Biodiv-Alert-ID": cursor, "Idempotency-Key": cursor}
        if self._s.alert_webhook_secret:
            digest = hmac.new(self._s.alert_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Biodiv-Signature"] = f"sha256={digest}"
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if response.is_success else f"HTTP {response.status_code}"

    def run_once(self, now: datetime | None = None, sweep: bool = True) -> dict[str, int]:
        """Deliver every due alert once; with ``sweep``, first record alerts for invasive detections that
        were written without one (a safety net: writers record their own alerts).

        Returns:
            ``{"new": alerts recorded, "delivered": n, "failed_attempts": n}``.
        """
        counts = {"new": 0, "delivered": 0, "failed_attempts": 0}
        with self._sessions() as session:
            if sweep:
                counts["new"] = record_alerts(session)
                session.commit()
            lease = 2 * self._s.alert_webhook_timeout_s + 5
            while not self._stop.is_set():
                batch = claim_due(session, lease, now=now)
                if not batch:
                    break
                for alert in batch:
                    error = self._post(alert)
                    if error is None:
                        mark_delivered(session, alert, now)
                        counts["delivered"] += 1
                    else:
                        log.warning("webhook delivery of alert %s failed (attempt %d): %s", alert.alertID,
                                    alert.attempts + 1, error)
                        mark_failed_attempt(session, alert, error, self._s.alert_webhook_max_attempts,
                                            self._s.alert_webhook_backoff_s, now)
                        counts["failed_attempts"] += 1
        return counts

    def _loop(self) -> None:
        last_sweep = float("-inf")
        while not self._stop.is_set():
            try:
                sweep = time.monotonic() - last_sweep >= SWEEP_EVERY_S
                self.run_once(sweep=sweep)
                if sweep:
                    last_sweep = time.monotonic()
            except Exception:  # noqa: BLE001 - the worker must survive a database hiccup; retried next poll
                log.exception("webhook worker: sweep failed")
            self._stop.wait(self._s.alert_poll_s)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._loop, name="biodiv-webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the delivery in progress) and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._s.alert_webhook_timeout_s + 5)
        self._client.close()
