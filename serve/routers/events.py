"""``GET /v1/events``: event-level observations (camera-trap sequences, acoustic detection events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from models.db import Event
from models.privacy import public_events
from serve.auth import PrincipalDep, Role
from serve.deps import CatalogueDep, SessionDep, SettingsDep
from serve.paging import csv_response, json_response, row_dicts, wants_csv
from serve.routers.detections import check_limit, listing_filters, run_listing
from serve.schemas import EventOut, EventPage, EventQuery

router = APIRouter(prefix="/v1", tags=["events"])
EVENT_FIELDS = [f for f in EventOut.model_fields if not f.startswith("vernacularName")]


@router.get("/events", response_model=EventPage,
            responses={200: {"content": {"text/csv": {}}, "description": "a page as JSON or CSV"}})
def list_events(q: Annotated[EventQuery, Query()], request: Request, session: SessionDep, catalogue: CatalogueDep,
                settings: SettingsDep, principal: PrincipalDep):
    """Events matching every given filter, with the same sorting, keyset paging and formats as
    ``/v1/detections``. Public callers never see events of people or vehicles."""
    check_limit(q.limit, settings.page_size_max)
    conds = listing_filters(Event, q)
    if not principal.at_least(Role.reviewer):
        conds.append(public_events())
    rows, next_cursor, total = run_listing(session, Event, Event.eventID, q, conds)
    items = row_dicts(rows, EVENT_FIELDS, catalogue)
    if wants_csv(request, q.format):
        return csv_response(items, list(EventOut.model_fields), next_cursor, total, "events.csv")
    return json_response({"total": total, "limit": q.limit, "next_cursor": next_cursor, "items": items})
