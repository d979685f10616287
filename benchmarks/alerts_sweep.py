"""Time the invasive-alert sweep (``models.store.alerts.record_alerts``) over a large synthetic database.

    .venv/bin/python benchmarks/alerts_sweep.py --detections 1000000

Seeds ``--detections`` audio detections (every tenth one invasive) into a throw-away SQLite file,
then prints the time of a first full sweep (creates one alert per invasive detection), of a full
sweep that finds nothing new (the webhook worker's periodic safety net) and of a sweep scoped to
one upload's detection IDs (what every upload and review pays).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import typer
from sqlalchemy import insert
from sqlalchemy.orm import Session

from models.store.alerts import record_alerts
from models.store.db import Detection, Media, create_schema, make_engine


def main(detections: int = typer.Option(1_000_000, min=10, help="synthetic detections to seed")) -> None:
    """Seed, sweep three ways, print the figures."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'alerts.db'}")
        create_schema(engine)
        with Session(engine) as s:
            s.execute(insert(Media), [dict(mediaID=f"m{j}", sha256=f"{j:064x}") for j in range(detections // 10 + 1)])
            for start in range(0, detections, 10_000):
                s.execute(insert(Detection), [dict(
                    detectionID=f"{i:032x}", mediaID=f"m{i // 10}", deploymentID="dep", stationID="st",
                    modality="audio", start_s=(i % 10) * 3.0, end_s=(i % 10) * 3.0 + 3.0, eventStart="",
                    observationType="animal",
                    scientificName="Lithobates catesbeianus" if i % 10 == 0 else "Sus scrofa",
                    classificationProbability=0.9, isInvasive=i % 10 == 0, topK=[], modelVersion="v/1",
                    classificationMethod="machine", classifiedBy="v/1", classificationTimestamp="")
                    for i in range(start, min(start + 10_000, detections))])
            s.commit()
        one_upload = [f"{i:032x}" for i in range(10)]
        for label, ids in (("first full sweep", None), ("full sweep, nothing new", None),
                           ("sweep of one upload's 10 detections", one_upload)):
            with Session(engine) as s:
                t0 = time.perf_counter()
                n = record_alerts(s, ids)
                s.commit()
                print(f"{label}: {n} alerts over {detections} detections in {time.perf_counter() - t0:.3f} s")
        engine.dispose()


if __name__ == "__main__":
    typer.run(main)
