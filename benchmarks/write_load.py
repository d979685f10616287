"""Write-load benchmark: concurrent uploads, reviews and a publish at once, on SQLite and PostgreSQL.

What it does, per database:

1. Builds a tiny seeded image bundle (``mobilenetv3_small_050``, 32 px: the model is not what is measured),
   an empty database with two deployments and an uploader and a reviewer key.
2. Serves it with uvicorn in its own process (``--workers`` worker processes, so writers really compete for
   the database) with a short busy timeout (``BIODIV_DB_BUSY_TIMEOUT_S``), and uploads ``--seed`` images
   whose detections the reviewers will work on.
3. Runs, at the same time: ``--uploaders`` threads each uploading ``--uploads`` distinct JPEGs, ``--reviewers``
   threads confirming or correcting random seeded detections ``--reviews`` times each, and one publish of
   ``--publish-rows`` station-drop predictions (``pipeline.stages.publish.run``, one transaction) in this
   process. A client that gets ``503`` waits its ``Retry-After`` (capped at 1 s here) and sends again: a 503
   promises that nothing was written.
4. Counts what the database holds against what every acknowledged request and the publish should have
   written: media rows, detections, reviews. ``lost`` = expected minus found, ``doubled`` = found minus
   expected (both must be 0), and every uploaded media item must have exactly one detection.

Prints per database and kind: requests acknowledged, 503 retries, errors, throughput (acknowledged/s over the
whole run), p50 / p99 latency of an acknowledged request including its retries (ms); then the counts.
Usage::

    python benchmarks/write_load.py
    python benchmarks/write_load.py --postgres-url postgresql+psycopg://biodiv@127.0.0.1:55432/biodiv_bench
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_load import service as api_service  # noqa: E402

LABELS = ["Lithobates catesbeianus", "Sus scrofa", "blank"]


def tiny_bundle(folder: Path) -> Path:
    """Save a seeded random-init 32 px image bundle (3 labels) in ``folder``; returns it."""
    import torch

    from models.learning.bundle import BundleMeta, save_bundle
    from models.learning.classifier import create_classifier

    torch.manual_seed(0)
    model, _ = create_classifier("mobilenetv3_small_050", len(LABELS), 3, "none")
    save_bundle(folder, model, BundleMeta(
        modality="image", arch="mobilenetv3_small_050", in_chans=3, labels=list(LABELS),
        preprocessing={"size_px": 32, "crop_top_frac": 0.0, "crop_bottom_frac": 0.0,
                       "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}))
    return folder


def prepare_database(url: str) -> dict[str, str]:
    """Empty ``url`` (a PostgreSQL schema is dropped), migrate it, add two deployments and keys; returns the
    ``uploader`` and ``reviewer`` key tokens."""
    from sqlalchemy.orm import Session

    from models.store.db import Deployment, Station, create_schema, make_engine
    from models.store.keys import create_key

    engine = make_engine(url)
    if not url.startswith("sqlite"):
        from sqlalchemy import text

        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    create_schema(engine)
    with Session(engine) as s:
        s.add_all([Station(stationID="S1", stationName="Wetland"), Station(stationID="P", stationName="Publish")])
        s.add_all([Deployment(deploymentID="S1-cam", stationID="S1", deviceType="camera", timezone="Asia/Shanghai"),
                   Deployment(deploymentID="P-cam", stationID="P", deviceType="camera", timezone="Asia/Shanghai")])
        s.commit()
        keys = {"uploader": create_key(s, "uploader", "bench-up").token,
                "reviewer": create_key(s, "reviewer", "bench-rev").token}
    engine.dispose()
    return keys


def service(url: str, bundle: Path, media_root: Path, workers: int, **env_extra: str):
    """``benchmarks/api_load.py``'s uvicorn process with ``bundle`` as the image model, uploads under
    ``media_root``, a 2 s busy timeout and a 1 s ``Retry-After``; yields ``(base URL, process)``."""
    return api_service(url, workers, {
        "BIODIV_IMAGE_BUNDLE": str(bundle), "BIODIV_MEDIA_ROOT": str(media_root), "BIODIV_DB_BUSY_TIMEOUT_S": "2",
        "BIODIV_RETRY_AFTER_S": "1", **{f"BIODIV_{k.upper()}": v for k, v in env_extra.items()}})


def noise_jpeg(seed: int) -> bytes:
    """A 64 x 48 random-noise JPEG, different for each ``seed``."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


class Kind:
    """Latencies and outcomes of one kind of request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.retries = 0
        self.errors: list[str] = []

    def send(self, fn) -> object | None:
        """Send until acknowledged (2xx), retrying 503s after their Retry-After (at most 1 s)."""
        start = time.perf_counter()
        for _ in range(200):
            r = fn()
            if r.status_code == 503:
                with self.lock:
                    self.retries += 1
                time.sleep(min(1.0, float(r.headers.get("Retry-After", "1"))))
                continue
            if r.status_code >= 300:
                with self.lock:
                    self.errors.append(f"{r.status_code} {r.text[:120]}")
                return None
            with self.lock:
                self.latencies.append(time.perf_counter() - start)
            return r
        with self.lock:
            self.errors.append("gave up after 200 attempts")
        return None


def _synthetic_drop(n: int) -> tuple[list[dict], list[dict]]:
    media = [{"mediaID": f"pub{i:07d}", "deploymentID": "P-cam", "stationID": "P", "filePath": f"p/{i}.jpg",
              "fileName": f"{i}.jpg", "fileMediatype": "image/jpeg", "modality": "image", "timestamp": "",
              "timestampIssues": "missing", "timestampSource": "", "sha256": f"{i:064x}", "bytes": "1",
              "width_px": "1", "height_px": "1", "duration_s": "", "sample_rate_hz": "", "channels": ""}
             for i in range(n)]
    preds = [{"mediaID": m["mediaID"], "deploymentID": "P-cam", "stationID": "P", "filePath": m["filePath"],
              "modality": "image", "start_s": 0, "end_s": 0, "eventStart": "", "scientificName": "Sus scrofa",
              "observationType": "animal", "classificationProbability": 0.9, "isInvasive": False, "topK": "[]",
              "modelVersion": "bench/1", "classificationSource": "model", "taxonRank": "species"} for m in media]
    return media, preds


def run_one(url: str, label: str, workers: int, uploaders: int, uploads: int, reviewers: int, reviews: int,
            publish_rows: int, seed: int) -> bool:
    import httpx
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from models.store.db import Detection, DetectionReview, Media, make_engine
    from pipeline.stages import publish

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if url == "sqlite":
            url = f"sqlite:///{tmp / 'bench.db'}"
        keys = prepare_database(url)
        bundle = tiny_bundle(tmp / "image_model")
        with service(url, bundle, tmp / "media", workers) as (base, _):
            up_h, rev_h = {"X-API-Key": keys["uploader"]}, {"X-API-Key": keys["reviewer"]}
            client = httpx.Client(base_url=base, timeout=120)

            def upload(i: int, kind: Kind):
                data = noise_jpeg(i)
                return kind.send(lambda: client.post("/v1/media", files={"file": (f"img{i}.jpg", data)},
                                                     data={"deploymentID": "S1-cam"}, headers=up_h))

            seed_kind = Kind()
            seeded = [upload(1_000_000 + i, seed_kind).json()["detections"][0]["detectionID"] for i in range(seed)]
            kinds = {"upload": Kind(), "review": Kind(), "publish": Kind()}
            reviewed = [0] * reviewers

            def uploader(k: int) -> None:
                for j in range(uploads):
                    upload(k * uploads + j, kinds["upload"])

            def reviewer(k: int) -> None:
                rng = random.Random(k)
                for _ in range(reviews):
                    det = rng.choice(seeded)
                    body = ({"action": "confirm"} if rng.random() < 0.5 else
                            {"action": "correct", "scientificName": rng.choice(LABELS[:2])})
                    if kinds["review"].send(lambda det=det, body=body: client.post(
                            f"/v1/detections/{det}/review", json=body, headers=rev_h)) is not None:
                        reviewed[k] += 1

            def publisher() -> None:
                media, preds = _synthetic_drop(publish_rows)
                t0 = time.perf_counter()
                try:
                    publish.run(url, [{"stationID": "P", "stationName": "Publish", "note": ""}],
                                [{"deploymentID": "P-cam", "stationID": "P"}], media, preds)
                    kinds["publish"].latencies.append(time.perf_counter() - t0)
                except Exception as exc:  # noqa: BLE001 - reported, the counts below show what it left
                    kinds["publish"].errors.append(repr(exc)[:200])

            threads = ([threading.Thread(target=uploader, args=(k,)) for k in range(uploaders)]
                       + [threading.Thread(target=reviewer, args=(k,)) for k in range(reviewers)]
                       + [threading.Thread(target=publisher)])
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            client.close()
        engine = make_engine(url)
        with Session(engine) as s:
            n_media = s.scalar(select(func.count()).select_from(Media))
            n_det = s.scalar(select(func.count()).select_from(Detection))
            n_rev = s.scalar(select(func.count()).select_from(DetectionReview))
            per_media = s.execute(select(Detection.mediaID, func.count()).group_by(Detection.mediaID)
                                  .having(func.count() != 1)).all()
        engine.dispose()
    acked_uploads = len(kinds["upload"].latencies) + seed
    published = publish_rows if kinds["publish"].latencies else 0
    expected = {"media": acked_uploads + published, "detections": acked_uploads + published, "reviews": sum(reviewed)}
    found = {"media": n_media, "detections": n_det, "reviews": n_rev}
    print(f"\n== {label}: {workers} uvicorn workers, {uploaders} uploaders x {uploads}, {reviewers} reviewers x "
          f"{reviews}, publish of {publish_rows} rows; wall {wall:.1f} s, {os.cpu_count()} CPUs")
    print(f"{'kind':8s} {'acked':>6s} {'503s':>6s} {'errors':>6s} {'per s':>7s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, k in kinds.items():
        lat = sorted(k.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")
        print(f"{name:8s} {len(lat):6d} {k.retries:6d} {len(k.errors):6d} {len(lat) / wall:7.1f} {p50:8.1f} {p99:8.1f}")
        for e in k.errors[:3]:
            print(f"         error: {e}")
    ok = True
    for what in expected:
        lost, doubled = max(0, expected[what] - found[what]), max(0, found[what] - expected[what])
        ok &= lost == doubled == 0
        print(f"{what:10s} expected {expected[what]:7d} found {found[what]:7d} lost {lost} doubled {doubled}")
    print(f"media with other than one detection: {len(per_media)}")
    return ok and not per_media and not any(k.errors for k in kinds.values())


def main(postgres_url: str = typer.Option("", help="also run on this PostgreSQL database (its schema is reset)"),
         workers: int = typer.Option(2, help="uvicorn worker processes"),
         uploaders: int = 4, uploads: int = 40, reviewers: int = 2, reviews: int = 60, seed: int = 20,
         publish_rows: int = 20000) -> None:
    """Run the write load on SQLite (and PostgreSQL); exit 1 when any row is lost or doubled."""
    ok = run_one("sqlite", "SQLite (WAL)", workers, uploaders, uploads, reviewers, reviews, publish_rows, seed)
    if postgres_url:
        ok &= run_one(postgres_url, "PostgreSQL", workers, uploaders, uploads, reviewers, reviews, publish_rows, seed)
    raise typer.Exit(0 if ok else 1)


if __name__ == "__main__":
    typer.run(main)
