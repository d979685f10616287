"""Browsing pages: the overview per station (``/``) and the filterable detections list (``/detections``).

Pages read through the same query code and access rules as the API (``serve.routers.detections``,
``models.store.privacy``): a visitor without a reviewer key sees the public view (no media of people or
vehicles). Language: ``?lang=zh`` / ``?lang=en``, else the browser's ``Accept-Language``. Pages load nothing
from another host (htmx 2 is vendored under ``/static/htmx``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import case, distinct, func, select

from models.store.alerts import ACTIVE_STATES
from models.store.db import Alert, Deployment, Detection, Station
from models.store.privacy import public_detections
from serve.auth import Role
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.paging import row_dicts
from serve.routers.detections import DETECTION_FIELDS, listing_filters, run_listing
from serve.schemas import DetectionQuery
from serve.web_session import ViewerDep

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: ViewerDep, lang: str | None = None) -> HTMLResponse:
    """Per station: detections (all time and the last 7 days), species seen, open invasive alerts, and the
    review backlog; each figure links to the detections behind it. The figures are cached for
    ``Settings.stats_cache_s`` seconds (``serve.cache``), like the statistics API: they aggregate over every
    detection (seconds at 1,000,000 rows, ``benchmarks/pages.py``)."""
    lang = language(request, lang)
    public = not principal.at_least(Role.reviewer)

    def figures() -> list[dict]:
        since = (datetime.now(UTC) - timedelta(days=7)).replace(tzinfo=None)
        conds = [public_detections()] if public else []
        with request.app.state.sessions() as s:
            names = dict(s.execute(select(Station.stationID, Station.stationName)).all())
            rows = s.execute(select(Detection.stationID, func.count(), func.count(distinct(Detection.scientificName)),
                                    func.sum(case((Detection.eventStartUTC >= since, 1), else_=0)),
                                    func.sum(case((Detection.classificationMethod == "machine", 1), else_=0)))
                             .where(*conds).group_by(Detection.stationID).order_by(Detection.stationID)).all()
            alerts = dict(s.execute(select(Detection.stationID, func.count())
                                    .join(Alert, Alert.detectionID == Detection.detectionID)
                                    .where(Alert.status.in_(ACTIVE_STATES), *conds)
                                    .group_by(Detection.stationID)).all())
        return [{"id": st or "", "name": names.get(st, ""), "total": n, "species": sp, "week": int(week or 0),
                 "backlog": int(backlog or 0), "alerts": alerts.get(st, 0)} for st, n, sp, week, backlog in rows]

    stations = get_result_cache(request).get(("overview", public), figures)
    return render(request, "overview.html", lang, principal, stations=stations)


#: The page's filter fields, as the API names them (``SelectionFilters``), plus the page-only date range.
FILTER_FIELDS = ("stationID", "deploymentID", "scientificName", "modality", "observationType", "classificationSource",
                 "min_probability", "max_probability", "hour_from", "hour_to", "reviewed", "invasive")
TEXT = {
    "en": {"deployment": "Deployment", "date_from": "From (date)", "date_to": "To (date)", "hours": "Time of day (h)",
           "max_probability": "Max. probability", "review_status": "Review", "reviewed": "reviewed",
           "unreviewed": "not reviewed", "yes": "yes", "no": "no", "export": "Export this selection:",
           "media": "Media", "did_you_mean": "Several species match; pick one:", "clear": "Clear filters",
           "search_hint": "scientific, English or Chinese name", "play": "play window", "review_it": "review"},
    "zh": {"deployment": "布设", "date_from": "起始日期", "date_to": "截止日期", "hours": "一天中的时段（时）",
           "max_probability": "最高概率", "review_status": "审核", "reviewed": "已审核", "unreviewed": "未审核",
           "yes": "是", "no": "否", "export": "导出当前筛选：", "media": "媒体",
           "did_you_mean": "有多个物种匹配，请选择：", "clear": "清除筛选", "search_hint": "学名、英文名或中文名",
           "play": "播放片段", "review_it": "审核"},
}


def _day_bounds(text: str | None, tz: str, end: bool) -> str | None:
    """``YYYY-MM-DD`` -> ISO 8601 instant at the start (or the last second) of that day in ``tz``."""
    from datetime import date, time
    from zoneinfo import ZoneInfo

    if not text:
        return None
    day = date.fromisoformat(text)
    return datetime.combine(day, time(23, 59, 59) if end else time(0), ZoneInfo(tz)).isoformat()


@router.get("/detections", response_class=HTMLResponse)
def detections_page(request: Request, principal: ViewerDep, lang: str | None = None,
                    date_from: Annotated[str | None, Query(max_length=10)] = None,
                    date_to: Annotated[str | None, Query(max_length=10)] = None,
                    cursor: Annotated[str | None, Query(max_length=2048)] = None) -> HTMLResponse:
    """The detections list: the API's filters (``SelectionFilters``; species also by English or Chinese name,
    calendar dates in ``Settings.local_timezone``) and keyset paging (``GET /v1/detections``), 50 per page,
    thumbnails of images, links to the exports of the same selection."""
    lang = language(request, lang)
    state = request.app.state
    catalogue = state.catalogue
    params = request.query_params
    given = {k: params[k].strip() for k in FILTER_FIELDS if params.get(k, "").strip()}
    errors, choices = [], []
    if "scientificName" in given:  # a vernacular name or part of one becomes the catalogue's scientific name
        found = catalogue.search(given["scientificName"])
        if len(found) == 1:
            given["scientificName"] = found[0].scientificName
        elif len(found) > 1:
            choices = found
    dates = {"date_from": date_from or "", "date_to": date_to or ""}
    query = dict(given)
    try:
        query["start"] = _day_bounds(date_from, state.settings.local_timezone, end=False)
        query["end"] = _day_bounds(date_to, state.settings.local_timezone, end=True)
    except ValueError:
        errors.append("date: expected YYYY-MM-DD")
        query.pop("start", None)
        query.pop("end", None)
    query = {k: v for k, v in query.items() if v is not None}
    try:
        q = DetectionQuery(limit=50, sort="-eventStart", cursor=cursor, **query)
    except ValidationError as exc:
        errors += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        q = DetectionQuery(limit=50, sort="-eventStart")
    public = not principal.at_least(Role.reviewer)
    conds = listing_filters(Detection, q) + ([public_detections()] if public else [])
    with state.sessions() as s:
        rows, next_cursor, _ = run_listing(s, Detection, Detection.detectionID, q, conds)
        stations = list(s.scalars(select(Station.stationID).order_by(Station.stationID)))
        deployments = list(s.scalars(select(Deployment.deploymentID).order_by(Deployment.deploymentID)))
    items = row_dicts(rows, DETECTION_FIELDS, catalogue)  # the API's items, vernacular names included
    for item in items:
        vernacular = item["vernacularNameZH" if lang == "zh" else "vernacularNameEN"]
        item["label"] = vernacular or item["scientificName"] or item["observationType"]
    keep = {**given, **{k: v for k, v in dates.items() if v}}
    selection = urlencode([(k, v) for k, v in query.items()])
    names = [(sp.scientificName, sp.vernacularNameZH if lang == "zh" else sp.vernacularNameEN) for sp in catalogue]
    return render(request, "detections.html", lang, principal, text=TEXT, items=items, next_cursor=next_cursor,
                  filters=keep, stations=stations, deployments=deployments, error="; ".join(errors),
                  choices=choices, selection=selection, names=names)
