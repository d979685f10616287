"""``GET /v1/alerts``: the invasive-species alert feed, in publish order, with an opaque cursor; and the
workflow steps ``POST /v1/alerts/{alertID}/acknowledge`` and ``.../resolve`` (reviewer)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from models.store.alerts import AlertTransitionError, decode_cursor, encode_cursor, feed, transition_alert
from models.store.db import Alert
from serve.access_schemas import AlertOut, AlertPage
from serve.auth import Principal, Role, require
from serve.deps import SessionDep

router = APIRouter(prefix="/v1", tags=["alerts"])


def alert_out(a: Alert) -> AlertOut:
    """The API's view of one alert row (the feed's items and the workflow answers)."""
    return AlertOut(cursor=encode_cursor(a.alertID), alertID=a.alertID, created=a.created, detection=a.payload,
                    status=a.status, withdrawn=a.withdrawn, withdrawnReason=a.withdrawnReason,
                    acknowledged=a.acknowledged, acknowledgedBy=a.acknowledgedBy, resolved=a.resolved,
                    resolvedBy=a.resolvedBy)


@router.get("/alerts", response_model=AlertPage,
            responses={422: {"description": "A cursor this service did not issue."}})
def alerts(session: SessionDep,
           since: Annotated[str | None, Query(max_length=64, description="the ``next`` of an earlier page; "
                                              "omit to start from the first alert")] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AlertPage:
    """New invasive-species detections after ``since``, oldest first. Each alert appears once, in the
    order alerts were committed, so polling with the returned ``next`` never misses or repeats one; its
    ``status`` is the workflow state now (open, acknowledged, resolved, withdrawn)."""
    try:
        after = decode_cursor(since) if since else 0
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    items = [alert_out(a) for a in feed(session, after, limit)]
    nxt = items[-1].cursor if items else since
    return AlertPage(items=items, next=nxt)


@router.post("/alerts/{alert_id}/{action}", response_model=AlertOut,
             responses={401: {"description": "No or invalid API key."}, 403: {"description": "Role below reviewer."},
                        404: {"description": "No alert with this ID."},
                        409: {"description": "The alert is not in the state this action starts from."}})
def alert_action(alert_id: Annotated[int, Path(ge=1, le=2**62)], action: Literal["acknowledge", "resolve"],
                 session: SessionDep, principal: Annotated[Principal, Depends(require(Role.reviewer))]) -> AlertOut:
    """One workflow step: ``acknowledge`` (open -> acknowledged) or ``resolve`` (acknowledged -> resolved);
    the reviewer's key name and the time are recorded."""
    try:
        return alert_out(transition_alert(session, alert_id, action, principal.name))
    except AlertTransitionError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
