"""Human review of detections, and the export of reviewed labels for retraining.

A reviewer confirms or corrects a detection. The detection row then carries the human
classification (Camtrap DP ``classificationMethod`` = ``human``, ``classifiedBy`` = the reviewer,
``classificationTimestamp`` = when, ``classificationProbability`` = 1.0 since a person's judgement
is recorded as certain), while ``modelVersion`` and ``topK`` keep the model's output and every
review appends a ``detection_reviews`` row holding the classification it replaced, so the machine
prediction is always recoverable. The publish stage never overwrites a human-classified detection
(:func:`human_windows`).

:func:`export_reviewed_labels` turns every human-classified animal or blank detection into a
training example inside the labelled datasets, ``<raw>/camera_traps/reviewed/`` and
``<raw>/acoustic/reviewed/`` (a ``manifest.csv`` in the datasets' own format plus the files), which
the ingest stage adds to the training data; ``dvc add`` + ``dvc repro`` then retrain on them.
"""

from __future__ import annotations

import csv
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.media.derivatives import audio_clip
from models.media.errors import MediaError
from models.media.tables import safe_row
from models.store.alerts import record_alerts, withdraw_alerts
from models.store.db import Detection, DetectionReview, Media
from models.store.files import media_path
from models.taxonomy.catalogue import BLANK, Catalogue

log = logging.getLogger(__name__)

#: Camtrap DP 1.0 ``observationType`` values a reviewer may set.
OBSERVATION_TYPES = ("animal", "human", "vehicle", "blank", "unknown", "unclassified")
#: Folder, inside each labelled dataset, that holds exported reviewed labels.
REVIEWED_DIR = "reviewed"
MANIFEST_FIELDS = ["file", "scientific_name", "label_source", "source_repo", "licence", "attribution",
                   "station_hint", "datetime", "detectionID", "classifiedBy", "classificationTimestamp"]


class ReviewError(ValueError):
    """A review that cannot be applied: ``status`` 404 (no such detection) or 422 (invalid label)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _snapshot(det: Detection) -> dict:
    return {k: getattr(det, k) for k in ("observationType", "scientificName", "classificationProbability",
                                         "isInvasive", "classificationMethod", "classifiedBy",
                                         "classificationTimestamp", "modelVersion", "taxonRank",
                                         "classificationSource")}


#: Review actions: ``confirm`` the label, ``correct`` it, or ``uncertain`` (the reviewer cannot tell).
ACTIONS = ("confirm", "correct", "uncertain")


def review_detection(session: Session, detection_id: str, *, action: str, reviewer: str, catalogue: Catalogue,
                     scientific_name: str | None = None, observation_type: str | None = None, comment: str = "",
                     now: datetime | None = None) -> tuple[Detection, DetectionReview]:
    """Confirm or correct one detection, or record that the reviewer is uncertain, and record the review;
    commits (alerts included), or rolls back and raises.

    Args:
        action: ``confirm`` (keep the current label), ``correct`` (set ``scientific_name`` and/or
            ``observation_type``; an ``animal`` needs a catalogue species, any other type has none) or
            ``uncertain`` (the reviewer could not decide: the detection keeps the machine's label, method
            and alerts untouched, only the history records the review, so the review queues skip it).
        reviewer: the reviewer's name (``classifiedBy``).
        catalogue: resolves the corrected name and its invasive status.

    Raises:
        ReviewError: 404 for an unknown detection; 422 for an unknown species, an animal without a
            species, a species on a non-animal observation, or an unknown action/observation type.
    """
    try:
        det, review = apply_review(session, detection_id, action=action, reviewer=reviewer, catalogue=catalogue,
                                   scientific_name=scientific_name, observation_type=observation_type,
                                   comment=comment, now=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return det, review


def review_many(session: Session, detection_ids: list[str], *, action: str, reviewer: str, catalogue: Catalogue,
                scientific_name: str | None = None, observation_type: str | None = None, comment: str = "",
                now: datetime | None = None) -> list[DetectionReview]:
    """Apply the same review to every detection of ``detection_ids`` in ONE transaction: all of them are
    reviewed (each one with its own history row, alerts included) and committed, or, when any one fails,
    none is (rolled back, the error re-raised).

    Raises:
        ReviewError: as :func:`review_detection`, for the first detection that cannot be reviewed.
    """
    reviews = []
    try:
        for detection_id in dict.fromkeys(detection_ids):  # each once, in the given order
            reviews.append(apply_review(session, detection_id, action=action, reviewer=reviewer,
                                        catalogue=catalogue, scientific_name=scientific_name,
                                        observation_type=observation_type, comment=comment, now=now)[1])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return reviews


def confirm_many(session: Session, detection_ids: list[str], *, reviewer: str, catalogue: Catalogue,
                 comment: str = "", now: datetime | None = None) -> list[DetectionReview]:
    """Confirm every detection of ``detection_ids`` (bulk confirm) in one transaction, all or nothing;
    see :func:`review_many`."""
    return review_many(session, detection_ids, action="confirm", reviewer=reviewer, catalogue=catalogue,
                       comment=comment, now=now)


def apply_review(session: Session, detection_id: str, *, action: str, reviewer: str, catalogue: Catalogue,
                 scientific_name: str | None = None, observation_type: str | None = None, comment: str = "",
                 now: datetime | None = None) -> tuple[Detection, DetectionReview]:
    """The one review rule (see :func:`review_detection`), applied in the caller's transaction: changes
    the detection, adds the history row and the alerts and flushes, but does not commit.

    Raises:
        ReviewError: 404 / 422 as :func:`review_detection` (nothing of this detection is changed then).
    """
    det = session.get(Detection, detection_id)
    if det is None:
        raise ReviewError(404, f"no detection with ID {detection_id!r}")
    if action in ("confirm", "uncertain"):
        obs_type, name = det.observationType, det.scientificName
    elif action == "correct":
        obs_type = observation_type or ("animal" if scientific_name else det.observationType)
        keep = det.scientificName if obs_type == "animal" else None
        name = scientific_name if scientific_name is not None else keep
    else:
        raise ReviewError(422, f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    if action == "uncertain":  # nothing decided: the detection stays the machine's, only the history records it
        review = DetectionReview(detectionID=det.detectionID, action=action, observationType=obs_type,
                                 scientificName=name, classifiedBy=reviewer, classificationTimestamp=stamp,
                                 comment=comment, before=_snapshot(det))
        session.add(review)
        session.flush()
        return det, review
    if obs_type not in OBSERVATION_TYPES:
        raise ReviewError(422, f"observationType must be one of {', '.join(OBSERVATION_TYPES)}")
    rank = None
    if obs_type == "animal" and action == "confirm" and name and det.taxonRank not in (None, "", "species"):
        rank = det.taxonRank  # confirming a rolled-up genus / family / order / class keeps it
    elif obs_type == "animal":
        species = catalogue.get(name) if name else None
        if species is None:
            raise ReviewError(422, f"scientificName {name!r} is not in the species catalogue" if name
                              else "an animal observation needs a scientificName")
        name, rank = species.scientificName, species.taxonRank or "species"
    elif name:
        raise ReviewError(422, f"a {obs_type} observation has no scientificName")
    else:
        name = None
    review = DetectionReview(detectionID=det.detectionID, action=action, observationType=obs_type,
                             scientificName=name, classifiedBy=reviewer, classificationTimestamp=stamp,
                             comment=comment, before=_snapshot(det))
    det.observationType, det.scientificName, det.taxonRank = obs_type, name, rank
    det.classificationSource = "human"
    was_invasive = bool(det.isInvasive)
    det.isInvasive = catalogue.is_invasive(name)
    if was_invasive and not det.isInvasive:  # the reviewer says it is not an invasive species after all
        withdraw_alerts(session, det.detectionID, f"review by {reviewer}: {obs_type} {name or ''}".strip(),
                        now.replace(tzinfo=None) if now else None)
    det.classificationMethod, det.classifiedBy, det.classificationTimestamp = "human", reviewer, stamp
    det.classificationProbability = 1.0
    session.add(review)
    session.flush()
    record_alerts(session, [det.detectionID])
    return det, review


def history(session: Session, detection_id: str) -> list[DetectionReview]:
    """Reviews of a detection, oldest first; the first one's ``before`` is the machine prediction."""
    return list(session.scalars(select(DetectionReview).where(DetectionReview.detectionID == detection_id)
                                .order_by(DetectionReview.reviewID)))


def human_windows(session: Session, media_ids: set[str]) -> set[tuple[str, float]]:
    """``(mediaID, start_s rounded to ms)`` of human-classified detections among ``media_ids``:
    a publish must not write machine predictions over these (whatever the model version)."""
    out: set[tuple[str, float]] = set()
    ids = sorted(media_ids)
    for i in range(0, len(ids), 500):
        out.update((m, round(s, 3)) for m, s in session.execute(
            select(Detection.mediaID, Detection.start_s).where(Detection.mediaID.in_(ids[i:i + 500]),
                                                               Detection.classificationMethod == "human")))
    return out


@dataclass
class LabelExport:
    """What :func:`export_reviewed_labels` wrote: rows per dataset and detections skipped, with reasons."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def export_reviewed_labels(session: Session, raw: Path, media_root: Path, stations_root: Path) -> LabelExport:
    """Write every human-classified ``animal``/``blank`` detection as a labelled training example.

    Images are copied whole to ``<raw>/camera_traps/reviewed/<sha[:2]>/<sha><ext>``; an audio
    detection becomes a clip of its window (``start_s``..``end_s`` at the native sample rate, WAV
    PCM 16-bit) at ``<raw>/acoustic/reviewed/<detectionID>.wav``. Each folder's ``manifest.csv`` is
    rewritten in full (the labelled datasets' columns, plus ``detectionID``, ``classifiedBy`` and
    ``classificationTimestamp``), so running it again reflects later reviews and never duplicates.

    Args:
        raw: the DVC-tracked raw data folder (``data/raw``).
        media_root: where uploads are stored (the service's ``media_root``).
        stations_root: the station drops (``data/raw/stations``), for media that came from a drop.

    Returns:
        Rows written per dataset and the detections skipped (missing media file, other observation types).
    """
    out = LabelExport()
    rows: dict[str, list[dict]] = {"camera_traps": [], "acoustic": []}
    dets = session.execute(select(Detection, Media).join(Media, Media.mediaID == Detection.mediaID)
                           .where(Detection.classificationMethod == "human")
                           .order_by(Detection.mediaID, Detection.start_s)).all()
    for det, media in dets:
        if det.observationType not in ("animal", "blank"):
            out.skipped.append((det.detectionID, f"observationType {det.observationType} is not a training class"))
            continue
        try:
            src = media_path(media, media_root, stations_root)
        except MediaError as exc:
            out.skipped.append((det.detectionID, exc.detail))
            continue
        dataset = "camera_traps" if det.modality == "image" else "acoustic"
        if dataset == "acoustic" and det.observationType == "blank":
            out.skipped.append((det.detectionID, "the acoustic classifier has no blank class (silence is detected)"))
            continue
        folder = raw / dataset / REVIEWED_DIR
        if det.modality == "image":
            rel = f"{media.sha256[:2]}/{media.sha256}{src.suffix.lower()}"
            dst = folder / rel
            if not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
        else:
            rel = f"{det.detectionID}.wav"
            dst = folder / rel
            if not dst.exists():
                try:
                    audio_clip(src, dst, det.start_s, det.end_s)
                except MediaError as exc:
                    out.skipped.append((det.detectionID, exc.detail))
                    continue
        rows[dataset].append({
            "file": rel, "scientific_name": det.scientificName or BLANK,
            "label_source": f"human review of detection {det.detectionID}", "source_repo": "biodiv-obs review",
            "licence": "", "attribution": det.classifiedBy, "station_hint": det.deploymentID,
            "datetime": media.timestamp, "detectionID": det.detectionID, "classifiedBy": det.classifiedBy,
            "classificationTimestamp": det.classificationTimestamp})
    for dataset, items in rows.items():
        if not items and not (raw / dataset / REVIEWED_DIR).exists():
            continue
        manifest = raw / dataset / REVIEWED_DIR / "manifest.csv"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        with open(manifest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
            writer.writeheader()
            writer.writerows(safe_row(item) for item in items)  # reviewer names: no formulas
        out.written[dataset] = len(items)
    for detection, reason in out.skipped:
        log.warning("review export: skipped %s (%s)", detection, reason)
    return out
