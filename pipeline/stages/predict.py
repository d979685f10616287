"""Stage ``predict``: classify every station image.

Reads the station media index (``data/interim/stations/media.csv``) and the image bundle; writes
``data/predictions/detections.csv`` (one row per image: top-1 species or blank, calibrated
probability, invasive flag, top-k alternatives as JSON, model version and absolute time where the
deployment gives one), ``data/predictions/rejected.csv`` (files that could not be classified, with
the reason) and ``reports/predict.json`` (counts). Recordings are the ``predict_audio`` stage's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from models.bundle import Classifier
from models.catalogue import Catalogue
from models.detect import PREDICTION_FIELDS, Prediction, classify_images
from models.errors import MediaError
from models.tables import REJECTION_FIELDS, read_csv, write_csv
from pipeline.common import setup_logging, write_json
from pipeline.params import PredictParams, load_params

log = logging.getLogger(__name__)


def run(p: PredictParams, media: list[dict], root: Path, image_clf: Classifier,
        catalogue: Catalogue) -> tuple[list[Prediction], list[dict]]:
    """Classify the station images of ``media``; one unreadable file is recorded and skipped, never fatal.

    Returns:
        ``(predictions, rejected)``; ``rejected`` rows have ``filePath``, ``reason``, ``detail``.
    """
    preds: list[Prediction] = []
    rejected: list[dict] = []
    pre = image_clf.meta.image_preprocessing()
    images = [m for m in media if m["modality"] == "image"]
    for start in range(0, len(images), p.batch_size):
        chunk, pixels = [], []
        for m in images[start : start + p.batch_size]:
            try:
                pixels.append(pre.pixels((root / m["filePath"]).read_bytes(), m["filePath"]))
                chunk.append(m)
            except (MediaError, OSError) as exc:
                rejected.append({"filePath": m["filePath"], "reason": getattr(exc, "reason", "unreadable"),
                                 "detail": str(exc)})
        preds += classify_images(image_clf, chunk, pixels, catalogue, p.top_k, p.batch_size)
    for r in rejected:
        log.warning("not classified: %s (%s)", r["filePath"], r["reason"])
    return preds, rejected


def main(params: Path = Path("params.yaml"), media: Path = Path("data/interim/stations/media.csv"),
         root: Path = Path("data/raw/stations"), artifacts: Path = Path("artifacts"),
         out: Path = Path("data/predictions"), report: Path = Path("reports/predict.json")) -> None:
    """Predict species for the station images with the image bundle."""
    setup_logging()
    prm = load_params(params).predict
    rows = read_csv(media)
    preds, rejected = run(prm, rows, root, Classifier.load(artifacts / "image_model"), Catalogue.load())
    write_csv(out / "detections.csv", preds, PREDICTION_FIELDS)
    write_csv(out / "rejected.csv", rejected, REJECTION_FIELDS)
    by_mod = {mod: sum(1 for x in preds if x.modality == mod) for mod in ("image",)}
    write_json(report, {"media": len(rows), "predictions": len(preds), "by_modality": by_mod,
                        "rejected": len(rejected), "invasive": sum(x.isInvasive for x in preds),
                        "blank": sum(x.observationType == "blank" for x in preds)})


if __name__ == "__main__":
    typer.run(main)
