"""Acoustic recordings: an immutable ``Audio`` value, block-wise probing, windows and log-mel spectrograms.

Decoding uses libsndfile (``soundfile``: WAV 8/16/24/32-bit, float WAV, FLAC, OGG, MP3), resampling
uses libsoxr (``soxr``, "HQ" quality), and the mel filterbank is librosa's (Slaney scale, as in
``librosa.filters.mel``). Shapes: mono samples ``(n,)``; windows ``(N, n)``; spectrograms
``(N, n_mels, frames)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf
import soxr

from models.media.errors import MediaError

log = logging.getLogger(__name__)

_BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about a recording.

    Attributes:
        mime: ``audio/wav``, ``audio/flac``, ``audio/mpeg`` or ``audio/ogg`` (from the content).
        sample_rate_hz: native sample rate.
        channels: channel count.
        frames: samples per channel (decoded count, not the header's estimate).
        duration_s: ``frames / sample_rate_hz``.
        subtype: libsndfile subtype such as ``PCM_16`` or ``FLOAT``.
        comment: the file's comment tag (WAV ``INFO/ICMT``, FLAC/OGG ``COMMENT``), empty if none.
    """

    mime: str
    sample_rate_hz: int
    channels: int
    frames: int
    duration_s: float
    subtype: str
    comment: str = ""


_MIME = {"WAV": "audio/wav", "WAVEX": "audio/wav", "RF64": "audio/wav", "W64": "audio/wav",
         "FLAC": "audio/flac", "MP3": "audio/mpeg", "OGG": "audio/ogg", "AIFF": "audio/aiff"}


@dataclass(frozen=True)
class Audio:
    """Immutable mono or multichannel audio.

    Attributes:
        samples: ``(n,)`` mono or ``(channels, n)`` float32 in ``[-1, 1]``.
        sample_rate_hz: samples per second.
    """

    samples: np.ndarray
    sample_rate_hz: int

    @property
    def channels(self) -> int:
        """Number of channels."""
        return 1 if self.samples.ndim == 1 else self.samples.shape[0]

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[-1] / self.sample_rate_hz

    def to_mono(self) -> Audio:
        """Mean of the channels (a new object); mono audio is returned unchanged."""
        if self.samples.ndim == 1:
            return self
        return Audio(self.samples.mean(axis=0).astype(np.float32), self.sample_rate_hz)

    def resample(self, sample_rate_hz: int) -> Audio:
        """Resample with libsoxr (HQ, linear phase); returns a new object."""
        if sample_rate_hz == self.sample_rate_hz:
            return self
        x = soxr.resample(self.samples.T, self.sample_rate_hz, sample_rate_hz, quality="HQ")
        return Audio(np.ascontiguousarray(x.T, dtype=np.float32), sample_rate_hz)


def probe_audio(path: str | Path) -> AudioInfo:
    """Open a recording, decode it block by block (memory independent of length) and count frames.

    Raises:
        MediaError: ``unsupported_format`` if libsndfile does not recognise the content,
            ``corrupt`` if decoding fails part-way, ``empty_audio`` if it holds no samples.
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise MediaError(path, "unsupported_format", f"not a readable audio file ({exc})") from exc
    frames = 0
    comment = ""
    try:
        with sf.SoundFile(str(path)) as fh:
            comment = fh.copy_metadata().get("comment", "")
            for block in fh.blocks(blocksize=_BLOCK_FRAMES, dtype="float32", always_2d=True):
                frames += block.shape[0]
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise MediaError(path, "corrupt", f"decoding failed after {frames} frames ({exc})") from exc
    if frames == 0:
        raise MediaError(path, "empty_audio", "recording holds no samples")
    return AudioInfo(
        mime=_MIME.get(info.format, f"audio/{info.format.lower()}"),
        sample_rate_hz=int(info.samplerate),
        channels=int(info.channels),
        frames=frames,
        duration_s=frames / info.samplerate,
        subtype=info.subtype,
        comment=comment,
    )


def load_audio(path: str | Path, sample_rate_hz: int | None = None, mono: bool = True) -> Audio:
    """Decode a recording to float32, optionally mixed down and resampled.

    Args:
        path: WAV / FLAC / MP3 / OGG file (format recognised from content).
        sample_rate_hz: target rate; None keeps the native rate.
        mono: mix channels down by their mean.

    Raises:
        MediaError: ``unsupported_format``, ``corrupt`` or ``empty_audio``.
    """
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise MediaError(path, "corrupt", str(exc)) from exc
    if data.shape[0] == 0:
        raise MediaError(path, "empty_audio", "recording holds no samples")
    audio = Audio(np.ascontiguousarray(data.T), int(sr))
    if mono:
        audio = Audio(audio.samples[0], audio.sample_rate_hz) if audio.channels == 1 else audio.to_mono()
    return audio.resample(sample_rate_hz) if sample_rate_hz else audio


def window_bounds(duration_s: float, window_s: float, hop_s: float, min_tail_s: float) -> list[tuple[float, float]]:
    """Start and end (s) of each analysis window of a recording.

    Windows start every ``hop_s`` and are ``window_s`` long. A last, shorter window is added when
    the recording's uncovered tail is at least ``min_tail_s``; a recording shorter than one window
    yields exactly one window ``(0, duration_s)``. Ends never exceed ``duration_s``.

    Raises:
        ValueError: non-positive ``window_s`` or ``hop_s``.
    """
    if window_s <= 0 or hop_s <= 0:
        raise ValueError("window_s and hop_s must be positive")
    if duration_s <= 0:
        return []
    eps = 1e-9
    bounds: list[tuple[float, float]] = []
    i = 0
    while (start := window_start(i, hop_s)) + window_s <= duration_s + eps:
        bounds.append((start, round(start + window_s, 6)))
        i += 1
    covered = bounds[-1][1] if bounds else 0.0
    if not bounds or (duration_s - covered >= min_tail_s - eps and start < duration_s - eps):
        bounds.append((start if bounds else 0.0, round(duration_s, 6)))
    return bounds


def window_start(index: int, hop_s: float) -> float:
    """Start (s, rounded to the microsecond) of analysis window ``index``: ``index * hop_s``."""
    return round(index * hop_s, 6)


def cut_windows(audio: Audio, bounds: list[tuple[float, float]], window_s: float) -> np.ndarray:
    """Cut mono audio into fixed-length windows, zero-padding short ones at the end.

    Returns:
        ``(len(bounds), round(window_s * sample_rate_hz))`` float32.
    """
    n = round(window_s * audio.sample_rate_hz)
    out = np.zeros((len(bounds), n), np.float32)
    for i, (start, end) in enumerate(bounds):
        a = round(start * audio.sample_rate_hz)
        seg = audio.samples[a : min(a + n, round(end * audio.sample_rate_hz))]
        out[i, : seg.shape[0]] = seg
    return out


@lru_cache(maxsize=8)
def mel_filterbank(sample_rate_hz: int, n_fft: int, n_mels: int, fmin_hz: float, fmax_hz: float) -> np.ndarray:
    """Slaney-normalised mel filterbank ``(n_mels, n_fft // 2 + 1)`` from ``librosa.filters.mel``."""
    import librosa  # imported lazily: librosa's import is slow and only spectrograms need it

    return librosa.filters.mel(sr=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin=fmin_hz,
                               fmax=min(fmax_hz, sample_rate_hz / 2)).astype(np.float32)


def levels_dbfs(windows: np.ndarray) -> np.ndarray:
    """RMS level of each window in dBFS (0 dB = full-scale square wave), ``(N, samples)`` -> ``(N,)``;
    digital silence gives -inf-like -200 dB instead of a NaN."""
    rms = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=-1)) if windows.size else np.zeros(len(windows))
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


@dataclass(frozen=True)
class AudioPreprocessing:
    """Ordered, pure steps from a recording to model input; saved in audio model bundles.

    decode -> mix to mono -> resample to ``sample_rate_hz`` -> windows (``window_s``, ``hop_s``)
    -> power STFT (Hann, ``n_fft``, ``hop_length``) -> mel (``n_mels``, ``fmin_hz``..``fmax_hz``)
    -> dB (``10 log10(P + 1e-10)``) -> per-window standardisation (zero mean, unit variance; a
    silent window stays all zeros, never NaN).

    ``silence_dbfs``: windows whose RMS level is below this (dB relative to full scale) hold no
    sound worth classifying; they are reported as blank and left out of training. The default
    -70 dBFS sits below the self-noise of field recorders in quiet sites and well above 16-bit
    quantisation noise (about -98 dBFS), so it catches dead channels and digital silence.
    """

    sample_rate_hz: int = 22050
    window_s: float = 3.0
    hop_s: float = 3.0
    min_tail_s: float = 1.0
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 64
    fmin_hz: float = 50.0
    fmax_hz: float = 11025.0
    silence_dbfs: float = -70.0

    def windows(self, audio: Audio) -> tuple[list[tuple[float, float]], np.ndarray]:
        """Mono audio at any rate -> (window bounds in s, ``(N, samples)`` float32 windows)."""
        audio = audio.to_mono().resample(self.sample_rate_hz)
        bounds = window_bounds(audio.duration_s, self.window_s, self.hop_s, self.min_tail_s)
        return bounds, cut_windows(audio, bounds, self.window_s)

    def silent(self, windows: np.ndarray) -> np.ndarray:
        """``(N, samples)`` -> ``(N,)`` bool: RMS level below ``silence_dbfs``."""
        return levels_dbfs(windows) < self.silence_dbfs

    def spectrograms(self, windows: np.ndarray, filterbank: np.ndarray | None = None) -> np.ndarray:
        """``(N, samples)`` -> standardised log-mel ``(N, n_mels, frames)`` float32.

        The STFT is ``torch.stft``'s (centred, reflect padding, periodic Hann window), computed with
        SciPy's real FFT (float32) so that inference needs no PyTorch; ``filterbank`` (``(n_mels, n_fft // 2 + 1)``)
        replaces :func:`mel_filterbank` when given (e.g. stored with an exported model).
        """
        frames = 1 + windows.shape[1] // self.hop_length
        if windows.shape[0] == 0:
            return np.zeros((0, self.n_mels, frames), np.float32)
        fb = filterbank if filterbank is not None else mel_filterbank(self.sample_rate_hz, self.n_fft, self.n_mels,
                                                                      self.fmin_hz, self.fmax_hz)
        pad = self.n_fft // 2
        x = np.pad(np.asarray(windows, dtype=np.float32), ((0, 0), (pad, pad)), mode="reflect")
        framed = np.lib.stride_tricks.sliding_window_view(x, self.n_fft, axis=1)[:, :: self.hop_length]
        spec = scipy.fft.rfft(framed * hann_window(self.n_fft), axis=-1)  # (N, frames, n_fft // 2 + 1), complex64
        power = spec.real**2 + spec.imag**2
        mel = (power.reshape(-1, power.shape[-1]) @ fb.T).reshape(power.shape[0], power.shape[1], -1)
        db = 10.0 * np.log10(mel.transpose(0, 2, 1) + 1e-10)
        mean = db.mean(axis=(1, 2), keepdims=True)
        std = db.std(axis=(1, 2), keepdims=True, ddof=1)
        return ((db - mean) / (std + 1e-3)).astype(np.float32)


@lru_cache(maxsize=4)
def hann_window(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` samples (``torch.hann_window``/``scipy.signal.get_window("hann", n)``)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
