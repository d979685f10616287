"""From media to species predictions with calibrated probabilities and invasive-species flags.

Used by the ``predict`` stage (batches of station media) and by the web layer (one upload), so
both produce identical rows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np

from models.inference.decision import DecisionPolicy, policy_for, region_of
from models.inference.speech import SpeechDetector, default_detector
from models.learning.bundle import Classifier, top_k
from models.media.audio_stream import ChannelMode, WindowCutter, stream_resampled
from models.media.timestamps import usable_time
from models.taxonomy.catalogue import Catalogue
from models.taxonomy.regions import RegionMap

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """One classified image or audio window.

    ``start_s``/``end_s`` are offsets in the media in seconds (0/0 for an image; for a video frame
    both are the frame's time offset); ``eventStart`` is the absolute ISO 8601 time when the media's
    timestamp is known and usable (``models.media.timestamps.usable_time``), else empty. ``eventID``
    links the row to its event (camera-trap sequence, see ``models.inference.events``), empty when none.
    ``observationType``, ``scientificName``, ``taxonRank``, ``classificationProbability``,
    ``classificationSource`` and ``isInvasive`` are the decision of ``models.inference.decision`` (the
    one decision path): ``scientificName`` is empty for blank, vehicle and unknown, a taxon above
    species after a roll-up. ``topK`` is a JSON list of the model's own ``[label, probability]`` pairs.
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
    taxonRank: str = ""
    classificationSource: str = "model"


PREDICTION_FIELDS = list(Prediction.__dataclass_fields__)


def _shift(iso: str, seconds: float) -> str:
    if not iso:
        return ""
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()


def _usable(media: dict) -> bool:
    # rows without timestampIssues (older callers) keep their timestamp as given
    return "timestampIssues" not in media or usable_time(media.get("timestamp") or "", media["timestampIssues"])


def make_predictions(media: dict, probs: np.ndarray, spans: list[tuple[float, float]], classifier: Classifier,
                     catalogue: Catalogue, k: int, silent: np.ndarray | None = None,
                     policy: DecisionPolicy | None = None, regions: RegionMap | None = None,
                     speech: np.ndarray | None = None) -> list[Prediction]:
    """Turn ``(N, C)`` probabilities for ``N`` spans of one media item into predictions.

    Every label, threshold, roll-up, regional restriction, privacy type and invasive flag comes from
    :meth:`models.inference.decision.DecisionPolicy.decide` (the one decision path, shared by station
    drops, uploads, videos, audio windows and the CLI).

    Args:
        media: a media index row (``mediaID``, ``deploymentID``, ``stationID``, ``filePath``,
            ``modality``, ``timestamp``).
        probs: calibrated probabilities, one row per span.
        spans: ``(start_s, end_s)`` per row.
        classifier: gives labels, the model version and the bundle's decision thresholds.
        catalogue: taxonomy, invasive status and curator thresholds.
        k: how many alternatives to keep.
        silent: optional ``(N,)`` bool; a silent span is blank with probability 1 (``classificationSource``
            ``silence``) whatever the model says (there is nothing to classify).
        policy: the decision policy; None = :func:`~models.inference.decision.policy_for` the classifier.
        regions: regional species lists; None = the packaged ``regions.csv``.
        speech: optional ``(N,)`` speech scores (``models.inference.speech``); a span above 0 is ``human``.

    Raises:
        ValueError: ``probs`` rows do not match the classifier's labels.
    """
    policy = policy or policy_for(classifier, catalogue)
    region = region_of(media, regions)
    out = []
    for i, ((start, end), alts) in enumerate(zip(spans, top_k(probs, classifier.labels, k), strict=True)):
        d = policy.decide(probs[i], region, bool(silent[i]) if silent is not None else False,
                          float(speech[i]) if speech is not None else 0.0)
        out.append(Prediction(
            mediaID=media["mediaID"], deploymentID=media.get("deploymentID", ""),
            stationID=media.get("stationID", ""), filePath=media.get("filePath", ""), modality=media["modality"],
            start_s=round(start, 3), end_s=round(end, 3),
            eventStart=_shift(media.get("timestamp", "") if _usable(media) else "", start),
            scientificName=d.scientificName, observationType=d.observationType,
            classificationProbability=d.classificationProbability, isInvasive=d.isInvasive,
            topK=json.dumps([[a, round(b, 6)] for a, b in alts]), modelVersion=classifier.meta.model_version,
            taxonRank=d.taxonRank, classificationSource=d.classificationSource,
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
        probabilities behind them (for event aggregation, ``models.inference.events``).
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
                       batch_size: int = 64, default_threshold: float | None = None) -> list[Prediction]:
    """Classify every analysis window of a recording (channels mixed down); one prediction per window
    (silent windows, see ``AudioPreprocessing.silence_dbfs``, are blank). Read in blocks, see
    :func:`classify_windows`.

    Raises:
        MediaError: the recording cannot be decoded or is empty.
    """
    return classify_windows(classifier, media, path, catalogue, k, batch_size,
                            default_threshold=default_threshold)[0]


def classify_windows(classifier: Classifier, media: dict, path: str | Path, catalogue: Catalogue, k: int,
                     batch_size: int = 64, channels: ChannelMode = "mix", window_s: float | None = None,
                     hop_s: float | None = None, block_s: float = 30.0,
                     tap: Callable[[np.ndarray], None] | None = None, default_threshold: float | None = None,
                     speech: SpeechDetector | None | Literal["auto"] = "auto",
                     ) -> tuple[list[Prediction], list[int | None]]:
    """Classify the analysis windows of a recording of any length, reading it block by block.

    The recording is decoded ``block_s`` seconds at a time, resampled to the bundle's rate (libsoxr
    streaming) and cut into windows as they complete (``models.media.audio_stream``), so memory stays
    bounded whatever the duration; windows are classified ``batch_size`` at a time.

    Args:
        classifier: an audio bundle (``models.learning.bundle.Classifier``) or its ONNX export
            (``models.learning.onnx_bundle.OnnxClassifier``, whose stored mel filterbank is used).
        media: the recording's media row (``mediaID``, ``timestamp``, ...; see ``make_predictions``).
        path: the recording.
        catalogue: invasive flags.
        k: alternatives kept per window.
        batch_size: windows per forward pass.
        channels: ``mix`` (mean of channels, channel None) or ``each`` (every channel on its own).
        window_s, hop_s: analysis window and step (s); None keeps the bundle's. ``hop_s < window_s``
            overlaps windows.
        block_s: decoded block length (s).
        tap: called with every resampled ``(C, n)`` block (e.g. to compute acoustic indices in the
            same decoding pass).
        default_threshold: threshold of species that neither the catalogue nor the bundle sets
            (``predict_audio.threshold``); None = ``models.inference.decision.DEFAULT_THRESHOLD``.
        speech: human speech detector (Silero VAD, ``models.inference.speech``); ``auto`` = the installed
            one (a warning and no speech detection when it is missing); None = off.

    Returns:
        ``(predictions, channel of each prediction)`` ordered by channel then start time.

    Raises:
        MediaError: ``unsupported_format``, ``corrupt`` or ``empty_audio``.
        ValueError: ``hop_s`` larger than ``window_s`` (gaps) or a non-positive length.
    """
    pre = classifier.meta.audio_preprocessing()
    pre = dataclasses.replace(pre, window_s=window_s or pre.window_s, hop_s=hop_s or pre.hop_s)
    if pre.hop_s > pre.window_s:
        raise ValueError(f"hop_s {pre.hop_s} larger than window_s {pre.window_s} would leave gaps")
    cutter = WindowCutter(pre.sample_rate_hz, pre.window_s, pre.hop_s, pre.min_tail_s)
    policy = policy_for(classifier, catalogue, default_threshold)
    vad = default_detector() if speech == "auto" else speech
    out: list[tuple[int | None, Prediction]] = []
    pending: list[tuple[list[tuple[float, float]], np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        bounds = [b for bs, _ in pending for b in bs]
        wins = np.concatenate([w for _, w in pending], axis=1)  # (C, N, samples)
        pending.clear()
        for c in range(wins.shape[0]):
            specs = pre.spectrograms(wins[c], getattr(classifier, "filterbank", None))
            probs = classifier.predict(specs[:, None], batch_size)
            ch = None if channels == "mix" else c
            talk = vad.scores(wins[c], pre.sample_rate_hz) if vad is not None else None
            out.extend((ch, p) for p in make_predictions(media, probs, bounds, classifier, catalogue, k,
                                                         pre.silent(wins[c]), policy, speech=talk))

    def add(bounds: list[tuple[float, float]], wins: np.ndarray) -> None:
        if bounds:
            pending.append((bounds, wins))
        if sum(len(b) for b, _ in pending) >= batch_size:
            flush()

    for block in stream_resampled(path, pre.sample_rate_hz, channels, block_s):
        if tap is not None:
            tap(block)
        add(*cutter.push(block))
    add(*cutter.finish())
    flush()
    out.sort(key=lambda cp: (-1 if cp[0] is None else cp[0], cp[1].start_s))
    return [p for _, p in out], [c for c, _ in out]
