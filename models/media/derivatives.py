"""Derived media for the pages: thumbnails and metadata-free images, audio clips, spectrogram arrays.

Every writer goes through :func:`write_atomic` (a temporary file in the target folder, then ``os.replace``),
so a reader or a second worker never sees half a file, and a crash leaves at most a stray ``.tmp``.
Derived files carry no metadata of the original: a JPEG re-encoded by OpenCV keeps no EXIF (camera GPS),
a WAV written by libsndfile keeps no GUANO chunk (recorder position), which is why public readers are only
ever given derived files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from models.media.audio import hann_window, open_audio
from models.media.errors import MediaError
from models.media.imaging import load_image

#: JPEG quality of thumbnails and public full images (libjpeg's scale; 85 is the usual web trade-off).
JPEG_QUALITY = 85


def write_atomic(dst: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on a temporary path beside ``dst``, then move it onto ``dst`` (atomic on POSIX).

    Raises:
        whatever ``write`` raises; the temporary file is removed first.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp" + dst.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dst


def image_jpeg(src: Path, dst: Path, max_side_px: int | None = None) -> Path:
    """Write ``src`` as a metadata-free JPEG, downscaled (INTER_AREA) so that its longer side is at most
    ``max_side_px`` (None: full size), in displayed (EXIF) orientation.

    Raises:
        MediaError: the source cannot be read or decoded (:func:`models.media.imaging.load_image`).
    """
    # a reduced DCT decode needs only the shorter side; ask for enough that the longer side still fits
    rgb = load_image(src, target_px=max_side_px // 2 if max_side_px else None)
    h, w = rgb.shape[:2]
    if max_side_px and max(h, w) > max_side_px:
        scale = max_side_px / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise MediaError(src, "corrupt", "OpenCV could not encode the image as JPEG")
    return write_atomic(dst, lambda tmp: tmp.write_bytes(buf.tobytes()))


def clip_bounds(start_s: float, end_s: float, pad_s: float, duration_s: float | None) -> tuple[float, float]:
    """``[start_s - pad_s, end_s + pad_s]`` clamped to ``[0, duration_s]`` (s)."""
    lo = max(0.0, start_s - pad_s)
    hi = end_s + pad_s
    if duration_s is not None:
        hi = min(hi, duration_s)
    return lo, max(hi, lo)


def audio_clip(src: Path, dst: Path, start_s: float, end_s: float) -> Path:
    """Write ``src[start_s:end_s]`` (s) as WAV PCM 16-bit at the native sample rate and channel count.

    Raises:
        MediaError: the recording cannot be opened, or the range is empty.
    """
    with open_audio(src) as fh:
        rate = fh.samplerate
        start, stop = round(start_s * rate), round(end_s * rate)
        if stop <= start:
            raise MediaError(src, "empty", f"no samples between {start_s:.2f} s and {end_s:.2f} s")
        fh.seek(min(start, max(fh.frames - 1, 0)))
        data = fh.read(stop - start, dtype="float32", always_2d=True)
    if not len(data):
        raise MediaError(src, "empty", f"no samples between {start_s:.2f} s and {end_s:.2f} s")
    return write_atomic(dst, lambda tmp: sf.write(str(tmp), data, rate, subtype="PCM_16", format="WAV"))


def spectrogram_db(src: Path, start_s: float, end_s: float, n_fft: int = 1024,
                   hop_length: int = 256) -> tuple[np.ndarray, int]:
    """Power spectrogram (dB re the loudest bin) of ``src[start_s:end_s]``, channels mixed to mono.

    Returns:
        ``(S, sample_rate_hz)`` with ``S`` of shape ``(n_fft // 2 + 1, frames)``, float32, in dB (0 = peak,
        floored at -80 dB); row ``k`` is frequency ``k * sample_rate_hz / n_fft`` Hz, column ``j`` starts at
        ``start_s + j * hop_length / sample_rate_hz`` s. Short-time Fourier transform with a periodic Hann
        window (Harris 1978).

    Raises:
        MediaError: unreadable recording or an empty range.
    """
    with open_audio(src) as fh:
        rate = fh.samplerate
        start, stop = round(start_s * rate), round(end_s * rate)
        fh.seek(min(start, max(fh.frames - 1, 0)))
        data = fh.read(max(stop - start, 0), dtype="float32", always_2d=True).mean(axis=1)
    if len(data) < 2:
        raise MediaError(src, "empty", f"no samples between {start_s:.2f} s and {end_s:.2f} s")
    if len(data) < n_fft:
        data = np.pad(data, (0, n_fft - len(data)))
    frames = 1 + (len(data) - n_fft) // hop_length
    idx = np.arange(n_fft)[None, :] + hop_length * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(data[idx] * hann_window(n_fft)[None, :], axis=1)) ** 2
    db = 10 * np.log10(np.maximum(spec.T, 1e-12))
    db -= db.max()
    return np.maximum(db, -80.0).astype(np.float32), rate
