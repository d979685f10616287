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
import zlib
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
        role: the API-key role the page is opened with (signed in through ``/signin``); None: the public.
        shot: the screenshot script takes this page (both languages).
    """

    name: str
    path: str
    heading: dict[str, str]
    controls: tuple[str, ...] = ()
    lang_switch: bool = True
    role: str | None = None
    shot: bool = True


#: The service's own pages. A new page = one line here (``role``: signed in with that role's seeded key).
PAGES = [
    Page("overview", "/", {"en": "Overview", "zh": "概览"}, controls=("main table a",)),
    Page("detections", "/detections", {"en": "Detections", "zh": "检测记录"},
         controls=("select[name=stationID]", "input[name=scientificName]", "input[name=min_probability]",
                   "main form button[type=submit]")),
    Page("detections-filtered", "/detections?stationID=S1&invasive=true", {"en": "Detections", "zh": "检测记录"},
         controls=("select[name=stationID]", "main form button[type=submit]"), shot=False),
    Page("stations", "/stations", {"en": "Stations", "zh": "站点"}, controls=("main table a",)),
    Page("species", "/species", {"en": "Species", "zh": "物种"},
         controls=("input[name=q]", "main form button[type=submit]", "main table a")),
    Page("species-page", "/species/Sus%20scrofa", {"en": "Wild boar Sus scrofa", "zh": "野猪 Sus scrofa"},
         controls=("select[name=interval]", "main form button[type=submit]")),
    Page("statistics", "/statistics", {"en": "Statistics", "zh": "统计"},
         controls=("select[name=stationID]", "select[name=interval]", "select[name=index]",
                   "input[name=reviewed]", "main form button[type=submit]")),
    Page("signin", "/signin", {"en": "Sign in", "zh": "登录"},
         controls=("input[name=api_key]", "main form button[type=submit]"), shot=False),
    Page("review", "/review", {"en": "Image review", "zh": "图像审核"}, role="reviewer",
         controls=("select[name=stationID]", "select[name=bulk_species]", "main td.go a")),
    Page("review-event", "/review/event/S1-ev01", {"en": "Event S1-ev01", "zh": "事件 S1-ev01"}, role="reviewer",
         controls=("#next-frame", ".filmstrip a", "button[data-key=c][data-scope=frame]", "#species-frame",
                   "button[data-key='1']")),
    Page("review-bulk", "/review/bulk?bulk_species=Sus+scrofa&bulk_min_probability=0.5",
         {"en": "Bulk confirm", "zh": "批量确认"}, role="reviewer", controls=("main form button[type=submit]",),
         shot=False),
    Page("review-audio", "/review/audio?species=Lithobates+catesbeianus",
         {"en": "Audio review: American bullfrog Lithobates catesbeianus",
          "zh": "声音审核: 牛蛙 Lithobates catesbeianus"}, role="reviewer",
         controls=("select[name=species]", "main audio", "article form button[type=submit]")),
    Page("alerts", "/alerts", {"en": "Invasive-species alerts", "zh": "入侵物种警报"}, role="reviewer",
         controls=("main a[href^='#sec-']", "form[action$='/acknowledge'] button")),
    Page("upload", "/upload", {"en": "Upload images and recordings", "zh": "上传图像和录音"}, role="uploader",
         controls=("select[name=deploymentID]", "input[type=file]")),
    Page("progress", "/progress", {"en": "Review progress", "zh": "审核进度"}, role="reviewer"),
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
    event: str | None = None


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
    for i in range(40):  # S1 camera: ten events of four frames a minute apart, one event per ~17 h
        name = s1_image[i % len(s1_image)]
        add(Row(f"s1c{i:03d}", "S1", "S1-cam", "image", name, round(0.55 + (i % 9) * 0.05, 2),
                30 + (i // 4) * 1000 + (3 - i % 4),
                reviewed=i % 4 == 0 and i >= 8, event=f"S1-ev{i // 4:02d}"))  # events of four frames
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


#: The API keys seeded, per role: (display name shown once signed in).
KEY_NAMES = {"reviewer": "Rita Reviewer", "uploader": "Uli Uploader", "admin": "Ada Admin"}
#: Alternatives of the image classifier (top-K after the label), so the review page offers quick species.
ALTERNATIVES = ["Sus scrofa", "Prionailurus bengalensis", "Cervus canadensis", "Myocastor coypus"]
#: Coordinates of the deployments (WGS 84).
PLACES = {"S1-cam": (30.268, 120.065), "S1-rec": (30.272, 120.071), "S2-cam": (30.349, 119.437),
          "S3-rec": (30.226, 120.214)}
#: The reviewer who reviewed the seed's reviewed rows.
SEED_REVIEWER = "Rita Reviewer"


@dataclass(frozen=True)
class Seeded:
    """What :func:`seed_site` made: the time the rows are counted back from (UTC) and one API key per role."""

    now: datetime
    keys: dict[str, str]


def event_ids(seed: Seed = SEED) -> list[str]:
    """The camera-trap events of the seed (several frames each), newest first (the first two are unreviewed)."""
    return sorted({r.event for r in seed.rows if r.event})


def _local(now: datetime, minutes_ago: int | None) -> str:
    if minutes_ago is None:
        return ""
    stamp = now + timedelta(hours=8) - timedelta(minutes=minutes_ago)
    return stamp.replace(tzinfo=None).isoformat() + "+08:00"


def write_media(stations_root: Path, seed: Seed = SEED) -> int:
    """Write a generated file for every media of ``seed`` under ``stations_root`` (``<deployment>/<media>.jpg``
    or ``.wav``, as the media rows' ``filePath``); returns the number of files."""
    from tests.browser import media as gen

    done: set[str] = set()
    for r in seed.rows:
        if r.media in done:
            continue
        done.add(r.media)
        path = stations_root / r.deployment / f"{r.media}.{'wav' if r.modality == 'audio' else 'jpg'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gen.wav(r.media) if r.modality == "audio" else gen.jpeg(r.media, night=r.station == "S2"))
    return len(done)


def seed_site(url: str, stations_root: Path | None = None, now: datetime | None = None) -> Seeded:
    """Write :data:`SEED` into the (empty) database at ``url``: stations, deployments, media (their files under
    ``stations_root`` when given), detections with top-K alternatives, the S1 camera events, a review history
    for the reviewed rows, invasive-species alerts (one acknowledged), acoustic indices of every recording and
    one API key per role (:data:`KEY_NAMES`).

    Times are local (+08:00) and counted back from ``now``, so "last 7 days" has rows whenever the tests run.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from models.store.alerts import record_alerts, transition_alert
    from models.store.db import (
        AcousticIndex,
        Alert,
        Deployment,
        DetectionReview,
        Event,
        Media,
        Station,
        create_schema,
        make_engine,
        to_utc,
    )
    from models.store.keys import create_key
    from tests.serve_helpers import _det

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    if stations_root is not None:
        write_media(stations_root)
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as s:
        s.add_all([Station(stationID=k, stationName=v) for k, v in SEED.stations.items()])
        start = _local(now, 30 * 24 * 60)
        s.add_all([Deployment(deploymentID=d, stationID=st, deviceType=kind, timezone="Asia/Shanghai",
                              deviceModel="Browning BTC-8E" if kind == "camera" else "AudioMoth 1.2",
                              latitude=PLACES[d][0], longitude=PLACES[d][1], deploymentStart=start,
                              deploymentEnd=_local(now, 7 * 24 * 60) if d == "S3-rec" else "")
                   for d, st, kind in SEED.deployments])
        seen: set[str] = set()
        for r in SEED.rows:
            if r.media not in seen:
                seen.add(r.media)
                ext = "wav" if r.modality == "audio" else "jpg"
                s.add(Media(mediaID=r.media, sha256=f"{len(seen):064x}", deploymentID=r.deployment,
                            stationID=r.station, modality=r.modality, filePath=f"{r.deployment}/{r.media}.{ext}",
                            fileName=f"{r.media}.{ext}", timestamp=_local(now, r.minutes_ago) or None,
                            created=datetime(2026, 1, 1)))
        s.flush()
        events: dict[str, list] = {}
        for n, r in enumerate(SEED.rows):
            event = _local(now, r.minutes_ago)
            det = _det(r.media, r.modality, r.name, r.prob, r.name in INVASIVE, event, start_s=r.start_s,
                       deployment=r.deployment, station=r.station)
            det.observationType = r.observation
            if r.modality == "image" and r.name:
                others = [a for a in ALTERNATIVES if a != r.name]
                det.topK = [[r.name, r.prob], [others[n % 3], round((1 - r.prob) * 0.6, 3)],
                            [others[(n + 1) % 3], round((1 - r.prob) * 0.3, 3)]]
            det.eventID = r.event
            if r.event:
                events.setdefault(r.event, []).append(det)
            if r.reviewed:
                det.classificationMethod, det.classificationSource, det.classifiedBy = "human", "human", SEED_REVIEWER
                s.add(DetectionReview(detectionID=det.detectionID, action="confirm", observationType=r.observation,
                                      scientificName=r.name, classifiedBy=SEED_REVIEWER,
                                      classificationTimestamp=_local(now, (r.minutes_ago or 0) // 2),
                                      before={"observationType": r.observation, "scientificName": r.name,
                                              "classificationMethod": "machine"}))
            s.add(det)
        for key, dets in events.items():
            best = max(dets, key=lambda d: d.classificationProbability)
            s.add(Event(eventID=key, deploymentID=best.deploymentID, stationID=best.stationID, modality="image",
                        mediaCount=len(dets), eventStart=min(d.eventStart for d in dets),
                        eventEnd=max(d.eventStart for d in dets), eventStartUTC=to_utc(min(d.eventStart for d in dets)),
                        observationType="animal", scientificName=best.scientificName,
                        classificationProbability=best.classificationProbability, modelVersion="seed/1",
                        topK=best.topK, isInvasive=best.isInvasive))
        for media in sorted({r.media for r in SEED.rows if r.modality == "audio"}):
            row = next(r for r in SEED.rows if r.media == media)
            for k in range(2):
                stamp = _local(now, row.minutes_ago - k)
                rng = (zlib.crc32(media.encode()) % 97 + k * 13) % 97 / 97
                s.add(AcousticIndex(indexID=f"{media}-{k}", mediaID=media, deploymentID=row.deployment,
                                    stationID=row.station, start_s=4.0 * k, end_s=4.0 * k + 4.0, segmentStart=stamp,
                                    segmentStartUTC=to_utc(stamp), sample_rate_hz=8000, ACI=150 + 40 * rng,
                                    NDSI=-0.5 + rng, ADI=1.2 + rng, AEI=0.3 + 0.4 * rng, BI=4 + 6 * rng,
                                    H=0.6 + 0.3 * rng, Ht=0.9 - 0.1 * rng))
        s.flush()
        record_alerts(s)
        s.commit()
        first = s.scalars(select(Alert.alertID).order_by(Alert.alertID)).first()
        transition_alert(s, first, "acknowledge", SEED_REVIEWER)
        keys = {role: create_key(s, role, name).token for role, name in KEY_NAMES.items()}
    engine.dispose()
    return Seeded(now, keys)


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
def live_server(database_url: str, folder: Path, **env: str) -> Iterator[str]:
    """``uvicorn serve.app:create_app`` on 127.0.0.1 and a free port, in its own process, without model bundles
    (unless ``env`` names them); uploads, station files (``folder/stations``), the derived-media cache and the
    session key all live under ``folder``. Yields the base URL once ``/health`` answers. ``env`` adds
    ``BIODIV_*`` settings (``stats_cache_s="0"``, ``image_bundle=...``)."""
    import httpx

    port = free_port()
    folder = Path(folder)
    environ = {**os.environ, "BIODIV_DATABASE_URL": database_url, "BIODIV_MEDIA_ROOT": str(folder / "media"),
               "BIODIV_STATIONS_ROOT": str(folder / "stations"), "BIODIV_CACHE_ROOT": str(folder / "cache"),
               "BIODIV_SESSION_KEY_FILE": str(folder / "session.key"),
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
