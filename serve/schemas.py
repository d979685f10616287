"""API schemas (pydantic), separate from the ORM classes in ``models.db``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from models.catalogue import Catalogue, clean_name
from models.db import Detection, Media


class HealthOut(BaseModel):
    """Service health: database reachability and the loaded model versions (None = not loaded)."""

    status: Literal["ok", "degraded"]
    database: bool
    models: dict[str, str | None]


class DetectionOut(BaseModel):
    """One detection (an image or an audio window) with the species' common names when known."""

    model_config = ConfigDict(from_attributes=True)

    detectionID: str
    mediaID: str
    deploymentID: str
    stationID: str
    modality: str
    start_s: float
    end_s: float
    eventStart: str
    observationType: str
    scientificName: str | None
    classificationProbability: float
    isInvasive: bool
    topK: list[tuple[str, float]]
    modelVersion: str
    classificationMethod: str
    classifiedBy: str
    classificationTimestamp: str
    vernacularNameEN: str | None = None
    vernacularNameZH: str | None = None

    @classmethod
    def from_row(cls, row: Detection, catalogue: Catalogue) -> DetectionOut:
        """Build from an ORM row, adding the catalogue's vernacular names (empty ones become None)."""
        out = cls.model_validate(row)
        sp = catalogue.get(row.scientificName) if row.scientificName else None
        if sp is not None:
            out.vernacularNameEN = sp.vernacularNameEN or None
            out.vernacularNameZH = sp.vernacularNameZH or None
        return out


class DetectionPage(BaseModel):
    """One page of a detections query; ``total`` counts every match, not only this page."""

    total: int
    limit: int
    offset: int
    items: list[DetectionOut]


class DetectionQuery(BaseModel):
    """Filters and paging of ``GET /v1/detections``; unknown parameters are rejected (422)."""

    model_config = ConfigDict(extra="forbid")

    stationID: str | None = None
    deploymentID: str | None = None
    scientificName: str | None = Field(None, description="matched case-insensitively after trimming whitespace")
    invasive: bool | None = None
    modality: Literal["image", "audio"] | None = None
    start: AwareDatetime | None = Field(None, description="ISO 8601 with offset; eventStart >= start")
    end: AwareDatetime | None = Field(None, description="ISO 8601 with offset; eventStart <= end")
    min_probability: float | None = Field(None, ge=0.0, le=1.0)
    mediaID: str | None = None
    observationType: str | None = None
    limit: int = Field(100, ge=1)
    offset: int = Field(0, ge=0)

    @field_validator("scientificName")
    @classmethod
    def _clean_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = clean_name(value)
        if not cleaned:
            raise ValueError("scientificName is empty; use observationType=blank for blanks")
        return cleaned

    @model_validator(mode="after")
    def _check_range(self) -> DetectionQuery:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


class MediaOut(BaseModel):
    """A stored media item; ``filePath`` is relative to the media (or ingest) root, never absolute."""

    model_config = ConfigDict(from_attributes=True)

    mediaID: str
    sha256: str
    deploymentID: str
    stationID: str
    filePath: str
    fileName: str
    fileMediatype: str
    modality: str
    timestamp: str
    timestampIssues: str
    timestampSource: str
    bytes: int
    width_px: int | None
    height_px: int | None
    duration_s: float | None
    sample_rate_hz: int | None
    channels: int | None
    origin: str
    created: datetime | None

    @field_validator("created")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @classmethod
    def from_row(cls, row: Media) -> MediaOut:
        """Build from an ORM row."""
        return cls.model_validate(row)


class UploadOut(BaseModel):
    """Result of ``POST /v1/media``: the media item and its detections (existing ones for a duplicate)."""

    duplicate: bool
    media: MediaOut
    detections: list[DetectionOut]


class SpeciesOut(BaseModel):
    """A catalogue entry and how many detections of it the database holds."""

    model_config = ConfigDict(populate_by_name=True)

    scientificName: str
    taxonRank: str
    vernacularNameEN: str
    vernacularNameZH: str
    class_: str = Field(alias="class")
    order: str
    family: str
    statusChina: str
    statusSource: str
    sensitive: bool
    detectionThreshold: float | None
    isInvasive: bool
    detections: int


class DeploymentOut(BaseModel):
    """A deployment (Camtrap DP) with its detection count."""

    model_config = ConfigDict(from_attributes=True)

    deploymentID: str
    stationID: str
    deviceType: str
    deviceModel: str
    latitude: float | None
    longitude: float | None
    coordinateUncertainty_m: float | None
    timezone: str
    deploymentStart: str
    deploymentEnd: str
    licence: str
    attribution: str
    detections: int = 0


class StationOut(BaseModel):
    """A station, its deployments and the detections recorded there."""

    stationID: str
    stationName: str
    note: str
    detections: int
    deployments: list[DeploymentOut]
