"""Page-speed benchmark of the web pages: server-side latency of every page (the overview and the detections
list with a few filter combinations, the next page and Chinese; stations, species, statistics, sign-in; and,
with a reviewer key in ``X-API-Key``, the review queue, an event, bulk count, the audio queue, alerts, upload
and progress) on the sample database and on 1,000,000 synthetic detections.

What it does, per database:

1. **sample**: a copy of ``--sample`` (default ``var/biodiv.db``, written by ``make run``); **synthetic**:
   ``--rows`` detections seeded by ``benchmarks/api_load.py``'s bulk loader (executemany in one transaction,
   indexes rebuilt afterwards, alerts recorded) into ``benchmarks/.data/pages_<rows>.db``, reused while it
   holds the same row count (``--reseed`` forces a new one).
2. Serves it with uvicorn (one worker, no model bundles) and sends each page ``--requests`` times, one request
   at a time (after two warm-up requests), with httpx; latency is from sending the request to the last byte.
   The overview's figures are cached for ``BIODIV_STATS_CACHE_S`` (600 s here), so its first request is the
   cold computation over every detection, shown as ``first``.

Prints the first (cold) request, p50 / p95 / max (ms) per page and whether p95 meets the target
(``--target-sample-ms`` 300,
``--target-synthetic-ms`` 500). Usage::

    python benchmarks/pages.py                       # both databases
    python benchmarks/pages.py --skip-synthetic --sample path/to/biodiv.db
    python benchmarks/pages.py --rows 100000 --requests 10
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from html import unescape
from pathlib import Path
from urllib.parse import quote

import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_load import record_alerts_once, seed_sqlite, service  # noqa: E402

DATA = Path(__file__).resolve().parent / ".data"


def page_paths(db: Path) -> list[tuple[str, str, bool]]:
    """``(label, path, signed_in)`` of the pages to time, with a station, species, audio species and camera
    event that the database holds; ``signed_in`` pages are sent with a reviewer key (``X-API-Key``)."""
    con = sqlite3.connect(db)
    station = con.execute("SELECT stationID FROM detections GROUP BY stationID ORDER BY count(*) DESC LIMIT 1"
                          ).fetchone()[0]
    species = con.execute("SELECT scientificName FROM detections WHERE scientificName IS NOT NULL "
                          "GROUP BY scientificName ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    audio = con.execute("SELECT scientificName FROM detections WHERE scientificName IS NOT NULL AND modality = "
                        "'audio' GROUP BY scientificName ORDER BY count(*) DESC LIMIT 1").fetchone()
    event = con.execute("SELECT coalesce(eventID, mediaID) FROM detections WHERE modality = 'image' "
                        "ORDER BY eventStartUTC DESC LIMIT 1").fetchone()
    con.close()
    q = quote(species)
    pages = [
        ("overview", "/?lang=en", False),
        ("overview zh", "/?lang=zh", False),
        ("detections", "/detections?lang=en", False),
        ("detections station", f"/detections?stationID={station}&lang=en", False),
        ("detections station+prob>=0.9", f"/detections?stationID={station}&min_probability=0.9&lang=en", False),
        ("detections species", f"/detections?scientificName={q}&lang=en", False),
        ("detections invasive", "/detections?invasive=true&lang=zh", False),
        ("detections station+audio", f"/detections?stationID={station}&modality=audio&lang=en", False),
        ("detections rare (human review)", "/detections?classificationSource=human&lang=en", False),
        ("stations", "/stations?lang=en", False),
        ("species list", "/species?lang=en", False),
        ("species page", f"/species/{q}?lang=en", False),
        ("statistics", "/statistics?lang=en", False),
        ("statistics station", f"/statistics?stationID={station}&lang=zh", False),
        ("signin", "/signin?lang=en", False),
        ("overview (reviewer key)", "/?lang=en", True),
        ("detections station (reviewer key)", f"/detections?stationID={station}&lang=en", True),
        ("review queue", "/review?lang=en", True),
        ("review queue station", f"/review?stationID={station}&lang=en", True),
        ("bulk count", f"/review/bulk?bulk_species={q}&bulk_min_probability=0.9&lang=en", True),
        ("audio review picker", "/review/audio?lang=en", True),
        ("alerts", "/alerts?lang=en", True),
        ("upload", "/upload?lang=en", True),
        ("progress", "/progress?lang=en", True),
    ]
    if event:
        pages.append(("review event", f"/review/event/{quote(event[0])}?lang=en", True))
    if audio:
        pages.append(("audio review species", f"/review/audio?species={quote(audio[0])}&lang=en", True))
    return pages


def _next_page(client, path: str) -> str | None:
    m = re.search(r'<a href="(/detections\?[^"]*cursor=[^"]+)"', client.get(path).text)
    return unescape(m.group(1)) if m else None


def _reviewer_key(db: Path) -> str:
    from sqlalchemy.orm import Session

    from models.store.db import create_schema, make_engine
    from models.store.keys import create_key

    engine = make_engine(f"sqlite:///{db}")
    create_schema(engine)
    with Session(engine) as s:
        token = create_key(s, "reviewer", "bench-pages").token
    engine.dispose()
    return token


def time_pages(db: Path, requests: int, target_ms: float, label: str) -> bool:
    """Serve ``db`` and time every page; print one line each; True when every p95 is under ``target_ms``."""
    import httpx

    key = _reviewer_key(db)
    paths = page_paths(db)
    ok = True
    with service(f"sqlite:///{db}", 1) as (base, _), httpx.Client(base_url=base, timeout=120) as client:
        time.sleep(2)  # the start-up alert sweep
        nxt = _next_page(client, paths[3][1])
        if nxt:
            paths.append(("detections station, next page", nxt, False))
        runs = [(name, path, {"X-API-Key": key} if signed else {}) for name, path, signed in paths]
        print(f"\n== {label}: {db.name}, {requests} requests per page, one at a time, 1 uvicorn worker, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        print(f"{'page':38s} {'rows':>5s} {'first ms':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
        for name, path, headers in runs:
            first = None
            for _ in range(2):  # warm-up; the first request computes what the overview then caches
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                first = first or (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
            lat = []
            for _ in range(requests):
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                lat.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            lat.sort()
            p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
            rows = r.text.count("<tr>") - 1 - r.text.count("colspan=")
            miss = p95 >= target_ms
            ok &= not miss
            print(f"{name:38s} {rows:5d} {first:8.1f} {statistics.median(lat):8.1f} {p95:8.1f} {lat[-1]:8.1f}"
                  f"{'  MISSES ' + str(int(target_ms)) + ' ms' if miss else ''}", flush=True)
    return ok


def synthetic_db(rows: int, reseed: bool) -> Path:
    """The cached synthetic database of ``rows`` detections (seeded when missing or of another size)."""
    path = DATA / f"pages_{rows}.db"
    marker = path.with_suffix(".rows")
    if not reseed and path.exists() and marker.exists() and marker.read_text().strip() == str(rows):
        print(f"reusing {path.relative_to(ROOT)} ({rows:,} detections)")
        return path
    secs = seed_sqlite(f"sqlite:///{path}", rows)
    alerts = record_alerts_once(f"sqlite:///{path}")
    marker.write_text(str(rows))
    print(f"seeded {rows:,} detections in {secs:.0f} s, alerts in {alerts:.0f} s: {path.relative_to(ROOT)}")
    return path


def main(sample: Path = typer.Option(ROOT / "var" / "biodiv.db", help="sample database (make run)"),
         rows: int = typer.Option(1_000_000, help="synthetic detections"),
         requests: int = typer.Option(30, help="timed requests per page"),
         target_sample_ms: float = 300.0, target_synthetic_ms: float = 500.0,
         skip_sample: bool = False, skip_synthetic: bool = False, reseed: bool = False) -> None:
    """Time the pages on the sample and the synthetic database; exit 1 when a p95 misses its target."""
    ok = True
    if not skip_sample:
        if not sample.exists():
            raise typer.BadParameter(f"{sample} not found: run `make run` first, or pass --sample")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "sample.db"
            shutil.copy(sample, copy)  # the service migrates and writes a key: never touch the original
            ok &= time_pages(copy, requests, target_sample_ms, f"sample database ({sample})")
    if not skip_synthetic:
        ok &= time_pages(synthetic_db(rows, reseed), requests, target_synthetic_ms,
                         f"synthetic database ({rows:,} detections)")
    raise typer.Exit(0 if ok else 1)


if __name__ == "__main__":
    typer.run(main)
