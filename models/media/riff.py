"""RIFF/WAVE chunk layout read from the bytes, without the ``wave`` module (which refuses float and
extensible WAVs): the ``fmt`` facts, where the samples really are, and named metadata chunks such as
GUANO's ``guan``.

Layout per the Microsoft RIFF/WAVE specification (chunks of ``id`` (4 bytes), little-endian ``size``
(4 bytes), ``size`` bytes, padded to an even length; ``WAVE_FORMAT_EXTENSIBLE`` carries the real format tag
in the first two bytes of its sub-format GUID). Recorders that stream to a card often leave the ``data``
size 0 (or 0xFFFFFFFF) until the file is closed; here a ``data`` chunk whose size is 0 or runs past the end
of the file holds the rest of the file.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

#: libsndfile subtype of a (format tag, bits per sample) pair; tag 1 = PCM, 3 = IEEE float.
SUBTYPES = {(1, 8): "PCM_U8", (1, 16): "PCM_16", (1, 24): "PCM_24", (1, 32): "PCM_32",
            (3, 32): "FLOAT", (3, 64): "DOUBLE"}
_EXTENSIBLE = 0xFFFE
_MAX_CHUNKS = 4096


@dataclass(frozen=True)
class WavLayout:
    """Where a WAV file's parts are.

    Attributes:
        format_tag: 1 (PCM), 3 (IEEE float), ... (the extensible sub-format's tag when extensible).
        channels, sample_rate_hz, bits_per_sample, block_align: the ``fmt`` chunk (bytes per frame).
        data_offset: byte offset of the first sample.
        data_bytes: bytes of samples present (the declared size when it fits in the file, else up to EOF).
        declared_data_bytes: the ``data`` chunk's size field as written.
        chunks: ``{chunk id: (offset of its body, size)}`` for every chunk before ``data`` ends.
    """

    format_tag: int
    channels: int
    sample_rate_hz: int
    bits_per_sample: int
    block_align: int
    data_offset: int
    data_bytes: int
    declared_data_bytes: int
    chunks: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def subtype(self) -> str | None:
        """libsndfile subtype (``PCM_16``, ``FLOAT``...) or None for compressed/unknown formats."""
        return SUBTYPES.get((self.format_tag, self.bits_per_sample))

    @property
    def frames(self) -> int:
        """Whole frames present in the file."""
        return self.data_bytes // self.block_align if self.block_align else 0


def read_wav_layout(path: str | Path) -> WavLayout | None:
    """The chunk layout of a RIFF/WAVE file, or None when the file is not one or has no usable
    ``fmt``/``data`` chunk (the caller then treats it as whatever libsndfile says).

    Raises:
        OSError: the file cannot be read.
    """
    path = Path(path)
    size = path.stat().st_size
    chunks: dict[str, tuple[int, int]] = {}
    fmt: bytes | None = None
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        pos = 12
        for _ in range(_MAX_CHUNKS):
            fh.seek(pos)
            header = fh.read(8)
            if len(header) < 8:
                return None
            cid = header[:4].decode("latin-1")
            (csize,) = struct.unpack("<I", header[4:])
            body = pos + 8
            if cid == "data":
                present = size - body
                real = csize if 0 < csize <= present else present
                chunks[cid] = (body, real)
                if fmt is None or len(fmt) < 16:
                    return None
                tag, channels, rate, _, align, bits = struct.unpack("<HHIIHH", fmt[:16])
                if tag == _EXTENSIBLE and len(fmt) >= 26:
                    (tag,) = struct.unpack("<H", fmt[24:26])
                if not channels or not align:
                    return None
                if 0 < csize <= present:  # sized honestly: later chunks (e.g. guan after data) count too
                    _more_chunks(fh, body + csize + (csize & 1), size, chunks)
                return WavLayout(tag, channels, rate, bits, align, body, real, csize, chunks)
            if body + csize > size:
                return None
            chunks[cid] = (body, csize)
            if cid == "fmt ":
                fmt = fh.read(min(csize, 64))
            pos = body + csize + (csize & 1)
    return None


def _more_chunks(fh: io.BufferedReader, pos: int, size: int, chunks: dict[str, tuple[int, int]]) -> None:
    for _ in range(_MAX_CHUNKS):
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            return
        (csize,) = struct.unpack("<I", header[4:])
        if pos + 8 + csize > size:
            return
        chunks.setdefault(header[:4].decode("latin-1"), (pos + 8, csize))
        pos += 8 + csize + (csize & 1)


def read_chunk(path: str | Path, chunk_id: str, max_bytes: int = 1 << 20) -> bytes | None:
    """The body of chunk ``chunk_id`` (e.g. ``guan``) of a WAV file, or None when it has none (or it is
    larger than ``max_bytes``).

    Raises:
        OSError: the file cannot be read.
    """
    layout = read_wav_layout(path)
    if layout is None or chunk_id not in layout.chunks:
        return None
    offset, size = layout.chunks[chunk_id]
    if size > max_bytes:
        return None
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


class SliceFile(io.RawIOBase):
    """A read-only view of ``length`` bytes of a file from ``offset``, for libsndfile's virtual I/O (to
    decode a WAV's samples as RAW when its header gives the wrong length)."""

    def __init__(self, path: str | Path, offset: int, length: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._offset, self._length, self._pos = offset, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + pos))
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        room = self._length - self._pos
        size = room if size is None or size < 0 else min(size, room)
        self._fh.seek(self._offset + self._pos)
        data = self._fh.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()
