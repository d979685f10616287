"""Review queues: which detections await a reviewer, grouped into camera-trap events, and the orders of the
audio validation queue.

A detection is *unreviewed* while the machine's classification stands and no reviewer has looked at it
(:func:`unreviewed`: ``classificationMethod`` ``machine`` and no ``detection_reviews`` row; an ``uncertain``
review leaves the machine's label but takes it out of the queue).

Camera-trap images are reviewed per event (a sequence of media of one deployment, ``detections.eventID``);
a media-level detection without an event is its own event, keyed by its ``mediaID`` (:func:`event_key`).

The audio queue of one species comes in three orders (:func:`order_queue`): highest score first; a seeded
random order (the same seed always gives the same order: sorted by SHA-256 of seed and detectionID); and
evenly across score bands (ten bands of 0.1, taken round-robin from the highest band down, each band in
the seeded random order), as the validation of BirdNET / HawkEars detections samples every score range
rather than only the confident top.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, exists, false, func, select, union_all
from sqlalchemy.orm import Session

from models.store.db import Detection, DetectionReview, Event, Media

#: Orders of the audio queue.
ORDERS = ("score", "random", "bands")
#: Review states a selection can ask for.
STATUSES = ("unreviewed", "reviewed", "all")


def unreviewed() -> ColumnElement[bool]:
    """SQL condition: the machine's classification stands and no review of the detection is recorded."""
    return (Detection.classificationMethod == "machine") & ~exists().where(
        DetectionReview.detectionID == Detection.detectionID)


def event_key() -> ColumnElement[str]:
    """SQL expression: the detection's ``eventID``, else its ``mediaID`` (a media without event is its own)."""
    return func.coalesce(Detection.eventID, Detection.mediaID)


@dataclass(frozen=True)
class Selection:
    """Filters of a review queue (every field optional): station, deployment, species, probability range,
    review state (``unreviewed``, ``reviewed`` or ``all``) and modality."""

    stationID: str | None = None
    deploymentID: str | None = None
    scientificName: str | None = None
    min_probability: float | None = None
    max_probability: float | None = None
    status: str = "unreviewed"
    modality: str | None = "image"

    def conditions(self) -> list[ColumnElement[bool]]:
        """The SQL conditions on ``Detection`` of this selection.

        Raises:
            ValueError: an unknown ``status``.
        """
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        conds: list[ColumnElement[bool]] = []
        for column, value in ((Detection.stationID, self.stationID), (Detection.deploymentID, self.deploymentID),
                              (Detection.scientificName, self.scientificName), (Detection.modality, self.modality)):
            if value:
                conds.append(column == value)
        if self.min_probability is not None:
            conds.append(Detection.classificationProbability >= self.min_probability)
        if self.max_probability is not None:
            conds.append(Detection.classificationProbability <= self.max_probability)
        if self.status == "unreviewed":
            conds.append(unreviewed())
        elif self.status == "reviewed":
            conds.append(~unreviewed())
        return conds


def _key_in(keys: Sequence[str], media_keys: Sequence[str] | None = None) -> ColumnElement[bool]:
    """SQL condition ``event_key() IN keys`` written so that the ``eventID`` and ``mediaID`` indexes answer it
    (a union of two index lookups; SQLite scans every row for ``coalesce(...) IN`` or the equivalent ``OR``).
    With ``media_keys`` given, ``keys`` are only eventIDs and ``media_keys`` only mediaIDs of media without
    event (an empty list leaves its lookup out)."""
    event_keys = keys
    media_keys = keys if media_keys is None else media_keys
    parts = []
    if event_keys:
        parts.append(select(Detection.detectionID).where(Detection.eventID.in_(event_keys)))
    if media_keys:
        parts.append(select(Detection.detectionID).where(Detection.mediaID.in_(media_keys),
                                                         Detection.eventID.is_(None)))
    if not parts:
        return false()
    return Detection.detectionID.in_(union_all(*parts) if len(parts) > 1 else parts[0])


def _first_keys(session: Session, conds: list, count: int) -> dict[str, bool]:
    """The first ``count`` event keys in time order of their earliest matching detection (untimed last), each
    with True when it is an ``eventID`` (False: a media without event): a walk down the ``eventStartUTC``
    index that stops as soon as ``count`` distinct events are seen, instead of grouping every matching
    detection (2.5 s at 1,000,000 detections, ``benchmarks/pages.py``). The order is by the bare column so
    that SQLite reads the index in order rather than sorting every row."""
    seen: dict[str, bool] = {}
    for extra, order in ((Detection.eventStartUTC.is_not(None), Detection.eventStartUTC),
                         (Detection.eventStartUTC.is_(None), Detection.mediaID)):
        rows = session.execute(select(Detection.eventID, Detection.mediaID).where(*conds, extra).order_by(order)
                               .execution_options(yield_per=500))
        for event, media in rows:
            seen.setdefault(event or media, event is not None)
            if len(seen) >= count:
                rows.close()
                return seen
        rows.close()
    return seen


def event_queue(session: Session, selection: Selection, *, invasive_first: bool = False, limit: int = 50,
                offset: int = 0) -> list[dict]:
    """Events with at least one detection in ``selection``, oldest first (invasive ones first when asked;
    untimed last): per event its ``key``, ``stationID``, ``deploymentID``, ``start`` (earliest local time,
    ISO 8601 with offset; None when untimed),
    ``frames`` (matching detections), ``unreviewed`` (of those), ``maxProbability``, ``invasive``, the
    ``label`` (most frequent scientificName or observationType) and a ``mediaID`` for a thumbnail.

    Without ``invasive_first`` the page's events are found first (:func:`_first_keys`) and only their
    detections are aggregated; with it, every matching detection is grouped (the invasive flag of an event
    is known only after that)."""
    key = event_key().label("key")
    inv = func.max(case((Detection.isInvasive.is_(True), 1), else_=0)).label("invasive")
    start = func.min(Detection.eventStartUTC).label("start")
    local = func.min(case((Detection.eventStart != "", Detection.eventStart), else_=None))
    conds = selection.conditions()
    on_page: ColumnElement[bool] | None = None
    if not invasive_first:
        found = list(_first_keys(session, conds, offset + limit).items())[offset:]
        if not found:
            return []
        on_page = _key_in([k for k, is_event in found if is_event], [k for k, is_event in found if not is_event])
    query = (select(key, func.max(Detection.stationID), func.max(Detection.deploymentID), local, func.count(),
                    func.sum(case((unreviewed(), 1), else_=0)), func.max(Detection.classificationProbability),
                    inv, func.min(Detection.mediaID))
             .where(*conds, *([on_page] if on_page is not None else [])).group_by(event_key()))
    order = [inv.desc()] if invasive_first else []
    query = query.order_by(*order, start.is_(None), start, key)
    rows = session.execute(query if on_page is not None else query.limit(limit).offset(offset)).all()
    labels = _event_labels(session, selection, on_page if on_page is not None else _key_in([r[0] for r in rows]))
    return [{"key": k, "stationID": st, "deploymentID": dep, "start": when, "frames": n, "unreviewed": int(u or 0),
             "maxProbability": p, "invasive": bool(i), "label": labels.get(k), "mediaID": m}
            for k, st, dep, when, n, u, p, i, m in rows]


def _event_labels(session: Session, selection: Selection, on_page: ColumnElement[bool]) -> dict[str, str]:
    """The most frequent label (scientificName, else observationType) of each event selected by ``on_page``."""
    counts: dict[str, dict[str, int]] = {}
    for k, name, obs in session.execute(select(event_key(), Detection.scientificName, Detection.observationType)
                                        .where(on_page, *selection.conditions())):
        label = name or obs
        counts.setdefault(k, {})[label] = counts.setdefault(k, {}).get(label, 0) + 1
    return {k: max(c, key=lambda name: (c[name], name)) for k, c in counts.items()}


def event_frames(session: Session, key: str) -> list[tuple[Detection, Media]]:
    """The image detections of event ``key`` (an ``eventID``, else a ``mediaID`` without event) with their
    media, in time order (untimed last, then by media)."""
    base = (select(Detection, Media).join(Media, Media.mediaID == Detection.mediaID)
            .where(Detection.modality == "image")
            .order_by(Detection.eventStartUTC.is_(None), Detection.eventStartUTC, Media.timestamp, Detection.mediaID,
                      Detection.start_s))
    rows = session.execute(base.where(Detection.eventID == key)).all()
    if not rows:
        rows = session.execute(base.where(Detection.mediaID == key, Detection.eventID.is_(None))).all()
    return [(d, m) for d, m in rows]


def event_row(session: Session, key: str) -> Event | None:
    """The event-level observation of ``key``, when it is an event (None for a media that is its own)."""
    return session.get(Event, key)


def next_event(session: Session, selection: Selection, *, exclude: str | None = None,
               invasive_first: bool = False) -> str | None:
    """The key of the first event of the queue with an unreviewed detection, other than ``exclude``."""
    sel = Selection(**{**selection.__dict__, "status": "unreviewed"})
    for row in event_queue(session, sel, invasive_first=invasive_first, limit=2):
        if row["key"] != exclude:
            return row["key"]
    return None


def selection_ids(session: Session, selection: Selection) -> list[str]:
    """IDs of every detection in ``selection`` (sorted), e.g. what a bulk confirm would review."""
    return list(session.scalars(select(Detection.detectionID).where(*selection.conditions())
                                .order_by(Detection.detectionID)))


def species_counts(session: Session, selection: Selection) -> list[tuple[str, int]]:
    """``(scientificName, detections)`` of the animal detections in ``selection``, most detections first."""
    n = func.count().label("n")
    return [(name, count) for name, count in session.execute(
        select(Detection.scientificName, n).where(Detection.scientificName.is_not(None), *selection.conditions())
        .group_by(Detection.scientificName).order_by(n.desc(), Detection.scientificName))]


def scored_ids(session: Session, selection: Selection) -> list[tuple[str, float]]:
    """``(detectionID, classificationProbability)`` of every detection in ``selection``."""
    return [(i, float(p)) for i, p in session.execute(
        select(Detection.detectionID, Detection.classificationProbability).where(*selection.conditions()))]


def seeded_key(seed: int | str, detection_id: str) -> str:
    """The sort key of ``detection_id`` in the random order of ``seed``: SHA-256 of ``seed:detectionID``."""
    return hashlib.sha256(f"{seed}:{detection_id}".encode()).hexdigest()


def score_band(score: float, bands: int = 10) -> int:
    """The band of ``score`` among ``bands`` equal bands of [0, 1] (0 = lowest; 1.0 falls in the top band)."""
    return min(max(int(float(score) * bands), 0), bands - 1)


def order_queue(items: Sequence[tuple[str, float]], order: str, seed: int | str = 0, bands: int = 10) -> list[str]:
    """Detection IDs of ``items`` (``(detectionID, score)``) in the queue ``order``:

    - ``score``: highest score first (ties by detectionID);
    - ``random``: by :func:`seeded_key` (the same seed gives the same order, whatever the input order);
    - ``bands``: round-robin over the score bands (:func:`score_band`) from the highest down, each band in
      the seeded random order, so the first ``bands`` items span every band that has detections.

    Raises:
        ValueError: an unknown ``order``.
    """
    if order == "score":
        return [i for i, _ in sorted(items, key=lambda it: (-it[1], it[0]))]
    if order == "random":
        return [i for i, _ in sorted(items, key=lambda it: seeded_key(seed, it[0]))]
    if order != "bands":
        raise ValueError(f"order must be one of {', '.join(ORDERS)}")
    by_band: dict[int, list[str]] = {}
    for i, score in sorted(items, key=lambda it: seeded_key(seed, it[0])):
        by_band.setdefault(score_band(score, bands), []).append(i)
    queues = [by_band[b] for b in sorted(by_band, reverse=True)]
    out: list[str] = []
    depth = 0
    while len(out) < len(items):
        out.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return out
