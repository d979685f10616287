"""Data sharing endpoints: ``GET /v1/export/camtrap-dp`` (a zipped Camtrap DP 1.0.2 package),
``GET /v1/export/dwc`` (a Darwin Core occurrence CSV) and ``GET /v1/export/detections`` (every detection of a
selection as CSV). Each takes the listings' filters (``SelectionFilters``: station, species, time range ...)
to export a selection; none exports everything. Callers below ``reviewer`` get the public version
(``models.store.privacy``): no people or vehicles, generalised sensitive sites."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from models.store.db import Detection
from models.store.export import Selection, export_camtrap_dp, export_dwc_occurrences
from models.store.privacy import public_detections
from serve.auth import PrincipalDep, Role
from serve.deps import CatalogueDep, SessionDep, SettingsDep
from serve.paging import row_dicts, write_csv_rows
from serve.routers.detections import DETECTION_FIELDS, listing_filters
from serve.schemas import DetectionOut, SelectionFilters

router = APIRouter(prefix="/v1/export", tags=["export"])
#: Filters that select nothing beyond the defaults: no selection (export everything).
_NO_FILTER = SelectionFilters()


def _selection(q: SelectionFilters) -> Selection | None:
    """The export selection of the listing filters ``q`` (None when no filter is set)."""
    if q == _NO_FILTER:
        return None
    return lambda model: listing_filters(model, q)


@router.get("/camtrap-dp", response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "Camtrap DP package (zip)"}})
async def camtrap_dp(q: Annotated[SelectionFilters, Query()], session: SessionDep, catalogue: CatalogueDep,
                     settings: SettingsDep, principal: PrincipalDep) -> Response:
    """The whole database as a Camtrap DP 1.0.2 package: ``datapackage.json``, ``deployments.csv``,
    ``media.csv``, ``observations.csv`` and ``warnings.csv`` (rows left out, e.g. media without a
    capture time, each with the file and the reason). Built in a temporary folder, zipped in memory:
    a failure leaves no file behind."""
    public = not principal.at_least(Role.reviewer)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="camtrap-dp-") as tmp:
            export_camtrap_dp(session, tmp, catalogue, public=public, precision_deg=settings.public_precision_deg,
                              selection=_selection(q))
            out = Path(tmp) / "package.zip"
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for name in ("datapackage.json", "deployments.csv", "media.csv", "observations.csv", "warnings.csv"):
                    zf.write(Path(tmp) / name, name)
            return out.read_bytes()

    data = await run_in_threadpool(build)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="camtrap-dp.zip"'})


@router.get("/dwc", response_class=Response,
            responses={200: {"content": {"text/csv": {}}, "description": "Darwin Core occurrence CSV"}})
async def dwc(q: Annotated[SelectionFilters, Query()], session: SessionDep, catalogue: CatalogueDep,
              settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Darwin Core occurrences (one row per animal observation; event-level when events exist)."""
    public = not principal.at_least(Role.reviewer)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="dwc-") as tmp:
            path = Path(tmp) / "occurrence.csv"
            export_dwc_occurrences(session, path, catalogue, public=public, precision_deg=settings.public_precision_deg,
                                   selection=_selection(q))
            return path.read_bytes()

    data = await run_in_threadpool(build)
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="occurrence.csv"'})


@router.get("/detections", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "every detection of the selection"}})
def detections_csv(q: Annotated[SelectionFilters, Query()], request: Request, principal: PrincipalDep):
    """Every detection matching the filters as one CSV (the columns of ``GET /v1/detections``, ordered by
    detectionID), streamed in chunks of 2,000 rows from one read transaction. Cells that would start a
    spreadsheet formula are quoted (``models.media.tables.safe_cell``)."""
    state = request.app.state
    conds = listing_filters(Detection, q) + ([] if principal.at_least(Role.reviewer) else [public_detections()])
    columns = list(DetectionOut.model_fields)
    cols = [c for c in Detection.__table__.columns if c.key in DETECTION_FIELDS]

    def chunks() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        with state.sessions() as session:
            result = session.execute(select(*cols).where(*conds).order_by(Detection.detectionID)
                                     .execution_options(yield_per=2000))
            for part in result.partitions():
                write_csv_rows(writer, row_dicts(part, DETECTION_FIELDS, state.catalogue), columns)
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="detections.csv"'})
