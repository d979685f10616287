"""API schemas (pydantic), separate from the ORM classes in ``models.store.db``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from models.store.db import Detection, Media
from models.taxonomy.catalogue import Catalogue, clean_name

#: Earliest and latest instants a time filter may name: a UTC instant must exist as a naive ``datetime`` after
#: conversion (year 1 with a positive offset, or year 9999 with a negative one, falls outside ``datetime``'s
#: range, which is what gave 500 before), with a day of margin so that any later local-time arithmetic holds.
TIME_MIN = datetime(1, 1, 2, tzinfo=UTC)
TIME_MAX = datetime(9999, 12, 30, tzinfo=UTC)


def to_utc_instant(value: datetime) -> datetime:
    """``value`` (timezone-aware) as an aware UTC ``datetime``.

    Raises:
        ValueError: when the instant lies outside ``TIME_MIN``..``TIME_MAX`` (pydantic turns it into a 422
            naming the parameter), instead of the ``OverflowError`` that converting it would raise.
    """
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not TIME_MIN <= utc <= TIME_MAX:
        raise ValueError(f"time out of range: give an instant between {TIME_MIN.date()} and {TIME_MAX.date()} "
                         "(ISO 8601 with offset)")
    return utc


#: A query-string time: ISO 8601 with an offset, converted to UTC once here; out-of-range instants are 422.
UtcInstant = Annotated[AwareDatetime, AfterValidator(to_utc_instant)]
#: A probability in [0, 1]; NaN and infinities are 422 (they compare false with every bound otherwise).
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


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
    taxonRank: str | None = Field(None, description="Darwin Core rank of scientificName (genus, family, ... "
                                  "after a roll-up)")
    classificationSource: str = Field("model", description="the rule behind the label: model, privacy, rollup, "
                                      "region, threshold-unknown, silence, speech or human (a review)")
    eventID: str | None = None
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
    """One page of a detections query. ``next_cursor`` fetches the next page (None on the last one);
    ``total`` counts every match, and is only computed when asked for (``include_total=true``)."""

    total: int | None = None
    limit: int
    next_cursor: str | None = None
    items: list[DetectionOut]


class ListingParams(BaseModel):
    """Paging, sorting and format parameters shared by the listings (keyset pagination, see ``serve.paging``)."""

    limit: int = Field(100, ge=1)
    cursor: str | None = Field(None, max_length=2048,
                               description="opaque cursor from the previous page's next_cursor")
    sort: Literal["eventStart", "-eventStart", "classificationProbability", "-classificationProbability"] = Field(
        "eventStart", description="sort key; a leading '-' sorts descending; rows without a time come last")
    include_total: bool = Field(False, description="also count every match (a full COUNT: slower on large tables)")
    format: Literal["json", "csv"] | None = Field(None, description="reply format; default from the Accept header")


class SelectionFilters(BaseModel):
    """The filters of a selection of observations, shared by the listings (``GET /v1/detections``,
    ``GET /v1/events``), the exports of a selection and the pages; unknown parameters are rejected (422)."""

    model_config = ConfigDict(extra="forbid")

    stationID: str | None = None
    deploymentID: str | None = None
    scientificName: str | None = Field(None, description="matched case-insensitively after trimming whitespace")
    invasive: bool | None = None
    modality: Literal["image", "audio"] | None = None
    start: UtcInstant | None = Field(None, description="ISO 8601 with offset; eventStart >= start")
    end: UtcInstant | None = Field(None, description="ISO 8601 with offset; eventStart <= end")
    min_probability: Probability | None = None
    max_probability: Probability | None = None
    hour_from: int | None = Field(None, ge=0, le=23, description="local time of day (the deployment's clock): "
                                  "the event's hour >= hour_from; with hour_to < hour_from the range wraps "
                                  "midnight (e.g. 20 to 4 for night)")
    hour_to: int | None = Field(None, ge=0, le=23, description="local time of day: the event's hour <= hour_to")
    reviewed: bool | None = Field(None, description="true: only human classifications (reviewed); false: only "
                                  "machine ones")
    mediaID: str | None = None
    observationType: str | None = None
    classificationSource: Literal["model", "privacy", "rollup", "region", "threshold-unknown", "silence",
                                  "speech", "human"] | None = Field(
        None, description="the rule that produced the label")

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
    def _check_range(self):
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        if self.min_probability is not None and self.max_probability is not None and (
                self.min_probability > self.max_probability):
            raise ValueError("min_probability is above max_probability")
        return self


class ObservationFilters(SelectionFilters, ListingParams):
    """Filters and paging shared by ``GET /v1/detections`` and ``GET /v1/events``; unknown parameters
    are rejected (422)."""

    model_config = ConfigDict(extra="forbid")


class DetectionQuery(ObservationFilters):
    """Filters and paging of ``GET /v1/detections``: the shared filters plus the event a detection belongs to."""

    eventID: str | None = None


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
    coordinatesGeneralised: bool = False


class StationOut(BaseModel):
    """A station, its deployments and the detections recorded there."""

    stationID: str
    stationName: str
    note: str
    detections: int
    deployments: list[DeploymentOut]


class EventOut(BaseModel):
    """An event-level observation (Camtrap DP ``observationLevel`` event): a camera-trap sequence or an
    acoustic detection event; ``start_s``/``end_s`` are offsets in the recording (audio only)."""

    model_config = ConfigDict(from_attributes=True)

    eventID: str
    deploymentID: str
    stationID: str
    modality: str
    mediaID: str | None
    mediaCount: int
    start_s: float | None
    end_s: float | None
    eventStart: str
    eventEnd: str
    observationType: str
    scientificName: str | None
    classificationProbability: float
    isInvasive: bool
    topK: list[tuple[str, float]]
    modelVersion: str
    classificationMethod: str
    classifiedBy: str
    classificationTimestamp: str
    taxonRank: str | None = Field(None, description="Darwin Core rank of scientificName (genus, family, ... "
                                  "after a roll-up)")
    classificationSource: str = Field("model", description="the rule behind the label: model, privacy, rollup, "
                                      "region, threshold-unknown, silence, speech or human (a review)")
    vernacularNameEN: str | None = None
    vernacularNameZH: str | None = None

    @classmethod
    def from_row(cls, row, catalogue: Catalogue) -> EventOut:
        """Build from an ORM row, adding the catalogue's vernacular names."""
        out = cls.model_validate(row)
        sp = catalogue.get(row.scientificName) if row.scientificName else None
        if sp is not None:
            out.vernacularNameEN = sp.vernacularNameEN or None
            out.vernacularNameZH = sp.vernacularNameZH or None
        return out


class EventPage(BaseModel):
    """One page of an events query (see :class:`DetectionPage`)."""

    total: int | None = None
    limit: int
    next_cursor: str | None = None
    items: list[EventOut]


class EventQuery(ObservationFilters):
    """Filters and paging of ``GET /v1/events``."""


class StatsQuery(BaseModel):
    """Common parameters of the statistics endpoints."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["media", "event"] = Field("media", description="count media-level detections or events")
    start: UtcInstant | None = None
    end: UtcInstant | None = None
    min_probability: Probability | None = None

    @model_validator(mode="after")
    def _check_range(self) -> StatsQuery:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


class CountsQuery(StatsQuery):
    """Parameters of ``GET /v1/stations/{stationID}/stats/counts``."""

    interval: Literal["day", "week", "month"] = "day"


class PeriodCountOut(BaseModel):
    """Records of one species in one local-time period (``YYYY-MM-DD``, ``YYYY-Www`` or ``YYYY-MM``)."""

    period: str
    scientificName: str
    count: int


class CountsOut(BaseModel):
    """Counts by species per period at one station."""

    stationID: str
    interval: str
    level: str
    counts: list[PeriodCountOut]


class DielOut(BaseModel):
    """Records per hour of local time (index 0 = 00:00-00:59) per species at one station."""

    stationID: str
    level: str
    hours: dict[str, list[int]]
    total: list[int]


class RichnessOut(BaseModel):
    """Species richness and accumulation at one station; sampling units are local days with records.

    ``maoTau[t-1]`` is the expected number of species in ``t`` days (sample-based rarefaction, Colwell,
    Mao & Chang 2004); ``collectorsCurve`` the cumulative species in date order; ``chao2`` the
    bias-corrected Chao2 estimate of total richness."""

    stationID: str
    level: str
    samplingUnits: list[str]
    observedRichness: int
    chao2: float
    collectorsCurve: list[int]
    maoTau: list[float]
    species: dict[str, int]
