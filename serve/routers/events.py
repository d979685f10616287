"""``GET /v1/events``: event-level observations (camera-trap sequences, acoustic detection events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from models.store.db import Event
from models.store.privacy import public_events
from serve.auth import PrincipalDep
from serve.routers.detections import listing_response
from serve.schemas import EventOut, EventPage, EventQuery

router = APIRouter(prefix="/v1", tags=["events"])
EVENT_FIELDS = [f for f in EventOut.model_fields if not f.startswith("vernacularName")]


@router.get("/events", response_model=EventPage,
            responses={200: {"content": {"text/csv": {}}, "description": "a page as JSON or CSV"}})
async def list_events(q: Annotated[EventQuery, Query()], request: Request, principal: PrincipalDep):
    """Events matching every given filter, with the same sorting, keyset paging and formats as
    ``/v1/detections``. Public callers never see events of people or vehicles."""
    return await listing_response(request, q, principal, Event, Event.eventID, EVENT_FIELDS,
                                  list(EventOut.model_fields), public_events, "events.csv")
