"""What public readers may see: no media of people or vehicles, generalised coordinates of sensitive species.

Two rules apply to every read by a caller below the ``reviewer`` role (API, Camtrap DP and Darwin Core
exports alike):

1. **People and vehicles.** Detections whose Camtrap DP ``observationType`` is ``human`` or ``vehicle``
   (or whose ``scientificName`` is one of :data:`PRIVATE_NAMES`, e.g. a label ``Homo sapiens``) are
   left out, and so is every other detection of the same media file: the media item shows the person
   or vehicle whatever else was detected on it.
2. **Sensitive species.** Coordinates of sites where a species flagged ``sensitive`` in the catalogue
   was detected are generalised to a grid of ``precision_deg`` decimal degrees, and the coordinate
   uncertainty grows accordingly (GBIF, *Current Best Practices for Generalizing Sensitive Species
   Occurrence Data*, A. D. Chapman 2020, section 4: round to a coarser grid and record the
   generalisation in ``dataGeneralizations`` / ``coordinateUncertaintyInMeters``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import aliased

from models.store.db import Detection, Event
from models.taxonomy.catalogue import PRIVATE_KINDS, Catalogue, normalise_name

#: Camtrap DP ``observationType`` values whose media are never public.
PRIVATE_OBSERVATION_TYPES = ("human", "vehicle")
#: Labels that stand for people or vehicles when a model emits them as a "species" (normalised form).
PRIVATE_NAMES = tuple(PRIVATE_KINDS)
#: Metres per degree of latitude (WGS84 mean; 1 degree of arc at the mean Earth radius 6,371 km).
M_PER_DEG = 111_195.0


def sensitive_names(catalogue: Catalogue) -> list[str]:
    """Catalogue names flagged ``sensitive`` (the catalogue's display form, as stored in detections)."""
    return sorted(sp.scientificName for sp in catalogue if sp.sensitive)


def is_private(observation_type: str | None, scientific_name: str | None) -> bool:
    """True for an observation of a person or a vehicle (rule 1 of the module docstring)."""
    return (observation_type or "") in PRIVATE_OBSERVATION_TYPES or (
        scientific_name is not None and normalise_name(scientific_name) in PRIVATE_NAMES)


def _private_row(model) -> ColumnElement[bool]:
    return or_(model.observationType.in_(PRIVATE_OBSERVATION_TYPES),
               func.lower(model.scientificName).in_(PRIVATE_NAMES))


@functools.cache
def public_detections() -> ColumnElement[bool]:
    """SQL condition on :class:`~models.store.db.Detection` that keeps only publicly visible rows.

    A row is hidden when it, or any other detection of the same ``mediaID``, is of a person or a
    vehicle (a ``NOT EXISTS`` probe of the ``(mediaID, observationType)`` index). Built once (cached):
    the expression is immutable and SQLAlchemy caches its compiled form.
    """
    other = aliased(Detection)
    return not_(exists(select(other.detectionID).where(other.mediaID == Detection.mediaID, _private_row(other))))


def media_is_private(session, media_id: str) -> bool:
    """True when any detection of ``media_id`` is of a person or a vehicle: then its files (original,
    thumbnail, clip, spectrogram) are never given to public readers."""
    return session.scalar(select(exists().where(Detection.mediaID == media_id, _private_row(Detection)))) or False


@functools.cache
def public_events() -> ColumnElement[bool]:
    """SQL condition on :class:`~models.store.db.Event` that hides events of people or vehicles, and events
    holding a media-level detection of a person or vehicle."""
    other = aliased(Detection)
    return and_(not_(_private_row(Event)),
                not_(exists(select(other.detectionID).where(other.eventID == Event.eventID, _private_row(other)))))


@dataclass(frozen=True)
class Point:
    """A WGS84 position in decimal degrees with its uncertainty radius in m (None = unknown)."""

    latitude: float | None
    longitude: float | None
    uncertainty_m: float | None = None
    generalised: bool = False


def generalise(latitude: float | None, longitude: float | None, uncertainty_m: float | None,
               precision_deg: float) -> Point:
    """Snap a position to the nearest node of a grid of ``precision_deg`` degrees (``round(x / p) * p``).

    The uncertainty becomes the original one plus the half-diagonal of a grid cell
    (``sqrt(2) / 2 * p * 111,195 m``, an upper bound at any latitude), rounded up to the metre.
    Missing coordinates stay missing.

    Raises:
        ValueError: ``precision_deg`` is not positive.
    """
    if precision_deg <= 0:
        raise ValueError(f"precision_deg must be > 0, got {precision_deg}")
    if latitude is None or longitude is None:
        return Point(latitude, longitude, uncertainty_m, generalised=True)
    decimals = max(0, -math.floor(math.log10(precision_deg)) + 1)
    lat = round(round(latitude / precision_deg) * precision_deg, decimals)
    lon = round(round(longitude / precision_deg) * precision_deg, decimals)
    lat = min(90.0, max(-90.0, lat))
    lon = min(180.0, max(-180.0, lon))
    extra = math.sqrt(2) / 2 * precision_deg * M_PER_DEG
    return Point(lat, lon, float(math.ceil((uncertainty_m or 0.0) + extra)), generalised=True)


def sensitive_deployments(session, catalogue: Catalogue) -> set[str]:
    """Deployment IDs where a sensitive species was detected (media- or event-level)."""
    names = sensitive_names(catalogue)
    if not names:
        return set()
    found: set[str] = set()
    for model in (Detection, Event):
        found.update(session.scalars(select(model.deploymentID).where(model.scientificName.in_(names))
                                     .distinct()))
    return found


def generalisation_note(precision_deg: float, names: Iterable[str]) -> str:
    """Darwin Core ``dataGeneralizations`` text for a generalised record."""
    return (f"Coordinates generalised to a {precision_deg:g} degree grid (sensitive species: "
            f"{', '.join(sorted(names)) or 'none'})")


def visible_rows(model, public: bool) -> list[ColumnElement[bool]]:
    """The SQL conditions a reader's queries on ``model`` (``Detection`` or ``Event``) add: none for reviewers,
    :func:`public_detections` / :func:`public_events` for the public. Every listing, statistic and page calls
    this, so the public sees the same rows everywhere."""
    if not public:
        return []
    return [public_events() if model is Event else public_detections()]
