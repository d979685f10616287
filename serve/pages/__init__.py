"""The observatory's web pages, server-rendered (Jinja2) at ``/``; the JSON API stays under ``/v1``.

Each module holds one group of pages and its own interface strings; :data:`router` joins them. Pages read
through the same query code and access rules as the API and never load anything from another host (htmx 2
is vendored under ``/static/htmx``).
"""

from fastapi import APIRouter

from serve.pages import (
    account,
    alerts,
    browse,
    progress,
    review,
    review_audio,
    species,
    stations,
    statistics,
    upload,
)

router = APIRouter(include_in_schema=False)
for _module in (account, browse, stations, species, statistics, review_audio, review, alerts, upload, progress):
    router.include_router(_module.router)
