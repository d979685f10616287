"""Service configuration, read from ``BIODIV_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Settings of the web service; every field can be set as ``BIODIV_<FIELD>`` (case-insensitive).

    Attributes:
        database_url: SQLAlchemy URL of the detections database.
        image_bundle, audio_bundle: model bundle folders; a missing folder disables that modality.
        media_root: where uploads are stored, content-addressed as ``<sha256[:2]>/<sha256><ext>``;
            never a folder that is served as static files.
        max_upload_bytes: largest accepted upload.
        top_k: alternatives kept per detection.
        page_size_max: largest ``limit`` of a paged listing.
        public_precision_deg: grid (decimal degrees) that public reads generalise the coordinates of
            sites with sensitive species to (0.1 degree is about 11 km).
        stats_cache_s: how long statistics (and the list of sites with sensitive species) are cached.
    """

    model_config = SettingsConfigDict(env_prefix="BIODIV_", extra="ignore")

    database_url: str = "sqlite:///var/biodiv.db"
    image_bundle: Path = Path("artifacts/image_model")
    audio_bundle: Path = Path("artifacts/audio_model")
    media_root: Path = Path("var/media")
    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0)
    top_k: int = Field(3, ge=1)
    page_size_max: int = Field(500, ge=1)
    public_precision_deg: float = Field(0.1, gt=0, le=10)
    stats_cache_s: float = Field(300.0, ge=0)
