"""``/stations``: stations and deployments (table), the deployments' effort over time and an offline map.

Coordinates come from :func:`serve.routers.stations.deployment_rows`, the API's reading: generalised for the
public where a sensitive species was seen. The map is drawn on the server (equirectangular, scale bar, no
tiles); the timeline shows one bar per deployment from ``deploymentStart`` to ``deploymentEnd``, or from its
first to its last media time when those are empty.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from models.store.db import Station
from models.store.insights import deployment_effort, detections_per_deployment
from serve import charts
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.pages.figures import audience, cached_svg, detections_url, strings
from serve.routers.stations import deployment_rows
from serve.web_session import ViewerDep

router = APIRouter(include_in_schema=False)

TEXT = strings({
    "en": {"deployment": "Deployment", "device": "Device", "coordinates": "Latitude, longitude", "timezone":
           "Time zone", "start": "Start", "end": "End", "media": "Media", "timeline": "Deployments over time (effort)",
           "timeline_caption": "One bar per deployment, from its start to its end (or from its first to its last "
                               "media time when those are not recorded); date in UTC.",
           "map": "Map of the deployments", "map_caption": "Deployment positions (WGS84, equirectangular projection "
           "centred on the stations; no basemap). Hollow points are generalised positions.", "date": "Date (UTC)",
           "no_stations": "No stations yet.", "no_coordinates": "No deployment has coordinates.",
           "uncertainty": "Uncertainty (m)"},
    "zh": {"deployment": "部署", "device": "设备", "coordinates": "纬度，经度", "timezone": "时区", "start": "开始",
           "end": "结束", "media": "媒体数", "timeline": "部署时间轴（观测努力）",
           "timeline_caption": "每个部署一条横条，从开始到结束（未记录时取其第一个到最后一个媒体的时间）；日期为 UTC。",
           "map": "部署位置图",
           "map_caption": "部署位置（WGS84，以站点为中心的等距圆柱投影；无底图）。空心点为模糊化后的位置。",
           "date": "日期（UTC）", "no_stations": "尚无站点。", "no_coordinates": "没有部署记录坐标。",
           "uncertainty": "不确定度（米）"},
})


def _instant(text: str | None) -> datetime | None:
    """Naive UTC of an ISO 8601 time (a time without offset is taken as UTC); None when empty or unreadable."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


@router.get("/stations", response_class=HTMLResponse)
def stations_page(request: Request, viewer: ViewerDep, lang: str | None = None) -> HTMLResponse:
    """Stations and their deployments with counts, the effort timeline and the map."""
    lang = language(request, lang)
    t = TEXT[lang]
    state = request.app.state
    conds = audience(viewer)
    who = "public" if conds else "reviewer"
    with state.sessions() as s:
        deps = deployment_rows(s, state.catalogue, state.settings, viewer, get_result_cache(request))
        # two GROUP BYs over every detection and media (the public's with its visibility probe per row, ~4 s at
        # 1,000,000 detections): cached for Settings.stats_cache_s, like the overview
        counts, effort = get_result_cache(request).get(
            ("stations-page", who), lambda: (detections_per_deployment(s, conds), deployment_effort(s)))
        names = dict(s.execute(select(Station.stationID, Station.stationName)).all())
        rows, spans, points = [], [], {}
        for d in deps:
            e = effort.get(d.deploymentID)
            start = _instant(d.deploymentStart) or (e.first if e else None)
            end = _instant(d.deploymentEnd) or (e.last if e else None)
            rows.append({"d": d, "station": names.get(d.stationID, ""), "media": e.media if e else 0,
                         "detections": counts.get(d.deploymentID, 0), "start": start, "end": end,
                         "url": detections_url(lang, stationID=d.stationID)})
            if start and end:
                spans.append((d.deploymentID, start, max(start, end)))
            if d.latitude is not None and d.longitude is not None:
                at = points.setdefault((d.latitude, d.longitude), [set(), False])
                at[0].add(d.stationID or d.deploymentID)
                at[1] = at[1] or bool(d.coordinatesGeneralised)
        marks = [(", ".join(sorted(ids)), lon, lat, coarse) for (lat, lon), (ids, coarse) in sorted(points.items())]
        timeline = cached_svg(request, s, ("timeline", who, lang), lambda: charts.timeline_svg(
            spans, prefix="timeline", title=t["timeline"], xlabel=t["date"]) if spans else None)
        map_svg = cached_svg(request, s, ("map", who, lang), lambda: charts.map_svg(
            marks, prefix="map", title=t["map"], generalised_label=t["generalised"]) if marks else None)
    return render(request, "stations.html", lang, viewer, text=TEXT, rows=rows, timeline=timeline, map_svg=map_svg,
                  spans=spans, marks=marks)
