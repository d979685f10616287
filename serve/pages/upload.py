"""The upload page (``/upload``, uploader or higher): pick a deployment, drop many files, watch each one.

The browser sends every file on its own (two at a time, with a progress bar each) to ``POST /upload/file``,
which takes the very path of ``POST /v1/media`` (:func:`serve.uploads.receive_upload`: the same size limit,
duplicate detection, deployment check and 413/415/422 reasons) and answers with an HTML fragment for that
file (status 200; the API's status code for the same file in ``X-Upload-Status``): stored (201), duplicate
(200, with a link to the existing media), rejected (reason code and message), or a background job (202)
that the fragment follows every 2 s
(``GET /upload/jobs/{jobID}``, htmx) until it is done (its detections shown) or failed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from models.store.db import Deployment, Detection, Job, Media, Station
from models.store.privacy import media_is_private
from serve.auth import Principal, Role
from serve.pages.common import language, render
from serve.uploads import UploadRejected, receive_upload
from serve.web_session import CsrfDep, needs

router = APIRouter(include_in_schema=False)
UploaderPage = Annotated[Principal, Depends(needs(Role.uploader))]
#: Files the page sends at once.
CONCURRENCY = 2
#: Header of a page answer that carries the status ``POST /v1/media`` answers for the same file.
STATUS_HEADER = "X-Upload-Status"

#: Camtrap DP observation types in both languages (shared with the alerts page).
OBSERVATION_TEXT = {
    "en": {"ot_unknown": "unknown", "ot_blank": "blank", "ot_human": "person", "ot_vehicle": "vehicle",
           "ot_animal": "animal", "ot_unclassified": "unclassified"},
    "zh": {"ot_unknown": "未知", "ot_blank": "空拍", "ot_human": "人", "ot_vehicle": "车辆", "ot_animal": "动物",
           "ot_unclassified": "未分类"},
}

TEXT = {
    "en": {"upload_title": "Upload images and recordings", "deployment": "Deployment",
           "choose_deployment": "Choose the deployment the files come from",
           "drop": "Drop files here, or choose them", "choose": "Choose files…", "start": "Upload",
           "drop_help": "Images (JPEG, PNG, TIFF, BMP, WebP) and recordings (WAV, FLAC, MP3, OGG, AIFF); at most "
                        "{mb} MB each. Files are sent two at a time; identical files are recognised.",
           "file": "File", "stored": "stored", "duplicate": "already uploaded", "rejected": "rejected",
           "queued": "queued", "running": "classifying", "done": "done", "failed": "failed",
           "see_existing": "see the existing media", "media": "Media", "captured": "Captured",
           "time_issues": "Time problems", "no_detections": "No detections.", "job": "Background job",
           "job_help": "A long recording is classified in the background; this page checks every 2 s.",
           "window": "Window", "reason": "Reason", "no_deployments": "No deployments are registered yet.",
           "sending": "sending", "failed_send": "could not be sent", "waiting": "waiting",
           "ti_missing": "no capture time in the file", "ti_no_timezone": "no time zone (local time kept)",
           "ti_implausible": "implausible time (clock not set?)",
           "ti_outside_deployment": "outside the deployment period",
           "ti_dst_nonexistent": "time in the daylight-saving gap", "ti_dst_ambiguous": "time in the repeated hour",
           "ti_dst_resolved": "repeated hour resolved from neighbours", "no_job": "No job with this ID."},
    "zh": {"upload_title": "上传图像和录音", "deployment": "设备部署", "choose_deployment": "选择文件来自的设备部署",
           "drop": "把文件拖到这里，或选择文件", "choose": "选择文件…", "start": "上传",
           "drop_help": "图像（JPEG、PNG、TIFF、BMP、WebP）和录音（WAV、FLAC、MP3、OGG、AIFF）；每个文件最大 {mb} MB。"
                        "每次同时发送两个文件；相同的文件会被识别出来。",
           "file": "文件", "stored": "已保存", "duplicate": "已上传过", "rejected": "被拒绝", "queued": "排队中",
           "running": "识别中", "done": "完成", "failed": "失败", "see_existing": "查看已有的媒体", "media": "媒体",
           "captured": "拍摄/录制时间", "time_issues": "时间问题", "no_detections": "没有检测结果。", "job": "后台任务",
           "job_help": "较长的录音在后台识别；本页每 2 秒查询一次。", "window": "时间窗", "reason": "原因",
           "no_deployments": "尚未登记任何设备部署。", "sending": "发送中", "failed_send": "无法发送",
           "waiting": "等待中", "ti_missing": "文件中没有拍摄时间", "ti_no_timezone": "没有时区（保留当地时间）",
           "ti_implausible": "时间不合理（时钟未设置？）",
           "ti_outside_deployment": "不在部署期内", "ti_dst_nonexistent": "时间落在夏令时跳过的时段",
           "ti_dst_ambiguous": "时间落在重复的一小时内", "ti_dst_resolved": "重复的一小时已根据前后文件确定",
           "no_job": "没有该任务。"},
}
for _lang in TEXT:
    TEXT[_lang].update(OBSERVATION_TEXT[_lang])


def deployments_of(session) -> list[dict]:
    """Every deployment with its station's name, ordered by ID (the page's choice)."""
    rows = session.execute(select(Deployment.deploymentID, Deployment.stationID, Deployment.deviceType,
                                  Station.stationName)
                           .outerjoin(Station, Station.stationID == Deployment.stationID)
                           .order_by(Deployment.deploymentID)).all()
    return [{"id": d, "station": st or "", "device": kind or "", "name": name or ""} for d, st, kind, name in rows]


def _detections(catalogue, rows: list[Detection], lang: str) -> list[dict]:
    out = []
    for d in rows:
        sp = catalogue.get(d.scientificName) if d.scientificName else None
        vernacular = (sp.vernacularNameZH if lang == "zh" else sp.vernacularNameEN) if sp else ""
        kind = TEXT[lang].get(f"ot_{d.observationType}", d.observationType)
        out.append({"label": vernacular or d.scientificName or kind, "typeLabel": kind, "sci": d.scientificName or "",
                    "type": d.observationType, "p": d.classificationProbability, "source": d.classificationSource,
                    "invasive": bool(d.isInvasive), "modality": d.modality, "start_s": d.start_s, "end_s": d.end_s,
                    "id": d.detectionID})
    return out


def _fragment(request: Request, viewer: Principal, lang: str, status_code: int, **context) -> HTMLResponse:
    context.setdefault("job", None)
    context.setdefault("media", None)
    context.setdefault("detections", [])
    context.setdefault("error", None)
    media = context["media"]
    if media is not None:  # the access rule of the media routes: no link to what this viewer may not open
        with request.app.state.sessions() as s:
            context["private"] = not viewer.at_least(Role.reviewer) and media_is_private(s, media.mediaID)
    context.setdefault("private", False)
    # the fragment is answered 200 (htmx swaps only 2xx answers, and a rejected file is a result, not a broken
    # request); the status POST /v1/media gives for the same file travels in X-Upload-Status and data-status
    response = render(request, "upload_result.html", lang, viewer, text=TEXT, upload_status=status_code, **context)
    response.headers[STATUS_HEADER] = str(status_code)
    return response


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request, viewer: UploaderPage, lang: str | None = None) -> HTMLResponse:
    """The upload form: a deployment choice, a drop zone / file chooser, and one line per file sent."""
    lang = language(request, lang)
    with request.app.state.sessions() as s:
        deployments = deployments_of(s)
    mb = request.app.state.settings.max_upload_bytes / 1024 / 1024
    return render(request, "upload.html", lang, viewer, text=TEXT, deployments=deployments,
                  max_mb=f"{mb:.0f}" if mb >= 10 else f"{mb:.1f}", concurrency=CONCURRENCY,
                  max_bytes=request.app.state.settings.max_upload_bytes)


@router.post("/upload/file", response_class=HTMLResponse)
def upload_file(request: Request, _: CsrfDep, viewer: UploaderPage,
                file: Annotated[UploadFile | str, File()],
                deploymentID: Annotated[str, Form(min_length=1, max_length=128)],
                lang: Annotated[str | None, Form(max_length=5)] = None) -> HTMLResponse:
    """One file of the page: the path of ``POST /v1/media`` (:func:`serve.uploads.receive_upload`), answered
    with the file's result as an HTML fragment; ``X-Upload-Status`` is the API's status code for it (201,
    200 duplicate, 202 job, 413/415/422/503/507 rejected with reason and message)."""
    lang = language(request, lang)
    state, settings = request.app.state, request.app.state.settings
    name = getattr(file, "filename", "") or ""
    with state.sessions() as s:
        try:
            result = receive_upload(
                s, file=file, deployment_id=deploymentID, max_upload_bytes=settings.max_upload_bytes,
                media_root=settings.media_root, classifiers=state.classifiers, catalogue=state.catalogue,
                top_k=settings.top_k, background_audio_s=settings.background_audio_s, submitted_by=viewer.name,
                submit_job=state.jobs.submit)
        except UploadRejected as exc:
            return _fragment(request, viewer, lang, exc.status, file_name=name,
                             error={"reason": exc.reason, "message": exc.message})
        if result.job is not None:
            return _fragment(request, viewer, lang, 202, file_name=name, job=result.job, duplicate=result.duplicate)
        return _fragment(request, viewer, lang, 200 if result.duplicate else 201, file_name=name, media=result.media,
                         duplicate=result.duplicate, detections=_detections(state.catalogue, result.detections, lang))


@router.get("/upload/jobs/{job_id}", response_class=HTMLResponse)
def upload_job(request: Request, viewer: UploaderPage, job_id: Annotated[str, Path(max_length=32)],
               lang: str | None = None) -> HTMLResponse:
    """A background job's state as the page shows it (polled every 2 s while queued or running); once done,
    the stored media and its detections."""
    lang = language(request, lang)
    state = request.app.state
    with state.sessions() as s:
        job = s.get(Job, job_id)
        if job is None:
            return _fragment(request, viewer, lang, 404, file_name="", error={"reason": "unknown_job",
                                                                         "message": TEXT[lang]["no_job"]})
        media = s.get(Media, job.mediaID) if job.state == "done" and job.mediaID else None
        rows = list(s.scalars(select(Detection).where(Detection.mediaID == media.mediaID)
                              .order_by(Detection.start_s, Detection.detectionID))) if media else []
    return _fragment(request, viewer, lang, 200, file_name=job.fileName, job=job, media=media, duplicate=False,
                     detections=_detections(state.catalogue, rows, lang))
