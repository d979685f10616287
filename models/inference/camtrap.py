"""Batch classification of camera-trap media (still images and videos), as the predict stage runs it.

Speed comes from three things, each measured by ``benchmarks/images.py``:

1. JPEGs are decoded at a reduced DCT scale (``cv2.IMREAD_REDUCED_COLOR_2/4/8``) chosen from the
   model input size (``ImagePreprocessing.decode_target_px``), so a 1920x1440 frame for a 128 px
   model decodes 1/16 of its pixels;
2. decoding runs beside the model, with a bounded number of images in flight: in worker
   processes (``concurrent.futures.ProcessPoolExecutor`` from a ``spawn`` context) for large drops,
   in threads of the calling process for small ones (starting processes would cost more than they
   save; OpenCV's ``imdecode`` and Pillow's ``resize`` release the GIL, so threads decode in parallel);
3. the model sees batches of ``batch_size`` frames.

A file that cannot be decoded is a rejection with a reason, never the end of the batch; videos are
decoded in their own child process (``models.media.video``), so a native decoder crash is one rejection.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.inference.checkpoint import Checkpoint, Done
from models.inference.decision import policy_for
from models.inference.detect import Prediction, classify_frames
from models.inference.events import EventRecord, build_events
from models.learning.bundle import Classifier
from models.media.errors import MediaError
from models.media.imaging import ImagePreprocessing, decode_worker_init
from models.media.tables import Rejection
from models.media.video import sample_frames
from models.taxonomy.catalogue import Catalogue

log = logging.getLogger(__name__)

#: Modalities classified here (camera traps).
CAMERA_MODALITIES = ("image", "video")


@dataclass
class CameraResult:
    """What :func:`classify_camera_media` returns.

    Attributes:
        predictions: one per image and per sampled video frame, with ``eventID`` once
            :func:`attach_events` ran.
        probs: ``(N, C)`` calibrated probabilities, row ``i`` behind ``predictions[i]``.
        rejected: files that could not be classified, with the reason.
        events: camera-trap events (after :func:`attach_events`).
    """

    predictions: list[Prediction] = field(default_factory=list)
    probs: np.ndarray | None = None
    rejected: list[Rejection] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)


#: Below this many images, decoding runs in threads of the calling process: starting worker
#: processes costs about as much as decoding a few dozen reduced-size JPEGs.
MIN_IMAGES_FOR_WORKERS = 64


def _decoded(items: list[tuple[ImagePreprocessing, str, str]], workers: int,
             window: int) -> Iterator[np.ndarray | MediaError]:
    """Decode in input order with ``workers`` processes (fewer than ``MIN_IMAGES_FOR_WORKERS`` images:
    ``workers`` threads of this process; 0: serially here), at most ``window`` images in flight
    (memory stays bounded on big drops).

    Workers are ``spawn``-started: forking the caller, which runs torch's thread pools, can deadlock
    the children (it did here with a fork-based ``torch.utils.data.DataLoader``). They get bound
    methods of ``ImagePreprocessing`` (module ``models.media.imaging``: OpenCV and Pillow), so bad files
    come back as their ``MediaError``; as with any ``spawn`` start they also import the caller's
    ``__main__`` module once (a second or two for the predict stage, which imports torch).
    """
    if workers <= 0 or not items:
        for pre, path, name in items:
            yield pre.pixels_or_error(path, name)
        return
    pool: Executor
    if len(items) < MIN_IMAGES_FOR_WORKERS:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=decode_worker_init)
    with pool:
        pending: deque[Future] = deque()
        it = iter(items)
        for pre, path, name in it:
            pending.append(pool.submit(pre.pixels_or_error, path, name))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(nxt[0].pixels_or_error, nxt[1], nxt[2]))
            yield result


def classify_camera_media(classifier: Classifier, media: list[dict], root: str | Path, catalogue: Catalogue,
                          k: int = 3, batch_size: int = 32, workers: int = 2,
                          preprocessing: Mapping[str, ImagePreprocessing] | None = None,
                          video_rate_hz: float = 1.0, video_max_frames: int = 300,
                          progress: Callable[[Iterable], Iterable] = iter,
                          checkpoint: Checkpoint | None = None) -> CameraResult:
    """Classify the images and videos of a media index.

    Args:
        classifier: the image bundle.
        media: media index rows (``mediaID``, ``deploymentID``, ``filePath`` relative to ``root``,
            ``modality`` ``image``/``video``, ``timestamp``...); other modalities are ignored.
        root: folder the ``filePath`` values are relative to.
        catalogue: invasive flags.
        k: alternatives kept per prediction.
        batch_size: frames per model call.
        workers: image decode processes (0 = decode in this process).
        preprocessing: per-deploymentID pipeline (e.g. its own info-strip setting); deployments not
            in it use the bundle's.
        video_rate_hz, video_max_frames: frame sampling (see ``models.media.video.sample_frames``).
        progress: wraps the image iterator (e.g. ``tqdm``).
        checkpoint: resumable batch (``models.inference.checkpoint``): media it already holds are not
            classified again (their predictions and probabilities are taken from it), and every media item
            finished here is appended to it as soon as all its frames are classified.

    Returns:
        Predictions (images in input order, then videos), their probabilities and the rejections.
    """
    root = Path(root)
    base = classifier.meta.image_preprocessing()
    pre_of = dict(preprocessing or {})

    def pre_for(m: dict) -> ImagePreprocessing:
        return pre_of.get(m.get("deploymentID", ""), base)

    n_labels = len(classifier.labels)
    done = checkpoint.load() if checkpoint is not None else {}
    if done:
        log.info("resuming: %d media already classified by %s (checkpoint %s)", len(done),
                 classifier.meta.model_version, checkpoint.path)
    results: dict[str, Done] = dict(done)  # finished media: resumed ones now, the others as they finish
    partial: dict[str, tuple[list[Prediction], list[np.ndarray]]] = {}  # frames classified so far
    frames_left: dict[str, int] = {}
    frames: list[tuple[dict, np.ndarray, float]] = []

    def finish(m: dict, rejection: Rejection | None = None) -> None:
        preds, probs = partial.pop(m["mediaID"], ([], []))
        results[m["mediaID"]] = d = Done(preds, np.concatenate(probs) if probs else np.zeros((0, n_labels),
                                                                                            np.float32), rejection)
        if checkpoint is not None:
            checkpoint.add(m["mediaID"], d.predictions, d.probs, rejection)

    def flush() -> None:
        if not frames:
            return
        preds, p = classify_frames(classifier, [f[0] for f in frames], [f[1] for f in frames],
                                   [f[2] for f in frames], catalogue, k, batch_size)
        for i, (m, _, _) in enumerate(frames):
            acc = partial.setdefault(m["mediaID"], ([], []))
            acc[0].append(preds[i])
            acc[1].append(p[i : i + 1])
            frames_left[m["mediaID"]] -= 1
            if frames_left[m["mediaID"]] == 0:
                finish(m)
        frames.clear()

    images = [m for m in media if m.get("modality") == "image" and m["mediaID"] not in done]
    items = [(pre_for(m), str(root / m["filePath"]), m["filePath"]) for m in images]
    for m, px in progress(zip(images, _decoded(items, workers, 4 * batch_size), strict=True)):
        if isinstance(px, MediaError):
            finish(m, Rejection(m["filePath"], px.reason, px.detail))
            continue
        frames_left[m["mediaID"]] = 1
        frames.append((m, px, 0.0))
        if len(frames) >= batch_size:
            flush()
    for m in (m for m in media if m.get("modality") == "video" and m["mediaID"] not in done):
        try:
            sampled = sample_frames(root / m["filePath"], video_rate_hz, video_max_frames, pre_for(m).frame_pixels)
        except MediaError as exc:
            finish(m, Rejection(m["filePath"], exc.reason, exc.detail))
            continue
        if not sampled:
            finish(m)
            continue
        frames_left[m["mediaID"]] = len(sampled)
        for f in sampled:
            frames.append((m, f.pixels, f.time_s))
            if len(frames) >= batch_size:
                flush()
    flush()
    if checkpoint is not None:
        checkpoint.close()
    out = collect_results(media, results, n_labels)
    for r in out.rejected:
        log.warning("not classified: %s (%s: %s)", r.filePath, r.reason, r.detail)
    return out


def collect_results(media: list[dict], results: Mapping[str, Done], n_labels: int) -> CameraResult:
    """The ``CameraResult`` of per-media results (the local engine's, a checkpoint's, Ray's): images in input
    order, then videos; each media item's predictions, probabilities and rejection; media without a result
    left out."""
    out = CameraResult()
    probs: list[np.ndarray] = []
    for m in [m for m in media if m.get("modality") == "image"] + [m for m in media if m.get("modality") == "video"]:
        d = results.get(m["mediaID"])
        if d is None:
            continue
        if d.rejection is not None:
            out.rejected.append(d.rejection)
        out.predictions.extend(d.predictions)
        if d.predictions:
            probs.append(d.probs)
    out.probs = np.concatenate(probs) if probs else np.zeros((0, n_labels), np.float32)
    return out


def attach_events(result: CameraResult, media: list[dict], classifier: Classifier, catalogue: Catalogue,
                  gap_s: float, k: int = 3) -> CameraResult:
    """Group the classified media into events (``models.inference.events``), aggregate each event's prediction
    and set ``eventID`` on every prediction. Modifies and returns ``result``."""
    events, event_of = build_events(media, [p.mediaID for p in result.predictions], result.probs,
                                    classifier.labels, catalogue, classifier.meta.model_version, gap_s, k,
                                    policy_for(classifier, catalogue))
    result.events = events
    result.predictions = [dataclasses.replace(p, eventID=event_of.get(p.mediaID, "")) for p in result.predictions]
    return result
