"""Faults (issue 14, item 6): the service killed with SIGKILL during uploads and during a background job, the
pipeline killed during publish, and a full disk during an upload. After a restart nothing is lost, doubled
or half-written, and jobs resume. SQLite and PostgreSQL."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.store.db import Detection, Job, Media, create_schema, make_engine
from models.store.keys import create_key
from tests.serve_helpers import jpeg_bytes, seed_deployments, wav_bytes

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """``uvicorn serve.app:create_app`` in its own process (so it can be SIGKILLed), configured by env."""

    def __init__(self, settings, **overrides) -> None:
        self.env = {**os.environ, "BIODIV_DATABASE_URL": settings.database_url,
                    "BIODIV_MEDIA_ROOT": str(settings.media_root), "BIODIV_IMAGE_BUNDLE": str(settings.image_bundle),
                    "BIODIV_AUDIO_BUNDLE": str(settings.audio_bundle), "BIODIV_PARTIAL_UPLOAD_MAX_AGE_S": "0",
                    **{f"BIODIV_{k.upper()}": str(v) for k, v in overrides.items()}}
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> Service:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "serve.app:create_app",
                                      "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                     cwd=ROOT, env=self.env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, "the service exited at start"
            time.sleep(0.2)
        raise AssertionError("the service did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture()
def prepared(settings):
    """The settings' database with deployments and an uploader key: ``(settings, headers)``."""
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as s:
        seed_deployments(s)
        headers = {"X-API-Key": create_key(s, "uploader", "station").token}
    engine.dispose()
    return settings, headers


def _state(settings) -> dict:
    """Media rows, their files, orphan files, staged leftovers and detections per media."""
    engine = make_engine(settings.database_url)
    with Session(engine) as s:
        media = {m.mediaID: m.filePath for m in s.scalars(select(Media))}
        per_media = dict(s.execute(select(Detection.mediaID, func.count()).group_by(Detection.mediaID)).all())
        jobs = {j.jobID: (j.state, j.mediaID) for j in s.scalars(select(Job))}
    engine.dispose()
    root = Path(settings.media_root)
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    stored = {f for f in files if not f.startswith(".jobs/") and not Path(f).name.startswith(".")}
    return {"media": media, "missing_files": sorted(set(media.values()) - stored),
            "orphan_files": sorted(stored - set(media.values())),
            "staged": sorted(f for f in files if Path(f).name.startswith(".")), "per_media": per_media, "jobs": jobs}


def _post(url: str, data: bytes, name: str, deployment: str, headers: dict) -> int:
    try:
        return httpx.post(f"{url}/v1/media", files={"file": (name, data)}, data={"deploymentID": deployment},
                          headers=headers, timeout=60).status_code
    except httpx.HTTPError:
        return -1  # the connection died with the server


def test_service_killed_during_uploads_loses_and_doubles_nothing(prepared):
    settings, headers = prepared
    images = [jpeg_bytes(seed) for seed in range(24)]
    svc = Service(settings).start()
    answers: dict[int, int] = {}

    def worker(part: list[int]) -> None:
        for i in part:
            answers[i] = _post(svc.url, images[i], f"img{i}.jpg", "S1-cam", headers)

    threads = [threading.Thread(target=worker, args=(list(range(k, 24, 3)),)) for k in range(3)]
    for t in threads:
        t.start()
    while sum(code == 201 for code in answers.values()) < 4:  # kill in the middle of the batch
        time.sleep(0.01)
    svc.kill()
    for t in threads:
        t.join(60)
    try:
        after = _state(settings)
        stored = set(after["media"])
        acknowledged = [i for i, code in answers.items() if code == 201]
        assert len(acknowledged) >= 4 and len(stored) < 24  # killed half-way
        # nothing half-written: every row has one detection and its file (or, killed between commit and
        # move, its staged file, moved into place at the next start); no stored file without its row
        staged_sha = {Path(f).name.split(".")[1] for f in after["staged"]}
        assert all(Path(f).stem in staged_sha for f in after["missing_files"]) and after["orphan_files"] == []
        assert all(after["per_media"].get(m) == 1 for m in stored)
        # nothing lost: every upload answered 201 is stored
        svc = Service(settings).start()
        restarted = _state(settings)
        assert restarted["staged"] == restarted["missing_files"] == []  # settled at start (recover_uploads)
        codes = [_post(svc.url, images[i], f"img{i}.jpg", "S1-cam", headers) for i in range(24)]
        assert all(codes[i] == 200 for i in acknowledged)  # already there: answered as duplicates
        assert set(codes) <= {200, 201}
        final = _state(settings)
        assert len(final["media"]) == 24 and all(final["per_media"][m] == 1 for m in final["media"])
        assert final["missing_files"] == final["orphan_files"] == final["staged"] == []
    finally:
        svc.stop()


def test_service_killed_during_a_background_job_resumes_it(prepared):
    settings, headers = prepared
    svc = Service(settings, background_audio_s=1.0).start()
    try:
        r = httpx.post(f"{svc.url}/v1/media", files={"file": ("long.wav", wav_bytes(240.0))},
                       data={"deploymentID": "S1-rec"}, headers=headers, timeout=60)
        assert r.status_code == 202, r.text
        job_id = r.json()["job"]["jobID"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{svc.url}/v1/jobs/{job_id}", headers=headers).json()["state"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        svc.kill()
        state = _state(settings)
        assert state["jobs"][job_id][0] in ("running", "done")
        assert state["missing_files"] == state["orphan_files"] == []
        svc = Service(settings, background_audio_s=1.0).start()  # re-queues and runs the interrupted job
        deadline = time.monotonic() + 120
        while (body := httpx.get(f"{svc.url}/v1/jobs/{job_id}", headers=headers).json())["state"] != "done":
            assert body["state"] != "failed" and time.monotonic() < deadline, body
            time.sleep(0.1)
        final = _state(settings)
        (media_id,) = final["media"]
        assert body["mediaID"] == media_id and final["per_media"][media_id] == body["detections"] == 240
        assert final["missing_files"] == final["orphan_files"] == [] and final["staged"] == []
    finally:
        svc.stop()


PUBLISH_SCRIPT = """
import sys
from pipeline.stages import publish
n = int(sys.argv[2])
media = [{"mediaID": f"m{i:06d}", "deploymentID": "d1", "stationID": "s1", "filePath": f"a/{i}.jpg",
          "fileName": f"{i}.jpg", "fileMediatype": "image/jpeg", "modality": "image", "timestamp": "",
          "timestampIssues": "missing", "timestampSource": "", "sha256": f"{i:064d}", "bytes": "1", "width_px": "1",
          "height_px": "1", "duration_s": "", "sample_rate_hz": "", "channels": ""} for i in range(n)]
preds = [{"mediaID": m["mediaID"], "deploymentID": "d1", "stationID": "s1", "filePath": m["filePath"],
          "modality": "image", "start_s": 0, "end_s": 0, "eventStart": "", "scientificName": "Sus scrofa",
          "observationType": "animal", "classificationProbability": 0.9, "isInvasive": False,
          "topK": "[]", "modelVersion": "v/1"} for m in media]
print("publishing", flush=True)
publish.run(sys.argv[1], [{"stationID": "s1", "stationName": "", "note": ""}],
            [{"deploymentID": "d1", "stationID": "s1"}], media, preds)
print("published", flush=True)
"""


def test_pipeline_killed_during_publish_leaves_all_or_nothing(settings):
    n = 20000
    cmd = [sys.executable, "-c", PUBLISH_SCRIPT, settings.database_url, str(n)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "publishing"
    time.sleep(1.5)  # well into its one transaction (it takes several seconds for 20,000 rows)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as s:
        counts = (s.scalar(select(func.count()).select_from(Media)),
                  s.scalar(select(func.count()).select_from(Detection)))
    assert counts in ((0, 0), (n, n)), counts  # one transaction: nothing or everything
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with Session(engine) as s:
        assert (s.scalar(select(func.count()).select_from(Media)),
                s.scalar(select(func.count(func.distinct(Detection.mediaID))).select_from(Detection)),
                s.scalar(select(func.count()).select_from(Detection))) == (n, n, n)
    engine.dispose()


def test_full_disk_during_an_upload_is_507_and_leaves_nothing(client, settings, deployments, uploader_headers,
                                                              monkeypatch):
    import serve.uploads

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serve.uploads.os, "fsync", full)
    r = client.post("/v1/media", files={"file": ("a.jpg", jpeg_bytes(3))}, data={"deploymentID": "S1-cam"},
                    headers=uploader_headers)
    assert r.status_code == 507, r.text
    assert r.json()["detail"]["reason"] == "insufficient_storage"
    monkeypatch.undo()
    state = _state(settings)
    assert state["media"] == {} and state["staged"] == [] and state["orphan_files"] == []
    assert client.post("/v1/media", files={"file": ("a.jpg", jpeg_bytes(3))}, data={"deploymentID": "S1-cam"},
                       headers=uploader_headers).status_code == 201


def test_database_disk_full_is_507_and_interrupted_uploads_are_recovered(tmp_path):
    from models.store.db import is_disk_full
    from serve.uploads import recover_uploads

    class OperationalError(Exception):
        pass

    class Wrapped(Exception):
        def __init__(self, orig):
            self.orig = orig

    assert is_disk_full(Wrapped(OperationalError("database or disk is full")))
    assert not is_disk_full(Wrapped(OperationalError("database is locked")))
    root = tmp_path / "media"
    folder = root / "ab"
    folder.mkdir(parents=True)
    committed, old, young = "ab" + "1" * 62, "ab" + "2" * 62, "ab" + "3" * 62
    (folder / f".{committed}.x.part").write_bytes(b"c")  # killed after its commit, before the move
    (folder / f".{old}.x.part").write_bytes(b"o")  # killed before its commit, long ago
    (folder / f".{young}.x.part").write_bytes(b"y")  # maybe another worker's upload in progress
    os.utime(folder / f".{old}.x.part", (time.time() - 7200, time.time() - 7200))
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    create_schema(engine)
    with Session(engine) as s:
        s.add(Media(mediaID="m1", sha256=committed, deploymentID="d", stationID="s", filePath=f"ab/{committed}.jpg",
                    fileName="a.jpg", modality="image", timestamp="", bytes=1, origin="upload"))
        s.commit()
        assert recover_uploads(s, root, 3600) == (1, 1)
        assert recover_uploads(s, root, 3600) == (0, 0)
    engine.dispose()
    assert sorted(p.name for p in folder.iterdir()) == [f".{young}.x.part", f"{committed}.jpg"]
    assert (folder / f"{committed}.jpg").read_bytes() == b"c"
