"""``GET /v1/stations/{stationID}/acoustic-indices``: soundscape indices of a station over time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from models.store.db import Deployment, Station
from models.store.insights import acoustic_indices
from serve.deps import SessionDep
from serve.schemas import UtcInstant

router = APIRouter(prefix="/v1", tags=["soundscape"])


class AcousticIndexOut(BaseModel):
    """Indices of one segment of one recording (see ``models.inference.acoustic_indices`` for definitions and
    sources); an index that is undefined for the segment (e.g. digital silence) is null."""

    model_config = ConfigDict(from_attributes=True)

    mediaID: str
    deploymentID: str
    start_s: float
    end_s: float
    segmentStart: str
    sample_rate_hz: int
    ACI: float | None
    NDSI: float | None
    ADI: float | None
    AEI: float | None
    BI: float | None
    H: float | None
    Ht: float | None
    Hf: float | None


class AcousticIndexPage(BaseModel):
    """A station's index segments in time order; ``total`` counts every match, not only this page."""

    stationID: str
    total: int
    limit: int
    offset: int
    items: list[AcousticIndexOut]


class IndexQuery(BaseModel):
    """Filters: ``start``/``end`` (ISO 8601 with offset, inclusive, on the segment start; segments of
    recordings without a known time are left out of time queries), ``deploymentID``, paging."""

    model_config = ConfigDict(extra="forbid")

    start: UtcInstant | None = None
    end: UtcInstant | None = None
    deploymentID: str | None = None
    limit: int = Field(500, ge=1, le=5000)
    offset: int = Field(0, ge=0, le=2**53)

    @model_validator(mode="after")
    def _check_range(self) -> IndexQuery:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


@router.get("/stations/{stationID}/acoustic-indices", response_model=AcousticIndexPage)
def station_indices(stationID: str, q: Annotated[IndexQuery, Query()], session: SessionDep) -> AcousticIndexPage:
    """Acoustic indices (ACI, NDSI, ADI, AEI, BI, H) per recording segment of one station, by time.

    Raises:
        HTTPException: 404 when no station or deployment has this ``stationID``; a known station
            without indices (or none in the range) gives 200 with no items.
    """
    known = session.get(Station, stationID) is not None or session.scalar(
        select(func.count()).select_from(Deployment).where(Deployment.stationID == stationID))
    if not known:
        raise HTTPException(status_code=404, detail=f"unknown station {stationID!r}")
    total, rows = acoustic_indices(session, stationID, q.deploymentID, _utc(q.start) if q.start else None,
                                   _utc(q.end) if q.end else None, q.limit, q.offset)
    return AcousticIndexPage(stationID=stationID, total=total, limit=q.limit, offset=q.offset,
                             items=[AcousticIndexOut.model_validate(r) for r in rows])
