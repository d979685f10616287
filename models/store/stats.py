"""Long-term statistics of one station: species counts per day / week / month, diel activity, richness,
and the species accumulation curve.

Times are the stations' **local** times: ``eventStart`` is stored as ISO 8601 in the deployment's time
zone with its UTC offset (ingest applies the deployment's ``timezone``), so the local date is its first
10 characters and the local hour characters 12-13, read in SQL (``substr``) on SQLite and PostgreSQL
alike. Rows without a recorded time are left out. Only animal observations with a ``scientificName``
count as species records (blanks, people and vehicles never do).

``level="media"`` counts media-level detections (one per image or audio window); ``level="event"``
counts event-level observations (camera-trap sequences, acoustic detection events), which is what
relative-abundance indices are usually built on (one record per independent event).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from models.store.db import Detection, DetectionReview, Event
from models.taxonomy.catalogue import normalise_name

Interval = Literal["day", "week", "month"]
Level = Literal["media", "event"]


def _model(level: Level):
    if level not in ("media", "event"):
        raise ValueError(f"level must be 'media' or 'event', got {level!r}")
    return Detection if level == "media" else Event


def _conds(model, station_id: str | None, start: datetime | None, end: datetime | None,
           min_probability: float | None, animals_only: bool = True,
           where: Sequence[ColumnElement[bool]] = ()) -> list[ColumnElement[bool]]:
    conds = [model.eventStart != "", *where]
    if station_id is not None:
        conds.append(model.stationID == station_id)
    if animals_only:
        conds += [model.observationType == "animal", model.scientificName.is_not(None)]
    if start is not None:
        conds.append(model.eventStartUTC >= start)
    if end is not None:
        conds.append(model.eventStartUTC <= end)
    if min_probability is not None:
        conds.append(model.classificationProbability >= min_probability)
    return conds


def period_of(day: str, interval: Interval) -> str:
    """Label of the period holding local date ``day`` (``YYYY-MM-DD``): the day itself, its ISO 8601
    week (``YYYY-Www``, weeks start on Monday) or its month (``YYYY-MM``).

    Raises:
        ValueError: unknown ``interval`` or a malformed date.
    """
    if interval == "day":
        return date.fromisoformat(day).isoformat()
    if interval == "week":
        year, week, _ = date.fromisoformat(day).isocalendar()
        return f"{year}-W{week:02d}"
    if interval == "month":
        return date.fromisoformat(day).strftime("%Y-%m")
    raise ValueError(f"interval must be day, week or month, got {interval!r}")


def _period_start(label: str, interval: Interval) -> date:
    if interval == "week":
        year, week = label.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    return date.fromisoformat(label if interval == "day" else f"{label}-01")


def periods_between(first: str, last: str, interval: Interval, limit: int = 1000) -> list[str]:
    """Every period label from ``first`` to ``last`` inclusive (labels of :func:`period_of`), so a chart shows
    empty periods as zero; at most ``limit`` labels (the first ones).

    Raises:
        ValueError: unknown ``interval`` or a malformed label.
    """
    from datetime import timedelta

    day, end = _period_start(first, interval), _period_start(last, interval)
    out: list[str] = []
    while day <= end and len(out) < limit:
        out.append(period_of(day.isoformat(), interval))
        if interval == "month":
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        else:
            day += timedelta(days=1 if interval == "day" else 7)
    return out


@dataclass(frozen=True)
class PeriodCount:
    """Records of one species in one period (local time)."""

    period: str
    scientificName: str
    count: int


def species_counts(session: Session, station_id: str | None, interval: Interval = "day", level: Level = "media",
                   start: datetime | None = None, end: datetime | None = None,
                   min_probability: float | None = None,
                   where: Sequence[ColumnElement[bool]] = ()) -> list[PeriodCount]:
    """Counts by species per local day, ISO week or month at one station, ordered by period then name.

    ``start``/``end`` are naive UTC bounds on ``eventStartUTC`` (inclusive). One SQL ``GROUP BY`` over
    (species, local date); weeks and months are summed from days. ``station_id`` None counts every
    station; ``where`` adds conditions on the model (e.g. ``public_detections()``, one species, or
    ``classificationMethod == "human"``).
    """
    model = _model(level)
    day = func.substr(model.eventStart, 1, 10)
    rows = session.execute(select(model.scientificName, day, func.count())
                           .where(*_conds(model, station_id, start, end, min_probability, where=where))
                           .group_by(model.scientificName, day)).all()
    totals: Counter[tuple[str, str]] = Counter()
    for name, d, n in rows:
        totals[(period_of(d, interval), name)] += n
    return [PeriodCount(p, name, n) for (p, name), n in sorted(totals.items())]


def diel_activity(session: Session, station_id: str | None, level: Level = "media", start: datetime | None = None,
                  end: datetime | None = None, min_probability: float | None = None,
                  where: Sequence[ColumnElement[bool]] = ()) -> dict[str, list[int]]:
    """Records per hour of local time (0-23) for each species at one station (None: every station):
    ``{name: [24 counts]}``; ``where`` as for :func:`species_counts`."""
    model = _model(level)
    hour = func.substr(model.eventStart, 12, 2)
    out: dict[str, list[int]] = {}
    for name, h, n in session.execute(select(model.scientificName, hour, func.count())
                                      .where(*_conds(model, station_id, start, end, min_probability, where=where))
                                      .group_by(model.scientificName, hour)):
        if h and h.isdigit() and 0 <= int(h) < 24:
            out.setdefault(name, [0] * 24)[int(h)] += n
    return dict(sorted(out.items()))


def mao_tau(incidence: Sequence[int], n_samples: int) -> list[float]:
    """Sample-based rarefaction (the Mao Tau expected species accumulation curve).

    For ``T = n_samples`` sampling units and species ``k`` found in ``s_k`` of them, the expected number
    of species in ``t`` randomly drawn units is ``S(t) = sum_k [1 - C(T - s_k, t) / C(T, t)]`` (Colwell,
    Mao & Chang 2004, *Interpolating, extrapolating, and comparing incidence-based species accumulation
    curves*, Ecology 85: 2717-2727, eq. 5; the same values as EstimateS' "Mao Tau").

    Args:
        incidence: ``s_k`` for each species, each in ``1..n_samples``.
        n_samples: ``T``, the number of sampling units (>= 0).
    Returns:
        ``[S(1), ..., S(T)]``; ``S(T)`` equals the observed richness.
    Raises:
        ValueError: an incidence outside ``1..n_samples``.
    """
    if any(s < 1 or s > n_samples for s in incidence):
        raise ValueError(f"incidences must lie in 1..{n_samples}")
    T = n_samples
    lg = math.lgamma

    def missed(s: int, t: int) -> float:  # C(T - s, t) / C(T, t), by log-gamma (no huge integers)
        if T - s < t:
            return 0.0
        return math.exp(lg(T - s + 1) - lg(T - s - t + 1) - lg(T + 1) + lg(T - t + 1))

    return [sum(1.0 - missed(s, t) for s in incidence) for t in range(1, T + 1)]


def chao2(incidence: Sequence[int], n_samples: int) -> float:
    """Bias-corrected Chao2 estimate of total richness from incidence counts:
    ``S_obs + (T-1)/T * Q1 (Q1 - 1) / (2 (Q2 + 1))`` with ``Q1``/``Q2`` the species found in exactly
    one / two sampling units (Chao 1987, Biometrics 43: 783-791; bias-corrected form as in EstimateS 9,
    Colwell 2013, user's guide appendix B). 0 when there are no samples."""
    if n_samples <= 0:
        return 0.0
    q1 = sum(1 for s in incidence if s == 1)
    q2 = sum(1 for s in incidence if s == 2)
    return len(incidence) + (n_samples - 1) / n_samples * q1 * (q1 - 1) / (2 * (q2 + 1))


@dataclass(frozen=True)
class Richness:
    """Species richness of a station over its sampling days.

    Attributes:
        samplingUnits: local days with at least one record of any kind (blank frames and empty audio
            windows included: the station was recording), in date order.
        observedRichness: distinct species recorded.
        chao2: bias-corrected Chao2 estimate (:func:`chao2`).
        collectorsCurve: cumulative distinct species after each sampling day, in date order.
        maoTau: expected species in ``t = 1..T`` days (:func:`mao_tau`).
        species: days on which each species was recorded (its incidence).
    """

    samplingUnits: list[str]
    observedRichness: int
    chao2: float
    collectorsCurve: list[int]
    maoTau: list[float]
    species: dict[str, int]


def richness(session: Session, station_id: str | None, level: Level = "media", start: datetime | None = None,
             end: datetime | None = None, min_probability: float | None = None,
             where: Sequence[ColumnElement[bool]] = ()) -> Richness:
    """Observed richness, the collector's curve and the Mao Tau accumulation curve at one station, with
    local days as sampling units (two ``SELECT DISTINCT`` queries). ``where`` restricts the records (as for
    :func:`species_counts`); the sampling days are every day with any record that passes ``where``."""
    model = _model(level)
    day = func.substr(model.eventStart, 1, 10)
    days = sorted(d for d in session.scalars(
        select(day).where(*_conds(model, station_id, start, end, None, animals_only=False, where=where))
        .distinct()) if d)
    by_day: dict[str, set[str]] = defaultdict(set)
    for d, name in session.execute(select(day, model.scientificName)
                                   .where(*_conds(model, station_id, start, end, min_probability, where=where))
                                   .distinct()):
        by_day[d].add(name)
    incidence: Counter[str] = Counter()
    seen: set[str] = set()
    collectors: list[int] = []
    for d in days:
        incidence.update(by_day.get(d, ()))
        seen |= by_day.get(d, set())
        collectors.append(len(seen))
    counts = list(incidence.values())
    return Richness(samplingUnits=days, observedRichness=len(incidence), chao2=round(chao2(counts, len(days)), 3),
                    collectorsCurve=collectors, maoTau=[round(x, 4) for x in mao_tau(counts, len(days))],
                    species=dict(sorted(incidence.items())))


@dataclass(frozen=True)
class BandAgreement:
    """Reviews of machine classifications whose probability fell in ``[low, high)`` (the last band includes 1).

    Attributes:
        confirmed: reviews that kept the machine's label (``confirm``, or a ``correct`` to the same label).
        corrected: reviews that changed the label.
        share: ``confirmed / (confirmed + corrected)``; None when no detection of the band was reviewed.
    """

    low: float
    high: float
    confirmed: int
    corrected: int

    @property
    def reviewed(self) -> int:
        """Detections of the band that were reviewed."""
        return self.confirmed + self.corrected

    @property
    def share(self) -> float | None:
        """The confirmed share (0-1), None for an empty band."""
        return self.confirmed / self.reviewed if self.reviewed else None


def machine_reviews(session: Session, where: Sequence[ColumnElement[bool]] = ()) -> list[tuple[dict, DetectionReview]]:
    """``(machine classification, first review)`` of every reviewed detection that passes ``where`` (conditions
    on :class:`~models.store.db.Detection`), in review order. The first review's ``before`` is the model's
    output; later reviews revise a person's label and are not counted. Detections whose first ``before``
    is already human (imported labels) are left out."""
    first = (select(DetectionReview.detectionID, func.min(DetectionReview.reviewID).label("rid"))
             .group_by(DetectionReview.detectionID).subquery())
    rows = session.scalars(select(DetectionReview).join(first, DetectionReview.reviewID == first.c.rid)
                           .join(Detection, Detection.detectionID == DetectionReview.detectionID)
                           .where(*where).order_by(DetectionReview.reviewID)).all()
    return [(r.before or {}, r) for r in rows if (r.before or {}).get("classificationMethod", "machine") == "machine"]


def kept_label(before: dict, review: DetectionReview) -> bool:
    """True when ``review`` left the machine's label (observation type and name) as it was."""
    machine = (before.get("observationType"), before.get("scientificName"))
    return review.action == "confirm" or machine == (review.observationType, review.scientificName)


def review_agreement(session: Session, bands: int = 10, scientific_name: str | None = None,
                     where: Sequence[ColumnElement[bool]] = ()) -> list[BandAgreement]:
    """How far the machine can be trusted: per probability band (``bands`` equal bands of 0-1), how many of the
    reviewed detections the reviewers confirmed and how many they corrected.

    The band and the label are the machine's (the first review's ``before``, see :func:`machine_reviews`);
    ``scientific_name`` keeps only detections the machine called that species (case-insensitive).

    Raises:
        ValueError: ``bands`` is not positive.
    """
    if bands < 1:
        raise ValueError(f"bands must be >= 1, got {bands}")
    kept, changed = [0] * bands, [0] * bands
    want = normalise_name(scientific_name) if scientific_name else None
    for before, review in machine_reviews(session, where):
        if want is not None and normalise_name(before.get("scientificName") or "") != want:
            continue
        p = float(before.get("classificationProbability") or 0.0)
        i = min(bands - 1, max(0, math.floor(round(p * bands, 9))))  # round: 0.3 * 10 is 3, not 2.99..
        (kept if kept_label(before, review) else changed)[i] += 1
    return [BandAgreement(round(i / bands, 6), round((i + 1) / bands, 6), kept[i], changed[i]) for i in range(bands)]
