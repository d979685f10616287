"""``GET /v1/alerts``: the invasive-species alert feed, in publish order, with an opaque cursor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from models.store.alerts import decode_cursor, encode_cursor, feed
from serve.access_schemas import AlertOut, AlertPage
from serve.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["alerts"])


@router.get("/alerts", response_model=AlertPage,
            responses={422: {"description": "A cursor this service did not issue."}})
def alerts(session: SessionDep,
           since: Annotated[str | None, Query(max_length=64, description="the ``next`` of an earlier page; "
                                              "omit to start from the first alert")] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AlertPage:
    """New invasive-species detections after ``since``, oldest first. Each alert appears once, in the
    order alerts were committed, so polling with the returned ``next`` never misses or repeats one."""
    try:
        after = decode_cursor(since) if since else 0
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    rows = feed(session, after, limit)
    items = [AlertOut(cursor=encode_cursor(a.alertID), created=a.created, detection=a.payload, status=a.status,
                      withdrawn=a.withdrawn, withdrawnReason=a.withdrawnReason) for a in rows]
    nxt = items[-1].cursor if items else since
    return AlertPage(items=items, next=nxt)
