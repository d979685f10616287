"""Soak benchmark: steady mixed reads and writes at 50 clients for 10 minutes; memory must stay flat.

One uvicorn worker process (so its RSS is the service's memory) serves a tiny image bundle and an SQLite
(or ``--database-url``) database. ``--clients`` threads each loop: with probability ``--write-share`` a
write (an upload of a new JPEG, or a review of an uploaded detection), otherwise a read (detections with
filters and paging, events, stations, species counts, a media item), then a short think time. The
service's RSS (``/proc/<pid>`` through psutil) and its anonymous part (``RssAnon`` of ``/proc/<pid>/status``:
heap and stacks, without the file pages of SQLite's memory-mapped database, which grow with the data and
are the kernel's to reclaim) are sampled every ``--sample-s`` seconds.

Prints the samples, and the RSS and anonymous-RSS growth from the end of the warm-up (``--warmup-s``) to the
end: the goal is RSS growth under 10 % and no errors (5xx or connection errors). Exit 1 otherwise.
Usage::

    python benchmarks/soak.py                        # 10 minutes, 50 clients
    python benchmarks/soak.py --duration-s 60 --warmup-s 20   # a quick look
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from write_load import noise_jpeg, prepare_database, service, tiny_bundle  # noqa: E402


def main(duration_s: float = 600.0, warmup_s: float = 120.0, clients: int = 50, write_share: float = 0.1,
         think_s: float = 0.2, sample_s: float = 10.0,
         database_url: str = typer.Option("", help="default: a new SQLite file")) -> None:
    """Run the soak and print memory and error figures."""
    import httpx
    import psutil

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = database_url or f"sqlite:///{tmp / 'soak.db'}"
        keys = prepare_database(url)
        bundle = tiny_bundle(tmp / "image_model")
        with service(url, bundle, tmp / "media", 1) as (base, proc):
            server = psutil.Process(proc.pid)
            up_h, rev_h = {"X-API-Key": keys["uploader"]}, {"X-API-Key": keys["reviewer"]}
            detections: list[str] = []
            lock = threading.Lock()
            counts = {"reads": 0, "writes": 0, "errors": 0, "busy": 0}
            errors: list[str] = []
            stop = time.monotonic() + duration_s
            seq = iter(range(10**9))

            def record(r: httpx.Response | None, write: bool, exc: Exception | None = None) -> None:
                with lock:
                    if exc is not None or r is None or r.status_code >= 500 and r.status_code != 503:
                        counts["errors"] += 1
                        if len(errors) < 10:
                            errors.append(repr(exc) if exc else f"{r.status_code} {r.text[:120]}")
                    elif r.status_code == 503:
                        counts["busy"] += 1
                    counts["writes" if write else "reads"] += 1

            def client(k: int) -> None:
                rng = random.Random(k)
                with httpx.Client(base_url=base, timeout=60) as c:
                    while time.monotonic() < stop:
                        write = rng.random() < write_share
                        try:
                            if write and (rng.random() < 0.6 or not detections):
                                with lock:
                                    i = next(seq)
                                r = c.post("/v1/media", files={"file": (f"s{i}.jpg", noise_jpeg(i))},
                                           data={"deploymentID": "S1-cam"}, headers=up_h)
                                if r.status_code == 201:
                                    with lock:
                                        detections.append(r.json()["detections"][0]["detectionID"])
                            elif write:
                                r = c.post(f"/v1/detections/{rng.choice(detections)}/review",
                                           json={"action": "confirm"}, headers=rev_h)
                            else:
                                choice = rng.random()
                                if choice < 0.5:
                                    r = c.get("/v1/detections", params={"limit": 50, "stationID": "S1",
                                                                        "sort": rng.choice(["eventStart",
                                                                                            "-classificationProbability"])})
                                    nxt = r.json().get("next_cursor") if r.status_code == 200 else None
                                    if nxt:
                                        r = c.get("/v1/detections", params={"limit": 50, "stationID": "S1",
                                                                            "cursor": nxt})
                                elif choice < 0.7:
                                    r = c.get("/v1/events", params={"limit": 20})
                                elif choice < 0.85:
                                    r = c.get("/v1/stations")
                                else:
                                    r = c.get("/v1/species")
                            record(r, write)
                        except httpx.HTTPError as exc:
                            record(None, write, exc)
                        time.sleep(rng.expovariate(1 / think_s) if think_s > 0 else 0)

            threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            samples: list[tuple[float, float, int, int, float]] = []

            def anon_mib() -> float:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        return int(line.split()[1]) / 1024
                return float("nan")

            while time.monotonic() < stop:
                time.sleep(sample_s)
                with lock:
                    done = counts["reads"] + counts["writes"]
                    errs = counts["errors"]
                samples.append((time.monotonic() - t0, server.memory_info().rss / 2**20, done, errs, anon_mib()))
                t, rss, n, e, anon = samples[-1]
                print(f"t={t:6.0f} s  RSS {rss:7.1f} MiB (anonymous {anon:7.1f})  requests {n:7d}  errors {e}",
                      flush=True)
            for t in threads:
                t.join(60)
    after = [s for s in samples if s[0] >= warmup_s] or samples
    base_rss, end_rss = after[0][1], statistics.mean(s[1] for s in after[-3:])
    growth = (end_rss - base_rss) / base_rss
    base_anon, end_anon = after[0][4], statistics.mean(s[4] for s in after[-3:])
    total = counts["reads"] + counts["writes"]
    print(f"\n{clients} clients, {duration_s:.0f} s: {total} requests ({total / duration_s:.1f}/s; "
          f"{counts['writes']} writes, {counts['busy']} answered 503 busy), {counts['errors']} errors")
    print(f"RSS after warm-up {base_rss:.1f} MiB, at the end {end_rss:.1f} MiB: growth {growth:+.1%} (goal < 10 %)")
    print(f"anonymous RSS after warm-up {base_anon:.1f} MiB, at the end {end_anon:.1f} MiB: "
          f"growth {(end_anon - base_anon) / base_anon:+.1%}")
    for e in errors:
        print("  error:", e)
    raise typer.Exit(0 if growth < 0.10 and counts["errors"] == 0 else 1)


if __name__ == "__main__":
    typer.run(main)
