"""Command line for data sharing: a Camtrap DP 1.0.2 package or a Darwin Core occurrence CSV from the
detections database (the logic lives in ``models.store.export``)::

    python -m pipeline.export camtrap-dp exports/camtrap-dp      # public version, validated with frictionless
    python -m pipeline.export camtrap-dp exports/full --full     # exact coordinates, people and vehicles kept
    python -m pipeline.export dwc exports/occurrence.csv

The database is ``publish.database_url`` of ``params.yaml`` unless ``--database-url`` is given. The exit
status is 1 when the written package does not validate.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from models.store.db import create_schema, make_engine
from models.store.export import CAMTRAP_DP_PROFILE, export_camtrap_dp, export_dwc_occurrences, validate_package
from models.taxonomy.catalogue import Catalogue
from pipeline.common import setup_logging
from pipeline.params import load_params

log = logging.getLogger(__name__)
app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


def _session(database_url: str | None, params: Path) -> Session:
    url = database_url or load_params(params).publish.database_url
    engine = make_engine(url)
    create_schema(engine)
    return Session(engine)


@app.command("camtrap-dp")
def camtrap_dp(out: Path = typer.Argument(..., help="folder to write the package into"),
               database_url: str | None = typer.Option(None, help="SQLAlchemy URL (default: params.yaml)"),
               params: Path = typer.Option(Path("params.yaml"), help="params file for the default URL"),
               full: bool = typer.Option(False, "--full", help="no public-read filtering (reviewers, archives)"),
               precision_deg: float = typer.Option(0.1, min=1e-6, help="grid of generalised coordinates, degrees"),
               official_profile: bool = typer.Option(False, help=f"set profile to {CAMTRAP_DP_PROFILE} "
                                                     "(validating it then needs network)"),
               validate: bool = typer.Option(True, help="validate the package with frictionless")) -> None:
    """Write a Camtrap DP 1.0.2 package (datapackage.json, deployments/media/observations/warnings CSV)."""
    setup_logging()
    with _session(database_url, params) as session:
        report = export_camtrap_dp(session, out, Catalogue.load(), public=not full, precision_deg=precision_deg,
                                   profile_url=CAMTRAP_DP_PROFILE if official_profile else None)
    typer.echo(json.dumps({"path": str(out), "rows": report.rows, "withheld": report.withheld,
                           "generalised": report.generalised, "warnings": len(report.warnings)}))
    if validate:
        errors = validate_package(out)
        for err in errors:
            typer.echo(f"invalid: {err}", err=True)
        if errors:
            raise typer.Exit(1)
        typer.echo("frictionless: valid")


@app.command("dwc")
def dwc(out: Path = typer.Argument(..., help="CSV file to write"),
        database_url: str | None = typer.Option(None, help="SQLAlchemy URL (default: params.yaml)"),
        params: Path = typer.Option(Path("params.yaml"), help="params file for the default URL"),
        full: bool = typer.Option(False, "--full", help="no public-read filtering"),
        precision_deg: float = typer.Option(0.1, min=1e-6, help="grid of generalised coordinates, degrees")) -> None:
    """Write a Darwin Core occurrence CSV."""
    setup_logging()
    with _session(database_url, params) as session:
        report = export_dwc_occurrences(session, out, Catalogue.load(), public=not full, precision_deg=precision_deg)
    typer.echo(json.dumps({"path": str(out), "rows": report.rows, "withheld": report.withheld,
                           "warnings": len(report.warnings)}))


if __name__ == "__main__":
    app()
