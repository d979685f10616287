"""The site the browser tests and the screenshots run against: the page registry, a seeded database and a live
uvicorn server.

Adding a page: append a :class:`Page` to :data:`PAGES`. Every generic check (no request to another host, no
console errors, the language switch and ``Accept-Language``, keyboard focus, no horizontal overflow) and the
screenshot script (``docs/screenshots/make_screenshots.py``) then cover it.

The seeded database (:func:`seed_site`) is plain data (:data:`SEED`): the tests compute what a page must show
from it with ordinary Python, not through the service's own query code.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Page:
    """One web page under test.

    Attributes:
        name: short name (screenshot file names: ``<name>-<lang>.png``).
        path: path and query, without ``lang``.
        heading: the page's ``<h1>`` per language (``{"en": ..., "zh": ...}``).
        controls: CSS selectors of the controls that Tab must reach (besides the header's links).
        lang_switch: the page has the header's language switch (False for /docs).
    """

    name: str
    path: str
    heading: dict[str, str]
    controls: tuple[str, ...] = ()
    lang_switch: bool = True


#: The service's own pages. A new page = one line here.
PAGES = [
    Page("overview", "/", {"en": "Overview", "zh": "概览"}, controls=("main table a",)),
    Page("detections", "/detections", {"en": "Detections", "zh": "检测记录"},
         controls=("select[name=stationID]", "input[name=scientificName]", "input[name=min_probability]",
                   "main form button[type=submit]")),
    Page("detections-filtered", "/detections?stationID=S1&invasive=true", {"en": "Detections", "zh": "检测记录"},
         controls=("select[name=stationID]", "main form button[type=submit]")),
]
#: Swagger UI (the API's documentation): offline checks and a screenshot, no language switch.
DOCS = Page("docs", "/docs", {"en": "biodiv-obs", "zh": "biodiv-obs"}, lang_switch=False)
LANGS = ("en", "zh")


# --- the seeded database -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One seeded detection (plain data; ``minutes_ago`` from the seeding time, None: untimed)."""

    media: str
    station: str
    deployment: str
    modality: str
    name: str | None
    prob: float
    minutes_ago: int | None
    observation: str = "animal"
    reviewed: bool = False
    start_s: float = 0.0


@dataclass
class Seed:
    """What :func:`seed_site` writes: stations (ID -> name), deployments and rows."""

    stations: dict[str, str]
    deployments: list[tuple[str, str, str]]
    rows: list[Row] = field(default_factory=list)

    def private_media(self) -> set[str]:
        """Media with a person or a vehicle: all their rows are hidden from the public."""
        return {r.media for r in self.rows if r.observation in ("human", "vehicle")}

    def public_rows(self) -> list[Row]:
        """The rows a visitor without a key may see."""
        private = self.private_media()
        return [r for r in self.rows if r.media not in private]


INVASIVE = {"Lithobates catesbeianus", "Myocastor coypus", "Procambarus clarkii", "Trachemys scripta elegans"}


def _build_seed() -> Seed:
    """Three stations: a wetland with more than a page (50) of public detections, a forest with people, a
    vehicle and an untimed image, and a riverside recorder; reviewed and unreviewed rows; invasive species."""
    seed = Seed(stations={"S1": "Xixi Wetland", "S2": "Tianmu Forest", "S3": "Qiantang Riverside"},
                deployments=[("S1-cam", "S1", "camera"), ("S1-rec", "S1", "audio"), ("S2-cam", "S2", "camera"),
                             ("S3-rec", "S3", "audio")])
    add = seed.rows.append
    s1_image = ["Sus scrofa", "Myocastor coypus", "Prionailurus bengalensis", "Passer domesticus", "Sus scrofa"]
    for i in range(40):  # S1 camera: one image per 5 h over the last ~8 days
        name = s1_image[i % len(s1_image)]
        add(Row(f"s1c{i:03d}", "S1", "S1-cam", "image", name, round(0.55 + (i % 9) * 0.05, 2), 30 + i * 300,
                reviewed=i % 4 == 0))
    for i in range(12):  # S1 recorder: bullfrog and sparrow windows, two per recording
        minutes = 100 + i * 700
        add(Row(f"s1r{i:03d}", "S1", "S1-rec", "audio", "Lithobates catesbeianus", round(0.6 + (i % 4) * 0.1, 2),
                minutes, reviewed=i < 3))
        add(Row(f"s1r{i:03d}", "S1", "S1-rec", "audio", "Passer domesticus", 0.48, minutes, start_s=3.0))
    add(Row("s1c-person", "S1", "S1-cam", "image", None, 0.93, 45, observation="human"))
    add(Row("s1c-person", "S1", "S1-cam", "image", "Sus scrofa", 0.81, 45, start_s=1.0))
    for i in range(8):  # S2 camera
        add(Row(f"s2c{i:03d}", "S2", "S2-cam", "image", ["Sus scrofa", "Cervus canadensis"][i % 2],
                round(0.7 + i * 0.03, 2), 200 + i * 2000, reviewed=i % 3 == 0))
    add(Row("s2c-blank", "S2", "S2-cam", "image", None, 0.9, 600, observation="blank"))
    add(Row("s2c-untimed", "S2", "S2-cam", "image", "Sus scrofa", 0.66, None))
    add(Row("s2c-car", "S2", "S2-cam", "image", None, 0.97, 400, observation="vehicle"))
    add(Row("s2c-people", "S2", "S2-cam", "image", "Homo sapiens", 0.88, 900, observation="human"))
    for i in range(6):  # S3 recorder, older than a week
        add(Row(f"s3r{i:03d}", "S3", "S3-rec", "audio", ["Anaxyrus americanus", "Procambarus clarkii"][i % 2],
                round(0.52 + i * 0.07, 2), 12_000 + i * 1000))
    return seed


#: The seeded database's content.
SEED = _build_seed()


def seed_site(url: str, now: datetime | None = None) -> datetime:
    """Write :data:`SEED` into the (empty) database at ``url`` and record its invasive-species alerts.

    Times are local (+08:00) and counted back from ``now``, so "last 7 days" has rows whenever the tests run.

    Returns:
        the ``now`` the times were counted from (UTC).
    """
    from sqlalchemy.orm import Session

    from models.store.alerts import record_alerts
    from models.store.db import Deployment, Media, Station, create_schema, make_engine
    from tests.serve_helpers import _det

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    engine = make_engine(url)
    create_schema(engine)
    tz = timedelta(hours=8)
    with Session(engine) as s:
        s.add_all([Station(stationID=k, stationName=v) for k, v in SEED.stations.items()])
        s.add_all([Deployment(deploymentID=d, stationID=st, deviceType=kind, timezone="Asia/Shanghai")
                   for d, st, kind in SEED.deployments])
        seen: set[str] = set()
        for r in SEED.rows:
            if r.media not in seen:
                seen.add(r.media)
                ext = "wav" if r.modality == "audio" else "jpg"
                s.add(Media(mediaID=r.media, sha256=f"{len(seen):064x}", deploymentID=r.deployment,
                            stationID=r.station, modality=r.modality, filePath=f"{r.deployment}/{r.media}.{ext}",
                            fileName=f"{r.media}.{ext}", created=datetime(2026, 1, 1)))
        s.flush()
        for r in SEED.rows:
            event = "" if r.minutes_ago is None else \
                (now + tz - timedelta(minutes=r.minutes_ago)).replace(tzinfo=None).isoformat() + "+08:00"
            det = _det(r.media, r.modality, r.name, r.prob, r.name in INVASIVE, event, start_s=r.start_s,
                       deployment=r.deployment, station=r.station)
            det.observationType = r.observation
            if r.reviewed:
                det.classificationMethod, det.classificationSource, det.classifiedBy = "human", "human", "reviewer"
            s.add(det)
        s.flush()
        record_alerts(s)
        s.commit()
    engine.dispose()
    return now


def overview_figures(seed: Seed = SEED) -> dict[str, dict[str, int]]:
    """Per station, what the public overview must show: total, last 7 days, species, open alerts, backlog."""
    out: dict[str, dict[str, int]] = {}
    rows = seed.public_rows()
    for st in sorted({r.station for r in rows}):
        mine = [r for r in rows if r.station == st]
        out[st] = {"total": len(mine),
                   "week": sum(1 for r in mine if r.minutes_ago is not None and r.minutes_ago < 7 * 24 * 60 - 5),
                   "species": len({r.name for r in mine if r.name}),
                   "alerts": sum(1 for r in mine if r.name in INVASIVE),
                   "backlog": sum(1 for r in mine if not r.reviewed)}
    return out


def species_counts(station: str | None = None) -> Counter:
    """Public rows per scientific name (optionally of one station)."""
    return Counter(r.name for r in SEED.public_rows() if station in (None, r.station))


# --- the live server -----------------------------------------------------------------------------------------

def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(database_url: str, media_root: Path, **env: str) -> Iterator[str]:
    """``uvicorn serve.app:create_app`` on 127.0.0.1 and a free port, in its own process, without model bundles;
    yields the base URL once ``/health`` answers. ``env`` adds ``BIODIV_*`` settings (``stats_cache_s="0"``)."""
    import httpx

    port = free_port()
    environ = {**os.environ, "BIODIV_DATABASE_URL": database_url, "BIODIV_MEDIA_ROOT": str(media_root),
               "BIODIV_IMAGE_BUNDLE": "/nonexistent/image", "BIODIV_AUDIO_BUNDLE": "/nonexistent/audio",
               "BIODIV_LOG_LEVEL": "WARNING", **{f"BIODIV_{k.upper()}": v for k, v in env.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serve.app:create_app", "--factory", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=ROOT, env=environ)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start within 120 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


# --- the browser -----------------------------------------------------------------------------------------------

#: Chromium flags: headless as root, and no calls home (without the background-networking flags Chromium tries
#: to reach Google's update and sync services).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """The Chromium to drive: ``BIODIV_CHROMIUM`` or Debian's ``/usr/bin/chromium``; None when missing."""
    path = os.environ.get("BIODIV_CHROMIUM", "/usr/bin/chromium")
    return path if Path(path).is_file() and os.access(path, os.X_OK) else None
