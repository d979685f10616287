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

from models.store.db import Detection, Event

Interval = Literal["day", "week", "month"]
Level = Literal["media", "event"]


def _model(level: Level):
    if level not in ("media", "event"):
        raise ValueError(f"level must be 'media' or 'event', got {level!r}")
    return Detection if level == "media" else Event


def _conds(model, station_id: str, start: datetime | None, end: datetime | None,
           min_probability: float | None, animals_only: bool = True) -> list[ColumnElement[bool]]:
    conds = [model.stationID == station_id, model.eventStart != ""]
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


@dataclass(frozen=True)
class PeriodCount:
    """Records of one species in one period (local time)."""

    period: str
    scientificName: str
    count: int


def species_counts(session: Session, station_id: str, interval: Interval = "day", level: Level = "media",
                   start: datetime | None = None, end: datetime | None = None,
                   min_probability: float | None = None) -> list[PeriodCount]:
    """Counts by species per local day, ISO week or month at one station, ordered by period then name.

    ``start``/``end`` are naive UTC bounds on ``eventStartUTC`` (inclusive). One SQL ``GROUP BY`` over
    (species, local date); weeks and months are summed from days.
    """
    model = _model(level)
    day = func.substr(model.eventStart, 1, 10)
    rows = session.execute(select(model.scientificName, day, func.count())
                           .where(*_conds(model, station_id, start, end, min_probability))
                           .group_by(model.scientificName, day)).all()
    totals: Counter[tuple[str, str]] = Counter()
    for name, d, n in rows:
        totals[(period_of(d, interval), name)] += n
    return [PeriodCount(p, name, n) for (p, name), n in sorted(totals.items())]


def diel_activity(session: Session, station_id: str, level: Level = "media", start: datetime | None = None,
                  end: datetime | None = None, min_probability: float | None = None) -> dict[str, list[int]]:
    """Records per hour of local time (0-23) for each species at one station: ``{name: [24 counts]}``."""
    model = _model(level)
    hour = func.substr(model.eventStart, 12, 2)
    out: dict[str, list[int]] = {}
    for name, h, n in session.execute(select(model.scientificName, hour, func.count())
                                      .where(*_conds(model, station_id, start, end, min_probability))
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


def richness(session: Session, station_id: str, level: Level = "media", start: datetime | None = None,
             end: datetime | None = None, min_probability: float | None = None) -> Richness:
    """Observed richness, the collector's curve and the Mao Tau accumulation curve at one station, with
    local days as sampling units (two ``SELECT DISTINCT`` queries)."""
    model = _model(level)
    day = func.substr(model.eventStart, 1, 10)
    days = sorted(d for d in session.scalars(
        select(day).where(*_conds(model, station_id, start, end, None, animals_only=False)).distinct()) if d)
    by_day: dict[str, set[str]] = defaultdict(set)
    for d, name in session.execute(select(day, model.scientificName)
                                   .where(*_conds(model, station_id, start, end, min_probability)).distinct()):
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
