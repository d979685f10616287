"""Stage ``ingest``: media indexes (Camtrap DP terms) and rejection lists for the three datasets.

Outputs ``data/interim/<dataset>/media.csv`` and ``rejected.csv`` per dataset, and
``reports/ingest.json`` (counts). An unknown species label stops the stage with a message that
names the label and the manifest line.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import typer

from models.ingest import MEDIA_FIELDS, drop_duplicates, ingest_labelled, ingest_stations
from models.media.tables import REJECTION_FIELDS, read_csv, write_csv
from models.taxonomy.catalogue import Catalogue
from pipeline.common import progress, setup_logging, write_json
from pipeline.params import DeploymentSettings, IngestParams, deployment_settings, load_params

log = logging.getLogger(__name__)

LABELLED = ("camera_traps", "acoustic")
#: Sub-folder of a labelled dataset with reviewed labels exported from the service
#: (``python -m serve labels export``; same manifest format); added to the dataset when present.
REVIEWED = "reviewed"
#: Sub-folder of a labelled dataset with one folder per label import (``biodiv import camtrap-dp|raven``).
IMPORTED = "imported"


def with_reviewed(root: Path, records: list, rejected: list, catalogue: Catalogue, max_pixels: int,
                  bar=iter) -> tuple[list, list]:
    """Append the reviewed labels of ``root/reviewed/manifest.csv`` and the imported ones of
    ``root/imported/<name>/manifest.csv`` (``biodiv import camtrap-dp|raven --labels``), where present, to a
    labelled dataset's records, with ``filePath`` relative to ``root``; byte-identical files keep their first record."""
    sets = [REVIEWED] if (root / REVIEWED / "manifest.csv").is_file() else []
    if (root / IMPORTED).is_dir():
        sets += sorted(f"{IMPORTED}/{d.name}" for d in (root / IMPORTED).iterdir() if (d / "manifest.csv").is_file())
    if not sets:
        return records, rejected
    for sub in sets:
        more, more_rejected = ingest_labelled(root / sub, catalogue, max_pixels, 0, bar)
        log.info("%s: %d labels from %s", root.name, len(more), sub)
        records = records + [dataclasses.replace(r, filePath=f"{sub}/{r.filePath}") for r in more]
        rejected = rejected + [dataclasses.replace(r, filePath=f"{sub}/{r.filePath}") for r in more_rejected]
    return drop_duplicates(records, rejected)


def run(p: IngestParams, raw: Path, out: Path, catalogue: Catalogue,
        deployments: dict[str, DeploymentSettings] | None = None) -> dict:
    """Index ``raw/{camera_traps,acoustic}`` (labelled) and ``raw/stations`` (drops) into ``out``.

    ``deployments`` (params section) gives each station deployment's clock correction in seconds.

    Returns:
        Counts per dataset: ``media``, ``rejected`` and rejections by reason.
    """
    summary = {}
    for name in (*LABELLED, "stations"):
        bar = functools.partial(progress, desc=name)
        if name == "stations":
            offsets = _clock_offsets(raw / name / "deployments.csv", deployments or {})
            records, rejected = ingest_stations(raw / name, p.max_pixels, bar, offsets)
        else:
            records, rejected = ingest_labelled(raw / name, catalogue, p.max_pixels, p.limit_per_label, bar)
            records, rejected = with_reviewed(raw / name, records, rejected, catalogue, p.max_pixels, bar)
        write_csv(out / name / "media.csv", records, MEDIA_FIELDS)
        write_csv(out / name / "rejected.csv", rejected, REJECTION_FIELDS)
        reasons: dict[str, int] = {}
        for r in rejected:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
            log.warning("%s: rejected %s (%s: %s)", name, r.filePath, r.reason, r.detail)
        summary[name] = {"media": len(records), "rejected": len(rejected), "rejected_by_reason": reasons}
        log.info("%s: %d media, %d rejected", name, len(records), len(rejected))
    return summary


def _clock_offsets(deployments_csv: Path, settings: dict[str, DeploymentSettings]) -> dict[str, float]:
    ids = [r["deploymentID"] for r in read_csv(deployments_csv)] if deployments_csv.is_file() else []
    return {d: deployment_settings(settings, d).clock_offset_s or 0.0 for d in ids}


def main(params: Path = Path("params.yaml"), raw: Path = Path("data/raw"), out: Path = Path("data/interim"),
         report: Path = Path("reports/ingest.json")) -> None:
    """Run the ingest stage with ``params.yaml``'s ``ingest`` section."""
    setup_logging()
    prm = load_params(params)
    summary = run(prm.ingest, raw, out, Catalogue.load(), prm.deployments)
    write_json(report, summary)


if __name__ == "__main__":
    typer.run(main)
