"""Stage ``predict_audio``: classify every window of every station recording; events, summaries, indices.

Reads the station media index (``data/interim/stations/media.csv``, audio rows) and the audio
bundle's ONNX export (stage ``export_audio``, run by ONNX Runtime: no PyTorch in this stage); writes
under ``data/predictions/audio/``:

- ``windows.csv``: every analysis window (top-1 class or blank, calibrated probability, top-k,
  ``channel`` when channels are analysed separately, the ``threshold`` applied, ``detected`` and
  the ``eventID``); windows below threshold are kept here but not published;
- ``events.csv``: detection events (consecutive detected windows of one species);
- ``recordings.csv``: one summary row per recording, zero-detection and failed ones included;
- ``indices.csv``: acoustic indices per segment of each recording;
- ``rejected.csv``: recordings that could not be analysed, with the reason;
- ``tables/<filePath>.biodiv.selection.table.txt`` and ``.biodiv.labels.txt``: per recording, a Raven
  selection table and an Audacity label track of its detections (``models.inference.audio_outputs``);

and ``reports/predict_audio.json`` (counts). Recordings are read in blocks, so any duration fits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from models.inference.acoustic_indices import INDEX_FIELDS, SegmentIndexer
from models.inference.audio_events import (
    EVENT_FIELDS,
    SUMMARY_FIELDS,
    WINDOW_FIELDS,
    AudioEvent,
    AudioWindow,
    apply_thresholds,
    merge_events,
    summarise_recordings,
)
from models.inference.audio_outputs import write_recording_tables
from models.inference.detect import classify_windows
from models.learning.onnx_bundle import OnnxClassifier
from models.media.errors import MediaError
from models.media.tables import REJECTION_FIELDS, read_csv, write_csv
from models.taxonomy.catalogue import Catalogue
from pipeline.common import progress, setup_logging, write_json
from pipeline.params import PredictAudioParams, load_params

if TYPE_CHECKING:
    from models.learning.bundle import Classifier

log = logging.getLogger(__name__)

OUT = Path("data/predictions/audio")


def run(p: PredictAudioParams, media: list[dict], root: Path, classifier: OnnxClassifier | Classifier,
        catalogue: Catalogue) -> dict:
    """Analyse the audio rows of ``media``; one unreadable recording is recorded and skipped, never fatal.

    Returns:
        dict with ``windows`` (``AudioWindow``), ``events`` (``AudioEvent``), ``recordings``
        (summary rows), ``indices`` (index rows) and ``rejected`` (``filePath``/``reason``/``detail``).
    """
    recordings = [m for m in media if m["modality"] == "audio"]
    windows: list[AudioWindow] = []
    indices: list[dict] = []
    rejected: list[dict] = []
    for m in progress(recordings, "recordings"):
        sample_rate = classifier.meta.audio_preprocessing().sample_rate_hz
        indexer = (SegmentIndexer(sample_rate, p.indices.segment_s, p.indices.min_segment_s)
                   if p.indices.enabled else None)
        try:
            preds, channels = classify_windows(classifier, m, root / m["filePath"], catalogue, p.top_k,
                                               p.batch_size, p.channels, p.window_s, p.hop_s, p.block_s,
                                               tap=indexer.push if indexer else None, default_threshold=p.threshold,
                                               speech="auto" if p.speech else None)
        except MediaError as exc:
            rejected.append({"filePath": m["filePath"], "reason": exc.reason, "detail": exc.detail})
            log.warning("not analysed: %s (%s: %s)", m["filePath"], exc.reason, exc.detail)
            continue
        windows += apply_thresholds(preds, channels, catalogue, p.threshold)
        if indexer is not None:
            indices += [r.row(m) for r in indexer.finish()]
    windows, events = merge_events(windows)
    summary = summarise_recordings(recordings, windows, events, {r["filePath"]: r["reason"] for r in rejected})
    return {"windows": windows, "events": events, "recordings": summary, "indices": indices, "rejected": rejected}


def write_outputs(result: dict, out: Path) -> None:
    """Write the five CSV outputs of :func:`run` into ``out``."""
    write_csv(out / "windows.csv", [w.row() for w in result["windows"]], WINDOW_FIELDS)
    write_csv(out / "events.csv", [e.row() for e in result["events"]], EVENT_FIELDS)
    write_csv(out / "recordings.csv", result["recordings"], SUMMARY_FIELDS)
    write_csv(out / "indices.csv", result["indices"], INDEX_FIELDS)
    write_csv(out / "rejected.csv", result["rejected"], REJECTION_FIELDS)


def counts(result: dict) -> dict:
    """Counts for ``reports/predict_audio.json``."""
    windows: list[AudioWindow] = result["windows"]
    events: list[AudioEvent] = result["events"]
    return {"recordings": len(result["recordings"]), "rejected": len(result["rejected"]), "windows": len(windows),
            "blank_windows": sum(w.prediction.observationType == "blank" for w in windows),
            "detections": sum(w.detected for w in windows), "events": len(events),
            "invasive_events": sum(e.isInvasive for e in events),
            "recordings_without_detections": sum(r["detections"] == 0 for r in result["recordings"]),
            "index_segments": len(result["indices"])}


def main(params: Path = Path("params.yaml"), media: Path = Path("data/interim/stations/media.csv"),
         root: Path = Path("data/raw/stations"), bundle: Path = Path("artifacts/audio_model_onnx"), out: Path = OUT,
         report: Path = Path("reports/predict_audio.json")) -> None:
    """Analyse the station recordings with the exported audio bundle."""
    setup_logging()
    prm = load_params(params).predict_audio
    classifier = OnnxClassifier.load(bundle, prm.threads)
    catalogue = Catalogue.load()
    rows = read_csv(media)
    if prm.engine == "ray":
        from pipeline.ray_audio import analyse_recordings_ray

        result = analyse_recordings_ray(bundle, rows, root, prm, prm.ray_actors, prm.ray_cpus_per_actor,
                                        prm.ray_address)
    else:
        result = run(prm, rows, root, classifier, catalogue)
    write_outputs(result, out)
    pre = classifier.meta.audio_preprocessing()
    write_recording_tables(out / "tables", [m for m in rows if m["modality"] == "audio"], result["windows"],
                           catalogue, pre.fmin_hz, pre.fmax_hz, skip={r["filePath"] for r in result["rejected"]})
    write_json(report, counts(result))


if __name__ == "__main__":
    typer.run(main)
