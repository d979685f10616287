"""The invasive-species alerts desk (``/alerts``, reviewer): the evidence of every alert, the workflow
open -> acknowledged -> resolved, and a one-click review of the detection behind an alert.

Every change goes through the core: :func:`models.store.alerts.transition_alert` for the workflow (who and
when are recorded; an invalid step is refused with 409) and :func:`models.store.review.review_detection`
for confirm / "not this species" (a correction to something not invasive withdraws the alert there). Alerts
still asking for attention are shown in two sections: machine-only (no person has looked at the detection
yet) and confirmed by a reviewer; resolved and withdrawn ones are listed apart (greyed).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from models.store.alerts import ACTIVE_STATES, AlertTransitionError, transition_alert
from models.store.db import Alert, Detection, Station
from models.store.review import ReviewError, review_detection
from serve.auth import Principal, Role
from serve.pages.common import language, render
from serve.pages.upload import OBSERVATION_TEXT
from serve.web_session import CsrfDep, needs

router = APIRouter(include_in_schema=False)
ReviewerPage = Annotated[Principal, Depends(needs(Role.reviewer))]
AlertID = Annotated[int, Path(ge=1, le=2**62)]
#: Most alerts listed per section (newest first).
SECTION_LIMIT = 200
#: Sections of the page, in order.
SECTIONS = ("machine", "confirmed", "resolved", "withdrawn")

TEXT = {
    "en": {"alerts_title": "Invasive-species alerts", "sec_machine": "Machine only: not yet confirmed by a person",
           "sec_confirmed": "Confirmed by a reviewer", "sec_resolved": "Resolved",
           "sec_withdrawn": "Withdrawn (a review found no invasive species)", "no_alerts": "No alerts here.",
           "how_sure": "How sure", "machine_says": "model", "human_says": "reviewer",
           "evidence": "Evidence", "deployment": "Deployment", "alerted": "Alerted", "status": "Status",
           "st_open": "open", "st_acknowledged": "acknowledged", "st_resolved": "resolved",
           "st_withdrawn": "withdrawn", "by": "by", "acknowledge": "Acknowledge", "resolve": "Resolve",
           "confirm": "Confirm species", "not_species": "Not this species", "correct_to": "Correct to",
           "unknown_label": "unknown (not this species)", "blank_label": "blank (nothing there)",
           "open_image": "open the image", "spectrogram_alt": "Spectrogram of the detection window",
           "image_alt": "Camera-trap image", "now_labelled": "Now labelled", "no_detection":
           "The detection behind this alert is gone (re-published); the alert keeps what was seen.",
           "done_acknowledge": "Alert acknowledged.", "done_resolve": "Alert resolved.",
           "done_confirm": "Detection confirmed.", "done_correct": "Detection corrected.",
           "window": "window", "shown_first": "newest first, at most", "workflow":
           "Workflow: open → acknowledged → resolved. A correction to a species that is not invasive withdraws "
           "the alert."},
    "zh": {"alerts_title": "入侵物种警报", "sec_machine": "仅机器识别：尚未经人工确认",
           "sec_confirmed": "已由审核员确认",
           "sec_resolved": "已处理", "sec_withdrawn": "已撤回（审核认定不是入侵物种）", "no_alerts": "这里没有警报。",
           "how_sure": "把握程度", "machine_says": "模型", "human_says": "审核员", "evidence": "证据",
           "deployment": "设备部署", "alerted": "警报时间", "status": "状态", "st_open": "未处理",
           "st_acknowledged": "已知悉", "st_resolved": "已处理", "st_withdrawn": "已撤回", "by": "操作人",
           "acknowledge": "知悉", "resolve": "处理完毕", "confirm": "确认物种", "not_species": "不是该物种",
           "correct_to": "更正为", "unknown_label": "未知（不是该物种）", "blank_label": "空拍（没有动物）",
           "open_image": "打开原图", "spectrogram_alt": "检测时间窗的声谱图", "image_alt": "红外相机图像",
           "now_labelled": "现标注为",
           "no_detection": "该警报对应的检测记录已不存在（已重新发布）；警报保留当时的内容。",
           "done_acknowledge": "已标记为知悉。", "done_resolve": "已标记为处理完毕。", "done_confirm": "检测已确认。",
           "done_correct": "检测已更正。",            "window": "时间窗", "shown_first": "最新的在前，最多",
           "workflow": "流程：未处理 → 已知悉 → 已处理。更正为非入侵物种时警报自动撤回。"},
}
for _lang in TEXT:
    TEXT[_lang].update(OBSERVATION_TEXT[_lang])


def _names(catalogue, name: str | None) -> dict:
    """``{"sci", "zh", "en"}`` of a scientific name (vernacular names from the catalogue; empty when unknown)."""
    sp = catalogue.get(name) if name else None
    return {"sci": name or "", "zh": (sp.vernacularNameZH if sp else "") or "",
            "en": (sp.vernacularNameEN if sp else "") or ""}


def _alternatives(catalogue, det: Detection | None) -> list[dict]:
    """The model's other candidates (``topK``) that are catalogue species, for the "correct to" choice."""
    if det is None:
        return []
    out = []
    for entry in det.topK or []:
        name = entry[0] if isinstance(entry, list | tuple) and entry else None
        if name and name != det.scientificName and catalogue.get(name) is not None:
            out.append(_names(catalogue, catalogue.get(name).scientificName))
    return out


def alert_items(session, catalogue) -> dict[str, list[dict]]:
    """The alerts by page section (:data:`SECTIONS`), newest first, each with its evidence and detection."""
    stations = dict(session.execute(select(Station.stationID, Station.stationName)).all())
    sections: dict[str, list[dict]] = {s: [] for s in SECTIONS}
    base = select(Alert, Detection).outerjoin(Detection, Detection.detectionID == Alert.detectionID)
    active = Alert.status.not_in(("withdrawn", "resolved"))
    human = Detection.classificationMethod == "human"
    where = {"withdrawn": Alert.status == "withdrawn", "resolved": Alert.status == "resolved",
             "confirmed": active & human, "machine": active & (Detection.detectionID.is_(None) | ~human)}
    rows = []  # one query per section, SECTION_LIMIT rows each (not every alert: 100,000 at 1M detections)
    for sec in SECTIONS:
        rows += session.execute(base.where(where[sec]).order_by(Alert.alertID.desc()).limit(SECTION_LIMIT)).all()
    rows.sort(key=lambda row: -row[0].alertID)
    for alert, det in rows:
        p = alert.payload or {}
        human = det is not None and det.classificationMethod == "human"
        if alert.status == "withdrawn":
            section = "withdrawn"
        elif alert.status == "resolved":
            section = "resolved"
        else:
            section = "confirmed" if human else "machine"
        if len(sections[section]) >= SECTION_LIMIT:
            continue
        station = (det.stationID if det else None) or p.get("stationID") or ""
        sections[section].append({
            "id": alert.alertID, "status": alert.status, "created": alert.created, "section": section,
            "acknowledged": alert.acknowledged, "acknowledgedBy": alert.acknowledgedBy,
            "resolved": alert.resolved, "resolvedBy": alert.resolvedBy, "withdrawn": alert.withdrawn,
            "withdrawnReason": alert.withdrawnReason, "detectionID": alert.detectionID,
            "mediaID": (det.mediaID if det else None) or p.get("mediaID"),
            "modality": (det.modality if det else None) or p.get("modality"),
            "start_s": det.start_s if det else p.get("start_s"), "end_s": det.end_s if det else p.get("end_s"),
            "eventStart": (det.eventStart if det else None) or p.get("eventStart") or "",
            "stationID": station, "stationName": stations.get(station, ""),
            "deploymentID": (det.deploymentID if det else None) or p.get("deploymentID") or "",
            "alerted": _names(catalogue, p.get("scientificName")),
            "probability": p.get("classificationProbability"), "human": human, "exists": det is not None,
            "current": _names(catalogue, det.scientificName) if det else None,
            "currentType": det.observationType if det else "", "classifiedBy": det.classifiedBy if det else "",
            "active": alert.status in ACTIVE_STATES, "alternatives": _alternatives(catalogue, det)})
    return sections


def _page(request: Request, viewer: Principal, lang: str, *, done: str | None = None, error: str = "",
          at: int | None = None, status_code: int = 200) -> HTMLResponse:
    with request.app.state.sessions() as s:
        sections = alert_items(s, request.app.state.catalogue)
    return render(request, "alerts.html", lang, viewer, text=TEXT, sections=sections, order=SECTIONS,
                  done=done if done in ("acknowledge", "resolve", "confirm", "correct") else None, error=error,
                  at=at, limit=SECTION_LIMIT, status_code=status_code)


def _back(lang: str, done: str, alert_id: int) -> RedirectResponse:
    return RedirectResponse(f"/alerts?lang={lang}&done={done}&at={alert_id}#alert-{alert_id}", status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, viewer: ReviewerPage, lang: str | None = None,
                done: Annotated[str | None, Query(max_length=16)] = None,
                at: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> HTMLResponse:
    """The alerts desk: open and acknowledged alerts (machine-only apart from confirmed), then resolved and
    withdrawn ones, each with its evidence, species, how sure the model was, station, time and actions."""
    return _page(request, viewer, language(request, lang), done=done, at=at)


@router.post("/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
def acknowledge(request: Request, alert_id: AlertID, _: CsrfDep, viewer: ReviewerPage,
                lang: Annotated[str | None, Form(max_length=5)] = None):
    """open -> acknowledged (who and when recorded); 409 with the page when the alert is not open."""
    return _step(request, viewer, alert_id, "acknowledge", language(request, lang))


@router.post("/alerts/{alert_id}/resolve", response_class=HTMLResponse)
def resolve(request: Request, alert_id: AlertID, _: CsrfDep, viewer: ReviewerPage,
            lang: Annotated[str | None, Form(max_length=5)] = None):
    """acknowledged -> resolved (who and when recorded); 409 with the page when it is not acknowledged."""
    return _step(request, viewer, alert_id, "resolve", language(request, lang))


def _step(request: Request, viewer: Principal, alert_id: int, action: str, lang: str):
    with request.app.state.sessions() as s:
        try:
            transition_alert(s, alert_id, action, viewer.name)
        except AlertTransitionError as exc:
            return _page(request, viewer, lang, error=str(exc), status_code=exc.status)
    return _back(lang, action, alert_id)


@router.post("/alerts/{alert_id}/review", response_class=HTMLResponse)
def review(request: Request, alert_id: AlertID, _: CsrfDep, viewer: ReviewerPage,
           action: Annotated[str, Form(max_length=16)],
           correct_to: Annotated[str, Form(max_length=256)] = "unknown",
           lang: Annotated[str | None, Form(max_length=5)] = None):
    """One-click review of the alert's detection through :func:`models.store.review.review_detection`:
    ``confirm``, or ``correct`` to ``correct_to`` (``unknown``, ``blank`` or a catalogue species); a
    correction to something not invasive withdraws the alert."""
    lang = language(request, lang)
    with request.app.state.sessions() as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            return _page(request, viewer, lang, error=f"no alert with ID {alert_id}", status_code=404)
        kind = {"unknown": "unknown", "blank": "blank"}.get(correct_to)
        try:
            review_detection(s, alert.detectionID, action=action, reviewer=viewer.name,
                             catalogue=request.app.state.catalogue,
                             scientific_name=None if kind or action != "correct" else correct_to,
                             observation_type=kind if action == "correct" else None,
                             comment=f"alerts desk, alert {alert_id}")
        except ReviewError as exc:
            return _page(request, viewer, lang, error=str(exc), status_code=exc.status)
    return _back(lang, action, alert_id)

