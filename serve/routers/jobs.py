"""``GET /v1/jobs/{jobID}``: status of a background job (long-audio uploads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from models.store.db import Job
from serve.access_schemas import JobOut
from serve.auth import Role, require
from serve.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["media"], dependencies=[Depends(require(Role.uploader))])


@router.get("/jobs/{job_id}", response_model=JobOut,
            responses={401: {"description": "No or invalid API key."}, 403: {"description": "Role below uploader."},
                       404: {"description": "No job with this ID."}})
def job_status(job_id: Annotated[str, Path(max_length=32)], session: SessionDep) -> Job:
    """State of a job: ``queued``, ``running``, ``done`` (with ``mediaID`` and the detection count) or
    ``failed`` (with ``reason``; nothing of the upload is kept)."""
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(404, f"no job with ID {job_id!r}")
    return job
