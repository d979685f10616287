"""Browsing pages: the overview per station (``/``) and the filterable detections list (``/detections``).

Pages read through the same query code and access rules as the API (``serve.routers.detections``,
``models.store.privacy``): a visitor without a reviewer key sees the public view (no media of people or
vehicles). Language: ``?lang=zh`` / ``?lang=en``, else the browser's ``Accept-Language``. Pages load nothing
from another host (htmx 2 is vendored under ``/static/htmx``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import case, distinct, func, select

from models.store.db import Alert, Detection, Station
from models.store.privacy import public_detections
from serve.auth import Role
from serve.pages.common import language, render
from serve.paging import row_dicts
from serve.routers.detections import DETECTION_FIELDS, listing_filters, run_listing
from serve.schemas import DetectionQuery
from serve.web_session import ViewerDep

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: ViewerDep, lang: str | None = None) -> HTMLResponse:
    """Per station: detections (all time and the last 7 days), species seen, open invasive alerts, and the
    review backlog; each figure links to the detections behind it."""
    lang = language(request, lang)
    public = not principal.at_least(Role.reviewer)
    since = (datetime.now(UTC) - timedelta(days=7)).replace(tzinfo=None)
    conds = [public_detections()] if public else []
    with request.app.state.sessions() as s:
        names = dict(s.execute(select(Station.stationID, Station.stationName)).all())
        rows = s.execute(select(Detection.stationID, func.count(), func.count(distinct(Detection.scientificName)),
                                func.sum(case((Detection.eventStartUTC >= since, 1), else_=0)),
                                func.sum(case((Detection.classificationMethod == "machine", 1), else_=0)))
                         .where(*conds).group_by(Detection.stationID).order_by(Detection.stationID)).all()
        alerts = dict(s.execute(select(Detection.stationID, func.count()).join(Alert, Alert.detectionID ==
                                                                              Detection.detectionID)
                                .where(Alert.status == "open", *conds).group_by(Detection.stationID)).all())
    stations = [{"id": st or "", "name": names.get(st, ""), "total": n, "species": sp, "week": int(week or 0),
                 "backlog": int(backlog or 0), "alerts": alerts.get(st, 0)} for st, n, sp, week, backlog in rows]
    return render(request, "overview.html", lang, principal, stations=stations)


@router.get("/detections", response_class=HTMLResponse)
def detections_page(request: Request, principal: ViewerDep, lang: str | None = None,
                    stationID: Annotated[str | None, Query(max_length=64)] = None,
                    scientificName: Annotated[str | None, Query(max_length=256)] = None,
                    modality: Annotated[str | None, Query(max_length=16)] = None,
                    observationType: Annotated[str | None, Query(max_length=16)] = None,
                    classificationSource: Annotated[str | None, Query(max_length=24)] = None,
                    min_probability: Annotated[str | None, Query(max_length=16)] = None,
                    invasive: Annotated[str | None, Query(max_length=5)] = None,
                    cursor: Annotated[str | None, Query(max_length=2048)] = None) -> HTMLResponse:
    """The detections list: the API's filters and keyset paging (``GET /v1/detections``), 50 per page."""
    lang = language(request, lang)
    raw = {"stationID": stationID, "scientificName": scientificName, "modality": modality,
           "observationType": observationType, "classificationSource": classificationSource,
           "min_probability": min_probability, "invasive": invasive, "cursor": cursor}
    given = {k: v for k, v in raw.items() if v not in (None, "")}
    error = ""
    try:
        q = DetectionQuery(limit=50, sort="-eventStart", **given)
    except ValidationError as exc:
        error = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        q = DetectionQuery(limit=50, sort="-eventStart")
    public = not principal.at_least(Role.reviewer)
    conds = listing_filters(Detection, q) + ([public_detections()] if public else [])
    state = request.app.state
    with state.sessions() as s:
        rows, next_cursor, _ = run_listing(s, Detection, Detection.detectionID, q, conds)
        stations = list(s.scalars(select(Station.stationID).order_by(Station.stationID)))
    items = row_dicts(rows, DETECTION_FIELDS, state.catalogue)  # the API's items, vernacular names included
    for item in items:
        vernacular = item["vernacularNameZH" if lang == "zh" else "vernacularNameEN"]
        item["label"] = vernacular or item["scientificName"] or item["observationType"]
    keep = {k: v for k, v in given.items() if k != "cursor"}
    return render(request, "detections.html", lang, principal, items=items, next_cursor=next_cursor, filters=keep,
                  stations=stations, error=error)
