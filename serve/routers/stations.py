"""``GET /v1/stations`` and ``GET /v1/deployments``: sites with their deployments and detection counts, as
JSON or GeoJSON (RFC 7946). Public callers get generalised coordinates for deployments where a sensitive
species was detected (``models.store.privacy``)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from models.store.db import Deployment, Detection, Station
from models.store.insights import detections_per_deployment
from models.store.privacy import generalise, sensitive_deployments, visible_rows
from serve.auth import PrincipalDep, Role
from serve.cache import ResultCache, get_result_cache
from serve.deps import CatalogueDep, SessionDep, SettingsDep
from serve.schemas import DeploymentOut, StationOut

router = APIRouter(prefix="/v1", tags=["stations"])
GEOJSON = "application/geo+json"


def _wants_geojson(request: Request, fmt: str | None) -> bool:
    return fmt == "geojson" if fmt is not None else GEOJSON in request.headers.get("accept", "")


def deployment_rows(session, catalogue, settings, principal, cache: ResultCache) -> list[DeploymentOut]:
    """Every deployment with its detection count; for public callers the count leaves out media with people or
    vehicles (``models.store.privacy.visible_rows``) and coordinates are generalised."""
    counts = detections_per_deployment(session, visible_rows(Detection, not principal.at_least(Role.reviewer)))
    hidden = set() if principal.at_least(Role.reviewer) else cache.get(
        ("sensitive_deployments",), lambda: sensitive_deployments(session, catalogue))
    out = []
    for dep in session.scalars(select(Deployment).order_by(Deployment.deploymentID)):
        item = DeploymentOut.model_validate(dep)
        item.detections = counts.get(dep.deploymentID, 0)
        if dep.deploymentID in hidden:
            p = generalise(dep.latitude, dep.longitude, dep.coordinateUncertainty_m, settings.public_precision_deg)
            item.latitude, item.longitude, item.coordinateUncertainty_m = p.latitude, p.longitude, p.uncertainty_m
            item.coordinatesGeneralised = True
        out.append(item)
    return out


def _point(d: DeploymentOut) -> dict | None:
    if d.latitude is None or d.longitude is None:
        return None
    return {"type": "Point", "coordinates": [d.longitude, d.latitude]}


def _geojson(features: list[dict]) -> JSONResponse:
    return JSONResponse({"type": "FeatureCollection", "features": features}, media_type=GEOJSON)


@router.get("/stations", response_model=list[StationOut],
            responses={200: {"content": {GEOJSON: {}}, "description": "JSON list or GeoJSON FeatureCollection"}})
def list_stations(request: Request, session: SessionDep, catalogue: CatalogueDep, settings: SettingsDep,
                  principal: PrincipalDep, cache: ResultCache = Depends(get_result_cache),
                  format: Literal["json", "geojson"] | None = None):
    """Stations (from ``stations``, plus any station named only by a deployment), ordered by ID.

    As GeoJSON (``format=geojson`` or ``Accept: application/geo+json``) each station is a Feature whose
    geometry is the MultiPoint of its deployments' positions (null when none has coordinates).
    """
    by_station = dict(session.execute(select(Detection.stationID, func.count()).group_by(Detection.stationID)).all())
    stations = {s.stationID: s for s in session.scalars(select(Station))}
    deployments: dict[str, list[DeploymentOut]] = {}
    for dep in deployment_rows(session, catalogue, settings, principal, cache):
        deployments.setdefault(dep.stationID, []).append(dep)
    ids = sorted(set(stations) | {sid for sid in deployments if sid})
    out = [StationOut(stationID=sid, stationName=stations[sid].stationName if sid in stations else "",
                      note=stations[sid].note if sid in stations else "", detections=by_station.get(sid, 0),
                      deployments=deployments.get(sid, []))
           for sid in ids]
    if not _wants_geojson(request, format):
        return out
    features = []
    for st in out:
        coords = [[d.longitude, d.latitude] for d in st.deployments if _point(d)]
        props = st.model_dump(exclude={"deployments"})
        props["deploymentIDs"] = [d.deploymentID for d in st.deployments]
        features.append({"type": "Feature", "id": st.stationID, "properties": props,
                         "geometry": {"type": "MultiPoint", "coordinates": coords} if coords else None})
    return _geojson(features)


@router.get("/deployments", response_model=list[DeploymentOut],
            responses={200: {"content": {GEOJSON: {}}, "description": "JSON list or GeoJSON FeatureCollection"}})
def list_deployments(request: Request, session: SessionDep, catalogue: CatalogueDep, settings: SettingsDep,
                     principal: PrincipalDep, cache: ResultCache = Depends(get_result_cache),
                     stationID: str | None = None, format: Literal["json", "geojson"] | None = None):
    """Deployments (Camtrap DP) ordered by ID, optionally of one station; as GeoJSON each is a Point
    Feature (geometry null without coordinates)."""
    deps = [d for d in deployment_rows(session, catalogue, settings, principal, cache)
            if stationID is None or d.stationID == stationID]
    if not _wants_geojson(request, format):
        return deps
    return _geojson([{"type": "Feature", "id": d.deploymentID, "properties": d.model_dump(), "geometry": _point(d)}
                     for d in deps])
