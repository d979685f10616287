"""Domain errors raised by the core library.

Decoder and file-system errors are caught at the edge and re-raised as :class:`MediaError` that
names the file and gives a short machine-readable ``reason``, so batch stages can record a skip
and the web layer can answer with a clear 4xx.
"""

from __future__ import annotations

import re
from pathlib import Path

#: A Python object repr such as ``<_io.BytesIO object at 0x7f...>`` (decoders put them in messages).
_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def clean_detail(text: str) -> str:
    """``text`` without Python object reprs (``<_io.BytesIO object at 0x...>`` -> ``the file``)."""
    return _REPR.sub("the file", text)


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
        self.detail = clean_detail(str(detail))  # no Python object reprs reach a reason or a reply
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):
        # keep path/reason/detail when the error crosses a process boundary (decode workers)
        return (type(self), (self.path, self.reason, self.detail))


class CatalogueError(BiodivError):
    """A species label or catalogue row that cannot be resolved."""
