"""``python -m serve`` / ``biodiv-serve``: run the API with uvicorn, manage API keys, export reviewed labels.

    python -m serve --host 0.0.0.0 --port 8000                 # serve (the default command)
    python -m serve keys create --role uploader --name station-1   # prints the key once
    python -m serve keys list
    python -m serve keys revoke <key_id>
    python -m serve labels export                              # reviewed labels -> data/raw/*/reviewed/

The database is ``BIODIV_DATABASE_URL`` (``serve.settings.Settings``) unless ``--database-url`` is given.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
import uvicorn

cli = typer.Typer(add_completion=False, help="Run the biodiv-obs web API (default), manage API keys, export labels.")
keys_cli = typer.Typer(add_completion=False, help="Create, list and revoke API keys (stored hashed).")
labels_cli = typer.Typer(add_completion=False, help="Export human-reviewed detections as training labels.")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(labels_cli, name="labels")

DatabaseOpt = typer.Option(None, "--database-url", help="SQLAlchemy URL (default: BIODIV_DATABASE_URL or settings)")


@cli.callback(invoke_without_command=True)
def run(ctx: typer.Context, host: str = typer.Option("127.0.0.1", help="interface to bind"),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
        reload: bool = typer.Option(False, help="reload on code changes (development)")) -> None:
    """Serve ``serve.app:create_app`` (settings from ``BIODIV_*`` environment variables)."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run("serve.app:create_app", factory=True, host=host, port=port, reload=reload)


def _session(database_url: str | None):
    from sqlalchemy.orm import Session

    from models.store.db import create_schema, make_engine
    from serve.app import _ensure_sqlite_folder
    from serve.settings import Settings

    url = database_url or Settings().database_url
    _ensure_sqlite_folder(url)
    engine = make_engine(url)
    create_schema(engine)
    return Session(engine, expire_on_commit=False)


@keys_cli.command("create")
def keys_create(role: str = typer.Option(..., help="uploader, reviewer or admin"),
                name: str = typer.Option(..., help="who or what uses the key, e.g. station-1"),
                database_url: str | None = DatabaseOpt) -> None:
    """Create a key and print it once (only its SHA-256 is stored; a lost key is revoked and replaced)."""
    from models.store.keys import ApiKeyError, create_key

    with _session(database_url) as session:
        try:
            new = create_key(session, role, name)
        except ApiKeyError as exc:
            raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"created {new.role} key {new.key_id} ({new.name}); it is shown only now:", err=True)
    typer.echo(new.token)


@keys_cli.command("list")
def keys_list(database_url: str | None = DatabaseOpt) -> None:
    """List keys (ID, role, name, created, revoked); secrets are not stored."""
    from models.store.keys import list_keys

    with _session(database_url) as session:
        for k in list_keys(session):
            typer.echo(f"{k.key_id}\t{k.role}\t{k.name}\t{k.created:%Y-%m-%dT%H:%M:%SZ}\t"
                       f"{'revoked ' + format(k.revoked, '%Y-%m-%dT%H:%M:%SZ') if k.revoked else 'active'}")


@keys_cli.command("revoke")
def keys_revoke(key_id: str, database_url: str | None = DatabaseOpt) -> None:
    """Revoke a key: requests with it are refused (401) from now on."""
    from models.store.keys import ApiKeyError, revoke_key

    with _session(database_url) as session:
        try:
            revoke_key(session, key_id)
        except ApiKeyError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"revoked {key_id}")


@labels_cli.command("export")
def labels_export(raw: Path = typer.Option(Path("data/raw"), help="raw data folder (DVC-tracked datasets)"),
                  media_root: Path | None = typer.Option(None, help="upload storage (default: BIODIV_MEDIA_ROOT)"),
                  stations_root: Path = typer.Option(Path("data/raw/stations"), help="station drops"),
                  database_url: str | None = DatabaseOpt) -> None:
    """Write human-reviewed detections into ``<raw>/{camera_traps,acoustic}/reviewed/`` for the next
    ``dvc add data/raw/camera_traps data/raw/acoustic && dvc repro``."""
    from models.store.review import export_reviewed_labels
    from serve.settings import Settings

    root = media_root or Settings().media_root
    with _session(database_url) as session:
        result = export_reviewed_labels(session, raw, root, stations_root)
    for dataset, n in result.written.items():
        typer.echo(f"{dataset}: {n} reviewed labels in {raw / dataset / 'reviewed' / 'manifest.csv'}")
    for detection, reason in result.skipped:
        typer.echo(f"skipped {detection}: {reason}", err=True)


def main() -> None:
    """Console entry point."""
    cli()


if __name__ == "__main__":
    main()
