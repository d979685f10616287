"""From media to species predictions with calibrated probabilities and invasive-species flags.

Used by the ``predict`` stage (batches of station media) and by the web layer (one upload), so
both produce identical rows.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from models.audio import load_audio
from models.bundle import Classifier, top_k
from models.catalogue import BLANK, Catalogue
from models.timestamps import usable_time

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One classified image or audio window.

    ``start_s``/``end_s`` are offsets in the media in seconds (0/0 for an image; for a video frame
    both are the frame's time offset); ``eventStart`` is the absolute ISO 8601 time when the media's
    timestamp is known and usable (``models.timestamps.usable_time``), else empty. ``eventID``
    links the row to its event (camera-trap sequence, see ``models.events``), empty when none.
    ``scientificName`` is empty for a blank (``observationType`` ``blank``). ``topK`` is a JSON
    list of ``[scientificName, probability]`` pairs.
    """

    mediaID: str
    deploymentID: str
    stationID: str
    filePath: str
    modality: str
    start_s: float
    end_s: float
    eventStart: str
    scientificName: str
    observationType: str
    classificationProbability: float
    isInvasive: bool
    topK: str
    modelVersion: str
    eventID: str = ""


PREDICTION_FIELDS = list(Prediction.__dataclass_fields__)


def _shift(iso: str, seconds: float) -> str:
    if not iso:
        return ""
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()


def _usable(media: dict) -> bool:
    # rows without timestampIssues (older callers) keep their timestamp as given
    return "timestampIssues" not in media or usable_time(media.get("timestamp") or "", media["timestampIssues"])


def make_predictions(media: dict, probs: np.ndarray, spans: list[tuple[float, float]], classifier: Classifier,
                     catalogue: Catalogue, k: int, silent: np.ndarray | None = None) -> list[Prediction]:
    """Turn ``(N, C)`` probabilities for ``N`` spans of one media item into predictions.

    Args:
        media: a media index row (``mediaID``, ``deploymentID``, ``stationID``, ``filePath``,
            ``modality``, ``timestamp``).
        probs: calibrated probabilities, one row per span.
        spans: ``(start_s, end_s)`` per row.
        classifier: gives labels and the model version.
        catalogue: gives the invasive flag.
        k: how many alternatives to keep.
        silent: optional ``(N,)`` bool; a silent span is reported as blank with probability 1
            whatever the model says (there is nothing to classify).
    """
    out = []
    for i, ((start, end), alts) in enumerate(zip(spans, top_k(probs, classifier.labels, k), strict=True)):
        if silent is not None and silent[i]:
            alts = [(BLANK, 1.0)]
        label, p = alts[0]
        blank = label == BLANK
        out.append(Prediction(
            mediaID=media["mediaID"], deploymentID=media.get("deploymentID", ""),
            stationID=media.get("stationID", ""), filePath=media.get("filePath", ""), modality=media["modality"],
            start_s=round(start, 3), end_s=round(end, 3),
            eventStart=_shift(media.get("timestamp", "") if _usable(media) else "", start),
            scientificName="" if blank else label,
            observationType="blank" if blank else "animal", classificationProbability=round(p, 6),
            isInvasive=catalogue.is_invasive(label), topK=json.dumps([[a, round(b, 6)] for a, b in alts]),
            modelVersion=classifier.meta.model_version,
        ))
    return out


def classify_images(classifier: Classifier, media: list[dict], pixels: list[np.ndarray], catalogue: Catalogue,
                    k: int, batch_size: int = 32) -> list[Prediction]:
    """Classify decoded, resized images (``(S, S, 3) uint8`` each), one prediction per image."""
    return classify_frames(classifier, media, pixels, [0.0] * len(media), catalogue, k, batch_size)[0]


def classify_frames(classifier: Classifier, media: list[dict], pixels: list[np.ndarray], times_s: list[float],
                    catalogue: Catalogue, k: int, batch_size: int = 32) -> tuple[list[Prediction], np.ndarray]:
    """Classify frames in one batch: still images (time 0) and sampled video frames.

    Args:
        media: the media row of each frame (a video's row repeats for each of its frames).
        pixels: ``(S, S, 3) uint8`` per frame (``ImagePreprocessing.frame_pixels`` output).
        times_s: each frame's offset in its media (s); becomes ``start_s`` = ``end_s``.

    Returns:
        ``(predictions, probs)``: one prediction per frame and the ``(N, C)`` calibrated
        probabilities behind them (for event aggregation, ``models.events``).
    """
    if not media:
        return [], np.zeros((0, len(classifier.labels)), np.float32)
    pre = classifier.meta.image_preprocessing()
    probs = classifier.predict(pre.normalise(np.stack(pixels)), batch_size)
    out = []
    for i, (m, t) in enumerate(zip(media, times_s, strict=True)):
        out += make_predictions(m, probs[i : i + 1], [(t, t)], classifier, catalogue, k)
    return out, probs


def classify_recording(classifier: Classifier, media: dict, path: str | Path, catalogue: Catalogue, k: int,
                       batch_size: int = 64) -> list[Prediction]:
    """Classify every analysis window of a recording; one prediction per window (silent windows,
    see ``AudioPreprocessing.silence_dbfs``, are blank).

    Raises:
        MediaError: the recording cannot be decoded or is empty.
    """
    pre = classifier.meta.audio_preprocessing()
    bounds, windows = pre.windows(load_audio(path))
    specs = pre.spectrograms(windows)[:, None]
    probs = classifier.predict(specs, batch_size)
    return make_predictions(media, probs, bounds, classifier, catalogue, k, pre.silent(windows))
