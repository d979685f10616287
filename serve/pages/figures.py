"""What the insight pages (stations, species, statistics, progress) share: cached SVG figures, the data version
that keys the cache, the audience's SQL conditions and the strings of the figures.

A figure is drawn once per (figure, query, language, data version) and kept in the app's
:class:`~serve.cache.ResultCache` (in process and in the shared ``stats_cache`` table, like the statistics
API); the data version changes when detections, reviews, media or acoustic indices are added, so a new
review shows up at once and an unchanged database is never redrawn.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import func, select

from models.store.db import AcousticIndex, Detection, DetectionReview, Media
from models.store.privacy import visible_rows
from serve.auth import Principal, Role
from serve.cache import get_result_cache

#: Strings of the figures and tables, shared by the insight pages.
TEXT = {
    "en": {"numbers": "Numbers (table)", "no_data": "No data for this selection yet.", "count": "Detections",
           "hour": "Hour of day (local time of the deployment)", "period": "Period", "day": "Day", "week": "Week",
           "month": "Month", "interval": "Interval", "show": "Show", "reviewed_only": "Reviewed only",
           "diel": "Diel activity", "bad_input": "Not understood", "scientific": "Scientific name",
           "chinese": "Chinese name", "english": "English name", "search": "Search", "generalised":
           "generalised (sensitive species)", "share": "Share", "reviewed": "Reviewed", "total": "Total",
           "confirmed": "Confirmed", "corrected": "Corrected", "band": "Probability band"},
    "zh": {"numbers": "数据（表格）", "no_data": "此选择暂无数据。", "count": "检测次数",
           "hour": "一天中的小时（部署所在地当地时间）", "period": "时段", "day": "日", "week": "周", "month": "月",
           "interval": "时间间隔", "show": "显示", "reviewed_only": "仅已审核", "diel": "昼夜活动节律",
           "bad_input": "无法识别", "scientific": "学名", "chinese": "中文名", "english": "英文名", "search": "搜索",
           "generalised": "已模糊化（敏感物种）", "share": "比例", "reviewed": "已审核", "total": "总数",
           "confirmed": "确认", "corrected": "更正", "band": "概率区间"},
}


def strings(*tables: dict) -> dict:
    """The figure strings merged with a page module's own ``TEXT`` tables, per language."""
    return {lang: {k: v for table in (TEXT, *tables) for k, v in table.get(lang, {}).items()} for lang in TEXT}


def audience(viewer: Principal) -> list:
    """SQL conditions on ``Detection`` for this viewer: the public never sees media of people or vehicles."""
    return visible_rows(Detection, public=not viewer.at_least(Role.reviewer))


def data_version(session) -> tuple:
    """A cheap fingerprint of the data the figures are drawn from (row counts and the newest review)."""
    return (session.scalar(select(func.count()).select_from(Detection)),
            session.scalar(select(func.max(DetectionReview.reviewID))),
            session.scalar(select(func.count()).select_from(Media)),
            session.scalar(select(func.count()).select_from(AcousticIndex)))


def cached_svg(request: Request, session, key: tuple, draw: Callable[[], str | None]) -> str | None:
    """The SVG text of figure ``key`` (which must name the figure, its query, the language and the audience),
    drawn by ``draw()`` on a miss; None (no data) is cached as well."""
    cache = get_result_cache(request)
    value = cache.get(("page-svg", *key, data_version(session)), lambda: (draw() or "").encode(), persist=True)
    return value.decode() or None


def detections_url(lang: str, **filters) -> str:
    """The detections list filtered by ``filters`` (empty values left out)."""
    return "/detections?" + urlencode([*((k, v) for k, v in filters.items() if v not in (None, "")), ("lang", lang)])
