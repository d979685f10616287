"""What every page shares: the language, the interface strings, the viewer, CSRF tokens and rendering.

Languages: ``?lang=zh`` / ``?lang=en``, else the browser's ``Accept-Language``, else English. Interface
strings live in :data:`TEXT` (shared ones) and in each page module's own ``TEXT``, merged by
:func:`render`; species names come from the catalogue (``vernacularNameZH`` / ``vernacularNameEN``).

Who is looking (:func:`serve.web_session.get_viewer`): an API key header, else the signed session cookie
set by ``/signin``, else the public. Every form that changes something carries the session's CSRF token
(``csrf_token`` field or ``X-CSRF-Token`` header; checked by :func:`serve.web_session.require_csrf`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse

from serve.auth import Principal, Role
from serve.web_session import csrf_token

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

#: Interface strings shared by every page, per language (a page module adds its own in its ``TEXT``).
TEXT = {
    "en": {"title": "biodiv-obs observatory", "overview": "Overview", "detections": "Detections",
           "stations": "Stations", "review": "Review", "audio_review": "Audio review", "species_page": "Species",
           "statistics": "Statistics", "alerts_page": "Alerts", "upload": "Upload", "progress": "Review progress",
           "station": "Station", "all_time": "Detections (all time)", "last_week": "Last 7 days",
           "species": "Species seen", "alerts": "Open invasive alerts", "backlog": "Awaiting review",
           "time": "Time", "name": "Species", "type": "Observation", "probability": "Probability",
           "rule": "Rule", "modality": "Modality", "filter": "Filter", "next": "Next page", "any": "any",
           "none": "No detections match.", "public": "Public view: media with people or vehicles are hidden.",
           "min_probability": "Min. probability", "language": "中文", "untimed": "time unknown",
           "invasive": "invasive", "sign_in": "Sign in", "sign_out": "Sign out", "signed_in_as": "Signed in as",
           "api_key": "API key", "sign_in_help": "Paste the API key you were given (biodiv_…). It is checked "
           "once; the browser then keeps a signed session cookie.", "bad_key": "This key is unknown or revoked.",
           "csrf_failed": "The form expired; reload the page and try again.", "skip": "Skip to content",
           "forbidden": "Your role may not do this; sign in with a reviewer key."},
    "zh": {"title": "生物多样性观测站", "overview": "概览", "detections": "检测记录", "stations": "站点",
           "review": "审核", "audio_review": "声音审核", "species_page": "物种", "statistics": "统计",
           "alerts_page": "警报", "upload": "上传", "progress": "审核进度", "station": "站点",
           "all_time": "检测总数", "last_week": "最近 7 天", "species": "物种数", "alerts": "未处理的入侵物种警报",
           "backlog": "待审核", "time": "时间", "name": "物种", "type": "观测类型", "probability": "概率",
           "rule": "判定规则", "modality": "类型", "filter": "筛选", "next": "下一页", "any": "全部",
           "none": "没有符合条件的检测记录。", "public": "公开视图：含有人或车辆的媒体不显示。",
           "min_probability": "最低概率", "language": "English", "untimed": "时间未知", "invasive": "入侵物种",
           "sign_in": "登录", "sign_out": "退出", "signed_in_as": "当前用户", "api_key": "API 密钥",
           "sign_in_help": "粘贴发给您的 API 密钥（biodiv_…）。密钥只校验一次，之后浏览器保存一个签名的会话 Cookie。",
           "bad_key": "密钥无效或已被吊销。", "csrf_failed": "表单已过期，请刷新页面后重试。", "skip": "跳到正文",
           "forbidden": "您的角色无权执行此操作；请使用审核员密钥登录。"},
}

#: The navigation bar: (path, TEXT key, lowest role that sees the link).
NAV = [("/", "overview", Role.public), ("/detections", "detections", Role.public),
       ("/stations", "stations", Role.public), ("/species", "species_page", Role.public),
       ("/statistics", "statistics", Role.public), ("/review", "review", Role.reviewer),
       ("/review/audio", "audio_review", Role.reviewer), ("/alerts", "alerts_page", Role.reviewer),
       ("/upload", "upload", Role.uploader), ("/progress", "progress", Role.reviewer)]


@functools.cache
def templates():
    """The Jinja2 environment of ``serve/templates`` (autoescaping on; built once, on first use)."""
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


def render(request: Request, name: str, lang: str, viewer: Principal, *, text: dict | None = None,
           status_code: int = 200, **context) -> HTMLResponse:
    """Render template ``name`` with the shared context: ``t`` (the shared strings plus ``text[lang]``),
    ``lang`` / ``other`` (the switch target), ``viewer``, ``nav`` (links this viewer may follow), ``public``
    (no reviewer rights: the public view), ``csrf`` (the session's token, for forms) and ``vernacular(name)``
    (the catalogue's name in the page's language)."""
    from urllib.parse import urlencode

    strings = {**TEXT[lang], **((text or {}).get(lang, {}))}
    other = "en" if lang == "zh" else "zh"
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("lang", "cursor")]
    switch = f"{request.url.path}?{urlencode([*query, ('lang', other)])}"
    nav = [(path, strings[key]) for path, key, role in NAV if viewer.at_least(role)]
    context.setdefault("public", not viewer.at_least(Role.reviewer))
    catalogue = request.app.state.catalogue

    def vernacular(name: str | None) -> str:
        """The catalogue's name of ``name`` in the page's language (the scientific name when it has none)."""
        sp = catalogue.get(name) if name else None
        return (sp.vernacularNameZH if lang == "zh" else sp.vernacularNameEN) if sp else (name or "")

    return templates().TemplateResponse(
        request, name, {"t": strings, "lang": lang, "other": other, "switch_url": switch, "viewer": viewer,
                        "nav": nav, "csrf": csrf_token(request), "path": request.url.path,
                        "vernacular": vernacular, **context},
        status_code=status_code)
