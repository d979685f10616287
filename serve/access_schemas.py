"""API schemas of keys, jobs, reviews and alerts (pydantic)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from serve.schemas import DetectionOut


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: A time stored as naive UTC, returned with its ``Z`` offset.
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class KeyIn(BaseModel):
    """A key to create: its role and a display name (e.g. the station or person using it)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["uploader", "reviewer", "admin"]
    name: str = Field(min_length=1, max_length=128, pattern=r"\S")


class KeyOut(BaseModel):
    """A stored key (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    key_id: str
    name: str
    role: str
    created: UtcDatetime
    revoked: UtcDatetime | None



class NewKeyOut(KeyOut):
    """A newly created key; ``token`` is the secret to send as ``X-API-Key``, shown only this once."""

    token: str


class WhoAmIOut(BaseModel):
    """The caller as the service sees it."""

    role: str
    key_id: str | None
    name: str


class JobOut(BaseModel):
    """A background job: ``state`` queued / running / done / failed; ``reason`` says why it failed;
    when done, ``mediaID`` and ``detections`` (count) point at the result (``/v1/detections?mediaID=``)."""

    model_config = ConfigDict(from_attributes=True)

    jobID: str
    kind: str
    state: Literal["queued", "running", "done", "failed"]
    reason: str
    deploymentID: str
    fileName: str
    duration_s: float | None
    mediaID: str | None
    detections: int | None
    created: UtcDatetime
    started: UtcDatetime | None
    finished: UtcDatetime | None



class JobAccepted(BaseModel):
    """``202`` reply of ``POST /v1/media`` for a long recording: poll ``statusURL``."""

    duplicate: bool
    job: JobOut
    statusURL: str


class ReviewIn(BaseModel):
    """A review: ``confirm`` the current label, ``correct`` it to ``scientificName`` (an animal
    species of the catalogue) or to another ``observationType`` (``blank``, ``human``, ``vehicle`` ...), or
    ``uncertain`` (the reviewer cannot tell: the detection stays as the machine classified it, the review is
    recorded in its history and the review queues skip it)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["confirm", "correct", "uncertain"]
    scientificName: str | None = Field(None, min_length=1, max_length=256)
    observationType: Literal["animal", "human", "vehicle", "blank", "unknown", "unclassified"] | None = None
    comment: str = Field("", max_length=1024)


class ReviewOut(BaseModel):
    """One review as stored; ``before`` is the classification it replaced."""

    model_config = ConfigDict(from_attributes=True)

    reviewID: int
    detectionID: str
    action: str
    observationType: str
    scientificName: str | None
    classifiedBy: str
    classificationTimestamp: str
    comment: str
    before: dict


class ReviewedOut(BaseModel):
    """Result of a review: the detection as now stored, and the review record."""

    detection: DetectionOut
    review: ReviewOut


class AlertOut(BaseModel):
    """One invasive-species alert: ``cursor`` resumes the feed right after it."""

    cursor: str
    created: UtcDatetime
    detection: dict
    alertID: int | None = Field(None, description="the alert's ID (for the workflow actions)")
    status: str = Field("open", description="open, acknowledged, resolved (the workflow), or withdrawn when a "
                                            "review corrected the detection to something not invasive")
    withdrawn: UtcDatetime | None = None
    withdrawnReason: str = ""
    acknowledged: UtcDatetime | None = None
    acknowledgedBy: str = ""
    resolved: UtcDatetime | None = None
    resolvedBy: str = ""



class AlertPage(BaseModel):
    """A page of the alert feed; pass ``next`` as ``since`` to get newer alerts (it stays the same when none)."""

    items: list[AlertOut]
    next: str | None
