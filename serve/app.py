"""Application factory: ``create_app()`` builds a configured FastAPI app; nothing happens at import."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import sessionmaker

from models import __version__
from models.store.alerts import record_alerts
from models.store.db import create_schema, is_contention, is_disk_full, make_engine
from models.taxonomy.catalogue import Catalogue
from serve import pages, web_session
from serve.classifiers import load_classifiers
from serve.jobs import JobRunner
from serve.routers import alerts, detections, files, health, jobs, keys, media, review, soundscape, species, stations
from serve.routers import events as events_router
from serve.routers import export as export_router
from serve.routers import stats as stats_router
from serve.settings import Settings
from serve.uploads import recover_uploads
from serve.webhooks import WebhookWorker

log = logging.getLogger(__name__)


def _ensure_sqlite_folder(url: str) -> None:
    """Create the parent folder of a file-based SQLite database (``sqlite:///var/biodiv.db``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _sweep_alerts(sessions: sessionmaker) -> None:
    """One full alert sweep (``models.store.alerts.record_alerts``), logged; errors are logged, not raised."""
    try:
        with sessions() as session:
            n = record_alerts(session)
            if n:
                session.commit()
                log.info("recorded %d invasive-species alerts for detections written outside the service", n)
    except IntegrityError:
        # Several server workers start together and sweep at once: the first to commit records the alerts,
        # the others hit the unique alertKey and have nothing left to do.
        log.info("alert sweep: another worker recorded the same alerts first")
    except Exception:  # noqa: BLE001 - a failed sweep must not stop the service; the next start retries
        log.exception("alert sweep failed")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the database, load the catalogue and the model bundles; dispose of the engine at shutdown."""
    settings: Settings = app.state.settings
    _ensure_sqlite_folder(settings.database_url)
    engine = make_engine(settings.database_url, settings.db_busy_timeout_s)
    create_schema(engine)
    app.state.engine = engine
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    app.state.catalogue = Catalogue.load()
    app.state.classifiers = load_classifiers(settings.image_bundle, settings.audio_bundle)
    app.state.jobs = JobRunner(app.state.sessions, media_root=settings.media_root, classifiers=app.state.classifiers,
                               catalogue=app.state.catalogue, top_k=settings.top_k, workers=settings.job_workers,
                               retry_s=settings.retry_after_s)
    with app.state.sessions() as session:
        moved, removed = recover_uploads(session, settings.media_root, settings.partial_upload_max_age_s)
    if moved or removed:
        log.info("interrupted uploads: %d stored files moved into place, %d staged files removed", moved, removed)
    app.state.jobs.recover()
    # alerts for detections written without the service (e.g. loaded by hand): swept in the background
    sweeper = threading.Thread(target=_sweep_alerts, args=(app.state.sessions,), name="biodiv-alert-sweep",
                               daemon=True)
    sweeper.start()
    webhook = None
    if settings.alert_webhook_url is not None:
        webhook = WebhookWorker(app.state.sessions, settings, getattr(app.state, "webhook_transport", None))
        webhook.start()
    try:
        yield
    finally:
        if webhook is not None:
            webhook.stop()
        app.state.jobs.shutdown()
        sweeper.join(timeout=120)
        engine.dispose()


STATIC_DIR = Path(__file__).parent / "static"


def _mount_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` from local files (no CDN; works offline).

    The Swagger UI 5.x files come from the PyPI package ``swagger-ui-bundle-v2`` (Apache-2.0; the
    ``swagger_ui_bundle.swagger_ui_path`` folder), mounted at ``/static/swagger-ui``; the project's own
    static files (htmx 2, vendored with its licence) are under ``/static``. ReDoc is turned off: it would
    load from a CDN. The import is done here, not at module import, so importing ``serve.app`` stays free.
    """
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static/swagger-ui", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
        )


def _database_busy(request: Request, exc: Exception):
    """503 + ``Retry-After`` for a database held by another writer past the busy timeout
    (``models.store.db.is_contention``), 507 for a full disk (``is_disk_full``); any other database error
    stays a 500 (logged with its trace).
    The request's own transaction was rolled back by its session, and an upload removes its file
    (``serve.uploads._commit``), so nothing is left half-written."""
    if is_disk_full(exc):
        log.error("disk full on %s %s: %s", request.method, request.url.path, getattr(exc, "orig", exc))
        return JSONResponse({"detail": {"reason": "insufficient_storage",
                                        "message": "the server has no space left; nothing was written"}},
                            status_code=507)
    if not is_contention(exc):
        log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal server error"}, status_code=500)
    retry = request.app.state.settings.retry_after_s
    log.warning("database busy on %s %s: %s", request.method, request.url.path, getattr(exc, "orig", exc))
    return JSONResponse({"detail": {"reason": "database_busy",
                                    "message": f"the database is busy with another writer; retry in {retry} s"}},
                        status_code=503, headers={"Retry-After": str(retry)})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web application.

    Args:
        settings: configuration; read from ``BIODIV_*`` environment variables when None.
    """
    app = FastAPI(
        title="biodiv-obs",
        version=__version__,
        summary="Species detections from camera-trap images and acoustic recordings, with invasive-species flags.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _mount_offline_docs(app)
    app.state.settings = settings or Settings()
    web_session.install(app, app.state.settings)  # signed session cookie + sign-in redirect for the pages
    app.add_exception_handler(DBAPIError, _database_busy)
    for router in (health.router, detections.router, species.router, stations.router, media.router, soundscape.router):
        app.include_router(router)
    for router in (events_router.router, stats_router.router, export_router.router):
        app.include_router(router)
    for router in (jobs.router, review.router, alerts.router, keys.router, files.router):
        app.include_router(router)
    app.include_router(pages.router)  # the web pages at / (serve/pages/)
    return app
