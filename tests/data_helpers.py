"""A small, hand-checkable station history for the statistics, privacy and export tests.

Station ``S1`` (camera ``S1-cam`` at 31.23456 N 120.67891 E, Asia/Shanghai, and recorder ``S1-rec``) and
station ``S2`` (camera ``S2-cam`` at 31.5432 N 120.9876 E, where a sensitive species, the leopard cat, was seen).

Media-level detections (local times, +08:00):

=====  ========  ===================  ==========================  ======  ==========================
key    media     eventStart           scientificName              type    note
=====  ========  ===================  ==========================  ======  ==========================
a1     c1        2024-05-01 06:10     Sus scrofa                  animal
a2     c2        2024-05-01 23:30     Sus scrofa                  animal  15:30Z, same UTC day
a3     c3        2024-05-02 00:20     Lithobates catesbeianus     animal  16:20Z on 05-01 (UTC day!)
a4     c4        2024-05-08 06:40     Sus scrofa                  animal  next ISO week
a5     c5        2024-06-03 12:00     Myocastor coypus            animal  next month
b1     c6        2024-05-08 07:00     (blank)                     blank
h1     c7        2024-05-02 09:00     (none)                      human   a person ...
h2     c7        2024-05-02 09:00     Sus scrofa                  animal  ... and a boar on the same image
r1     w1        2024-05-01 20:00:00  Lithobates catesbeianus     animal  audio window 0-3 s
r2     w1        2024-05-01 20:00:03  Lithobates catesbeianus     animal  audio window 3-6 s
n1     c8        (no time)            Sus scrofa                  animal  BR-03: no EXIF time
l1     c9        2024-05-03 02:00     Prionailurus bengalensis    animal  S2, sensitive species
=====  ========  ===================  ==========================  ======  ==========================

Events: ``e1`` the audio event (r1+r2) and ``e2`` a camera sequence (a1), ``e3`` a human event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models.store.db import (
    Deployment,
    Detection,
    Event,
    Media,
    Station,
    create_schema,
    detection_id,
    make_engine,
    to_utc,
)

ROWS = {
    # key: (media, deployment, local time, name, observationType, start_s, end_s, probability)
    "a1": ("c1", "S1-cam", "2024-05-01T06:10:00+08:00", "Sus scrofa", "animal", 0, 0, 0.9),
    "a2": ("c2", "S1-cam", "2024-05-01T23:30:00+08:00", "Sus scrofa", "animal", 0, 0, 0.8),
    "a3": ("c3", "S1-cam", "2024-05-02T00:20:00+08:00", "Lithobates catesbeianus", "animal", 0, 0, 0.7),
    "a4": ("c4", "S1-cam", "2024-05-08T06:40:00+08:00", "Sus scrofa", "animal", 0, 0, 0.95),
    "a5": ("c5", "S1-cam", "2024-06-03T12:00:00+08:00", "Myocastor coypus", "animal", 0, 0, 0.6),
    "b1": ("c6", "S1-cam", "2024-05-08T07:00:00+08:00", None, "blank", 0, 0, 0.99),
    "h1": ("c7", "S1-cam", "2024-05-02T09:00:00+08:00", None, "human", 0, 0, 0.97),
    "h2": ("c7", "S1-cam", "2024-05-02T09:00:00+08:00", "Sus scrofa", "animal", 0.5, 0.5, 0.5),
    "r1": ("w1", "S1-rec", "2024-05-01T20:00:00+08:00", "Lithobates catesbeianus", "animal", 0, 3, 0.85),
    "r2": ("w1", "S1-rec", "2024-05-01T20:00:03+08:00", "Lithobates catesbeianus", "animal", 3, 6, 0.75),
    "n1": ("c8", "S1-cam", "", "Sus scrofa", "animal", 0, 0, 0.66),
    "l1": ("c9", "S2-cam", "2024-05-03T02:00:00+08:00", "Prionailurus bengalensis", "animal", 0, 0, 0.88),
}
INVASIVE = {"Lithobates catesbeianus", "Myocastor coypus"}
MEDIA_TIME = {"c1": "a1", "c2": "a2", "c3": "a3", "c4": "a4", "c5": "a5", "c6": "b1", "c7": "h1", "w1": "r1",
              "c8": "n1", "c9": "l1"}


def seed_history(url: str) -> dict[str, str]:
    """Write the rows of the module docstring into a fresh database; returns detection IDs by key."""
    engine = make_engine(url)
    create_schema(engine)
    ids = {}
    with Session(engine) as s:
        s.add_all([Station(stationID="S1", stationName="Wetland"), Station(stationID="S2", stationName="Forest")])
        s.add_all([
            Deployment(deploymentID="S1-cam", stationID="S1", deviceType="camera", timezone="Asia/Shanghai",
                       latitude=31.23456, longitude=120.67891, coordinateUncertainty_m=30.0,
                       deploymentStart="2024-04-30T12:00:00+08:00", deploymentEnd="2024-06-30T12:00:00+08:00",
                       attribution="Suzhou stations", licence="CC-BY-4.0"),
            Deployment(deploymentID="S1-rec", stationID="S1", deviceType="acoustic", timezone="Asia/Shanghai",
                       latitude=31.2346, longitude=120.6790),
            Deployment(deploymentID="S2-cam", stationID="S2", deviceType="camera", timezone="Asia/Shanghai",
                       latitude=31.5432, longitude=120.9876, coordinateUncertainty_m=10.0),
        ])
        for mid, key in MEDIA_TIME.items():
            media, dep, stamp, *_ = ROWS[key]
            audio = mid.startswith("w")
            ext = "wav" if audio else "jpg"
            s.add(Media(mediaID=mid, sha256=mid * 32, deploymentID=dep, stationID=dep[:2],
                        filePath=f"{dep}/{mid}.{ext}", fileName=f"{mid}.{ext}",
                        fileMediatype="audio/wav" if audio else "image/jpeg", modality="audio" if audio else "image",
                        timestamp=stamp, timestampUTC=to_utc(stamp), timestampIssues="" if stamp else "missing",
                        timestampSource="exif" if stamp else "missing", created=datetime(2024, 7, 1)))
        s.flush()
        for key, (mid, dep, stamp, name, otype, start_s, end_s, prob) in ROWS.items():
            ids[key] = detection_id(mid, start_s, "m/1")
            s.add(Detection(detectionID=ids[key], mediaID=mid, deploymentID=dep, stationID=dep[:2],
                            modality="audio" if mid.startswith("w") else "image", start_s=start_s, end_s=end_s,
                            eventStart=stamp, eventStartUTC=to_utc(stamp), observationType=otype, scientificName=name,
                            classificationProbability=prob, isInvasive=name in INVASIVE, topK=[[name or otype, prob]],
                            modelVersion="m/1", classifiedBy="m/1", classificationTimestamp="2024-07-01T00:00:00+00:00",
                            eventID={"r1": "e1", "r2": "e1", "a1": "e2", "h1": "e3", "h2": "e3"}.get(key)))
        for eid, dep, mid, name, otype, start, end in (
                ("e1", "S1-rec", "w1", "Lithobates catesbeianus", "animal", "2024-05-01T20:00:00+08:00",
                 "2024-05-01T20:00:06+08:00"),
                ("e2", "S1-cam", None, "Sus scrofa", "animal", "2024-05-01T06:10:00+08:00",
                 "2024-05-01T06:10:00+08:00"),
                ("e3", "S1-cam", None, None, "human", "2024-05-02T09:00:00+08:00", "2024-05-02T09:00:00+08:00")):
            s.add(Event(eventID=eid, deploymentID=dep, stationID=dep[:2], modality="audio" if mid else "image",
                        mediaID=mid, mediaCount=1, start_s=0.0 if mid else None, end_s=6.0 if mid else None,
                        eventStart=start, eventEnd=end, eventStartUTC=to_utc(start), eventEndUTC=to_utc(end),
                        observationType=otype, scientificName=name, classificationProbability=0.8,
                        isInvasive=name in INVASIVE, topK=[[name or otype, 0.8]], modelVersion="m/1",
                        classifiedBy="m/1", classificationTimestamp="2024-07-01T00:00:00+00:00"))
        s.commit()
    engine.dispose()
    return ids


#: Reviews :func:`seed_reviews` applies, in order: (detection key, reviewer, action, corrected name).
REVIEWS = [("a1", "alice", "confirm", None), ("a2", "alice", "correct", "Myocastor coypus"),
           ("a4", "alice", "confirm", None), ("h2", "bob", "confirm", None),
           ("a3", "bob", "correct", "Sus scrofa")]


def seed_reviews(url: str) -> dict[str, str]:
    """:func:`seed_history` plus the :data:`REVIEWS` and three acoustic-index segments of ``w1`` (ACI 1, 2, 3 at
    20:00:00, 20:00:03 and 20:00:06 local); returns detection IDs by key.

    After the reviews the machine-labelled boars a1 (p 0.9), a4 (0.95) and h2 (0.5, on the image with a person)
    are confirmed, a2 (0.8) is corrected to a coypu, and the bullfrog a3 (0.7) is corrected to a boar.
    """
    from models.store.db import AcousticIndex
    from models.store.review import review_detection
    from models.taxonomy.catalogue import Catalogue

    ids = seed_history(url)
    catalogue = Catalogue.load()
    engine = make_engine(url)
    with Session(engine) as s:
        for key, who, action, name in REVIEWS:
            review_detection(s, ids[key], action=action, reviewer=who, catalogue=catalogue, scientific_name=name)
        for i in range(3):
            stamp = f"2024-05-01T20:00:0{3 * i}+08:00"
            s.add(AcousticIndex(indexID=f"ix{i}", mediaID="w1", deploymentID="S1-rec", stationID="S1",
                                start_s=3.0 * i, end_s=3.0 * i + 3, segmentStart=stamp, segmentStartUTC=to_utc(stamp),
                                sample_rate_hz=8000, ACI=float(i + 1), NDSI=0.1 * i, ADI=None, AEI=None, BI=None,
                                H=None))
        s.commit()
    engine.dispose()
    return ids
