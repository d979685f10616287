"""``POST /v1/media``: upload one image or recording, get its detections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from serve.access_schemas import JobAccepted, JobOut
from serve.auth import Principal, Role, require
from serve.deps import CatalogueDep, ClassifiersDep, SessionDep, SettingsDep
from serve.schemas import DetectionOut, MediaOut, UploadOut
from serve.uploads import UploadRejected, receive_upload

router = APIRouter(prefix="/v1", tags=["media"])

_ERRORS = {
    200: {"model": UploadOut, "description": "The same bytes were uploaded before; nothing was created."},
    202: {"model": JobAccepted, "description": "A recording longer than background_audio_s: stored and queued; "
                                               "poll statusURL (``/v1/jobs/{jobID}``)."},
    401: {"description": "No API key, or an invalid or revoked one."},
    403: {"description": "The key's role is below uploader."},
    413: {"description": "Upload larger than max_upload_bytes, or image above the pixel limit."},
    415: {"description": "Content is neither a supported image nor decodable audio."},
    422: {"description": "Corrupt, truncated or empty media, invalid form fields, or a deploymentID that is not "
                          "a known deployment (reason ``unknown_deployment``)."},
    503: {"description": "No model is loaded for this modality."},
}


def _reject(status: int, reason: str, message: str) -> HTTPException:
    return HTTPException(status, detail={"reason": reason, "message": message})


@router.post("/media", status_code=201, response_model=UploadOut, responses=_ERRORS)
def upload_media(file: Annotated[UploadFile | str, File(description="image or audio file; type read from content")],
                 deploymentID: Annotated[str, Form(min_length=1, max_length=128)],
                 request: Request, response: Response, session: SessionDep, settings: SettingsDep,
                 classifiers: ClassifiersDep, catalogue: CatalogueDep,
                 principal: Annotated[Principal, Depends(require(Role.uploader))]) -> UploadOut:
    """Store the file content-addressed, classify it and record media + detections (201). Needs an
    API key with the ``uploader`` role (or higher).

    A recording longer than ``background_audio_s`` is stored and classified by a background job:
    the answer is 202 with the job (``GET /v1/jobs/{jobID}``); the same bytes sent while that job is
    queued or running return the same job.

    Checks, in order: a file part without a file name is refused (422) without echoing it; then the
    size (413). Byte-identical content uploaded before returns the existing record with ``duplicate``
    true (200) and creates nothing, even when sent with another ``deploymentID``: the record keeps the
    deploymentID of its first upload. Otherwise ``deploymentID`` must be a row of ``deployments``
    (listed at ``/v1/stations``), else 422 ``unknown_deployment`` and nothing is stored; then the
    content type (415), the model (503) and decoding (413/422) are checked.
    """
    try:
        result = receive_upload(
            session, file=file, deployment_id=deploymentID, max_upload_bytes=settings.max_upload_bytes,
            media_root=settings.media_root, classifiers=classifiers, catalogue=catalogue, top_k=settings.top_k,
            background_audio_s=settings.background_audio_s, submitted_by=principal.name,
            submit_job=request.app.state.jobs.submit)
    except UploadRejected as exc:
        raise _reject(exc.status, exc.reason, exc.message) from exc
    if result.job is not None:
        url = str(request.url_for("job_status", job_id=result.job.jobID).path)
        body = JobAccepted(duplicate=result.duplicate, job=JobOut.model_validate(result.job), statusURL=url)
        return JSONResponse(body.model_dump(mode="json"), status_code=202, headers={"Location": url})
    if result.duplicate:
        response.status_code = 200
    return UploadOut(duplicate=result.duplicate, media=MediaOut.from_row(result.media),
                     detections=[DetectionOut.from_row(d, catalogue) for d in result.detections])
