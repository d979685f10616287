"""Service configuration, read from ``BIODIV_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of the web service; every field can be set as ``BIODIV_<FIELD>`` (case-insensitive).

    Attributes:
        database_url: SQLAlchemy URL of the detections database.
        image_bundle, audio_bundle: model folders: ONNX exports (the defaults; no PyTorch) or PyTorch
            bundles; a missing folder disables that modality.
        media_root: where uploads are stored, content-addressed as ``<sha256[:2]>/<sha256><ext>``;
            never a folder that is served as static files.
        max_upload_bytes: largest accepted upload.
        top_k: alternatives kept per detection.
        page_size_max: largest ``limit`` of a paged listing.
        public_precision_deg: grid (decimal degrees) that public reads generalise the coordinates of
            sites with sensitive species to (0.1 degree is about 11 km).
        stats_cache_s: how long statistics (and the list of sites with sensitive species) are cached.
        background_audio_s: recordings longer than this (s) are classified by a background job
            (``202`` + ``/v1/jobs/{id}``) instead of within the upload request.
        job_workers: threads running background jobs in the service process.
        alert_webhook_url: when set, every new invasive-species alert is POSTed there as JSON.
        alert_webhook_secret: when set, each POST carries ``X-Biodiv-Signature: sha256=<HMAC of the body>``.
        alert_webhook_max_attempts: deliveries tried per alert before it is marked ``failed``.
        alert_webhook_backoff_s: first retry delay (s); doubled after each failure, capped at one hour.
        alert_webhook_timeout_s: HTTP timeout of one delivery (s).
        alert_poll_s: how often the webhook worker looks for new alerts (s).
        db_busy_timeout_s: how long a write waits for another writer's lock (SQLite busy timeout,
            PostgreSQL ``lock_timeout``) before the request is answered 503 with ``Retry-After``.
        retry_after_s: the ``Retry-After`` (s) of such a 503.
        partial_upload_max_age_s: at start, staged files of uploads older than this (s) are deleted (a
            process killed mid-upload leaves them; younger ones may be another worker's upload in progress).
        stations_root: folder that station-drop media ``filePath`` values are relative to (the media pages
            deliver them from there).
        cache_root: derived media (thumbnails, audio clips, spectrograms, charts), rebuilt when missing.
        session_secret: key that signs the pages' session cookie; unset: a random key kept in
            ``session_key_file`` (0600), shared by the workers of one installation.
        session_max_age_s: a browser session ends this long (s) after sign-in.
        secure_cookies: send the session cookie only over HTTPS (turn on behind a TLS proxy).
        local_timezone: IANA time zone in which the pages read calendar dates typed into filters.
    """

    model_config = SettingsConfigDict(env_prefix="BIODIV_", extra="ignore")

    database_url: str = "sqlite:///var/biodiv.db"
    image_bundle: Path = Path("artifacts/image_model_onnx")
    audio_bundle: Path = Path("artifacts/audio_model_onnx")
    media_root: Path = Path("var/media")
    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0)
    top_k: int = Field(3, ge=1)
    page_size_max: int = Field(500, ge=1)
    public_precision_deg: float = Field(0.1, gt=0, le=10)
    stats_cache_s: float = Field(300.0, ge=0)
    background_audio_s: float = Field(300.0, gt=0)
    job_workers: int = Field(1, ge=1, le=16)
    alert_webhook_url: AnyHttpUrl | None = None
    alert_webhook_secret: str | None = None
    alert_webhook_max_attempts: int = Field(8, ge=1)
    alert_webhook_backoff_s: float = Field(5.0, gt=0)
    alert_webhook_timeout_s: float = Field(10.0, gt=0)
    alert_poll_s: float = Field(5.0, gt=0)
    db_busy_timeout_s: float = Field(5.0, gt=0)
    retry_after_s: int = Field(5, ge=1)
    partial_upload_max_age_s: float = Field(3600.0, ge=0)
    stations_root: Path = Path("data/raw/stations")
    cache_root: Path = Path("var/cache")
    session_secret: SecretStr | None = None
    session_key_file: Path = Path("var/session.key")
    session_max_age_s: int = Field(12 * 3600, gt=0)
    secure_cookies: bool = False
    local_timezone: str = "Asia/Shanghai"
