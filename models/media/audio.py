"""Acoustic recordings: an immutable ``Audio`` value, block-wise probing, windows and log-mel spectrograms.

Decoding uses libsndfile (``soundfile``: WAV 8/16/24/32-bit, float WAV, FLAC, OGG, MP3), resampling
uses libsoxr (``soxr``, "HQ" quality), and the mel filterbank is librosa's (Slaney scale, as in
``librosa.filters.mel``). Shapes: mono samples ``(n,)``; windows ``(N, n)``; spectrograms
``(N, n_mels, frames)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.fft
import soundfile as sf
import soxr

from models.media.errors import MediaError
from models.media.riff import SliceFile, read_wav_layout

log = logging.getLogger(__name__)

#: Decoded bytes per block (float32, all channels) of the one block reader (:func:`read_blocks`): blocks are
#: sized by bytes, not seconds, so a 192 kHz or 8-channel recording costs the same memory as a 16 kHz one.
DEFAULT_BLOCK_BYTES = 2 << 20
#: A frame count above this is libsndfile's "unknown" (a FLAC whose STREAMINFO total is 0 reads as 2**63-1).
_UNKNOWN_FRAMES = 1 << 40
_ERRORS = (sf.LibsndfileError, RuntimeError, OSError, ValueError)


@contextmanager
def open_audio(path: str | Path) -> Iterator[sf.SoundFile]:
    """Open a recording for block reading, trusting the samples over the header.

    A WAV whose ``data`` size was left 0 (or too small) by a recorder that streamed to the card is opened as
    RAW samples from its real data offset to the end of the file (``models.media.riff``), so it is decoded to
    the end instead of read as empty; a FLAC whose STREAMINFO sample count is 0 ("unknown") is read until the
    stream ends by :func:`read_blocks`.

    Raises:
        MediaError: ``unsupported_format`` when libsndfile does not recognise the content.
    """
    try:
        fh = sf.SoundFile(str(path))
    except _ERRORS as exc:
        raise MediaError(path, "unsupported_format", f"not a readable audio file ({exc})") from exc
    try:
        if fh.format in ("WAV", "WAVEX", "RF64"):
            layout = read_wav_layout(path)
            if (layout is not None and layout.subtype is not None and layout.channels == fh.channels
                    and layout.frames > fh.frames):
                log.warning("%s: WAV header declares %d frames but %d are present (data size %d); decoding to "
                            "the end of the file", path, fh.frames, layout.frames, layout.declared_data_bytes)
                fh.close()
                fh = sf.SoundFile(SliceFile(path, layout.data_offset, layout.frames * layout.block_align), "r",
                                  samplerate=layout.sample_rate_hz, channels=layout.channels,
                                  subtype=layout.subtype, endian="LITTLE", format="RAW")
        yield fh
    finally:
        fh.close()


def _read_unbounded(fh: sf.SoundFile, n: int) -> np.ndarray:
    """Up to ``n`` frames from a file whose length is unknown (libsndfile reports 2**63-1): straight
    ``sf_readf_float``, since ``SoundFile.read`` seeks after reading and that seek fails on such a stream."""
    out = np.empty((n, fh.channels), np.float32)
    got = sf._snd.sf_readf_float(fh._file, sf._ffi.cast("float *", out.ctypes.data), n)
    if got < 0:
        raise RuntimeError("sf_readf_float failed")
    return out[:got]


def block_frames(channels: int, block_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Frames per block so that a decoded float32 block of ``channels`` is at most ``block_bytes``."""
    return max(1, block_bytes // (4 * max(1, channels)))


def read_blocks(fh: sf.SoundFile, path: str | Path, block_bytes: int = DEFAULT_BLOCK_BYTES,
                max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The one block reader of every path (probe, upload, predict, training): ``(n, channels)`` float32
    blocks of at most ``block_bytes`` (and ``max_frames``) until the stream really ends, whatever the header
    says about its length.

    Raises:
        MediaError: ``corrupt`` when decoding fails part-way (blocks already yielded stay valid).
    """
    n = block_frames(fh.channels, block_bytes)
    if max_frames:
        n = max(1, min(n, max_frames))
    done = 0
    unknown = fh.frames >= _UNKNOWN_FRAMES
    while True:
        try:
            block = _read_unbounded(fh, n) if unknown else fh.read(n, dtype="float32", always_2d=True)
        except _ERRORS as exc:
            raise MediaError(path, "corrupt", f"decoding failed after {done} frames ({exc})") from exc
        if block.shape[0] == 0:
            return
        done += block.shape[0]
        yield block
        if block.shape[0] < n and fh.frames < _UNKNOWN_FRAMES and done >= fh.frames:
            return


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
    """Open a recording, decode it block by block (memory independent of length) and count frames, to the
    end of the stream whatever the header says (:func:`open_audio`, :func:`read_blocks`).

    Raises:
        MediaError: ``unsupported_format`` if libsndfile does not recognise the content,
            ``corrupt`` if decoding fails part-way, ``empty_audio`` if it holds no samples.
    """
    frames = 0
    comment = ""
    with open_audio(path) as fh:
        try:
            comment = fh.copy_metadata().get("comment", "")
        except _ERRORS as exc:  # a damaged tag does not make the samples unusable
            log.warning("%s: metadata tags unreadable (%s); samples decoded without them", path, exc)
        for block in read_blocks(fh, path):
            frames += block.shape[0]
        fmt, rate, channels, subtype = fh.format, int(fh.samplerate), int(fh.channels), fh.subtype
    if fmt == "RAW":  # a WAV decoded past its lying header
        fmt = "WAV"
    if frames == 0:
        raise MediaError(path, "empty_audio", "recording holds no samples")
    return AudioInfo(
        mime=_MIME.get(fmt, f"audio/{fmt.lower()}"),
        sample_rate_hz=rate,
        channels=channels,
        frames=frames,
        duration_s=frames / rate,
        subtype=subtype,
        comment=comment,
    )


def load_audio(path: str | Path, sample_rate_hz: int | None = None, mono: bool = True) -> Audio:
    """Decode a recording to float32, optionally mixed down and resampled, block by block with the one block
    reader (:func:`read_blocks`): only the output is held whole, never the native-rate multichannel signal,
    and a header that lies about the length does not cut the recording short (nor ask for an impossible
    allocation).

    Args:
        path: WAV / FLAC / MP3 / OGG file (format recognised from content).
        sample_rate_hz: target rate; None keeps the native rate.
        mono: mix channels down by their mean.

    Raises:
        MediaError: ``unsupported_format``, ``corrupt`` or ``empty_audio``.
    """
    parts: list[np.ndarray] = []
    with open_audio(path) as fh:
        rate, channels = int(fh.samplerate), int(fh.channels)
        out_rate = sample_rate_hz or rate
        n_out = 1 if mono else channels
        stream = (soxr.ResampleStream(rate, out_rate, n_out, dtype="float32", quality="HQ")
                  if out_rate != rate else None)
        for block in read_blocks(fh, path):
            if mono:
                block = block.mean(axis=1, keepdims=True, dtype=np.float32) if channels > 1 else block
            parts.append(stream.resample_chunk(block) if stream is not None else block)
        if not parts:
            raise MediaError(path, "empty_audio", "recording holds no samples")
        if stream is not None:
            parts.append(stream.resample_chunk(np.zeros((0, n_out), np.float32), last=True))
    data = np.concatenate(parts, axis=0)
    samples = np.ascontiguousarray(data[:, 0] if mono else data.T, dtype=np.float32)
    return Audio(samples, out_rate)


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
