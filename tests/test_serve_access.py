"""API keys and roles, background jobs for long audio, reviews, the alert feed and the webhook outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from models.media.errors import MediaError
from models.media.hashing import sha256_bytes
from models.store.alerts import decode_cursor, encode_cursor
from models.store.db import Alert, ApiKey, Detection, DetectionReview, Job, Media
from serve import uploads
from serve.__main__ import cli
from serve.app import create_app
from serve.webhooks import WebhookWorker
from tests.serve_helpers import jpeg_bytes, seed_database, wav_bytes


def upload(client: TestClient, data: bytes, name: str, deployment: str, headers: dict):
    return client.post("/v1/media", files={"file": (name, data)}, data={"deploymentID": deployment},
                       headers=headers)


def wait_job(client: TestClient, job_id: str, headers: dict, timeout_s: float = 60.0) -> dict:
    """Poll ``/v1/jobs/{id}`` until the job is done or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if body["state"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {body}")


# --- keys and roles ----------------------------------------------------------------------------------------


def test_cli_key_is_stored_hashed_and_authenticates(settings, db, deployments):
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "create", "--role", "uploader", "--name", "station-1",
                            "--database-url", settings.database_url])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("biodiv_") and len(token) == len("biodiv_") + 12 + 1 + 43
    key_id = token.split("_")[1]
    db.expire_all()
    row = db.get(ApiKey, key_id)
    assert (row.name, row.role, row.revoked) == ("station-1", "uploader", None)
    secret = token.split("_", 2)[2]
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest() and secret not in row.secret_sha256
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/whoami", headers={"X-API-Key": token}).json() == {
            "role": "uploader", "key_id": key_id, "name": "station-1"}
        assert c.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"}).json()["role"] == "uploader"
        assert c.get("/v1/whoami").json() == {"role": "public", "key_id": None, "name": "public"}
        assert upload(c, jpeg_bytes(40), "a.jpg", "S1-cam", {"X-API-Key": token}).status_code == 201
    listed = runner.invoke(cli, ["keys", "list", "--database-url", settings.database_url])
    assert f"{key_id}\tuploader\tstation-1" in listed.stdout and "active" in listed.stdout
    assert runner.invoke(cli, ["keys", "revoke", key_id, "--database-url", settings.database_url]).exit_code == 0
    with TestClient(create_app(settings)) as c:
        r = c.get("/v1/whoami", headers={"X-API-Key": token})
        assert r.status_code == 401 and r.json()["detail"] == "invalid or revoked API key"
    bad = runner.invoke(cli, ["keys", "create", "--role", "root", "--name", "x",
                              "--database-url", settings.database_url])
    assert bad.exit_code != 0 and "unknown role 'root'" in bad.output


def test_upload_needs_an_uploader_key(client, api_key, settings, db, deployments):
    data = jpeg_bytes(41)
    r = upload(client, data, "a.jpg", "S1-cam", {})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "ApiKey"
    assert r.json()["detail"] == "an API key is required"
    forged = "biodiv_" + "0" * 12 + "_" + "A" * 43
    for headers in ({"X-API-Key": forged}, {"X-API-Key": "not-a-key"}, {"Authorization": "Bearer nope"}):
        r = upload(client, data, "a.jpg", "S1-cam", headers)
        assert r.status_code == 401 and r.json()["detail"] == "invalid or revoked API key"
    # a right key ID with a wrong secret is refused too
    good = api_key("uploader")["X-API-Key"]
    wrong = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert upload(client, data, "a.jpg", "S1-cam", {"X-API-Key": wrong}).status_code == 401
    assert upload(client, data, "a.jpg", "S1-cam", {"X-API-Key": good, "Authorization": f"Bearer {forged}"}
                  ).status_code == 401
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Media)) == 0 and not settings.media_root.exists()
    for seed, role in enumerate(("uploader", "reviewer", "admin")):  # ordered: a higher role includes lower ones
        r = upload(client, jpeg_bytes(42 + seed), "a.jpg", "S1-cam", api_key(role))
        assert r.status_code == 201, r.text


def test_admin_endpoints_create_list_revoke(client, api_key):
    admin, uploader = api_key("admin", "ops"), api_key("uploader")
    assert client.post("/v1/keys", json={"role": "reviewer", "name": "ecologist"}).status_code == 401
    r = client.post("/v1/keys", json={"role": "reviewer", "name": "ecologist"}, headers=uploader)
    assert r.status_code == 403 and r.json()["detail"] == "role admin required"
    r = client.post("/v1/keys", json={"role": "reviewer", "name": "ecologist"}, headers=admin)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["role"] == "reviewer" and new["token"].startswith(f"biodiv_{new['key_id']}_")
    assert client.get("/v1/whoami", headers={"X-API-Key": new["token"]}).json()["name"] == "ecologist"
    listing = client.get("/v1/keys", headers=admin).json()
    assert {k["name"] for k in listing} == {"ops", "test-uploader", "ecologist"}
    assert all("token" not in k and "secret_sha256" not in k for k in listing)
    assert client.post("/v1/keys", json={"role": "public", "name": "x"}, headers=admin).status_code == 422
    r = client.delete(f"/v1/keys/{new['key_id']}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked"] is not None
    assert client.get("/v1/whoami", headers={"X-API-Key": new["token"]}).status_code == 401
    assert client.delete("/v1/keys/ffffffffffff", headers=admin).status_code == 404


# --- background jobs ---------------------------------------------------------------------------------------


def test_long_audio_is_a_background_job(settings, db, deployments, uploader_headers):
    data = wav_bytes(2.5)
    with TestClient(create_app(settings.model_copy(update={"background_audio_s": 2.0}))) as c:
        short = upload(c, wav_bytes(1.5, freq_hz=600.0), "short.wav", "S1-rec", uploader_headers)
        assert short.status_code == 201  # at or under the limit: classified in the request
        r = upload(c, data, "long.wav", "S1-rec", uploader_headers)
        assert r.status_code == 202, r.text
        body = r.json()
        job = body["job"]
        assert body["duplicate"] is False and job["state"] in ("queued", "running", "done")
        assert body["statusURL"] == f"/v1/jobs/{job['jobID']}" == r.headers["location"]
        assert job["duration_s"] == pytest.approx(2.5) and job["fileName"] == "long.wav"
        done = wait_job(c, job["jobID"], uploader_headers)
        assert done["state"] == "done" and done["reason"] == "" and done["detections"] == 3  # 1 s windows, 0.5 s tail
        assert done["mediaID"] and done["finished"].endswith("Z")
        dets = c.get("/v1/detections", params={"mediaID": done["mediaID"], "include_total": True}).json()
        assert dets["total"] == 3 and {d["start_s"] for d in dets["items"]} == {0.0, 1.0, 2.0}
        again = upload(c, data, "long-again.wav", "S1-rec", uploader_headers)
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert again.json()["media"]["mediaID"] == done["mediaID"]
        assert c.get(f"/v1/jobs/{job['jobID']}").status_code == 401
        assert c.get("/v1/jobs/0123", headers=uploader_headers).status_code == 404
    sha = sha256_bytes(data)
    stored = sorted(p.relative_to(settings.media_root).as_posix() for p in settings.media_root.rglob("*")
                    if p.is_file())
    assert f"{sha[:2]}/{sha}.wav" in stored and not any(p.startswith(".jobs/") for p in stored)


def test_failed_job_says_why_and_leaves_nothing(settings, db, deployments, uploader_headers, monkeypatch):
    def broken(*args, **kwargs):
        raise MediaError("corrupt", "decoder gave up at 1.2 s")

    monkeypatch.setattr(uploads, "_classify", broken)
    with TestClient(create_app(settings.model_copy(update={"background_audio_s": 1.0}))) as c:
        r = upload(c, wav_bytes(2.5), "bad.wav", "S1-rec", uploader_headers)
        assert r.status_code == 202
        done = wait_job(c, r.json()["job"]["jobID"], uploader_headers)
    assert done["state"] == "failed" and done["reason"] == "decoder gave up at 1.2 s" and done["mediaID"] is None
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Media)) == 0
    assert not [p for p in settings.media_root.rglob("*") if p.is_file()]


def test_jobs_survive_a_restart(settings, db, deployments, uploader_headers):
    """A job queued (or left running) by a stopped service is finished by the next one."""
    data = wav_bytes(2.5, freq_hz=880.0)
    staged = settings.media_root / ".jobs" / "feedfacefeedfacefeedfacefeedface.wav"
    staged.parent.mkdir(parents=True)
    staged.write_bytes(data)
    db.add(Job(jobID="feedfacefeedfacefeedfacefeedface", state="running", sha256=sha256_bytes(data),
               deploymentID="S1-rec", fileName="interrupted.wav", stagedPath=".jobs/" + staged.name, duration_s=2.5))
    db.commit()
    with TestClient(create_app(settings)) as c:
        done = wait_job(c, "feedfacefeedfacefeedfacefeedface", uploader_headers)
    assert done["state"] == "done" and done["detections"] == 3 and not staged.exists()
    db.expire_all()
    assert db.get(Job, "feedfacefeedfacefeedfacefeedface").attempts == 1


# --- reviews -------------------------------------------------------------------------------------------------


@pytest.fixture()
def seeded(settings) -> dict[str, str]:
    return seed_database(settings.database_url)


def test_review_confirm_and_correct_keep_the_machine_prediction(client, api_key, seeded, db):
    reviewer = api_key("reviewer", "Dr Chen")
    d4 = seeded["d4"]
    body = {"action": "correct", "scientificName": " lithobates  CATESBEIANUS ", "comment": "bullfrog, not boar"}
    assert client.post(f"/v1/detections/{d4}/review", json=body).status_code == 401
    assert client.post(f"/v1/detections/{d4}/review", json=body, headers=api_key("uploader")).status_code == 403
    r = client.post(f"/v1/detections/{d4}/review", json=body, headers=reviewer)
    assert r.status_code == 200, r.text
    det, rev = r.json()["detection"], r.json()["review"]
    assert (det["scientificName"], det["isInvasive"], det["classificationMethod"], det["classifiedBy"]) == (
        "Lithobates catesbeianus", True, "human", "Dr Chen")
    assert det["classificationProbability"] == 1.0 and det["modelVersion"] == "seed/1"
    assert datetime.fromisoformat(det["classificationTimestamp"]).tzinfo is not None
    assert rev["before"]["scientificName"] == "Sus scrofa" and rev["before"]["classificationMethod"] == "machine"
    assert rev["before"]["classificationProbability"] == pytest.approx(0.77)
    # a second review keeps the first one's record of the machine prediction
    r = client.post(f"/v1/detections/{d4}/review", json={"action": "confirm"}, headers=reviewer)
    assert r.status_code == 200 and r.json()["review"]["before"]["classificationMethod"] == "human"
    history = client.get(f"/v1/detections/{d4}/reviews", headers=reviewer).json()
    assert [h["action"] for h in history] == ["correct", "confirm"]
    assert history[0]["before"]["scientificName"] == "Sus scrofa"
    # corrections to other observation types, and invalid ones
    d5 = seeded["d5"]
    r = client.post(f"/v1/detections/{d5}/review", json={"action": "correct", "observationType": "vehicle"},
                    headers=reviewer)
    assert r.status_code == 200 and r.json()["detection"]["observationType"] == "vehicle"
    assert r.json()["detection"]["scientificName"] is None
    for bad, message in (({"action": "correct", "scientificName": "Felis catus maximus"},
                          "scientificName 'Felis catus maximus' is not in the species catalogue"),
                         ({"action": "correct", "observationType": "blank", "scientificName": "Sus scrofa"},
                          "a blank observation has no scientificName")):
        r = client.post(f"/v1/detections/{seeded['d1']}/review", json=bad, headers=reviewer)
        assert r.status_code == 422 and r.json()["detail"] == message
    assert client.post("/v1/detections/nope/review", json={"action": "confirm"}, headers=reviewer).status_code == 404
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(DetectionReview)) == 3
    assert db.get(Detection, seeded["d1"]).classificationMethod == "machine"  # refused reviews changed nothing


def test_publish_never_overwrites_a_human_review(client, api_key, seeded, settings, db):
    from pipeline.stages import publish

    d2 = seeded["d2"]  # m2, audio window at 0 s
    r = client.post(f"/v1/detections/{d2}/review", json={"action": "correct", "scientificName": "Sus scrofa"},
                    headers=api_key("reviewer", "Dr Chen"))
    assert r.status_code == 200
    preds = [{"mediaID": "m2", "deploymentID": "S1-rec", "stationID": "S1", "modality": "audio", "start_s": s,
              "end_s": s + 3.0, "eventStart": "", "observationType": "animal",
              "scientificName": "Lithobates catesbeianus", "classificationProbability": 0.99, "isInvasive": True,
              "topK": [["Lithobates catesbeianus", 0.99]], "modelVersion": version}
             for s, version in ((0.0, "seed/1"), (0.0, "retrained/2"), (3.0, "retrained/2"))]
    publish.run(settings.database_url, [], [], [], preds)
    db.expire_all()
    rows = db.scalars(select(Detection).where(Detection.mediaID == "m2").order_by(Detection.start_s)).all()
    assert [(d.start_s, d.scientificName, d.classificationMethod, d.modelVersion) for d in rows] == [
        (0.0, "Sus scrofa", "human", "seed/1"), (3.0, "Lithobates catesbeianus", "machine", "retrained/2")]


# --- alerts ---------------------------------------------------------------------------------------------------


def test_alert_feed_with_cursor(seeded, client, api_key, settings, db):
    deadline = time.monotonic() + 20  # the startup sweep runs in the background
    while len((first := client.get("/v1/alerts").json())["items"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    # the two seeded invasive detections (written without the service) are swept in at startup
    assert [a["detection"]["detectionID"] for a in first["items"]] == [seeded["d1"], seeded["d2"]]
    assert first["items"][0]["detection"]["scientificName"] == "Lithobates catesbeianus"
    assert first["next"] == first["items"][-1]["cursor"]
    assert client.get("/v1/alerts", params={"limit": 1}).json()["items"][0]["cursor"] == first["items"][0]["cursor"]
    empty = client.get("/v1/alerts", params={"since": first["next"]}).json()
    assert empty == {"items": [], "next": first["next"]}
    client.post(f"/v1/detections/{seeded['d4']}/review",
                json={"action": "correct", "scientificName": "Lithobates catesbeianus"},
                headers=api_key("reviewer"))
    newer = client.get("/v1/alerts", params={"since": first["next"]}).json()
    assert [a["detection"]["detectionID"] for a in newer["items"]] == [seeded["d4"]]
    assert newer["items"][0]["detection"]["classificationMethod"] == "human"
    assert decode_cursor(newer["next"]) > decode_cursor(first["next"])
    for bad in ("abc", encode_cursor(3).upper(), "YWxlcnRzOi0x"):
        r = client.get("/v1/alerts", params={"since": bad})
        assert r.status_code == 422 and r.json()["detail"] == "not a valid alerts cursor"
    # the same observation re-published by a retrained model does not alert again
    from pipeline.stages import publish

    publish.run(settings.database_url, [], [], [], [{
        "mediaID": "m1", "deploymentID": "S1-cam", "stationID": "S1", "modality": "image", "start_s": 0.0,
        "end_s": 0.0, "eventStart": "", "observationType": "animal", "scientificName": "Lithobates catesbeianus",
        "classificationProbability": 0.95, "isInvasive": True, "topK": [], "modelVersion": "retrained/2"}])
    assert client.get("/v1/alerts", params={"since": newer["next"]}).json()["items"] == []
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Alert)) == 3


def test_upload_of_an_invasive_detection_alerts_in_the_same_commit(client, uploader_headers, settings, db,
                                                                   deployments, monkeypatch):
    def bullfrog(*args, **kwargs):
        rows = real(*args, **kwargs)
        for r in rows:
            r.update(scientificName="Lithobates catesbeianus", isInvasive=True, observationType="animal")
        return rows

    real = uploads._classify
    monkeypatch.setattr(uploads, "_classify", bullfrog)
    r = upload(client, jpeg_bytes(60), "frog.jpg", "S1-cam", uploader_headers)
    assert r.status_code == 201
    items = client.get("/v1/alerts").json()["items"]
    assert [a["detection"]["detectionID"] for a in items] == [r.json()["detections"][0]["detectionID"]]


def _worker(settings, handler, **over):
    from sqlalchemy.orm import sessionmaker

    from models.store.db import make_engine

    s = settings.model_copy(update={"alert_webhook_url": "http://alerts.example.org/hook",
                                    "alert_webhook_secret": "s3cret", "alert_webhook_backoff_s": 10.0,
                                    "alert_webhook_max_attempts": 4, **over})
    return WebhookWorker(sessionmaker(make_engine(s.database_url), expire_on_commit=False), s,
                         httpx.MockTransport(handler))


def test_webhook_retries_with_backoff_and_delivers_once(settings, seeded, db):
    calls: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503 if len(calls) <= 2 else 204)

    worker = _worker(settings, flaky)
    t0 = datetime(2030, 1, 1)
    assert worker.run_once(now=t0) == {"new": 2, "delivered": 0, "failed_attempts": 2}
    db.expire_all()
    alerts = db.scalars(select(Alert).order_by(Alert.alertID)).all()
    assert [(a.delivery, a.attempts, a.lastError) for a in alerts] == [("pending", 1, "HTTP 503")] * 2
    assert alerts[0].nextAttempt == t0 + timedelta(seconds=10)
    assert worker.run_once(now=t0 + timedelta(seconds=5)) == {"new": 0, "delivered": 0, "failed_attempts": 0}
    assert worker.run_once(now=t0 + timedelta(seconds=10)) == {"new": 0, "delivered": 2, "failed_attempts": 0}
    # a restarted worker (new process) sends nothing twice
    again = _worker(settings, flaky)
    assert again.run_once(now=t0 + timedelta(hours=2)) == {"new": 0, "delivered": 0, "failed_attempts": 0}
    assert len(calls) == 4
    body = json.loads(calls[-1].content)
    assert body["type"] == "invasive_species_detection"
    assert body["detection"]["scientificName"] == "Lithobates catesbeianus"
    assert calls[-1].headers["idempotency-key"] == calls[-1].headers["x-biodiv-alert-id"] == body["cursor"]
    expected = hmac.new(b"s3cret", calls[-1].content, hashlib.sha256).hexdigest()
    assert calls[-1].headers["x-biodiv-signature"] == f"sha256={expected}"
    db.expire_all()
    assert {(a.delivery, a.attempts) for a in db.scalars(select(Alert))} == {("delivered", 2)}


def test_webhook_gives_up_after_max_attempts(settings, seeded, db):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    worker = _worker(settings, down, alert_webhook_max_attempts=3)
    now = datetime(2030, 1, 1)
    for step in (0, 10, 30):  # backoff 10 s, then 20 s
        worker.run_once(now=now + timedelta(seconds=step))
    db.expire_all()
    alerts = db.scalars(select(Alert)).all()
    assert {(a.delivery, a.attempts, a.nextAttempt) for a in alerts} == {("failed", 3, None)}
    assert alerts[0].lastError == "ConnectError: connection refused"


def test_webhook_worker_runs_in_the_service(settings, seeded, db):
    """With a URL configured the service posts alerts on its own (a local HTTP server receives them)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server API
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200 if len(received) > 1 else 500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = settings.model_copy(update={"alert_webhook_url": f"http://127.0.0.1:{server.server_port}/hook",
                                        "alert_poll_s": 0.05, "alert_webhook_backoff_s": 0.05})
        with TestClient(create_app(s)):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                db.expire_all()
                if db.scalar(select(func.count()).select_from(Alert).where(Alert.delivery == "delivered")) == 2:
                    break
                time.sleep(0.05)
    finally:
        server.shutdown()
    # d1 fails once (500) and is retried after d2 went through
    assert [r["detection"]["detectionID"] for r in received] == [seeded["d1"], seeded["d2"], seeded["d1"]]


def test_same_long_recording_while_queued_returns_the_same_job(settings, db, deployments, uploader_headers,
                                                                monkeypatch):
    """Repeated ingestion (BR-22's kind) on the background path: no second job, no second file."""
    from serve.jobs import JobRunner

    monkeypatch.setattr(JobRunner, "submit", lambda self, job_id: None)  # keep the job queued
    data = wav_bytes(2.5, freq_hz=300.0)
    with TestClient(create_app(settings.model_copy(update={"background_audio_s": 1.0}))) as c:
        first = upload(c, data, "a.wav", "S1-rec", uploader_headers)
        second = upload(c, data, "b.wav", "S1-rec", uploader_headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert second.json()["job"]["jobID"] == first.json()["job"]["jobID"]
    assert second.json()["job"]["fileName"] == "a.wav"
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Job)) == 1
    assert [p.parent.name for p in settings.media_root.rglob("*") if p.is_file()] == [".jobs"]


@pytest.mark.parametrize(("p_frog", "alerted"), [(0.40, False), (0.49, False), (0.80, True)])
def test_upload_alerts_only_at_the_detection_threshold(client, uploader_headers, db, deployments, monkeypatch,
                                                       p_frog, alerted):
    """The one alert rule (``Catalogue.invasive_detection``, default threshold 0.5) on the upload path:
    a bullfrog call below it is kept as a detection but is not invasive and raises no alert."""
    import numpy as np

    from models.learning.bundle import Classifier

    rest = (1.0 - p_frog) / 2
    monkeypatch.setattr(Classifier, "predict",
                        lambda self, batch, batch_size=64: np.tile([p_frog, rest, rest], (len(batch), 1)))
    r = upload(client, jpeg_bytes(61), "frog.jpg", "S1-cam", uploader_headers)
    assert r.status_code == 201, r.text
    (det,) = r.json()["detections"]
    # below the threshold the bullfrog is not the answer: unknown (nothing above it holds 0.5 either)
    assert (det["scientificName"], det["classificationSource"]) == (
        ("Lithobates catesbeianus", "model") if alerted else (None, "threshold-unknown"))
    assert det["classificationProbability"] == pytest.approx(p_frog, abs=1e-6)
    assert det["topK"][0] == ["Lithobates catesbeianus", pytest.approx(p_frog, abs=1e-6)]
    assert det["isInvasive"] is alerted
    ids = [a["detection"]["detectionID"] for a in client.get("/v1/alerts").json()["items"]]
    assert ids == ([det["detectionID"]] if alerted else [])


def test_a_review_that_corrects_an_invasive_detection_withdraws_its_alert(client, uploader_headers, api_key, db,
                                                                          deployments, monkeypatch):
    import numpy as np

    from models.learning.bundle import Classifier
    from models.store.db import Alert

    monkeypatch.setattr(Classifier, "predict", lambda self, batch, batch_size=64: np.tile([0.8, 0.1, 0.1],
                                                                                           (len(batch), 1)))
    r = upload(client, jpeg_bytes(62), "frog.jpg", "S1-cam", uploader_headers)
    (det,) = r.json()["detections"]
    (alert,) = client.get("/v1/alerts").json()["items"]
    assert alert["status"] == "open" and alert["detection"]["classificationProbability"] == pytest.approx(0.8)
    assert alert["detection"]["mediaID"] == det["mediaID"]  # the evidence
    reviewer = api_key("reviewer", "Li Wei")
    r = client.post(f"/v1/detections/{det['detectionID']}/review",
                    json={"action": "correct", "scientificName": "Sus scrofa"}, headers=reviewer)
    assert r.status_code == 200, r.text
    (alert,) = client.get("/v1/alerts").json()["items"]
    assert alert["status"] == "withdrawn" and alert["withdrawn"] is not None
    assert alert["withdrawnReason"] == "review by Li Wei: animal Sus scrofa"
    db.expire_all()
    assert db.scalar(select(Alert.delivery)) == "cancelled"  # a webhook not yet sent is not sent
    # confirming an invasive detection keeps its alert open
    r = upload(client, jpeg_bytes(63), "frog2.jpg", "S1-cam", uploader_headers)
    (det2,) = r.json()["detections"]
    client.post(f"/v1/detections/{det2['detectionID']}/review", json={"action": "confirm"}, headers=reviewer)
    assert [a["status"] for a in client.get("/v1/alerts").json()["items"]] == ["withdrawn", "open"]


def test_public_statistics_leave_out_media_with_people_like_the_pages(settings, api_key):
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    from models.store.db import make_engine
    from serve.app import create_app
    from tests.serve_helpers import _det, seed_database

    seed_database(settings.database_url)
    engine = make_engine(settings.database_url)
    with Session(engine) as s:  # the frame of d1 (a bullfrog at S1) also shows a person
        person = _det("m1", "image", None, 0.7, False, "2024-05-01T08:00:00+08:00", deployment="S1-cam",
                      station="S1", start_s=1.0)
        person.observationType = "human"
        s.add(person)
        s.commit()
    engine.dispose()
    reviewer = api_key("reviewer", "Li Wei")
    with TestClient(create_app(settings)) as c:
        def bullfrogs(headers=None) -> int:
            counts = c.get("/v1/stations/S1/stats/counts?interval=month", headers=headers or {}).json()["counts"]
            return sum(r["count"] for r in counts if r["scientificName"] == "Lithobates catesbeianus")

        assert bullfrogs(reviewer) == 2 and bullfrogs() == 1  # d1 (image with a person) is not public; d2 is
        diel = c.get("/v1/stations/S1/stats/diel").json()
        assert diel["total"][8] == 0 and c.get("/v1/stations/S1/stats/diel", headers=reviewer).json()["total"][8] >= 1
