"""Review of detections by people: ``POST /v1/detections/{id}/review`` and its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from models.store.db import Detection, DetectionReview
from models.store.review import ReviewError, history, review_detection
from serve.access_schemas import ReviewedOut, ReviewIn, ReviewOut
from serve.auth import Principal, Role, require
from serve.deps import CatalogueDep, SessionDep
from serve.schemas import DetectionOut

router = APIRouter(prefix="/v1", tags=["review"])
ReviewerDep = Annotated[Principal, Depends(require(Role.reviewer))]
_ERRORS = {401: {"description": "No or invalid API key."}, 403: {"description": "Role below reviewer."},
           404: {"description": "No detection with this ID."}}
DetectionPath = Annotated[str, Path(max_length=64)]


@router.post("/detections/{detection_id}/review", response_model=ReviewedOut,
             responses={**_ERRORS, 422: {"description": "Unknown species, or a label that does not fit the "
                                                        "observationType."}})
def review(detection_id: DetectionPath, body: ReviewIn, session: SessionDep, catalogue: CatalogueDep,
           principal: ReviewerDep) -> ReviewedOut:
    """Confirm or correct a detection. It becomes a human classification (``classificationMethod``
    ``human``, ``classifiedBy`` the reviewer's key name, ``classificationTimestamp`` now); the
    replaced classification is kept in the review history, and retrained models never overwrite it.
    ``uncertain`` records only the review (the machine's label and alerts stay; the queues skip it)."""
    try:
        det, rev = review_detection(session, detection_id, action=body.action, reviewer=principal.name,
                                    catalogue=catalogue, scientific_name=body.scientificName,
                                    observation_type=body.observationType, comment=body.comment)
    except ReviewError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return ReviewedOut(detection=DetectionOut.from_row(det, catalogue), review=ReviewOut.model_validate(rev))


@router.get("/detections/{detection_id}/reviews", response_model=list[ReviewOut], responses=_ERRORS)
def reviews(detection_id: DetectionPath, session: SessionDep, _: ReviewerDep) -> list[DetectionReview]:
    """Every review of a detection, oldest first; the first one's ``before`` is the model's prediction.

    Raises:
        HTTPException: 404 when no detection has this ID (an existing one without reviews gives ``[]``).
    """
    if session.get(Detection, detection_id) is None:
        raise HTTPException(404, f"unknown detection {detection_id!r}")
    return history(session, detection_id)
