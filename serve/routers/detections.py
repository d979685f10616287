"""``GET /v1/detections``: filtered, sorted detections with keyset pagination, as JSON or CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from starlette.concurrency import run_in_threadpool

from models.store.db import Detection
from models.store.privacy import public_detections
from models.taxonomy.catalogue import normalise_name
from serve.auth import PrincipalDep, Role
from serve.paging import (
    SortKey,
    csv_response,
    decode_cursor,
    encode_cursor,
    filters_digest,
    json_response,
    keyset_page,
    row_dicts,
    wants_csv,
)
from serve.schemas import DetectionOut, DetectionPage, DetectionQuery, EventOut, ListingParams

router = APIRouter(prefix="/v1", tags=["detections"])

#: Paging/format parameters: everything else in a query model is a filter (and binds the cursor).
PAGING_FIELDS = set(ListingParams.model_fields)
#: Columns of a detection item (``DetectionOut`` without the catalogue's vernacular names).
DETECTION_FIELDS = [f for f in DetectionOut.model_fields if not f.startswith("vernacularName")]
#: Columns a listing selects: the item fields of detections and events (plus the sort key).
ITEM_COLUMNS = set(DETECTION_FIELDS) | set(EventOut.model_fields) | {"detectionID", "eventID"}


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def listing_filters(model, q) -> list[ColumnElement[bool]]:
    """SQL conditions for a listing query's filters (AND-ed) on ``Detection`` or ``Event``; an untimed row
    fails any time filter."""
    conds: list[ColumnElement[bool]] = []
    for name in ("stationID", "deploymentID", "modality", "mediaID", "observationType", "eventID",
                 "classificationSource"):
        value = getattr(q, name, None)
        if value is not None:
            conds.append(getattr(model, name) == value)
    if q.invasive is not None:
        conds.append(model.isInvasive == q.invasive)
    if q.scientificName is not None:
        conds.append(func.lower(model.scientificName) == normalise_name(q.scientificName))
    if q.start is not None:
        conds.append(model.eventStartUTC >= _naive_utc(q.start))
    if q.end is not None:
        conds.append(model.eventStartUTC <= _naive_utc(q.end))
    if q.min_probability is not None:
        conds.append(model.classificationProbability >= q.min_probability)
    if getattr(q, "max_probability", None) is not None:
        conds.append(model.classificationProbability <= q.max_probability)
    if getattr(q, "reviewed", None) is not None:
        human = model.classificationMethod == "human"
        conds.append(human if q.reviewed else not_(human))
    lo, hi = getattr(q, "hour_from", None), getattr(q, "hour_to", None)
    if lo is not None or hi is not None:
        # eventStart is the local ISO 8601 time with offset ("2024-05-01T08:00:00+08:00"): characters 12-13
        # are the hour on the deployment's clock; untimed rows ("") fail the filter
        hour = func.substr(model.eventStart, 12, 2)
        timed = func.length(model.eventStart) >= 13
        lo_s, hi_s = f"{lo if lo is not None else 0:02d}", f"{hi if hi is not None else 23:02d}"
        conds.append(and_(timed, and_(hour >= lo_s, hour <= hi_s) if lo_s <= hi_s
                          else or_(hour >= lo_s, hour <= hi_s)))
    return conds


def detection_filters(q: DetectionQuery) -> list[ColumnElement[bool]]:
    """SQL conditions of a detections query (kept for callers of the earlier API)."""
    return listing_filters(Detection, q)


def check_limit(limit: int, maximum: int) -> None:
    """422 when ``limit`` exceeds the configured page size maximum."""
    if limit > maximum:
        raise RequestValidationError([{
            "type": "less_than_equal", "loc": ("query", "limit"), "input": limit,
            "msg": f"Input should be less than or equal to {maximum}",
        }])


def sort_key(model, pk, sort: str) -> tuple[SortKey, bool]:
    """The :class:`SortKey` and direction of a ``sort`` parameter."""
    name = sort.lstrip("-")
    if name == "eventStart":
        key = SortKey(model.eventStartUTC, pk, nullable=True, is_datetime=True)
    else:
        key = SortKey(getattr(model, name), pk, nullable=False)
    return key, sort.startswith("-")


def run_listing(session, model, pk, q, conds):
    """Rows of one page, the next cursor and (when asked) the total of a listing query."""
    key, descending = sort_key(model, pk, q.sort)
    digest = filters_digest({k: v for k, v in q.model_dump().items() if k not in PAGING_FIELDS})
    after = decode_cursor(q.cursor, q.sort, digest, key) if q.cursor else None
    columns = [c for c in model.__table__.columns if c.key in ITEM_COLUMNS or c.key == key.column.key]
    rows, last = keyset_page(session, select(*columns), conds, key, descending, q.limit, after)
    next_cursor = encode_cursor(q.sort, *last, digest) if last else None
    total = session.scalar(select(func.count()).select_from(model).where(*conds)) if q.include_total else None
    return rows, next_cursor, total


@router.get("/detections", response_model=DetectionPage,
            responses={200: {"content": {"text/csv": {}}, "description": "a page as JSON or CSV"}})
async def list_detections(q: Annotated[DetectionQuery, Query()], request: Request, principal: PrincipalDep):
    """Detections matching every given filter, sorted by ``sort`` (event time by default; untimed last),
    one page of ``limit`` at a time: pass the reply's ``next_cursor`` as ``cursor`` for the next page.

    Public callers never see detections of media that show people or vehicles. A filter that matches
    nothing gives an empty page (200). ``format=csv`` or ``Accept: text/csv`` answers CSV, with the next
    cursor in the ``X-Next-Cursor`` header.
    """
    return await listing_response(request, q, principal, Detection, Detection.detectionID, DETECTION_FIELDS,
                                  list(DetectionOut.model_fields), public_detections, "detections.csv")


async def listing_response(request: Request, q, principal, model, pk, item_fields: list[str], csv_columns: list[str],
                           public_filter, filename: str) -> Response:
    """Run a listing query in one worker thread (one session, no per-dependency thread hops) and answer
    JSON or CSV."""
    state = request.app.state
    check_limit(q.limit, state.settings.page_size_max)
    conds = listing_filters(model, q)
    if not principal.at_least(Role.reviewer):
        conds.append(public_filter())
    as_csv = wants_csv(request, q.format)

    def work() -> Response:
        with state.sessions() as session:
            rows, next_cursor, total = run_listing(session, model, pk, q, conds)
        items = row_dicts(rows, item_fields, state.catalogue)
        if as_csv:
            return csv_response(items, csv_columns, next_cursor, total, filename)
        return json_response({"total": total, "limit": q.limit, "next_cursor": next_cursor, "items": items})

    return await run_in_threadpool(work)
