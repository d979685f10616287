"""``GET /v1/stations``: stations with their deployments and detection counts."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from models.db import Deployment, Detection, Station
from serve.deps import SessionDep
from serve.schemas import DeploymentOut, StationOut

router = APIRouter(prefix="/v1", tags=["stations"])


@router.get("/stations", response_model=list[StationOut])
def list_stations(session: SessionDep) -> list[StationOut]:
    """Stations (from ``stations``, plus any station named only by a deployment), ordered by ID."""
    by_station = dict(session.execute(select(Detection.stationID, func.count()).group_by(Detection.stationID)).all())
    by_deployment = dict(session.execute(select(Detection.deploymentID, func.count())
                                         .group_by(Detection.deploymentID)).all())
    stations = {s.stationID: s for s in session.scalars(select(Station))}
    deployments: dict[str, list[DeploymentOut]] = {}
    for dep in session.scalars(select(Deployment).order_by(Deployment.deploymentID)):
        out = DeploymentOut.model_validate(dep)
        out.detections = by_deployment.get(dep.deploymentID, 0)
        deployments.setdefault(dep.stationID, []).append(out)
    ids = sorted(set(stations) | {sid for sid in deployments if sid})
    return [StationOut(stationID=sid, stationName=stations[sid].stationName if sid in stations else "",
                       note=stations[sid].note if sid in stations else "", detections=by_station.get(sid, 0),
                       deployments=deployments.get(sid, []))
            for sid in ids]
