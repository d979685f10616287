"""``GET /health``: database reachability and loaded model versions."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from serve.deps import ClassifiersDep, SessionDep
from serve.schemas import HealthOut

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
def health(session: SessionDep, classifiers: ClassifiersDep) -> HealthOut:
    """Report whether the database answers and which model version serves each modality."""
    try:
        session.execute(text("SELECT 1"))
        database = True
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable: %s", exc)
        database = False
    return HealthOut(status="ok" if database else "degraded", database=database, models=classifiers.versions())
