"""Read-only summaries behind the insight pages (stations, species, review progress), shared with the JSON API.

Every function takes ``where``: extra SQL conditions on :class:`~models.store.db.Detection` (the public
view passes :func:`models.store.privacy.public_detections`), so one query serves both audiences.
Labels of a person (``observationType`` other than ``animal``) are reported as ``[observationType]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from models.store.db import AcousticIndex, Detection, DetectionReview, Media
from models.store.stats import machine_reviews
from models.taxonomy.catalogue import normalise_name

Where = Sequence[ColumnElement[bool]]


@dataclass(frozen=True)
class Effort:
    """Media of one deployment: how many, and the first and last known media time (naive UTC; None if none)."""

    deploymentID: str
    media: int
    first: datetime | None
    last: datetime | None


def deployment_effort(session: Session) -> dict[str, Effort]:
    """Per deployment: media count and the range of media times (one ``GROUP BY`` over ``media``)."""
    rows = session.execute(select(Media.deploymentID, func.count(), func.min(Media.timestampUTC),
                                  func.max(Media.timestampUTC)).group_by(Media.deploymentID)).all()
    return {dep: Effort(dep, n, lo, hi) for dep, n, lo, hi in rows}


def detections_per_deployment(session: Session, where: Where = ()) -> dict[str, int]:
    """Detections per deploymentID."""
    return dict(session.execute(select(Detection.deploymentID, func.count()).where(*where)
                                .group_by(Detection.deploymentID)).all())


def detections_per_species(session: Session, where: Where = ()) -> dict[str, int]:
    """Detections per scientific name, keyed by the normalised name (lower case, single spaces)."""
    counts: dict[str, int] = {}
    for name, n in session.execute(select(Detection.scientificName, func.count())
                                   .where(Detection.scientificName.is_not(None), *where)
                                   .group_by(Detection.scientificName)):
        key = normalise_name(name)
        counts[key] = counts.get(key, 0) + n
    return counts


def species_is(name: str) -> ColumnElement[bool]:
    """Condition: the detection's ``scientificName`` is ``name`` (case- and space-insensitive)."""
    return func.lower(Detection.scientificName) == normalise_name(name)  # as the listing's species filter


@dataclass(frozen=True)
class StationSighting:
    """Where a species was recorded: detections at one station and the first / last time (naive UTC)."""

    stationID: str
    detections: int
    first: datetime | None
    last: datetime | None


def stations_of_species(session: Session, name: str, where: Where = ()) -> list[StationSighting]:
    """Stations where ``name`` was detected (case-insensitive), most detections first."""
    rows = session.execute(select(Detection.stationID, func.count(), func.min(Detection.eventStartUTC),
                                  func.max(Detection.eventStartUTC))
                           .where(species_is(name), *where).group_by(Detection.stationID)
                           .order_by(func.count().desc(), Detection.stationID)).all()
    return [StationSighting(st or "", n, lo, hi) for st, n, lo, hi in rows]


def best_media(session: Session, name: str, where: Where = (), limit: int = 8) -> list[dict]:
    """The ``limit`` images in which ``name`` was detected with the highest probability (one detection per
    image): ``{detectionID, mediaID, stationID, eventStart, probability}``."""
    rows = session.execute(select(Detection.detectionID, Detection.mediaID, Detection.stationID, Detection.eventStart,
                                  Detection.classificationProbability)
                           .where(species_is(name), Detection.modality == "image", *where)
                           .order_by(Detection.classificationProbability.desc(), Detection.detectionID)
                           .limit(limit * 4)).all()
    out, seen = [], set()
    for det, media, station, start, p in rows:
        if media in seen:
            continue
        seen.add(media)
        out.append({"detectionID": det, "mediaID": media, "stationID": station, "eventStart": start,
                    "probability": p})
    return out[:limit]


@dataclass(frozen=True)
class Progress:
    """Reviewed share of one group (a species or a station): ``reviewed`` of ``total`` detections are human."""

    key: str
    total: int
    reviewed: int

    @property
    def share(self) -> float:
        """``reviewed / total`` (0 for an empty group)."""
        return self.reviewed / self.total if self.total else 0.0


def review_progress(session: Session, by: str, where: Where = ()) -> list[Progress]:
    """Human-classified share of the detections per ``by`` (``species`` or ``station``), largest group first.
    Non-animal detections group as ``[observationType]`` under ``species``.

    Raises:
        ValueError: ``by`` is neither ``species`` nor ``station``.
    """
    if by == "species":
        column = func.coalesce(Detection.scientificName, "[" + Detection.observationType + "]")
    elif by == "station":
        column = Detection.stationID
    else:
        raise ValueError(f"by must be 'species' or 'station', got {by!r}")
    human = func.sum(case((Detection.classificationMethod == "human", 1), else_=0))
    rows = session.execute(select(column, func.count(), human).where(*where).group_by(column)
                           .order_by(func.count().desc(), column)).all()
    return [Progress(k or "", n, int(h or 0)) for k, n, h in rows]


@dataclass(frozen=True)
class ReviewerTally:
    """One reviewer's reviews: how many, of how many detections, and how many kept the label before them."""

    reviewer: str
    reviews: int
    detections: int
    confirmed: int
    corrected: int


def reviewer_tallies(session: Session) -> list[ReviewerTally]:
    """Reviews per reviewer (``classifiedBy`` of the review rows), most active first."""
    kept = func.sum(case((DetectionReview.action == "confirm", 1), else_=0))
    rows = session.execute(select(DetectionReview.classifiedBy, func.count(), func.count(distinct(
        DetectionReview.detectionID)), kept).group_by(DetectionReview.classifiedBy)
        .order_by(func.count().desc(), DetectionReview.classifiedBy)).all()
    return [ReviewerTally(r, n, d, int(k or 0), n - int(k or 0)) for r, n, d, k in rows]


def label(observation_type: str | None, scientific_name: str | None) -> str:
    """The label shown for a classification: the name of an animal, else ``[observationType]``."""
    return scientific_name or f"[{observation_type or 'unknown'}]"


def label_confusion(session: Session, where: Where = ()) -> list[tuple[str, str, int]]:
    """Machine label vs the reviewers' label: ``(machine, human, detections)``, most frequent first. The machine
    label is the first review's ``before``; the human label the latest review's."""
    newest = (select(DetectionReview.detectionID, func.max(DetectionReview.reviewID).label("rid"))
              .group_by(DetectionReview.detectionID).subquery())
    final = {d: label(t, n) for d, t, n in session.execute(
        select(DetectionReview.detectionID, DetectionReview.observationType, DetectionReview.scientificName)
        .join(newest, DetectionReview.reviewID == newest.c.rid))}
    pairs: Counter[tuple[str, str]] = Counter()
    for before, first in machine_reviews(session, where):
        machine = label(before.get("observationType"), before.get("scientificName"))
        pairs[(machine, final.get(first.detectionID, machine))] += 1
    return sorted(((m, h, n) for (m, h), n in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))


def acoustic_indices(session: Session, station_id: str, deployment_id: str | None = None,
                     start: datetime | None = None, end: datetime | None = None, limit: int = 500,
                     offset: int = 0) -> tuple[int, list[AcousticIndex]]:
    """``(total, page)`` of a station's acoustic-index segments in time order (untimed segments last);
    ``start``/``end`` are naive UTC bounds on the segment start (inclusive; they leave untimed segments out)."""
    conds = [AcousticIndex.stationID == station_id]
    if deployment_id is not None:
        conds.append(AcousticIndex.deploymentID == deployment_id)
    if start is not None:
        conds.append(AcousticIndex.segmentStartUTC >= start)
    if end is not None:
        conds.append(AcousticIndex.segmentStartUTC <= end)
    total = session.scalar(select(func.count()).select_from(AcousticIndex).where(*conds)) or 0
    rows = session.scalars(
        select(AcousticIndex).where(*conds)
        .order_by(AcousticIndex.segmentStartUTC.is_(None), AcousticIndex.segmentStartUTC, AcousticIndex.mediaID,
                  AcousticIndex.start_s)
        .limit(limit).offset(offset)).all()
    return total, list(rows)
