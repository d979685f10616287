"""Domain errors raised by the core library.

Decoder and file-system errors are caught at the edge and re-raised as :class:`MediaError` that
names the file and gives a short machine-readable ``reason``, so batch stages can record a skip
and the web layer can answer with a clear 4xx.
"""

from __future__ import annotations

from pathlib import Path


class BiodivError(Exception):
    """Base class of every error the library raises on purpose."""


class MediaError(BiodivError):
    """A media file that cannot be used.

    Attributes:
        path: the offending file (as given by the caller).
        reason: short code, one of ``corrupt``, ``truncated``, ``unsupported_format``,
            ``empty_audio``, ``image_too_large``, ``unreadable``; for video also ``no_frames``,
            ``decoder_crashed`` and ``timeout`` (see ``models.media.video``).
        detail: human-readable explanation.
    """

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):
        # keep path/reason/detail when the error crosses a process boundary (decode workers)
        return (type(self), (self.path, self.reason, self.detail))


class CatalogueError(BiodivError):
    """A species label or catalogue row that cannot be resolved."""
