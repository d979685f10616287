"""``GET /v1/detections``: filtered, paged detections."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, func, select

from models.catalogue import normalise_name
from models.db import Detection
from serve.deps import CatalogueDep, SessionDep, SettingsDep
from serve.schemas import DetectionOut, DetectionPage, DetectionQuery

router = APIRouter(prefix="/v1", tags=["detections"])


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def detection_filters(q: DetectionQuery) -> list[ColumnElement[bool]]:
    """SQL conditions for the query's filters (AND-ed); an untimed detection fails any time filter."""
    conds: list[ColumnElement[bool]] = []
    for column, value in ((Detection.stationID, q.stationID), (Detection.deploymentID, q.deploymentID),
                          (Detection.modality, q.modality), (Detection.mediaID, q.mediaID),
                          (Detection.observationType, q.observationType), (Detection.isInvasive, q.invasive)):
        if value is not None:
            conds.append(column == value)
    if q.scientificName is not None:
        conds.append(func.lower(Detection.scientificName) == normalise_name(q.scientificName))
    if q.start is not None:
        conds.append(Detection.eventStartUTC >= _naive_utc(q.start))
    if q.end is not None:
        conds.append(Detection.eventStartUTC <= _naive_utc(q.end))
    if q.min_probability is not None:
        conds.append(Detection.classificationProbability >= q.min_probability)
    return conds


@router.get("/detections", response_model=DetectionPage)
def list_detections(q: Annotated[DetectionQuery, Query()], session: SessionDep, catalogue: CatalogueDep,
                    settings: SettingsDep) -> DetectionPage:
    """Detections matching every given filter, ordered by event time (untimed last), media and offset.

    A filter that matches nothing gives ``total`` 0 and no items.
    """
    if q.limit > settings.page_size_max:
        raise RequestValidationError([{
            "type": "less_than_equal", "loc": ("query", "limit"), "input": q.limit,
            "msg": f"Input should be less than or equal to {settings.page_size_max}",
        }])
    conds = detection_filters(q)
    total = session.scalar(select(func.count()).select_from(Detection).where(*conds)) or 0
    rows = session.scalars(
        select(Detection).where(*conds)
        .order_by(Detection.eventStartUTC.is_(None), Detection.eventStartUTC, Detection.mediaID,
                  Detection.start_s, Detection.detectionID)
        .limit(q.limit).offset(q.offset)
    ).all()
    return DetectionPage(total=total, limit=q.limit, offset=q.offset,
                         items=[DetectionOut.from_row(r, catalogue) for r in rows])
