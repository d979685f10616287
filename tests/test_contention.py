"""Contention: a database held by another writer past the busy timeout answers 503 + Retry-After, not 500,
and leaves nothing half-written (issue 14, item 4). SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text

from models.store.db import Detection, DetectionReview, Media, is_contention, make_engine
from serve.app import create_app
from tests.serve_helpers import jpeg_bytes

DEPLOYMENT = "S1-cam"


@contextlib.contextmanager
def write_lock(url: str):
    """Hold a write lock on ``media`` and ``detections`` the way another writer would."""
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        con.execute("BEGIN IMMEDIATE")  # the RESERVED lock: every other writer waits for it
        try:
            yield
        finally:
            con.rollback()
            con.close()
    else:
        engine = create_engine(url)
        with engine.connect() as conn:
            trans = conn.begin()
            conn.execute(text("LOCK TABLE media, detections IN EXCLUSIVE MODE"))  # reads still pass
            try:
                yield
            finally:
                trans.rollback()
        engine.dispose()


@pytest.fixture()
def busy_client(settings):
    with TestClient(create_app(settings.model_copy(update={"db_busy_timeout_s": 0.3, "retry_after_s": 7}))) as c:
        yield c


def _counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = tuple(conn.scalar(select(func.count()).select_from(t)) for t in (Media, Detection, DetectionReview))
    engine.dispose()
    return out


def _upload(client, seed, headers):
    return client.post("/v1/media", files={"file": (f"img{seed}.jpg", jpeg_bytes(seed))},
                       data={"deploymentID": DEPLOYMENT}, headers=headers)


def _stored_files(settings) -> list[str]:
    root = settings.media_root
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_and_review_answer_503_with_retry_after_while_another_writer_holds_the_database(
        busy_client, settings, deployments, api_key, uploader_headers):
    first = _upload(busy_client, 1, uploader_headers)
    assert first.status_code == 201, first.text
    (det,) = first.json()["detections"]
    before = _counts(settings.database_url)
    files = _stored_files(settings)
    reviewer = api_key("reviewer", "rev")
    with write_lock(settings.database_url):
        r = _upload(busy_client, 2, uploader_headers)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "7" and r.json()["detail"]["reason"] == "database_busy"
        r = busy_client.post(f"/v1/detections/{det['detectionID']}/review", json={"action": "confirm"},
                             headers=reviewer)
        assert r.status_code == 503 and r.headers["Retry-After"] == "7", r.text
        # reads go on while the writer holds its lock (WAL on SQLite, MVCC on PostgreSQL)
        assert busy_client.get("/v1/detections", params={"mediaID": det["mediaID"]}).status_code == 200
    # nothing half-written: no media row, no detection, no review, no stored file of the refused upload
    assert _counts(settings.database_url) == before
    assert _stored_files(settings) == files
    # the same requests succeed once the lock is gone
    assert _upload(busy_client, 2, uploader_headers).status_code == 201
    r = busy_client.post(f"/v1/detections/{det['detectionID']}/review", json={"action": "confirm"}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert _counts(settings.database_url) == (before[0] + 1, before[1] + 1, before[2] + 1)


def test_is_contention_tells_busy_from_broken():
    class OperationalError(Exception):
        pass

    class Wrapped(Exception):
        def __init__(self, orig):
            self.orig = orig

    class PgError(Exception):
        sqlstate = "55P03"

    assert is_contention(Wrapped(OperationalError("database is locked")))
    assert is_contention(Wrapped(PgError("canceling statement due to lock timeout")))
    assert not is_contention(Wrapped(OperationalError("no such table: media")))
    assert not is_contention(Wrapped(ValueError("database is locked")))  # only the driver's operational errors
    with pytest.raises(ValueError):
        make_engine("sqlite://", busy_timeout_s=0)


def test_a_background_job_meeting_a_busy_database_is_queued_again_with_its_file(settings, deployments):
    import hashlib

    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session

    from models.store.db import Job
    from models.taxonomy.catalogue import Catalogue
    from serve.classifiers import load_classifiers
    from serve.uploads import run_job
    from tests.serve_helpers import wav_bytes

    data = wav_bytes(2.5)
    sha = hashlib.sha256(data).hexdigest()
    root = settings.media_root.resolve()
    (root / ".jobs").mkdir(parents=True)
    staged = root / ".jobs" / "j1.wav"
    staged.write_bytes(data)
    engine = make_engine(settings.database_url, busy_timeout_s=0.3)
    kwargs = dict(media_root=root, classifiers=load_classifiers(settings.image_bundle, settings.audio_bundle),
                  catalogue=Catalogue.load(), top_k=3)
    with Session(engine) as s:
        s.add(Job(jobID="j1", state="queued", sha256=sha, deploymentID="S1-rec", fileName="long.wav",
                  stagedPath=".jobs/j1.wav"))
        s.commit()
        with write_lock(settings.database_url):
            with pytest.raises(DBAPIError) as err:
                run_job(s, "j1", **kwargs)
            assert is_contention(err.value)
        s.expire_all()
        job = s.get(Job, "j1")
        # SQLite locks the whole file, so the job's claim already waits and fails (attempts 0); PostgreSQL
        # locks the two tables only, so the job runs and its final commit fails (attempts 1): queued again
        tried = 0 if settings.database_url.startswith("sqlite") else 1
        assert (job.state, job.attempts) == ("queued", tried) and staged.read_bytes() == data
        assert s.scalar(select(func.count()).select_from(Media)) == 0
        job = run_job(s, "j1", **kwargs)  # the retry
        assert (job.state, job.attempts) == ("done", tried + 1), job.reason
        assert not staged.exists() and s.get(Media, job.mediaID).sha256 == sha
    engine.dispose()
