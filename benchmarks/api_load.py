"""Load benchmark of the query API: 1,000,000 synthetic detections, 50 concurrent clients, SQLite and PostgreSQL.

What it does, per database:

1. **Seed** ``--rows`` synthetic detections (20 stations x 2 deployments, 3 years, the catalogue's species with
   Zipf-like frequencies, 70 % images / 30 % audio windows, 12 % blanks, 3 % people or vehicles) and their
   media (two detections per media item). The schema comes from the Alembic migrations; secondary indexes
   are dropped, rows bulk-inserted (SQLite ``executemany`` in one transaction, PostgreSQL ``COPY``), the
   indexes rebuilt and the planner statistics refreshed (``ANALYZE``). An SQLite file already seeded with
   the same row count is reused (``--reseed`` forces a new one).
2. **Serve** it with uvicorn in a separate process (``--workers`` worker processes, no model bundles).
3. **Load** it from another separate process: ``--clients`` asyncio clients (aiohttp), each sending one request,
   waiting for the reply, then thinking ``--think-s`` seconds (exponentially distributed) before the next:
   a population of concurrent users (default 1 s: each client sends about one request a second). ``--think-s 0``
   gives the saturation throughput instead (every client
   re-sends at once; latency is then ``clients / throughput`` by Little's law, whatever the server).
   Scenarios: ``detections`` (filtered ``/v1/detections`` queries: station + month, species, station +
   modality, invasive, deployment + min_probability, a second page through ``next_cursor``) and ``stats``
   (``/v1/stations/{id}/stats/{counts,diel,richness}``; each distinct query is computed once, then
   served from the TTL cache; the first computations are timed separately as ``cold``).

Prints one line per (database, scenario): requests, errors, throughput (req/s), p50 / p99 / max latency (ms).
Usage::

    python benchmarks/api_load.py                          # SQLite, plus PostgreSQL if --postgres-url given
    python benchmarks/api_load.py --postgres-url postgresql+psycopg://biodiv@127.0.0.1:55432/biodiv_bench
    python benchmarks/api_load.py --rows 100000 --duration-s 10   # a quick run
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import typer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

app = typer.Typer(add_completion=False)
STATIONS = [f"ST{i:02d}" for i in range(20)]
DEPLOYMENTS = [(f"{s}-cam", s, "camera") for s in STATIONS] + [(f"{s}-rec", s, "acoustic") for s in STATIONS]
START = np.datetime64("2023-01-01T00:00:00")
SPAN_S = 3 * 365 * 86400
DET_COLS = ["detectionID", "mediaID", "deploymentID", "stationID", "modality", "start_s", "end_s", "eventStart",
            "eventStartUTC", "observationType", "scientificName", "classificationProbability", "isInvasive", "topK",
            "modelVersion", "classificationMethod", "classifiedBy", "classificationTimestamp"]
MEDIA_COLS = ["mediaID", "sha256", "deploymentID", "stationID", "filePath", "fileName", "fileMediatype", "modality",
              "timestamp", "timestampUTC", "timestampIssues", "timestampSource", "bytes", "origin", "created"]


# --- seeding ---------------------------------------------------------------------------------------------------

def _species():
    from models.taxonomy.catalogue import Catalogue

    cat = Catalogue.load()
    names = [sp.scientificName for sp in cat]
    weights = 1.0 / np.arange(1, len(names) + 1)  # Zipf-like: a few common species, many rare ones
    return names, weights / weights.sum(), {sp.scientificName for sp in cat if sp.is_invasive}


def synthetic(n: int, seed: int = 0):
    """Yield ``(media rows, detection rows)`` chunks of plain tuples (``MEDIA_COLS``/``DET_COLS`` order)."""
    rng = np.random.default_rng(seed)
    names, weights, invasive = _species()
    chunk = 100_000
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        media_idx = (lo + np.arange(m)) // 2
        dep_idx = rng.integers(0, len(DEPLOYMENTS), m)
        dep_idx[1::2] = dep_idx[::2][: len(dep_idx[1::2])]  # both detections of a media item: one deployment
        secs = rng.integers(0, SPAN_S, m)
        secs[1::2] = secs[::2][: len(secs[1::2])] + 3
        utc = START + secs.astype("timedelta64[s]")
        local = utc + np.timedelta64(8, "h")
        utc_txt = np.datetime_as_string(utc, unit="s")
        local_txt = np.datetime_as_string(local, unit="s")
        kind = rng.random(m)
        otype = np.where(kind < 0.85, "animal", np.where(kind < 0.97, "blank", np.where(kind < 0.99, "human",
                                                                                       "vehicle")))
        species = rng.choice(len(names), m, p=weights)
        prob = np.round(rng.beta(5, 2, m), 4)
        media, dets = [], []
        for i in range(m):
            dep, st, device = DEPLOYMENTS[dep_idx[i]]
            audio = device == "acoustic"
            mid = f"m{media_idx[i]:011d}"
            name = names[species[i]] if otype[i] == "animal" else None
            start_s = 3.0 * (i % 2) if audio else 0.0
            stamp = f"{local_txt[i]}+08:00"
            if i % 2 == 0:
                media.append((mid, f"{media_idx[i]:064x}", dep, st, f"{dep}/{mid}.{'wav' if audio else 'jpg'}",
                              f"{mid}.{'wav' if audio else 'jpg'}", "audio/wav" if audio else "image/jpeg",
                              "audio" if audio else "image", stamp, utc_txt[i].replace("T", " ") + ".000000", "",
                              "exif", 1000, "station_drop", "2026-01-01 00:00:00.000000"))
            dets.append((f"{lo + i:032x}", mid, dep, st, "audio" if audio else "image", start_s,
                         start_s + (3.0 if audio else 0.0), stamp, utc_txt[i].replace("T", " ") + ".000000",
                         str(otype[i]), name, float(prob[i]), name in invasive, "[]", "bench/1", "machine", "bench/1",
                         "2026-01-01T00:00:00+00:00"))
        yield media, dets


def record_alerts_once(url: str) -> float:
    """Record the invasive-species alerts of the seeded detections (what the publish stage does), so that
    the service's start-up alert sweep finds nothing new instead of running during the measurement."""
    from sqlalchemy.orm import Session

    from models.store.alerts import record_alerts
    from models.store.db import make_engine

    t0 = time.perf_counter()
    engine = make_engine(url)
    with Session(engine) as session:
        record_alerts(session)
        session.commit()
    engine.dispose()
    return time.perf_counter() - t0


def seed_sqlite(url: str, n: int) -> float:
    """Create and fill an SQLite database; returns seconds taken."""
    from sqlalchemy.engine import make_url

    from models.store.db import create_schema, make_engine

    t0 = time.perf_counter()
    path = Path(make_url(url).database)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-200000")
    indexes = con.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                          "AND tbl_name IN ('detections', 'media')").fetchall()
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    _seed_common_sqlite(con)
    for media, dets in synthetic(n):
        con.executemany(f"INSERT INTO media ({','.join(MEDIA_COLS)}) VALUES ({','.join('?' * len(MEDIA_COLS))})",
                        media)
        con.executemany(f"INSERT INTO detections ({','.join(DET_COLS)}) VALUES ({','.join('?' * len(DET_COLS))})",
                        dets)
    con.commit()
    for _, sql in indexes:
        con.execute(sql)
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return time.perf_counter() - t0


def _seed_common_sqlite(con) -> None:
    con.executemany("INSERT INTO stations (stationID, stationName, note) VALUES (?, ?, '')",
                    [(s, f"Station {s}") for s in STATIONS])
    con.executemany("INSERT INTO deployments (deploymentID, stationID, deviceType, deviceModel, latitude, longitude, "
                    "timezone, deploymentStart, deploymentEnd, licence, attribution) "
                    "VALUES (?, ?, ?, '', ?, ?, 'Asia/Shanghai', '', '', '', '')",
                    [(d, s, kind, 31.0 + i * 0.01, 120.5 + i * 0.01) for i, (d, s, kind) in enumerate(DEPLOYMENTS)])


def seed_postgres(url: str, n: int) -> float:
    """Reset the PostgreSQL database's ``public`` schema and fill it (``COPY``); returns seconds taken."""
    from sqlalchemy import create_engine, text

    from models.store.db import create_schema, make_engine

    t0 = time.perf_counter()
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    engine = make_engine(url)
    create_schema(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('detections', 'media') "
                    "AND indexname NOT LIKE '%pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%'")
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.executemany('INSERT INTO stations ("stationID", "stationName", note) VALUES (%s, %s, %s)',
                        [(s, f"Station {s}", "") for s in STATIONS])
        cur.executemany('INSERT INTO deployments ("deploymentID", "stationID", "deviceType", "deviceModel", latitude, '
                        'longitude, timezone, "deploymentStart", "deploymentEnd", licence, attribution) VALUES '
                        "(%s, %s, %s, '', %s, %s, 'Asia/Shanghai', '', '', '', '')",
                        [(d, s, kind, 31.0 + i * 0.01, 120.5 + i * 0.01) for i, (d, s, kind) in enumerate(DEPLOYMENTS)])
        mcols = ", ".join(f'"{c}"' for c in MEDIA_COLS)
        dcols = ", ".join(f'"{c}"' for c in DET_COLS)
        for media, dets in synthetic(n):
            with cur.copy(f"COPY media ({mcols}) FROM STDIN") as cp:
                for row in media:
                    cp.write_row(row)
            with cur.copy(f"COPY detections ({dcols}) FROM STDIN") as cp:
                for row in dets:
                    cp.write_row(row)
        raw.commit()
        for _, sql in indexes:
            cur.execute(sql)
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - t0


# --- the service -------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def service(url: str, workers: int, env: dict[str, str] | None = None):
    """uvicorn serving ``serve.app:create_app`` on ``url``'s database, in its own process; yields
    ``(base URL, process)``. ``env`` adds or replaces ``BIODIV_*`` settings (default: no model bundles).
    Also used by ``benchmarks/write_load.py`` and ``benchmarks/soak.py``."""
    import httpx

    port = _free_port()
    env = {**os.environ, "BIODIV_DATABASE_URL": url, "BIODIV_IMAGE_BUNDLE": "/nonexistent/image",
           "BIODIV_AUDIO_BUNDLE": "/nonexistent/audio", "BIODIV_STATS_CACHE_S": "600", "BIODIV_LOG_LEVEL": "WARNING",
           **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serve.app:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                             "--no-access-log"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            time.sleep(0.2)
        else:
            raise RuntimeError("service did not start within 120 s")
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- the load generator (runs in its own process: ``api_load.py client ...``) --------------------------------------

def detection_queries(rng: random.Random) -> list[dict]:
    """A pool of filtered detection queries (params dicts)."""
    names, _, _ = _species()
    pool = []
    for _ in range(400):
        st = rng.choice(STATIONS)
        month = f"{rng.randint(2023, 2025)}-{rng.randint(1, 12):02d}"
        kind = rng.randrange(6)
        if kind == 0:
            q = {"stationID": st, "start": f"{month}-01T00:00:00+08:00", "end": f"{month}-28T23:59:59+08:00"}
        elif kind == 1:
            q = {"scientificName": rng.choice(names[:20])}
        elif kind == 2:
            q = {"stationID": st, "modality": rng.choice(["image", "audio"])}
        elif kind == 3:
            q = {"invasive": "true", "start": f"{month}-01T00:00:00+08:00"}
        elif kind == 4:
            q = {"deploymentID": f"{st}-cam", "min_probability": 0.9}
        else:
            q = {"stationID": st, "sort": "-eventStart", "limit": 50}
        pool.append(q)
    return pool


def stats_queries(rng: random.Random) -> list[str]:
    """Statistics paths: every station x (counts per day/week/month, diel, richness)."""
    paths = []
    for st in STATIONS:
        paths += [f"/v1/stations/{st}/stats/counts?interval={i}" for i in ("day", "week", "month")]
        paths += [f"/v1/stations/{st}/stats/diel", f"/v1/stations/{st}/stats/richness"]
    return paths


async def _run_clients(base: str, scenario: str, clients: int, duration_s: float, think_s: float,
                       seed: int) -> dict:
    import aiohttp  # a C-accelerated client: the load generator must cost the shared CPUs little

    rng = random.Random(seed)
    latencies: list[float] = []
    errors = 0
    dq = detection_queries(rng)
    sq = stats_queries(rng)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base_url=base, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def get(path: str, params: dict | None = None) -> tuple[int, bytes]:
            """One request, its body read whole (so the timing covers the full reply)."""
            async with http.get(path, params=params) as reply:
                return reply.status, await reply.read()

        cold: list[float] = []
        if scenario == "stats":  # the first computation of each statistic (cache misses), timed apart
            for path in sq:
                t = time.perf_counter()
                status, _ = await get(path)
                cold.append(time.perf_counter() - t)
                errors += status != 200
        deadline = time.perf_counter() + duration_s

        async def user(k: int) -> None:
            nonlocal errors
            r_ = random.Random(seed * 1000 + k)
            await asyncio.sleep(r_.random() * max(think_s, 0.01))  # spread the start
            while time.perf_counter() < deadline:
                if scenario == "detections":
                    params = dict(r_.choice(dq))
                    t = time.perf_counter()
                    status, body = await get("/v1/detections", params)
                    latencies.append(time.perf_counter() - t)
                    ok = status == 200
                    if ok and r_.random() < 0.25:  # follow to the next page
                        cursor = json.loads(body).get("next_cursor")
                        if cursor:
                            params["cursor"] = cursor
                            t = time.perf_counter()
                            status, _ = await get("/v1/detections", params)
                            latencies.append(time.perf_counter() - t)
                            ok = status == 200
                else:
                    t = time.perf_counter()
                    status, _ = await get(r_.choice(sq))
                    latencies.append(time.perf_counter() - t)
                    ok = status == 200
                errors += not ok
                if think_s > 0:
                    await asyncio.sleep(r_.expovariate(1.0 / think_s))

        t0 = time.perf_counter()
        await asyncio.gather(*(user(k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in latencies)
    out = {"requests": len(ms), "errors": errors, "throughput_rps": round(len(ms) / elapsed, 1),
           "p50_ms": round(statistics.median(ms), 1) if ms else None,
           "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1) if ms else None,
           "max_ms": round(ms[-1], 1) if ms else None}
    if cold:
        cms = sorted(x * 1000 for x in cold)
        out["cold"] = {"queries": len(cms), "p50_ms": round(statistics.median(cms), 1), "max_ms": round(cms[-1], 1)}
    return out


@app.command("client")
def client(base: str, scenario: str, clients: int = 50, duration_s: float = 30.0, think_s: float = 0.5,
           seed: int = 1) -> None:
    """The load generator (run as a separate process by ``run``): prints its measurements as JSON."""
    print(json.dumps(asyncio.run(_run_clients(base, scenario, clients, duration_s, think_s, seed))))


def _load(base: str, scenario: str, clients: int, duration_s: float, think_s: float) -> dict:
    done = subprocess.run([sys.executable, __file__, "client", base, scenario, "--clients", str(clients),
                           "--duration-s", str(duration_s), "--think-s", str(think_s)],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@app.command("run")
def run(rows: int = typer.Option(1_000_000, help="synthetic detections to seed"),
        sqlite_path: Path = typer.Option(ROOT / "var" / "bench" / "api_load.db", help="SQLite file"),
        postgres_url: str | None = typer.Option(None, help="PostgreSQL URL (its public schema is replaced!)"),
        clients: int = 50, duration_s: float = 30.0,
        think_s: float = typer.Option(1.0, help="mean think time between a reply and the next request, s"),
        workers: int = typer.Option(2, help="uvicorn worker processes"),
        saturation: bool = typer.Option(True, help="also measure with think time 0 (throughput)"),
        reseed: bool = False) -> None:
    """Seed, serve and load SQLite (and PostgreSQL when ``--postgres-url`` is given); print the figures."""
    targets = [("sqlite", f"sqlite:///{sqlite_path}")] + ([("postgresql", postgres_url)] if postgres_url else [])
    print(f"api_load: {rows:,} detections, {clients} clients, think time {think_s} s, {duration_s:.0f} s per "
          f"scenario, {workers} uvicorn workers, {os.cpu_count()} CPUs (shared machine)")
    for backend, url in targets:
        marker = sqlite_path.with_suffix(".rows")
        if backend == "sqlite" and not reseed and sqlite_path.exists() and marker.exists() \
                and marker.read_text().strip() == str(rows):
            print(f"[{backend}] reusing {sqlite_path} ({rows:,} detections)")
        else:
            secs = seed_sqlite(url, rows) if backend == "sqlite" else seed_postgres(url, rows)
            if backend == "sqlite":
                marker.write_text(str(rows))
            print(f"[{backend}] seeded {rows:,} detections in {secs:.1f} s")
        print(f"[{backend}] alerts recorded in {record_alerts_once(url):.1f} s")
        with service(url, workers) as (base, _):
            time.sleep(5)  # let both workers finish start-up (their alert sweep finds nothing new)
            runs = [("detections", think_s), ("stats", think_s)]
            if saturation:
                runs.append(("detections", 0.0))
            for scenario, think in runs:
                r = _load(base, scenario, clients, duration_s, think)
                cold = f"; cold (first computation) p50 {r['cold']['p50_ms']} ms, max {r['cold']['max_ms']} ms " \
                       f"over {r['cold']['queries']} queries" if "cold" in r else ""
                print(f"[{backend}] {scenario:<10} think {think:>3} s: {r['requests']:>6} requests, "
                      f"{r['errors']} errors, {r['throughput_rps']:>7.1f} req/s, p50 {r['p50_ms']} ms, "
                      f"p99 {r['p99_ms']} ms, max {r['max_ms']} ms{cold}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 1 or sys.argv[1] not in ("run", "client", "--help"):
        sys.argv.insert(1, "run")
    app()
