"""Station statistics (models.store.stats): hand-computed counts, diel activity, Mao Tau and Chao2."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from models.store.db import make_engine
from models.store.stats import chao2, diel_activity, mao_tau, period_of, richness, species_counts
from tests.data_helpers import seed_history

L, S, M = "Lithobates catesbeianus", "Sus scrofa", "Myocastor coypus"


@pytest.fixture()
def session(db_url):
    seed_history(db_url)
    engine = make_engine(db_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_mao_tau_by_hand():
    # T = 3 samples; A in 1, B in 3: S(1) = (1 - 2/3) + 1, S(2) = (1 - 1/3) + 1, S(3) = 2
    assert mao_tau([1, 3], 3) == pytest.approx([4 / 3, 5 / 3, 2.0])
    # T = 4; incidences 3, 2, 1 (the seeded station S1)
    assert mao_tau([3, 2, 1], 4) == pytest.approx([1.5, 1 + 5 / 6 + 0.5, 2.75, 3.0])
    assert mao_tau([], 0) == [] and mao_tau([], 2) == [0.0, 0.0]
    with pytest.raises(ValueError):
        mao_tau([3], 2)


def test_mao_tau_large_sample_is_fast_and_monotone():
    curve = mao_tau([1, 2, 5, 50, 365, 3000], 3650)
    assert len(curve) == 3650 and curve[-1] == pytest.approx(6.0)
    assert all(b >= a - 1e-12 for a, b in zip(curve, curve[1:], strict=False))


def test_chao2_by_hand():
    assert chao2([1, 3], 3) == pytest.approx(2.0)  # Q2 = 0: 2 + 2/3 * 1 * 0 / 2
    assert chao2([1, 1, 2], 4) == pytest.approx(3 + 0.75 * 2 * 1 / 4)
    assert chao2([], 0) == 0.0


@pytest.mark.parametrize(("day", "interval", "expected"), [
    ("2024-05-01", "day", "2024-05-01"), ("2024-05-01", "week", "2024-W18"), ("2024-06-03", "week", "2024-W23"),
    ("2024-12-30", "week", "2025-W01"), ("2024-05-31", "month", "2024-05"),
])
def test_period_of(day, interval, expected):
    assert period_of(day, interval) == expected


def test_counts_per_local_day_week_month(session):
    rows = [(r.period, r.scientificName, r.count) for r in species_counts(session, "S1", "day")]
    # a3 is 2024-05-02 00:20 local (16:20Z on 05-01): it counts on its local day
    assert rows == [("2024-05-01", L, 2), ("2024-05-01", S, 2), ("2024-05-02", L, 1), ("2024-05-02", S, 1),
                    ("2024-05-08", S, 1), ("2024-06-03", M, 1)]
    weeks = [(r.period, r.scientificName, r.count) for r in species_counts(session, "S1", "week")]
    assert weeks == [("2024-W18", L, 3), ("2024-W18", S, 3), ("2024-W19", S, 1), ("2024-W23", M, 1)]
    months = [(r.period, r.scientificName, r.count) for r in species_counts(session, "S1", "month")]
    assert months == [("2024-05", L, 3), ("2024-05", S, 4), ("2024-06", M, 1)]
    events = [(r.period, r.scientificName, r.count) for r in species_counts(session, "S1", "day", level="event")]
    assert events == [("2024-05-01", L, 1), ("2024-05-01", S, 1)]  # the human event never counts
    assert species_counts(session, "nowhere") == []
    assert [r.count for r in species_counts(session, "S1", "month", min_probability=0.8)] == [1, 3]


def test_diel_activity_in_local_hours(session):
    hours = diel_activity(session, "S1")
    assert set(hours) == {L, S, M}
    assert {h: n for h, n in enumerate(hours[S]) if n} == {6: 2, 9: 1, 23: 1}
    assert {h: n for h, n in enumerate(hours[L]) if n} == {0: 1, 20: 2}
    assert {h: n for h, n in enumerate(hours[M]) if n} == {12: 1}


def test_richness_and_accumulation(session):
    r = richness(session, "S1")
    assert r.samplingUnits == ["2024-05-01", "2024-05-02", "2024-05-08", "2024-06-03"]
    assert r.species == {L: 2, M: 1, S: 3} and r.observedRichness == 3
    assert r.collectorsCurve == [2, 2, 2, 3]
    assert r.maoTau == pytest.approx([1.5, 2.3333, 2.75, 3.0], abs=1e-4)
    assert r.chao2 == pytest.approx(3.0)
    empty = richness(session, "nowhere")
    assert (empty.observedRichness, empty.maoTau, empty.collectorsCurve) == (0, [], [])


def test_review_agreement_per_probability_band(db_url):
    from models.store.privacy import public_detections
    from models.store.stats import review_agreement
    from tests.data_helpers import seed_reviews

    seed_reviews(db_url)
    engine = make_engine(db_url)
    with Session(engine) as s:
        boar = {(b.low, b.high): (b.confirmed, b.corrected) for b in review_agreement(s, scientific_name="sus SCROFA")}
        frog = review_agreement(s, scientific_name=L)
        everything = review_agreement(s)
        public = review_agreement(s, scientific_name=S, where=[public_detections()])
        with pytest.raises(ValueError):
            review_agreement(s, bands=0)
    engine.dispose()
    # the machine called a1 (0.9), a4 (0.95) and h2 (0.5) boars, confirmed; a2 (0.8) a boar, corrected
    assert boar[(0.9, 1.0)] == (2, 0) and boar[(0.8, 0.9)] == (0, 1) and boar[(0.5, 0.6)] == (1, 0)
    assert sum(c + k for c, k in boar.values()) == 4 and len(boar) == 10
    assert [(b.low, b.corrected, b.share) for b in frog if b.reviewed] == [(0.7, 1, 0.0)]  # a3, corrected
    assert sum(b.reviewed for b in everything) == 5 and everything[9].share == 1.0 and everything[8].share == 0.0
    assert everything[0].share is None  # nothing reviewed in 0-0.1
    assert public[5].reviewed == 0 and public[9].confirmed == 2  # h2 shares its image with a person
