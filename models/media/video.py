"""Camera-trap video (AVI / MP4 as trail cameras write them): probing and frame sampling with OpenCV.

Video decoders are native code: a malformed stream (e.g. an MJPEG AVI whose pixel format changes
after the first frame, opencv/opencv#29699 as reported in agentmorris/MegaDetector#237) can crash
the process. Every call that decodes therefore runs OpenCV in a short-lived child process
(``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method): a crash or a hang
becomes a :class:`~models.media.errors.MediaError` for that file and the batch goes on.

Frames are RGB ``(H, W, 3) uint8``; times are offsets from the start of the video in seconds.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.media.errors import MediaError
from models.media.imaging import VIDEO_MIMES  # noqa: F401 - re-exported: one list, beside the sniffer

log = logging.getLogger(__name__)

#: Seconds a child process may take to probe or sample one video before it is abandoned.
DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class VideoInfo:
    """Container facts of a video, read by opening it and decoding its first frame.

    Attributes:
        width_px, height_px: frame size.
        fps: frames per second from the container (0 when it gives none).
        frame_count: frames announced by the container (may be approximate for some codecs).
        duration_s: ``frame_count / fps`` (0 when either is unknown).
    """

    width_px: int
    height_px: int
    fps: float
    frame_count: int
    duration_s: float


@dataclass(frozen=True)
class SampledFrame:
    """One frame taken from a video: its offset in s and its pixels (after ``prepare``, if any)."""

    time_s: float
    pixels: np.ndarray


def _open(path: str):
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise MediaError(path, "corrupt", "OpenCV cannot open the video container")
    return cap


def _probe_in_child(path: str) -> VideoInfo:
    import cv2

    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, frame = cap.read()
        if not ok or frame is None:
            raise MediaError(path, "no_frames", "the video holds no decodable frame")
        h, w = frame.shape[:2]
    finally:
        cap.release()
    fps = fps if 0 < fps < 1000 else 0.0
    return VideoInfo(width_px=w, height_px=h, fps=round(fps, 6), frame_count=max(count, 1),
                     duration_s=round(count / fps, 6) if fps and count else 0.0)


def _sample_in_child(path: str, rate_hz: float, max_frames: int,
                     prepare: Callable[[np.ndarray], np.ndarray] | None) -> list[SampledFrame]:
    import cv2

    cap = _open(path)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    fps = fps if 0 < fps < 1000 else 0.0
    out: list[SampledFrame] = []
    next_t, i = 0.0, 0
    try:
        while len(out) < max_frames:
            if not cap.grab():
                break
            t = i / fps if fps else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            i += 1
            if t + 1e-9 < next_t:
                continue
            ok, bgr = cap.retrieve()
            if not ok or bgr is None:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            out.append(SampledFrame(round(t, 3), prepare(rgb) if prepare else rgb))
            next_t = t + 1.0 / rate_hz
    finally:
        cap.release()
    if not out:
        raise MediaError(path, "no_frames", "the video holds no decodable frame")
    return out


def _in_child(fn, *args, name: str, timeout_s: float):
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        future = pool.submit(fn, *args)
        try:
            return future.result(timeout=timeout_s)
        except BrokenProcessPool as exc:
            raise MediaError(name, "decoder_crashed",
                             "the video decoder crashed (native error in OpenCV/FFmpeg)") from exc
        except FutureTimeout as exc:
            for proc in list(getattr(pool, "_processes", {}).values()):  # a hung decoder: end our own child
                proc.terminate()
            raise MediaError(name, "timeout", f"decoding took longer than {timeout_s:g} s") from exc


def probe_video(path: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> VideoInfo:
    """Open a video in a child process and read its size, frame rate and frame count.

    Raises:
        MediaError: ``corrupt`` (cannot be opened), ``no_frames`` (opens but holds no decodable
            frame, e.g. a trail camera's 0-frame AVI), ``decoder_crashed`` or ``timeout``.
    """
    return _in_child(_probe_in_child, str(path), name=str(path), timeout_s=timeout_s)


def sample_frames(path: str | Path, rate_hz: float = 1.0, max_frames: int = 300,
                  prepare: Callable[[np.ndarray], np.ndarray] | None = None,
                  timeout_s: float = DEFAULT_TIMEOUT_S) -> list[SampledFrame]:
    """Decode a video in a child process and keep about ``rate_hz`` frames per second.

    The first frame (t = 0 s) is always kept; after a kept frame at ``t`` the next one kept is the
    first at or after ``t + 1/rate_hz``. A frame's time is ``index / fps`` (the container's
    position in ms when it gives no frame rate). A rate at or above the video's frame rate keeps
    every frame.

    Args:
        path: the video file.
        rate_hz: frames per second to keep (> 0).
        max_frames: stop after this many kept frames (bounds time and memory on long clips).
        prepare: a picklable function applied to each RGB frame in the child (e.g. crop and resize
            to the model input), so only small arrays cross the process boundary.
        timeout_s: give up on a video after this many seconds.

    Returns:
        The kept frames in time order.

    Raises:
        MediaError: as :func:`probe_video`.
        ValueError: ``rate_hz`` not positive.
    """
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    return _in_child(_sample_in_child, str(path), rate_hz, max_frames, prepare, name=str(path), timeout_s=timeout_s)
