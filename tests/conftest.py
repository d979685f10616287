"""Shared fixtures: paths to the field failure cases and generators of tiny media files.

Every generated file is written under pytest's ``tmp_path``; nothing touches ``data/``,
``artifacts/``, ``reports/``, ``mlruns/`` or ``var/`` of the working tree.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the package is installed editable in CI; this also works from a bare checkout
    sys.path.insert(0, str(ROOT))

#: The shared field failure cases; in CI the repository is cloned with ``../shared`` beside it.
CASES = ROOT.parent / "shared" / "cases"


@pytest.fixture(scope="session")
def cases() -> Path:
    """Folder of the field failure cases; a missing folder fails the test (it must not be skipped)."""
    if not (CASES / "cases.json").is_file():
        pytest.fail(f"field failure cases not found: expected {CASES}/cases.json "
                    "(clone the shared cases next to the repository as ../shared/cases)")
    return CASES


class MediaFactory:
    """Tiny, deterministic media files for tests (bytes or files under a given folder)."""

    @staticmethod
    def jpeg(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (200, 40, 20), quality: int = 92,
             noise_seed: int | None = None) -> bytes:
        """Uniform-colour JPEG (optionally with noise, which makes the scan data large) via OpenCV."""
        img = np.empty((height, width, 3), np.uint8)
        img[:] = rgb
        if noise_seed is not None:
            img = np.random.default_rng(noise_seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return buf.tobytes()

    @staticmethod
    def png(array: np.ndarray) -> bytes:
        """PNG of an RGB/RGBA/grey array (channel order RGB[A]), via OpenCV."""
        if array.ndim == 3 and array.shape[2] == 3:
            array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        elif array.ndim == 3 and array.shape[2] == 4:
            array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
        ok, buf = cv2.imencode(".png", array)
        assert ok
        return buf.tobytes()

    @staticmethod
    def exif_jpeg(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (30, 160, 60),
                  taken: str | None = None, offset: str | None = None, orientation: int | None = None,
                  marker: bool = False) -> bytes:
        """JPEG with EXIF written by Pillow: ``DateTimeOriginal`` (``YYYY:MM:DD HH:MM:SS``),
        ``OffsetTimeOriginal`` and ``Orientation``; ``marker`` paints a white 10x10 square at the
        stored top-left corner on a black frame."""
        img = Image.new("RGB", (width, height), (0, 0, 0) if marker else rgb)
        if marker:
            img.paste((255, 255, 255), (0, 0, 10, 10))
        exif = Image.Exif()
        if orientation is not None:
            exif[274] = orientation
        if taken is not None or offset is not None:
            sub = exif.get_ifd(0x8769)
            if taken is not None:
                sub[36867] = taken
            if offset is not None:
                sub[36881] = offset
        buf = io.BytesIO()
        img.save(buf, "JPEG", exif=exif, quality=95)
        return buf.getvalue()

    @staticmethod
    def wav(path: Path, seconds: float, sample_rate_hz: int = 8000, channels: int = 1, freq_hz: float = 440.0,
            amplitude: float = 0.5, subtype: str = "PCM_16", fmt: str | None = None) -> Path:
        """Sine tone (same in every channel) written with soundfile; ``seconds=0`` gives an empty file."""
        n = round(seconds * sample_rate_hz)
        t = np.arange(n) / sample_rate_hz
        x = (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
        data = np.repeat(x[:, None], channels, axis=1) if channels > 1 else x
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), data, sample_rate_hz, subtype=subtype, format=fmt)
        return path


@pytest.fixture(scope="session")
def media() -> MediaFactory:
    """Generators of tiny images and recordings."""
    return MediaFactory()


def write_csv_text(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a small CSV by hand (so tests do not depend on the code under test to write inputs)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def write_csv():
    """``write_csv(path, header, rows)``: a hand-written CSV input."""
    return write_csv_text


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A throw-away MLflow tracking store: ``(sqlite URI, folder for experiment artifact locations)``.

    Created once per session (the schema migration takes seconds); tests create their own experiments.
    """
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.MlflowClient(uri).search_experiments()  # creates the schema
    return uri, root / "artifacts"


@pytest.fixture()
def mlflow_uri_restored():
    """Restore MLflow's global tracking URI (``training_run`` sets it) and end any run left open."""
    import mlflow

    before = mlflow.get_tracking_uri()
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run("FAILED")
    mlflow.set_tracking_uri(before)


# --- Fixtures of the serve tests (tests/test_serve_*.py) -------------------------------------------------------
# NOTE: reconstructed from how tests/test_serve_*.py use them, after the serve tests' own conftest.py was
# overwritten by mistake while the core-library fixtures above were added. Owners of serve/: please check.


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tiny real bundles: ``{"image": (folder, BundleMeta), "audio": (folder, BundleMeta)}``."""
    from tests.serve_helpers import make_bundle

    root = tmp_path_factory.mktemp("bundles")
    return {m: (root / f"{m}_model", make_bundle(root / f"{m}_model", m)) for m in ("image", "audio")}


#: PostgreSQL server for the tests (``.ci/postgres.sh`` starts one); unset: PostgreSQL variants are skipped.
PG_URL_ENV = "BIODIV_TEST_DATABASE_URL"


def fresh_database_url(backend: str, folder: Path) -> str:
    """URL of an empty database: a new SQLite file in ``folder``, or the test PostgreSQL database with its
    ``public`` schema dropped and re-created (so every test starts from ``create_schema``)."""
    import os

    if backend == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'biodiv.db'}"
    from sqlalchemy import create_engine, text

    url = os.environ[PG_URL_ENV]
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_backend(request: pytest.FixtureRequest) -> str:
    """Database backend of the DB-touching tests: SQLite always, PostgreSQL when ``BIODIV_TEST_DATABASE_URL``
    names a server (CI starts one)."""
    import os

    if request.param == "postgresql" and not os.environ.get(PG_URL_ENV):
        if os.environ.get("BIODIV_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"BIODIV_REQUIRE_POSTGRES=1 but {PG_URL_ENV} is not set")
        pytest.skip(f"PostgreSQL variant: set {PG_URL_ENV} (e.g. eval \"$(.ci/postgres.sh start)\")")
    return request.param


@pytest.fixture()
def db_url(db_backend: str, tmp_path: Path) -> str:
    """An empty database of the current backend for one test."""
    return fresh_database_url(db_backend, tmp_path / "db")


@pytest.fixture()
def settings(tmp_path: Path, bundles: dict, db_url: str):
    """Service settings: an empty database (SQLite under ``<tmp>/db``, or PostgreSQL), uploads under
    ``<tmp>/media``, station drops under ``<tmp>/stations``, derived media under ``<tmp>/cache``, the session
    key in ``<tmp>/session.key``, both bundles loaded."""
    from serve.settings import Settings

    return Settings(database_url=db_url, media_root=tmp_path / "media", stations_root=tmp_path / "stations",
                    cache_root=tmp_path / "cache", session_key_file=tmp_path / "session.key",
                    image_bundle=bundles["image"][0], audio_bundle=bundles["audio"][0])


@pytest.fixture()
def client(settings):
    """A started app (lifespan run) for ``settings``."""
    from fastapi.testclient import TestClient

    from serve.app import create_app

    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture()
def db(settings):
    """A session on the settings' database (schema created)."""
    from sqlalchemy.orm import Session

    from models.store.db import create_schema, make_engine

    engine = make_engine(settings.database_url)
    create_schema(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture()
def deployments(db) -> list[str]:
    """The deployments of ``tests.serve_helpers.UPLOAD_DEPLOYMENTS`` (and their stations) in the settings' database."""
    from tests.serve_helpers import seed_deployments

    return seed_deployments(db)


@pytest.fixture()
def api_key(db):
    """``api_key(role)``: create an API key of ``role`` in the settings' database; returns its request headers."""
    from models.store.keys import create_key

    def make(role: str = "uploader", name: str | None = None) -> dict[str, str]:
        return {"X-API-Key": create_key(db, role, name or f"test-{role}").token}

    return make


@pytest.fixture()
def uploader_headers(api_key) -> dict[str, str]:
    """Headers of an ``uploader`` key (``POST /v1/media`` needs one)."""
    return api_key("uploader", "station-test")
