"""Data sharing endpoints: ``GET /v1/export/camtrap-dp`` (a zipped Camtrap DP 1.0.2 package) and
``GET /v1/export/dwc`` (a Darwin Core occurrence CSV). Callers below ``reviewer`` get the public
version (``models.store.privacy``): no people or vehicles, generalised sensitive sites."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from models.store.export import export_camtrap_dp, export_dwc_occurrences
from serve.auth import PrincipalDep, Role
from serve.deps import CatalogueDep, SessionDep, SettingsDep

router = APIRouter(prefix="/v1/export", tags=["export"])


@router.get("/camtrap-dp", response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "Camtrap DP package (zip)"}})
async def camtrap_dp(session: SessionDep, catalogue: CatalogueDep, settings: SettingsDep,
                     principal: PrincipalDep) -> Response:
    """The whole database as a Camtrap DP 1.0.2 package: ``datapackage.json``, ``deployments.csv``,
    ``media.csv``, ``observations.csv`` and ``warnings.csv`` (rows left out, e.g. media without a
    capture time, each with the file and the reason). Built in a temporary folder, zipped in memory:
    a failure leaves no file behind."""
    public = not principal.at_least(Role.reviewer)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="camtrap-dp-") as tmp:
            export_camtrap_dp(session, tmp, catalogue, public=public, precision_deg=settings.public_precision_deg)
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
async def dwc(session: SessionDep, catalogue: CatalogueDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Darwin Core occurrences (one row per animal observation; event-level when events exist)."""
    public = not principal.at_least(Role.reviewer)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="dwc-") as tmp:
            path = Path(tmp) / "occurrence.csv"
            export_dwc_occurrences(session, path, catalogue, public=public, precision_deg=settings.public_precision_deg)
            return path.read_bytes()

    data = await run_in_threadpool(build)
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="occurrence.csv"'})
