"""Stage ``split``: seeded train/val/test assignment by sequence (images) and by recording (audio).

Writes ``data/processed/splits/{images,audio}.csv`` with one row per media item
(``mediaID, label, group, split``) and ``reports/split.json`` with counts per split and label.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import typer

from models.learning.split import grouped_split, sequence_groups
from models.media.tables import read_csv, write_csv
from pipeline.common import setup_logging, write_json
from pipeline.params import SplitParams, load_params

log = logging.getLogger(__name__)
FIELDS = ["mediaID", "label", "group", "split"]


def split_images(p: SplitParams, index: list[dict]) -> list[dict]:
    """One row per image; groups are sequences within a deployment (see ``sequence_groups``), or
    whole deployments with ``image_groups: deployment`` (frames without one stay single)."""
    if p.image_groups == "deployment":
        groups = [r["deploymentID"] or f"#single-{i}" for i, r in enumerate(index)]
    else:
        groups = sequence_groups(index, p.sequence_gap_s, p.sequence_gap_frames)
    splits = grouped_split(groups, [r["label"] for r in index], p.val_frac, p.test_frac, p.seed)
    return [{"mediaID": r["mediaID"], "label": r["label"], "group": g, "split": s}
            for r, g, s in zip(index, groups, splits, strict=True)]


def split_audio(p: SplitParams, index: list[dict]) -> list[dict]:
    """One row per recording; each recording is its own group, so its windows never straddle splits."""
    recs = list({r["mediaID"]: r for r in index}.values())
    groups = [r["mediaID"] for r in recs]
    splits = grouped_split(groups, [r["label"] for r in recs], p.val_frac, p.test_frac, p.seed)
    return [{"mediaID": r["mediaID"], "label": r["label"], "group": g, "split": s}
            for r, g, s in zip(recs, groups, splits, strict=True)]


def _summary(rows: list[dict]) -> dict:
    return {s: {"items": sum(1 for r in rows if r["split"] == s),
                "groups": len({r["group"] for r in rows if r["split"] == s}),
                "per_label": dict(Counter(r["label"] for r in rows if r["split"] == s))}
            for s in ("train", "val", "test")}


def main(params: Path = Path("params.yaml"), processed: Path = Path("data/processed"),
         report: Path = Path("reports/split.json")) -> None:
    """Split both datasets with ``params.yaml``'s ``split`` section."""
    setup_logging()
    p = load_params(params).split
    images = split_images(p, read_csv(processed / "images" / "index.csv"))
    audio = split_audio(p, read_csv(processed / "audio" / "index.csv"))
    write_csv(processed / "splits" / "images.csv", images, FIELDS)
    write_csv(processed / "splits" / "audio.csv", audio, FIELDS)
    write_json(report, {"images": _summary(images), "audio": _summary(audio)})


if __name__ == "__main__":
    typer.run(main)
