"""Review pages (serve/pages/review.py, review_audio.py) and their core (models/store/queues.py, review_many):
image review by event, bulk confirm, the audio validation queue; reviewers only, CSRF on every POST."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.store import queues
from models.store.db import Alert, Detection, DetectionReview, Event, Media, detection_id, to_utc
from models.store.keys import create_key
from models.store.review import ReviewError, confirm_many, history
from models.taxonomy.catalogue import Catalogue
from serve.app import create_app
from tests.serve_helpers import seed_database
from tests.serve_helpers import sign_in as _sign_in

EVENT = "ev-s1-1"


def _add_event(db) -> list[str]:
    """A three-frame camera-trap event ``ev-s1-1`` on S1-cam (Sus scrofa 0.62 / 0.81 / 0.93, top-K with
    alternatives) and its event row; returns the detection IDs in time order."""
    ids = []
    for i, prob in enumerate((0.62, 0.81, 0.93)):
        mid = f"e{i}"
        stamp = f"2024-05-03T06:00:0{i * 2}+08:00"
        db.add(Media(mediaID=mid, sha256=mid * 32, deploymentID="S1-cam", stationID="S1", modality="image",
                     filePath=f"S1/{mid}", fileName=f"frame{i}.jpg", timestamp=stamp, created=datetime(2024, 7, 1)))
        db.flush()
        det = Detection(detectionID=detection_id(mid, 0.0, "seed/1"), mediaID=mid, deploymentID="S1-cam",
                        stationID="S1", modality="image", eventStart=stamp, eventStartUTC=to_utc(stamp),
                        eventID=EVENT, observationType="animal", scientificName="Sus scrofa",
                        classificationProbability=prob, isInvasive=False, modelVersion="seed/1",
                        topK=[["Sus scrofa", prob], ["Lithobates catesbeianus", 0.05], ["blank", 0.02]])
        db.add(det)
        ids.append(det.detectionID)
    db.add(Event(eventID=EVENT, deploymentID="S1-cam", stationID="S1", modality="image", mediaCount=3,
                 eventStart="2024-05-03T06:00:00+08:00", eventEnd="2024-05-03T06:00:04+08:00",
                 observationType="animal", scientificName="Sus scrofa", classificationProbability=0.93,
                 modelVersion="seed/1", topK=[["Sus scrofa", 0.93], ["Bos taurus", 0.04]]))
    db.commit()
    return ids


def _add_audio(db, scores: list[float], name: str = "Sus scrofa") -> list[str]:
    """Audio detections of ``name`` on one recording ``a1``, one per 3 s window, with these scores."""
    db.add(Media(mediaID="a1", sha256="a1" * 32, deploymentID="S1-rec", stationID="S1", modality="audio",
                 filePath="S1/a1", fileName="a1.wav", created=datetime(2024, 7, 1)))
    db.flush()
    ids = []
    for i, score in enumerate(scores):
        det = Detection(detectionID=detection_id("a1", 3.0 * i, "seed/1"), mediaID="a1", deploymentID="S1-rec",
                        stationID="S1", modality="audio", start_s=3.0 * i, end_s=3.0 * i + 3.0,
                        observationType="animal", scientificName=name, classificationProbability=score,
                        modelVersion="seed/1", topK=[[name, score]])
        db.add(det)
        ids.append(det.detectionID)
    db.commit()
    return ids


@pytest.fixture()
def web(settings, db):
    """A started app on the seeded database plus the three-frame event; yields (client, db, ids)."""
    ids = seed_database(settings.database_url)
    ids["event"] = _add_event(db)
    with TestClient(create_app(settings)) as c:
        yield c, db, ids



def _det(db, detection: str) -> Detection:
    db.expire_all()
    return db.get(Detection, detection)


def test_anonymous_and_uploader_are_sent_to_sign_in(web):
    c, db, ids = web
    r = c.get("/review/audio?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Freview%2Faudio%3Fx%3D1&role=reviewer"
    for path in ("/review", f"/review/event/{EVENT}", "/review/bulk"):
        assert c.get(path, follow_redirects=False).status_code == 303
    csrf = _sign_in(c, db, "uploader", "Station 1")
    r = c.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Freview&role=reviewer"
    r = c.post(f"/review/detection/{ids['d1']}", data={"action": "confirm", "csrf_token": csrf})
    assert r.status_code == 403 and _det(db, ids["d1"]).classificationMethod == "machine"
    assert 'href="/review?lang=en"' not in c.get("/").text


def test_queue_lists_events_with_filters_and_the_nav_shows_both_review_pages(web):
    c, db, ids = web
    _sign_in(c, db)
    page = c.get("/review?lang=en").text
    assert 'href="/review?lang=en" aria-current="page"' in page and 'href="/review/audio?lang=en"' in page
    keys = re.findall(r'href="/review/event/([^"?]+)\?', page)
    # the event (3 frames) and the three image media without event (m1, m3, m4): audio is not in this queue
    assert sorted(keys) == sorted([EVENT, "m1", "m3", "m4"])
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if EVENT in r)
    assert re.findall(r'<td class="num">([^<]+)</td>', row) == ["3", "3", "0.93"]
    s1 = c.get("/review?stationID=S1&min_probability=0.9").text
    assert re.findall(r'href="/review/event/([^"?]+)\?', s1) == ["m1", EVENT]  # oldest first
    assert re.findall(r'href="/review/event/([^"?]+)\?', c.get("/review?max_probability=0.8").text) == [EVENT, "m3"]
    d1, d4 = _det(db, ids["d1"]), _det(db, ids["d4"])
    d1.isInvasive, d4.isInvasive = False, True
    db.commit()
    assert re.findall(r'href="/review/event/([^"?]+)\?', c.get("/review").text) == ["m1", EVENT, "m4", "m3"]
    first = re.findall(r'href="/review/event/([^"?]+)\?', c.get("/review?invasive_first=1").text)
    assert first == ["m3", "m1", EVENT, "m4"]  # the invasive (untimed) one first
    bad = c.get("/review?min_probability=high")
    assert bad.status_code == 200 and "min_probability: &#39;high&#39; is not a probability" in bad.text
    assert c.get(f"/review/event/{EVENT}x").status_code == 404


def test_event_page_shows_the_frames_label_alternatives_and_key_bindings(web):
    c, db, ids = web
    _sign_in(c, db)
    page = c.get(f"/review/event/{EVENT}?frame=1&lang=en").text
    assert re.findall(r'/v1/media/(e\d)/thumbnail\?size=160', page) == ["e0", "e1", "e2"]
    assert "/v1/media/e1/thumbnail?size=1280" in page and "Frame 2 / 3" in page
    assert "<dd>0.81</dd>" in page and "<dd>model</dd>" in page  # probability and rule of frame 2
    assert "American bullfrog" in page and "0.050" in page  # an alternative of the top-K
    # quick species: the event's catalogue alternatives, best first, with their digit
    quick = re.findall(r'name="scientificName" value="([^"]+)"><button[^>]*data-key="(\d)"', page)
    assert quick == [("Sus scrofa", "1"), ("Lithobates catesbeianus", "2"), ("Bos taurus", "3")]
    assert 'id="prev-frame"' in page and 'id="next-frame"' in page and 'id="next-event"' in page
    for binding in ("<kbd>j</kbd>", "<kbd>c</kbd>", "<kbd>e</kbd>", "<kbd>n</kbd>", "<kbd>1</kbd>"):
        assert binding in page
    assert "Not reviewed yet." in page
    zh = c.get(f"/review/event/{EVENT}?lang=zh").text
    assert "野猪" in zh and "键盘快捷键" in zh


def test_confirm_correct_and_blank_through_the_forms_are_human_reviews_with_history(web):
    c, db, ids = web
    csrf = _sign_in(c, db)
    e0, e1, e2 = ids["event"]
    nxt = f"/review/event/{EVENT}?frame=1"
    r = c.post(f"/review/detection/{e0}", data={"action": "confirm", "csrf_token": csrf, "next": nxt},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == nxt
    det = _det(db, e0)
    assert (det.classificationMethod, det.classifiedBy, det.scientificName) == ("human", "Li Wei", "Sus scrofa")
    assert [h.action for h in history(db, e0)] == ["confirm"]
    # correct by English name, then by Chinese name
    c.post(f"/review/detection/{e1}", data={"action": "correct", "scientificName": "cattle", "csrf_token": csrf})
    assert _det(db, e1).scientificName == "Bos taurus" and _det(db, e1).classifiedBy == "Li Wei"
    c.post(f"/review/detection/{e1}", data={"action": "correct", "scientificName": "野猪", "csrf_token": csrf})
    assert _det(db, e1).scientificName == "Sus scrofa"
    assert [h.scientificName for h in history(db, e1)] == ["Bos taurus", "Sus scrofa"]
    c.post(f"/review/detection/{e2}", data={"action": "correct", "observationType": "blank", "csrf_token": csrf})
    det = _det(db, e2)
    assert (det.observationType, det.scientificName, det.classificationMethod) == ("blank", None, "human")
    page = c.get(f"/review/event/{EVENT}?frame=1").text
    assert page.count("✓ reviewed") == 3 and "Cattle" in page and "Li Wei" in page  # history of frame 2
    r = c.post(f"/review/detection/{e2}", data={"action": "correct", "scientificName": "Dragon", "csrf_token": csrf})
    assert r.status_code == 422 and "not a species of the catalogue" in r.text
    assert len(history(db, e2)) == 1


def test_correcting_an_invasive_detection_withdraws_its_alert_and_the_page_shows_it(web):
    c, db, ids = web
    csrf = _sign_in(c, db)
    assert db.scalar(select(Alert.status).where(Alert.detectionID == ids["d1"])) == "open"
    assert "Invasive alert</dt><dd class=\"invasive\">open" in c.get("/review/event/m1").text
    c.post(f"/review/detection/{ids['d1']}", data={"action": "correct", "scientificName": "Sus scrofa",
                                                    "csrf_token": csrf})
    db.expire_all()
    alert = db.scalar(select(Alert).where(Alert.detectionID == ids["d1"]))
    assert alert.status == "withdrawn" and "review by Li Wei" in alert.withdrawnReason
    page = c.get("/review/event/m1").text
    assert "withdrawn · review by Li Wei: animal Sus scrofa" in page


def test_a_post_without_csrf_token_is_refused_and_changes_nothing(web):
    c, db, ids = web
    _sign_in(c, db)
    e0 = ids["event"][0]
    for path, data in ((f"/review/detection/{e0}", {"action": "confirm"}),
                       (f"/review/event/{EVENT}", {"action": "confirm"}),
                       ("/review/bulk", {"bulk_species": "Sus scrofa", "bulk_min_probability": "0", "expected": "4"})):
        assert c.post(path, data=data).status_code == 403
        assert c.post(path, data={**data, "csrf_token": "forged"}).status_code == 403
    assert db.scalar(select(DetectionReview.reviewID)) is None
    assert _det(db, e0).classificationMethod == "machine"


def test_whole_event_action_reviews_every_frame_and_goes_to_the_next_unreviewed_event(web):
    c, db, ids = web
    csrf = _sign_in(c, db)
    r = c.post(f"/review/event/{EVENT}", data={"action": "correct", "observationType": "human", "csrf_token": csrf,
                                               "stationID": "S1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/review/event/m1?stationID=S1")
    assert [(_det(db, i).observationType, _det(db, i).classifiedBy) for i in ids["event"]] == [("human", "Li Wei")] * 3
    assert db.scalar(select(DetectionReview.reviewID).where(DetectionReview.detectionID == ids["d1"])) is None
    keys = re.findall(r'href="/review/event/([^"?]+)\?', c.get("/review").text)
    assert EVENT not in keys  # reviewed events leave the default (unreviewed) queue
    assert EVENT in re.findall(r'href="/review/event/([^"?]+)\?', c.get("/review?status=reviewed").text)


def test_bulk_confirm_counts_then_confirms_exactly_the_selection(web):
    c, db, ids = web
    csrf = _sign_in(c, db)
    e0, e1, e2 = ids["event"]
    query = {"stationID": "S1", "bulk_species": "Sus scrofa", "bulk_min_probability": "0.8"}
    r = c.get("/review/bulk", params=query, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text  # an htmx fragment
    assert "2 unreviewed detections of Wild boar with probability ≥ 0.8" in r.text
    assert 'name="expected" value="2"' in r.text
    # the selection changed (or the count was tampered with): nothing is confirmed, the new count is shown
    r = c.post("/review/bulk", data={**query, "expected": "3", "csrf_token": csrf})
    assert r.status_code == 409 and "selection changed" in r.text
    assert db.scalar(select(DetectionReview.reviewID)) is None
    r = c.post("/review/bulk", data={**query, "expected": "2", "csrf_token": csrf})
    assert r.status_code == 200 and "Confirmed 2 detections of Wild boar" in r.text
    assert {i for i in (e0, e1, e2, ids["d4"]) if _det(db, i).classificationMethod == "human"} == {e1, e2}
    assert [h.comment for h in history(db, e1)] == ["bulk confirm"] and _det(db, e1).classifiedBy == "Li Wei"
    assert "0 unreviewed detections" in c.get("/review/bulk", params=query).text
    assert c.get("/review/bulk", params={**query, "bulk_min_probability": "x"}).status_code == 422


def test_confirm_many_is_all_or_nothing(web, monkeypatch):
    c, db, ids = web
    catalogue = Catalogue.load()
    good = ids["event"]
    with pytest.raises(ReviewError) as err:
        confirm_many(db, [*good, "no-such-detection"], reviewer="Li Wei", catalogue=catalogue)
    assert err.value.status == 404
    assert [_det(db, i).classificationMethod for i in good] == ["machine"] * 3
    assert db.scalar(select(DetectionReview.reviewID)) is None
    import models.store.review as review

    calls = []

    def failing(session, detection_ids=None):
        calls.append(detection_ids)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return 0

    monkeypatch.setattr(review, "record_alerts", failing)
    with pytest.raises(RuntimeError):
        confirm_many(db, good, reviewer="Li Wei", catalogue=catalogue)
    assert len(calls) == 2 and [_det(db, i).classificationMethod for i in good] == ["machine"] * 3
    assert db.scalar(select(DetectionReview.reviewID)) is None
    monkeypatch.undo()
    assert len(confirm_many(db, good, reviewer="Li Wei", catalogue=catalogue)) == 3
    assert [_det(db, i).classificationMethod for i in good] == ["human"] * 3


def test_order_queue_score_seeded_random_and_bands():
    items = [(f"d{i:02d}", s) for i, s in enumerate([0.95, 0.91, 0.97, 0.55, 0.52, 0.15, 0.12, 0.58, 1.0, 0.05])]
    assert queues.order_queue(items, "score")[:4] == ["d08", "d02", "d00", "d01"]
    a = queues.order_queue(items, "random", seed=7)
    assert a == queues.order_queue(list(reversed(items)), "random", seed=7)  # same seed, same order
    assert a != queues.order_queue(items, "random", seed=8) and sorted(a) == sorted(i for i, _ in items)
    bands = queues.order_queue(items, "bands", seed=7)
    score = dict(items)
    # round-robin from the top band down: one of each band (9, 5, 1, 0) before any band repeats
    assert [queues.score_band(score[i]) for i in bands[:4]] == [9, 5, 1, 0]
    assert [queues.score_band(score[i]) for i in bands[4:7]] == [9, 5, 1]
    assert sorted(bands) == sorted(a) and bands == queues.order_queue(items, "bands", seed=7)
    assert queues.score_band(1.0) == 9 and queues.score_band(0.0) == 0
    with pytest.raises(ValueError):
        queues.order_queue(items, "alphabetical")


def test_audio_queue_orders_and_reviews_with_htmx(web):
    c, db, ids = web
    scores = [0.95, 0.91, 0.55, 0.52, 0.15, 0.12, 0.97]
    audio = _add_audio(db, scores)
    csrf = _sign_in(c, db)
    picker = c.get("/review/audio?lang=en").text
    assert "Wild boar (Sus scrofa) — 8" in picker  # 7 here + d3 of the seed
    page = c.get("/review/audio?species=Sus%20scrofa&order=score").text
    shown = [float(x) for x in re.findall(r"Score ([0-9.]+)", page)]
    assert shown == sorted([*scores, 0.40], reverse=True)
    for i in audio[:1]:
        assert f"/v1/detections/{i}/spectrogram?pad_s=2" in page and f"/v1/detections/{i}/clip?pad_s=2" in page
    assert '<audio controls preload="none" src="/v1/detections/' in page
    r = c.get("/review/audio?species=Sus%20scrofa&order=random", follow_redirects=False)
    assert r.status_code == 303 and re.search(r"&seed=\d+$", r.headers["location"])

    def order(url):
        return re.findall(r'id="item-([^"]+)"', c.get(url).text)

    seeded = order("/review/audio?species=Sus%20scrofa&order=random&seed=42")
    assert seeded == order("/review/audio?species=Sus%20scrofa&order=random&seed=42")
    assert "Seed 42" in c.get("/review/audio?species=Sus%20scrofa&order=random&seed=42").text
    bands = order("/review/audio?species=Sus%20scrofa&order=bands&seed=42")
    band_of = {d: queues.score_band(_det(db, d).classificationProbability) for d in bands}
    assert [band_of[d] for d in bands[:4]] == [9, 5, 4, 1]
    assert c.get("/review/audio?species=Sus%20scrofa&order=zigzag").status_code == 422
    # htmx actions: the item comes back reviewed; uncertain keeps the machine label and leaves the queue
    r = c.post(f"/review/detection/{audio[0]}", data={"action": "uncertain", "csrf_token": csrf},
               headers={"HX-Request": "true"})
    assert r.status_code == 200 and f'id="item-{audio[0]}"' in r.text and "Reviewed by Li Wei: Uncertain" in r.text
    det = _det(db, audio[0])
    assert (det.classificationMethod, det.scientificName, det.classificationProbability) == ("machine", "Sus scrofa",
                                                                                             0.95)
    r = c.post(f"/review/detection/{audio[1]}", data={"action": "correct", "scientificName": "Bos taurus",
                                                      "csrf_token": csrf}, headers={"HX-Request": "true"})
    assert "Reviewed by Li Wei: Correct to: Cattle" in r.text and _det(db, audio[1]).scientificName == "Bos taurus"
    r = c.post(f"/review/detection/{audio[2]}", data={"action": "correct", "scientificName": "Dragon",
                                                      "csrf_token": csrf}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "&#39;Dragon&#39; is not a species" in r.text and 'value="Dragon"' in r.text
    assert history(db, audio[2]) == [] and _det(db, audio[2]).classificationMethod == "machine"
    left = order("/review/audio?species=Sus%20scrofa&order=score")
    assert audio[0] not in left and audio[1] not in left and len(left) == 6


def test_the_api_accepts_uncertain_through_the_same_rule(web):
    c, db, ids = web
    key = create_key(db, "reviewer", "API reviewer")
    r = c.post(f"/v1/detections/{ids['d2']}/review", json={"action": "uncertain"}, headers={"X-API-Key": key.token})
    assert r.status_code == 200 and r.json()["review"]["action"] == "uncertain"
    assert r.json()["detection"]["classificationMethod"] == "machine"
    assert db.scalar(select(Alert.status).where(Alert.detectionID == ids["d2"])) == "open"
    assert [h.action for h in history(db, ids["d2"])] == ["uncertain"]



def test_event_queue_pages_equal_one_grouped_query(web):
    """The fast queue (first events down the time index, then only their detections aggregated) gives the same
    events, in the same order and with the same figures, as grouping every detection (the invasive-first path)."""
    from models.store import queues

    _, db, _ = web
    sel = queues.Selection(status="all")
    full = queues.event_queue(db, sel, limit=100)
    keys = [e["key"] for e in full]
    assert EVENT in keys and "m1" in keys and "m3" in keys  # an event and media without events (m3 untimed)
    assert keys[-1] == "m3"  # untimed last
    paged = [e for off in range(0, len(full), 2) for e in queues.event_queue(db, sel, limit=2, offset=off)]
    assert paged == full
    grouped = queues.event_queue(db, sel, limit=100, invasive_first=True)
    assert sorted(grouped, key=lambda e: e["key"]) == sorted(full, key=lambda e: e["key"])
    ev = next(e for e in full if e["key"] == EVENT)
    assert (ev["frames"], ev["unreviewed"], ev["maxProbability"], ev["label"]) == (3, 3, 0.93, "Sus scrofa")
    assert queues.event_queue(db, sel, limit=2, offset=len(full)) == []
