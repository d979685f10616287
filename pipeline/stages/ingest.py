"""Stage ``ingest``: media indexes (Camtrap DP terms) and rejection lists for the three datasets.

Outputs ``data/interim/<dataset>/media.csv`` and ``rejected.csv`` per dataset, and
``reports/ingest.json`` (counts). An unknown species label stops the stage with a message that
names the label and the manifest line.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import typer

from models.catalogue import Catalogue
from models.ingest import MEDIA_FIELDS, ingest_labelled, ingest_stations
from models.tables import REJECTION_FIELDS, write_csv
from pipeline.common import progress, setup_logging, write_json
from pipeline.params import IngestParams, load_params

log = logging.getLogger(__name__)

LABELLED = ("camera_traps", "acoustic")


def run(p: IngestParams, raw: Path, out: Path, catalogue: Catalogue) -> dict:
    """Index ``raw/{camera_traps,acoustic}`` (labelled) and ``raw/stations`` (drops) into ``out``.

    Returns:
        Counts per dataset: ``media``, ``rejected`` and rejections by reason.
    """
    summary = {}
    for name in (*LABELLED, "stations"):
        bar = functools.partial(progress, desc=name)
        if name == "stations":
            records, rejected = ingest_stations(raw / name, p.max_pixels, bar)
        else:
            records, rejected = ingest_labelled(raw / name, catalogue, p.max_pixels, p.limit_per_label, bar)
        write_csv(out / name / "media.csv", records, MEDIA_FIELDS)
        write_csv(out / name / "rejected.csv", rejected, REJECTION_FIELDS)
        reasons: dict[str, int] = {}
        for r in rejected:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
            log.warning("%s: rejected %s (%s: %s)", name, r.filePath, r.reason, r.detail)
        summary[name] = {"media": len(records), "rejected": len(rejected), "rejected_by_reason": reasons}
        log.info("%s: %d media, %d rejected", name, len(records), len(rejected))
    return summary


def main(params: Path = Path("params.yaml"), raw: Path = Path("data/raw"), out: Path = Path("data/interim"),
         report: Path = Path("reports/ingest.json")) -> None:
    """Run the ingest stage with ``params.yaml``'s ``ingest`` section."""
    setup_logging()
    summary = run(load_params(params).ingest, raw, out, Catalogue.load())
    write_json(report, summary)


if __name__ == "__main__":
    typer.run(main)
