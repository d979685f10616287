"""The observatory's first web pages, server-rendered (Jinja2) at ``/``: an overview per station and a
filterable detections list, in Chinese and English. The JSON API stays under ``/v1``.

Pages read through the same query code and access rules as the API (``serve.routers.detections``,
``models.store.privacy``): a visitor without a reviewer key sees the public view (no media of people or
vehicles). Language: ``?lang=zh`` / ``?lang=en``, else the browser's ``Accept-Language``. Pages load nothing
from another host (htmx 2 is vendored under ``/static/htmx``).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import case, distinct, func, select

from models.store.db import Alert, Detection, Station
from models.store.privacy import public_detections
from serve.auth import PrincipalDep, Role
from serve.cache import get_result_cache
from serve.paging import row_dicts
from serve.routers.detections import DETECTION_FIELDS, listing_filters, run_listing
from serve.schemas import DetectionQuery

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"

#: Interface strings per language (species names come from the catalogue).
TEXT = {
    "en": {"title": "biodiv-obs observatory", "overview": "Overview", "detections": "Detections",
           "station": "Station", "all_time": "Detections (all time)", "last_week": "Last 7 days",
           "species": "Species seen", "alerts": "Open invasive alerts", "backlog": "Awaiting review",
           "time": "Time", "name": "Species", "type": "Observation", "probability": "Probability",
           "rule": "Rule", "modality": "Modality", "filter": "Filter", "next": "Next page", "any": "any",
           "none": "No detections match.", "public": "Public view: media with people or vehicles are hidden.",
           "min_probability": "Min. probability", "language": "中文", "untimed": "time unknown",
           "invasive": "invasive"},
    "zh": {"title": "生物多样性观测站", "overview": "概览", "detections": "检测记录", "station": "站点",
           "all_time": "检测总数", "last_week": "最近 7 天", "species": "物种数", "alerts": "未处理的入侵物种警报",
           "backlog": "待审核", "time": "时间", "name": "物种", "type": "观测类型", "probability": "概率",
           "rule": "判定规则", "modality": "类型", "filter": "筛选", "next": "下一页", "any": "全部",
           "none": "没有符合条件的检测记录。", "public": "公开视图：含有人或车辆的媒体不显示。",
           "min_probability": "最低概率", "language": "English", "untimed": "时间未知", "invasive": "入侵物种"},
}


@functools.cache
def _templates():
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=str(TEMPLATES))


def language(request: Request, lang: str | None) -> str:
    """``zh`` or ``en``: the ``lang`` parameter, else the first supported ``Accept-Language`` entry, else ``en``."""
    if lang in TEXT:
        return lang
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()
        if code.startswith("zh"):
            return "zh"
        if code.startswith("en"):
            return "en"
    return "en"


def _render(request: Request, name: str, lang: str, **context) -> HTMLResponse:
    other = "en" if lang == "zh" else "zh"
    return _templates().TemplateResponse(request, name, {"t": TEXT[lang], "lang": lang, "other": other, **context})


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, principal: PrincipalDep, lang: str | None = None) -> HTMLResponse:
    """Per station: detections (all time and the last 7 days), species seen, open invasive alerts, and the
    review backlog; each figure links to the detections behind it. The figures are cached for
    ``Settings.stats_cache_s`` seconds (``serve.cache``), like the statistics API."""
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
            alerts = dict(s.execute(select(Detection.stationID, func.count()).join(Alert, Alert.detectionID ==
                                                                                  Detection.detectionID)
                                    .where(Alert.status == "open", *conds).group_by(Detection.stationID)).all())
        return [{"id": st or "", "name": names.get(st, ""), "total": n, "species": sp, "week": int(week or 0),
                 "backlog": int(backlog or 0), "alerts": alerts.get(st, 0)} for st, n, sp, week, backlog in rows]

    # aggregates over every detection (seconds at 1,000,000 rows): cached like the statistics API, for
    # Settings.stats_cache_s (benchmarks/pages.py)
    stations = get_result_cache(request).get(("overview", public), figures)
    return _render(request, "overview.html", lang, stations=stations, public=public)


@router.get("/detections", response_class=HTMLResponse)
def detections_page(request: Request, principal: PrincipalDep, lang: str | None = None,
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
    return _render(request, "detections.html", lang, items=items, next_cursor=next_cursor, filters=keep,
                   stations=stations, public=public, error=error)
