"""The audio validation queue (reviewers only): ``/review/audio?species=...&order=score|random|bands&seed=...``.

Per species (a picker with the number of unreviewed detections), each item shows the spectrogram of the
window +-2 s (``/v1/detections/{id}/spectrogram?pad_s=2``), a player for the window and one for the window
+-2 s, the score, and the actions confirm / correct / uncertain (htmx posts to
``/review/detection/{id}``, which reviews through :func:`models.store.review.review_detection`). The
orders come from :func:`models.store.queues.order_queue`; a random or banded order without a seed gets a
fresh one by a redirect, so the URL always reproduces the order.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from models.store import queues
from models.store.db import Detection, DetectionReview
from models.store.review import history
from serve.auth import Principal
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.pages.figures import data_version
from serve.pages.review import ReviewerDep, display_name, species_options
from serve.pages.review_text import TEXT

router = APIRouter(include_in_schema=False)
AUDIO_PAGE = 20


def _item(det: Detection, past: list[DetectionReview], catalogue, lang: str) -> dict:
    return {"det": det, "display": display_name(catalogue, det.scientificName, det.observationType, lang),
            "history": [{"review": r, "display": display_name(catalogue, r.scientificName, r.observationType, lang)}
                        for r in past]}


def audio_item(request: Request, viewer: Principal, lang: str, det: Detection, past: list[DetectionReview],
               error: str = "", typed: str = "") -> HTMLResponse:
    """The fragment of one audio queue item (after an htmx review: its new state and history, or ``error``
    with the species ``typed`` kept in its box)."""
    return render(request, "review_audio_item.html", lang, viewer, text=TEXT,
                  it={**_item(det, past, request.app.state.catalogue, lang), "error": error, "typed": typed})


@router.get("/review/audio", response_class=HTMLResponse)
def audio_queue(request: Request, viewer: ReviewerDep, lang: str | None = None,
                species: Annotated[str, Query(max_length=256)] = "",
                order: Annotated[str, Query(max_length=8)] = "score",
                seed: Annotated[str, Query(max_length=32)] = "",
                page: Annotated[int, Query(ge=1, le=100000)] = 1) -> Response:
    """The audio queue of one species in the chosen order (20 a page); the species picker with counts."""
    lang = language(request, lang)
    catalogue = request.app.state.catalogue
    error = ""
    if order not in queues.ORDERS:
        error, order = f"order: {order!r} is not one of {', '.join(queues.ORDERS)}", "score"
    if order != "score" and not seed and not error:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "seed"]
        return RedirectResponse(f"/review/audio?{urlencode([*query, ('seed', secrets.randbelow(10**6))])}",
                                status_code=303)
    base = queues.Selection(modality="audio")
    items: list[dict] = []
    total = 0
    cache = get_result_cache(request)
    with request.app.state.sessions() as s:
        # the picker and a species' ordered queue aggregate every audio detection (1-3 s at 1,000,000): kept
        # until the data changes (data_version: a new detection or review), so results stay exact
        version = data_version(s)
        counts = cache.get(("audio-picker", version), lambda: queues.species_counts(s, base))
        if species:
            ordered = cache.get(("audio-queue", species, order, seed, version), lambda: queues.order_queue(
                queues.scored_ids(s, queues.Selection(modality="audio", scientificName=species)), order, seed))
            total = len(ordered)
            chosen = ordered[(page - 1) * AUDIO_PAGE: page * AUDIO_PAGE]
            dets = {d.detectionID: d for d in s.scalars(select(Detection).where(Detection.detectionID.in_(chosen)))}
            items = [_item(dets[i], history(s, i), catalogue, lang) for i in chosen if i in dets]
    picker = [(n, c, display_name(catalogue, n, n, lang)) for n, c in counts]
    query = {"species": species, "order": order, "seed": seed, "lang": lang}
    return render(request, "review_audio.html", lang, viewer, text=TEXT, picker=picker, species=species,
                  order=order, seed=seed, items=items, total=total, page=page, error=error,
                  more=page * AUDIO_PAGE < total, query=query, label=display_name(catalogue, species, species, lang)
                  if species else "", species_list=species_options(catalogue, lang),
                  status_code=422 if error else 200)
