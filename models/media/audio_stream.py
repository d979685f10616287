"""Recordings of any length, read block by block: memory does not grow with duration.

A recording is decoded by libsndfile in blocks (``soundfile.SoundFile.blocks``), mixed down or
kept per channel, resampled by libsoxr's streaming resampler (``soxr.ResampleStream``, "HQ"), and
cut into fixed-length analysis windows (or longer fixed segments, for acoustic indices) as soon as
their samples are in. Only the part of the signal that a window not yet emitted still needs is
held, so a 24-hour recording needs the same memory as a one-minute one.

Shapes: blocks ``(channels, n)`` float32; windows ``(N, round(window_s * sample_rate_hz))``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soxr

from models.media.audio import DEFAULT_BLOCK_BYTES, open_audio, read_blocks, window_bounds, window_start
from models.media.errors import MediaError

#: ``mix``: channels averaged to one (the model's input); ``each``: every channel analysed on its own.
ChannelMode = Literal["mix", "each"]
CHANNEL_MODES = ("mix", "each")


def stream_resampled(path: str | Path, sample_rate_hz: int, channels: ChannelMode = "mix",
                     block_s: float | None = 30.0, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[np.ndarray]:
    """Decode a recording block by block, mix down (``mix``) or keep channels (``each``), and resample.

    Args:
        path: any format libsndfile reads (WAV 8/16/24/32-bit int and float, FLAC, OGG, MP3, AIFF).
        sample_rate_hz: output rate; libsoxr HQ streaming resampler when it differs from the file's.
        channels: ``mix`` (mean of the channels) or ``each``.
        block_s: longest decoded block in seconds of the file's own rate (None: no limit in time).
        block_bytes: largest decoded block in bytes (float32, all channels): the bound that keeps memory
            flat at high sample rates or many channels (``models.media.audio.read_blocks``, the one block
            reader of every path; a lying header does not stop it before the end of the stream).

    Yields:
        ``(C, n)`` float32 blocks at ``sample_rate_hz`` (``C`` = 1 for ``mix``); concatenated they
        equal the whole resampled recording.

    Raises:
        MediaError: ``unsupported_format`` (not audio), ``corrupt`` (decoding fails part-way; blocks
            already yielded stay valid) or ``empty_audio`` (no samples at all).
        ValueError: an unknown ``channels`` mode.
    """
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {CHANNEL_MODES}, not {channels!r}")
    frames = 0
    with open_audio(path) as fh:
        native = int(fh.samplerate)
        n_out = 1 if channels == "mix" else fh.channels
        stream = (soxr.ResampleStream(native, sample_rate_hz, n_out, dtype="float32", quality="HQ")
                  if native != sample_rate_hz else None)
        blocks = read_blocks(fh, path, block_bytes, max_frames=max(1, round(block_s * native)) if block_s else None)
        while True:
            block = next(blocks, None)
            last = block is None
            if last:
                if frames == 0:
                    raise MediaError(path, "empty_audio", "recording holds no samples")
                block = np.zeros((0, n_out), np.float32)
            else:
                frames += block.shape[0]
                if channels == "mix":
                    block = block.mean(axis=1, keepdims=True, dtype=np.float32)
            out = stream.resample_chunk(block, last=last) if stream is not None else block
            if out.shape[0]:
                yield np.ascontiguousarray(out.T, dtype=np.float32)
            if last:
                return


@dataclass
class WindowCutter:
    """Cuts a stream of ``(C, n)`` blocks into the windows of :func:`models.media.audio.window_bounds`.

    Feed blocks with :meth:`push` and end with :meth:`finish`; together they return exactly the
    windows that ``window_bounds(duration_s, window_s, hop_s, min_tail_s)`` gives for the whole
    stream, each zero-padded to ``window_s`` like ``models.media.audio.cut_windows``, while holding at
    most one window plus one block of samples.

    Attributes:
        sample_rate_hz: rate of the pushed blocks.
        window_s, hop_s, min_tail_s: as in ``window_bounds`` (s).
    """

    sample_rate_hz: int
    window_s: float
    hop_s: float
    min_tail_s: float = 0.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.hop_s <= 0:
            raise ValueError("window_s and hop_s must be positive")
        self._buf: np.ndarray | None = None  # (C, m): samples from absolute index self._buf_start on
        self._buf_start = 0
        self._total = 0
        self._emitted = 0
        self._n = round(self.window_s * self.sample_rate_hz)

    @property
    def samples_seen(self) -> int:
        """Samples per channel pushed so far."""
        return self._total

    @property
    def held_samples(self) -> int:
        """Samples per channel held in memory now (at most one window plus one block)."""
        return 0 if self._buf is None else self._buf.shape[1]

    def _cut(self, bounds: list[tuple[float, float]]) -> np.ndarray:
        assert self._buf is not None
        out = np.zeros((self._buf.shape[0], len(bounds), self._n), np.float32)
        for i, (start, end) in enumerate(bounds):
            a = round(start * self.sample_rate_hz)
            b = min(a + self._n, round(end * self.sample_rate_hz), self._total)
            seg = self._buf[:, a - self._buf_start : b - self._buf_start]
            out[:, i, : seg.shape[1]] = seg
        return out

    def _drop_before(self, index: int) -> None:
        keep_from = min(round(window_start(index, self.hop_s) * self.sample_rate_hz), self._total)
        if self._buf is not None and keep_from > self._buf_start:
            self._buf = self._buf[:, keep_from - self._buf_start :].copy()
            self._buf_start = keep_from

    def push(self, block: np.ndarray) -> tuple[list[tuple[float, float]], np.ndarray]:
        """Add ``(C, n)`` samples; returns the windows now complete: ``(bounds, (C, N, samples))``."""
        self._buf = block if self._buf is None else np.concatenate([self._buf, block], axis=1)
        self._total += block.shape[1]
        seen_s = self._total / self.sample_rate_hz
        bounds = []
        while (start := window_start(self._emitted + len(bounds), self.hop_s)) + self.window_s <= seen_s + 1e-9:
            bounds.append((start, round(start + self.window_s, 6)))
        windows = self._cut(bounds)
        self._emitted += len(bounds)
        self._drop_before(self._emitted)
        return bounds, windows

    def finish(self) -> tuple[list[tuple[float, float]], np.ndarray]:
        """The remaining (last, shorter, zero-padded) windows once the stream has ended."""
        channels = 1 if self._buf is None else self._buf.shape[0]
        if self._total == 0:
            return [], np.zeros((channels, 0, self._n), np.float32)
        bounds = window_bounds(self._total / self.sample_rate_hz, self.window_s, self.hop_s,
                               self.min_tail_s)[self._emitted :]
        windows = self._cut(bounds)
        self._emitted += len(bounds)
        return bounds, windows
