"""Image review pages (reviewers only): the event queue (``/review``), one event (``/review/event/{key}``),
the review actions, and bulk confirm.

Every action goes through :mod:`models.store.review` (the one review rule the JSON API uses too): one
detection with :func:`~models.store.review.review_detection`, a whole event or a bulk confirm with
:func:`~models.store.review.review_many` in one transaction (all or nothing). The queue and its events come
from :mod:`models.store.queues`. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from models.store import queues
from models.store.db import Alert, Deployment, Detection, Station
from models.store.review import ReviewError, history, review_detection, review_many
from models.taxonomy.catalogue import Catalogue, normalise_name
from serve.auth import Principal, Role
from serve.cache import get_result_cache
from serve.pages.common import language, render
from serve.pages.figures import data_version
from serve.pages.review_text import TEXT
from serve.web_session import CsrfDep, needs

router = APIRouter(include_in_schema=False)
ReviewerDep = Annotated[Principal, Depends(needs(Role.reviewer))]
KeyPath = Annotated[str, Path(max_length=64)]
#: Observation types a reviewer sets with one key (and the key).
QUICK_TYPES = {"blank": "b", "human": "h", "vehicle": "v", "unknown": "u"}
FILTER_FIELDS = ("stationID", "deploymentID", "scientificName", "min_probability", "max_probability", "status",
                 "invasive_first")
PAGE_SIZE = 50


@dataclass
class Filters:
    """A queue's filters read from a request: the core ``selection``, ``invasive_first``, the ``errors`` of
    bad values (shown on the page; the value is then ignored) and ``query`` (the given values, for links)."""

    selection: queues.Selection
    invasive_first: bool = False
    errors: list[str] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)

    def qs(self, **extra) -> str:
        """The filters (and ``extra``) as a query string."""
        return urlencode({**self.query, **{k: v for k, v in extra.items() if v not in (None, "")}})


def _probability(value: str, name: str, errors: list[str]) -> float | None:
    try:
        p = float(value)
    except ValueError:
        p = float("nan")
    if not 0.0 <= p <= 1.0:
        errors.append(f"{name}: {value!r} is not a probability between 0 and 1")
        return None
    return p


def read_filters(values: Mapping[str, str], modality: str = "image") -> Filters:
    """The queue filters of ``values`` (query or form parameters); bad values become ``errors``."""
    given = {k: str(values.get(k, "")).strip()[:256] for k in FILTER_FIELDS}
    given = {k: v for k, v in given.items() if v}
    errors: list[str] = []
    status = given.get("status", "unreviewed")
    if status not in queues.STATUSES:
        errors.append(f"status: {status!r} is not one of {', '.join(queues.STATUSES)}")
        status = "unreviewed"
    lo = _probability(given["min_probability"], "min_probability", errors) if "min_probability" in given else None
    hi = _probability(given["max_probability"], "max_probability", errors) if "max_probability" in given else None
    selection = queues.Selection(stationID=given.get("stationID"), deploymentID=given.get("deploymentID"),
                                 scientificName=given.get("scientificName"), min_probability=lo,
                                 max_probability=hi, status=status, modality=modality)
    return Filters(selection, given.get("invasive_first") in ("1", "on", "true"), errors, given)


def resolve_species(catalogue: Catalogue, text: str) -> str | None:
    """The catalogue's scientificName for ``text``: a scientific, English or Chinese name (any case), or
    the ``scientificName`` part of a picker entry ``Name — vernacular``; None when nothing matches."""
    text = text.split(" — ")[0].strip()
    if not text:
        return None
    species = catalogue.get(text)
    if species is not None:
        return species.scientificName
    key = normalise_name(text)
    for sp in catalogue:
        if key in (normalise_name(sp.vernacularNameEN or "-"), normalise_name(sp.vernacularNameZH or "-")):
            return sp.scientificName
    return None


def species_options(catalogue: Catalogue, lang: str) -> list[dict]:
    """Every catalogue species for the pickers (``<datalist>``): scientific name and both vernacular names."""
    return sorted(({"name": sp.scientificName, "en": sp.vernacularNameEN, "zh": sp.vernacularNameZH,
                    "invasive": sp.is_invasive} for sp in catalogue), key=lambda o: o["name"])


def display_name(catalogue: Catalogue, name: str | None, obs: str, lang: str) -> str:
    """The label of a classification as people read it: the vernacular name, else the scientific name,
    else the observation type."""
    sp = catalogue.get(name) if name else None
    vernacular = (sp.vernacularNameZH if lang == "zh" else sp.vernacularNameEN) if sp else ""
    return vernacular or name or obs


def _choices(request: Request):
    with request.app.state.sessions() as s:
        stations = list(s.scalars(select(Station.stationID).order_by(Station.stationID)))
        deployments = list(s.scalars(select(Deployment.deploymentID).order_by(Deployment.deploymentID)))
    return stations, deployments


@router.get("/review", response_class=HTMLResponse)
def queue_page(request: Request, viewer: ReviewerDep, lang: str | None = None,
               page: Annotated[int, Query(ge=1, le=100000)] = 1) -> HTMLResponse:
    """The image review queue: events with detections in the filters (station, deployment, species,
    probability range, unreviewed only by default, invasive first), 50 a page, and the bulk-confirm form."""
    lang = language(request, lang)
    f = read_filters(request.query_params)
    catalogue = request.app.state.catalogue
    with request.app.state.sessions() as s:
        events = queues.event_queue(s, f.selection, invasive_first=f.invasive_first, limit=PAGE_SIZE + 1,
                                    offset=(page - 1) * PAGE_SIZE)
        # species counts of the bulk form aggregate every matching detection (2.5 s at 1,000,000): kept until
        # the data changes (data_version: a new detection or review), so the counts stay exact
        bulk_sel = queues.Selection(**{**f.selection.__dict__, "status": "unreviewed"})
        bulk_species = get_result_cache(request).get(("bulk-species", bulk_sel, data_version(s)),
                                                     lambda: queues.species_counts(s, bulk_sel))
    for ev in events:
        ev["display"] = display_name(catalogue, ev["label"], ev["label"] or "", lang)
    stations, deployments = _choices(request)
    return render(request, "review_queue.html", lang, viewer, text=TEXT, events=events[:PAGE_SIZE],
                  more=len(events) > PAGE_SIZE, page=page, f=f, stations=stations, deployments=deployments,
                  species=species_options(catalogue, lang),
                  bulk_species=[(n, c, display_name(catalogue, n, n, lang)) for n, c in bulk_species])


def _bulk_selection(f: Filters, species: str, min_probability: str) -> tuple[queues.Selection | None, str]:
    errors: list[str] = []
    p = _probability(min_probability, "min_probability", errors)
    if not species:
        errors.append("choose a species")
    if errors:
        return None, "; ".join(errors)
    lo = max(p, f.selection.min_probability or 0.0)
    return queues.Selection(**{**f.selection.__dict__, "scientificName": species, "min_probability": lo,
                               "status": "unreviewed"}), ""


@router.get("/review/bulk", response_class=HTMLResponse)
def bulk_count(request: Request, viewer: ReviewerDep, lang: str | None = None,
               bulk_species: Annotated[str, Query(max_length=256)] = "",
               bulk_min_probability: Annotated[str, Query(max_length=16)] = "0.9") -> HTMLResponse:
    """Step one of bulk confirm: how many unreviewed detections of the species, at or above the probability,
    the queue's filters select, and the button that confirms exactly those (an htmx fragment, or a page)."""
    lang = language(request, lang)
    f = read_filters(request.query_params)
    selection, error = _bulk_selection(f, bulk_species, bulk_min_probability)
    count = 0
    if selection is not None:
        with request.app.state.sessions() as s:
            count = len(queues.selection_ids(s, selection))
    fragment = request.headers.get("hx-request") == "true"
    return render(request, "review_bulk.html", lang, viewer, text=TEXT, fragment=fragment, f=f, count=count,
                  error=error, bulk_species=bulk_species, bulk_min_probability=bulk_min_probability,
                  label=display_name(request.app.state.catalogue, bulk_species, bulk_species, lang),
                  status_code=422 if error else 200)


@router.post("/review/bulk", response_class=HTMLResponse)
async def bulk_confirm(request: Request, viewer: ReviewerDep, _: CsrfDep, lang: str | None = None) -> Response:
    """Step two: confirm every detection of the selection in one transaction (all or nothing), when it
    still holds the number shown in step one (else the new count is shown again, 409)."""
    lang = language(request, lang)
    form = await request.form()
    f = read_filters(form)
    species, min_p = str(form.get("bulk_species", ""))[:256], str(form.get("bulk_min_probability", ""))[:16]
    selection, error = _bulk_selection(f, species, min_p)
    fragment = request.headers.get("hx-request") == "true"
    ctx = {"f": f, "bulk_species": species, "bulk_min_probability": min_p, "fragment": fragment,
           "label": display_name(request.app.state.catalogue, species, species, lang)}
    if selection is None:
        return render(request, "review_bulk.html", lang, viewer, text=TEXT, count=0, error=error, status_code=422,
                      **ctx)
    with request.app.state.sessions() as s:
        ids = queues.selection_ids(s, selection)
        if str(len(ids)) != str(form.get("expected", "")):
            return render(request, "review_bulk.html", lang, viewer, text=TEXT, count=len(ids), error="",
                          changed=True, status_code=409, **ctx)
        try:
            review_many(s, ids, action="confirm", reviewer=viewer.name, catalogue=request.app.state.catalogue,
                        comment="bulk confirm")
        except ReviewError as exc:
            return render(request, "review_bulk.html", lang, viewer, text=TEXT, count=len(ids), error=str(exc),
                          status_code=exc.status, **ctx)
    return render(request, "review_bulk.html", lang, viewer, text=TEXT, count=len(ids), error="", done=True, **ctx)


def _alternatives(catalogue: Catalogue, event, frames, lang: str) -> list[dict]:
    """The event's quick species (keys 1-9): the event's and its frames' top-K catalogue species, best first."""
    best: dict[str, float] = {}
    for top in [getattr(event, "topK", None) or []] + [d.topK or [] for d, _ in frames]:
        for entry in top:
            name, score = entry[0], float(entry[1])
            sp = catalogue.get(name) if isinstance(name, str) else None
            if sp is not None:
                best[sp.scientificName] = max(score, best.get(sp.scientificName, 0.0))
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:9]
    return [{"digit": i + 1, "name": n, "score": p, "display": display_name(catalogue, n, n, lang)}
            for i, (n, p) in enumerate(ranked)]


@router.get("/review/event/{key}", response_class=HTMLResponse)
def event_page(request: Request, viewer: ReviewerDep, key: KeyPath, lang: str | None = None,
               frame: Annotated[int, Query(ge=0, le=100000)] = 0) -> HTMLResponse:
    """One camera-trap event: the filmstrip of its frames, the selected frame large with its machine label,
    probability, rule and alternatives, the review actions per frame and for the whole event, the frame's
    review history, and the key bindings. 404 for an unknown event."""
    lang = language(request, lang)
    f = read_filters(request.query_params)
    catalogue = request.app.state.catalogue
    with request.app.state.sessions() as s:
        frames = queues.event_frames(s, key)
        if not frames:
            raise HTTPException(404, f"no image event or media {key!r}")
        event = queues.event_row(s, key)
        frame = min(frame, len(frames) - 1)
        det, media = frames[frame]
        past = history(s, det.detectionID)
        alerts = list(s.scalars(select(Alert).where(Alert.detectionID == det.detectionID).order_by(Alert.alertID)))
        reviewed = {d.detectionID for d, _ in frames} - set(
            s.scalars(select(Detection.detectionID).where(Detection.detectionID.in_([d.detectionID for d, _ in frames]),
                                                          queues.unreviewed())))
        nxt = queues.next_event(s, f.selection, exclude=key, invasive_first=f.invasive_first)
    items = [{"det": d, "media": m, "reviewed": d.detectionID in reviewed,
              "display": display_name(catalogue, d.scientificName, d.observationType, lang)} for d, m in frames]
    top = [{"name": e[0], "score": float(e[1]),
            "display": display_name(catalogue, e[0] if catalogue.get(e[0]) else None, e[0], lang)}
           for e in (det.topK or []) if isinstance(e, list | tuple) and len(e) >= 2]
    rows = [{"review": r, "display": display_name(catalogue, r.scientificName, r.observationType, lang),
             "before": display_name(catalogue, r.before.get("scientificName"), r.before.get("observationType", ""),
                                    lang)} for r in past]
    return render(request, "review_event.html", lang, viewer, text=TEXT, key=key, event=event, items=items,
                  frame=frame, cur=items[frame], top=top, history=rows, alerts=alerts, f=f, next_event=nxt,
                  quick=_alternatives(catalogue, event, frames, lang), quick_types=QUICK_TYPES,
                  species=species_options(catalogue, lang),
                  event_display=display_name(catalogue, event.scientificName, event.observationType, lang)
                  if event else "")


def _target(form_action: str, observation_type: str, species: str, catalogue: Catalogue) -> dict:
    """The review arguments of a form: ``confirm`` / ``uncertain`` as they are; ``correct`` to an
    observation type, or to the species typed (resolved by :func:`resolve_species`).

    Raises:
        ReviewError: 422 for an unknown action, type or species.
    """
    if form_action in ("confirm", "uncertain"):
        return {"action": form_action}
    if form_action != "correct":
        raise ReviewError(422, f"unknown action {form_action!r}")
    if observation_type and observation_type != "animal":
        return {"action": "correct", "observation_type": observation_type}
    name = resolve_species(catalogue, species)
    if name is None:
        raise ReviewError(422, f"{species!r} is not a species of the catalogue (scientific, English or Chinese "
                               "name)" if species.strip() else "type a species to correct to")
    return {"action": "correct", "scientific_name": name, "observation_type": "animal"}


def _back(target: str) -> str:
    """``target`` when it is a review page of this server, else ``/review`` (no open redirect)."""
    return target if target.startswith("/review") and not target.startswith("//") and "\\" not in target \
        else "/review"


@router.post("/review/detection/{key}", response_class=HTMLResponse)
def review_one(request: Request, viewer: ReviewerDep, _: CsrfDep, key: KeyPath,
               action: Annotated[str, Form(max_length=16)],
               observationType: Annotated[str, Form(max_length=16)] = "",
               scientificName: Annotated[str, Form(max_length=256)] = "",
               next: Annotated[str, Form(max_length=2048)] = "/review",
               lang: Annotated[str | None, Form(max_length=4)] = None) -> Response:
    """Review one detection (confirm, correct to a species or an observation type, uncertain), then 303 to
    ``next``; an htmx request gets the reviewed audio item back instead. Errors: 404 / 422 with a message
    (for htmx: the item again with the message, so that it is swapped in and shown)."""
    lang = language(request, lang)
    catalogue = request.app.state.catalogue
    htmx = request.headers.get("hx-request") == "true"
    try:
        args = _target(action, observationType, scientificName, catalogue)
        with request.app.state.sessions() as s:
            det, _review = review_detection(s, key, reviewer=viewer.name, catalogue=catalogue, **args)
            past = history(s, key)
    except ReviewError as exc:
        if htmx:  # the item again with the message (200: htmx swaps it in; nothing was saved)
            with request.app.state.sessions() as s:
                det = s.get(Detection, key)
                past = history(s, key) if det is not None else []
            if det is None:
                return HTMLResponse(f'<p class="error" role="alert">{_escape(str(exc))}</p>', status_code=404)
            from serve.pages.review_audio import audio_item

            return audio_item(request, viewer, lang, det, past, error=str(exc), typed=scientificName)
        return render(request, "review_message.html", lang, viewer, text=TEXT, message=str(exc),
                      back=_back(next), status_code=exc.status)
    if htmx:
        from serve.pages.review_audio import audio_item

        return audio_item(request, viewer, lang, det, past)
    return RedirectResponse(_back(next), status_code=303)


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


@router.post("/review/event/{key}", response_class=HTMLResponse)
async def review_event(request: Request, viewer: ReviewerDep, _: CsrfDep, key: KeyPath,
                       lang: str | None = None) -> Response:
    """Apply one review to every frame of event ``key`` in one transaction (all or nothing), then 303 to the
    next unreviewed event of the same filters (or the queue when none is left)."""
    lang = language(request, lang)
    form = await request.form()
    catalogue = request.app.state.catalogue
    f = read_filters(form)
    back = f"/review/event/{key}?{f.qs(lang=lang)}"
    try:
        args = _target(str(form.get("action", ""))[:16], str(form.get("observationType", ""))[:16],
                       str(form.get("scientificName", ""))[:256], catalogue)
        with request.app.state.sessions() as s:
            frames = queues.event_frames(s, key)
            if not frames:
                raise ReviewError(404, f"no image event or media {key!r}")
            review_many(s, [d.detectionID for d, _ in frames], reviewer=viewer.name, catalogue=catalogue, **args)
            nxt = queues.next_event(s, f.selection, exclude=key, invasive_first=f.invasive_first)
    except ReviewError as exc:
        return render(request, "review_message.html", lang, viewer, text=TEXT, message=str(exc), back=back,
                      status_code=exc.status)
    target = f"/review/event/{nxt}?{f.qs(lang=lang)}" if nxt else f"/review?{f.qs(lang=lang)}"
    return RedirectResponse(target, status_code=303)
