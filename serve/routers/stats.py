"""Long-term statistics of a station: ``/v1/stations/{stationID}/stats/{counts,diel,richness}``.

Computed by ``models.store.stats`` in SQL and cached per app for ``Settings.stats_cache_s`` seconds
(``serve.cache``), so dashboards polling them do not re-aggregate millions of rows per request. Callers below
``reviewer`` get the public figures (``models.store.privacy.visible_rows``: records on media with people or
vehicles left out), the same as the statistics pages.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from sqlalchemy import select

from models.store import stats
from models.store.db import Deployment, Detection, Event, Station
from models.store.privacy import visible_rows
from serve.auth import PrincipalDep, Role
from serve.cache import ResultCache, get_result_cache
from serve.deps import SessionDep
from serve.schemas import CountsOut, CountsQuery, DielOut, RichnessOut, StatsQuery

router = APIRouter(prefix="/v1/stations/{stationID}/stats", tags=["statistics"])
CacheDep = Annotated[ResultCache, Depends(get_result_cache)]


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None


def _known_station(session, station_id: str, cache: ResultCache) -> None:
    known = cache.get(("stations",), lambda: set(session.scalars(select(Station.stationID)))
                      | set(session.scalars(select(Deployment.stationID).distinct())))
    if station_id not in known and session.get(Station, station_id) is None and session.scalar(
            select(Deployment.deploymentID).where(Deployment.stationID == station_id).limit(1)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown station {station_id!r}")


def _args(q: StatsQuery, public: bool) -> dict:
    model = Detection if q.level == "media" else Event
    return {"level": q.level, "start": _utc(q.start), "end": _utc(q.end), "min_probability": q.min_probability,
            "where": visible_rows(model, public)}


def _cached_json(cache: ResultCache, key: tuple, build) -> Response:
    """The JSON reply for ``key``: built once by ``build()`` (a dict), serialised with orjson and cached as
    bytes, so a cache hit costs no re-serialisation (a day-by-day table of a station over years is MBs)."""
    return Response(cache.get(key, lambda: orjson.dumps(build()), persist=True), media_type="application/json")


@router.get("/counts", response_model=CountsOut)
def station_counts(stationID: str, q: Annotated[CountsQuery, Query()], session: SessionDep,
                   cache: CacheDep, principal: PrincipalDep) -> Response:
    """Records by species per local day, ISO week (``YYYY-Www``) or month; a station without records
    gives an empty list (200), an unknown station 404."""
    _known_station(session, stationID, cache)
    public = not principal.at_least(Role.reviewer)

    def build() -> dict:
        rows = stats.species_counts(session, stationID, interval=q.interval, **_args(q, public))
        return {"stationID": stationID, "interval": q.interval, "level": q.level, "counts": [asdict(r) for r in rows]}

    return _cached_json(cache, ("counts", stationID, q.model_dump_json(), public), build)


@router.get("/diel", response_model=DielOut)
def station_diel(stationID: str, q: Annotated[StatsQuery, Query()], session: SessionDep, cache: CacheDep,
                 principal: PrincipalDep) -> Response:
    """Diel activity: records per hour of the station's local time, per species and in total."""
    _known_station(session, stationID, cache)
    public = not principal.at_least(Role.reviewer)

    def build() -> dict:
        hours = stats.diel_activity(session, stationID, **_args(q, public))
        total = [sum(h[i] for h in hours.values()) for i in range(24)]
        return {"stationID": stationID, "level": q.level, "hours": hours, "total": total}

    return _cached_json(cache, ("diel", stationID, q.model_dump_json(), public), build)


@router.get("/richness", response_model=RichnessOut)
def station_richness(stationID: str, q: Annotated[StatsQuery, Query()], session: SessionDep,
                     cache: CacheDep, principal: PrincipalDep) -> Response:
    """Observed species richness, Chao2, the collector's curve and the Mao Tau species accumulation
    curve, with local days as sampling units."""
    _known_station(session, stationID, cache)
    public = not principal.at_least(Role.reviewer)

    def build() -> dict:
        return {"stationID": stationID, "level": q.level,
                **asdict(stats.richness(session, stationID, **_args(q, public)))}

    return _cached_json(cache, ("richness", stationID, q.model_dump_json(), public), build)
